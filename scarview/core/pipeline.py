"""One photo from file to measurement: read, scale, analyse; and two photos compared.

The steps every front end shares (CLI, batch, GUI workers), so they all produce
the same numbers and the same JSON documents (``CONTRACT.md``).

Two photos are compared side by side (:func:`compare_photos`): each photo is
read, scaled, analysed and prepared for registration on its own core, then the
alignment and the change are computed once both are ready. Each photo's work
depends on that photo alone and the alignment seeds OpenCV's random generator
itself, so the result is the same, bit for bit, as doing the same steps one
after the other (``parallel="none"``).

Side by side means, on Linux, AFTER's share in a forked process (its result
comes back through shared memory, without copying the arrays) and BEFORE's in
the calling process: the scar engine spends most of its time in small NumPy
steps that hold the GIL, so two threads would take turns rather than share the
two cores. Elsewhere, or on request, two threads (OpenCV, libjpeg-turbo and
NumPy's large-array loops do release the GIL).
"""

from __future__ import annotations

import dataclasses
import importlib
import mmap
import multiprocessing
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.reduction import recv_handle, send_handle
from pathlib import Path
from typing import Any, Literal, TypeVar

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview.core.align import AlignmentInput, align_prepared, prepare_alignment
from scarview.core.calibrate import find_marker, manual_calibration, marker_exclusion_mask
from scarview.core.io import DEFAULT_MAX_PIXELS, read_photo
from scarview.core.measure import Change, compare_scarmaps
from scarview.core.scars import analyze_scars, summarize
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
from scarview.errors import Cancelled, InputError, PhotoError

ANALYSIS_SCHEMA = "scarview.analysis/1"
NO_SCALE_WARNING = (
    "No scale: no ArUco scale marker (DICT_4X4_50) was found and no --px-per-mm was given, "
    "so areas in mm² are not reported. Place a printed marker flat on the skin beside the "
    "scars, or pass --px-per-mm."
)

#: How far alignment keeps away from a scar (it changes between sessions), in mm.
ALIGNMENT_SCAR_MARGIN_MM = 1.0

_T = TypeVar("_T")


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
    timings_s : mapping of str to float
        Wall-clock seconds of each step, in the thread that ran it: ``"read"``
        (when the photo was read from a file), ``"calibrate"`` (marker search
        and exclusion mask) and ``"analyse"`` (:func:`analyze_scars`). For
        benchmarks and batch statistics; never part of a result.
    """

    photo: Photo
    calibration: Calibration
    scarmap: ScarMap
    exclude: NDArray[np.bool_]
    warnings: tuple[str, ...] = ()
    timings_s: Mapping[str, float] = field(default_factory=dict)

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


def _grey(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Luminance (H, W) uint8 of an RGB photo, computed once for scale and alignment."""
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY), np.uint8)


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

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) or (H, W) and dtype uint8
        The photo (RGB) or its luminance.
    px_per_mm : float, optional
        Manual scale, px per mm.
    marker_mm : float
        Printed side of the marker, mm.
    progress, cancel
        See :func:`scarview.core.calibrate.find_marker`.
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
    """Where the marker and its white paper lie, with a millimetre of margin.

    Returns
    -------
    ndarray of shape (H, W) and dtype bool
        True over the marker, its quiet zone and 1 mm around it.
    """
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
    analysis, _ = _analyze(photo, settings, {}, False, progress, cancel)
    return analysis


