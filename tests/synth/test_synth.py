"""The synthetic generator's own truth must be right before anything is judged by it."""

from __future__ import annotations

import itertools
import json
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import pytest

from scarview.synth import Camera, Capture, Light, Patient, make_patient, render
from scarview.synth.samples import SESSION_DATES, VIEW, make_samples
from scarview.synth.skin import profile, threshold_rho, true_area_mm2

SAMPLES = Path(__file__).resolve().parents[2] / "sample_images"


@lru_cache(maxsize=4)
def _patient(seed: int) -> Patient:
    return make_patient(seed, fitzpatrick=2)


def test_same_seed_same_photo() -> None:
    a = render(make_patient(3), camera=Camera(300, 200, 10.0))
    b = render(make_patient(3), camera=Camera(300, 200, 10.0))
    assert a.encoded == b.encoded
    assert np.array_equal(a.labels, b.labels)


def test_threshold_radius_meets_the_measurand() -> None:
    for kind in ("icepick", "boxcar", "rolling"):
        depth = 0.3
        rho = threshold_rho(kind, depth, 0.15)  # type: ignore[arg-type]
        value = depth * profile(kind, np.array([rho]), 0.15)[0]  # type: ignore[arg-type]
        assert value == pytest.approx(0.05, abs=1e-6)
    assert threshold_rho("rolling", 0.04, 0.12) == 0.0


def test_mask_area_matches_exact_skin_plane_area() -> None:
    patient = _patient(11)
    photo = render(
        patient,
        camera=Camera(1400, 1000, 24.0, rotation_deg=17.0),
        capture=Capture(jpeg_quality=None, noise=0.0),
    )
    visible = [s for s in photo.truth["scars"] if s["fully_visible"] and s["area_mm2"] > 0.5]
    assert len(visible) >= 5
    for scar in visible:
        px_area = float((photo.labels == scar["id"]).sum())
        assert px_area / 24.0**2 == pytest.approx(scar["area_mm2"], rel=0.06)


def test_healing_shrinks_every_scar() -> None:
    patient = _patient(11)
    for spec in patient.scars:
        areas = [true_area_mm2(spec, s) for s in range(4)]
        assert all(a >= b for a, b in itertools.pairwise(areas))
    total = [sum(true_area_mm2(s, k) for s in patient.scars) for k in range(4)]
    assert total[3] < total[0]


def test_shading_depends_on_light_pigment_does_not() -> None:
    """A pit's two sides swap brightness when the light moves to the other side."""
    patient = make_patient(21, fitzpatrick=3, lookalikes=False, hair=False)
    boxcar = next(s for s in patient.scars if s.type == "boxcar")
    cam = Camera(400, 400, 20.0, center_mm=boxcar.center_mm, blur_px=0.0)
    cap = Capture(jpeg_quality=None, noise=0.0)
    left = render(patient, camera=cam, light=Light(azimuth_deg=180, elevation_deg=35), capture=cap)
    right = render(patient, camera=cam, light=Light(azimuth_deg=0, elevation_deg=35), capture=cap)
    lum_l = cv2.cvtColor(left.rgb, cv2.COLOR_RGB2GRAY).astype(float)
    lum_r = cv2.cvtColor(right.rgb, cv2.COLOR_RGB2GRAY).astype(float)
    r_px = boxcar.radius_mm * 20
    c = 200
    west = (slice(c - 5, c + 5), slice(int(c - r_px), int(c - r_px * 0.6)))
    east = (slice(c - 5, c + 5), slice(int(c + r_px * 0.6), int(c + r_px)))
    # Light from -u (azimuth 180): the east wall faces it and is lit, the west wall is dark.
    assert lum_l[east].mean() > lum_l[west].mean() + 5
    assert lum_r[west].mean() > lum_r[east].mean() + 5


def test_homography_between_sessions_maps_marker_corners() -> None:
    patient = _patient(11)
    a = render(patient, session=0, camera=Camera(800, 600, 12.0))
    b = render(
        patient, session=2, camera=Camera(800, 600, 14.0, rotation_deg=25.0, center_mm=(3, -2))
    )
    assert a.marker_corners_xy is not None and b.marker_corners_xy is not None
    mapped = cv2.perspectiveTransform(b.marker_corners_xy[None], b.homography_to(a))[0]
    assert np.abs(mapped - a.marker_corners_xy).max() < 1e-6


def test_sample_images_are_what_the_generator_makes(tmp_path: Path) -> None:
    """The committed samples' truth is reproducible (bytes may differ across codec versions)."""
    make_samples(tmp_path)
    for date in SESSION_DATES:
        committed = json.loads((SAMPLES / "demo-patient" / date / f"{VIEW}.truth.json").read_text())
        fresh = json.loads((tmp_path / "demo-patient" / date / f"{VIEW}.truth.json").read_text())
        assert fresh["area_mm2"] == committed["area_mm2"]
        assert fresh["count"] == committed["count"]
        np.testing.assert_allclose(
            fresh["homography_to_baseline"], committed["homography_to_baseline"], atol=1e-9
        )
    total = sum(p.stat().st_size for p in SAMPLES.rglob("*") if p.is_file())
    assert total < 5 * 1024 * 1024
