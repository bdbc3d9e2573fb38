"""Start the desktop app: ``scarview gui [--library DIR]`` (or a bare ``scarview``)."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QMessageBox

from scarview import __version__
from scarview.errors import ScarViewError
from scarview.gui.icons import app_icon
from scarview.gui.theme import apply_theme
from scarview.settings import load_settings
from scarview.store import Library, resolve_library_dir


def find_sample_dir() -> Path | None:
    """``sample_images/`` holding the sample patient, in a checkout or an installed wheel."""
    from scarview.resources import resource_root

    candidates = [Path(__file__).resolve().parent.parent.parent / "sample_images"]
    try:
        root = resource_root()
        candidates.append(Path(str(root)) / "sample_images")
    except FileNotFoundError:
        pass
    for folder in candidates:
        if (folder / "demo-patient").is_dir():
            return folder
    return None


def pyside_drops_references() -> bool:
    """True when this PySide6 build loses a reference to ``None`` on every void call.

    PySide6 6.12.0 does (and its signals lose references to ``True``/``False``):
    a few thousand calls later Python aborts with "deallocating None". ScarView
    refuses to start on such a build rather than crash in the middle of work.
    Needs a QApplication.
    """
    from PySide6.QtWidgets import QWidget

    probe = QWidget()
    before = sys.getrefcount(None)
    for _ in range(200):
        probe.update()
    lost = before - sys.getrefcount(None)
    probe.deleteLater()
    return lost > 100


def create_application(argv: list[str] | None = None) -> QApplication:
    """The QApplication (created once), named and themed."""
    existing = QApplication.instance()
    if isinstance(existing, QApplication):
        return existing
    QGuiApplication.setHighDpiScaleFactorRoundingPolicy(
        Qt.HighDpiScaleFactorRoundingPolicy.PassThrough
    )
    app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setApplicationName("ScarView")
    app.setApplicationDisplayName("ScarView")
    app.setOrganizationName("ScarView")
    app.setApplicationVersion(__version__)
    app.setDesktopFileName("scarview")
    app.setWindowIcon(app_icon())
    return app


def run(library_dir: str | None = None) -> int:
    """Open the main window on the library and run until it closes.

    Parameters
    ----------
    library_dir : str, optional
        ``--library DIR``; else ``SCARVIEW_LIBRARY``, the settings' library,
        or the user data folder.

    Returns
    -------
    int
        The exit code (0, or 3 when the library cannot be opened).
    """
    logging.basicConfig(level=logging.WARNING, format="scarview: %(levelname)s: %(message)s")
    app = create_application()
    if pyside_drops_references():
        import PySide6

        message = (
            f"PySide6 {PySide6.__version__} has a reference-counting bug that makes ScarView "
            "crash after a few seconds. Install another version, for example: "
            "pip install 'PySide6-Essentials==6.11.3'."
        )
        print(f"scarview: {message}", file=sys.stderr)
        QMessageBox.critical(None, "ScarView", message)
        return 1
    settings = load_settings()
    apply_theme(app, settings.theme)
    from scarview.gui.mainwindow import MainWindow

    chosen = library_dir or settings.library_dir
    try:
        library = Library.open(resolve_library_dir(chosen))
    except ScarViewError as exc:
        QMessageBox.critical(None, "ScarView", str(exc))
        print(f"scarview: {exc}", file=sys.stderr)
        return exc.exit_code
    window = MainWindow(library, sample_dir=find_sample_dir())
    window.show()
    return int(app.exec())