def _analyze(
    photo: Photo,
    settings: AnalysisSettings,
    timings_s: dict[str, float],
    keep_grey: bool,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> tuple[PhotoAnalysis, NDArray[np.uint8] | None]:
    """:func:`analyze_loaded`; also returns the photo's luminance when ``keep_grey``.

    The luminance is computed once, for the marker search and (when kept) the
    alignment. ``timings_s`` gets ``"calibrate"`` and ``"analyse"``.
    """
    report_progress(progress, 0.0, "Looking for the scale marker")
    t0 = time.perf_counter()
    grey = _grey(photo.rgb) if keep_grey else None
    calibration = calibrate(
        photo.rgb if grey is None else grey,
        px_per_mm=settings.px_per_mm,
        marker_mm=settings.marker_mm,
    )
    check_cancel(cancel)
    exclude = exclusion_mask(calibration, photo.rgb.shape)
    t1 = time.perf_counter()

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
    t2 = time.perf_counter()
    timings_s.update(calibrate=t1 - t0, analyse=t2 - t1)
    warnings = list(scarmap.warnings)
    if calibration.px_per_mm is None and NO_SCALE_WARNING not in warnings:
        warnings.insert(0, NO_SCALE_WARNING)
    report_progress(progress, 1.0, "Analysis finished")
    analysis = PhotoAnalysis(photo, calibration, scarmap, exclude, tuple(warnings), dict(timings_s))
    return analysis, grey


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
    analysis, _ = _read_and_analyze(path, settings, False, progress, cancel)
    return analysis


def _read_and_analyze(
    path: str | Path,
    settings: AnalysisSettings,
    keep_grey: bool,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> tuple[PhotoAnalysis, NDArray[np.uint8] | None]:
    """Read and analyse one photo; also return its luminance when ``keep_grey``."""
    t0 = time.perf_counter()
    photo = read_photo(path, max_pixels=settings.max_pixels)
    timings_s = {"read": time.perf_counter() - t0}
    check_cancel(cancel)
    return _analyze(photo, settings, timings_s, keep_grey, progress, cancel)


COMPARISON_SCHEMA = "scarview.comparison/1"


@dataclass(frozen=True, eq=False)
class PhotoComparison:
    """Two analysed photos, how the later maps onto the earlier, and what changed.

    Attributes
    ----------
    before, after : PhotoAnalysis
        With a region of interest, AFTER's analysis covers BEFORE's region
        carried into AFTER's pixels through the alignment (see
        :func:`compare_loaded`).
    alignment : Alignment
    change : Change or None
        ``None`` when the alignment failed: no change is reported from a pair
        that could not be aligned.
    timings_s : mapping of str to float
        Wall-clock seconds of each step: ``"read before"``, ``"read after"``,
        ``"calibrate before"``, ``"calibrate after"``, ``"analyse before"``,
        ``"analyse after"`` (the scar engine), ``"prepare before"``,
        ``"prepare after"`` (alignment masks and pyramids), ``"align"``,
        ``"change"`` and ``"total"`` (the whole comparison; less than the sum
        when the photos were processed side by side). Steps that did not run
        are absent. For benchmarks; never part of a result.
    """

    before: PhotoAnalysis
    after: PhotoAnalysis
    alignment: Alignment
    change: Change | None
    timings_s: Mapping[str, float] = field(default_factory=dict)

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
    """Pixels alignment must ignore: the marker, and the scars (they change), grown 1 mm.

    A pixel is left out when its centre lies within
    :data:`ALIGNMENT_SCAR_MARGIN_MM` (rounded to whole pixels, at least one) of
    a scar pixel's centre. The distance is measured with an exact Euclidean
    distance transform in a window around each scar's bounding box only, so
    the cost follows the scars' area, not the photo's.

    Returns
    -------
    ndarray of shape (H, W) and dtype bool
        True where alignment must not look.
    """
    scarmap = analysis.scarmap
    px_per_mm = scarmap.px_per_mm or analysis.calibration.px_per_mm
    grow = max(1, round(ALIGNMENT_SCAR_MARGIN_MM * (px_per_mm or 10.0)))
    out = np.array(analysis.exclude, dtype=bool, copy=True)
    rows, cols = scarmap.labels.shape
    for scar in scarmap.scars:
        x, y, w, h = (int(v) for v in scar.bbox_xywh)
        x0, y0 = max(0, x - grow), max(0, y - grow)
        x1, y1 = min(cols, x + w + grow), min(rows, y + h + grow)
        if x0 >= x1 or y0 >= y1:
            continue
        outside = np.asarray(scarmap.labels[y0:y1, x0:x1] == 0, np.uint8)
        distance = cv2.distanceTransform(outside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        out[y0:y1, x0:x1] |= distance <= grow
    return out


def prepare_for_alignment(
    analysis: PhotoAnalysis, grey: NDArray[np.uint8] | None = None
) -> AlignmentInput:
    """An analysed photo's registration input: its pyramid, marker and scars left out.

    Parameters
    ----------
    analysis : PhotoAnalysis
    grey : ndarray of shape (H, W) and dtype uint8, optional
        The photo's luminance (``cv2.COLOR_RGB2GRAY``), when already computed.
    """
    image = analysis.photo.rgb if grey is None else grey
    return prepare_alignment(image, alignment_exclusion(analysis))


def restrict_to_region(analysis: PhotoAnalysis, polygon: NDArray[np.float64]) -> PhotoAnalysis:
    """An analysis limited to a region of interest given after the fact.

    Used to carry BEFORE's region of interest into AFTER: AFTER is analysed
    whole (its region is only known once the photos are aligned), then its
    scars whose centroid lies outside the carried region are dropped. This is
    the rule :func:`scarview.core.measure.compare_scarmaps` uses for the common
    region, so the two agree.

    Parameters
    ----------
    analysis : PhotoAnalysis
    polygon : ndarray of shape (N, 2) and dtype float64
        The region ``(x, y)`` in the photo's pixels (it may extend past the frame).

    Returns
    -------
    PhotoAnalysis
        The same photo and calibration; the scar map holds only the scars kept
        (their ids unchanged), its ``roi_polygon`` is ``polygon`` and its summary
        is over the region's pixels inside the frame, without the marker.
    """
    scarmap = analysis.scarmap
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    contour = poly.astype(np.float32).reshape(-1, 1, 2)
    kept = tuple(
        scar
        for scar in scarmap.scars
        if cv2.pointPolygonTest(
            contour, (float(scar.centroid_xy[0]), float(scar.centroid_xy[1])), False
        )
        >= 0
    )
    top = max([int(s.id) for s in scarmap.scars], default=0)
    lut = np.zeros(max(top, int(scarmap.labels.max(initial=0))) + 1, np.int32)
    for scar in kept:
        lut[scar.id] = scar.id
    labels = lut[scarmap.labels] if len(kept) < len(scarmap.scars) else scarmap.labels
    region = np.zeros(scarmap.labels.shape, np.uint8)
    shift = 4
    cv2.fillPoly(region, [np.round(poly * (1 << shift)).astype(np.int32)], 1, cv2.LINE_8, shift)
    region_px = int(np.count_nonzero(region.view(bool) & ~analysis.exclude))
    summary = summarize(kept, scarmap.px_per_mm, region_px)
    restricted = dataclasses.replace(
        scarmap, scars=kept, labels=np.asarray(labels, np.int32), summary=summary, roi_polygon=poly
    )
    return dataclasses.replace(analysis, scarmap=restricted)


def compare_loaded(
    before: PhotoAnalysis,
    after: PhotoAnalysis,
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    before_input: AlignmentInput | None = None,
    after_input: AlignmentInput | None = None,
) -> PhotoComparison:
    """Align two analysed photos and measure the change (none if alignment failed).

    Parameters
    ----------
    before, after : PhotoAnalysis
        The earlier and the later photo.
    progress : callable, optional
    cancel : CancelToken, optional
    before_input, after_input : AlignmentInput, optional
        What :func:`prepare_for_alignment` gives for each photo, when the
        caller has it already (a batch prepares a baseline once for all its
        follow-ups); computed here otherwise.

    Returns
    -------
    PhotoComparison
        When BEFORE was analysed in a region of interest and AFTER was not,
        and the photos are aligned, AFTER is restricted to BEFORE's region
        carried into its pixels (:func:`restrict_to_region`), so that both
        analyses cover the same skin and the change compares like with like.
    """
    timings_s: dict[str, float] = {}
    t0 = time.perf_counter()
    if before_input is None:
        before_input = prepare_for_alignment(before)
        timings_s["prepare before"] = time.perf_counter() - t0
    check_cancel(cancel)
    t1 = time.perf_counter()
    if after_input is None:
        after_input = prepare_for_alignment(after)
        timings_s["prepare after"] = time.perf_counter() - t1
    check_cancel(cancel)
    return _align_and_measure(before, after, before_input, after_input, timings_s, progress, cancel)


def _align_and_measure(
    before: PhotoAnalysis,
    after: PhotoAnalysis,
    before_input: AlignmentInput,
    after_input: AlignmentInput,
    timings_s: dict[str, float],
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> PhotoComparison:
    t0 = time.perf_counter()
    alignment = align_prepared(
        before_input,
        after_input,
        px_per_mm=before.calibration.px_per_mm,
        progress=progress,
        cancel=cancel,
    )
    t1 = time.perf_counter()
    change = None
    if alignment.ok and alignment.homography is not None:
        roi = before.scarmap.roi_polygon
        if roi is not None and after.scarmap.roi_polygon is None:
            carried = _warp_polygon(
                np.asarray(np.linalg.inv(alignment.homography), np.float64), roi
            )
            after = restrict_to_region(after, carried)
        change = compare_scarmaps(before.scarmap, after.scarmap, alignment)
    t2 = time.perf_counter()
    timings_s.update(align=t1 - t0, change=t2 - t1)
    return PhotoComparison(before, after, alignment, change, timings_s)


def _warp_polygon(H: NDArray[np.float64], xy: NDArray[np.float64]) -> NDArray[np.float64]:
    pts = np.c_[np.asarray(xy, np.float64).reshape(-1, 2), np.ones(len(xy))] @ H.T
    return np.asarray(pts[:, :2] / pts[:, 2:3], dtype=np.float64)


class _EitherSet:
    """A cancel token set when the caller's token or a sibling's failure says stop."""

    def __init__(self, outer: CancelToken | None) -> None:
        self.outer = outer
        self.failed = threading.Event()

    def is_set(self) -> bool:
        return self.failed.is_set() or (self.outer is not None and self.outer.is_set())


@dataclass(frozen=True, eq=False)
class PreparedPhoto:
    """A photo read, scaled, analysed and made ready for alignment (:func:`prepare_photo`).

    Attributes
    ----------
    analysis : PhotoAnalysis
        Its ``timings_s`` also hold ``"prepare"``: the alignment masks and pyramid.
    alignment_input : AlignmentInput
        What :func:`compare_loaded` needs to align this photo with another.
    """

    analysis: PhotoAnalysis
    alignment_input: AlignmentInput


def prepare_photo(
    path: str | Path,
    settings: AnalysisSettings = AnalysisSettings(),
    *,
    cancel: CancelToken | None = None,
) -> PreparedPhoto:
    """Read, scale and analyse a photo, and prepare it for alignment.

    One photo's share of a comparison, which depends on that photo alone:
    :func:`compare_photos` runs it for both photos side by side, and a batch
    runs it once for a baseline photo and then for each of its follow-ups.
    The photo is decoded once and its luminance computed once, for the marker
    search and the alignment both.

    Raises
    ------
    scarview.errors.PhotoError
        When the file cannot be read as a supported photo.
    """
    analysis, grey = _read_and_analyze(path, settings, True, None, cancel)
    check_cancel(cancel)
    t0 = time.perf_counter()
    prepared = prepare_for_alignment(analysis, grey)
    timings_s = dict(analysis.timings_s, prepare=time.perf_counter() - t0)
    return PreparedPhoto(dataclasses.replace(analysis, timings_s=timings_s), prepared)


#: How :func:`compare_photos` runs the two photos' work: ``"auto"`` (a forked process
#: where that is safe and cheap, else threads), ``"process"``, ``"thread"`` or
#: ``"none"`` (one after the other in the calling thread).
Parallel = Literal["auto", "process", "thread", "none"]


def compare_photos(
    before_path: str | Path,
    after_path: str | Path,
    settings: AnalysisSettings = AnalysisSettings(),
    *,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    parallel: Parallel = "auto",
) -> PhotoComparison:
    """Read, scale and analyse two photos (side by side), align AFTER onto BEFORE, compare.

    Parameters
    ----------
    before_path, after_path : str or Path
        The earlier and the later photo.
    settings : AnalysisSettings
        Applied to both photos, except the region of interest: it is given in
        BEFORE's pixels, so AFTER is analysed whole and then restricted to the
        region carried through the alignment (see :func:`compare_loaded`).
    progress : callable, optional
        ``progress(fraction, message)``, called from the calling thread only.
    cancel : CancelToken, optional
    parallel : {"auto", "process", "thread", "none"}
        How the two photos' work runs. ``"process"``: AFTER's in a forked
        process (Linux only; elsewhere threads). ``"auto"`` (default) does that
        only when the calling process runs no other Python thread -- forking
        while another thread is inside OpenCV or Pillow could leave the child
        waiting for a lock forever -- and uses threads otherwise. The result is
        the same whichever runs it.

    Raises
    ------
    scarview.errors.PhotoError
        When either file cannot be read as a supported photo (BEFORE's error
        first when both fail).
    """
    started = time.perf_counter()
    report_progress(progress, 0.0, "Analysing both photos")
    after_settings = dataclasses.replace(settings, roi=None)
    mode: str = parallel
    if mode == "auto":
        mode = "process" if threading.active_count() == 1 else "thread"
    if mode == "process" and not _can_fork():
        mode = "thread"
    if mode == "none":
        before = prepare_photo(before_path, settings, cancel=cancel)
        after = prepare_photo(after_path, after_settings, cancel=cancel)
    elif mode == "process":
        before, after = _prepare_forked(before_path, after_path, settings, after_settings, cancel)
    else:
        before, after = _prepare_threaded(before_path, after_path, settings, after_settings, cancel)
    check_cancel(cancel)
    report_progress(progress, 0.6, "Aligning the photos")

    def _sub(fraction: float, message: str) -> None:
        report_progress(progress, 0.6 + 0.4 * fraction, message)

    timings_s: dict[str, float] = {}
    for name, side in (("before", before), ("after", after)):
        for step, seconds in side.analysis.timings_s.items():
            timings_s[f"{step} {name}"] = seconds
    comparison = _align_and_measure(
        before.analysis,
        after.analysis,
        before.alignment_input,
        after.alignment_input,
        timings_s,
        _sub,
        cancel,
    )
    timings_s["total"] = time.perf_counter() - started
    return comparison


def _prepare_threaded(
    before_path: str | Path,
    after_path: str | Path,
    before_settings: AnalysisSettings,
    after_settings: AnalysisSettings,
    cancel: CancelToken | None,
) -> tuple[PreparedPhoto, PreparedPhoto]:
    """Both photos' work in two threads; a failure of one stops the other early."""
    stop = _EitherSet(cancel)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="scarview-compare") as pool:
        futures = [
            pool.submit(_stop_siblings_on_error, stop, _prepare_photo, path, s, stop)
            for path, s in ((before_path, before_settings), (after_path, after_settings))
        ]
        # The scar matcher's import (scipy.optimize, slow) overlaps the decoding.
        warm = threading.Thread(target=_import_matcher, daemon=True)
        warm.start()
        before, after = (_first_error_result(f, futures) for f in futures)
        warm.join()
    return before, after


def _prepare_forked(
    before_path: str | Path,
    after_path: str | Path,
    before_settings: AnalysisSettings,
    after_settings: AnalysisSettings,
    cancel: CancelToken | None,
) -> tuple[PreparedPhoto, PreparedPhoto]:
    """AFTER's work in a forked process, BEFORE's meanwhile in the calling thread.

    A thread waits for the child; when AFTER fails, BEFORE's work stops at its
    next check and AFTER's error is raised (BEFORE's own error comes first).
    """
    child = _ForkedPhoto(after_path, after_settings)
    stop = _EitherSet(cancel)
    outcome: dict[str, Any] = {}

    def wait_for_child() -> None:
        try:
            outcome["after"] = child.result(cancel)
        except BaseException as exc:  # handed to the calling thread below
            outcome["error"] = exc
            stop.failed.set()

    watcher = threading.Thread(target=wait_for_child, name="scarview-compare-wait", daemon=True)
    try:
        watcher.start()
        # The scar matcher's import (scipy.optimize, slow) overlaps the decoding.
        warm = threading.Thread(target=_import_matcher, daemon=True)
        warm.start()
        try:
            before = prepare_photo(before_path, before_settings, cancel=stop)
        except Cancelled:
            watcher.join()
            error = outcome.get("error")
            if error is not None and not isinstance(error, Cancelled):
                raise error from None
            raise
        watcher.join()
        warm.join()
    finally:
        child.close()
        if watcher.ident is not None:  # started
            watcher.join()
        child.release()
    if "error" in outcome:
        raise outcome["error"]
    after: PreparedPhoto = outcome["after"]
    return before, after


def _can_fork() -> bool:
    """Whether AFTER's work may run in a forked process (Linux: fork and memfd)."""
    return (
        sys.platform.startswith("linux")
        and hasattr(os, "memfd_create")
        and "fork" in multiprocessing.get_all_start_methods()
    )


class _ForkedPhoto:
    """:func:`prepare_photo` in a forked child process, its result back without copies.

    The child pickles the :class:`PreparedPhoto` with its arrays out of band
    (pickle protocol 5), writes the arrays into an anonymous shared-memory file
    (``memfd``) and passes the file's descriptor over the pipe; the parent maps
    it and unpickles, so its arrays are views of that memory (freed when the
    last of them goes). An error in the child comes back as the same error.
    """

    def __init__(self, path: str | Path, settings: AnalysisSettings) -> None:
        context = multiprocessing.get_context("fork")
        self.conn, child_conn = context.Pipe(duplex=True)
        self.process = context.Process(
            target=_forked_prepare,
            args=(child_conn, path, settings),
            name="scarview-compare-after",
            daemon=True,
        )
        self.process.start()
        child_conn.close()

    def result(self, cancel: CancelToken | None) -> PreparedPhoto:
        """Wait for the child's result (raising its error); stop it when ``cancel`` is set."""
        while not self.conn.poll(0.05):
            check_cancel(cancel)
            if not self.process.is_alive() and not self.conn.poll(0):
                break
        try:
            status, payload = self.conn.recv()
        except EOFError:
            raise RuntimeError("The analysis of the later photo stopped unexpectedly.") from None
        if status == "error":
            raise _rebuild_error(payload)
        data, spans, size = payload
        fd = recv_handle(self.conn)
        try:
            memory = mmap.mmap(fd, max(size, 1))
        finally:
            os.close(fd)
        view = memoryview(memory)
        buffers = [view[offset : offset + length] for offset, length in spans]
        prepared: PreparedPhoto = pickle.loads(data, buffers=buffers)
        return prepared

    def close(self) -> None:
        """Stop the child if it still runs (a thread waiting in :meth:`result` then returns)."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join()

    def release(self) -> None:
        """Release the process and the pipe (after :meth:`close` and :meth:`result`)."""
        self.process.close()
        self.conn.close()


#: Arrays smaller than this travel inside the pickle rather than in shared memory.
_OUT_OF_BAND_BYTES = 1 << 16


def _forked_prepare(conn: Connection, path: str | Path, settings: AnalysisSettings) -> None:
    """The child's work: prepare the photo and hand it to the parent (see :class:`_ForkedPhoto`)."""
    try:
        prepared = prepare_photo(path, settings)
        buffers: list[pickle.PickleBuffer] = []

        def out_of_band(buffer: pickle.PickleBuffer) -> bool:
            if buffer.raw().nbytes < _OUT_OF_BAND_BYTES:
                return True  # in band
            buffers.append(buffer)
            return False

        data = pickle.dumps(prepared, protocol=5, buffer_callback=out_of_band)
        spans: list[tuple[int, int]] = []
        size = 0
        for buffer in buffers:
            size = -(-size // 64) * 64  # 64-byte aligned
            spans.append((size, buffer.raw().nbytes))
            size += buffer.raw().nbytes
        fd = os.memfd_create("scarview-compare")
        os.ftruncate(fd, max(size, 1))
        with mmap.mmap(fd, max(size, 1)) as memory:
            for buffer, (offset, length) in zip(buffers, spans, strict=True):
                memory[offset : offset + length] = buffer.raw()
        conn.send(("ok", (data, spans, size)))
        send_handle(conn, fd, os.getppid())
        os.close(fd)
    except BaseException as exc:  # every failure goes back to the parent
        conn.send(("error", _error_payload(exc)))
    finally:
        conn.close()


def _error_payload(exc: BaseException) -> tuple[str, ...]:
    """A picklable description of an error (ScarView's own errors do not pickle)."""
    if isinstance(exc, PhotoError | InputError):
        return (type(exc).__name__, exc.path, exc.reason)
    if isinstance(exc, Cancelled):
        return ("Cancelled",)
    return ("other", f"{type(exc).__name__}: {exc}")


def _rebuild_error(payload: tuple[str, ...]) -> BaseException:
    kind = payload[0]
    if kind == "PhotoError":
        return PhotoError(payload[1], payload[2])
    if kind == "InputError":
        return InputError(payload[1], payload[2])
    if kind == "Cancelled":
        return Cancelled()
    return RuntimeError(f"The analysis of the later photo failed ({payload[-1]}).")


def _import_matcher() -> None:
    importlib.import_module("scipy.optimize")


def _prepare_photo(
    path: str | Path, settings: AnalysisSettings, cancel: CancelToken | None
) -> PreparedPhoto:
    return prepare_photo(path, settings, cancel=cancel)


def _stop_siblings_on_error(stop: _EitherSet, fn: Callable[..., _T], *args: Any) -> _T:
    """Run ``fn(*args)``; on failure, tell the sibling thread to stop early."""
    try:
        return fn(*args)
    except BaseException:
        stop.failed.set()
        raise


def _first_error_result(future: Future[_T], siblings: list[Future[_T]]) -> _T:
    """``future.result()``, except that a sibling's real error beats a Cancelled caused by it."""
    try:
        return future.result()
    except Cancelled:
        for other in siblings:
            if other is not future:
                error = other.exception()
                if error is not None and not isinstance(error, Cancelled):
                    raise error from None
        raise
