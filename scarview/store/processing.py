"""Analyse and align the library's photos, with the clinician's corrections applied.

Every front end (the GUI's workers, ``scarview import``, ``batch --library``)
processes library photos through these functions, so a photo gets the same
numbers whoever asked.

How corrections are applied (they live in their own table, so they survive any
re-analysis):

* ``roi`` ``{"polygon": [[x, y], ...]}`` and ``calibration`` ``{"px_per_mm": F,
  ...}`` change what is analysed: the photo is analysed again with them;
* ``remove_scar`` ``{"centroid_xy": [x, y]}``, ``scar_type`` ``{"centroid_xy":
  [x, y], "type": T}`` and ``add_scar`` ``{"contour": [[x, y], ...], "type": T
  or null}`` edit the automatic result;
* ``alignment_points`` ``{"after_xy": [[x, y], ...], "before_xy": [...],
  "model": "similarity" | "homography"}`` replaces the automatic alignment to
  the baseline.

Each analysis is stored twice when it has edits: the raw result (``"edits":
[]`` in its settings) and, as the latest analysis, the corrected one (``"edits"``
lists the correction ids). Only the raw result is ever edited again, so undoing a
correction restores the machine's result exactly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview.core.align import align_from_points, align_photos
from scarview.core.io import read_photo
from scarview.core.pipeline import (
    AnalysisSettings,
    PhotoAnalysis,
    alignment_exclusion,
    analyze_loaded,
    exclusion_mask,
)
from scarview.core.scars import ALGORITHM_VERSION, scar_from_mask, summarize
from scarview.core.types import (
    SCAR_TYPES,
    Alignment,
    CancelToken,
    Photo,
    ProgressCallback,
    Scar,
    ScarMap,
    check_cancel,
    report_progress,
)
from scarview.settings import load_settings
from scarview.store.library import Library
from scarview.store.models import AlignmentRecord, AnalysisRecord, CorrectionRecord

ANALYSIS_EDIT_KINDS = ("remove_scar", "scar_type", "add_scar")


@dataclass(frozen=True)
class ProcessOutcome:
    """What processing one photo did.

    Attributes
    ----------
    photo_id : int
    analysis : AnalysisRecord or None
        The photo's latest (corrected) analysis.
    alignment : AlignmentRecord or None
        Its alignment to the baseline photo (None for a baseline photo).
    analysed, aligned : bool
        Whether new work was done (False when a current result was reused).
    error : str or None
        One sentence when the photo could not be processed.
    """

    photo_id: int
    analysis: AnalysisRecord | None
    alignment: AlignmentRecord | None
    analysed: bool = False
    aligned: bool = False
    error: str | None = None


def active_corrections(library: Library, photo_id: int) -> tuple[CorrectionRecord, ...]:
    """The photo's corrections that are in force, oldest first."""
    return tuple(sorted(library.corrections_of(photo_id), key=lambda c: (c.created_at, c.id)))


def settings_for(
    library: Library, photo_id: int, corrections: Sequence[CorrectionRecord] | None = None
) -> AnalysisSettings:
    """Analysis settings of a photo: the clinic's marker size, its ROI and manual scale."""
    if corrections is None:
        corrections = active_corrections(library, photo_id)
    roi: tuple[tuple[float, float], ...] | None = None
    px_per_mm: float | None = None
    for correction in corrections:
        payload: Any = correction.payload
        if correction.kind == "roi":
            polygon = payload.get("polygon") if isinstance(payload, dict) else None
            roi = None if not polygon else tuple((float(x), float(y)) for x, y in polygon)
        elif correction.kind == "calibration" and isinstance(payload, dict):
            value = payload.get("px_per_mm")
            px_per_mm = None if value is None else float(value)
    return AnalysisSettings(px_per_mm=px_per_mm, marker_mm=load_settings().marker_mm, roi=roi)


def _raw_analysis(
    library: Library, photo_id: int, settings: AnalysisSettings
) -> AnalysisRecord | None:
    """The newest unedited analysis made with these settings by this algorithm."""
    wanted = settings.to_dict()
    for record in sorted(library.analyses_of(photo_id), key=lambda a: a.id, reverse=True):
        stored: Any = record.settings
        if (
            record.algorithm_version == ALGORITHM_VERSION
            and isinstance(stored, dict)
            and stored.get("edits") == []
            and stored.get("analysis") == wanted
        ):
            return record
    return None


