"""Gather one patient's :class:`~scarview.report.data.ReportData` from the patient library.

Numbers come from each photo's latest stored analysis and latest stored alignment,
exactly as ``scarview export`` reads them (:meth:`Library.measurement_rows`), so the
report and the CSV agree. Photos are read from the library's read-only originals,
reduced to print resolution and outlined (:mod:`scarview.report.images`); a
follow-up is warped into its baseline's frame with the stored AFTER -> BEFORE
homography only when that alignment is trustworthy (``ok``).

The treatment log and clinical grades of every session come from
:func:`scarview.store.clinical.clinical_log` (each session's current record).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from scarview import __version__
from scarview.core.io import read_photo
from scarview.core.types import (
    CancelToken,
    ProgressCallback,
    check_cancel,
    report_progress,
)
from scarview.report.data import ClinicalSession, ReportData, SessionReport, scrub_paths
from scarview.report.images import print_overlay, print_overlay_aligned
from scarview.store import AnalysisRecord, Library, PatientRecord, PhotoRecord, SessionRecord
from scarview.store.clinical import clinical_log


@dataclass(frozen=True, eq=False)
class _Baseline:
    photo: PhotoRecord
    analysis: AnalysisRecord
    shape: tuple[int, int]
    overlay: NDArray[np.uint8]


def _resolve_patient(library: Library, patient: PatientRecord | int | str) -> PatientRecord:
    if isinstance(patient, PatientRecord):
        return library.get_patient(patient.id)
    if isinstance(patient, int):
        return library.get_patient(patient)
    return library.find_patient(patient)


def _view_keys(items: Sequence[tuple[SessionRecord, PhotoRecord, AnalysisRecord]]) -> list[str]:
    """A grouping key per photo: its view, else its file name's stem (as the library pairs them)."""
    return [
        f"view:{photo.view}"
        if photo.view is not None
        else f"name:{Path(photo.original_name).stem.casefold()}"
        for _, photo, _ in items
    ]


def _view_labels(keys: Sequence[str]) -> dict[str, str | None]:
    """What each grouping key is printed as; file names are never printed (they may hold names)."""
    unnamed = [k for k in dict.fromkeys(keys) if k.startswith("name:")]
    labels: dict[str, str | None] = {}
    for key in dict.fromkeys(keys):
        if key.startswith("view:"):
            labels[key] = key.removeprefix("view:")
        elif len(unnamed) == 1:
            labels[key] = None
        else:
            labels[key] = f"unrecorded view {unnamed.index(key) + 1}"
    return labels


