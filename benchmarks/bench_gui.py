"""Desktop-app speed: repainting a 12-megapixel pair, opening a patient, starting the app.

* **Repaint** — a synthetic 12 MP (4000 x 3000) pair with 60 scar outlines is
  shown on a 1200 x 800 canvas. Each frame moves the wipe slider (or zooms by
  one wheel notch, or changes the blend opacity) and repaints synchronously
  (``QWidget.repaint``: the paint event, drawing the visible part of the right
  pyramid level and the overlays). Median and 95th percentile of 120 frames;
  target <= 16 ms per frame (60 frames a second).
* **Open a patient** — a library with 8 sessions of the sample patient
  (1600 x 1200, analysed and aligned beforehand, not timed). Timed from
  choosing the patient to the first paint of the compared photos, and to the
  trend chart on screen; target <= 1 s to first paint.
* **Start** — ``scarview gui`` in a fresh process on that library, from the
  process start to the main window shown; target <= 3 s.

Runs on Qt's offscreen platform (``QT_QPA_PLATFORM=offscreen``, set by
``make bench``), which paints with the same raster engine as a desktop.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2
import numpy as np

TITLE = "Desktop app: 12 MP repaint, opening an 8-session patient, start-up"
FRAME_TARGET_MS = 16.0
OPEN_TARGET_S = 1.0
START_TARGET_S = 3.0
ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_images" / "demo-patient"


def _app() -> object:
    from scarview.gui.app import create_application

    return create_application([sys.argv[0]])


def _pump(seconds: float = 0.0) -> None:
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    assert app is not None
    end = time.perf_counter() + seconds
    while True:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 20)
        if time.perf_counter() >= end:
            return
        time.sleep(0.002)


def _wait(condition: object, timeout_s: float) -> bool:
    from PySide6.QtCore import QEventLoop
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    assert app is not None
    end = time.perf_counter() + timeout_s
    while time.perf_counter() < end:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 5)
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.0005)
    return False


def _textured(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    coarse = rng.integers(90, 210, (height // 60, width // 60, 3), dtype=np.uint8)
    base = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    noise = rng.normal(0.0, 10.0, (height // 2, width // 2, 1)).astype(np.float32)
    base += cv2.resize(noise, (width, height))[..., None]
    return np.clip(base, 0, 255).astype(np.uint8)


def _stats(samples_ms: list[float]) -> tuple[float, float]:
    ordered = sorted(samples_ms)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered), p95


def _repaint_rows() -> list[dict[str, object]]:
    from PySide6.QtCore import QPointF, QSize
    from PySide6.QtGui import QColor, QPainterPath, QPolygonF

    from scarview.gui.canvas import ImageCanvas, Layer, ScarShape, ViewState
    from scarview.gui.pyramid import build_pyramid

    _app()
    width, height = 4000, 3000
    before = build_pyramid(_textured(width, height, 1))
    after = build_pyramid(_textured(width, height, 2))
    rng = np.random.default_rng(3)
    shapes = []
    for i in range(60):
        cx, cy = rng.uniform(200, width - 200), rng.uniform(200, height - 200)
        r = rng.uniform(8, 60)
        angles = np.linspace(0, 2 * np.pi, 48, endpoint=False)
        path = QPainterPath()
        path.addPolygon(
            QPolygonF([QPointF(cx + r * np.cos(a), cy + 0.8 * r * np.sin(a)) for a in angles])
        )
        path.closeSubpath()
        shapes.append(ScarShape(i + 1, path, QColor("#D627A0"), manual=i % 10 == 0))
    view = ViewState()
    view.set_frame(QSize(width, height))
    canvas = ImageCanvas(view)
    canvas.resize(1200, 800)
    canvas.show()
    canvas.set_layers(
        Layer("before", before, "5 Jan 2026 · baseline", shapes, None, 18.0),
        Layer("after", after, "30 Mar 2026 · aligned", shapes, None, 18.0),
    )
    canvas.set_overlays(outlines=True, roi=True, grid=True)
    _pump(0.2)

    def frames(step: object, n: int = 120) -> tuple[float, float]:
        times = []
        for i in range(n):
            step(i)  # type: ignore[operator]
            start = time.perf_counter()
            canvas.repaint()
            times.append((time.perf_counter() - start) * 1000.0)
        return _stats(times)

    rows: list[dict[str, object]] = []

    def row(name: str, result: tuple[float, float]) -> None:
        median, p95 = result
        rows.append(
            {
                "measure": name,
                "median": f"{median:.2f} ms",
                "p95": f"{p95:.2f} ms",
                "target": f"<= {FRAME_TARGET_MS:g} ms",
                "pass": "yes" if p95 <= FRAME_TARGET_MS else "NO",
            }
        )

    canvas.set_composite("wipe")
    view.fit()
    row(
        "wipe slider, fit (12 MP pair, 60 outlines, grid)",
        frames(lambda i: canvas.set_wipe(0.1 + 0.8 * (i % 40) / 40)),
    )
    view.set_zoom(1.0, QPointF(2000, 1500))
    row("wipe slider, 100 %", frames(lambda i: canvas.set_wipe(0.1 + 0.8 * (i % 40) / 40)))
    view.fit()
    anchor = QPointF(600, 400)

    def zoom_step(i: int) -> None:
        if i % 30 == 0:
            view.fit()
        canvas.zoom_by(1.25, anchor)

    row("zoom by wheel notches, fit to 800 %", frames(zoom_step))
    canvas.set_composite("blend")
    view.fit()
    row("blend opacity, fit", frames(lambda i: canvas.set_opacity((i % 20) / 20)))
    canvas.close()
    return rows


def _make_library(folder: Path) -> tuple[Path, int]:
    """A library with 8 analysed and aligned sessions of the sample patient."""
    from PIL import Image

    from scarview.store import Library
    from scarview.store.processing import process_pending

    incoming = folder / "incoming" / "demo-patient"
    sources = sorted(SAMPLE.glob("*/cheek-left.jpg"))
    first = date(2026, 1, 5)
    for i in range(8):
        day = first + timedelta(weeks=4 * i)
        target = incoming / day.isoformat() / "cheek-left.jpg"
        target.parent.mkdir(parents=True, exist_ok=True)
        source = sources[i % len(sources)]
        if i < len(sources):
            shutil.copy2(source, target)
        else:  # same photo, new bytes (the library stores identical bytes once)
            with Image.open(source) as image:
                image.save(target, "JPEG", quality=88, exif=image.getexif())
    library = Library.open(folder / "library")
    try:
        library.import_folder(incoming.parent)
        patient = library.list_patients()[0]
        process_pending(library, patient.id)
        return folder / "library", patient.id
    finally:
        library.close()


def _open_rows(library_dir: Path, patient_id: int) -> list[dict[str, object]]:
    from scarview.gui.mainwindow import MainWindow
    from scarview.store import Library

    _app()
    library = Library.open(library_dir)
    window = MainWindow(library)
    window.resize(1480, 920)
    window.show()
    _wait(lambda: window.snapshot is not None and not window.runner.tasks, 60)
    # Open another (empty) patient first, so that choosing ours is a real switch.
    other = library.add_patient("bench-empty")
    window.refresh_patients(select=other.id)
    _wait(lambda: window.snapshot is not None and window.snapshot.patient.id == other.id, 30)
    _pump(0.3)
    window.cache.clear()
    canvas = window.comparison.left
    painted: list[float] = []
    original_paint = canvas.paintEvent

    def paint_spy(event: object) -> None:
        original_paint(event)  # type: ignore[arg-type]
        if canvas.base is not None and not painted:
            painted.append(time.perf_counter())

    canvas.paintEvent = paint_spy  # type: ignore[method-assign]
    start = time.perf_counter()
    window.patients_panel.select_patient(patient_id)
    ok = _wait(lambda: bool(painted), 30)
    first_paint = (painted[0] - start) if ok else float("nan")
    chart_ok = _wait(lambda: not window.results.chart.image.isNull(), 30)
    chart = time.perf_counter() - start if chart_ok else float("nan")
    sessions = len(window.snapshot.sessions) if window.snapshot else 0
    window.close()
    return [
        {
            "measure": f"open a patient with {sessions} sessions: first paint of the photos",
            "median": f"{first_paint:.2f} s",
            "p95": "",
            "target": f"<= {OPEN_TARGET_S:g} s",
            "pass": "yes" if first_paint <= OPEN_TARGET_S else "NO",
        },
        {
            "measure": "  ... trend chart on screen",
            "median": f"{chart:.2f} s",
            "p95": "",
            "target": "",
            "pass": "",
        },
    ]


_START_SCRIPT = """
import sys, time
t0 = float(sys.argv[1])
from scarview.gui.app import create_application
app = create_application(sys.argv[:1])
from scarview.gui.theme import apply_theme
apply_theme(app, "light")
from scarview.gui.mainwindow import MainWindow
from scarview.store import Library
window = MainWindow(Library.open(sys.argv[2]))
window.show()
app.processEvents()
print(f"{time.time() - t0:.3f}")
window.close()
"""


def _start_rows(library_dir: Path) -> list[dict[str, object]]:
    times = []
    for _ in range(3):
        env = dict(os.environ, SCARVIEW_CONFIG_DIR=str(library_dir.parent / "config"))
        result = subprocess.run(
            [sys.executable, "-c", _START_SCRIPT, repr(time.time()), str(library_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )
        try:
            times.append(float(result.stdout.strip().splitlines()[-1]))
        except (ValueError, IndexError):
            times.append(float("nan"))
    median = statistics.median(times)
    return [
        {
            "measure": "start: process start to the main window shown",
            "median": f"{median:.2f} s",
            "p95": f"max {max(times):.2f} s",
            "target": f"<= {START_TARGET_S:g} s",
            "pass": "yes" if median <= START_TARGET_S else "NO",
        }
    ]


def run() -> list[dict[str, object]]:
    """Measure and return the table rows."""
    rows = _repaint_rows()
    saved = os.environ.get("SCARVIEW_CONFIG_DIR")
    with tempfile.TemporaryDirectory(prefix="scarview-bench-gui-") as tmp:
        os.environ["SCARVIEW_CONFIG_DIR"] = str(Path(tmp) / "config")
        try:
            library_dir, patient_id = _make_library(Path(tmp))
            rows += _open_rows(library_dir, patient_id)
            rows += _start_rows(library_dir)
        finally:
            if saved is None:
                os.environ.pop("SCARVIEW_CONFIG_DIR", None)
            else:
                os.environ["SCARVIEW_CONFIG_DIR"] = saved
    return rows


if __name__ == "__main__":
    for r in run():
        print(r)
