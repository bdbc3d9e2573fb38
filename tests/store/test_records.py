"""The measurement row shared by ``scarview export`` and batch's ``measurements.csv``."""

from __future__ import annotations

from datetime import date

import numpy as np

from scarview.core.records import MEASUREMENT_COLUMNS, format_number, measurement_row
from scarview.core.types import Alignment, Calibration, ScarSummary, TypeSummary


def test_columns_start_with_the_contract_columns() -> None:
    contract = (
        "patient",
        "session",
        "date",
        "view",
        "file",
        "sha256",
        "px_per_mm",
        "calibration_method",
        "count",
        "area_mm2",
        "icepick_count",
        "icepick_area_mm2",
        "boxcar_count",
        "boxcar_area_mm2",
        "rolling_count",
        "rolling_area_mm2",
        "aligned_ok",
        "alignment_rmse_px",
        "change_area_mm2",
        "change_area_pct",
    )
    assert MEASUREMENT_COLUMNS[: len(contract)] == contract
    assert len(set(MEASUREMENT_COLUMNS)) == len(MEASUREMENT_COLUMNS)


def test_format_number() -> None:
    assert format_number(None, 2) == ""
    assert format_number(float("nan"), 2) == ""
    assert format_number(float("inf"), 2) == ""
    assert format_number(1.23456, 2) == "1.23"
    assert format_number(-0.0001, 2) == "0.00"
    assert format_number(-1.005, 1) == "-1.0"
    assert format_number(3, 0) == "3"


def test_a_measured_aligned_row() -> None:
    summary = ScarSummary(
        count=5,
        area_mm2=12.3456789,
        area_px=1234,
        roi_area_mm2=100.0,
        area_fraction=0.1,
        by_type={"icepick": TypeSummary(3, 1.5), "boxcar": TypeSummary(2, 10.8456789)},
    )
    row = measurement_row(
        patient="P1",
        session="2026-02-01",
        date=date(2026, 2, 1),
        view="frontal",
        file="frontal.jpg",
        sha256="ab" * 32,
        calibration=Calibration(31.25, "marker", 0.4),
        summary=summary,
        alignment=Alignment(True, "sift", np.eye(3), rmse_px=0.4249),
        change_area_mm2=-2.5,
        change_area_pct=-16.84,
        algorithm_version="1.2",
    )
    assert list(row) == list(MEASUREMENT_COLUMNS)
    assert row["date"] == "2026-02-01"
    assert row["px_per_mm"] == "31.2500" and row["calibration_method"] == "marker"
    assert row["count"] == "5" and row["area_mm2"] == "12.3457"
    assert row["icepick_count"] == "3" and row["icepick_area_mm2"] == "1.5000"
    assert row["boxcar_area_mm2"] == "10.8457"
    assert row["rolling_count"] == "0" and row["rolling_area_mm2"] == "0.0000"
    assert row["aligned_ok"] == "true" and row["alignment_rmse_px"] == "0.425"
    assert row["change_area_mm2"] == "-2.5000" and row["change_area_pct"] == "-16.84"
    assert row["algorithm_version"] == "1.2"


def test_unknown_values_are_empty_never_zero() -> None:
    row = measurement_row(
        patient="P1", session="s", date=None, view=None, file="x.jpg", sha256="0" * 64
    )
    blank = set(MEASUREMENT_COLUMNS) - {"patient", "session", "file", "sha256"}
    assert all(row[c] == "" for c in blank)
    no_scale = measurement_row(
        patient="P1",
        session="s",
        date="2026-01-01",
        view="closeup",
        file="x.jpg",
        sha256="0" * 64,
        calibration=Calibration(None, "none"),
        summary=ScarSummary(2, None, 50, None, 0.01, {"rolling": TypeSummary(2, None)}),
        alignment=Alignment(False, "sift", None, reason="blurred"),
    )
    assert no_scale["px_per_mm"] == "" and no_scale["calibration_method"] == "none"
    assert no_scale["count"] == "2" and no_scale["area_mm2"] == ""
    assert no_scale["icepick_count"] == "0" and no_scale["icepick_area_mm2"] == ""
    assert no_scale["aligned_ok"] == "false" and no_scale["alignment_rmse_px"] == ""
