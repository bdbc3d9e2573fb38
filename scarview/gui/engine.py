"""The GUI's calls into the engine: processing, effective results, display helpers.

Thin wrappers over :mod:`scarview.store.processing` and :mod:`scarview.core`
so the GUI's workers and the command line produce the same numbers; nothing
here is Qt. All of it runs on worker threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from scarview.core.types import CancelToken, ProgressCallback, Scar, ScarSummary, check_cancel
from scarview.store import AnalysisRecord, CorrectionRecord, Library, PhotoRecord

#: How near (in photo pixels, at least) a removed scar's centroid must be to the click.
_REMOVED_REACH_PX = 20.0


def type_colors_rgb() -> dict[str, tuple[int, int, int]]:
    """Outline colour of each scar type (RGB 0-255), the same as every overlay's."""
    from scarview.core.overlay import TYPE_COLORS_RGB

    return {k: (int(v[0]), int(v[1]), int(v[2])) for k, v in TYPE_COLORS_RGB.items()}


@dataclass(frozen=True, eq=False)
class Effective:
    """A photo's measurement with the clinician's corrections applied.

    Attributes
    ----------
    summary : ScarSummary
    scars : tuple of Scar
    removed : tuple of Scar
        Scars of the machine's result that a ``remove_scar`` correction removed.
    roi : ndarray of shape (N, 2) and dtype float64, or None
    px_per_mm : float or None
    calibration_method : str
    up_to_date : bool
        False while a correction waits to be applied (processing is pending).
    """

    summary: ScarSummary
    scars: tuple[Scar, ...]
    removed: tuple[Scar, ...]
    roi: NDArray[np.float64] | None
    px_per_mm: float | None
    calibration_method: str
    up_to_date: bool = True


def _wanted(
    library: Library, photo_id: int, corrections: Sequence[CorrectionRecord]
) -> dict[str, Any]:
    """The stored settings an analysis reflecting ``corrections`` carries.

    The same key :func:`scarview.store.processing.analyse_photo_in_library`
    stores and compares: the analysis settings (ROI, scale, marker) and the
    ids of the scar edits in force.
    """
    from scarview.store.processing import ANALYSIS_EDIT_KINDS, settings_for

    ordered = sorted(corrections, key=lambda c: (c.created_at, c.id))
    settings = settings_for(library, photo_id, ordered)
    return {
        "analysis": settings.to_dict(),
        "edits": [c.id for c in ordered if c.kind in ANALYSIS_EDIT_KINDS],
    }


def is_current(
    library: Library, analysis: AnalysisRecord, corrections: Sequence[CorrectionRecord]
) -> bool:
    """True when the analysis reflects exactly the corrections in force (same algorithm)."""
    from scarview.core.scars import ALGORITHM_VERSION

    return bool(
        analysis.algorithm_version == ALGORITHM_VERSION
        and analysis.settings == _wanted(library, analysis.photo_id, corrections)
    )


def current_analysis(
    library: Library, photo_id: int, corrections: Sequence[CorrectionRecord]
) -> tuple[AnalysisRecord | None, bool]:
    """The analysis to show for a photo, and whether it reflects the corrections in force.

    Usually the latest analysis. After an undo the matching result may be an
    earlier one (processing reuses a stored result instead of storing it
    again), so the newest analysis made with exactly the corrections in force
    is preferred; when none exists yet, the latest is shown as out of date.

    Returns
    -------
    (AnalysisRecord or None, bool)
    """
    latest = library.latest_analysis(photo_id)
    if latest is None or is_current(library, latest, corrections):
        return latest, latest is not None
    for record in sorted(library.analyses_of(photo_id), key=lambda a: a.id, reverse=True):
        if is_current(library, record, corrections):
            return record, True
    return latest, False


def _raw_analysis(
    library: Library, photo_id: int, analysis: AnalysisRecord
) -> AnalysisRecord | None:
    """The machine's unedited result the latest analysis was derived from."""
    stored: Any = analysis.settings
    wanted = stored.get("analysis") if isinstance(stored, dict) else None
    for record in sorted(library.analyses_of(photo_id), key=lambda a: a.id, reverse=True):
        settings: Any = record.settings
        if (
            isinstance(settings, dict)
            and settings.get("edits") == []
            and settings.get("analysis") == wanted
            and record.algorithm_version == analysis.algorithm_version
        ):
            return record
    return None


