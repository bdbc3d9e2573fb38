"""One row of measurements per photo: the columns of ``measurements.csv``.

``scarview batch`` (``measurements.csv``) and ``scarview export`` share this
single definition, so a validation study can read either file with the same
script. Numbers are written with fixed decimals; an unknown value is an empty
string, never ``0`` or ``nan``.
"""

from __future__ import annotations

import datetime as dt
from math import isfinite

from scarview.core.grading import SessionGrades, TreatmentRecord
from scarview.core.types import SCAR_TYPES, Alignment, Calibration, ScarSummary

#: Column names, in order. Append new columns at the end; never rename or remove one.
MEASUREMENT_COLUMNS: tuple[str, ...] = (
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
    "algorithm_version",
    # The session's clinical record (empty when none was recorded); see scarview.core.grading.
    "procedures",
    "device",
    "needle_depth_mm",
    "passes",
    "anaesthesia",
    "clinician",
    "immediate_reactions",
    "erythema_days",
    "pih",
    "infection",
    "tram_track",
    "other_adverse_events",
    "gb_qualitative",
    "gb_quantitative",
    "gb_quantitative_suggested",
    "ecca",
    "ecca_suggested",
    "pro_instrument",
    "pro_score",
)

#: The clinical-record columns (a tail of :data:`MEASUREMENT_COLUMNS`).
CLINICAL_COLUMNS: tuple[str, ...] = MEASUREMENT_COLUMNS[MEASUREMENT_COLUMNS.index("procedures") :]

#: Decimals per kind of number.
PX_PER_MM_DECIMALS = 4
AREA_DECIMALS = 4
PCT_DECIMALS = 2
RMSE_DECIMALS = 3
DEPTH_DECIMALS = 2
PRO_DECIMALS = 2


def format_number(value: float | None, decimals: int) -> str:
    """Return ``value`` with ``decimals`` fixed decimals, or ``""`` when unknown or not finite."""
    if value is None or not isfinite(float(value)):
        return ""
    text = f"{float(value):.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def measurement_row(
    *,
    patient: str,
    session: str,
    date: dt.date | str | None,
    view: str | None,
    file: str,
    sha256: str,
    calibration: Calibration | None = None,
    summary: ScarSummary | None = None,
    alignment: Alignment | None = None,
    change_area_mm2: float | None = None,
    change_area_pct: float | None = None,
    algorithm_version: str = "",
    treatment: TreatmentRecord | None = None,
    grades: SessionGrades | None = None,
) -> dict[str, str]:
    """Format one photo's measurements as a CSV row.

    Parameters
    ----------
    patient : str
        Patient code.
    session : str
        Session label.
    date : datetime.date or str or None
        Session date (ISO ``YYYY-MM-DD`` when a date).
    view : str or None
        ``"frontal"``, ``"left-45"``... or ``None`` when unknown.
    file : str
        The photo's file name.
    sha256 : str
        Hex SHA-256 of the photo's bytes.
    calibration : Calibration, optional
        The scale the analysis used; ``None`` when the photo was not analysed.
    summary : ScarSummary, optional
        Totals of the analysis; ``None`` when the photo was not analysed.
    alignment : Alignment, optional
        Alignment of this photo onto its baseline photo; ``None`` for a
        baseline photo or when not aligned.
    change_area_mm2, change_area_pct : float, optional
        Change of total scar area from the baseline photo, in mm² and percent
        of the baseline area; ``None`` when unknown (no scale, not aligned).
    algorithm_version : str
        Version of the analysis that produced ``summary``.
    treatment : TreatmentRecord, optional
        The session's treatment record; its columns stay empty without one.
        ``procedures`` are the procedure keys joined by ``+``; ``pih``,
        ``infection`` and ``tram_track`` are ``true``/``false``.
    grades : SessionGrades, optional
        The session's clinical grades: the scores (computed by
        :mod:`scarview.core.grading`) fill ``gb_qualitative``,
        ``gb_quantitative``, ``ecca``, ``pro_instrument`` and ``pro_score``;
        ``*_suggested`` is ``true`` while a score still rests on values
        suggested from the measurement. A score not graded stays empty.

    Returns
    -------
    dict of str to str
        Keys exactly :data:`MEASUREMENT_COLUMNS`, in order.
    """
    date_text = date.isoformat() if isinstance(date, dt.date) else (date or "")
    row: dict[str, str] = dict.fromkeys(MEASUREMENT_COLUMNS, "")
    row.update(
        patient=patient,
        session=session,
        date=date_text,
        view=view or "",
        file=file,
        sha256=sha256,
        algorithm_version=algorithm_version if summary is not None else "",
    )
    if calibration is not None:
        row["px_per_mm"] = format_number(calibration.px_per_mm, PX_PER_MM_DECIMALS)
        row["calibration_method"] = calibration.method
    if summary is not None:
        row["count"] = str(int(summary.count))
        row["area_mm2"] = format_number(summary.area_mm2, AREA_DECIMALS)
        for scar_type in SCAR_TYPES:
            by_type = summary.by_type.get(scar_type)
            if by_type is None:
                # Not listed: none of this type was found.
                count, area = 0, (0.0 if summary.area_mm2 is not None else None)
            else:
                count, area = by_type.count, by_type.area_mm2
            row[f"{scar_type}_count"] = str(int(count))
            row[f"{scar_type}_area_mm2"] = format_number(area, AREA_DECIMALS)
    if alignment is not None:
        row["aligned_ok"] = "true" if alignment.ok else "false"
        row["alignment_rmse_px"] = format_number(alignment.rmse_px, RMSE_DECIMALS)
    row["change_area_mm2"] = format_number(change_area_mm2, AREA_DECIMALS)
    row["change_area_pct"] = format_number(change_area_pct, PCT_DECIMALS)
    if treatment is not None:
        row.update(_treatment_columns(treatment))
    if grades is not None:
        row.update(_grade_columns(grades))
    return row


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _treatment_columns(treatment: TreatmentRecord) -> dict[str, str]:
    procedures = "+".join(treatment.procedures)
    if treatment.other_procedure:
        procedures += f" ({treatment.other_procedure})"
    return {
        "procedures": procedures,
        "device": treatment.device,
        "needle_depth_mm": format_number(treatment.needle_depth_mm, DEPTH_DECIMALS),
        "passes": "" if treatment.passes is None else str(int(treatment.passes)),
        "anaesthesia": treatment.anaesthesia,
        "clinician": treatment.clinician,
        "immediate_reactions": treatment.immediate_reactions,
        "erythema_days": "" if treatment.erythema_days is None else str(treatment.erythema_days),
        "pih": _flag(treatment.pih),
        "infection": _flag(treatment.infection),
        "tram_track": _flag(treatment.tram_track),
        "other_adverse_events": treatment.other_adverse_events,
    }


def _grade_columns(grades: SessionGrades) -> dict[str, str]:
    columns: dict[str, str] = {}
    if grades.gb_qualitative is not None:
        columns["gb_qualitative"] = str(int(grades.gb_qualitative))
    gb = grades.gb_quantitative_result
    if gb is not None:
        columns["gb_quantitative"] = str(gb.total)
        columns["gb_quantitative_suggested"] = _flag(bool(grades.gb_quantitative_suggested))
    scored = grades.ecca_result
    if scored is not None:
        columns["ecca"] = str(scored.total)
        columns["ecca_suggested"] = _flag(bool(grades.ecca_suggested))
    if grades.pro is not None:
        columns["pro_instrument"] = grades.pro.instrument
        columns["pro_score"] = format_number(grades.pro.total_score, PRO_DECIMALS)
    return columns
