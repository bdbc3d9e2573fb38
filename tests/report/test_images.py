"""Photos at print resolution: warping into the baseline frame and outlines where the scars are."""

from __future__ import annotations

import cv2
import numpy as np

from scarview.core.types import Scar
from scarview.report.images import (
    NO_PIXELS_RGB,
    print_overlay,
    print_overlay_aligned,
    print_scale,
    scale_matrix,
)
from scarview.report.style import TYPE_COLORS_RGB


def _similarity(angle_deg: float, scale: float, tx: float, ty: float) -> np.ndarray:
    a = np.deg2rad(angle_deg)
    c, s = scale * np.cos(a), scale * np.sin(a)
    return np.array([[c, -s, tx], [s, c, ty], [0.0, 0.0, 1.0]])


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    rows, cols = np.nonzero(mask)
    return float(cols.mean()), float(rows.mean())


def _circle(cx: float, cy: float, r: float, n: int = 90) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])


def _scar(contour: np.ndarray, scar_type: str = "boxcar") -> Scar:
    x, y = contour.mean(axis=0)
    return Scar(
        id=1,
        type=scar_type,  # type: ignore[arg-type]
        area_px=100,
        area_mm2=1.0,
        diameter_mm=1.1,
        centroid_xy=(float(x), float(y)),
        bbox_xywh=(0, 0, 1, 1),
        contour=contour,
        confidence=1.0,
    )


def _warp_points(H: np.ndarray, xy: np.ndarray) -> np.ndarray:
    pts = np.column_stack([xy, np.ones(len(xy))]) @ H.T
    return pts[:, :2] / pts[:, 2:3]


def test_follow_up_lands_on_the_baseline_frame() -> None:
    rng = np.random.default_rng(11)
    before = np.full((900, 1200, 3), 40, np.uint8)
    before += rng.integers(0, 10, size=before.shape, dtype=np.uint8)
    cv2.circle(before, (830, 310), 40, (250, 250, 250), -1)
    cv2.rectangle(before, (200, 600), (330, 700), (200, 30, 30), -1)
    # AFTER photographed rotated, closer and shifted; H maps AFTER onto BEFORE.
    H = _similarity(6.0, 0.9, 60.0, -25.0)
    after = cv2.warpPerspective(before, np.linalg.inv(H), (1300, 1000))

    ref = print_overlay(before, [], max_side_px=400)
    out = print_overlay_aligned(after, [], H, before.shape, max_side_px=400)
    assert out.shape == ref.shape == (300, 400, 3)
    for channel_test in (
        lambda im: np.all(im > 243, axis=2),  # the white disc (not the light grey fill)
        lambda im: (im[..., 0] > 150) & (im[..., 1] < 100),  # the red box
    ):
        x_ref, y_ref = _centroid(channel_test(ref))
        x_out, y_out = _centroid(channel_test(out))
        assert abs(x_ref - x_out) < 1.0 and abs(y_ref - y_out) < 1.0


def test_outlines_follow_the_scars_through_the_warp() -> None:
    before = np.full((600, 800, 3), 128, np.uint8)
    H = _similarity(-8.0, 1.1, -30.0, 40.0)
    after = cv2.warpPerspective(before, np.linalg.inv(H), (800, 600))
    circle_before = _circle(500.0, 260.0, 30.0)
    circle_after = _warp_points(np.linalg.inv(H), circle_before)
    out = print_overlay_aligned(after, [_scar(circle_after)], H, before.shape, max_side_px=400)
    color = np.array(TYPE_COLORS_RGB["boxcar"])
    drawn = np.all(np.abs(out.astype(int) - color) <= 40, axis=2)
    assert drawn.sum() > 50
    x, y = _centroid(drawn)
    expected = _warp_points(
        scale_matrix(print_scale(before.shape, 400)), np.array([[500.0, 260.0]])
    )
    assert abs(x - expected[0, 0]) < 1.5 and abs(y - expected[0, 1]) < 1.5


def test_areas_the_follow_up_does_not_cover_are_light_grey() -> None:
    before = np.full((300, 400, 3), 90, np.uint8)
    H = _similarity(0.0, 1.0, 200.0, 0.0)  # AFTER covers only BEFORE's right half
    out = print_overlay_aligned(before.copy(), [], H, before.shape, max_side_px=400)
    assert tuple(out[150, 50]) == NO_PIXELS_RGB
    assert tuple(out[150, 350]) == (90, 90, 90)


def test_print_overlay_draws_each_type_in_its_colour() -> None:
    photo = np.full((1200, 1600, 3), 128, np.uint8)
    scars = [
        _scar(_circle(300.0, 300.0, 25.0), "icepick"),
        _scar(_circle(800.0, 600.0, 40.0), "boxcar"),
        _scar(_circle(1300.0, 900.0, 90.0), "rolling"),
    ]
    out = print_overlay(photo, scars)
    assert max(out.shape[:2]) <= 600
    assert photo[0, 0, 0] == 128  # input untouched
    for scar in scars:
        color = np.array(TYPE_COLORS_RGB[scar.type])
        drawn = np.all(np.abs(out.astype(int) - color) <= 40, axis=2)
        x, y = _centroid(drawn & _near(out.shape, scar, print_scale(photo.shape)))
        assert drawn.sum() > 20
        cx, cy = scar.centroid_xy
        s = print_scale(photo.shape)
        assert abs(x - ((cx + 0.5) * s - 0.5)) < 1.5
        assert abs(y - ((cy + 0.5) * s - 0.5)) < 1.5


def _near(shape: tuple[int, ...], scar: Scar, s: float) -> np.ndarray:
    """Pixels within the scar's radius (plus the line width) of its centre, print frame."""
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    cx, cy = scar.centroid_xy
    radius = float(np.max(np.hypot(scar.contour[:, 0] - cx, scar.contour[:, 1] - cy)))
    return np.hypot(cols - cx * s, rows - cy * s) < radius * s + 6
