"""Find, outline, type and measure atrophic acne scars in one photo.

:func:`analyze_scars` is a pure function from an RGB photo, its scale and an
optional region of interest to a :class:`~scarview.core.types.ScarMap`.

How it works (``CLINICAL.md`` gives the physics):

1. **Working resolution.** The photo is area-averaged to
   ``ScarParams.working_px_per_mm`` (never upsampled); every skin parameter is
   in millimetres and converted with the photo's scale.
2. **Shading.** Log-luminance minus a robust slow background, with the part
   that chromaticity predicts (brown melanin, red haemoglobin) removed, long
   thin dark strands (hair) filled in, and the scale marker and everything
   outside the region of interest left out (:mod:`scarview.core._shading`).
3. **Light.** The azimuth is read from the pits themselves: around the darkest
   compact features that have the skin's colour (a red papule's shaded side
   looks like a pit's under the opposite light) the shading is compared with
   a pit lit from every direction (each pit is darker on the side nearer the
   light). When that
   direction hardly beats the opposite one (a pit and a raised bump look
   alike under opposite lights), the photo shows no clear pits and only
   strong candidates are kept. The elevation and ambient share that best
   explain the look of the darkest pits are chosen from a small grid. The
   image is then turned so that the light comes from +x.
4. **Candidates.** Compact dark features of the shading at a fine and at a
   coarse scale (walls and shadows of pits; the dark half of shallow rolling
   scars).
5. **Evidence and outline.** Around each candidate a small physical model of a
   pit (elliptical outline, ice-pick to boxcar to rolling profile, Lambert
   shading with attached and cast shadows, ambient occlusion, subsurface
   blur) is fitted to the shading (:mod:`scarview.core._pitmodel`). It must
   explain the shading much better than a pigment spot does (a Gaussian dark
   or bright spot on the surrounding skin): pigment keeps its look under any
   light, a pit is lit on one side and dark on the other. Candidates whose
   inside differs in colour from their surroundings (pigment, erythema,
   papules), that a strand of hair runs through, that the photo's border or
   the ROI cuts, or that are wide with steep walls (hair curls, pigment
   rings) are dropped; overlapping fits are settled by which explains the
   shading better.
6. **Measurand.** The outline is where the fitted surface lies 0.05 mm below the
   surrounding skin (``CLINICAL.md``): where the wall begins, not the faint
   outer slope. The depth is the fit's, under the light's estimated
   elevation; because the depth scale still trades off with the elevation
   (generalised bas-relief ambiguity), the level is kept between 4 % and
   50 % of each pit's fitted depth; see :class:`ScarParams`.
7. **Full resolution.** Outlines (ellipses) are mapped back to the photo's own
   pixels and rasterised there by pixel centre; areas in mm² are
   full-resolution pixels divided by ``px_per_mm**2``.
8. **Type** follows Jacob et al. (2001): the equivalent diameter (ice pick
   < ``icepick_max_mm``, rolling >= ``rolling_min_mm``, boxcar between), with
   the fitted profile deciding in the overlap of ice pick and boxcar widths.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview.core import _pitmodel as pm
from scarview.core import _shading as sh
from scarview.core.types import (
    SCAR_TYPES,
    CancelToken,
    ProgressCallback,
    Scar,
    ScarMap,
    ScarSummary,
    ScarType,
    TypeSummary,
    check_cancel,
    report_progress,
)

__all__ = [
    "ALGORITHM_VERSION",
    "NO_SCALE_WARNING",
    "ScarParams",
    "analyze_scars",
    "classify_scar",
    "scar_from_mask",
    "summarize",
]

#: Changes whenever results would change.
ALGORITHM_VERSION = "scars-1.2"

#: Warning given when the photo's scale is unknown.
NO_SCALE_WARNING = (
    "The photo's scale is unknown, so areas in mm² are not given (counts and pixel areas are). "
    "Place the printed 10 mm ScarView marker (ArUco DICT_4X4_50) flat on the skin beside the "
    "scars, or give the scale with --px-per-mm."
)


@dataclass(frozen=True)
class ScarParams:
    """Every tunable of the scar engine; skin is described in millimetres.

    Attributes
    ----------
    working_px_per_mm : float
        Resolution of the analysis (photos coarser than this are used as they are).
    nominal_px_per_mm : float
        Scale assumed when the photo's is unknown (a typical close-up of a
        cheek); only counts and pixel areas are reported then.
    min_diameter_mm : float
        Equivalent diameter below which a depression is a pore, never a scar.
    max_diameter_mm : float
        Equivalent diameter above which a depression is not an acne scar.
    outline_fraction : float
        The outline lies where the fitted surface is this fraction of the
        pit's depth below the surrounding skin. The measurand of
        ``CLINICAL.md`` is an absolute 0.05 mm, but under a single light the
        depth scale cannot be told from the light's elevation (generalised
        bas-relief ambiguity), so the threshold is taken relative to each
        pit: 0.15 of a typical 0.3 mm deep scar is 0.05 mm.
    depth_threshold_mm : float
        The measurand of ``CLINICAL.md``: skin depressed by at least this much
        is scar. Applied to each pit's fitted depth (under the light's
        estimated elevation): the outline is where the fitted surface is
        ``depth_threshold_mm / depth`` of the pit's depth down.
    outline_fraction_range : tuple of float
        Bounds on that fraction, because the fitted depth is uncertain (the
        depth scale trades off with the light's elevation): a very deep fit
        does not push the outline onto the faint outer slope, a very shallow
        one does not shrink it to the floor. ``outline_fraction`` is used
        when the elevation is not estimated.
    background_mm : float
        Window of the robust background (larger than any scar).
    pigment_smoothing_mm : float
        Smoothing of chromaticity before it predicts pigment.
    exclude_margin_mm : float
        Extra margin grown around ``exclude`` (the marker's paper, its blur).
    light_elevation_deg, ambient : float
        Light used by the pit model when it is not estimated (side light about
        40 degrees above the skin, diffuse fill 30 % of the direct light).
    estimate_elevation : bool
        Choose the elevation and ambient share that best explain the look of
        the darkest pits (how weak the lit wall is against the dark one, how
        long the shadows are) instead of the nominal ones. The depth scale
        still trades off with the elevation; the outlines improve.
    detection_gain : float
        Least improvement of the pit model over the pigment model, in units of
        the noise variance, for a candidate to be a scar.
    rolling_detection_gain : float
        The same for scars at least ``rolling_min_mm`` wide: their shading is
        faint but spread over a large area, and their smooth profile is
        checked separately (``rolling_max_sharpness``).
    min_light_confidence : float
        When the light's direction is this uncertain (how much the pits'
        evidence for it beats the opposite direction, 0 to 1), the photo has
        no clear pits: pits and bumps could be swapped.
    uncertain_light_factor : float
        Then every detection threshold is multiplied by this.
    max_pigment_contrast : float
        Largest colour difference between a scar and its surroundings, in
        units of the photo's chromaticity noise; more is pigment or erythema.
    min_inside_fraction : float
        Share of a scar's outline that must lie on analysable skin (inside
        the photo and the ROI, off the marker); scars cut by the border are
        not measured.
    icepick_max_mm, rolling_min_mm : float
        Jacob's widths: narrower than ``icepick_max_mm`` is ice pick, at least
        ``rolling_min_mm`` is rolling, boxcar between.
    icepick_depth_ratio : float
        In the overlap of ice-pick and boxcar widths (up to 2 mm) a scar whose
        fitted depth is at least this fraction of its width is an ice pick.
    rolling_max_sharpness : float
        Largest wall sharpness (profile exponent ``q``) of a scar half a
        millimetre wider than ``rolling_min_mm``: wide scars are shallow and
        sloping (rolling); a wide depression with steep walls is not an acne
        scar's shape (in practice: a hair curl or a pigment ring).
    max_candidates : int
        At most this many candidates are examined (the darkest first).
    relief_seeds : int
        Broad depressions of the relief integrated from the shading along the
        light (``CLINICAL.md``'s route to shape) seed at most this many extra
        candidates: shallow rolling scars whose faint shading has no compact
        dark part.
    max_light_cue_contrast : float
        Dark features that differ in colour from the skin around them by more
        than this (in units of the chromaticity noise) are not used to read the
        light's direction: a red papule's shaded side looks like a pit's under
        the opposite light, and pigment has no shading to read.
    max_shadow_chroma : float
        Colour a shadow may carry, in log chromaticity per log unit of
        darkening: subsurface scattering spills more red than blue light
        into a shadow, so a deep narrow pit looks a little red. A spot whose
        colour differs from the skin's by more than this per unit of shading
        (pigment and erythema, which have no shading) fails the two colour
        tests above; a dark, slightly red pit passes them.
    """

    working_px_per_mm: float = 12.0
    nominal_px_per_mm: float = 15.0
    min_diameter_mm: float = 0.4
    max_diameter_mm: float = 14.0
    outline_fraction: float = 0.15
    depth_threshold_mm: float = 0.05
    outline_fraction_range: tuple[float, float] = (0.04, 0.5)
    background_mm: float = 8.0
    pigment_smoothing_mm: float = 0.25
    exclude_margin_mm: float = 1.0
    light_elevation_deg: float = 40.0
    ambient: float = 0.3
    detection_gain: float = 300.0
    rolling_detection_gain: float = 120.0
    min_light_confidence: float = 0.06
    uncertain_light_factor: float = 4.0
    max_pigment_contrast: float = 5.0
    min_inside_fraction: float = 0.85
    icepick_max_mm: float = 1.6
    rolling_min_mm: float = 4.0
    icepick_depth_ratio: float = 0.3
    rolling_max_sharpness: float = 6.0
    max_candidates: int = 45
    max_light_cue_contrast: float = 4.0
    max_shadow_chroma: float = 0.5
    relief_seeds: int = 6
    estimate_elevation: bool = True


# --------------------------------------------------------------------------- public API


def analyze_scars(
    rgb: NDArray[np.uint8],
    px_per_mm: float | None,
    *,
    roi: NDArray[np.float64] | None = None,
    exclude: NDArray[np.bool_] | None = None,
    params: ScarParams = ScarParams(),
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
) -> ScarMap:
    """Find every atrophic scar in a photo, outline, type and measure it.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
        The photo, RGB, EXIF orientation applied.
    px_per_mm : float or None
        Scale on the skin (px per mm). ``None``: scars are still found
        assuming ``params.nominal_px_per_mm``; areas in mm² are then ``None``
        and a warning says how to give a scale.
    roi : ndarray of shape (N, 2) and dtype float64, optional
        Region of interest, a polygon of ``(x, y)`` photo pixels. Only scars
        inside it count (outlines are clipped to it).
    exclude : ndarray of shape (H, W) and dtype bool, optional
        True where the photo must be left out (the scale marker and its paper).
    params : ScarParams
        Tunables.
    progress : callable, optional
        ``progress(fraction, message)``.
    cancel : CancelToken, optional
        Checked between steps; raises :class:`scarview.errors.Cancelled`.

    Returns
    -------
    ScarMap
        ``labels`` at full resolution; scars numbered 1..n top to bottom then
        left to right; ``summary.roi_area_mm2`` is the area analysed.

    Raises
    ------
    ValueError
        If ``rgb`` is not (H, W, 3) uint8, ``px_per_mm`` is not positive,
        ``exclude`` has another size or ``roi`` has fewer than 3 points.
    """
    rgb = _check_rgb(rgb)
    H, W = rgb.shape[:2]
    if px_per_mm is not None and not (math.isfinite(px_per_mm) and px_per_mm > 0):
        raise ValueError(f"px_per_mm must be a positive number or None, got {px_per_mm!r}.")
    if exclude is not None and exclude.shape != (H, W):
        raise ValueError(f"exclude must have shape {(H, W)}, got {exclude.shape}.")
    roi_poly = None if roi is None else _check_roi(roi)
    warnings: list[str] = []
    if px_per_mm is None:
        warnings.append(NO_SCALE_WARNING)
    scale_ppm = float(px_per_mm) if px_per_mm is not None else params.nominal_px_per_mm

    report_progress(progress, 0.0, "Preparing the photo")
    check_cancel(cancel)
    f = sh.working_scale(scale_ppm, params.working_px_per_mm)
    w = scale_ppm * f
    small = np.ascontiguousarray(sh.resize_to(rgb, f))
    h_s, w_s = small.shape[:2]

    # Analysable skin at full resolution (for areas) and at working resolution.
    roi_full = _roi_mask(roi_poly, (H, W), 1.0)
    allowed_full = roi_full if exclude is None else roi_full & ~exclude
    roi_area_px = int(np.count_nonzero(allowed_full))
    valid = _roi_mask(roi_poly, (h_s, w_s), f * 1.0)
    if exclude is not None:
        ex_small = (
            np.asarray(
                cv2.resize(exclude.astype(np.float32), (w_s, h_s), interpolation=cv2.INTER_AREA)
            )
            > 0
        )
        grow = max(1, round(params.exclude_margin_mm * w))
        ex_small = cv2.dilate(ex_small.astype(np.uint8), _disk(grow)) > 0
        valid &= ~ex_small
    if not valid.any():
        warnings.append("Nothing to analyse: the region of interest holds no skin off the marker.")
        return _empty_map(rgb.shape[:2], px_per_mm, roi_poly, roi_area_px, warnings)

    report_progress(progress, 0.1, "Separating shading from pigment")
    check_cancel(cancel)
    field = sh.shading_field(
        small,
        valid,
        w,
        background_mm=params.background_mm,
        pigment_smoothing_mm=params.pigment_smoothing_mm,
    )

    report_progress(progress, 0.25, "Reading the light's direction")
    check_cancel(cancel)
    features = sh.dark_features(field, z=3.0, min_area_mm2=0.05)
    coarse_features = sh.dark_features(
        field, z=3.0, min_area_mm2=1.5, max_area_mm2=80.0, smoothing_mm=0.4
    )
    smooth = cv2.GaussianBlur(field.shading, (0, 0), max(0.3, 0.1 * w))
    elevation = math.radians(params.light_elevation_deg)
    chroma_noise = [
        max(1e-4, sh.robust_sigma(field.chroma[..., k][field.valid][::3])) for k in range(2)
    ]

    chroma_cache: dict[int, list[float]] = {}
    shrunk: dict[int, tuple[NDArray[np.float32], NDArray[np.bool_]]] = {}

    def chroma_noise_at(radius_mm: float) -> list[float]:
        # Noise of the mean colour of a spot of this radius: the chromaticity
        # (already smoothed over 0.2 mm) averaged over the spot. Skin's colour
        # is mottled, so a wide spot's mean is not much quieter than a pixel.
        k = max(0, math.ceil(4.0 * math.log2(max(radius_mm, 0.4) / 0.4)))
        if k not in chroma_cache:
            extra_mm = math.sqrt(max(0.0, (0.5 * 0.4 * 2.0 ** (k / 4.0)) ** 2 - 0.2**2))
            sigma_px = extra_mm * w
            if sigma_px < 0.5:
                chroma_cache[k] = chroma_noise
            else:
                # A wide blur needs no full resolution: average down (by a power
                # of two, shared between nodes) to 2-4 px per sigma first.
                level = max(0, math.floor(math.log2(sigma_px / 2.0)))
                if level not in shrunk:
                    f_ = 0.5**level
                    shrunk[level] = (
                        np.asarray(sh.resize_to(field.chroma, f_), np.float32),
                        np.asarray(sh.resize_to(field.valid.astype(np.float32), f_)) > 0.99,
                    )
                chans, ok = shrunk[level]
                if not ok.any():
                    chroma_cache[k] = chroma_noise
                else:
                    blurred = cv2.GaussianBlur(chans, (0, 0), sigma_px * 0.5**level)
                    chroma_cache[k] = [
                        max(1e-4, sh.robust_sigma(blurred[..., c][ok][::3])) for c in range(2)
                    ]
        return chroma_cache[k]

    azimuth, az_conf = pm.estimate_azimuth(
        smooth,
        field.valid,
        _colourless(
            [f_ for f_ in features if f_[3] >= 0.08],
            field,
            chroma_noise,
            params.max_light_cue_contrast,
            params.max_shadow_chroma,
        ),
        w,
        elevation,
        params.ambient,
    )
    if azimuth is None:
        warnings.append(
            "The light's direction could not be read from the photo (no pits or shading "
            "features); no scars were measured."
        )
        return _empty_map(rgb.shape[:2], px_per_mm, roi_poly, roi_area_px, warnings)
    uncertain = az_conf < params.min_light_confidence
    if uncertain:
        warnings.append(
            "The light's direction is uncertain in this photo (few pits, or weak or flat "
            "lighting); only clear scars are reported. Photograph under side light."
        )

    M, size = sh.rotation_to_light((h_s, w_s), azimuth)
    shading_r = np.asarray(sh.warp(field.shading, M, size), np.float32)
    valid_r = np.asarray(sh.warp(field.valid.astype(np.float32), M, size), np.float32)
    chroma_r = [np.asarray(sh.warp(field.chroma[..., k], M, size), np.float32) for k in range(2)]

    noise_cache: dict[int, float] = {}

    def noise_node(step: int) -> float:
        # Noise of the shading resampled at w * 2**(-step/4) px/mm (the patch blur).
        if step not in noise_cache:
            sigma = max(0.5, 0.6 * 2.0 ** (step / 4.0))
            blurred = cv2.GaussianBlur(field.shading, (0, 0), sigma)
            noise_cache[step] = max(1e-4, sh.robust_sigma(blurred[field.valid][::5]))
        return noise_cache[step]

    def noise_at(ppm: float) -> float:
        # Interpolated in log-log between nodes a quarter octave apart.
        t = 4.0 * math.log2(w / max(ppm, 1e-6))
        k = math.floor(t)
        lo, hi = math.log(noise_node(k)), math.log(noise_node(k + 1))
        return math.exp(lo + (t - k) * (hi - lo))

    report_progress(progress, 0.3, "Finding candidate scars")
    check_cancel(cancel)
    candidates = _candidates(field, features, coarse_features, M, params)
    if params.relief_seeds > 0:
        candidates = _relief_candidates(shading_r, valid_r, w, params) + candidates
    if params.estimate_elevation:
        smooth_r = np.asarray(sh.warp(smooth, M, size), np.float32)
        feats_r = [
            (
                M[0, 0] * x + M[0, 1] * y + M[0, 2],
                M[1, 0] * x + M[1, 1] * y + M[1, 2],
                r,
                dk,
            )
            for x, y, r, a_, dk in features
            if a_ >= 0.08
        ]
        el_deg, ambient = pm.estimate_light_elevation(smooth_r, valid_r, feats_r, w)
        elevation = math.radians(el_deg)
    else:
        ambient = params.ambient

    fits: list[pm.PitFit] = []
    for i, (cx, cy, r0, is_coarse) in enumerate(candidates):
        check_cancel(cancel)
        report_progress(progress, 0.3 + 0.55 * i / max(1, len(candidates)), "Examining candidates")
        fits.append(
            pm.fit_pit(
                shading_r,
                valid_r,
                cx,
                cy,
                r0,
                w,
                elevation,
                ambient,
                noise_at,
                screen_gain=0.0 if is_coarse else 0.2 * params.detection_gain,
            )
        )

    report_progress(progress, 0.85, "Outlining scars")
    check_cancel(cancel)
    # Only strands the shading still holds: detected hair was filled in, so no
    # fit can have mistaken it for a wall.
    loose = field.ridges & ~field.hair
    ridges_r = np.asarray(sh.warp(loose.astype(np.uint8), M, size, nearest=True)) > 0
    strictness = params.uncertain_light_factor if uncertain else 1.0
    accepted = _accept(
        fits, shading_r, valid_r, ridges_r, chroma_r, chroma_noise_at, w, params, strictness
    )
    Minv = cv2.invertAffineTransform(M)
    scars_px = []
    for fit, level_r in accepted:
        scars_px.append((fit, _full_resolution_ellipse(fit, level_r, w, Minv, f)))

    labels, scars = _rasterize(scars_px, (H, W), allowed_full, px_per_mm, scale_ppm, params)
    summary = summarize(scars, px_per_mm, roi_area_px)
    report_progress(progress, 1.0, "Done")
    return ScarMap(
        scars=scars,
        labels=labels,
        summary=summary,
        px_per_mm=px_per_mm,
        roi_polygon=roi_poly,
        light_azimuth_deg=float(azimuth),
        algorithm_version=ALGORITHM_VERSION,
        warnings=tuple(warnings),
    )


def summarize(
    scars: tuple[Scar, ...] | list[Scar], px_per_mm: float | None, roi_area_px: int
) -> ScarSummary:
    """Totals over scars, by type; for the GUI when a clinician adds or removes one.

    Parameters
    ----------
    scars : sequence of Scar
    px_per_mm : float or None
        Scale; ``None`` gives ``None`` for every area in mm².
    roi_area_px : int
        Pixels of the analysed region (ROI without the marker), full resolution.

    Returns
    -------
    ScarSummary
    """
    area_px = int(sum(int(s.area_px) for s in scars))
    scale2 = None if px_per_mm is None else float(px_per_mm) ** 2
    by_type: dict[str, TypeSummary] = {}
    for t in SCAR_TYPES:
        members = [s for s in scars if s.type == t]
        px = sum(int(s.area_px) for s in members)
        by_type[t] = TypeSummary(
            count=len(members), area_mm2=None if scale2 is None else px / scale2
        )
    return ScarSummary(
        count=len(scars),
        area_mm2=None if scale2 is None else area_px / scale2,
        area_px=area_px,
        roi_area_mm2=None if scale2 is None else int(roi_area_px) / scale2,
        area_fraction=area_px / roi_area_px if roi_area_px > 0 else 0.0,
        by_type=by_type,
    )


def classify_scar(
    diameter_mm: float,
    depth_ratio: float | None = None,
    params: ScarParams = ScarParams(),
    sharpness: float | None = None,
) -> ScarType:
    """Jacob's type from the equivalent diameter, and from the profile when known.

    Parameters
    ----------
    diameter_mm : float
        Diameter of the circle of equal area.
    depth_ratio : float, optional
        Fitted depth over diameter; in the overlap of ice-pick and boxcar
        widths (``icepick_max_mm`` to 2 mm) deep narrow pits are ice picks.
    params : ScarParams
    sharpness : float, optional
        Fitted wall sharpness ``q`` of the profile; in the overlap of boxcar
        and rolling widths (``rolling_min_mm`` to 1 mm more) steep walls
        (sharper than ``rolling_max_sharpness``) make a boxcar.

    Returns
    -------
    {"icepick", "boxcar", "rolling"}
    """
    if diameter_mm < params.icepick_max_mm:
        return "icepick"
    if diameter_mm >= params.rolling_min_mm:
        steep = sharpness is not None and sharpness > params.rolling_max_sharpness
        if steep and diameter_mm < params.rolling_min_mm + 1.0:
            return "boxcar"
        return "rolling"
    if diameter_mm < 2.0 and depth_ratio is not None and depth_ratio >= params.icepick_depth_ratio:
        return "icepick"
    return "boxcar"


def scar_from_mask(
    mask: NDArray[np.bool_],
    px_per_mm: float | None,
    scar_id: int,
    *,
    scar_type: ScarType | None = None,
    rgb: NDArray[np.uint8] | None = None,
    params: ScarParams = ScarParams(),
) -> Scar:
    """A :class:`Scar` for an outline a clinician drew.

    Parameters
    ----------
    mask : ndarray of shape (H, W) and dtype bool
        The scar at full resolution (the largest connected part gives the contour).
    px_per_mm : float or None
        Scale; without it areas in mm² and the diameter are ``None`` and the
        type is judged at ``params.nominal_px_per_mm``.
    scar_id : int
        Its label.
    scar_type : {"icepick", "boxcar", "rolling"}, optional
        The clinician's type; by default Jacob's type from the width.
    rgb : ndarray of shape (H, W, 3) and dtype uint8, optional
        The photo. Accepted so callers can pass what they hold; a drawn
        outline is typed from its width only, so it is not read.
    params : ScarParams

    Returns
    -------
    Scar
        ``source="manual"``, ``confidence=1.0``.

    Raises
    ------
    ValueError
        If the mask is empty or not 2-D.
    """
    del rgb  # typed from the width only (see docstring)
    m = np.asarray(mask, dtype=bool)
    if m.ndim != 2 or not m.any():
        raise ValueError("The scar mask must be a non-empty 2-D boolean array.")
    area_px = int(np.count_nonzero(m))
    ys, xs = np.nonzero(m)
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    crop = m[y0 : y1 + 1, x0 : x1 + 1].astype(np.uint8)
    cnts, _ = cv2.findContours(crop, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    biggest = max(cnts, key=cv2.contourArea)
    contour = biggest.reshape(-1, 2).astype(np.float64) + np.array([x0, y0], np.float64)
    ppm = px_per_mm if px_per_mm is not None else params.nominal_px_per_mm
    d_mm = 2.0 * math.sqrt(area_px / math.pi) / ppm
    kind: ScarType = scar_type if scar_type is not None else classify_scar(d_mm, None, params)
    return Scar(
        id=int(scar_id),
        type=kind,
        area_px=area_px,
        area_mm2=None if px_per_mm is None else area_px / px_per_mm**2,
        diameter_mm=None if px_per_mm is None else d_mm,
        centroid_xy=(float(xs.mean()), float(ys.mean())),
        bbox_xywh=(x0, y0, x1 - x0 + 1, y1 - y0 + 1),
        contour=contour,
        confidence=1.0,
        depth_mm=None,
        source="manual",
    )


# --------------------------------------------------------------------------- internals


def _check_rgb(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[2] != 3 or a.dtype != np.uint8:
        raise ValueError(f"rgb must be an (H, W, 3) uint8 array, got {a.shape} {a.dtype}.")
    if a.shape[0] < 16 or a.shape[1] < 16:
        raise ValueError(f"The photo is too small to analyse ({a.shape[1]}x{a.shape[0]} px).")
    return np.ascontiguousarray(a)


def _check_roi(roi: NDArray[np.float64]) -> NDArray[np.float64]:
    poly = np.asarray(roi, dtype=np.float64)
    if poly.ndim != 2 or poly.shape[1] != 2 or poly.shape[0] < 3 or not np.isfinite(poly).all():
        raise ValueError("roi must be a polygon of at least 3 finite (x, y) points, shape (N, 2).")
    return poly


def _disk(radius: int) -> NDArray[np.uint8]:
    return np.asarray(
        cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    )


def _roi_mask(
    poly: NDArray[np.float64] | None, shape: tuple[int, int], scale: float
) -> NDArray[np.bool_]:
    """ROI polygon (full-res px) rasterised on a grid ``scale`` times the photo's."""
    if poly is None:
        return np.ones(shape, bool)
    mask = np.zeros(shape, np.uint8)
    pts = ((poly + 0.5) * scale - 0.5) * 16.0
    cv2.fillPoly(mask, [np.round(pts).astype(np.int32)], 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def outline_level(depth_mm: float, params: ScarParams) -> float:
    """Fraction of a pit's fitted depth at which its outline is drawn.

    Parameters
    ----------
    depth_mm : float
        The pit's fitted depth in mm (at the estimated light elevation).
    params : ScarParams

    Returns
    -------
    float
        ``depth_threshold_mm / depth_mm`` clipped to ``outline_fraction_range``
        when the elevation is estimated, else ``outline_fraction``.
    """
    if not params.estimate_elevation:
        return params.outline_fraction
    lo, hi = params.outline_fraction_range
    return float(min(max(params.depth_threshold_mm / max(depth_mm, 1e-6), lo), hi))


def _relief_candidates(
    shading_r: NDArray[np.float32],
    valid_r: NDArray[np.float32],
    w: float,
    params: ScarParams,
) -> list[tuple[float, float, float, bool]]:
    """Seeds ``(cx, cy, radius_mm, True)`` (rotated working px) at broad depressions.

    The rotated shading is averaged down to about 4 px/mm (broad scars need no
    more), integrated along the light into a relative relief, and its broad
    minima are the seeds.
    """
    f = min(1.0, 4.0 / w)
    if f < 1.0:
        size = (max(8, round(shading_r.shape[1] * f)), max(8, round(shading_r.shape[0] * f)))
        s_small = cv2.resize(shading_r, size, interpolation=cv2.INTER_AREA)
        v_small = cv2.resize(valid_r, size, interpolation=cv2.INTER_AREA)
    else:
        s_small, v_small = shading_r, valid_r
    ppm = w * f
    relief = sh.integrated_relief(s_small, v_small, ppm)
    seeds = sh.relief_depressions(relief, v_small, ppm, max_count=params.relief_seeds)
    return [(x / f, y / f, r, True) for x, y, r, _ in seeds]


def _candidates(
    field: sh.ShadingField,
    features: list[tuple[float, float, float, float, float]],
    coarse_features: list[tuple[float, float, float, float, float]],
    M: NDArray[np.float64],
    params: ScarParams,
) -> list[tuple[float, float, float, bool]]:
    """First guesses ``(cx, cy, radius_mm, coarse)`` in the rotated frame.

    Fine scale: compact dark features (near walls, shadows and dark cores of
    pits), darkest first. Coarse scale (listed first, always examined): the
    shading smoothed over 0.4 mm, where the dark half of a shallow rolling
    scar stands out of the noise. A pit's centre lies on the far side of its
    dark wall, so each guess is moved away from the light.
    """
    w = field.px_per_mm
    found: list[tuple[float, float, float, float]] = []
    coarse: list[tuple[float, float, float, float]] = []
    for cx, cy, r, _area, dark in features:
        r0 = max(r, 0.25)
        found.append((cx, cy, r0, dark))
    for cx, cy, r, _area, dark in coarse_features:
        coarse.append((cx, cy, max(2.0, 1.2 * r), dark))
    found.sort(key=lambda t: -t[3])
    out: list[tuple[float, float, float, bool]] = []
    for is_coarse, group in ((True, coarse), (False, found)):
        for cx, cy, r0, _ in group:
            xr = M[0, 0] * cx + M[0, 1] * cy + M[0, 2]
            yr = M[1, 0] * cx + M[1, 1] * cy + M[1, 2]
            # The pit's centre lies on the far side of its dark wall (away from the light).
            xr -= (0.6 if is_coarse else 0.5) * r0 * w
            dup = any(
                math.hypot(ox - xr, oy - yr) < 0.5 * min(orr, r0) * w and 0.5 < orr / r0 < 2.0
                for ox, oy, orr, _ in out
            )
            if not dup:
                out.append((xr, yr, r0, is_coarse))
            if len(out) >= params.max_candidates:
                break
    return out


def _colourless(
    features: list[tuple[float, float, float, float, float]],
    field: sh.ShadingField,
    chroma_noise: list[float],
    max_contrast: float,
    max_shadow_chroma: float,
    examine: int = 40,
) -> list[tuple[float, float, float, float, float]]:
    """The darkest features whose colour matches the skin around them.

    Parameters
    ----------
    features : list of tuple
        From :func:`scarview.core._shading.dark_features`.
    field : ShadingField
    chroma_noise : list of float
        Robust noise of each chromaticity channel.
    max_contrast, max_shadow_chroma : float
        See :func:`_pigment_like`; the colour is compared between a disk of
        the feature's radius plus 0.3 mm and a ring twice as wide around it.
    examine : int
        Only the darkest ``examine`` features are looked at.

    Returns
    -------
    list of tuple
        The kept features, darkest first.
    """
    w = field.px_per_mm
    h, wd = field.valid.shape
    kept = []
    for cx, cy, r, area, dark in sorted(features, key=lambda t: -t[4])[:examine]:
        rin = (r + 0.3) * w
        rout = 2.0 * rin + 1.0
        x0, x1 = max(0, int(cx - rout)), min(wd, int(cx + rout) + 2)
        y0, y1 = max(0, int(cy - rout)), min(h, int(cy + rout) + 2)
        yy, xx = np.mgrid[y0:y1, x0:x1]
        d = np.hypot(xx - cx, yy - cy)
        ok = field.valid[y0:y1, x0:x1]
        inner = (d <= rin) & ok
        ring = (d > rin) & (d <= rout) & ok
        if not inner.any() or not ring.any():
            continue
        dc = [
            float(field.chroma[y0:y1, x0:x1, k][inner].mean())
            - float(field.chroma[y0:y1, x0:x1, k][ring].mean())
            for k in range(2)
        ]
        patch = field.shading[y0:y1, x0:x1]
        ds = float(patch[inner].mean()) - float(patch[ring].mean())
        if not _pigment_like(dc, chroma_noise, ds, max_contrast, max_shadow_chroma):
            kept.append((cx, cy, r, area, dark))
    return kept


def _pigment_like(
    dc: list[float], chroma_noise: list[float], ds: float, max_contrast: float, max_ratio: float
) -> bool:
    """Whether a spot's colour difference from the skin around it marks pigment, not shading.

    Parameters
    ----------
    dc : list of float
        Inside minus surroundings of each log-chromaticity channel.
    chroma_noise : list of float
        Noise of each channel (same units).
    ds : float
        Inside minus surroundings of the log shading (negative: darker).
    max_contrast : float
        Colour differences up to this many noise units are noise.
    max_ratio : float
        A larger one is still a shadow's if at most ``max_ratio`` log units
        of colour per log unit of darkening (subsurface scattering reddens
        deep shadows; pigment and erythema change colour without shading).
    """
    contrast = math.hypot(*[d / n for d, n in zip(dc, chroma_noise, strict=True)])
    if contrast <= max_contrast:
        return False
    return math.hypot(*dc) > max_ratio * max(0.0, -ds)


def _accept(
    fits: list[pm.PitFit],
    shading_r: NDArray[np.float32],
    valid_r: NDArray[np.float32],
    ridges_r: NDArray[np.bool_],
    chroma_r: list[NDArray[np.float32]],
    chroma_noise_at: Callable[[float], list[float]],
    w: float,
    params: ScarParams,
    strictness: float = 1.0,
) -> list[tuple[pm.PitFit, float]]:
    """Keep fits that are depressions, big enough, colourless and not duplicates.

    Overlapping fits (the same scar seen from a fine and a coarse candidate,
    or one large fit spanning several small scars) are settled on the larger
    patch: whichever explanation -- the new pit, or the pits already kept
    there -- leaves the smaller residual wins.

    ``chroma_noise_at(radius_mm)``: noise of the mean colour of a spot of
    that radius, against which its colour difference is judged.

    Returns
    -------
    list of (PitFit, level_radius)
        ``level_radius``: normalised radius of the outline.
    """
    Hr, Wr = valid_r.shape
    kept: list[tuple[pm.PitFit, float, NDArray[np.bool_], tuple[slice, slice]]] = []
    for fit in sorted(fits, key=lambda f: -f.gain):
        g = fit.geometry
        lr = g.level_radius(outline_level(g.depth, params))
        d_mm = 2.0 * math.sqrt(g.a * g.b) * lr
        rolling_like = d_mm >= params.rolling_min_mm + 0.5
        need = params.rolling_detection_gain if rolling_like else params.detection_gain
        if fit.gain < need * strictness:
            continue
        if d_mm < params.min_diameter_mm or d_mm > params.max_diameter_mm:
            continue
        if rolling_like and g.q > params.rolling_max_sharpness:
            continue  # wide with steep walls: not an acne scar's profile (pigment, hair curl)
        mask, sl = _ellipse_mask(fit, lr, w, (Hr, Wr))
        if mask is None or sl is None:
            continue
        n_in = int(mask.sum())
        if n_in == 0 or float(valid_r[sl][mask].mean()) < params.min_inside_fraction:
            continue
        if _coloured(mask, sl, shading_r, valid_r, chroma_r, chroma_noise_at, w, params):
            continue  # pigment, erythema and papules differ in colour from the skin around
        if _strand_through(fit, lr, ridges_r, w):
            continue
        overlapping = [
            k for k, (_, _, m2, s2) in enumerate(kept) if _overlap(mask, sl, m2, s2) > 0.2
        ]
        if overlapping:
            others = [kept[k][0] for k in overlapping]
            big = max([fit, *others], key=lambda f: f.half_mm)
            arena = pm.make_arena(
                shading_r,
                valid_r,
                big.center_xy[0],
                big.center_xy[1],
                big.half_mm,
                w,
                big.px_per_mm,
            )
            if pm.explain_cost([fit], arena, w) >= pm.explain_cost(others, arena, w):
                continue
            kept = [k for i, k in enumerate(kept) if i not in overlapping]
        kept.append((fit, lr, mask, sl))
    return [(f, lr) for f, lr, _, _ in kept]


def _coloured(
    mask: NDArray[np.bool_],
    sl: tuple[slice, slice],
    shading_r: NDArray[np.float32],
    valid_r: NDArray[np.float32],
    chroma_r: list[NDArray[np.float32]],
    chroma_noise_at: Callable[[float], list[float]],
    w: float,
    params: ScarParams,
) -> bool:
    """Whether an outline's inside differs in colour from a 0.4 mm ring around it like pigment."""
    ok_px = valid_r[sl] > 0.5
    inner = mask & ok_px
    ring = (cv2.dilate(mask.astype(np.uint8), _disk(max(2, round(0.4 * w)))) > 0) & ~mask & ok_px
    if not ring.any() or not inner.any():
        return False
    dc = [float(ch[sl][inner].mean()) - float(ch[sl][ring].mean()) for ch in chroma_r]
    ds = float(shading_r[sl][inner].mean()) - float(shading_r[sl][ring].mean())
    noise = chroma_noise_at(math.sqrt(int(inner.sum()) / math.pi) / w)
    return _pigment_like(dc, noise, ds, params.max_pigment_contrast, params.max_shadow_chroma)


def _strand_through(fit: pm.PitFit, level_r: float, ridges_r: NDArray[np.bool_], w: float) -> bool:
    """True when a thin dark line runs through the outline and on well beyond it (hair).

    The dark wall of a pit ends where the pit ends; a strand of hair that a
    fit mistook for a wall carries on outside. A ridge touching the outline's
    inside that still reaches 1 mm beyond the outline's edge is a strand.
    """
    Hr, Wr = ridges_r.shape
    far, sl = _ellipse_mask(
        fit,
        level_r * 1.0 + 1.0 / max(1e-6, min(fit.geometry.a, fit.geometry.b) * level_r),
        w,
        (Hr, Wr),
    )
    inner, sl_in = _ellipse_mask(fit, level_r, w, (Hr, Wr))
    if far is None or sl is None or inner is None or sl_in is None:
        return False
    y0, x0 = sl[0].start, sl[1].start
    pad = max(3, round(1.2 * w))
    Y0, X0 = max(0, y0 - pad), max(0, x0 - pad)
    Y1, X1 = min(Hr, sl[0].stop + pad), min(Wr, sl[1].stop + pad)
    crop = ridges_r[Y0:Y1, X0:X1]
    if not crop.any():
        return False
    inside = np.zeros(crop.shape, bool)
    iy, ix = sl_in[0].start - Y0, sl_in[1].start - X0
    inside[iy : iy + inner.shape[0], ix : ix + inner.shape[1]] = inner
    beyond = np.ones(crop.shape, bool)
    fy, fx = y0 - Y0, x0 - X0
    beyond[fy : fy + far.shape[0], fx : fx + far.shape[1]] &= ~far
    _nl, lab = cv2.connectedComponents(crop.astype(np.uint8), connectivity=8)
    touching = np.unique(lab[inside & crop])
    touching = touching[touching > 0]
    if touching.size == 0:
        return False
    # A strand carries on for a while: at least 1.5 mm of thin line beyond the outline.
    return int(np.isin(lab[beyond], touching).sum()) >= 1.5 * w


def _overlap(
    m1: NDArray[np.bool_], s1: tuple[slice, slice], m2: NDArray[np.bool_], s2: tuple[slice, slice]
) -> float:
    """Intersection of two cropped masks over the smaller one's area."""
    y0, y1 = max(s1[0].start, s2[0].start), min(s1[0].stop, s2[0].stop)
    x0, x1 = max(s1[1].start, s2[1].start), min(s1[1].stop, s2[1].stop)
    if y1 <= y0 or x1 <= x0:
        return 0.0
    a = m1[y0 - s1[0].start : y1 - s1[0].start, x0 - s1[1].start : x1 - s1[1].start]
    b = m2[y0 - s2[0].start : y1 - s2[0].start, x0 - s2[1].start : x1 - s2[1].start]
    inter = int((a & b).sum())
    return inter / max(1, min(int(m1.sum()), int(m2.sum())))


def _ellipse_polygon(fit: pm.PitFit, level_r: float, w: float, n: int = 72) -> NDArray[np.float64]:
    """Outline of a fit (rotated working px), ``n`` points."""
    g = fit.geometry
    t = np.linspace(0.0, 2.0 * np.pi, n, endpoint=False)
    a, b = g.a * level_r, g.b * level_r
    c, s = math.cos(g.theta), math.sin(g.theta)
    x = g.cx + a * np.cos(t) * c - b * np.sin(t) * s
    y = g.cy + a * np.cos(t) * s + b * np.sin(t) * c
    cx, cy = fit.center_xy
    return np.stack([cx + x * w, cy + y * w], 1)


def _ellipse_mask(
    fit: pm.PitFit, level_r: float, w: float, shape: tuple[int, int]
) -> tuple[NDArray[np.bool_] | None, tuple[slice, slice] | None]:
    """Rasterised outline in the rotated working frame, cropped to its box."""
    poly = _ellipse_polygon(fit, level_r, w)
    x0 = max(0, math.floor(poly[:, 0].min()) - 1)
    y0 = max(0, math.floor(poly[:, 1].min()) - 1)
    x1 = min(shape[1], math.ceil(poly[:, 0].max()) + 2)
    y1 = min(shape[0], math.ceil(poly[:, 1].max()) + 2)
    if x1 <= x0 or y1 <= y0:
        return None, None
    pad = max(3, round(0.5 * w))
    X0, Y0 = max(0, x0 - pad), max(0, y0 - pad)
    X1, Y1 = min(shape[1], x1 + pad), min(shape[0], y1 + pad)
    m = np.zeros((Y1 - Y0, X1 - X0), np.uint8)
    pts = np.round((poly - [X0, Y0]) * 16.0).astype(np.int32)
    cv2.fillPoly(m, [pts], 1, lineType=cv2.LINE_8, shift=4)
    return m.astype(bool), (slice(Y0, Y1), slice(X0, X1))


def _full_resolution_ellipse(
    fit: pm.PitFit, level_r: float, w: float, Minv: NDArray[np.float64], f: float
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The outline as an ellipse in full-resolution pixels: centre and quadratic form ``Q``.

    The rotated working frame maps to the photo by an affine map (rotation,
    then the working scale), which takes an ellipse to an ellipse; pixels are
    then tested at their centres, so the area is unbiased at any resolution.
    """
    g = fit.geometry
    a, b = g.a * level_r * w, g.b * level_r * w  # semi-axes in rotated working px
    c, s = math.cos(g.theta), math.sin(g.theta)
    R = np.array([[c, -s], [s, c]])
    E = R @ np.diag([1.0 / (a * a), 1.0 / (b * b)]) @ R.T
    centre_r = np.array([fit.center_xy[0] + g.cx * w, fit.center_xy[1] + g.cy * w])
    A = Minv[:, :2] / f  # rotated working px -> full-res px (linear part)
    t = (Minv[:, 2] + 0.5) / f - 0.5
    centre = A @ centre_r + t
    Ainv = np.linalg.inv(A)
    Q = Ainv.T @ E @ Ainv
    return centre, Q


def _rasterize(
    outlines: list[tuple[pm.PitFit, tuple[NDArray[np.float64], NDArray[np.float64]]]],
    shape: tuple[int, int],
    allowed: NDArray[np.bool_],
    px_per_mm: float | None,
    scale_ppm: float,
    params: ScarParams,
) -> tuple[NDArray[np.int32], tuple[Scar, ...]]:
    """Full-resolution labels and :class:`Scar` records, numbered top-to-bottom."""
    H, W = shape
    labels = np.zeros((H, W), np.int32)
    pending = []
    for fit, (centre, Q) in outlines:
        # Pixels whose centres lie inside the ellipse (x - c)^T Q (x - c) <= 1.
        half_x = math.sqrt(max(Q[1, 1], 0.0) / max(np.linalg.det(Q), 1e-12))
        half_y = math.sqrt(max(Q[0, 0], 0.0) / max(np.linalg.det(Q), 1e-12))
        x0 = max(0, math.floor(centre[0] - half_x) - 1)
        y0 = max(0, math.floor(centre[1] - half_y) - 1)
        x1 = min(W, math.ceil(centre[0] + half_x) + 2)
        y1 = min(H, math.ceil(centre[1] + half_y) + 2)
        if x1 <= x0 or y1 <= y0:
            continue
        dx = np.arange(x0, x1, dtype=np.float64)[None, :] - centre[0]
        dy = np.arange(y0, y1, dtype=np.float64)[:, None] - centre[1]
        inside = Q[0, 0] * dx * dx + 2.0 * Q[0, 1] * dx * dy + Q[1, 1] * dy * dy <= 1.0
        mb = inside & allowed[y0:y1, x0:x1] & (labels[y0:y1, x0:x1] == 0)
        area_px = int(mb.sum())
        if area_px == 0:
            continue
        d_mm = 2.0 * math.sqrt(area_px / math.pi) / scale_ppm
        if d_mm < params.min_diameter_mm:
            continue
        labels[y0:y1, x0:x1][mb] = -1  # reserve; ids assigned after ordering
        ys, xs = np.nonzero(mb)
        pending.append((float(ys.mean()) + y0, float(xs.mean()) + x0, fit, (y0, x0), mb, d_mm))
    # Number top to bottom, then left to right (rows of ~1 mm).
    row = max(1.0, scale_ppm)
    pending.sort(key=lambda p: (round(p[0] / row), p[1]))
    scars: list[Scar] = []
    for k, (cy, cx, fit, (y0, x0), mb, d_mm) in enumerate(pending, start=1):
        labels[y0 : y0 + mb.shape[0], x0 : x0 + mb.shape[1]][mb] = k
        area_px = int(mb.sum())
        g = fit.geometry
        ratio = g.depth / max(d_mm, 1e-6)
        kind = classify_scar(d_mm, ratio, params, sharpness=g.q)
        cnts, _ = cv2.findContours(mb.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        biggest = max(cnts, key=cv2.contourArea)
        contour = biggest.reshape(-1, 2).astype(np.float64) + np.array([x0, y0], np.float64)
        bx, by, bw, bh = cv2.boundingRect(biggest)
        confidence = 1.0 - math.exp(-fit.gain / (2.0 * params.detection_gain))
        scars.append(
            Scar(
                id=k,
                type=kind,
                area_px=area_px,
                area_mm2=None if px_per_mm is None else area_px / px_per_mm**2,
                diameter_mm=None if px_per_mm is None else d_mm,
                centroid_xy=(cx, cy),
                bbox_xywh=(int(bx + x0), int(by + y0), int(bw), int(bh)),
                contour=contour,
                confidence=float(min(1.0, max(0.0, confidence))),
                depth_mm=float(g.depth),
                source="auto",
            )
        )
    labels[labels < 0] = 0
    return labels, tuple(scars)


def _empty_map(
    shape: tuple[int, int],
    px_per_mm: float | None,
    roi: NDArray[np.float64] | None,
    roi_area_px: int,
    warnings: list[str],
) -> ScarMap:
    return ScarMap(
        scars=(),
        labels=np.zeros(shape, np.int32),
        summary=summarize((), px_per_mm, roi_area_px),
        px_per_mm=px_per_mm,
        roi_polygon=roi,
        light_azimuth_deg=None,
        algorithm_version=ALGORITHM_VERSION,
        warnings=tuple(warnings),
    )
