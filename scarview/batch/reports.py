"""One patient's PDF progress report from the batch's results.

Builds the same :class:`scarview.report.data.ReportData` that
:func:`scarview.report.from_library.report_data_from_library` builds from the
library, but from the batch's records and the overlay thumbnails the workers
made (already at print size): one :class:`SessionReport` per measured photo,
in session order; for each view the first photo is its baseline, and a later
photo shows its change only when it was aligned onto that baseline. File names
and paths never reach the report (they may hold a patient's name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview import __version__
from scarview.batch.outputs import change_from_baseline
from scarview.batch.plan import PlannedPhoto
from scarview.batch.results import Record, summary_from_record
from scarview.report.data import ReportData, SessionReport, scrub_paths

#: Reads a photo's overlay thumbnail (JPEG bytes) by its plan index, or ``None``.
ThumbnailReader = Callable[[int], bytes | None]


def decode_thumbnail(data: bytes | None) -> NDArray[np.uint8] | None:
    """JPEG bytes to an RGB ``uint8`` array of shape (h, w, 3), or ``None``."""
    if not data:
        return None
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None:
        return None
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), dtype=np.uint8)


def view_labels(photos: Sequence[PlannedPhoto]) -> dict[str, str | None]:
    """What each track is printed as: its view, else ``"unrecorded view N"``.

    File names are never printed; a single track without a view is printed as
    an unknown view (``None``), as the library's report does.
    """
    unnamed = [t for t in dict.fromkeys(p.track for p in photos) if t.startswith("name:")]
    labels: dict[str, str | None] = {}
    for photo in photos:
        if photo.track in labels:
            continue
        if not photo.track.startswith("name:"):
            labels[photo.track] = photo.view
        elif len(unnamed) == 1:
            labels[photo.track] = None
        else:
            labels[photo.track] = f"unrecorded view {unnamed.index(photo.track) + 1}"
    return labels


def report_data(
    patient: str,
    photos: Sequence[PlannedPhoto],
    records: Mapping[int, Record],
    thumbnails: ThumbnailReader,
    *,
    failed: int = 0,
    clinic_name: str = "",
    generated_at: datetime | None = None,
) -> ReportData:
    """Gather one patient's report from the batch.

    Parameters
    ----------
    patient : str
        The patient's code.
    photos : sequence of PlannedPhoto
        The patient's photos, in plan order.
    records : mapping of int to dict
        Measured photos' records by plan index (photos without one are left out).
    thumbnails : callable
        ``thumbnails(index) -> JPEG bytes or None``: a photo's overlay at print
        size (for an aligned follow-up, warped into its baseline's frame).
    failed : int
        Photos of this patient that could not be measured (said in a remark).
    clinic_name : str
        Printed in the header.
    generated_at : datetime, optional
        Printed in the footer; default: now.

    Returns
    -------
    ReportData
    """
    mine = [p for p in photos if p.index in records]
    labels = view_labels(mine)
    first_of_track: dict[str, PlannedPhoto] = {}
    overlays: dict[int, NDArray[np.uint8] | None] = {}
    entries: list[SessionReport] = []
    for photo in mine:
        record = records[photo.index]
        summary = summary_from_record(record["summary"])
        calibration = record["calibration"]
        overlay = decode_thumbnail(thumbnails(photo.index))
        overlays[photo.index] = overlay
        entry = SessionReport(
            session_date=photo.session_date,
            label=photo.session,
            view=labels[photo.track],
            count=int(summary.count),
            area_mm2=summary.area_mm2,
            by_type=dict(summary.by_type),
            calibration_method=calibration["method"],
            px_per_mm=calibration["px_per_mm"],
            calibration_uncertainty_pct=calibration.get("uncertainty_pct"),
            algorithm_version=record.get("algorithm_version") or "",
            warnings=tuple(scrub_paths(w) for w in record.get("warnings", ())),
        )
        first = first_of_track.setdefault(photo.track, photo)
        if first is photo:
            entries.append(
                _replace(
                    entry,
                    is_baseline=True,
                    baseline_overlay_rgb=overlay,
                    overlay_rgb=overlay,
                    overlay_aligned=overlay is not None,
                )
            )
            continue
        entries.append(_follow_up(entry, photo, first, records, overlays, overlay))
    remarks: tuple[str, ...] = ()
    if failed:
        remarks = (
            f"{failed} photo{' was' if failed == 1 else 's were'} could not be measured "
            "and " + ("is" if failed == 1 else "are") + " not included in this report.",
        )
    return ReportData(
        clinic_name=clinic_name,
        patient_code=patient,
        patient_name=None,
        birth_date=None,
        notes="",
        deidentified=False,
        generated_at=generated_at or datetime.now().replace(microsecond=0),
        software_version=__version__,
        sessions=tuple(entries),
        remarks=remarks,
    )


def _replace(entry: SessionReport, **changes: object) -> SessionReport:
    from dataclasses import replace

    return replace(entry, **changes)  # type: ignore[arg-type]


def _follow_up(
    entry: SessionReport,
    photo: PlannedPhoto,
    first: PlannedPhoto,
    records: Mapping[int, Record],
    overlays: Mapping[int, NDArray[np.uint8] | None],
    overlay: NDArray[np.uint8] | None,
) -> SessionReport:
    record = records[photo.index]
    alignment = record.get("alignment")
    baseline_overlay = overlays.get(first.index)
    if photo.baseline != first.index or alignment is None:
        # The first photo of this view is not in the baseline session: nothing was aligned.
        return _replace(
            entry,
            baseline_overlay_rgb=baseline_overlay,
            overlay_rgb=overlay,
            overlay_aligned=False,
        )
    ok = bool(alignment.get("ok")) and alignment.get("homography") is not None
    change_mm2, change_pct = change_from_baseline(record, records.get(first.index))
    change_count = None
    if ok:
        change_count = int(record["summary"]["count"]) - int(
            records[first.index]["summary"]["count"]
        )
    reason = None
    if not ok:
        reason = scrub_paths(str(alignment.get("reason") or "The photos could not be aligned."))
    return _replace(
        entry,
        alignment_ok=ok,
        alignment_method=alignment.get("method"),
        alignment_rmse_px=alignment.get("rmse_px"),
        alignment_reason=reason,
        change_area_mm2=change_mm2 if ok else None,
        change_area_pct=change_pct if ok else None,
        change_count=change_count,
        baseline_overlay_rgb=baseline_overlay,
        overlay_rgb=overlay,
        overlay_aligned=ok and overlay is not None,
    )
