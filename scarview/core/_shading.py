"""The shading field of a skin photo: what the light says about the relief.

Private helpers of :mod:`scarview.core.scars`. Everything here works at a
*working resolution* chosen in pixels per millimetre and is described in
millimetres of skin, so results do not depend on the camera's resolution.

Physics used (see ``CLINICAL.md``):

* Past the camera's sRGB curve, light is multiplicative: a pixel is
  ``albedo x irradiance``. In log space the two add up, so the shading
  (irradiance) and the skin's colour (albedo) can be separated by linear means.
* Shading changes all three colour channels alike; melanin (brown) and
  haemoglobin (red) change their ratios. The log-luminance variations that are
  *predicted by the chromaticity* are pigment; what is left is shading, hair,
  pores and noise.
* A slowly varying background (exposure gradients, the cheek's curvature,
  large mottling) is removed with a robust median over several millimetres,
  which ignores scars and spots because they are small against it.
* Compact dark features of the shading are the candidates for pit walls and
  shadows (:func:`dark_features`); the light's direction is read from them by
  :func:`scarview.core._pitmodel.estimate_azimuth`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import scipy.ndimage as ndi
from numpy.typing import NDArray
from skimage.morphology import skeletonize

FloatImage = NDArray[np.float32]
BoolImage = NDArray[np.bool_]

#: sRGB 8-bit code value -> linear light (IEC 61966-2-1).
_CODES = np.arange(256, dtype=np.float64) / 255.0
SRGB_TO_LINEAR: NDArray[np.float32] = np.where(
    _CODES <= 0.04045, _CODES / 12.92, ((_CODES + 0.055) / 1.055) ** 2.4
).astype(np.float32)

#: Floor added to linear light before the logarithm (about 1/500 of white).
_LOG_FLOOR = 0.002


def robust_sigma(values: NDArray[np.floating]) -> float:
    """Standard deviation estimated from the median absolute deviation.

    Parameters
    ----------
    values : ndarray
        Any shape; flattened.

    Returns
    -------
    float
        ``1.4826 * median(|v - median(v)|)``; 0 for an empty input.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(v - np.median(v))))


def working_scale(px_per_mm: float, working_px_per_mm: float) -> float:
    """Factor from full-resolution pixels to working pixels (never above 1).

    Parameters
    ----------
    px_per_mm : float
        Scale of the photo on the skin.
    working_px_per_mm : float
        Wanted working resolution.

    Returns
    -------
    float
        ``min(1, working_px_per_mm / px_per_mm)``: photos coarser than the
        working resolution are used as they are (never upsampled).
    """
    return float(min(1.0, working_px_per_mm / px_per_mm))


