"""Scar outlines drawn over a photo, coloured by type (for ``--overlay-out``, the GUI and reports).

The three colours are far from skin tones and from one another for the common
forms of colour blindness (magenta, amber and a cyan-leaning blue differ in
lightness as well as hue), and stay legible in print.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview.core.types import ScarMap

__all__ = ["ROI_COLOR_RGB", "TYPE_COLORS_RGB", "draw_overlay"]

#: Outline colour of each scar type, RGB 0-255 (shared by the GUI and the reports).
TYPE_COLORS_RGB: Final[dict[str, tuple[int, int, int]]] = {
    "icepick": (214, 39, 160),
    "boxcar": (240, 160, 0),
    "rolling": (0, 140, 220),
}

#: Colour of the region-of-interest outline.
ROI_COLOR_RGB: Final[tuple[int, int, int]] = (255, 255, 255)


def draw_overlay(
    rgb: NDArray[np.uint8],
    scarmap: ScarMap,
    *,
    roi: NDArray[np.float64] | None = None,
    line_px: int | None = None,
) -> NDArray[np.uint8]:
    """Draw every scar's outline in its type's colour on a copy of the photo.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
        The photo the scar map was measured on (RGB).
    scarmap : ScarMap
        Its analysis; contours are in the photo's pixels.
    roi : ndarray of shape (N, 2) and dtype float64, optional
        Region of interest ``(x, y)`` to outline in white (thinner).
    line_px : int, optional
        Outline width in pixels; by default about 1/400 of the photo's
        shorter side (at least 1), so outlines read at any size.

    Returns
    -------
    ndarray of shape (H, W, 3) and dtype uint8
        A new image; the input is not modified.

    Raises
    ------
    ValueError
        If ``rgb`` is not (H, W, 3) uint8 or does not match ``scarmap.labels``.
    """
    img = np.asarray(rgb)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"rgb must be an (H, W, 3) uint8 array, got {img.shape} {img.dtype}.")
    if scarmap.labels.shape != img.shape[:2]:
        raise ValueError(
            f"The scar map was measured on a {scarmap.labels.shape[1]}x{scarmap.labels.shape[0]} "
            f"photo, not on this {img.shape[1]}x{img.shape[0]} one."
        )
    out = np.ascontiguousarray(img.copy())
    width = line_px if line_px is not None else max(1, round(min(img.shape[:2]) / 400))
    width = max(1, int(width))
    shift = 4
    if roi is not None and len(roi) >= 3:
        pts = np.round(np.asarray(roi, np.float64) * (1 << shift)).astype(np.int32)
        cv2.polylines(out, [pts], True, ROI_COLOR_RGB, max(1, width // 2), cv2.LINE_AA, shift)
    for scar in scarmap.scars:
        if scar.contour is None or len(scar.contour) < 2:
            continue
        color = TYPE_COLORS_RGB.get(scar.type, (255, 255, 255))
        pts = np.round((np.asarray(scar.contour, np.float64) + 0.0) * (1 << shift)).astype(np.int32)
        cv2.polylines(out, [pts], True, color, width, cv2.LINE_AA, shift)
    return out