def report_data_from_library(
    library: Library,
    patient: PatientRecord | int | str,
    *,
    deidentify: bool = False,
    clinic_name: str | None = None,
    generated_at: datetime | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ReportData:
    """Collect everything the progress report of one patient shows.

    Parameters
    ----------
    library : Library
        An open patient library.
    patient : PatientRecord or int or str
        A record, an id, or what a user typed (id, code or name; see
        :meth:`Library.find_patient`).
    deidentify : bool
        Leave out name, date of birth, the clinician's name and every free-text note.
    clinic_name : str, optional
        Printed in the header; default: the user settings' ``clinic_name``.
    generated_at : datetime, optional
        Printed in the footer; default: now (local time).
    progress : callable, optional
        ``progress(fraction, message)``.
    cancel : CancelToken, optional
        Checked between photos.

    Returns
    -------
    ReportData
        One :class:`SessionReport` per analysed photo, in session order. Photos
        never analysed are left out and counted in ``remarks``. ``clinical``
        holds one :class:`ClinicalSession` per session (recorded or not).

    Raises
    ------
    InputError
        If no patient (or more than one by name) matches ``patient``.
    PhotoError
        If a stored original can no longer be read.
    Cancelled
        If ``cancel`` was set.
    """
    record = _resolve_patient(library, patient)
    if clinic_name is None:
        from scarview.settings import load_settings

        clinic_name = load_settings().clinic_name
    items: list[tuple[SessionRecord, PhotoRecord, AnalysisRecord]] = []
    not_analysed = 0
    for session in library.sessions_of(record.id):
        for photo in library.photos_of(session.id):
            analysis = library.latest_analysis(photo.id)
            if analysis is None:
                not_analysed += 1
            else:
                items.append((session, photo, analysis))
    keys = _view_keys(items)
    labels = _view_labels(keys)
    baselines: dict[str, _Baseline] = {}
    entries: list[SessionReport] = []
    for index, ((session, photo, analysis), key) in enumerate(zip(items, keys, strict=True)):
        check_cancel(cancel)
        report_progress(progress, index / max(1, len(items)), f"Preparing {session.label}")
        rgb = read_photo(library.original_path(photo)).rgb
        baseline = baselines.get(key)
        if baseline is None:
            overlay = print_overlay(rgb, analysis.scars)
            baselines[key] = _Baseline(photo, analysis, (rgb.shape[0], rgb.shape[1]), overlay)
            entries.append(
                replace(
                    _entry(session, photo, analysis, labels[key], is_baseline=True),
                    baseline_overlay_rgb=overlay,
                    overlay_rgb=overlay,
                    overlay_aligned=True,
                )
            )
            continue
        entries.append(_follow_up(library, session, photo, analysis, labels[key], baseline, rgb))
    report_progress(progress, 1.0, "Report data ready")
    remarks: tuple[str, ...] = ()
    if not_analysed:
        remarks = (
            f"{not_analysed} photo{' was' if not_analysed == 1 else 's were'} not analysed "
            "and " + ("is" if not_analysed == 1 else "are") + " not included in this report.",
        )
    data = ReportData(
        clinic_name=clinic_name,
        patient_code=record.code,
        patient_name=record.name,
        birth_date=record.birth_date,
        notes=record.notes,
        deidentified=False,
        generated_at=generated_at or datetime.now().replace(microsecond=0),
        software_version=__version__,
        sessions=tuple(entries),
        fitzpatrick=record.fitzpatrick,
        remarks=remarks,
        clinical=tuple(
            ClinicalSession(
                session_date=entry.session_date,
                label=entry.label,
                treatment=entry.treatment,
                grades=entry.grades,
            )
            for entry in clinical_log(library, record.id)
        ),
    )
    return data.deidentify() if deidentify else data


def _entry(
    session: SessionRecord,
    photo: PhotoRecord,
    analysis: AnalysisRecord,
    view: str | None,
    *,
    is_baseline: bool,
) -> SessionReport:
    calibration = analysis.calibration
    summary = analysis.summary
    return SessionReport(
        session_date=session.session_date,
        label=session.label,
        view=view,
        count=int(summary.count),
        area_mm2=summary.area_mm2,
        by_type=dict(summary.by_type),
        calibration_method=calibration.method,
        px_per_mm=calibration.px_per_mm,
        calibration_uncertainty_pct=calibration.uncertainty_pct,
        is_baseline=is_baseline,
        algorithm_version=analysis.algorithm_version,
        notes=session.notes,
        warnings=tuple(scrub_paths(w) for w in analysis.warnings),
    )


def _follow_up(
    library: Library,
    session: SessionRecord,
    photo: PhotoRecord,
    analysis: AnalysisRecord,
    view: str | None,
    baseline: _Baseline,
    rgb: NDArray[np.uint8],
) -> SessionReport:
    """A later photo of a view: its alignment onto the baseline, change and overlay."""
    entry = _entry(session, photo, analysis, view, is_baseline=False)
    stored = library.alignment_for(photo.id)
    if stored is None:
        return replace(
            entry,
            baseline_overlay_rgb=baseline.overlay,
            overlay_rgb=print_overlay(rgb, analysis.scars),
            overlay_aligned=False,
        )
    alignment = stored.alignment
    reason = alignment.reason
    ok = bool(alignment.ok) and alignment.homography is not None
    if stored.baseline_photo_id != baseline.photo.id:
        # Aligned onto another photo than the one this report compares with.
        ok, reason = False, "It was aligned onto a different baseline photo; align it again."
    elif not ok and not reason:
        reason = "The photos could not be aligned."
    change_mm2 = change_pct = None
    change_count = None
    before_mm2 = baseline.analysis.summary.area_mm2
    after_mm2 = analysis.summary.area_mm2
    if ok:
        change_count = int(analysis.summary.count) - int(baseline.analysis.summary.count)
        if before_mm2 is not None and after_mm2 is not None:
            change_mm2 = after_mm2 - before_mm2
            change_pct = 100.0 * change_mm2 / before_mm2 if before_mm2 > 0 else None
    if ok:
        overlay = print_overlay_aligned(
            rgb, analysis.scars, np.asarray(alignment.homography), baseline.shape
        )
    else:
        overlay = print_overlay(rgb, analysis.scars)
    return replace(
        entry,
        alignment_ok=ok,
        alignment_method=alignment.method,
        alignment_rmse_px=alignment.rmse_px,
        alignment_reason=None if ok else scrub_paths(reason or ""),
        change_area_mm2=change_mm2,
        change_area_pct=change_pct,
        change_count=change_count,
        baseline_overlay_rgb=baseline.overlay,
        overlay_rgb=overlay,
        overlay_aligned=ok,
    )


__all__ = ["report_data_from_library"]