def _removed_scars(
    library: Library,
    photo: PhotoRecord,
    analysis: AnalysisRecord,
    corrections: Sequence[CorrectionRecord],
) -> tuple[Scar, ...]:
    removals = [c for c in corrections if c.kind == "remove_scar"]
    if not removals:
        return ()
    raw = _raw_analysis(library, photo.id, analysis)
    if raw is None:
        return ()
    kept = {s.id for s in analysis.scars if s.source == "auto"}
    px_per_mm = raw.calibration.px_per_mm
    reach = max(_REMOVED_REACH_PX, 1.5 * px_per_mm) if px_per_mm else _REMOVED_REACH_PX
    removed: dict[int, Scar] = {}
    for correction in removals:
        payload: Any = correction.payload
        xy = payload.get("centroid_xy") if isinstance(payload, dict) else None
        if not xy or len(xy) != 2:
            continue
        best, best_d = None, reach
        for scar in raw.scars:
            if scar.id in kept or scar.id in removed:
                continue
            x0, y0, w, h = scar.bbox_xywh
            inside = x0 <= xy[0] <= x0 + w and y0 <= xy[1] <= y0 + h
            d = (
                0.0
                if inside
                else float(np.hypot(scar.centroid_xy[0] - xy[0], scar.centroid_xy[1] - xy[1]))
            )
            if d <= best_d:
                best, best_d = scar, d
        if best is not None:
            removed[best.id] = best
    return tuple(removed.values())


def effective_result(
    library: Library,
    photo: PhotoRecord,
    analysis: AnalysisRecord,
    corrections: Sequence[CorrectionRecord],
    up_to_date: bool = True,
) -> Effective:
    """A photo's analysis (corrections applied by processing) for display.

    Parameters
    ----------
    library : Library
    photo : PhotoRecord
    analysis : AnalysisRecord
        The analysis to show (see :func:`current_analysis`).
    corrections : sequence of CorrectionRecord
        The photo's corrections in force.
    up_to_date : bool
        Whether ``analysis`` reflects them.

    Returns
    -------
    Effective
    """
    roi = None if analysis.roi_polygon is None else np.asarray(analysis.roi_polygon, np.float64)
    return Effective(
        summary=analysis.summary,
        scars=analysis.scars,
        removed=_removed_scars(library, photo, analysis, corrections),
        roi=roi,
        px_per_mm=analysis.calibration.px_per_mm,
        calibration_method=analysis.calibration.method,
        up_to_date=up_to_date,
    )


def process_photo(
    library: Library,
    photo_id: int,
    *,
    force: bool = False,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> int:
    """Analyse and align one library photo with its corrections; return its id.

    With ``force`` the photo is analysed and aligned again even when a stored
    result is current.

    Runs :func:`scarview.store.processing.process_photo` again (cheaply: stored
    work is reused) while a correction added or undone during the run left the
    stored result behind, so the latest analysis always reflects the
    corrections in force when this returns.

    Raises
    ------
    scarview.errors.ScarViewError
        With the processing's sentence when the photo cannot be processed.
    """
    from scarview.errors import PhotoError
    from scarview.store.processing import process_photo as _process

    for attempt in range(3):
        check_cancel(cancel)
        outcome = _process(
            library, photo_id, force=force and attempt == 0, progress=progress, cancel=cancel
        )
        if outcome.error is not None:
            photo = library.get_photo(photo_id)
            raise PhotoError(photo.original_name, outcome.error.rstrip("."))
        _record, up_to_date = current_analysis(library, photo_id, library.corrections_of(photo_id))
        if up_to_date:
            break
    return photo_id


def photos_needing_work(library: Library, patient_id: int) -> list[int]:
    """A patient's photos without a current analysis or without an alignment, baselines first."""
    from scarview.store.processing import pending_photo_ids

    todo: list[int] = []
    for photo_id in pending_photo_ids(library, patient_id):
        _record, up_to_date = current_analysis(library, photo_id, library.corrections_of(photo_id))
        if not up_to_date:
            todo.append(photo_id)
            continue
        baseline = library.baseline_photo_for(photo_id)
        if baseline is not None:
            record = library.alignment_for(photo_id)
            if record is None or record.baseline_photo_id != baseline.id:
                todo.append(photo_id)
    return todo


def difference_rgb(
    before_rgb: NDArray[np.uint8], after_aligned_rgb: NDArray[np.uint8], valid: NDArray[np.bool_]
) -> NDArray[np.uint8]:
    """The picture of the Difference mode (display only).

    AFTER is first brought to BEFORE's exposure and white balance
    (:func:`scarview.core.color.normalize_to`), so the picture shows changes of
    the skin's shading rather than of the camera's settings; then
    :func:`scarview.core.color.difference_image` colours the luminance change
    (blue darker, white unchanged, red brighter).

    Parameters
    ----------
    before_rgb : ndarray of shape (H, W, 3) and dtype uint8
    after_aligned_rgb : ndarray of shape (H, W, 3) and dtype uint8
        AFTER warped into BEFORE's frame.
    valid : ndarray of shape (H, W) and dtype bool
        Where AFTER has pixels.

    Returns
    -------
    ndarray of shape (H, W, 3) and dtype uint8
    """
    from scarview.core.color import difference_image, normalize_to

    normalised = normalize_to(before_rgb, after_aligned_rgb, skin_mask=valid)
    out = difference_image(before_rgb, normalised, valid=valid)
    return np.ascontiguousarray(out, dtype=np.uint8)
