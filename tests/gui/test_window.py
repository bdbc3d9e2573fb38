"""The desktop app, driven as a clinician would, on a temporary library (offscreen).

One window is opened for the module: the sample patient (three sessions) is
dropped on it, imported and analysed in the background; the tests then switch
every mode and check what each shows, drag the wipe slider, zoom, remove a scar
and draw a region of interest. The window is closed at the end and must leave
no thread running.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication
from pytestqt.qtbot import QtBot

from scarview.core.align import warp_points, warp_to_before
from scarview.core.io import read_photo
from scarview.gui.canvas import ImageCanvas
from scarview.gui.mainwindow import MainWindow
from scarview.store import Library
from tests.gui.helpers import (
    SESSIONS,
    all_processed,
    assert_no_leaks,
    copy_sample,
    drop_paths,
    expected_view,
    grab,
    interior_point,
    mad,
    pump_until,
    shown_box,
)

PROCESS_TIMEOUT_S = 300.0

# Any Qt warning fails a test, except the offscreen platform's note that it cannot
# propagate window size hints (there is no window manager to tell).
pytestmark = [
    pytest.mark.qt_log_level_fail("WARNING"),
    pytest.mark.qt_log_ignore("does not support propagateSizeHints"),
]


@dataclasses.dataclass
class Opened:
    window: MainWindow
    library: Library
    before_rgb: np.ndarray
    after_rgb: np.ndarray
    after_aligned: np.ndarray
    middle_rgb: np.ndarray


@pytest.fixture(scope="module")
def opened(qapp: QApplication, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Opened]:
    """A window on a fresh library after the sample patient was dropped and processed."""
    home = tmp_path_factory.mktemp("gui-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SCARVIEW_LIBRARY", str(home / "library"))
        mp.setenv("SCARVIEW_CONFIG_DIR", str(home / "config"))
        mp.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
        mp.setenv("XDG_DATA_HOME", str(home / "xdg-data"))
        folder = copy_sample(home / "incoming")
        library = Library.open(home / "library")
        window = MainWindow(library, owns_library=True)
        window.resize(1500, 950)
        window.show()
        drop_paths(window, [folder])
        pump_until(lambda: all_processed(window), PROCESS_TIMEOUT_S, "import and analysis")
        pump_until(lambda: not window.results.chart.image.isNull(), 30, "the chart")
        # Overlays off for the pixel checks (they are tested on their own).
        for action in (
            window.comparison.outlines_action,
            window.comparison.roi_action,
            window.comparison.grid_action,
        ):
            action.setChecked(False)
        before = read_photo(folder / SESSIONS[0] / "cheek-left.jpg").rgb
        after = read_photo(folder / SESSIONS[-1] / "cheek-left.jpg").rgb
        middle = read_photo(folder / SESSIONS[1] / "cheek-left.jpg").rgb
        pair = window.pair()
        assert pair is not None
        H = pair[1].alignment.alignment.homography
        aligned = warp_to_before(after, H, before.shape)
        yield Opened(window, library, before, after, aligned, middle)
        window.close()
        pump_until(lambda: True, 1, "")
        assert_no_leaks(window)


def settle(qtbot: QtBot, window: MainWindow) -> None:
    """Let queued paints and results arrive."""
    qtbot.waitUntil(lambda: not window.runner.tasks, timeout=60_000)
    qtbot.wait(30)


# ----------------------------------------------------------------------------- import


def test_drop_imports_and_analyses_the_sample_patient(opened: Opened) -> None:
    window = opened.window
    snapshot = window.snapshot
    assert snapshot is not None
    assert snapshot.patient.code == "demo-patient"
    assert [e.session.session_date.isoformat() for e in snapshot.sessions] == list(SESSIONS)
    # The timeline lists the three sessions, the comparison is baseline vs latest.
    assert window.patients_panel.sessions.count() == 3
    assert window.before_session_id == snapshot.sessions[0].session.id
    assert window.after_session_id == snapshot.sessions[-1].session.id
    # Numbers: one table row per session, the chart drawn.
    rows = window.results.model.rows
    assert len(rows) == 3
    assert all(r.analysed and r.count is not None for r in rows)
    assert rows[0].is_baseline and rows[0].change_pct is None
    assert not window.results.chart.image.isNull()
    for row in rows[1:]:
        if row.aligned and row.area_mm2 is not None and rows[0].area_mm2:
            expected = 100 * (row.area_mm2 - rows[0].area_mm2) / rows[0].area_mm2
            assert row.change_pct == pytest.approx(expected)
    # Originals are in the library, once each.
    assert sum(len(e.photos) for e in snapshot.sessions) == 3


# ------------------------------------------------------------------------------ modes


def _check_shows(
    canvas: ImageCanvas, right: np.ndarray, wrong: list[np.ndarray], label: str
) -> None:
    image = grab(canvas)
    box = shown_box(canvas)
    x0, y0, x1, y1 = box
    shown = image[y0:y1, x0:x1]
    assert shown.std() > 8, f"{label}: the canvas looks blank"
    good = mad(shown, expected_view(canvas, right, box))
    for other in wrong:
        bad = mad(shown, expected_view(canvas, other, box))
        assert good < bad, f"{label}: looks more like another photo ({good:.1f} vs {bad:.1f})"
    assert good < 12, f"{label}: does not look like the expected photo ({good:.1f})"


def test_every_mode_shows_the_right_photos(opened: Opened, qtbot: QtBot) -> None:
    window = opened.window
    c = window.comparison
    before, aligned, middle = opened.before_rgb, opened.after_aligned, opened.middle_rgb
    middle_aligned = None
    pair = window.pair()
    assert pair is not None and pair[1].alignment is not None

    # Side by side (Ctrl+1): BEFORE left, AFTER (aligned) right.
    c.mode_actions["side_by_side"].trigger()
    qtbot.wait(50)
    assert c.stack.currentWidget() is c.splitter
    _check_shows(c.left, before, [aligned], "side by side, left")
    _check_shows(c.right, aligned, [before], "side by side, right")
    assert c.left.zoom() == pytest.approx(c.right.zoom())

    # Wipe: the left of the slider is BEFORE, the right AFTER.
    c.mode_actions["wipe"].trigger()
    qtbot.wait(50)
    canvas = c.single
    assert canvas.composite == "wipe"
    canvas.set_wipe(1.0)
    _check_shows(canvas, before, [aligned], "wipe at the right edge")
    canvas.set_wipe(0.0)
    _check_shows(canvas, aligned, [before], "wipe at the left edge")
    canvas.set_wipe(0.5)

    # Blend: the opacity control moves from BEFORE to AFTER.
    c.mode_actions["blend"].trigger()
    assert canvas.composite == "blend"
    c.opacity_slider.setValue(0)
    _check_shows(canvas, before, [aligned], "blend at 0 %")
    c.opacity_slider.setValue(100)
    _check_shows(canvas, aligned, [before], "blend at 100 %")
    c.opacity_slider.setValue(50)
    mixed = ((before.astype(np.uint16) + aligned) // 2).astype(np.uint8)
    _check_shows(canvas, mixed, [], "blend at 50 %")

    # Flicker: the two photos alternate by themselves.
    c.mode_actions["flicker"].trigger()
    assert canvas.composite == "flicker"
    qtbot.waitUntil(lambda: canvas.flicker_top, timeout=5000)
    _check_shows(canvas, aligned, [before], "flicker, later photo")
    qtbot.waitUntil(lambda: not canvas.flicker_top, timeout=5000)
    _check_shows(canvas, before, [aligned], "flicker, earlier photo")

    # Difference: bright where the photos differ, not a photo.
    c.mode_actions["difference"].trigger()
    # Computed when first shown (a second or so), the photos stay usable meanwhile.
    qtbot.waitUntil(
        lambda: window.pair_images is not None and window.pair_images.difference is not None,
        timeout=60_000,
    )
    qtbot.wait(50)
    assert c.single.base is not None and c.single.base.pyramid is window.pair_images.difference
    image = grab(canvas)
    x0, y0, x1, y1 = shown_box(canvas)
    shown = image[y0:y1, x0:x1].astype(np.float32)
    assert shown.std() > 1.0, "difference view is blank"
    assert mad(image[y0:y1, x0:x1], expected_view(canvas, before, (x0, y0, x1, y1))) > 40

    # Another session on the right: the AFTER photo changes with it.
    window.step_after(-1)
    qtbot.waitUntil(
        lambda: (
            window.pair_images is not None
            and window.pair_images.after_id == window.pair()[1].photo.id
        ),
        timeout=30_000,
    )
    c.mode_actions["side_by_side"].trigger()
    qtbot.wait(50)
    H_mid = window.pair()[1].alignment.alignment.homography
    middle_aligned = warp_to_before(middle, H_mid, before.shape)
    _check_shows(c.right, middle_aligned, [aligned], "side by side, middle session")
    window.step_after(1)
    settle(qtbot, window)


def test_wipe_slider_drags(opened: Opened, qtbot: QtBot) -> None:
    window = opened.window
    c = window.comparison
    c.mode_actions["wipe"].trigger()
    canvas = c.single
    canvas.set_wipe(0.5)
    c.wipe_slider.setValue(500)
    qtbot.wait(30)
    y = canvas.height() // 2
    start = QPoint(round(canvas.wipe_x()), y)
    qtbot.mousePress(canvas, Qt.MouseButton.LeftButton, pos=start)
    for x in np.linspace(start.x(), canvas.width() * 0.2, 8):
        qtbot.mouseMove(canvas, QPoint(round(x), y))
    qtbot.mouseRelease(
        canvas, Qt.MouseButton.LeftButton, pos=QPoint(round(canvas.width() * 0.2), y)
    )
    assert canvas.wipe == pytest.approx(0.2, abs=0.01)
    assert c.wipe_slider.value() == pytest.approx(200, abs=10)
    # The band the slider swept now shows the later photo.
    image = grab(canvas)
    _x0, y0, _x1, y1 = shown_box(canvas, shrink=0.0)
    band = (
        round(canvas.width() * 0.25),
        y0 + (y1 - y0) // 4,
        round(canvas.width() * 0.45),
        y1 - (y1 - y0) // 4,
    )
    shown = image[band[1] : band[3], band[0] : band[2]]
    assert mad(shown, expected_view(canvas, opened.after_aligned, band)) < mad(
        shown, expected_view(canvas, opened.before_rgb, band)
    )
    # The keyboard-accessible slider moves it too.
    c.wipe_slider.setValue(800)
    assert canvas.wipe == pytest.approx(0.8)


def test_zoom_with_wheel_keys_fit_and_actual_size(opened: Opened, qtbot: QtBot) -> None:
    window = opened.window
    c = window.comparison
    c.mode_actions["side_by_side"].trigger()
    c.fit_action.trigger()
    canvas = c.left
    fit = canvas.zoom()
    anchor = QPointF(canvas.width() * 0.3, canvas.height() * 0.4)
    under = canvas.to_frame(anchor)
    canvas.zoom_by(2.0, anchor)  # what a wheel notch pair does, around the cursor
    assert canvas.zoom() == pytest.approx(2 * fit)
    moved = canvas.to_frame(anchor)
    assert (moved.x(), moved.y()) == pytest.approx((under.x(), under.y()), abs=1e-6)
    assert c.right.zoom() == pytest.approx(canvas.zoom()), "side by side zoom is not synchronised"
    # A real wheel event zooms in too.
    before_wheel = canvas.zoom()
    event = QWheelEvent(
        anchor,
        canvas.mapToGlobal(anchor),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(canvas, event)
    assert canvas.zoom() > before_wheel
    c.zoom_out_action.trigger()
    c.zoom_in_action.trigger()
    # 100 %: one photo pixel per device pixel, and the crop still shows the photo.
    c.actual_action.trigger()
    assert canvas.zoom() * canvas.devicePixelRatioF() == pytest.approx(1.0)
    assert c.zoom_label.text() == "100 %"
    _check_shows(canvas, opened.before_rgb, [opened.after_aligned], "100 % zoom")
    # Fit (F) brings the whole photo back.
    c.fit_action.trigger()
    assert c.view.zoom is None and canvas.zoom() == pytest.approx(fit)
    assert c.fit_action.shortcut().toString() == "F"
    assert c.actual_action.shortcut().toString() == "1"


# --------------------------------------------------------------------------- corrections


def _click_frame_point(qtbot: QtBot, canvas: ImageCanvas, xy: tuple[float, float]) -> None:
    pos = canvas.to_widget(QPointF(*xy))
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=QPoint(round(pos.x()), round(pos.y())))


def test_remove_a_scar_updates_totals_and_undo_restores(opened: Opened, qtbot: QtBot) -> None:
    window = opened.window
    c = window.comparison
    c.mode_actions["side_by_side"].trigger()
    c.fit_action.trigger()
    c.outlines_action.setChecked(True)
    settle(qtbot, window)
    pair = window.pair()
    assert pair is not None
    before = pair[0]
    assert before.summary is not None and before.scars
    scar = max(before.scars, key=lambda s: s.area_px)
    count, area = before.summary.count, before.summary.area_mm2
    # Zoom onto the scar so the click lands inside it, then select it.
    inside = interior_point(scar.contour)
    c.left.view.set_zoom(3.0, QPointF(*inside))
    qtbot.wait(20)
    _click_frame_point(qtbot, c.left, inside)
    assert window.selection == ("before", scar.id)
    assert window.delete_action.isEnabled()
    window.delete_action.trigger()  # Del
    qtbot.waitUntil(
        lambda: window.pair() is not None and window.pair()[0].summary.count == count - 1,
        timeout=60_000,
    )
    settle(qtbot, window)
    after_removal = window.pair()[0]
    assert after_removal.summary.count == count - 1
    if area is not None and scar.area_mm2 is not None:
        assert after_removal.summary.area_mm2 == pytest.approx(area - scar.area_mm2, abs=1e-6)
    # It is a correction: in the library, in the list, drawn crossed out.
    corrections = opened.library.corrections_of(before.photo.id)
    assert [k.kind for k in corrections] == ["remove_scar"]
    assert window.results.corrections.count() == 1
    assert "removed a scar" in window.results.corrections.item(0).text()
    assert any(r.id == scar.id for r in after_removal.removed)
    assert window.results.model.text(window.results.model.rows[0], 1) == str(count - 1)
    # Undo brings the scar and the totals back; the correction stays, marked undone.
    window.undo_action.trigger()
    qtbot.waitUntil(
        lambda: window.pair() is not None and window.pair()[0].summary.count == count,
        timeout=60_000,
    )
    settle(qtbot, window)
    assert opened.library.corrections_of(before.photo.id) == ()
    assert len(opened.library.corrections_of(before.photo.id, include_deleted=True)) == 1
    # Redo removes it again, undo once more to leave the patient as it was.
    window.redo_action.trigger()
    qtbot.waitUntil(lambda: window.pair()[0].summary.count == count - 1, timeout=60_000)
    window.undo_action.trigger()
    qtbot.waitUntil(lambda: window.pair()[0].summary.count == count, timeout=60_000)
    c.fit_action.trigger()
    c.outlines_action.setChecked(False)
    settle(qtbot, window)


def test_failed_alignment_shows_why_and_no_change(opened: Opened, qtbot: QtBot) -> None:
    from scarview.core.types import Alignment

    window = opened.window
    pair = window.pair()
    assert pair is not None
    after = pair[1]
    good = after.alignment
    assert good is not None, "the latest session was never aligned"

    def shown_alignment_id() -> int:
        shown = window.pair()
        assert shown is not None and shown[1].alignment is not None
        return shown[1].alignment.id

    reason = "Only 3 features agree between the photos (at least 12 are needed)."
    failed = opened.library.save_alignment(
        after.photo.id,
        good.baseline_photo_id,
        Alignment(ok=False, method="sift+magsac+ecc-patches", homography=None, reason=reason),
    )
    try:
        window.schedule_reload()
        qtbot.waitUntil(lambda: shown_alignment_id() == failed.id, timeout=30_000)
        c = window.comparison
        assert c.badge.state == "failed"
        assert c.banner.isVisible()
        assert reason in c.banner_text.text()
        assert "No change" in c.change_label.text()
        last = window.results.model.rows[-1]
        assert last.aligned is False and last.change_pct is None and last.change_mm2 is None
        assert window.results.model.text(last, 3) == "not aligned"
        # The photos are shown as they are, side by side, labelled "not aligned".
        qtbot.waitUntil(
            lambda: window.pair_images is not None and window.pair_images.homography is None,
            timeout=30_000,
        )
        assert c.right.base is not None and "not aligned" in c.right.base.caption
    finally:
        restored = opened.library.save_alignment(
            after.photo.id, good.baseline_photo_id, good.alignment
        )
        window.schedule_reload()
        qtbot.waitUntil(lambda: shown_alignment_id() == restored.id, timeout=30_000)
        settle(qtbot, window)
    assert window.comparison.banner.isVisible() == (not good.alignment.ok)


def test_draw_region_of_interest_is_carried_to_every_session(opened: Opened, qtbot: QtBot) -> None:
    window = opened.window
    c = window.comparison
    c.mode_actions["side_by_side"].trigger()
    c.fit_action.trigger()
    settle(qtbot, window)
    snapshot = window.snapshot
    assert snapshot is not None
    before = window.pair()[0]
    count_before = before.summary.count
    h, w = opened.before_rgb.shape[:2]
    polygon = [(0.2 * w, 0.2 * h), (0.75 * w, 0.22 * h), (0.7 * w, 0.8 * h), (0.25 * w, 0.75 * h)]
    # The ROI is carried through the alignments in force when it is drawn.
    homographies = {
        r.photo.id: r.alignment.alignment.homography
        for e in snapshot.sessions[1:]
        for r in e.photos
        if r.alignment is not None and r.alignment.alignment.ok
    }
    window.tool_actions["roi"].trigger()  # R
    assert window.tool == "roi" and window.tool_bar_widget.isVisible()
    qtbot.wait(50)
    for xy in polygon:
        _click_frame_point(qtbot, c.left, xy)
    assert len(c.left.sketch) == 4
    # The clicks land on whole screen pixels: the polygon is where they landed.
    clicked = [(p.x(), p.y()) for p in c.left.sketch]
    assert np.allclose(clicked, polygon, atol=1.5 / c.left.zoom())
    polygon = clicked
    qtbot.keyClick(c.left, Qt.Key.Key_Return)
    # One correction per session: drawn on the baseline, carried to every aligned session.
    aligned = {
        r.photo.id: r.alignment is None or r.alignment.alignment.ok
        for e in snapshot.sessions
        for r in e.photos
    }
    kinds = {pid: [k.kind for k in opened.library.corrections_of(pid)] for pid in aligned}
    assert kinds == {pid: (["roi"] if ok else []) for pid, ok in aligned.items()}
    qtbot.waitUntil(
        lambda: all_processed(window) and window.pair()[0].roi is not None,
        timeout=round(PROCESS_TIMEOUT_S * 1000),
    )
    settle(qtbot, window)
    assert window.results.corrections.count() == sum(aligned.values())
    result = window.pair()[0]
    np.testing.assert_allclose(result.roi, np.asarray(polygon), atol=0.01)
    assert result.summary.count <= count_before
    assert result.summary.roi_area_mm2 is not None and result.px_per_mm
    shoelace = 0.5 * abs(
        sum(
            x0 * y1 - x1 * y0
            for (x0, y0), (x1, y1) in zip(polygon, polygon[1:] + polygon[:1], strict=True)
        )
    )
    # The region measured is the polygon (less the scale marker when it lies inside).
    polygon_mm2 = shoelace / result.px_per_mm**2
    assert 0.8 * polygon_mm2 <= result.summary.roi_area_mm2 <= 1.02 * polygon_mm2
    assert result.summary.roi_area_mm2 < before.summary.roi_area_mm2
    # Carried through the alignment: each aligned follow-up's ROI maps back onto the drawn one.
    followups = [
        r
        for e in window.snapshot.sessions[1:]
        for r in e.photos
        if r.alignment is not None and r.alignment.alignment.ok
    ]
    assert followups, "no follow-up session could be aligned"
    for later in followups:
        H = homographies[later.photo.id]
        np.testing.assert_allclose(warp_points(H, later.roi), np.asarray(polygon), atol=0.05)
        # Re-analysed inside the ROI, the photo is aligned again: nearly the same place.
        H_now = later.alignment.alignment.homography
        np.testing.assert_allclose(warp_points(H_now, later.roi), np.asarray(polygon), atol=2.0)

    # Reshape it: drag one corner; the new polygon replaces the old one everywhere.
    c.roi_action.setChecked(False)
    window.tool_actions["roi"].trigger()
    assert c.roi_action.isChecked(), "the ROI tool shows the region it edits"
    qtbot.wait(50)  # the tool's hint bar takes its place under the canvas
    baseline_id = result.photo.id
    corner = c.left.to_widget(QPointF(*polygon[2]))
    start = QPoint(round(corner.x()), round(corner.y()))
    end = start + QPoint(-40, -30)
    qtbot.mousePress(c.left, Qt.MouseButton.LeftButton, pos=start)
    for t in np.linspace(0.0, 1.0, 6):
        qtbot.mouseMove(c.left, start + QPoint(round(-40 * t), round(-30 * t)))
    qtbot.mouseRelease(c.left, Qt.MouseButton.LeftButton, pos=end)
    rois = [k for k in opened.library.corrections_of(baseline_id) if k.kind == "roi"]
    assert len(rois) == 2
    reshaped = np.asarray(rois[-1].payload["polygon"])
    moved = c.left.to_frame(QPointF(end))
    np.testing.assert_allclose(reshaped[2], (moved.x(), moved.y()), atol=0.01)
    np.testing.assert_allclose(
        np.delete(reshaped, 2, axis=0), np.delete(result.roi, 2, axis=0), atol=0.01
    )
    window.undo_action.trigger()  # back to the region drawn first
    assert [k.kind for k in opened.library.corrections_of(baseline_id)] == ["roi"]
    window.set_tool("navigate")
    c.roi_action.setChecked(False)
    settle(qtbot, window)


def test_calibrate_by_two_points_then_undo(
    opened: Opened, qtbot: QtBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    import scarview.gui.mainwindow as mainwindow

    class TenMillimetres:
        """The distance dialog, answered "10 mm"."""

        def __init__(self, distance_px: float, default_mm: float, parent: object) -> None:
            self.distance_px = distance_px

        def exec(self) -> int:
            return 1  # QDialog.Accepted

        def distance_mm(self) -> float:
            return 10.0

    monkeypatch.setattr(mainwindow, "CalibrationDialog", TenMillimetres)
    window = opened.window
    c = window.comparison
    c.mode_actions["side_by_side"].trigger()
    c.fit_action.trigger()
    settle(qtbot, window)
    before = window.pair()[0]
    area_px = before.summary.area_px
    window.tool_actions["calibrate"].trigger()  # C
    p1, p2 = (400.0, 300.0), (1000.0, 300.0)
    _click_frame_point(qtbot, c.left, p1)
    _click_frame_point(qtbot, c.left, p2)
    assert window.tool == "navigate"  # calibrating is done after the second click
    corrections = opened.library.corrections_of(before.photo.id)
    calibration = [k for k in corrections if k.kind == "calibration"]
    assert len(calibration) == 1
    clicked = calibration[0].payload["points"]
    expected_px_per_mm = float(np.hypot(*np.subtract(clicked[1], clicked[0]))) / 10.0
    assert expected_px_per_mm == pytest.approx(60.0, rel=0.02)
    qtbot.waitUntil(
        lambda: all_processed(window) and window.pair()[0].calibration_method == "manual",
        timeout=round(PROCESS_TIMEOUT_S * 1000),
    )
    result = window.pair()[0]
    assert result.px_per_mm == pytest.approx(expected_px_per_mm)
    if result.summary.area_px == area_px and area_px > 0:
        # Same outlines measured with the new scale.
        assert result.summary.area_mm2 == pytest.approx(area_px / expected_px_per_mm**2, rel=1e-6)
    assert "scale set by hand" in window.results.corrections.item(0).text()
    window.undo_action.trigger()
    qtbot.waitUntil(
        lambda: all_processed(window) and window.pair()[0].calibration_method != "manual",
        timeout=round(PROCESS_TIMEOUT_S * 1000),
    )
    assert window.pair()[0].px_per_mm == pytest.approx(before.px_per_mm)


def test_align_by_hand_from_clicked_points(opened: Opened, qtbot: QtBot) -> None:
    window = opened.window
    c = window.comparison
    c.mode_actions["side_by_side"].trigger()
    settle(qtbot, window)
    after = window.pair()[1]
    H = after.alignment.alignment.homography
    assert H is not None
    window.tool_actions["points"].trigger()  # M
    assert window.tool == "points" and c.manual_alignment
    qtbot.wait(30)
    c.fit_action.trigger()
    h, w = opened.after_rgb.shape[:2]
    after_points = [
        (0.25 * w, 0.3 * h),
        (0.7 * w, 0.25 * h),
        (0.65 * w, 0.75 * h),
        (0.3 * w, 0.7 * h),
    ]
    for xy in after_points:
        _click_frame_point(qtbot, c.right, xy)  # the later photo, unwarped
        before_xy = warp_points(H, np.asarray(xy))
        _click_frame_point(qtbot, c.left, (float(before_xy[0]), float(before_xy[1])))
    assert len(window.align_after) == len(window.align_before) == 4
    assert window.tool_apply.isEnabled()
    window.tool_apply.click()
    assert window.tool == "navigate" and not c.manual_alignment
    qtbot.waitUntil(
        lambda: (
            all_processed(window)
            and window.pair()[1].alignment.alignment.method.startswith("manual")
        ),
        timeout=round(PROCESS_TIMEOUT_S * 1000),
    )
    settle(qtbot, window)
    manual = window.pair()[1].alignment.alignment
    assert manual.ok and len(manual.residuals_px) == 4
    # Clicks land on whole screen pixels: a few photo pixels of error at most.
    assert manual.rmse_px < 3.0 / c.left.zoom()
    assert c.badge.state == "fair" and "by hand" in c.badge.text()
    assert any("aligned by hand" in c.text() for c in [window.results.corrections.item(0)])
    # Undo goes back to the automatic alignment.
    window.undo_action.trigger()
    qtbot.waitUntil(
        lambda: (
            all_processed(window)
            and not window.pair()[1].alignment.alignment.method.startswith("manual")
        ),
        timeout=round(PROCESS_TIMEOUT_S * 1000),
    )
    settle(qtbot, window)


def test_layout_and_theme(opened: Opened, qtbot: QtBot) -> None:
    window = opened.window
    window.set_theme("dark")
    assert window.colors.dark
    assert QApplication.palette().window().color().lightness() < 80
    window.set_theme("light")
    assert QApplication.palette().window().color().lightness() > 180
    window.set_theme("system")
    window.save_layout()
    from scarview.gui.mainwindow import gui_settings

    assert not gui_settings().value("window/geometry").isEmpty()


# ------------------------------------------------------------------------ close early


def test_close_while_analysing_leaves_no_threads(
    qtbot: QtBot, tmp_path: Path, no_leaks: list[object]
) -> None:
    folder = copy_sample(tmp_path / "in", SESSIONS[:2])
    library = Library.open(tmp_path / "library")
    window = MainWindow(library)
    no_leaks.append(window)
    window.show()
    drop_paths(window, [folder])
    qtbot.waitUntil(lambda: window.cancel_button.isVisible(), timeout=30_000)
    qtbot.waitUntil(
        lambda: window.runner.heavy.activeThreadCount() > 0 or window.queued_photos, timeout=30_000
    )
    window.close()
    assert_no_leaks(window)
