"""Tests for :mod:`scarview.core.color`: exposure and white balance of AFTER brought to BEFORE."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import skimage.data
from numpy.typing import NDArray

from scarview.core.color import (
    difference_image,
    estimate_gains,
    linear_to_srgb,
    normalize_to,
    srgb_to_linear,
    usable_skin,
)
from scarview.synth import Camera, Capture, Light, make_patient, render


def _recapture(
    rgb: NDArray[np.uint8], gains: tuple[float, float, float], rng: np.random.Generator
) -> NDArray[np.uint8]:
    """The same scene with other per-channel linear gains and a little sensor noise."""
    lin = srgb_to_linear(rgb) * np.asarray(gains, np.float32)
    lin = lin + rng.normal(0, 0.002, lin.shape).astype(np.float32)
    return linear_to_srgb(lin)


def test_srgb_round_trip() -> None:
    values = np.arange(256, dtype=np.uint8)
    assert np.array_equal(linear_to_srgb(srgb_to_linear(values)), values)


@pytest.mark.parametrize("name", ["astronaut", "coffee", "chelsea"])
def test_gains_undo_a_known_exposure_and_white_balance(name: str) -> None:
    rng = np.random.default_rng(len(name))
    before = getattr(skimage.data, name)()
    for _ in range(3):
        exposure = rng.choice([-1, 1]) * rng.uniform(0.15, 0.3) + 1.0
        wb = rng.uniform(0.92, 1.08, 3)
        applied = exposure * wb
        after = _recapture(before, tuple(applied), rng)
        gains = estimate_gains(before, after)
        # Clipped and very dark pixels are left out, so the estimate is the inverse.
        np.testing.assert_allclose(gains * applied, 1.0, rtol=0.02)
        fixed = normalize_to(before, after)
        ok = usable_skin(before) & usable_skin(after)
        err = np.abs(fixed.astype(int) - before.astype(int))[ok]
        assert np.median(err) <= 1.0
        assert np.mean(err) < np.mean(np.abs(after.astype(int) - before.astype(int))[ok])


def test_changed_scars_and_excluded_regions_do_not_bias_the_estimate() -> None:
    rng = np.random.default_rng(3)
    before = skimage.data.coffee()
    after = _recapture(before, (1.2, 1.1, 0.95), rng)
    # A fifth of the photo changes a lot (healed scars, a moved marker...).
    after[100:200, 100:400] = (250, 30, 200)
    gains = estimate_gains(before, after)
    np.testing.assert_allclose(gains * (1.2, 1.1, 0.95), 1.0, rtol=0.03)
    skin = np.ones(before.shape[:2], bool)
    skin[90:210, 90:410] = False
    gains_masked = estimate_gains(before, after, skin_mask=skin)
    np.testing.assert_allclose(gains_masked * (1.2, 1.1, 0.95), 1.0, rtol=0.02)


def test_the_footprint_of_a_warped_after_stays_black() -> None:
    rng = np.random.default_rng(4)
    before = skimage.data.astronaut()
    after = _recapture(before, (0.8, 0.8, 0.8), rng)
    after[:, :150] = 0  # outside AFTER after warping
    out = normalize_to(before, after)
    assert out.dtype == np.uint8 and out.shape == before.shape
    assert not out[:, :150].any()
    assert out[:, 200:].mean() == pytest.approx(before[:, 200:].mean(), rel=0.03)


def test_synthetic_skin_photos_are_normalised() -> None:
    """Same patient, camera and light; another exposure and white balance."""
    patient = make_patient(7, n_scars=5)
    camera = Camera(width=480, height=360, px_per_mm=10.0)
    light = Light(azimuth_deg=120.0, elevation_deg=40.0)
    base = Capture(exposure=1.0, white_balance=(1.0, 1.0, 1.0), jpeg_quality=90)
    other = dataclasses.replace(base, exposure=1.25, white_balance=(0.93, 1.0, 1.07))
    before = render(patient, camera=camera, light=light, capture=base, seed=1).rgb
    after = render(patient, camera=camera, light=light, capture=other, seed=2).rgb
    gains = estimate_gains(before, after)
    np.testing.assert_allclose(gains * 1.25 * np.array([0.93, 1.0, 1.07]), 1.0, rtol=0.03)
    fixed = normalize_to(before, after)
    assert np.abs(fixed.astype(float).mean((0, 1)) - before.astype(float).mean((0, 1))).max() < 2.0


def test_too_little_common_skin_is_an_error() -> None:
    before = np.full((50, 60, 3), 128, np.uint8)
    after = np.zeros_like(before)
    with pytest.raises(ValueError, match="Too little skin"):
        normalize_to(before, after)
    with pytest.raises(ValueError, match="same size"):
        estimate_gains(before, after[:, :10])


def test_difference_image_shows_darker_and_brighter() -> None:
    rng = np.random.default_rng(5)
    before = np.clip(rng.normal(120, 5, (80, 120, 3)), 0, 255).astype(np.uint8)
    after = before.copy()
    after[:, :40] = (before[:, :40] * 0.6).astype(np.uint8)  # darker
    after[:, 80:] = np.clip(before[:, 80:] * 1.5, 0, 255).astype(np.uint8)  # brighter
    after[:10] = 0  # no data
    pic = difference_image(before, after)
    assert pic.shape == before.shape and pic.dtype == np.uint8
    dark, same, bright = pic[20:, :30].mean((0, 1)), pic[20:, 50:70].mean((0, 1)), pic[20:, 90:]
    assert dark[2] > dark[0] + 60  # blue
    assert np.all(same > 220)  # near white
    assert bright.mean((0, 1))[0] > bright.mean((0, 1))[2] + 60  # red
    assert np.all(pic[:10] == pic[0, 0]) and abs(int(pic[0, 0, 0]) - int(pic[0, 0, 2])) < 5
    with pytest.raises(ValueError):
        difference_image(before, after, full_scale=0.0)
