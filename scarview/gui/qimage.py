"""The one place numpy arrays become Qt images (and back, for tests and screenshots).

Every other GUI module calls :func:`array_to_qimage`; none builds a ``QImage``
from a buffer itself. The function makes the array C-contiguous, passes
``bytesPerLine`` explicitly (so row padding and crops never shear the picture)
and returns an image that owns its pixels (a deep copy), so the array may be
freed or changed afterwards. ``QImage`` is safe to build on a worker thread.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from PySide6.QtGui import QImage

__all__ = ["array_to_qimage", "qimage_to_array"]


def array_to_qimage(array: NDArray[np.uint8], *, fast: bool = False) -> QImage:
    """Return a deep-copied ``QImage`` of an 8-bit array.

    Parameters
    ----------
    array : ndarray of shape (H, W), (H, W, 3) or (H, W, 4) and dtype uint8
        Grey levels, RGB or RGBA (straight, not premultiplied, alpha). Any
        strides are accepted (crops, flips, channel views).
    fast : bool
        Convert RGB to ``Format_RGB32`` (and RGBA to
        ``Format_ARGB32_Premultiplied``), the formats the raster paint engine
        draws without converting at every paint. Use it for anything painted
        repeatedly (photos, pyramids); it costs one conversion here.

    Returns
    -------
    QImage
        ``Format_Grayscale8``, ``Format_RGB888`` or ``Format_RGBA8888``
        (``Format_RGB32`` / ``Format_ARGB32_Premultiplied`` when ``fast``),
        ``W`` x ``H`` pixels, owning its own copy of the pixels.

    Raises
    ------
    ValueError
        If the array is not 8-bit, or not 2-D grey, RGB or RGBA.
    """
    data = np.asarray(array)
    if data.dtype != np.uint8:
        raise ValueError(f"array_to_qimage needs uint8 pixels, got {data.dtype}.")
    if data.ndim == 2:
        fmt = QImage.Format.Format_Grayscale8
    elif data.ndim == 3 and data.shape[2] == 3:
        fmt = QImage.Format.Format_RGB888
    elif data.ndim == 3 and data.shape[2] == 4:
        fmt = QImage.Format.Format_RGBA8888
    else:
        raise ValueError(
            f"array_to_qimage needs an (H, W), (H, W, 3) or (H, W, 4) array, got {data.shape}."
        )
    height, width = int(data.shape[0]), int(data.shape[1])
    if height == 0 or width == 0:
        return QImage()
    data = np.ascontiguousarray(data)
    bytes_per_line = int(data.strides[0])
    # The QImage only borrows ``data`` here; ``copy()`` detaches it before ``data`` can go.
    borrowed = QImage(data.data, width, height, bytes_per_line, fmt)
    if fast and fmt == QImage.Format.Format_RGB888:
        image = borrowed.convertToFormat(QImage.Format.Format_RGB32)
    elif fast and fmt == QImage.Format.Format_RGBA8888:
        image = borrowed.convertToFormat(QImage.Format.Format_ARGB32_Premultiplied)
    else:
        image = borrowed.copy()
    del borrowed
    return image


def qimage_to_array(image: QImage) -> NDArray[np.uint8]:
    """Return the pixels of a ``QImage`` (for example a widget's ``grab()``) as RGB.

    Parameters
    ----------
    image : QImage
        Any format; it is converted to RGB888 first.

    Returns
    -------
    ndarray of shape (H, W, 3) and dtype uint8
        RGB, a copy (independent of the image).
    """
    if image.isNull():
        return np.zeros((0, 0, 3), np.uint8)
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = rgb.width(), rgb.height()
    stride = rgb.bytesPerLine()
    buffer = np.frombuffer(rgb.constBits(), dtype=np.uint8, count=stride * height)
    return buffer.reshape(height, stride)[:, : width * 3].reshape(height, width, 3).copy()
