"""The one numpy -> QImage function: strides, crops, channels, ownership."""

from __future__ import annotations

import gc

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtGui import QImage

from scarview.gui.qimage import array_to_qimage, qimage_to_array


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20260105)


@pytest.mark.parametrize("fast", [False, True])
def test_non_contiguous_rgb_crop_round_trips(rng: np.random.Generator, fast: bool) -> None:
    full = rng.integers(0, 256, (97, 131, 3), dtype=np.uint8)
    crop = full[5:90:3, 7:120:2, :]  # strided rows and columns, odd width
    assert not crop.flags.c_contiguous
    image = array_to_qimage(crop, fast=fast)
    assert (image.width(), image.height()) == (crop.shape[1], crop.shape[0])
    np.testing.assert_array_equal(qimage_to_array(image), crop)


def test_grey_flipped_and_channel_views(rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, (40, 33, 3), dtype=np.uint8)
    grey = rgb[::-1, :, 1]  # negative row stride, one channel of three
    image = array_to_qimage(grey)
    assert image.format() == QImage.Format.Format_Grayscale8
    np.testing.assert_array_equal(qimage_to_array(image)[..., 0], grey)
    bgr_view = rgb[:, :, ::-1]  # negative channel stride
    np.testing.assert_array_equal(qimage_to_array(array_to_qimage(bgr_view)), bgr_view)


def test_rgba_straight_alpha_keeps_opaque_pixels(rng: np.random.Generator) -> None:
    rgb = rng.integers(0, 256, (21, 17, 3), dtype=np.uint8)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])[:, ::-1]
    for fast in (False, True):
        np.testing.assert_array_equal(
            qimage_to_array(array_to_qimage(rgba, fast=fast)), rgba[..., :3]
        )


def test_image_owns_its_pixels(rng: np.random.Generator) -> None:
    array = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    expected = array.copy()
    image = array_to_qimage(array[:, 3:])
    array[:] = 0  # the image must not see this
    del array
    gc.collect()
    np.testing.assert_array_equal(qimage_to_array(image), expected[:, 3:])


def test_rejects_wrong_dtype_and_shape() -> None:
    with pytest.raises(ValueError, match="uint8"):
        array_to_qimage(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="array"):
        array_to_qimage(np.zeros((4, 4, 2), np.uint8))