def resize_to(image: NDArray[np.generic], scale: float) -> NDArray[np.generic]:
    """Area-average an image (or mask as float) down by ``scale`` (<= 1)."""
    if scale >= 0.999:
        return image
    h, w = image.shape[:2]
    size = (max(2, round(w * scale)), max(2, round(h * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def robust_background(
    image: FloatImage, valid: BoolImage, px_per_mm: float, scale_mm: float
) -> FloatImage:
    """Slowly varying background of an image, robust to scars and spots.

    The image is averaged down to about 1 px/mm (ignoring invalid pixels),
    median-filtered over ``scale_mm`` (a median ignores features smaller than
    half its window), smoothed and interpolated back.

    Parameters
    ----------
    image : ndarray of shape (H, W) and dtype float32
    valid : ndarray of shape (H, W) and dtype bool
        Pixels that may be used.
    px_per_mm : float
        Scale of ``image``.
    scale_mm : float
        Size of the median window in mm.

    Returns
    -------
    ndarray of shape (H, W) and dtype float32
    """
    h, w = image.shape
    f = min(1.0, 1.0 / px_per_mm)
    sw, sh = max(3, round(w * f)), max(3, round(h * f))
    weight = valid.astype(np.float32)
    num = cv2.resize(
        np.where(valid, image, 0).astype(np.float32), (sw, sh), interpolation=cv2.INTER_AREA
    )
    den = cv2.resize(weight, (sw, sh), interpolation=cv2.INTER_AREA)
    ok = den > 0.3
    small = np.where(ok, num / np.maximum(den, 1e-6), 0).astype(np.float32)
    if ok.any():
        fill = float(np.median(small[ok]))
        if not ok.all():
            # Fill holes (marker, outside the ROI) from their surroundings.
            _, idx = ndi.distance_transform_edt(~ok, return_indices=True)
            small = small[idx[0], idx[1]]
    else:
        fill = 0.0
        small[:] = fill
    side = max(3, 2 * round(scale_mm * px_per_mm * f / 2) + 1)
    med = ndi.median_filter(small, size=side, mode="reflect")
    med = cv2.GaussianBlur(med, (0, 0), max(0.5, side / 6.0))
    return np.asarray(cv2.resize(med, (w, h), interpolation=cv2.INTER_LINEAR), dtype=np.float32)


@dataclass(frozen=True, eq=False)
class ShadingField:
    """The photo's relief seen through its shading, at the working resolution.

    Attributes
    ----------
    shading : ndarray of shape (h, w) and dtype float32
        Log-irradiance relative to the surrounding skin (0 = flat skin lit
        like its neighbourhood; -0.7 = half as bright), with pigment and the
        slow background removed; 0 where ``valid`` is False.
    valid : ndarray of shape (h, w) and dtype bool
        Pixels of skin that may be analysed (inside the ROI, off the marker).
    chroma : ndarray of shape (h, w, 2) and dtype float32
        High-passed, lightly smoothed ``log(R/G)`` and ``log(B/G)`` (pigment).
    hair : ndarray of shape (h, w) and dtype bool
        Long thin dark strands, filled in ``shading``.
    ridges : ndarray of shape (h, w) and dtype bool
        Thin dark lines of any length (strands of hair, including the long
        ones filled in ``shading``, but also the thin dark walls of pits).
    px_per_mm : float
        Working resolution.
    noise : float
        Robust standard deviation of ``shading`` smoothed over 0.1 mm.
    pigment_coefficients : tuple of float
        Log-luminance per unit of ``log(R/G)`` and ``log(B/G)`` removed as pigment.
    """

    shading: FloatImage
    valid: BoolImage
    chroma: NDArray[np.float32]
    hair: BoolImage
    ridges: BoolImage
    px_per_mm: float
    noise: float
    pigment_coefficients: tuple[float, float]


def shading_field(
    rgb: NDArray[np.uint8],
    valid: BoolImage,
    px_per_mm: float,
    *,
    background_mm: float = 8.0,
    pigment_smoothing_mm: float = 0.25,
    remove_hair: bool = True,
) -> ShadingField:
    """Separate shading from pigment in a working-resolution RGB photo.

    Parameters
    ----------
    rgb : ndarray of shape (h, w, 3) and dtype uint8
        sRGB photo at the working resolution.
    valid : ndarray of shape (h, w) and dtype bool
        Skin that may be analysed.
    px_per_mm : float
        Working resolution.
    background_mm : float
        Size of the robust background window (larger than any scar).
    pigment_smoothing_mm : float
        Smoothing of the chromaticity before it predicts pigment (it is
        noisier than luminance).
    remove_hair : bool
        Find long thin dark strands and fill them from their surroundings.

    Returns
    -------
    ShadingField
    """
    w = px_per_mm
    lin = SRGB_TO_LINEAR[rgb]
    logc = np.log(lin + np.float32(_LOG_FLOOR))
    achrom = logc.mean(axis=2).astype(np.float32)
    c1 = (logc[..., 0] - logc[..., 1]).astype(np.float32)
    c2 = (logc[..., 2] - logc[..., 1]).astype(np.float32)
    a_hp = achrom - robust_background(achrom, valid, w, background_mm)
    c1_hp = c1 - robust_background(c1, valid, w, background_mm)
    c2_hp = c2 - robust_background(c2, valid, w, background_mm)

    # Pigment: the part of log-luminance that chromaticity predicts. Fitted on
    # smoothed data (less noise in the regressors) where the colour varies most.
    s_fit = max(0.5, 0.5 * w)
    a_s = cv2.GaussianBlur(a_hp, (0, 0), s_fit)
    c1_s = cv2.GaussianBlur(c1_hp, (0, 0), s_fit)
    c2_s = cv2.GaussianBlur(c2_hp, (0, 0), s_fit)
    mag = np.hypot(c1_s, c2_s)
    coef = np.zeros(2)
    if valid.sum() > 100:
        sel = valid & (mag > np.percentile(mag[valid], 70))
        if sel.sum() > 50:
            X = np.stack([c1_s[sel], c2_s[sel]], 1).astype(np.float64)
            coef, *_ = np.linalg.lstsq(X, a_s[sel].astype(np.float64), rcond=None)
    s_pig = max(0.3, pigment_smoothing_mm * w)
    c1_p = cv2.GaussianBlur(c1_hp, (0, 0), s_pig)
    c2_p = cv2.GaussianBlur(c2_hp, (0, 0), s_pig)
    shading = (a_hp - np.float32(coef[0]) * c1_p - np.float32(coef[1]) * c2_p).astype(np.float32)
    shading -= robust_background(shading, valid, w, background_mm)
    shading[~valid] = 0.0

    ridges = dark_ridges(shading, valid)
    hair = (
        hair_mask(shading, valid, w, ridges=ridges) if remove_hair else np.zeros(valid.shape, bool)
    )
    if hair.any():
        # The blurred strand is darker than its surroundings a little beyond its ridge.
        grow = max(1, round(0.12 * w))
        hair = (
            cv2.dilate(hair.astype(np.uint8), np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)) > 0
        )
        shading = fill_from_surroundings(shading, hair, w, 0.3)
    chroma = np.stack(
        [cv2.GaussianBlur(c1_hp, (0, 0), 0.2 * w), cv2.GaussianBlur(c2_hp, (0, 0), 0.2 * w)], -1
    ).astype(np.float32)
    smooth = cv2.GaussianBlur(shading, (0, 0), max(0.3, 0.1 * w))
    noise = robust_sigma(smooth[valid][::3]) if valid.any() else 0.0
    return ShadingField(
        ridges=ridges | hair,
        shading=shading,
        valid=valid,
        chroma=chroma,
        hair=hair,
        px_per_mm=w,
        noise=max(noise, 1e-4),
        pigment_coefficients=(float(coef[0]), float(coef[1])),
    )


def fill_from_surroundings(
    image: FloatImage, mask: BoolImage, px_per_mm: float, sigma_mm: float
) -> FloatImage:
    """Replace masked pixels by a Gaussian-weighted mean of the unmasked ones nearby."""
    s = max(0.5, sigma_mm * px_per_mm)
    keep = (~mask).astype(np.float32)
    num = cv2.GaussianBlur(np.where(mask, 0, image).astype(np.float32), (0, 0), s)
    den = cv2.GaussianBlur(keep, (0, 0), s)
    out = image.copy()
    out[mask] = (num / np.maximum(den, 1e-3))[mask]
    return out


def _hessian_eigen(image: FloatImage, sigma_px: float) -> tuple[FloatImage, FloatImage]:
    """Eigenvalues (larger, smaller) of the Gaussian-smoothed Hessian."""
    g = cv2.GaussianBlur(image, (0, 0), sigma_px)
    dxx = cv2.Sobel(g, cv2.CV_32F, 2, 0, ksize=3, scale=0.25)
    dyy = cv2.Sobel(g, cv2.CV_32F, 0, 2, ksize=3, scale=0.25)
    dxy = cv2.Sobel(g, cv2.CV_32F, 1, 1, ksize=3, scale=0.25)
    tmp = np.sqrt((dxx - dyy) ** 2 + 4 * dxy * dxy)
    return 0.5 * (dxx + dyy + tmp), 0.5 * (dxx + dyy - tmp)


def dark_ridges(shading: FloatImage, valid: BoolImage, z: float = 4.0) -> BoolImage:
    """Thin dark lines: large curvature across, little along (Hessian at 1 px)."""
    l1, l2 = _hessian_eigen(shading, 1.0)
    n = robust_sigma(l1[valid][::3]) if valid.any() else 0.0
    if n <= 0:
        return np.zeros(shading.shape, bool)
    return np.asarray((l1 > z * n) & (np.abs(l2) < 0.5 * l1) & (shading < 0) & valid)


def hair_mask(
    shading: FloatImage,
    valid: BoolImage,
    px_per_mm: float,
    *,
    ridges: BoolImage | None = None,
) -> BoolImage:
    """Strands of hair: long thin dark lines, straight or curled.

    Each connected dark ridge is a strand when it is

    * long and straight-ish: at least 3 mm long, on average at most 0.35 mm
      wide and at least 4 times longer than wide (principal axes); or
    * long, thin and even, however curled: a skeleton at least 3 mm long,
      at most 0.25 mm wide (read from the distance to the dark region's edge
      along the skeleton; a hair is under 0.1 mm thick, blur makes it look
      wider) with a width that varies by at most 35 %, or at most 0.45 mm
      wide (coarse photos blur more) and varying by at most 18 %.

    The dark wall of a pit, with the shadow it casts, is shorter than its
    scar, wider, and tapers toward its ends.

    Returns
    -------
    ndarray of shape (h, w) and dtype bool
        Hair pixels, grown by one pixel.
    """
    w = px_per_mm
    line = dark_ridges(shading, valid) if ridges is None else ridges
    nl, lab, st, _ = cv2.connectedComponentsWithStats(line.astype(np.uint8), connectivity=8)
    if nl <= 1:
        return np.zeros(shading.shape, bool)
    smooth = cv2.GaussianBlur(shading, (0, 0), 0.7)
    noise = robust_sigma(smooth[valid][::3]) if valid.any() else 0.0
    dark = (smooth < -2.5 * noise).astype(np.uint8)
    dist = cv2.distanceTransform(dark, cv2.DIST_L2, 3)
    keep = np.zeros(nl, bool)
    for i in range(1, nl):
        x, y, bw, bh, area = (int(v) for v in st[i])
        length_mm = math.hypot(bw, bh) / w
        if length_mm < 3.0:
            continue
        m = lab[y : y + bh, x : x + bw] == i
        ys, xs = np.nonzero(m)
        ev = np.linalg.eigvalsh(np.cov(np.stack([xs, ys]).astype(np.float64)) + 1e-9 * np.eye(2))
        if (area / w**2) / length_mm <= 0.35 and math.sqrt(ev[1] / max(ev[0], 1e-9)) >= 4.0:
            keep[i] = True
            continue
        skeleton = skeletonize(m)
        if skeleton.sum() / w < 3.0:
            continue
        widths = 2.0 * dist[y : y + bh, x : x + bw][skeleton] / w
        widths = widths[widths > 0]
        if widths.size < 5:
            continue
        width = float(np.median(widths))
        variation = float(np.std(widths) / np.mean(widths))
        keep[i] = (width <= 0.25 and variation <= 0.35) or (width <= 0.45 and variation <= 0.18)
    mask = keep[lab]
    return np.asarray(cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)


def dark_features(
    field: ShadingField,
    z: float = 3.0,
    min_area_mm2: float = 0.05,
    *,
    smoothing_mm: float = 0.1,
    max_area_mm2: float = float("inf"),
) -> list[tuple[float, float, float, float, float]]:
    """Compact dark features of the shading: candidate walls and shadows of pits.

    Parameters
    ----------
    field : ShadingField
    z : float
        Darker than ``z`` times the noise of the smoothed shading.
    min_area_mm2, max_area_mm2 : float
        Size limits.
    smoothing_mm : float
        Gaussian smoothing first: 0.1 mm for walls and shadows of small pits,
        about 0.4 mm for the faint dark half of a shallow rolling scar.

    Returns
    -------
    list of tuple
        ``(cx, cy, radius_mm, area_mm2, darkness_mm2)`` per feature: centroid
        in working px, half the larger bounding-box side in mm, area and the
        integrated darkness (sum of -shading times pixel area).
    """
    w = field.px_per_mm
    smooth = cv2.GaussianBlur(field.shading, (0, 0), max(0.3, smoothing_mm * w))
    noise = field.noise
    if smoothing_mm > 0.1:
        noise = max(1e-4, robust_sigma(smooth[field.valid][::3]))
    dark = (smooth < -z * noise) & field.valid
    nl, lab, st, cen = cv2.connectedComponentsWithStats(dark.astype(np.uint8), connectivity=8)
    out = []
    for i in range(1, nl):
        x, y, bw, bh, area = (int(v) for v in st[i])
        a_mm2 = area / w**2
        if a_mm2 < min_area_mm2 or a_mm2 > max_area_mm2:
            continue
        m = lab[y : y + bh, x : x + bw] == i
        darkness = float(-smooth[y : y + bh, x : x + bw][m].sum()) / w**2
        out.append((float(cen[i][0]), float(cen[i][1]), max(bw, bh) / 2 / w, a_mm2, darkness))
    return out


def rotation_to_light(
    shape: tuple[int, int], azimuth_deg: float
) -> tuple[NDArray[np.float64], tuple[int, int]]:
    """Affine map turning the image so that the light comes from +x.

    Returns
    -------
    M : ndarray of shape (2, 3)
        Maps working ``(x, y)`` to rotated ``(x, y)``; the light's direction
        ``(cos az, sin az)`` becomes ``(1, 0)``.
    size : tuple of int
        ``(width, height)`` of the rotated canvas holding the whole image.
    """
    h, w = shape
    M = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), azimuth_deg, 1.0)
    c, s = abs(math.cos(math.radians(azimuth_deg))), abs(math.sin(math.radians(azimuth_deg)))
    W2 = math.ceil(w * c + h * s) + 2
    H2 = math.ceil(w * s + h * c) + 2
    M[0, 2] += (W2 - w) / 2
    M[1, 2] += (H2 - h) / 2
    return M.astype(np.float64), (W2, H2)


