"""Starting the app: the command, Qt kept out of other commands, layout memory, drops."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QApplication, QWidget
from pytestqt.qtbot import QtBot

from scarview.gui.app import pyside_drops_references
from scarview.gui.mainwindow import MainWindow, classify_folder
from scarview.store import Library
from tests.gui.helpers import assert_no_leaks, copy_sample

# Any Qt warning fails a test, except the offscreen platform's note that it cannot
# propagate window size hints (there is no window manager to tell).
pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints"),
]


def test_this_pyside_keeps_reference_counts(qapp: QApplication) -> None:
    # PySide6 6.12.0 loses a reference to None on every void call and aborts Python
    # after a few thousand; the app refuses such a build (see scarview.gui.app).
    widget = QWidget()
    before = sys.getrefcount(None)
    for _ in range(2000):
        widget.update()
    assert before - sys.getrefcount(None) < 200, "this PySide6 build drops references to None"
    assert not pyside_drops_references()


def test_help_does_not_load_qt() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from scarview.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "assert 'gui' in out.getvalue(), out.getvalue()\n"
        "print('PySide6' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == "False"


def test_gui_command_has_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "scarview", "gui", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0
    assert "--library" in result.stdout


def test_folder_layouts_are_told_apart(tmp_path: Path) -> None:
    patient = copy_sample(tmp_path / "patients", ("2026-01-05",))
    assert classify_folder(patient) == "patient"  # session folders named by date
    assert classify_folder(patient.parent) == "patients"  # a folder of patient folders
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "cheek.jpg").write_bytes((patient / "2026-01-05" / "cheek-left.jpg").read_bytes())
    assert classify_folder(loose) == "patient"  # photos grouped by capture date


def test_window_layout_is_remembered(qtbot: QtBot, tmp_path: Path) -> None:
    library = Library.open(tmp_path / "library")
    first = MainWindow(library, owns_library=False)
    qtbot.addWidget(first)
    first.show()
    first.results_dock.hide()
    first.comparison.mode_actions["blend"].trigger()
    first.comparison.grid_action.setChecked(True)
    first.close()
    assert_no_leaks(first)
    second = MainWindow(library, owns_library=True)
    qtbot.addWidget(second)
    second.show()
    assert not second.results_dock.isVisible()
    assert second.patients_dock.isVisible()
    assert second.comparison.mode == "blend"
    assert second.comparison.grid_action.isChecked()
    second.reset_layout()
    assert second.results_dock.isVisible()
    second.close()
    assert_no_leaks(second)


def test_empty_library_invites_a_drop(qtbot: QtBot, tmp_path: Path) -> None:
    library = Library.open(tmp_path / "library")
    window = MainWindow(library)
    qtbot.addWidget(window)
    window.show()
    assert window.patients_panel.patients.count() == 0
    assert "drop photos" in window.comparison.single.placeholder.lower()
    assert not window.export_csv_action.isEnabled()
    window.close()
    assert_no_leaks(window)
