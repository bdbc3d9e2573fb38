"""Photos for the report: reduced to print resolution, warped, with scar outlines drawn.

Outlines are drawn *after* reduction to print resolution, with anti-aliased lines a
fixed fraction of a millimetre wide on paper, so they stay crisp and visible; drawing
at full resolution and then reducing would thin them to a blur. Warping is done
from a pre-reduced photo straight into the baseline's print-resolution frame, so a
full-resolution warp is never computed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from scarview.core.types import Scar
from scarview.report.data import PRINT_MAX_SIDE_PX
from scarview.report.style import TYPE_COLORS_RGB

#: Outline width in print pixels (about 0.3 mm at the side-by-side size).
OUTLINE_PX: Final = 2
#: Width of the dark halo under each outline, print pixels.
HALO_PX: Final = 4
_HALO_ALPHA: Final = 0.45
#: Fill where a warped follow-up photo has no pixels (a light neutral grey, calmer in
#: print than black).
NO_PIXELS_RGB: Final = (232, 235, 239)


def scale_matrix(scale: float) -> NDArray[np.float64]:
    """Pixel-centre-consistent scaling: maps full-resolution ``(x, y, 1)`` to reduced pixels.

    Parameters
    ----------
    scale : float
        Reduced size over full size (``0 < scale``).

    Returns
    -------
    ndarray of shape (3, 3) and dtype float64
        ``x' = (x + 0.5) * scale - 0.5`` (and likewise ``y``).
    """
    offset = 0.5 * scale - 0.5
    return np.array([[scale, 0.0, offset], [0.0, scale, offset], [0.0, 0.0, 1.0]])


def print_scale(shape: Sequence[int], max_side_px: int = PRINT_MAX_SIDE_PX) -> float:
    """Reduction factor that brings an image of ``shape`` (rows, cols, ...) to print size (<= 1)."""
    return min(1.0, max_side_px / max(int(shape[0]), int(shape[1])))


def _reduce(rgb: NDArray[np.uint8], scale: float) -> NDArray[np.uint8]:
    if scale >= 1.0:
        return np.ascontiguousarray(rgb)
    rows, cols = rgb.shape[:2]
    size = (max(1, round(cols * scale)), max(1, round(rows * scale)))
    out: NDArray[np.uint8] = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    return out


def _apply(H: NDArray[np.float64], xy: NDArray[np.float64]) -> NDArray[np.float64]:
    pts = np.column_stack([xy, np.ones(len(xy))]) @ H.T
    w = pts[:, 2:3]
    w = np.where(np.abs(w) < 1e-12, 1e-12, w)
    out: NDArray[np.float64] = pts[:, :2] / w
    return out


def draw_outlines(
    rgb: NDArray[np.uint8],
    scars: Sequence[Scar],
    to_image: ArrayLike,
) -> NDArray[np.uint8]:
    """Draw each scar's outline in its type's colour over a dark halo.

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
        The image to draw on (not modified).
    scars : sequence of Scar
        Their ``contour`` is in the photo's full-resolution pixels ``(x, y)``.
    to_image : array_like of shape (3, 3)
        Maps full-resolution photo pixels onto ``rgb``'s pixels.

    Returns
    -------
    ndarray of shape (H, W, 3) and dtype uint8
        A copy with the outlines.
    """
    H = np.asarray(to_image, dtype=np.float64)
    polygons: list[tuple[str, NDArray[np.int32]]] = []
    for scar in scars:
        contour = np.asarray(scar.contour, dtype=np.float64).reshape(-1, 2)
        if len(contour) < 2:
            continue
        fixed = np.round(_apply(H, contour) * 16.0).astype(np.int32).reshape(-1, 1, 2)
        polygons.append((scar.type, fixed))
    canvas = np.ascontiguousarray(rgb).copy()
    if not polygons:
        return canvas
    halo = canvas.copy()
    for _, pts in polygons:
        cv2.polylines(halo, [pts], True, (0, 0, 0), HALO_PX, cv2.LINE_AA, 4)
    canvas = cv2.addWeighted(halo, _HALO_ALPHA, canvas, 1.0 - _HALO_ALPHA, 0.0)
    for scar_type, pts in polygons:
        color = TYPE_COLORS_RGB.get(scar_type, (255, 255, 255))
        cv2.polylines(canvas, [pts], True, color, OUTLINE_PX, cv2.LINE_AA, 4)
    return np.ascontiguousarray(canvas, dtype=np.uint8)


def print_overlay(
    photo_rgb: NDArray[np.uint8],
    scars: Sequence[Scar],
    *,
    max_side_px: int = PRINT_MAX_SIDE_PX,
) -> NDArray[np.uint8]:
    """The photo reduced to print resolution with its scars outlined.

    Parameters
    ----------
    photo_rgb : ndarray of shape (H, W, 3) and dtype uint8
        The full-resolution photo (RGB).
    scars : sequence of Scar
        Scars found in this photo (contours in its full-resolution pixels).
    max_side_px : int
        Longest side of the result, pixels.

    Returns
    -------
    ndarray of shape (h, w, 3) and dtype uint8
        ``h / H == w / W <= 1``.
    """
    scale = print_scale(photo_rgb.shape, max_side_px)
    reduced = _reduce(photo_rgb, scale)
    return draw_outlines(reduced, scars, scale_matrix(scale))


def print_overlay_aligned(
    after_rgb: NDArray[np.uint8],
    scars: Sequence[Scar],
    homography: ArrayLike,
    before_shape: Sequence[int],
    *,
    max_side_px: int = PRINT_MAX_SIDE_PX,
) -> NDArray[np.uint8]:
    """A follow-up photo warped into the baseline's frame at print resolution, outlined.

    Parameters
    ----------
    after_rgb : ndarray of shape (H_a, W_a, 3) and dtype uint8
        The follow-up (AFTER) photo at full resolution.
    scars : sequence of Scar
        Scars found in the follow-up (contours in its full-resolution pixels).
    homography : array_like of shape (3, 3)
        Maps AFTER full-resolution pixels onto BEFORE (baseline) full-resolution pixels.
    before_shape : sequence of int
        The baseline photo's full-resolution ``(rows, cols)``.
    max_side_px : int
        Longest side of the result, pixels.

    Returns
    -------
    ndarray of shape (h, w, 3) and dtype uint8
        The same shape as ``print_overlay(baseline, ...)``; :data:`NO_PIXELS_RGB`
        where the follow-up photo has no pixels.
    """
    H = np.asarray(homography, dtype=np.float64)
    s_before = print_scale(before_shape, max_side_px)
    rows = max(1, round(int(before_shape[0]) * s_before))
    cols = max(1, round(int(before_shape[1]) * s_before))
    # Reduce AFTER to about the same pixel size first, so the warp does not alias.
    det = abs(float(np.linalg.det(H[:2, :2]))) or 1.0
    s_after = min(1.0, s_before * float(np.sqrt(det)))
    reduced = _reduce(after_rgb, s_after)
    ry, rx = reduced.shape[:2]
    s_ax = rx / after_rgb.shape[1]
    s_ay = ry / after_rgb.shape[0]
    from_reduced = np.array(
        [[1 / s_ax, 0.0, 0.5 / s_ax - 0.5], [0.0, 1 / s_ay, 0.5 / s_ay - 0.5], [0.0, 0.0, 1.0]]
    )
    to_print = scale_matrix(s_before) @ H
    warped = cv2.warpPerspective(
        reduced,
        to_print @ from_reduced,
        (cols, rows),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=NO_PIXELS_RGB,
    )
    return draw_outlines(np.asarray(warped, dtype=np.uint8), scars, to_print)


__all__ = [
    "HALO_PX",
    "NO_PIXELS_RGB",
    "OUTLINE_PX",
    "draw_outlines",
    "print_overlay",
    "print_overlay_aligned",
    "print_scale",
    "scale_matrix",
]
