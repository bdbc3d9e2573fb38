"""The renderer on ReportData built directly (as the batch runner builds it)."""

from __future__ import annotations

import io
import threading
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from scarview.core.io import read_photo
from scarview.core.types import TypeSummary
from scarview.errors import Cancelled
from scarview.report import ReportData, SessionReport, render_report, render_report_bytes
from scarview.report.charts import trend_chart_png
from scarview.report.data import PRINT_MAX_SIDE_PX, fit_for_print, scrub_paths
from scarview.report.images import print_overlay
from scarview.report.style import fmt_area, fmt_pct

from .conftest import SAMPLE, truth_scarmap
from .helpers import pdf_images, pdf_pages, pdf_text

BASE_DAY = date(2025, 9, 1)


def _sample_overlays() -> list[np.ndarray]:
    overlays = []
    for session in sorted(SAMPLE.iterdir()):
        photo = session / "cheek-left.jpg"
        scarmap, _ = truth_scarmap(photo)
        overlays.append(print_overlay(read_photo(photo).rgb, scarmap.scars))
    return overlays


@pytest.fixture(scope="module")
def overlays() -> list[np.ndarray]:
    return _sample_overlays()


def _entry(
    index: int,
    area_mm2: float | None,
    *,
    view: str | None = "closeup",
    baseline_overlay: np.ndarray | None = None,
    overlay: np.ndarray | None = None,
    baseline_area: float | None = None,
    ok: bool | None = True,
) -> SessionReport:
    is_baseline = index == 0
    split = (0.2, 0.45, 0.35)
    by_type = {
        t: TypeSummary(count=3 + i, area_mm2=None if area_mm2 is None else area_mm2 * f)
        for i, (t, f) in enumerate(zip(("icepick", "boxcar", "rolling"), split, strict=True))
    }
    change = change_pct = None
    if not is_baseline and ok and area_mm2 is not None and baseline_area is not None:
        change = area_mm2 - baseline_area
        change_pct = 100.0 * change / baseline_area
    day = BASE_DAY + timedelta(weeks=4 * index)
    return SessionReport(
        session_date=day,
        label=day.isoformat(),
        view=view,
        count=12,
        area_mm2=area_mm2,
        by_type=by_type,
        calibration_method="marker" if area_mm2 is not None else "none",
        px_per_mm=None if area_mm2 is None else 18.0 + 0.1 * index,
        calibration_uncertainty_pct=0.4,
        is_baseline=is_baseline,
        alignment_ok=None if is_baseline else ok,
        alignment_method=None if is_baseline else "sift+magsac+ecc-patches",
        alignment_rmse_px=None if is_baseline or not ok else 0.35,
        alignment_reason=None if ok or is_baseline else "The photos share too little skin.",
        change_area_mm2=change,
        change_area_pct=change_pct,
        baseline_overlay_rgb=baseline_overlay,
        overlay_rgb=overlay,
        overlay_aligned=bool(ok),
        algorithm_version="test-1",
    )


def _report(entries: list[SessionReport], **kw: object) -> ReportData:
    values: dict[str, object] = {
        "clinic_name": "Test Clinic",
        "patient_code": "P-0042",
        "patient_name": "Ada Example",
        "birth_date": date(1990, 2, 3),
        "notes": "Notes about /home/drsmith/patients/ada.jpg and more.",
        "deidentified": False,
        "generated_at": datetime(2026, 4, 2, 8, 15),
        "software_version": "9.9.9",
        "sessions": tuple(entries),
    }
    values.update(kw)
    return ReportData(**values)  # type: ignore[arg-type]


def test_ten_session_report_is_small_and_complete(
    overlays: list[np.ndarray], tmp_path: Path
) -> None:
    rng = np.random.default_rng(7)
    base = overlays[0]
    entries = []
    areas = [60.0 - 3.1 * i for i in range(10)]
    for i, area in enumerate(areas):
        # A different photo every session (the JPEGs must not deduplicate).
        photo = overlays[i % len(overlays)].astype(np.int16) + rng.integers(-6, 7, size=3)
        photo = np.clip(photo, 0, 255).astype(np.uint8)
        entries.append(
            _entry(i, area, baseline_overlay=base, overlay=photo, baseline_area=areas[0])
        )
    out = render_report(_report(entries), tmp_path / "ten.pdf")
    size = out.stat().st_size
    assert size < 10 * 1024 * 1024
    pages = pdf_pages(out)
    text = " ".join(pages)
    for entry in entries:
        assert entry.title in text
        assert fmt_area(entry.area_mm2) in text
        if not entry.is_baseline:
            assert fmt_pct(entry.change_area_pct) in text
    assert f"Page {len(pages)} of {len(pages)}" in pages[-1]
    photos = {d for d in pdf_images(out) if d.startswith(b"\xff\xd8")}
    assert len(photos) == 10
    for data in photos:
        with Image.open(io.BytesIO(data)) as image:
            assert max(image.size) <= PRINT_MAX_SIDE_PX
            assert not image.getexif()


