"""Exposure and white-balance normalisation of an aligned AFTER photo to BEFORE.

Photos of one patient taken weeks apart differ in exposure and white balance.
For display and for difference images, AFTER (already warped into BEFORE's
frame, see :func:`scarview.core.align.warp_to_before`) is brought to BEFORE's
exposure and white balance by one gain per colour channel in linear light,
estimated over skin only: the median of the per-pixel log ratios over pixels
that are usable in both photos (not excluded by the caller, e.g. the scale
marker and the scars; not saturated; not very dark; inside AFTER's footprint).
The median ignores the scars' changes, hair and residual misalignment.

This is for looking at photos. Measurements never use normalised pixels: the
scar analysis works on shading relative to its surroundings, which no gain
changes.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

__all__ = [
    "difference_image",
    "estimate_gains",
    "linear_to_srgb",
    "normalize_to",
    "srgb_to_linear",
    "usable_skin",
]

#: A channel at or above this sRGB value is treated as clipped.
SATURATED_U8 = 250
#: Pixels darker than this linear luminance (about sRGB 20) are too noisy to compare.
DARK_LINEAR = 0.007
#: Diverging palette of :func:`difference_image` (ColorBrewer RdBu ends and centre), RGB.
_DARKER_RGB = np.array([33.0, 102.0, 172.0])
_SAME_RGB = np.array([247.0, 247.0, 247.0])
_BRIGHTER_RGB = np.array([178.0, 24.0, 43.0])
_NO_DATA_RGB = np.array([96.0, 96.0, 96.0])
_LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


def _srgb_lut() -> NDArray[np.float32]:
    c = np.arange(256, dtype=np.float64) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return lin.astype(np.float32)


_TO_LINEAR = _srgb_lut()


def srgb_to_linear(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Decode 8-bit sRGB to linear light.

    Parameters
    ----------
    rgb : ndarray of dtype uint8, any shape

    Returns
    -------
    ndarray of the same shape and dtype float32
        Linear light, 0 to 1.
    """
    return np.asarray(_TO_LINEAR[rgb], dtype=np.float32)


def linear_to_srgb(lin: NDArray[np.floating]) -> NDArray[np.uint8]:
    """Encode linear light (clipped to 0..1) as 8-bit sRGB.

    Parameters
    ----------
    lin : ndarray of floats, any shape

    Returns
    -------
    ndarray of the same shape and dtype uint8
    """
    c = np.clip(np.asarray(lin, dtype=np.float32), 0.0, 1.0)
    s = np.where(c <= 0.0031308, c * 12.92, 1.055 * np.power(c, 1 / 2.4) - 0.055)
    return np.asarray(np.clip(np.round(s * 255.0), 0, 255), dtype=np.uint8)


def usable_skin(
    rgb: NDArray[np.uint8], exclude: NDArray[np.bool_] | None = None
) -> NDArray[np.bool_]:
    """Pixels whose colour can be trusted: not clipped, not very dark, not excluded.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
    exclude : ndarray of shape (H, W) and dtype bool, optional
        True where pixels must be left out (marker, scars...).

    Returns
    -------
    ndarray of shape (H, W) and dtype bool
    """
    lum = srgb_to_linear(rgb) @ _LUMA
    ok = (rgb.max(axis=2) < SATURATED_U8) & (lum > DARK_LINEAR)
    if exclude is not None:
        ok &= ~exclude
    return np.asarray(ok, dtype=bool)


