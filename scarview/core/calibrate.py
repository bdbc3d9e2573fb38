"""The photo's scale in pixels per millimetre: from an ArUco marker on the skin, or by hand.

A printed ArUco marker of known side (``marker_mm``, 10 mm by default, from
``DICT_4X4_50``) lying flat on the skin gives the scale of the skin plane around
it. :func:`find_marker` finds it anywhere in the photo, at any rotation and under
mild perspective, and measures its four outer corners to a small fraction of a
pixel:

1. **Detection** with :class:`cv2.aruco.ArucoDetector` on a downscaled grey copy
   when the photo is large (first at about 1600 px on the long side, then at
   twice that resolution if the smallest marker expected -- 8 px per mm -- would
   be under ~40 px wide there and nothing was found).
2. **Refinement at full resolution** by edge fitting: grey-level profiles are
   sampled across each of the marker's four outer edges (between the black
   border and the white quiet zone), the edge is located in each profile where
   it crosses half-way between the dark and the bright level, a straight line is
   fitted through those points (total least squares, outliers rejected) and the
   corners are the intersections of adjacent lines; the profiles are re-centred
   on the new edges until the corners stop moving. Unlike corner refiners
   (``cv2.cornerSubPix``, ArUco's ``CORNER_REFINE_SUBPIX``), this is not biased
   by the rounding that blur gives a corner, and the line fits measure their own
   noise (on the synthetic sweep: 0.01 % against 0.4 % worst scale error).
3. **Tone shift**: a camera blurs linear light and then applies its tone curve
   (sRGB gamma and more), so every ink-to-paper edge appears moved towards the
   ink by the same amount -- the marker looks up to 2-3 % small at 8 px per mm.
   That shift is measured on the marker's own inner edges (between black and
   white bits, which move *outwards* where the ink is outside) and the outer
   square is grown by it. Photos blurred in their pixel values give a shift of 0.
4. **Scale**: the homography from the marker plane (mm) to the photo (px) is
   computed from the four corners, and ``px_per_mm = sqrt(|det J|)`` of its
   Jacobian at the marker's centre -- the local scale of the skin plane there,
   exact under perspective (an average of side lengths is not).

``uncertainty_pct`` is a one-sigma estimate combining, in quadrature: the
corner-localisation noise measured by the line fits, a floor of 0.1 px of
independent error per corner (JPEG, lens distortion, printing), both propagated
through the homography to ``px_per_mm`` by numerical differentiation; a bound on
the common shift of all four edges when the measured blur is not small next to
a module (neighbouring bits and the quiet zone's outer edge leak into the
profiles; it matters only for markers under ~50 px); the tone shift's own
uncertainty (fit noise and 10-25 % of the shift for the model, or, when the
bits are too small or blurred to measure it, 0.7 blur sigma per edge); and how
much the scale varies across the marker under perspective (standard deviation
of the local scale over the marker's square, relative to the centre), which
says how quickly the scale changes on the skin around the marker and usually
dominates.

Several markers in one photo: the largest in pixels is used (its corners are
furthest apart relative to their localisation error, so its scale is the most
reliable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview.core.types import (
    Calibration,
    CancelToken,
    ProgressCallback,
    check_cancel,
    report_progress,
)

__all__ = [
    "MARKER_PX_PER_MM_RANGE",
    "calibration_from_points",
    "find_marker",
    "manual_calibration",
    "marker_exclusion_mask",
]

#: Scales (px per mm) at which a marker is expected; detection covers at least these.
MARKER_PX_PER_MM_RANGE: tuple[float, float] = (8.0, 60.0)

#: Long side (px) of the first, coarsest detection pass.
_COARSE_LONG_SIDE_PX = 1600
#: Marker side (px) above which ``ArucoDetector`` finds markers reliably after blur and JPEG.
_MIN_DETECT_SIDE_PX = 40.0
#: Independent one-sigma error per corner (px) assumed on top of the measured fit noise.
_CORNER_FLOOR_PX = 0.1
#: Least dark-to-bright step (grey levels) for an edge profile to count.
_MIN_EDGE_CONTRAST = 16.0
#: Profile sampling step across an edge (px) and its longest half-length (px).
_PROFILE_STEP_PX = 0.25
_PROFILE_MAX_HALF_PX = 24.0
#: Least module (px) at which the marker's inner edges are measured for the tone shift.
_MIN_TONE_MODULE_PX = 6.0
#: Refinement passes: at most this many, until no corner moves more than this (px).
_MAX_PASSES = 10
_CONVERGED_PX = 0.002
#: One-sigma click error (px per axis) assumed by :func:`calibration_from_points`.
_CLICK_SIGMA_PX = 1.0

FloatArray = NDArray[np.float64]


# ----------------------------------------------------------------------------- public API


def find_marker(
    rgb: NDArray[np.uint8],
    *,
    marker_mm: float = 10.0,
    dictionary: int = cv2.aruco.DICT_4X4_50,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> Calibration:
    """Find a flat ArUco scale marker in a photo and measure the skin's scale at it.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
        The photo in RGB order at full resolution (a 2-D grey array is accepted
        too). It is never modified.
    marker_mm : float, optional
        Printed side of the marker's black square in millimetres (default 10).
    dictionary : int, optional
        The ArUco dictionary, a ``cv2.aruco.DICT_*`` constant (default
        ``DICT_4X4_50``). Any id of the dictionary is accepted.
    progress : callable, optional
        ``progress(fraction, message)``.
    cancel : CancelToken, optional
        Stops the search (raising :class:`scarview.errors.Cancelled`) once set.

    Returns
    -------
    Calibration
        ``method="marker"`` with ``px_per_mm`` (the local scale of the marker
        plane at the marker's centre, px per mm), ``uncertainty_pct`` (one sigma,
        percent), ``marker_polygon`` (ndarray of shape (4, 2) and dtype float64:
        the outer corners ``(x, y)`` in full-resolution photo px, clockwise from
        the marker's own top-left), ``marker_id`` and ``marker_mm``; or
        ``Calibration(None, "none")`` when no marker is found. With several
        markers, the largest in pixels is used.

    Raises
    ------
    ValueError
        If ``rgb`` is not an 8-bit RGB (or grey) image or ``marker_mm`` is not a
        positive finite number.
    """
    _check_positive("marker_mm", marker_mm)
    grey = _to_grey(rgb)
    aruco_dict = cv2.aruco.getPredefinedDictionary(dictionary)
    modules = int(aruco_dict.markerSize) + 2  # data bits plus a one-module black border
    factors = _detection_factors(grey.shape, marker_mm)
    for level, factor in enumerate(factors):
        check_cancel(cancel)
        report_progress(progress, level / len(factors), "Looking for the scale marker")
        for marker_id, coarse in _detect(grey, factor, aruco_dict):
            check_cancel(cancel)
            edges = _refine_quad(grey, coarse, modules)
            if edges is None:
                continue
            cells = cv2.aruco.generateImageMarker(aruco_dict, marker_id, modules)
            tone = _tone_shift(grey, edges, np.asarray(cells) > 127, float(marker_mm))
            report_progress(progress, 1.0, "Scale marker found")
            return _marker_calibration(edges, tone, marker_id, float(marker_mm))
    report_progress(progress, 1.0, "No scale marker found")
    return Calibration(None, "none")


def manual_calibration(px_per_mm: float) -> Calibration:
    """Return a scale the user typed in.

    Parameters
    ----------
    px_per_mm : float
        Pixels per millimetre on the skin plane; positive and finite.

    Returns
    -------
    Calibration
        ``method="manual"``, ``px_per_mm`` exactly as given, no uncertainty
        (nothing is known about how it was obtained).

    Raises
    ------
    ValueError
        If ``px_per_mm`` is not a positive finite number.
    """
    _check_positive("px_per_mm", px_per_mm)
    return Calibration(float(px_per_mm), "manual")


def calibration_from_points(
    p1_xy: tuple[float, float] | NDArray[np.float64],
    p2_xy: tuple[float, float] | NDArray[np.float64],
    distance_mm: float,
) -> Calibration:
    """Return the scale from two clicked points a known distance apart on the skin.

    Parameters
    ----------
    p1_xy, p2_xy : pair of float or ndarray of shape (2,)
        The two points ``(x, y)`` in full-resolution photo px.
    distance_mm : float
        Their true distance on the skin plane in mm; positive and finite.

    Returns
    -------
    Calibration
        ``method="manual"`` with ``px_per_mm = |p2 - p1| / distance_mm`` and
        ``uncertainty_pct`` from a one-sigma click error of 1 px per axis on each
        point: the distance's error is the along-line part of two independent
        errors, ``sqrt(2)`` px, over the distance in px.

    Raises
    ------
    ValueError
        If a point is not two finite numbers, the points coincide or
        ``distance_mm`` is not a positive finite number.
    """
    _check_positive("distance_mm", distance_mm)
    p1 = _point("p1_xy", p1_xy)
    p2 = _point("p2_xy", p2_xy)
    distance_px = float(np.hypot(*(p2 - p1)))
    if distance_px == 0.0:
        raise ValueError(
            "The two calibration points are the same point; click two distinct points."
        )
    sigma_px = math.sqrt(2.0) * _CLICK_SIGMA_PX
    return Calibration(
        distance_px / float(distance_mm),
        "manual",
        uncertainty_pct=100.0 * sigma_px / distance_px,
    )


def marker_exclusion_mask(
    calibration: Calibration,
    shape: tuple[int, ...],
    *,
    margin_mm: float = 1.0,
) -> NDArray[np.bool_]:
    """Return where the scale marker lies, so analysis and alignment can leave it out.

    Parameters
    ----------
    calibration : Calibration
        A calibration whose ``marker_polygon`` (if any) is in photo px.
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)`` of the photo.
    margin_mm : float, optional
        How far beyond the marker's black square to grow the mask, in mm on the
        skin (converted with ``calibration.px_per_mm``; default 1). The printed
        white quiet zone is one module wide (``marker_mm / 6`` for 4x4 markers,
        1.7 mm for a 10 mm marker): a margin at least that wide hides the paper too.

    Returns
    -------
    ndarray of shape (H, W) and dtype bool
        True over the marker polygon grown by ``margin_mm`` (every point within
        that distance of the polygon); all False when there is no marker.

    Raises
    ------
    ValueError
        If ``margin_mm`` is negative or not finite, or ``shape`` is not 2-D or 3-D.
    """
    if not (math.isfinite(margin_mm) and margin_mm >= 0):
        raise ValueError(f"margin_mm must be a finite number >= 0, got {margin_mm!r}.")
    if len(shape) not in (2, 3):
        raise ValueError(f"shape must be (H, W) or (H, W, C), got {shape!r}.")
    height, width = int(shape[0]), int(shape[1])
    inside = np.zeros((height, width), bool)
    polygon = calibration.marker_polygon
    if polygon is None:
        return inside
    poly = np.asarray(polygon, np.float64).reshape(-1, 2)
    margin_px = margin_mm * calibration.px_per_mm if calibration.px_per_mm else 0.0
    # Everything happens in the bounding box of the grown polygon: the rest stays False.
    x0 = max(0, math.floor(poly[:, 0].min() - margin_px))
    y0 = max(0, math.floor(poly[:, 1].min() - margin_px))
    x1 = min(width, math.ceil(poly[:, 0].max() + margin_px) + 1)
    y1 = min(height, math.ceil(poly[:, 1].max() + margin_px) + 1)
    if x0 >= x1 or y0 >= y1:
        return inside
    box = np.zeros((y1 - y0, x1 - x0), np.uint8)
    shift = 4  # sub-pixel vertices: 1/16 px
    pts = np.round(poly * (1 << shift)).astype(np.int32) - np.array(
        [x0 << shift, y0 << shift], np.int32
    )
    cv2.fillPoly(box, [pts], 1, lineType=cv2.LINE_8, shift=shift)
    grown = box.view(bool)
    if margin_px > 0:
        # polygon ⊕ disk: pixel centres within margin_px of an edge
        grown |= _near_outline(poly, x0, y0, grown.shape, margin_px)
    inside[y0:y1, x0:x1] = grown
    return inside


#: Side (px) of the blocks :func:`_near_outline` first decides as a whole.
_NEAR_BLOCK_PX = 8


def _near_outline(
    polygon: FloatArray, x0: int, y0: int, shape: tuple[int, int], margin_px: float
) -> NDArray[np.bool_]:
    """Whether each pixel centre of a box is within ``margin_px`` of ``polygon``'s outline.

    Parameters
    ----------
    polygon : ndarray of shape (N, 2) and dtype float64
        Vertices ``(x, y)`` in photo px.
    x0, y0 : int
        The box's top-left pixel in the photo.
    shape : tuple of int
        ``(rows, cols)`` of the box.
    margin_px : float
        The distance, in px.

    Returns
    -------
    ndarray of shape ``shape`` and dtype bool
        Exactly ``distance <= margin_px`` per pixel centre. The distance to the
        outline changes by at most the distance moved, so blocks of
        ``_NEAR_BLOCK_PX`` pixels whose centre is clearly nearer or further than
        that are decided from their centre; only the pixels of the other blocks
        (a band along the grown outline) are measured one by one.
    """
    rows, cols = shape
    b = _NEAR_BLOCK_PX
    nby, nbx = -(-rows // b), -(-cols // b)
    cy = y0 + (b - 1) / 2.0 + b * np.arange(nby, dtype=np.float64)
    cx = x0 + (b - 1) / 2.0 + b * np.arange(nbx, dtype=np.float64)
    centre = _distance_to_outline_px(polygon, cx[None, :], cy[:, None])
    reach = (b - 1) / 2.0 * math.sqrt(2.0) + 1e-6  # block centre to its furthest pixel centre
    sure = centre + reach <= margin_px
    unsure = ~sure & (centre - reach <= margin_px)
    near = np.repeat(np.repeat(sure, b, axis=0), b, axis=1)[:rows, :cols]
    check = np.repeat(np.repeat(unsure, b, axis=0), b, axis=1)[:rows, :cols]
    ys, xs = np.nonzero(check)
    near[ys, xs] = _distance_to_outline_px(polygon, xs + x0, ys + y0) <= margin_px
    return np.ascontiguousarray(near)


def _distance_to_outline_px(
    polygon: FloatArray, xs: NDArray[np.number[Any]], ys: NDArray[np.number[Any]]
) -> FloatArray:
    """Distance (px) from points ``(xs, ys)`` to the nearest edge of ``polygon`` (N, 2).

    ``xs`` and ``ys`` broadcast against each other; the result has their broadcast shape.
    """
    px, py = np.broadcast_arrays(xs.astype(np.float64), ys.astype(np.float64))
    best = np.full(px.shape, np.inf)
    for (ax, ay), (bx, by) in zip(polygon, np.roll(polygon, -1, axis=0), strict=True):
        dx, dy = bx - ax, by - ay
        length2 = dx * dx + dy * dy
        t = np.zeros_like(px) if length2 == 0 else ((px - ax) * dx + (py - ay) * dy) / length2
        t = np.clip(t, 0.0, 1.0)
        np.minimum(best, np.hypot(px - (ax + t * dx), py - (ay + t * dy)), out=best)
    return best


# ----------------------------------------------------------------------------- detection


def _detection_factors(shape: tuple[int, ...], marker_mm: float) -> list[float]:
    """Downscale factors to try, coarsest first (1.0 means full resolution)."""
    long_side = max(shape[0], shape[1])
    factor = min(1.0, _COARSE_LONG_SIDE_PX / long_side)
    smallest_px = MARKER_PX_PER_MM_RANGE[0] * marker_mm
    factors = [factor]
    while factor < 1.0 and factor * smallest_px < _MIN_DETECT_SIDE_PX:
        factor = min(1.0, 2.0 * factor)
        factors.append(factor)
    return factors


def _detect(
    grey: NDArray[np.uint8], factor: float, aruco_dict: cv2.aruco.Dictionary
) -> list[tuple[int, FloatArray]]:
    """Detect markers at ``factor`` of full resolution.

    Returns
    -------
    list of (int, ndarray of shape (4, 2) and dtype float64)
        Marker id and approximate corners in full-resolution px, largest first.
    """
    height, width = grey.shape
    if factor < 1.0:
        size = (max(1, round(width * factor)), max(1, round(height * factor)))
        small = grey
        # Exact halvings first (OpenCV's fast path for area averaging by 2), then what is
        # left (a factor above 1/2) bilinearly: several times cheaper than one area resize
        # by a factor like 2.5, and the detector only needs the marker's coarse corners.
        while small.shape[1] >= 2 * size[0] and small.shape[0] >= 2 * size[1]:
            half = (small.shape[1] // 2, small.shape[0] // 2)
            small = cv2.resize(small, half, interpolation=cv2.INTER_AREA)
        if (small.shape[1], small.shape[0]) != size:
            small = cv2.resize(small, size, interpolation=cv2.INTER_LINEAR)
        sx, sy = size[0] / width, size[1] / height
    else:
        small, sx, sy = grey, 1.0, 1.0
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_NONE  # refined below, at full res
    # read each bit from the middle 40 % of its cell: blur (or a tone curve) spreads
    # ink into the cells around it, which the default 13 % margin lets in
    params.perspectiveRemoveIgnoredMarginPerCell = 0.3
    detector = cv2.aruco.ArucoDetector(aruco_dict, params)
    corners, ids, _rejected = detector.detectMarkers(small)
    if ids is None:
        return []
    found = []
    for quad, marker_id in zip(corners, ids.ravel(), strict=True):
        xy = np.asarray(quad, np.float64).reshape(4, 2)
        # pixel centres: x_small + 0.5 = (x_full + 0.5) * s
        xy = (xy + 0.5) / np.array([sx, sy]) - 0.5
        found.append((int(marker_id), xy))
    found.sort(key=lambda item: -_quad_area(item[1]))
    return found


# ----------------------------------------------------------------------------- refinement


@dataclass(frozen=True)
class _Line:
    """A fitted straight edge: ``point`` on it, unit ``direction``, noise and support."""

    point: FloatArray  # (2,) centroid of the edge points, px
    direction: FloatArray  # (2,) unit vector
    sigma_px: float  # std of the points' distances to the line
    count: int  # points used
    correlated: float  # points per independent one (>= 1): neighbours share blur and JPEG blocks
    spread_px2: float  # sum of squared along-line distances to the centroid
    blur_px: float  # Gaussian sigma of the edge's blur, px
    bias_px: float  # bound on the edge's shift from neighbouring features' blur, px


def _refine_quad(
    grey: NDArray[np.uint8], coarse: FloatArray, modules: int
) -> tuple[_Line, _Line, _Line, _Line] | None:
    """Fit the marker's four outer edges at full resolution (iterated to convergence).

    Parameters
    ----------
    grey : ndarray of shape (H, W) and dtype uint8
    coarse : ndarray of shape (4, 2) and dtype float64
        Approximate corners ``(x, y)``, clockwise from the marker's top-left.
    modules : int
        Marker side in modules (data bits + 2).

    Returns
    -------
    tuple of four _Line or None
        Edge ``k`` runs from corner ``k`` to corner ``k + 1``; ``None`` when the
        edges cannot be measured (too little contrast, not a clean quadrilateral).
    """
    side_px = float(np.mean(np.hypot(*(np.roll(coarse, -1, 0) - coarse).T)))
    module_px = side_px / modules
    if module_px < 3.0 or not _is_convex(coarse):
        return None
    crop, origin = _float_crop(grey, coarse, math.ceil(min(module_px, _PROFILE_MAX_HALF_PX) + 6))
    corners = coarse - origin
    lines: list[_Line] = []
    # Each pass centres the profiles on the previous pass's edges. The edge
    # locator is biased towards the profile's centre when blur is not small next
    # to the profile's half-length, so iterate until the corners stop moving.
    for _pass in range(_MAX_PASSES):
        centre = corners.mean(axis=0)
        lines = []
        for k in range(4):
            line = _fit_edge(crop, corners[k], corners[(k + 1) % 4], centre, module_px)
            if line is None:
                return None
            lines.append(line)
        new_corners = _corners_from_lines(lines)
        if new_corners is None or not _is_convex(new_corners):
            return None
        moved_px = float(np.max(np.hypot(*(new_corners - corners).T)))
        corners = new_corners
        if np.max(np.hypot(*(corners - (coarse - origin)).T)) > max(3.0, 0.5 * module_px):
            return None  # the fit wandered off: not the edge the detector saw
        if moved_px < _CONVERGED_PX:
            break
    shifted = [
        _Line(
            ln.point + origin,
            ln.direction,
            ln.sigma_px,
            ln.count,
            ln.correlated,
            ln.spread_px2,
            ln.blur_px,
            ln.bias_px,
        )
        for ln in lines
    ]
    return shifted[0], shifted[1], shifted[2], shifted[3]


def _profile_half_px(module_px: float) -> float:
    """Half-length (px) of the grey-level profiles taken across an edge.

    Short of the next feature (one module away) by more than the blur usually
    reaches, long enough to see both grey levels.
    """
    return min(0.4 * module_px, _PROFILE_MAX_HALF_PX)


def _float_crop(
    grey: NDArray[np.uint8], quad: FloatArray, pad: int
) -> tuple[NDArray[np.float32], FloatArray]:
    """The grey levels around ``quad`` (4, 2) plus ``pad`` px, as float32, and its origin (x, y)."""
    height, width = grey.shape
    x0 = max(0, math.floor(quad[:, 0].min()) - pad)
    y0 = max(0, math.floor(quad[:, 1].min()) - pad)
    x1 = min(width, math.ceil(quad[:, 0].max()) + pad + 1)
    y1 = min(height, math.ceil(quad[:, 1].max()) + pad + 1)
    return grey[y0:y1, x0:x1].astype(np.float32), np.array([x0, y0], np.float64)


def _fit_edge(
    img: NDArray[np.float32],
    p0: FloatArray,
    p1: FloatArray,
    centre: FloatArray,
    module_px: float,
) -> _Line | None:
    """Locate the dark-to-bright edge between ``p0`` and ``p1`` and fit a line to it.

    Parameters
    ----------
    img : ndarray of shape (H, W) and dtype float32
        Grey levels around the marker.
    p0, p1 : ndarray of shape (2,) and dtype float64
        Current estimates of the edge's end corners ``(x, y)`` in ``img`` px.
    centre : ndarray of shape (2,)
        The marker's centre, to tell the outside from the inside.
    module_px : float
        One module (bit) of the marker in px.

    Returns
    -------
    _Line or None
        ``None`` when too few profiles show a clean dark-to-bright step.
    """
    along = p1 - p0
    length = float(np.hypot(*along))
    direction = along / length
    normal = np.array([direction[1], -direction[0]])
    if np.dot(normal, (p0 + p1) / 2 - centre) < 0:
        normal = -normal  # outward: from the black border to the white quiet zone
    half = _profile_half_px(module_px)
    end_margin = max(0.5 * module_px, 2.0)  # stay clear of the (blur-rounded) corners
    n_along = int(np.clip(length - 2 * end_margin, 8, 800))
    along_px = np.linspace(end_margin, length - end_margin, n_along)
    offsets = np.arange(-half, half + 1e-9, _PROFILE_STEP_PX)
    base = p0[None, :] + along_px[:, None] * direction[None, :]
    grid = base[:, None, :] + offsets[None, :, None] * normal[None, None, :]
    profiles = cv2.remap(
        img,
        grid[..., 0].astype(np.float32),
        grid[..., 1].astype(np.float32),
        interpolation=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    plateau = max(2, len(offsets) // 4)
    dark = np.median(profiles[:, :plateau], axis=1)
    bright = np.median(profiles[:, -plateau:], axis=1)
    contrast = bright - dark
    x50, valid = _rising_crossings(profiles, dark + 0.5 * contrast, offsets, np.zeros(n_along))
    valid &= contrast > _MIN_EDGE_CONTRAST
    height, width = img.shape
    inside = (grid[..., 0] >= 0) & (grid[..., 0] <= width - 1)
    inside &= (grid[..., 1] >= 0) & (grid[..., 1] <= height - 1)
    valid &= inside.all(axis=1)  # a profile cut by the photo's border is not used
    if valid.sum() < max(6, 0.6 * n_along):
        return None
    points = base + x50[:, None] * normal[None, :]
    fitted = _robust_line(points[valid])
    if fitted is None:
        return None
    point, line_dir, sigma_px, count, spread = fitted
    # Blur, from the width of the 25-75 % rise (1.349 sigma for a whole step)
    x25, ok25 = _rising_crossings(profiles, dark + 0.25 * contrast, offsets, x50)
    x75, ok75 = _rising_crossings(profiles, dark + 0.75 * contrast, offsets, x50)
    both = valid & ok25 & ok75
    width_px = float(np.median(x75[both] - x25[both])) if both.any() else half
    blur_px = _blur_from_width(width_px, float(-offsets[(plateau - 1) // 2]), half)
    # The plateaus end (module - half) px from the neighbouring features (data bits
    # inside, the quiet zone's outer edge outside); the blur leaks a fraction
    # Phi(-(module - half) / blur) of their contrast into a plateau, which moves
    # the half-way crossing by up to sqrt(pi / 2) * blur * that fraction.
    leak = 0.5 * math.erfc((module_px - half) / (max(blur_px, 1e-3) * math.sqrt(2.0)))
    bias_px = math.sqrt(math.pi / 2.0) * blur_px * leak
    # points closer than about two blur sigmas (or an 8 px JPEG block) share their errors
    spacing_px = float(along_px[1] - along_px[0])
    correlated = max(1.0, min(2.0 * blur_px, 8.0) / spacing_px)
    return _Line(point, line_dir, sigma_px, count, correlated, spread, blur_px, bias_px)


def _blur_from_width(width_px: float, plateau_px: float, half_px: float) -> float:
    """Gaussian blur sigma (px) of a step whose 25-75 % rise measured ``width_px``.

    The dark and bright levels were taken as medians of samples ending at the
    profile's ends (centred ``plateau_px`` from the edge), which a wide blur has
    not yet reached; the 25 and 75 % levels are then closer together and the
    measured width is narrower than ``1.349 sigma``. Solve for sigma with that
    model (bisection; the width grows with sigma until it saturates near
    ``plateau_px``, where sigma is capped at ``3 * half_px``).
    """
    normal = NormalDist()

    def width(sigma: float) -> float:
        c = 2.0 * normal.cdf(plateau_px / sigma) - 1.0  # measured contrast, as a fraction
        return 2.0 * sigma * normal.inv_cdf(0.5 + 0.25 * c)

    lo, hi = 1e-3, 3.0 * half_px
    if width_px >= width(hi):
        return hi
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        if width(mid) < width_px:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _rising_crossings(
    profiles: NDArray[np.float32],
    levels: NDArray[np.floating],
    offsets: FloatArray,
    near: FloatArray,
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """Where each profile rises through its level, taking the crossing nearest ``near``.

    Parameters
    ----------
    profiles : ndarray of shape (N, M) and dtype float32
        Grey levels sampled at ``offsets`` (M,) px across an edge, dark side first.
    levels, near : ndarray of shape (N,)
        The level to cross (grey levels) and the expected offset (px) per profile.

    Returns
    -------
    offset : ndarray of shape (N,) and dtype float64
        Sub-sample crossing offsets in px (linear interpolation between samples).
    valid : ndarray of shape (N,) and dtype bool
        False where a profile never rises through its level.
    """
    above = profiles >= levels[:, None]
    rising = ~above[:, :-1] & above[:, 1:]
    mid = (offsets[:-1] + offsets[1:]) / 2
    distance = np.where(rising, np.abs(mid[None, :] - near[:, None]), np.inf)
    j = np.argmin(distance, axis=1)
    rows = np.arange(len(profiles))
    valid = np.isfinite(distance[rows, j])
    v0 = profiles[rows, j].astype(np.float64)
    v1 = profiles[rows, j + 1].astype(np.float64)
    frac = np.clip((levels - v0) / np.maximum(v1 - v0, 1e-6), 0.0, 1.0)
    return offsets[j] + frac * (offsets[j + 1] - offsets[j]), valid


def _robust_line(
    points: FloatArray,
) -> tuple[FloatArray, FloatArray, float, int, float] | None:
    """Total-least-squares line through ``points`` (N, 2), rejecting outliers at 3 sigma."""
    keep = np.ones(len(points), bool)
    for _ in range(4):
        sel = points[keep]
        if len(sel) < 6:
            return None
        centroid = sel.mean(axis=0)
        _evals, evecs = np.linalg.eigh(np.cov((sel - centroid).T))
        line_dir = evecs[:, 1]
        normal = evecs[:, 0]
        residual = (points - centroid) @ normal
        mad_sigma = 1.4826 * float(np.median(np.abs(residual[keep])))
        new_keep = np.abs(residual) <= max(3.0 * mad_sigma, 0.05)
        if np.array_equal(new_keep, keep):
            break
        keep = new_keep
    sel = points[keep]
    if len(sel) < 6:
        return None
    centroid = sel.mean(axis=0)
    along = (sel - centroid) @ line_dir
    residual = (sel - centroid) @ normal
    sigma_px = float(np.sqrt(np.sum(residual**2) / max(1, len(sel) - 2)))
    return centroid, line_dir, sigma_px, len(sel), float(np.sum(along**2))


def _intersect(
    a_point: FloatArray, a_dir: FloatArray, b_point: FloatArray, b_dir: FloatArray
) -> FloatArray | None:
    """Intersection of two lines given by a point and a direction, or None if parallel."""
    m = np.column_stack([a_dir, -b_dir])
    if abs(np.linalg.det(m)) < 1e-9:
        return None
    t = np.linalg.solve(m, b_point - a_point)
    return a_point + t[0] * a_dir


def _corners_from_lines(lines: list[_Line] | tuple[_Line, ...]) -> FloatArray | None:
    """Corner ``k`` is where edge ``k - 1`` meets edge ``k``; (4, 2) float64 or None."""
    return _corners_from_params([(ln.point, ln.direction) for ln in lines])


def _corners_from_params(params: list[tuple[FloatArray, FloatArray]]) -> FloatArray | None:
    out = np.empty((4, 2), np.float64)
    for k in range(4):
        corner = _intersect(*params[k - 1], *params[k])
        if corner is None:
            return None
        out[k] = corner
    return out


@dataclass(frozen=True)
class _ToneShift:
    """How far every ink-to-paper edge appears moved towards the ink, in marker mm."""

    shift_mm: float
    sigma_mm: float  # one-sigma uncertainty of ``shift_mm``


def _tone_shift(
    grey: NDArray[np.uint8],
    lines: tuple[_Line, _Line, _Line, _Line],
    cells: NDArray[np.bool_],
    marker_mm: float,
) -> _ToneShift | None:
    """Measure the common shift of all ink-to-paper edges from the marker's own bit edges.

    The half-way crossing marks an edge only if the blur acted on the same grey
    scale as the pixel values. A camera blurs linear light and then applies a
    tone curve (sRGB gamma and more), so every ink-to-paper edge appears moved
    towards the ink by the same ``d`` (0.5-0.8 blur sigma): the outer square
    shrinks, which scales ``px_per_mm`` down by 1-3 % for small markers. The
    marker's inner edges (between black and white bits, at known positions) move
    towards the ink too, i.e. *outwards* where the ink is outside. In the frame
    of the measured (shrunken) square, a grid line ``j`` modules from the left
    (or top) of an ``M``-module marker then appears at
    ``j * s / M + d * (2 j / M - 1 + sign)``, ``sign`` being -1 when the ink is
    on the smaller-coordinate side and +1 otherwise, which gives ``d`` by least
    squares over all inner edges.

    Parameters
    ----------
    grey : ndarray of shape (H, W) and dtype uint8
    lines : four _Line
        The fitted outer edges (full-resolution px).
    cells : ndarray of shape (M, M) and dtype bool
        The marker's cells including its border, True for white, row-major from
        the marker's top-left.
    marker_mm : float

    Returns
    -------
    _ToneShift or None
        ``None`` when the bits are too small to measure or the fit is not sane.
    """
    corners = _corners_from_lines(lines)
    if corners is None:
        return None
    m = cells.shape[0]
    cell_mm = marker_mm / m
    side_px = float(np.mean(np.hypot(*(np.roll(corners, -1, 0) - corners).T)))
    module_px = side_px / m
    blur_px = float(np.mean([ln.blur_px for ln in lines]))
    if module_px < _MIN_TONE_MODULE_PX or blur_px > 0.3 * module_px:
        return None  # inner edges are blurred into each other: no clean measurement
    H = _homography(np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64) * marker_mm, corners)
    crop, origin = _float_crop(grey, corners, 4)
    # (axis, grid line j, cell index along the line, ink sign): axis 0 = line u = const
    segments = [
        (0, c + 1, r, -1 if not cells[r, c] else 1)
        for r in range(m)
        for c in range(m - 1)
        if cells[r, c] != cells[r, c + 1]
    ] + [
        (1, r + 1, c, -1 if not cells[r, c] else 1)
        for r in range(m - 1)
        for c in range(m)
        if cells[r, c] != cells[r + 1, c]
    ]
    if len(segments) < 4:
        return None
    n_along = int(np.clip(round(0.5 * module_px), 3, 16))  # about 1 px apart, at most 16
    # the same profile length as for the outer edges, so that a window too short for
    # the blur moves inner and outer edges alike and cancels out of ``d``
    half_px = _profile_half_px(module_px)
    n_across = max(9, round(2 * half_px / _PROFILE_STEP_PX) + 1)
    along = (np.linspace(0.25, 0.75, n_along))[None, :]  # within the cell, clear of junctions
    across = np.linspace(-half_px, half_px, n_across) * cell_mm / module_px  # ink to paper
    seg = np.array(segments, np.float64)
    axis, j, index, ink = seg[:, 0:1], seg[:, 1:2], seg[:, 2:3], seg[:, 3:4]
    a = 2.0 * j / m - 1.0 + ink  # the model's coefficient of d, per segment (S, 1)
    shift_mm = 0.0
    residual = np.zeros(0)
    coeff = np.zeros(0)
    for _pass in range(_MAX_PASSES):  # re-centre the profiles on the edges until d settles
        previous_mm = shift_mm
        # profile coordinate increases from ink to paper, i.e. against the ink sign
        centre = j * cell_mm + a * shift_mm  # where the edge is expected (S, 1)
        across_pos = centre[:, :, None] - ink[:, :, None] * across[None, None, :]  # (S, 1, K)
        along_pos = ((index + along) * cell_mm)[:, :, None]  # (S, N, 1)
        across_pos, along_pos = np.broadcast_arrays(across_pos, along_pos)  # (S, N, K)
        u = np.where(axis[:, :, None] == 0, across_pos, along_pos)
        v = np.where(axis[:, :, None] == 0, along_pos, across_pos)
        xy = _apply_homography(H, np.stack([u, v], axis=-1).reshape(-1, 2)) - origin
        profiles = cv2.remap(
            crop,
            xy[:, 0].reshape(-1, n_across).astype(np.float32),
            xy[:, 1].reshape(-1, n_across).astype(np.float32),
            interpolation=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
        plateau = max(2, n_across // 4)
        dark = np.median(profiles[:, :plateau], axis=1)
        bright = np.median(profiles[:, -plateau:], axis=1)
        contrast = bright - dark
        near = np.zeros(len(profiles))
        x50, valid = _rising_crossings(profiles, dark + 0.5 * contrast, across, near)
        valid &= contrast > _MIN_EDGE_CONTRAST
        measured = (centre - ink * x50.reshape(len(segments), n_along)).ravel()
        nominal = np.repeat(j.ravel() * cell_mm, n_along)
        coeff_all = np.repeat(a.ravel(), n_along)
        residual, coeff = (measured - nominal)[valid], coeff_all[valid]
        if len(residual) < 6 or not np.any(coeff):
            return None
        keep = np.ones(len(residual), bool)
        for _ in range(3):  # least squares for d, outliers rejected at 3 sigma
            shift_mm = float(np.sum(coeff[keep] * residual[keep]) / np.sum(coeff[keep] ** 2))
            misfit = residual - coeff * shift_mm
            keep = np.abs(misfit) <= max(3.0 * 1.4826 * float(np.median(np.abs(misfit))), 1e-9)
        residual, coeff = residual[keep], coeff[keep]
        if abs(shift_mm - previous_mm) < 1e-3 * cell_mm:
            break
    if abs(shift_mm) > 0.25 * cell_mm:
        return None  # not a plausible tone shift: leave the outer edges as measured
    misfit = residual - coeff * shift_mm
    sigma_r = float(np.sqrt(np.sum(misfit**2) / max(1, len(misfit) - 1)))
    spacing_px = 0.5 * module_px / max(1, n_along - 1)
    correlated = max(1.0, min(2.0 * blur_px, 8.0) / spacing_px)
    sigma_stat_mm = sigma_r * math.sqrt(correlated / float(np.sum(coeff**2)))
    # The model holds while the blur is small next to a module; with more blur the
    # profiles see their neighbours and d comes out some 10 % short (measured on
    # synthetic sRGB photos), so part of d is counted as uncertain.
    model_fraction = 0.1 if blur_px <= 0.15 * module_px else 0.25
    return _ToneShift(shift_mm, math.hypot(sigma_stat_mm, model_fraction * shift_mm))


def _apply_homography(H: FloatArray, points: FloatArray) -> FloatArray:
    """Map points (N, 2) through ``H`` (3, 3)."""
    p = points @ H[:, :2].T + H[:, 2]
    return np.asarray(p[:, :2] / p[:, 2:], np.float64)


# ----------------------------------------------------------------------------- scale


def _marker_calibration(
    lines: tuple[_Line, _Line, _Line, _Line],
    tone: _ToneShift | None,
    marker_id: int,
    marker_mm: float,
) -> Calibration:
    """Scale, its uncertainty and the polygon from the four fitted edges.

    The tone shift ``d`` (mm) moves every outer edge outwards: the true square is
    the measured one grown by ``d`` on each side in the marker's frame, so the
    scale at the centre is the measured one times ``1 + 2 d / s``.
    """
    corners = _corners_from_lines(lines)
    assert corners is not None  # checked by _refine_quad
    square_mm = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64) * marker_mm
    centre_mm = (marker_mm / 2, marker_mm / 2)

    def scale_from_corners(c: FloatArray) -> float:
        return _local_scale(_homography(square_mm, c), centre_mm)

    shift_mm = 0.0 if tone is None else tone.shift_mm
    growth = 1.0 + 2.0 * shift_mm / marker_mm
    H_measured = _homography(square_mm, corners)
    px_per_mm = scale_from_corners(corners)

    # 1. noise measured by the line fits: each edge's offset (sigma / sqrt(N)) and
    #    angle (sigma / sqrt(sum of squared along-line distances)), both inflated
    #    for points that share their errors; edges independent of each other
    base = [(ln.point, ln.direction) for ln in lines]
    var_fit = 0.0
    for k, ln in enumerate(lines):
        normal = np.array([-ln.direction[1], ln.direction[0]])
        sigma_offset_px = ln.sigma_px * math.sqrt(ln.correlated / ln.count)
        sigma_angle_rad = ln.sigma_px * math.sqrt(ln.correlated / max(ln.spread_px2, 1e-12))
        for sigma, step, moved in (
            (sigma_offset_px, 1e-3, lambda h, ln=ln, n=normal: (ln.point + h * n, ln.direction)),
            (sigma_angle_rad, 1e-6, lambda h, ln=ln: (ln.point, _rotate(ln.direction, h))),
        ):
            values = []
            for h in (step, -step):
                params = list(base)
                params[k] = moved(h)
                c = _corners_from_params(params)
                values.append(px_per_mm if c is None else scale_from_corners(c))
            var_fit += ((values[0] - values[1]) / (2 * step) * sigma) ** 2

    # 2. a floor of independent error per corner coordinate
    var_floor = 0.0
    step = 1e-3
    for idx in range(8):
        plus, minus = corners.copy(), corners.copy()
        plus.flat[idx] += step
        minus.flat[idx] -= step
        derivative = (scale_from_corners(plus) - scale_from_corners(minus)) / (2 * step)
        var_floor += (derivative * _CORNER_FLOOR_PX) ** 2

    # 3. how much the local scale varies over the marker's square (perspective)
    H = _homography(square_mm, corners)
    grid = np.linspace(0.0, marker_mm, 5)
    local = np.array([_local_scale(H, (u, v)) for u in grid for v in grid])
    rel_persp = float(np.std(local)) / px_per_mm

    # 4. blur leaking the neighbouring features into the edge profiles shifts all
    #    edges the same way (in or out), so it scales the marker: 2 * shift / side
    side_px = float(np.mean(np.hypot(*(np.roll(corners, -1, 0) - corners).T)))
    rel_blur = 2.0 * float(np.mean([ln.bias_px for ln in lines])) / side_px

    # 5. the tone shift's own uncertainty; when it could not be measured (bits too
    #    small or too blurred), a shift of up to 0.7 blur sigma per edge is possible
    if tone is not None:
        rel_tone = 2.0 * tone.sigma_mm / (marker_mm + 2.0 * shift_mm)
    else:
        rel_tone = 2.0 * 0.7 * float(np.mean([ln.blur_px for ln in lines])) / side_px

    rel = math.sqrt((var_fit + var_floor) / px_per_mm**2 + rel_persp**2 + rel_blur**2 + rel_tone**2)
    grown_mm = square_mm * growth - shift_mm
    return Calibration(
        px_per_mm=float(px_per_mm * growth),
        method="marker",
        uncertainty_pct=100.0 * rel,
        marker_polygon=_apply_homography(H_measured, grown_mm),
        marker_id=int(marker_id),
        marker_mm=float(marker_mm),
    )


def _homography(src: FloatArray, dst: FloatArray) -> FloatArray:
    """Exact homography (3, 3) float64 taking four ``src`` points onto four ``dst`` points."""
    a = np.zeros((8, 8), np.float64)
    b = np.zeros(8, np.float64)
    for i, ((u, v), (x, y)) in enumerate(zip(src, dst, strict=True)):
        a[2 * i] = (u, v, 1, 0, 0, 0, -u * x, -v * x)
        a[2 * i + 1] = (0, 0, 0, u, v, 1, -u * y, -v * y)
        b[2 * i], b[2 * i + 1] = x, y
    h = np.linalg.solve(a, b)
    return np.append(h, 1.0).reshape(3, 3)


def _local_scale(H: FloatArray, uv: tuple[float, float]) -> float:
    """``sqrt(|det J|)`` of the homography ``H`` at plane point ``uv`` (px per plane unit).

    For ``x = (H p)_xy / (H p)_w`` the Jacobian determinant is ``det(H) / w**3``.
    """
    w = H[2, 0] * uv[0] + H[2, 1] * uv[1] + H[2, 2]
    return math.sqrt(abs(float(np.linalg.det(H))) / abs(float(w)) ** 3)


# ----------------------------------------------------------------------------- helpers


def _rotate(v: FloatArray, angle: float) -> FloatArray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([c * v[0] - s * v[1], s * v[0] + c * v[1]])


def _quad_area(quad: FloatArray) -> float:
    x, y = quad[:, 0], quad[:, 1]
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _is_convex(quad: FloatArray) -> bool:
    edges = np.roll(quad, -1, 0) - quad
    cross = edges[:, 0] * np.roll(edges, -1, 0)[:, 1] - edges[:, 1] * np.roll(edges, -1, 0)[:, 0]
    return bool(np.all(cross > 0) or np.all(cross < 0))


def _to_grey(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Grey copy (H, W) uint8 of an RGB (H, W, 3) or grey (H, W) uint8 image."""
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8:
        raise ValueError(f"The photo must be 8-bit (dtype uint8), got dtype {arr.dtype}.")
    if arr.ndim == 2:
        return np.ascontiguousarray(arr, dtype=np.uint8)  # only read, never written
    if arr.ndim == 3 and arr.shape[2] == 3:
        grey = cv2.cvtColor(np.ascontiguousarray(arr), cv2.COLOR_RGB2GRAY)
        return grey.astype(np.uint8, copy=False)
    raise ValueError(f"The photo must be an (H, W, 3) RGB array, got shape {arr.shape}.")


def _check_positive(name: str, value: float) -> None:
    try:
        ok = math.isfinite(value) and value > 0
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}.")


def _point(name: str, xy: tuple[float, float] | NDArray[np.float64]) -> FloatArray:
    arr = np.asarray(xy, dtype=np.float64)
    if arr.shape != (2,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be two finite numbers (x, y), got {xy!r}.")
    return arr
