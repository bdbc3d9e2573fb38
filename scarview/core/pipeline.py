"""One photo from file to measurement: read, scale, analyse; and two photos compared.

The steps every front end shares (CLI, batch, GUI workers), so they all produce
the same numbers and the same JSON documents (``CONTRACT.md``).
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview.core.align import align_photos
from scarview.core.calibrate import find_marker, manual_calibration, marker_exclusion_mask
from scarview.core.io import DEFAULT_MAX_PIXELS, read_photo
from scarview.core.measure import Change, compare_scarmaps
from scarview.core.scars import analyze_scars
from scarview.core.types import (
    Alignment,
    Calibration,
    CancelToken,
    Photo,
    ProgressCallback,
    ScarMap,
    check_cancel,
    report_progress,
)

ANALYSIS_SCHEMA = "scarview.analysis/1"
NO_SCALE_WARNING = (
    "No scale: no ArUco scale marker (DICT_4X4_50) was found and no --px-per-mm was given, "
    "so areas in mm² are not reported. Place a printed marker flat on the skin beside the "
    "scars, or pass --px-per-mm."
)


@dataclass(frozen=True)
class AnalysisSettings:
    """How a photo is scaled and analysed (everything that changes the numbers).

    Attributes
    ----------
    px_per_mm : float or None
        Manual scale; overrides the marker when given.
    marker_mm : float
        Printed side of the ArUco marker's black square, mm.
    roi : tuple of (x, y) or None
        Region of interest polygon in photo pixels.
    max_pixels : int
        Largest photo accepted (decompression-bomb guard).
    """

    px_per_mm: float | None = None
    marker_mm: float = 10.0
    roi: tuple[tuple[float, float], ...] | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS

    def roi_array(self) -> NDArray[np.float64] | None:
        """The ROI as an (N, 2) float64 array, or None."""
        return None if self.roi is None else np.asarray(self.roi, dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready settings (used to key cached results)."""
        return {
            "px_per_mm": self.px_per_mm,
            "marker_mm": self.marker_mm,
            "roi": None if self.roi is None else [list(p) for p in self.roi],
        }


@dataclass(frozen=True, eq=False)
class PhotoAnalysis:
    """A photo and everything measured on it.

    Attributes
    ----------
    photo : Photo
    calibration : Calibration
    scarmap : ScarMap
    exclude : ndarray of shape (H, W) and dtype bool
        Where the scale marker lies (left out of analysis and alignment).
    warnings : tuple of str
    """

    photo: Photo
    calibration: Calibration
    scarmap: ScarMap
    exclude: NDArray[np.bool_]
    warnings: tuple[str, ...] = ()

    def to_document(self) -> dict[str, Any]:
        """The contract's analysis JSON document (``scarview.analysis/1``)."""
        info = self.photo.info
        return {
            "schema": ANALYSIS_SCHEMA,
            "photo": {
                "path": info.path,
                "sha256": info.sha256,
                "width": info.width,
                "height": info.height,
                "captured_at": None
                if info.captured_at is None
                else info.captured_at.isoformat(timespec="seconds"),
            },
            "calibration": self.calibration.to_dict(),
            "summary": self.scarmap.summary.to_dict(),
            "scars": [scar.to_dict() for scar in self.scarmap.scars],
            "algorithm_version": self.scarmap.algorithm_version,
            "warnings": list(self.warnings),
        }