def _find_scar(scarmap: ScarMap, xy: Sequence[float]) -> Scar | None:
    """The scar under a clicked point, else the nearest one within 1.5 mm (or 20 px)."""
    x, y = float(xy[0]), float(xy[1])
    h, w = scarmap.labels.shape
    col, row = round(x), round(y)
    if 0 <= row < h and 0 <= col < w:
        label = int(scarmap.labels[row, col])
        for scar in scarmap.scars:
            if scar.id == label:
                return scar
    reach = 1.5 * scarmap.px_per_mm if scarmap.px_per_mm else 20.0
    best: Scar | None = None
    best_d = reach
    for scar in scarmap.scars:
        d = float(np.hypot(scar.centroid_xy[0] - x, scar.centroid_xy[1] - y))
        if d <= best_d:
            best, best_d = scar, d
    return best


def _roi_area_px(scarmap: ScarMap) -> float:
    """Pixels in the analysed region, recovered from the stored summary."""
    s = scarmap.summary
    if s.area_fraction > 0:
        return s.area_px / s.area_fraction
    if s.roi_area_mm2 is not None and scarmap.px_per_mm:
        return s.roi_area_mm2 * scarmap.px_per_mm**2
    return float(scarmap.labels.size)


def apply_edits(
    scarmap: ScarMap, corrections: Sequence[CorrectionRecord], rgb: NDArray[np.uint8] | None = None
) -> ScarMap:
    """Apply scar removals, retypings and additions to an automatic result.

    Parameters
    ----------
    scarmap : ScarMap
        The machine's result (full-resolution labels).
    corrections : sequence of CorrectionRecord
        In force, oldest first; kinds other than the scar edits are ignored.
    rgb : ndarray of shape (H, W, 3) and dtype uint8, optional
        The photo, used to type a drawn scar from its shading when given.

    Returns
    -------
    ScarMap
        A new map; the summary is recomputed from the edited scars.
    """
    edits = [c for c in corrections if c.kind in ANALYSIS_EDIT_KINDS]
    if not edits:
        return scarmap
    labels = scarmap.labels.copy()
    scars: dict[int, Scar] = {s.id: s for s in scarmap.scars}
    px_per_mm = scarmap.px_per_mm
    for correction in edits:
        payload: Any = correction.payload
        if not isinstance(payload, dict):
            continue
        if correction.kind in ("remove_scar", "scar_type"):
            current = dataclasses.replace(scarmap, scars=tuple(scars.values()), labels=labels)
            target = _find_scar(current, payload.get("centroid_xy", (-1e9, -1e9)))
            if target is None:
                continue
            if correction.kind == "remove_scar":
                labels[labels == target.id] = 0
                del scars[target.id]
            elif payload.get("type") in SCAR_TYPES:
                scars[target.id] = dataclasses.replace(
                    target, type=payload["type"], source="manual"
                )
        else:  # add_scar
            contour = np.asarray(payload.get("contour", ()), dtype=np.float64)
            if contour.ndim != 2 or len(contour) < 3:
                continue
            mask = np.zeros(labels.shape, np.uint8)
            cv2.fillPoly(mask, [np.round(contour).astype(np.int32)], 1)
            mask_b = (mask > 0) & (labels == 0)
            if not mask_b.any():
                continue
            new_id = max(scars, default=0) + 1
            new_id = max(new_id, int(labels.max()) + 1)
            labels[mask_b] = new_id
            kind = payload.get("type")
            scar = scar_from_mask(
                mask_b,
                px_per_mm,
                new_id,
                scar_type=kind if kind in SCAR_TYPES else None,
                rgb=rgb,
            )
            scars[new_id] = dataclasses.replace(scar, source="manual")
    ordered = tuple(sorted(scars.values(), key=lambda s: s.id))
    summary = summarize(ordered, px_per_mm, round(_roi_area_px(scarmap)))
    return dataclasses.replace(scarmap, scars=ordered, labels=labels, summary=summary)


