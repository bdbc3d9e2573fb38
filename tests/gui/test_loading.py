"""What the window shows, computed without a window: pair homographies, trend rows, the chart."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("PySide6")

from scarview.core.align import warp_points
from scarview.core.types import Alignment, Calibration, ScarSummary, TypeSummary
from scarview.gui.chart import ChartPoint, ChartStyle, render_trend_chart
from scarview.gui.loading import (
    PatientSnapshot,
    PhotoResult,
    SessionEntry,
    pair_transform,
    trend_rows,
)
from scarview.store import AlignmentRecord, PatientRecord, PhotoRecord, SessionRecord

NOW = datetime(2026, 3, 30, 12, 0, tzinfo=UTC)
TYPE_RGB = {"icepick": (214, 39, 160), "boxcar": (240, 160, 0), "rolling": (0, 140, 220)}


def _photo(photo_id: int, session_id: int) -> PhotoRecord:
    return PhotoRecord(
        id=photo_id,
        session_id=session_id,
        patient_id=1,
        sha256=f"{photo_id:064x}",
        path=Path(f"/nowhere/{photo_id}.jpg"),
        original_name="cheek-left.jpg",
        source_path=None,
        view="closeup",
        captured_at=None,
        captured_at_source=None,
        width=1600,
        height=1200,
        file_size_bytes=1,
        format="JPEG",
        camera_model=None,
        orientation=1,
        calibration=Calibration(18.0, "marker"),
        imported_at=NOW,
    )


def _summary(area_mm2: float, count: int) -> ScarSummary:
    return ScarSummary(
        count=count,
        area_mm2=area_mm2,
        area_px=round(area_mm2 * 18.0**2),
        roi_area_mm2=5000.0,
        area_fraction=area_mm2 / 5000.0,
        by_type={
            "icepick": TypeSummary(count - 1, area_mm2 / 4),
            "boxcar": TypeSummary(1, 3 * area_mm2 / 4),
            "rolling": TypeSummary(0, 0.0),
        },
    )


def _alignment(
    photo_id: int, H: np.ndarray | None, ok: bool, reason: str | None = None
) -> AlignmentRecord:
    return AlignmentRecord(
        id=photo_id * 10,
        photo_id=photo_id,
        baseline_photo_id=1,
        created_at=NOW,
        alignment=Alignment(
            ok=ok, method="sift+magsac+ecc-patches", homography=H, rmse_px=0.3, reason=reason
        ),
    )


def _result(
    photo_id: int, area: float, count: int, alignment: AlignmentRecord | None
) -> PhotoResult:
    return PhotoResult(
        _photo(photo_id, photo_id),
        analysis=None,
        summary=_summary(area, count),
        alignment=alignment,
        px_per_mm=18.0,
    )


def _homography(rng: np.random.Generator) -> np.ndarray:
    angle = rng.uniform(-0.1, 0.1)
    scale = rng.uniform(0.95, 1.05)
    H = np.array(
        [
            [scale * np.cos(angle), -scale * np.sin(angle), rng.uniform(-40, 40)],
            [scale * np.sin(angle), scale * np.cos(angle), rng.uniform(-40, 40)],
            [rng.uniform(-1e-5, 1e-5), rng.uniform(-1e-5, 1e-5), 1.0],
        ]
    )
    return H / H[2, 2]


def test_pair_of_follow_ups_goes_through_the_baseline() -> None:
    rng = np.random.default_rng(7)
    H2, H3 = _homography(rng), _homography(rng)  # session -> baseline
    baseline = _result(1, 50.0, 12, None)
    second = _result(2, 45.0, 11, _alignment(2, H2, True))
    third = _result(3, 40.0, 10, _alignment(3, H3, True))
    H, quality = pair_transform(baseline, third)
    np.testing.assert_allclose(H, H3 / H3[2, 2], atol=1e-12)
    assert quality.ok and quality.state == "good"
    # Two follow-ups: third's pixels -> baseline -> second's pixels.
    H, quality = pair_transform(second, third)
    pts = rng.uniform(0, 1200, (10, 2))
    expected = warp_points(np.linalg.inv(H2), warp_points(H3, pts))
    np.testing.assert_allclose(warp_points(H, pts), expected, atol=1e-6)
    assert quality.ok and "through the baseline" in quality.detail
    # Later on the left: the inverse.
    H, _ = pair_transform(third, baseline)
    np.testing.assert_allclose(warp_points(H, warp_points(H3, pts)), pts, atol=1e-6)


def test_failed_or_missing_alignment_reports_why_and_no_change() -> None:
    rng = np.random.default_rng(8)
    baseline = _result(1, 50.0, 12, None)
    failed = _result(2, 45.0, 11, _alignment(2, _homography(rng), False, "Only 5 features agree."))
    H, quality = pair_transform(baseline, failed)
    assert H is not None  # still shown, for the eye only
    assert not quality.ok and quality.state == "failed"
    assert "Only 5 features agree." in quality.detail
    none = _result(3, 40.0, 10, _alignment(3, None, False, "No transformation was found here."))
    H, quality = pair_transform(baseline, none)
    assert H is None and not quality.ok and "No transformation" in quality.detail
    pending = PhotoResult(_photo(4, 4))
    H, quality = pair_transform(baseline, pending)
    assert H is None and quality.state == "pending"


def test_trend_rows_report_change_only_for_aligned_sessions() -> None:
    rng = np.random.default_rng(9)
    patient = PatientRecord(1, "P1", None, None, None, "", NOW, NOW)
    entries = []
    results = [
        _result(1, 50.0, 12, None),
        _result(2, 40.0, 10, _alignment(2, _homography(rng), True)),
        _result(3, 30.0, 9, _alignment(3, _homography(rng), False, "Too few matches.")),
    ]
    for index, result in enumerate(results):
        session = SessionRecord(index + 1, 1, f"s{index}", date(2026, 1 + index, 5), "", NOW)
        entries.append(SessionEntry(session, (result,)))
    snapshot = PatientSnapshot(patient, tuple(entries), ("closeup",))
    rows = trend_rows(snapshot, "closeup")
    assert [r.is_baseline for r in rows] == [True, False, False]
    assert rows[0].change_pct is None
    assert rows[1].change_mm2 == pytest.approx(-10.0)
    assert rows[1].change_pct == pytest.approx(-20.0)
    assert rows[1].change_count == -2
    assert rows[2].aligned is False and rows[2].change_pct is None and rows[2].change_mm2 is None
    assert rows[2].alignment_reason == "Too few matches."
    assert rows[2].area_mm2 == pytest.approx(30.0)  # measured, just not compared


def test_chart_draws_stacked_bars_in_the_type_colours() -> None:
    points = [
        ChartPoint(
            date(2026, 1, 5), "a", {"icepick": 10.0, "boxcar": 30.0, "rolling": 0.0}, 12, None, True
        ),
        ChartPoint(
            date(2026, 2, 2),
            "b",
            {"icepick": 8.0, "boxcar": 20.0, "rolling": 5.0},
            10,
            -17.5,
            False,
            True,
        ),
    ]
    style = ChartStyle(
        "#FFFFFF", "#1F2A37", "#5B6675", "#D5DCE4", "#1E8E4E", "#C53030", "#B7791F", TYPE_RGB
    )
    rgba = render_trend_chart(points, style, width_px=400, height_px=260, dpr=2.0)
    assert rgba.shape == (520, 800, 4) and rgba.dtype == np.uint8

    def share(rgb: tuple[int, int, int]) -> float:
        return float(np.mean(np.all(np.abs(rgba[..., :3].astype(int) - rgb) <= 2, axis=2)))

    # Boxcar (the largest areas) covers more of the chart than ice pick; rolling shows too.
    assert share(TYPE_RGB["boxcar"]) > share(TYPE_RGB["icepick"]) > 0.002
    assert share(TYPE_RGB["rolling"]) > 0.0005
    # Nothing measured yet: still a chart (its legend), but no bars.
    empty = render_trend_chart(
        [ChartPoint(date(2026, 1, 5), "a")], style, width_px=400, height_px=260, dpr=2.0
    )
    legend_only = float(
        np.mean(np.all(np.abs(empty[..., :3].astype(int) - TYPE_RGB["boxcar"]) <= 2, axis=2))
    )
    assert legend_only < share(TYPE_RGB["boxcar"]) / 5


def test_a_crescent_is_named_by_a_point_inside_it() -> None:
    import cv2

    from scarview.gui.loading import interior_point

    angles = np.linspace(-0.8 * np.pi, 0.8 * np.pi, 60)
    outer = np.c_[100 + 30 * np.cos(angles), 100 + 30 * np.sin(angles)]
    inner = np.c_[100 + 20 * np.cos(angles[::-1]), 100 + 20 * np.sin(angles[::-1])]
    crescent = np.vstack([outer, inner])
    centroid = tuple(crescent.mean(axis=0))
    inside = cv2.pointPolygonTest(crescent.astype(np.float32), centroid, False)
    assert inside < 0, "the test shape's centroid should lie outside it"
    x, y = interior_point(crescent, centroid)
    assert cv2.pointPolygonTest(crescent.astype(np.float32), (x, y), True) >= 3.0
    # A convex outline keeps its centroid.
    square = np.array([[0, 0], [40, 0], [40, 40], [0, 40]], dtype=np.float64)
    assert interior_point(square, (20.0, 20.0)) == (20.0, 20.0)