def test_free_text_paths_are_scrubbed(overlays: list[np.ndarray]) -> None:
    entry = replace(
        _entry(0, 40.0, baseline_overlay=overlays[0], overlay=overlays[0]),
        warnings=("Mask 'C:\\Users\\Dr Who\\ada.mask.png' ignored.",),
    )
    text = pdf_text(render_report_bytes(_report([entry])))
    assert "drsmith" not in text and "Dr Who" not in text and "ada.jpg" not in text
    assert "[file]" in text
    assert "Notes about" in text


def test_several_views_each_get_a_summary_and_comparisons(overlays: list[np.ndarray]) -> None:
    entries = []
    for i in range(3):
        for view, scale in (("left-45", 1.0), ("right-45", 0.5)):
            entries.append(
                _entry(
                    i,
                    (50.0 - 4 * i) * scale,
                    view=view,
                    baseline_overlay=overlays[0],
                    overlay=overlays[i],
                    baseline_area=50.0 * scale,
                )
            )
    data = _report(entries)
    assert data.session_count == 3
    assert data.views == ("left-45", "right-45")
    text = pdf_text(render_report_bytes(data))
    assert "View: left 45°" in text and "View: right 45°" in text
    assert "3 sessions" in text
    assert fmt_pct(-16.0) in text  # (42 - 50) / 50 for both views


def test_missing_scale_and_images_still_render(overlays: list[np.ndarray]) -> None:
    entries = [
        _entry(0, None, overlay=None),
        _entry(1, None, ok=False),
    ]
    text = pdf_text(render_report_bytes(_report(entries)))
    assert "no scale" in text
    assert "Photo not available" in text or "photo not available" in text
    assert "The photos share too little skin." in text


def test_an_empty_patient_still_gets_a_report() -> None:
    pdf = render_report_bytes(_report([]))
    text = pdf_text(pdf)
    assert "P-0042" in text
    assert "No analysed photo" in text


def test_deidentified_flag_hides_identity_even_if_fields_are_filled(
    overlays: list[np.ndarray],
) -> None:
    entries = [_entry(0, 30.0, baseline_overlay=overlays[0], overlay=overlays[0])]
    text = pdf_text(render_report_bytes(_report(entries, deidentified=True)))
    assert "Ada" not in text and "1990-02-03" not in text and "Notes about" not in text
    assert "De-identified report" in text
    assert "P-0042" in text


def test_cancel_writes_nothing(overlays: list[np.ndarray], tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    out = tmp_path / "never.pdf"
    with pytest.raises(Cancelled):
        render_report(_report([_entry(0, 30.0)]), out, cancel=cancel)
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_progress_reaches_one(tmp_path: Path) -> None:
    seen: list[float] = []
    render_report(
        _report([_entry(0, 30.0)]), tmp_path / "r.pdf", progress=lambda f, m: seen.append(f)
    )
    assert seen[-1] == 1.0
    assert seen == sorted(seen)


def test_trend_chart_size_and_colours() -> None:
    entries = [_entry(i, 40.0 - i, baseline_area=40.0) for i in range(4)]
    png = trend_chart_png(entries, width_mm=100.0, height_mm=50.0, dpi=100)
    with Image.open(io.BytesIO(png)) as image:
        assert image.mode == "RGB"
        width, height = image.size
        assert abs(width - 100 / 25.4 * 100) <= 1 and abs(height - 50 / 25.4 * 100) <= 1
        pixels = np.asarray(image).reshape(-1, 3)
    from scarview.report.style import TYPE_COLORS_RGB

    for color in TYPE_COLORS_RGB.values():
        assert np.any(np.all(np.abs(pixels.astype(int) - color) <= 2, axis=1)), color


def test_fit_for_print_keeps_aspect_and_limits_size() -> None:
    rng = np.random.default_rng(3)
    big = rng.integers(0, 256, size=(1200, 1600, 3), dtype=np.uint8)
    small = fit_for_print(big)
    assert max(small.shape[:2]) == PRINT_MAX_SIDE_PX
    assert abs(small.shape[1] / small.shape[0] - 4 / 3) < 0.01
    tiny = big[:100, :50]
    assert fit_for_print(tiny).shape == (100, 50, 3)
    with pytest.raises(ValueError, match="RGB"):
        fit_for_print(big[..., 0])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Cannot read '/home/a b/x.jpg': bad.", "Cannot read '[file]': bad."),
        ("see /var/lib/x.png.", "see [file]."),
        ("C:\\Users\\x\\y.jpg failed", "[file] failed"),
        ("\\\\server\\share\\x.jpg", "[file]"),
        ("~/photos/a.jpg", "[file]"),
        ("18.2 px/mm and 1/2 of it", "18.2 px/mm and 1/2 of it"),
    ],
)
def test_scrub_paths(text: str, expected: str) -> None:
    assert scrub_paths(text) == expected
