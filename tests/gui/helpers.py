"""Helpers of the GUI tests: the sample patient, drops, waiting, leak checks, pixel checks."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QEventLoop, QMimeData, QPointF, QRectF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QWidget

from scarview.gui.qimage import qimage_to_array

SAMPLE = Path(__file__).resolve().parents[2] / "sample_images" / "demo-patient"
#: The sessions copied for the GUI tests: the baseline and two follow-ups.
SESSIONS = ("2026-01-05", "2026-03-02", "2026-03-30")


def copy_sample(target: Path, sessions: tuple[str, ...] = SESSIONS) -> Path:
    """Copy some sessions of the sample patient (photos only) to ``target/demo-patient``."""
    folder = target / "demo-patient"
    for session in sessions:
        (folder / session).mkdir(parents=True, exist_ok=True)
        shutil.copy2(SAMPLE / session / "cheek-left.jpg", folder / session / "cheek-left.jpg")
    return folder


def drop_paths(widget: QWidget, paths: list[Path]) -> None:
    """Drop files or folders on a widget exactly as a file manager does."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    centre = QPointF(widget.width() / 2, widget.height() / 2)
    args = (
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    try:  # Qt 6.12 takes a QPointF (the QPoint form is deprecated there)
        enter = QDragEnterEvent(centre, *args)
    except TypeError:  # Qt 6.11 and older take a QPoint
        enter = QDragEnterEvent(centre.toPoint(), *args)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the window refused the drag"
    drop = QDropEvent(centre, *args)
    QApplication.sendEvent(widget, drop)
    assert drop.isAccepted(), "the window ignored the drop"


def pump_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Process Qt events until ``condition()`` holds (for module-scoped fixtures)."""
    app = QApplication.instance()
    assert app is not None
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents(QEventLoop.ProcessEventsFlag.AllEvents, 50)
        if condition():
            return
        time.sleep(0.005)
    raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")


def all_processed(window: object) -> bool:
    """Every photo analysed with its corrections and aligned, and no task left."""
    snapshot = window.snapshot
    if snapshot is None or not snapshot.sessions:
        return False
    if window.runner.tasks or window.queued_photos:
        return False
    for index, entry in enumerate(snapshot.sessions):
        for result in entry.photos:
            if not result.analysed or not result.up_to_date:
                return False
            if index > 0 and result.alignment is None:
                return False
    return window.pair_images is not None


def assert_no_leaks(window: object) -> None:
    """The window's pools ran dry and nothing is tracked any more."""
    from PySide6.QtCore import QThreadPool

    runner = window.runner
    assert runner.tasks == (), f"tasks still tracked: {[t.label or t.key for t in runner.tasks]}"
    assert runner.heavy.activeThreadCount() == 0
    assert runner.light.activeThreadCount() == 0
    assert QThreadPool.globalInstance().activeThreadCount() == 0


# ----------------------------------------------------------------------- image checks


def grab(widget: QWidget) -> np.ndarray:
    """The widget as painted, RGB."""
    return qimage_to_array(widget.grab().toImage())


def shown_box(canvas: object, shrink: float = 0.18) -> tuple[int, int, int, int]:
    """The central part of where the frame is drawn on a canvas, widget pixels (x0, y0, x1, y1)."""
    frame = canvas.frame_size()
    rect = canvas.transform().mapRect(QRectF(0, 0, frame.width(), frame.height()))
    rect = rect.intersected(QRectF(canvas.rect()))
    dx, dy = rect.width() * shrink, rect.height() * shrink
    return (
        round(rect.left() + dx),
        round(rect.top() + dy),
        round(rect.right() - dx),
        round(rect.bottom() - dy),
    )


def expected_view(canvas: object, rgb: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """What a canvas should show in ``box`` if it paints ``rgb`` (frame pixels)."""
    import cv2

    x0, y0, x1, y1 = box
    to_frame = canvas.to_frame
    a = to_frame(QPointF(x0, y0))
    b = to_frame(QPointF(x1, y1))
    crop = rgb[round(a.y()) : round(b.y()), round(a.x()) : round(b.x())]
    return cv2.resize(crop, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)


def mad(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two RGB images, grey levels."""
    return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))))


def interior_point(contour: np.ndarray) -> tuple[float, float]:
    """A point well inside a closed outline ``(x, y)`` (its centroid may lie outside)."""
    import cv2

    pts = np.asarray(contour, dtype=np.float64).reshape(-1, 2)
    x0, y0 = np.floor(pts.min(axis=0)) - 2
    x1, y1 = np.ceil(pts.max(axis=0)) + 2
    mask = np.zeros((int(y1 - y0) + 1, int(x1 - x0) + 1), np.uint8)
    cv2.fillPoly(mask, [np.round(pts - (x0, y0)).astype(np.int32)], 255)
    distance = cv2.distanceTransform(mask, cv2.DIST_L2, 3)
    row, col = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return float(col + x0), float(row + y0)