def calibrate(
    rgb: NDArray[np.uint8],
    *,
    px_per_mm: float | None = None,
    marker_mm: float = 10.0,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Calibration:
    """Scale a photo: the marker, overridden by a manual px/mm when one is given.

    The marker is looked for even with a manual scale, so it is still left out
    of the analysis.
    """
    found = find_marker(rgb, marker_mm=marker_mm, progress=progress, cancel=cancel)
    if px_per_mm is None:
        return found
    manual = manual_calibration(px_per_mm)
    return dataclasses.replace(
        manual,
        marker_polygon=found.marker_polygon,
        marker_id=found.marker_id,
        marker_mm=found.marker_mm,
    )


def exclusion_mask(calibration: Calibration, shape: tuple[int, ...]) -> NDArray[np.bool_]:
    """Where the marker and its white paper lie, with a millimetre of margin."""
    marker_mm = calibration.marker_mm or 10.0
    # The printed quiet zone is one module (a sixth of the side for 4x4 markers).
    return marker_exclusion_mask(calibration, shape, margin_mm=marker_mm / 6.0 + 1.0)


def analyze_loaded(
    photo: Photo,
    settings: AnalysisSettings = AnalysisSettings(),
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PhotoAnalysis:
    """Scale and analyse a photo already in memory."""
    report_progress(progress, 0.0, "Looking for the scale marker")
    calibration = calibrate(photo.rgb, px_per_mm=settings.px_per_mm, marker_mm=settings.marker_mm)
    check_cancel(cancel)
    exclude = exclusion_mask(calibration, photo.rgb.shape)

    def _sub(fraction: float, message: str) -> None:
        report_progress(progress, 0.1 + 0.9 * fraction, message)

    scarmap: ScarMap = analyze_scars(
        photo.rgb,
        calibration.px_per_mm,
        roi=settings.roi_array(),
        exclude=exclude,
        progress=_sub,
        cancel=cancel,
    )
    warnings = list(scarmap.warnings)
    if calibration.px_per_mm is None and NO_SCALE_WARNING not in warnings:
        warnings.insert(0, NO_SCALE_WARNING)
    report_progress(progress, 1.0, "Analysis finished")
    return PhotoAnalysis(photo, calibration, scarmap, exclude, tuple(warnings))


def analyze_photo(
    path: str | Path,
    settings: AnalysisSettings = AnalysisSettings(),
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PhotoAnalysis:
    """Read a photo file, scale it and analyse it.

    Raises
    ------
    scarview.errors.PhotoError
        When the file cannot be read as a supported photo.
    """
    photo = read_photo(path, max_pixels=settings.max_pixels)
    return analyze_loaded(photo, settings, progress=progress, cancel=cancel)


COMPARISON_SCHEMA = "scarview.comparison/1"


@dataclass(frozen=True, eq=False)
class PhotoComparison:
    """Two analysed photos, how the later maps onto the earlier, and what changed.

    Attributes
    ----------
    before, after : PhotoAnalysis
    alignment : Alignment
    change : Change or None
        ``None`` when the alignment failed: no change is reported from a pair
        that could not be aligned.
    """

    before: PhotoAnalysis
    after: PhotoAnalysis
    alignment: Alignment
    change: Change | None

    def to_document(self) -> dict[str, Any]:
        """The contract's comparison JSON document (``scarview.comparison/1``)."""
        return {
            "schema": COMPARISON_SCHEMA,
            "before": self.before.to_document(),
            "after": self.after.to_document(),
            "alignment": self.alignment.to_dict(),
            "change": None if self.change is None else self.change.to_dict(),
        }


def alignment_exclusion(analysis: PhotoAnalysis) -> NDArray[np.bool_]:
    """Pixels alignment must ignore: the marker, and the scars (they change), grown 1 mm."""
    scars = analysis.scarmap.labels > 0
    px_per_mm = analysis.scarmap.px_per_mm or analysis.calibration.px_per_mm
    grow = max(1, round(1.0 * (px_per_mm or 10.0)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1, 2 * grow + 1))
    grown = cv2.dilate(scars.astype(np.uint8), kernel) > 0
    return grown | analysis.exclude


def compare_loaded(
    before: PhotoAnalysis,
    after: PhotoAnalysis,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PhotoComparison:
    """Align two analysed photos and measure the change (none if alignment failed)."""
    alignment = align_photos(
        before.photo.rgb,
        after.photo.rgb,
        before_exclude=alignment_exclusion(before),
        after_exclude=alignment_exclusion(after),
        px_per_mm=before.calibration.px_per_mm,
        progress=progress,
        cancel=cancel,
    )
    change = compare_scarmaps(before.scarmap, after.scarmap, alignment) if alignment.ok else None
    return PhotoComparison(before, after, alignment, change)


def compare_photos(
    before_path: str | Path,
    after_path: str | Path,
    settings: AnalysisSettings = AnalysisSettings(),
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> PhotoComparison:
    """Read, scale and analyse two photos (in parallel), align AFTER onto BEFORE, compare.

    Raises
    ------
    scarview.errors.PhotoError
        When either file cannot be read as a supported photo.
    """
    report_progress(progress, 0.0, "Analysing both photos")
    # ROI is given in BEFORE's pixels; AFTER is analysed whole and matched through the
    # alignment (its scars outside the carried ROI are left out by the comparison).
    after_settings = dataclasses.replace(settings, roi=None)
    with ThreadPoolExecutor(max_workers=2) as pool:
        f_before = pool.submit(analyze_photo, before_path, settings, cancel=cancel)
        f_after = pool.submit(analyze_photo, after_path, after_settings, cancel=cancel)
        before, after = f_before.result(), f_after.result()
    check_cancel(cancel)

    def _sub(fraction: float, message: str) -> None:
        report_progress(progress, 0.6 + 0.4 * fraction, message)

    return compare_loaded(before, after, progress=_sub, cancel=cancel)