def estimate_gains(
    before_rgb: NDArray[np.uint8],
    after_aligned_rgb: NDArray[np.uint8],
    *,
    skin_mask: NDArray[np.bool_] | None = None,
    blur_px: float = 2.0,
) -> NDArray[np.float64]:
    """Per-channel linear-light gains that bring AFTER to BEFORE's exposure and white balance.

    Parameters
    ----------
    before_rgb : ndarray of shape (H, W, 3) and dtype uint8
    after_aligned_rgb : ndarray of shape (H, W, 3) and dtype uint8
        AFTER warped into BEFORE's frame (0 where it has no pixels).
    skin_mask : ndarray of shape (H, W) and dtype bool, optional
        True on skin that may be compared (BEFORE's frame); by default every
        pixel that is usable in both photos.
    blur_px : float
        Gaussian sigma applied to both photos first (noise, residual misalignment).

    Returns
    -------
    ndarray of shape (3,) and dtype float64
        ``gain[c]`` such that ``gain[c] * after_linear[..., c]`` matches BEFORE.

    Raises
    ------
    ValueError
        When the shapes differ or fewer than 100 pixels are usable in both photos.
    """
    if before_rgb.shape != after_aligned_rgb.shape or before_rgb.ndim != 3:
        raise ValueError(
            "BEFORE and the aligned AFTER must be RGB images of the same size "
            f"({before_rgb.shape} and {after_aligned_rgb.shape} given)."
        )
    use = usable_skin(before_rgb) & usable_skin(after_aligned_rgb)
    if skin_mask is not None:
        use &= skin_mask
    # Stay away from the edge of AFTER's footprint, where the warp blends in black.
    use = cv2.erode(use.view(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    if int(use.sum()) < 100:
        raise ValueError("Too little skin is visible in both photos to compare their colour.")
    b = srgb_to_linear(before_rgb)
    a = srgb_to_linear(after_aligned_rgb)
    if blur_px > 0:
        b = cv2.GaussianBlur(b, (0, 0), blur_px)
        a = cv2.GaussianBlur(a, (0, 0), blur_px)
    eps = 1e-4
    ratios = np.log(b[use] + eps) - np.log(a[use] + eps)  # (N, 3)
    return np.asarray(np.exp(np.median(ratios, axis=0)), dtype=np.float64)


def normalize_to(
    before_rgb: NDArray[np.uint8],
    after_aligned_rgb: NDArray[np.uint8],
    *,
    skin_mask: NDArray[np.bool_] | None = None,
) -> NDArray[np.uint8]:
    """AFTER with BEFORE's exposure and white balance, for display and difference images.

    Parameters
    ----------
    before_rgb : ndarray of shape (H, W, 3) and dtype uint8
    after_aligned_rgb : ndarray of shape (H, W, 3) and dtype uint8
        AFTER warped into BEFORE's frame (0 where it has no pixels).
    skin_mask : ndarray of shape (H, W) and dtype bool, optional
        True on skin that may guide the estimate (leave out the marker and the
        scars); see :func:`estimate_gains`.

    Returns
    -------
    ndarray of shape (H, W, 3) and dtype uint8
        The corrected AFTER, sRGB. Pixels outside AFTER's footprint stay 0.
    """
    gains = estimate_gains(before_rgb, after_aligned_rgb, skin_mask=skin_mask)
    lin = srgb_to_linear(after_aligned_rgb) * gains.astype(np.float32)
    out = linear_to_srgb(lin)
    out[after_aligned_rgb.max(axis=2) == 0] = 0
    return out


def difference_image(
    before_rgb: NDArray[np.uint8],
    after_rgb: NDArray[np.uint8],
    *,
    valid: NDArray[np.bool_] | None = None,
    full_scale: float = 0.5,
    blur_px: float = 1.0,
) -> NDArray[np.uint8]:
    """Signed luminance change from BEFORE to AFTER, as a picture.

    The change is the log ratio of linear luminance, ``log(L_after / L_before)``
    (0.1 is about 10 % brighter), coloured on a diverging palette: blue where
    AFTER is darker, white where nothing changed, red where AFTER is brighter.

    Parameters
    ----------
    before_rgb, after_rgb : ndarray of shape (H, W, 3) and dtype uint8
        BEFORE and AFTER in the same frame, ideally AFTER aligned and normalised
        (:func:`normalize_to`).
    valid : ndarray of shape (H, W) and dtype bool, optional
        Where both photos have pixels; elsewhere the picture is grey. By default,
        where AFTER is not black.
    full_scale : float
        The log ratio drawn in the palette's full colour (0.5 is about 65 %).
    blur_px : float
        Gaussian sigma applied first, to keep sensor noise out of the picture.

    Returns
    -------
    ndarray of shape (H, W, 3) and dtype uint8
        RGB picture.
    """
    if before_rgb.shape != after_rgb.shape or before_rgb.ndim != 3:
        raise ValueError(
            "The two photos must be RGB images of the same size "
            f"({before_rgb.shape} and {after_rgb.shape} given)."
        )
    if full_scale <= 0:
        raise ValueError("full_scale must be positive.")
    lb = srgb_to_linear(before_rgb) @ _LUMA
    la = srgb_to_linear(after_rgb) @ _LUMA
    if blur_px > 0:
        lb = cv2.GaussianBlur(lb, (0, 0), blur_px)
        la = cv2.GaussianBlur(la, (0, 0), blur_px)
    eps = 1e-3
    d = np.clip((np.log(la + eps) - np.log(lb + eps)) / full_scale, -1.0, 1.0)[..., None]
    out = np.where(
        d < 0,
        _SAME_RGB + (_SAME_RGB - _DARKER_RGB) * d,
        _SAME_RGB + (_BRIGHTER_RGB - _SAME_RGB) * d,
    )
    if valid is None:
        valid = after_rgb.max(axis=2) > 0
    out[~valid] = _NO_DATA_RGB
    return np.asarray(np.round(out), dtype=np.uint8)