def warp(
    image: NDArray[np.generic],
    M: NDArray[np.float64],
    size: tuple[int, int],
    *,
    nearest: bool = False,
) -> NDArray[np.generic]:
    """Apply an affine map (see :func:`rotation_to_light`) with zero borders."""
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return np.asarray(
        cv2.warpAffine(image, M, size, flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    )


def integrated_relief(
    shading_r: FloatImage,
    valid_r: NDArray[np.floating],
    px_per_mm: float,
    *,
    leak_mm: float = 6.0,
) -> FloatImage:
    """Relative height from shading, integrated along the light's direction.

    Under a light from +x at small slopes the log-shading is about
    ``-k * dh/dx`` (``k`` depends on the elevation and the ambient share), so
    the height up to that factor is minus the shading integrated along x.
    The integral is taken from both sides with a leak over ``leak_mm`` (an
    unbounded integral drifts with the noise), i.e. in Fourier terms
    ``H = S * i 2 pi f / ((2 pi f)^2 + 1/leak^2)`` row by row.

    Parameters
    ----------
    shading_r : ndarray of shape (H, W) and dtype float32
        Shading rotated so that the light comes from +x (0 off the skin).
    valid_r : ndarray of shape (H, W)
        Weight of analysable skin (1) in the same frame.
    px_per_mm : float
        Resolution of ``shading_r``.
    leak_mm : float
        Length over which the integral forgets (larger than the widest scar).

    Returns
    -------
    ndarray of shape (H, W) and dtype float32
        Relative height in mm per unit of ``1/k`` (negative in depressions).
    """
    s = np.where(np.asarray(valid_r) > 0.5, shading_r, 0.0).astype(np.float32)
    n = s.shape[1]
    pad = 1 << max(1, math.ceil(math.log2(n + 2 * leak_mm * px_per_mm)))
    S = np.fft.rfft(s, n=pad, axis=1)
    f = np.fft.rfftfreq(pad) * px_per_mm * 2.0 * math.pi  # radians per mm
    transfer = (1j * f / (f * f + 1.0 / leak_mm**2)).astype(np.complex64)
    h = np.fft.irfft(S * transfer, n=pad, axis=1)[:, :n]
    return np.asarray(h, np.float32)


def relief_depressions(
    relief: FloatImage,
    valid_r: NDArray[np.floating],
    px_per_mm: float,
    radii_mm: tuple[float, ...] = (1.5, 2.5, 4.0),
    z: float = 3.0,
    max_count: int = 8,
) -> list[tuple[float, float, float, float]]:
    """Broad depressions of a relief map: seeds for shallow (rolling) scars.

    Parameters
    ----------
    relief : ndarray of shape (H, W) and dtype float32
        From :func:`integrated_relief`.
    valid_r : ndarray of shape (H, W)
        Analysable skin.
    px_per_mm : float
        Resolution.
    radii_mm : tuple of float
        Scar radii looked for; the relief is smoothed over half of each.
    z : float
        Depth below the surroundings, in units of the smoothed relief's noise.
    max_count : int
        At most this many seeds, the most significant first.

    Returns
    -------
    list of tuple
        ``(x, y, radius_mm, significance)`` in the relief's pixels.
    """
    ok = np.asarray(valid_r) > 0.5
    if int(ok.sum()) < 100:
        return []
    found: list[tuple[float, float, float, float]] = []
    for radius in radii_mm:
        sigma = max(1.0, 0.5 * radius * px_per_mm)
        smooth = cv2.GaussianBlur(relief, (0, 0), sigma)
        # Depth against the ring around the scar: a band-pass (difference of Gaussians).
        around = cv2.GaussianBlur(relief, (0, 0), 3.0 * sigma)
        dog = smooth - around
        noise = robust_sigma(dog[ok][::7])
        if noise <= 0:
            continue
        k = 2 * round(radius * px_per_mm) + 1
        minima = (dog <= cv2.erode(dog, np.ones((k, k), np.uint8))) & (dog < -z * noise)
        inner = cv2.erode(ok.astype(np.uint8), np.ones((k, k), np.uint8)) > 0
        ys, xs = np.nonzero(minima & inner)
        for xi, yi in zip(xs.tolist(), ys.tolist(), strict=True):
            found.append((float(xi), float(yi), radius, float(-dog[yi, xi] / noise)))
    found.sort(key=lambda t: -t[3])
    kept: list[tuple[float, float, float, float]] = []
    for xf, yf, r, sig in found:
        if all(math.hypot(xf - x2, yf - y2) > max(r, r2) * px_per_mm for x2, y2, r2, _ in kept):
            kept.append((xf, yf, r, sig))
        if len(kept) >= max_count:
            break
    return kept
