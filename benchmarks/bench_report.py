"""Time and size of a patient's PDF progress report.

ReportData is built the way a front end builds it: each session's photo is read
from ``sample_images/`` (1600 x 1200 px), outlined at print resolution with the
scars of its ground-truth mask, and, for follow-ups, warped into the baseline's
frame with its true homography. The four sample sessions are reused with a
different exposure per session so that every embedded photo is distinct (no
deduplication helps). Timed: preparing the photos (read, reduce, warp, outline)
and rendering the PDF, wall clock, median of 3 runs.
Targets: a 10-session report stays under 10 MB; rendering it takes under 5 s.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np

from scarview.core.io import read_mask, read_photo
from scarview.core.types import Scar, TypeSummary
from scarview.report import ReportData, SessionReport, render_report
from scarview.report.images import print_overlay, print_overlay_aligned

TITLE = "PDF progress report: preparation, rendering and size"
SAMPLE = Path(__file__).resolve().parent.parent / "sample_images" / "demo-patient"
TARGET_MB = 10.0
TARGET_RENDER_S = 5.0
REPEATS = 3


def _scars(photo: Path) -> tuple[tuple[Scar, ...], float]:
    truth = json.loads(photo.with_suffix(".truth.json").read_text())
    mask = read_mask(photo.with_suffix(".mask.png")).astype(np.uint8)
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    types = ("icepick", "boxcar", "rolling")
    scars = tuple(
        Scar(
            id=i + 1,
            type=types[i % 3],
            area_px=int(cv2.contourArea(c)),
            area_mm2=None,
            diameter_mm=None,
            centroid_xy=(0.0, 0.0),
            bbox_xywh=(0, 0, 0, 0),
            contour=c.reshape(-1, 2).astype(np.float64),
            confidence=1.0,
        )
        for i, c in enumerate(contours)
    )
    return scars, float(truth["area_mm2"])


def _prepare(sessions: int) -> tuple[ReportData, float]:
    start = time.perf_counter()
    folders = sorted(SAMPLE.iterdir())
    base_photo = folders[0] / "cheek-left.jpg"
    base_rgb = read_photo(base_photo).rgb
    base_scars, base_area = _scars(base_photo)
    base_overlay = print_overlay(base_rgb, base_scars)
    entries = []
    for index in range(sessions):
        folder = folders[index % len(folders)]
        photo = folder / "cheek-left.jpg"
        rgb = read_photo(photo).rgb
        gain = 1.0 + 0.015 * index
        rgb = np.clip(rgb.astype(np.float32) * gain, 0, 255).astype(np.uint8)
        scars, area = _scars(photo)
        H = np.asarray(
            json.loads(photo.with_suffix(".truth.json").read_text())["homography_to_baseline"]
        )
        overlay = (
            base_overlay if index == 0 else print_overlay_aligned(rgb, scars, H, base_rgb.shape)
        )
        area_mm2 = area * (1.0 - 0.02 * index)
        day = date(2026, 1, 5) + timedelta(weeks=4 * index)
        entries.append(
            SessionReport(
                session_date=day,
                label=day.isoformat(),
                view="closeup",
                count=len(scars),
                area_mm2=area_mm2,
                by_type={"icepick": TypeSummary(11, area_mm2 * 0.2)},
                calibration_method="marker",
                px_per_mm=18.0,
                is_baseline=index == 0,
                alignment_ok=None if index == 0 else True,
                alignment_rmse_px=None if index == 0 else 0.4,
                change_area_mm2=None if index == 0 else area_mm2 - base_area,
                change_area_pct=None if index == 0 else 100 * (area_mm2 - base_area) / base_area,
                baseline_overlay_rgb=base_overlay,
                overlay_rgb=overlay,
                overlay_aligned=True,
            )
        )
    data = ReportData(
        clinic_name="Benchmark Clinic",
        patient_code="BENCH-1",
        patient_name=None,
        birth_date=None,
        notes="",
        deidentified=False,
        generated_at=datetime(2026, 4, 1, 12, 0),
        software_version="bench",
        sessions=tuple(entries),
    )
    return data, time.perf_counter() - start


def run() -> list[dict[str, object]]:
    """One row per report size."""
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for sessions in (4, 10):
            prep_times, render_times, size_mb, pages = [], [], 0.0, 0
            for _ in range(REPEATS):
                data, prep_s = _prepare(sessions)
                prep_times.append(prep_s)
                start = time.perf_counter()
                out = render_report(data, Path(tmp) / f"report-{sessions}.pdf")
                render_times.append(time.perf_counter() - start)
                size_mb = out.stat().st_size / 1e6
                pages = out.read_bytes().count(b"/Type /Page\n")
            render_s = statistics.median(render_times)
            rows.append(
                {
                    "sessions": sessions,
                    "prepare_s": statistics.median(prep_times),
                    "render_s": render_s,
                    "size_MB": size_mb,
                    "pages": pages or "?",
                    "target": f"< {TARGET_MB:g} MB, < {TARGET_RENDER_S:g} s",
                    "pass": size_mb < TARGET_MB and render_s < TARGET_RENDER_S,
                }
            )
    return rows
