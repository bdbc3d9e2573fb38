"""Display pyramids: a photo decoded once, kept as halving levels of paint-ready QImages.

Painting picks the smallest level that still has at least as many pixels as
the screen shows, and draws only the visible part of it, so a fit-to-window
repaint of a 12-megapixel photo costs about as much as one of a 1-megapixel
photo, and zooming in draws a window-sized crop of the full-resolution level.
Pyramids are built on worker threads (``QImage`` is thread-safe; ``QPixmap``
is not), in the ``Format_RGB32`` the raster engine blits without converting.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray
from PySide6.QtGui import QImage

from scarview.core.types import CancelToken, check_cancel
from scarview.gui.qimage import array_to_qimage

#: The coarsest level's longer side is at most this many pixels.
MIN_LEVEL_SIDE_PX = 384


@dataclass(frozen=True, eq=False)
class ImagePyramid:
    """Halving levels of one image.

    Attributes
    ----------
    levels : tuple of QImage
        Halving levels, finest first (area-averaged). ``levels[0]`` is full
        resolution, or smaller for a picture computed at a display resolution.
    width, height : int
        Size in pixels of the frame the pyramid covers (full resolution).
    """

    levels: tuple[QImage, ...]
    width: int
    height: int

    def level_for(self, scale: float) -> tuple[QImage, float]:
        """The level to paint at ``scale`` device pixels per full-resolution pixel.

        Returns
        -------
        (QImage, float)
            The level, and its size relative to full resolution (1, 1/2, 1/4...).
            The level never has fewer pixels than the screen area it fills.
        """
        chosen = self.levels[0]
        for level in self.levels:  # finest first
            if level.width() / self.width + 1e-9 < scale:
                break
            chosen = level
        return chosen, chosen.width() / self.width

    @property
    def nbytes(self) -> int:
        """Memory held by all levels, in bytes."""
        return sum(level.sizeInBytes() for level in self.levels)


def build_pyramid(
    rgb: NDArray[np.uint8],
    *,
    frame_size: tuple[int, int] | None = None,
    cancel: CancelToken | None = None,
) -> ImagePyramid:
    """Build the display pyramid of an RGB image (call on a worker thread).

    Parameters
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
        RGB pixels, or (H, W) grey.
    frame_size : (int, int), optional
        ``(width, height)`` of the frame the image covers when it was computed
        at a lower resolution (default: the image's own size).
    cancel : CancelToken, optional
        Checked between levels.

    Returns
    -------
    ImagePyramid
    """
    height, width = int(rgb.shape[0]), int(rgb.shape[1])
    if frame_size is not None:
        width, height = int(frame_size[0]), int(frame_size[1])
    levels = [array_to_qimage(rgb, fast=True)]
    current = rgb
    while max(current.shape[0], current.shape[1]) > MIN_LEVEL_SIDE_PX:
        check_cancel(cancel)
        size = (max(1, current.shape[1] // 2), max(1, current.shape[0] // 2))
        current = cv2.resize(current, size, interpolation=cv2.INTER_AREA)
        levels.append(array_to_qimage(current, fast=True))
    return ImagePyramid(tuple(levels), width, height)