def analyse_photo_in_library(
    library: Library,
    photo_id: int,
    *,
    force: bool = False,
    photo: Photo | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> tuple[AnalysisRecord, bool]:
    """Make sure the photo's latest analysis is current, with its corrections applied.

    Returns
    -------
    record : AnalysisRecord
        The latest (corrected) analysis.
    analysed : bool
        True when the photo was analysed again (False when a stored raw
        result could be reused).
    """
    corrections = active_corrections(library, photo_id)
    settings = settings_for(library, photo_id, corrections)
    edit_ids = [c.id for c in corrections if c.kind in ANALYSIS_EDIT_KINDS]
    wanted = {"analysis": settings.to_dict(), "edits": edit_ids}
    latest = library.latest_analysis(photo_id)
    if (
        not force
        and latest is not None
        and latest.algorithm_version == ALGORITHM_VERSION
        and latest.settings == wanted
    ):
        return latest, False
    raw = None if force else _raw_analysis(library, photo_id, settings)
    analysed = False
    if raw is None:
        if photo is None:
            photo = read_photo(library.original_path(photo_id), max_pixels=settings.max_pixels)
        result = analyze_loaded(photo, settings, progress=progress, cancel=cancel)
        raw = library.save_analysis(
            photo_id,
            result.scarmap,
            result.calibration,
            {"analysis": settings.to_dict(), "edits": []},
            ALGORITHM_VERSION,
        )
        analysed = True
        if not edit_ids:
            return raw, True
    if not edit_ids:
        if latest is not None and latest.id != raw.id:
            # The last edit was undone: the machine's result becomes the latest again.
            raw = library.save_analysis(
                photo_id, library.load_scarmap(raw), raw.calibration, wanted, ALGORITHM_VERSION
            )
        return raw, analysed
    raw_map = library.load_scarmap(raw)
    edited = apply_edits(raw_map, corrections, None if photo is None else photo.rgb)
    record = library.save_analysis(photo_id, edited, raw.calibration, wanted, ALGORITHM_VERSION)
    return record, analysed


def _analysis_for_alignment(
    library: Library, photo_id: int, photo: Photo, record: AnalysisRecord
) -> PhotoAnalysis:
    """Rebuild what alignment needs (marker and scar masks) from a stored analysis."""
    scarmap = library.load_scarmap(record)
    exclude = exclusion_mask(record.calibration, photo.rgb.shape)
    return PhotoAnalysis(photo, record.calibration, scarmap, exclude, record.warnings)


def _manual_alignment(corrections: Sequence[CorrectionRecord]) -> Alignment | None:
    """The latest hand alignment in force, as an Alignment, or None."""
    for correction in reversed(corrections):
        payload: Any = correction.payload
        if correction.kind == "alignment_points" and isinstance(payload, dict):
            model = payload.get("model", "homography")
            return align_from_points(
                np.asarray(payload["after_xy"], dtype=np.float64),
                np.asarray(payload["before_xy"], dtype=np.float64),
                model="similarity" if model == "similarity" else "homography",
            )
    return None


def process_photo(
    library: Library,
    photo_id: int,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ProcessOutcome:
    """Analyse a library photo and align it to its baseline photo, storing both.

    Work already done with the same settings, corrections and algorithm is
    reused unless ``force``. A photo that cannot be read gives an outcome with
    ``error`` (one sentence) instead of raising.
    """
    from scarview.errors import Cancelled, ScarViewError

    try:
        report_progress(progress, 0.0, "Reading the photo")
        photo = read_photo(library.original_path(photo_id))
        check_cancel(cancel)

        def _analysis_progress(fraction: float, message: str) -> None:
            report_progress(progress, 0.05 + 0.55 * fraction, message)

        record, analysed = analyse_photo_in_library(
            library, photo_id, force=force, photo=photo, progress=_analysis_progress, cancel=cancel
        )
        baseline = library.baseline_photo_for(photo_id)
        if baseline is None:
            report_progress(progress, 1.0, "Done")
            return ProcessOutcome(photo_id, record, None, analysed=analysed)
        corrections = active_corrections(library, photo_id)
        manual = _manual_alignment(corrections)
        stored = library.alignment_for(photo_id)
        if manual is not None:
            if (
                stored is None
                or stored.alignment.method != manual.method
                or not np.allclose(
                    stored.alignment.homography if stored.alignment.homography is not None else 0,
                    manual.homography if manual.homography is not None else 0,
                )
            ):
                stored = library.save_alignment(photo_id, baseline.id, manual)
                return ProcessOutcome(photo_id, record, stored, analysed, True)
            return ProcessOutcome(photo_id, record, stored, analysed, False)
        if (
            not force
            and not analysed
            and stored is not None
            and stored.baseline_photo_id == baseline.id
            and not stored.alignment.method.startswith("manual")
        ):
            return ProcessOutcome(photo_id, record, stored, analysed, False)
        report_progress(progress, 0.6, "Aligning to the baseline")
        base_photo = read_photo(library.original_path(baseline.id))
        base_record, _ = analyse_photo_in_library(library, baseline.id, photo=base_photo)
        before = _analysis_for_alignment(library, baseline.id, base_photo, base_record)
        after = _analysis_for_alignment(library, photo_id, photo, record)

        def _align_progress(fraction: float, message: str) -> None:
            report_progress(progress, 0.6 + 0.4 * fraction, message)

        alignment = align_photos(
            before.photo.rgb,
            after.photo.rgb,
            before_exclude=alignment_exclusion(before),
            after_exclude=alignment_exclusion(after),
            px_per_mm=before.calibration.px_per_mm,
            progress=_align_progress,
            cancel=cancel,
        )
        stored = library.save_alignment(photo_id, baseline.id, alignment)
        report_progress(progress, 1.0, "Done")
        return ProcessOutcome(photo_id, record, stored, analysed, True)
    except Cancelled:
        raise
    except ScarViewError as exc:
        return ProcessOutcome(photo_id, None, None, error=str(exc))


def pending_photo_ids(library: Library, patient_id: int | None = None) -> list[int]:
    """Photos of a patient (or of every patient), baselines first, then by session date."""
    patients = (
        [library.get_patient(patient_id)] if patient_id is not None else library.list_patients()
    )
    first: list[int] = []
    rest: list[int] = []
    for patient in patients:
        for index, session in enumerate(library.sessions_of(patient.id)):
            ids = [p.id for p in library.photos_of(session.id)]
            (first if index == 0 else rest).extend(ids)
    return first + rest


def process_pending(
    library: Library,
    patient_id: int | None = None,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> list[ProcessOutcome]:
    """Process every photo of a patient (or of the library) that needs it."""
    ids = pending_photo_ids(library, patient_id)
    outcomes = []
    for index, photo_id in enumerate(ids):
        check_cancel(cancel)
        report_progress(progress, index / max(1, len(ids)), f"Photo {index + 1} of {len(ids)}")
        outcomes.append(process_photo(library, photo_id, force=force, cancel=cancel))
    report_progress(progress, 1.0, "All photos processed")
    return outcomes


def effective_scarmap(library: Library, photo_id: int) -> ScarMap | None:
    """The photo's latest analysis (corrections applied) as a ScarMap, or None."""
    record = library.latest_analysis(photo_id)
    return None if record is None else library.load_scarmap(record)


def homography_between(
    library: Library, photo_a: int, photo_b: int
) -> tuple[NDArray[np.float64] | None, str | None]:
    """Homography mapping photo B's pixels onto photo A's, composed through the baseline.

    Both photos must be of the same patient and view. Returns ``(H, None)`` when
    every alignment involved is ``ok``, else ``(None, reason)``.
    """
    if photo_a == photo_b:
        return np.eye(3), None

    def to_base(photo_id: int) -> tuple[NDArray[np.float64] | None, str | None, int]:
        baseline = library.baseline_photo_for(photo_id)
        if baseline is None:
            return np.eye(3), None, photo_id
        record = library.alignment_for(photo_id)
        if record is None:
            return None, "the photo has not been aligned to its baseline yet", baseline.id
        if not record.alignment.ok or record.alignment.homography is None:
            reason = record.alignment.reason or "automatic alignment failed"
            return None, reason, baseline.id
        return np.asarray(record.alignment.homography, dtype=np.float64), None, baseline.id

    Ha, reason_a, base_a = to_base(photo_a)
    Hb, reason_b, base_b = to_base(photo_b)
    if Ha is None or Hb is None:
        return None, reason_a or reason_b
    if base_a != base_b:
        return None, "the two photos do not share a baseline photo (different views)"
    H = np.linalg.inv(Ha) @ Hb
    return H / H[2, 2], None
