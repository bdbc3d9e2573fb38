"""Tests for :mod:`scarview.core.calibrate`: scale from an ArUco marker and by hand.

Ground truth comes from a small renderer in this file (deliberately independent of
``scarview.synth``): an ArUco marker from ``cv2.aruco.generateImageMarker`` with a
white quiet zone one module wide, lying flat on a textured skin-coloured plane,
seen through a known homography (marker plane in mm -> photo px), then blurred,
noised and JPEG-compressed. The true scale is ``sqrt|det J|`` of that homography
at the marker's centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from scarview.core.calibrate import (
    _detection_factors,
    _distance_to_outline_px,
    calibration_from_points,
    find_marker,
    manual_calibration,
    marker_exclusion_mask,
)
from scarview.core.types import Calibration
from scarview.errors import Cancelled

DICT_ID = cv2.aruco.DICT_4X4_50
MODULES = 6  # 4x4 data bits + a one-module black border on each side
SUPERSAMPLE = 4  # the marker's neighbourhood is rendered at 4x and area-averaged


# --------------------------------------------------------------------------- renderer


@dataclass(frozen=True)
class Scene:
    """A rendered photo and what is true about it."""

    rgb: NDArray[np.uint8]
    H_mm: NDArray[np.float64]  # marker plane (mm, marker's top-left at 0, 0) -> photo px
    corners_xy: NDArray[np.float64]  # (4, 2) true outer corners, marker's own order
    px_per_mm: float  # sqrt|det J| of H_mm at the marker's centre
    marker_mm: float
    marker_id: int


def _apply_h(H: NDArray[np.float64], pts: NDArray[np.float64]) -> NDArray[np.float64]:
    p = np.c_[pts, np.ones(len(pts))] @ H.T
    return p[:, :2] / p[:, 2:]


def _translation(dx: float, dy: float) -> NDArray[np.float64]:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64)


def _local_scale(H: NDArray[np.float64], uv: tuple[float, float]) -> float:
    w = H[2, 0] * uv[0] + H[2, 1] * uv[1] + H[2, 2]
    return math.sqrt(abs(np.linalg.det(H)) / abs(w) ** 3)


def _skin_background(
    rng: np.random.Generator, height: int, width: int, dots: int
) -> NDArray[np.uint8]:
    """Pinkish-beige skin with smooth blotches and a few dark dots, RGB uint8."""
    out = np.empty((height, width, 3), np.float32)
    out[:] = (224.0, 178.0, 160.0)
    tint = np.array([1.0, 0.9, 0.85], np.float32)
    for cell_px, amplitude in ((48, 14.0), (12, 6.0), (3, 3.0)):
        small = rng.normal(size=(height // cell_px + 2, width // cell_px + 2)).astype(np.float32)
        smooth = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        out += amplitude * smooth[..., None] * tint
    for _ in range(dots):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = (float(rng.uniform(100, 150)), float(rng.uniform(55, 85)), 50.0)
        cv2.circle(out, centre, int(rng.integers(2, 9)), colour, -1, lineType=cv2.LINE_AA)
    return np.clip(out, 0, 255).astype(np.uint8)


def _marker_patch(marker_id: int, module_px: int) -> NDArray[np.uint8]:
    """Marker plus a one-module white quiet zone, (8 m, 8 m) grey uint8."""
    dictionary = cv2.aruco.getPredefinedDictionary(DICT_ID)
    marker = cv2.aruco.generateImageMarker(dictionary, marker_id, MODULES * module_px)
    return cv2.copyMakeBorder(marker, *(4 * [module_px]), cv2.BORDER_CONSTANT, value=255)


def _paste_marker(
    photo: NDArray[np.uint8], H_mm: NDArray[np.float64], marker_mm: float, marker_id: int
) -> None:
    """Render the marker (with quiet zone) through ``H_mm`` into ``photo``, anti-aliased.

    ``H_mm`` maps the marker's own plane (mm, its top-left corner at the origin)
    to photo px.
    """
    module_mm = marker_mm / MODULES
    quiet_mm = np.array([[-1, -1], [7, -1], [7, 7], [-1, 7]], np.float64) * module_mm
    px_per_mm_max = max(_local_scale(H_mm, (u, v)) for u, v in quiet_mm)
    module_px = max(8, math.ceil(2 * SUPERSAMPLE * px_per_mm_max * module_mm))
    patch = _marker_patch(marker_id, module_px)
    r = module_px / module_mm  # patch px per mm
    # patch px (centres at integers) -> mm, with the marker's top-left corner at (0, 0) mm
    mm_from_patch = np.array(
        [[1 / r, 0, 0.5 / r - module_mm], [0, 1 / r, 0.5 / r - module_mm], [0, 0, 1]]
    )
    box = _apply_h(H_mm, quiet_mm)
    x0, y0 = np.floor(box.min(0)).astype(int) - 2
    x1, y1 = np.ceil(box.max(0)).astype(int) + 3
    h, w = photo.shape[:2]
    assert x0 >= 0 and y0 >= 0 and x1 <= w and y1 <= h, "marker must lie inside the photo"
    s = SUPERSAMPLE
    # photo px -> supersampled crop px: x_ss = s * (x - x0 + 0.5) - 0.5
    ss_from_photo = np.array(
        [[s, 0, s * (0.5 - x0) - 0.5], [0, s, s * (0.5 - y0) - 0.5], [0, 0, 1]]
    )
    M = ss_from_photo @ H_mm @ mm_from_patch
    size = (s * (x1 - x0), s * (y1 - y0))
    grey = cv2.warpPerspective(patch, M, size, flags=cv2.INTER_LINEAR, borderValue=0)
    alpha = cv2.warpPerspective(
        np.full(patch.shape, 255, np.uint8), M, size, flags=cv2.INTER_LINEAR, borderValue=0
    )
    grey_f = cv2.resize(grey.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    alpha_f = cv2.resize(alpha.astype(np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    alpha_f /= 255.0
    # a printed marker: black ink is not perfectly black, paper slightly warm
    ink = np.array([30.0, 28.0, 30.0], np.float32)
    paper = np.array([242.0, 238.0, 232.0], np.float32)
    colour = ink + (grey_f[..., None] / 255.0) * (paper - ink)
    crop = photo[y0:y1, x0:x1].astype(np.float32)
    crop = crop * (1 - alpha_f[..., None]) + colour * alpha_f[..., None]
    photo[y0:y1, x0:x1] = np.clip(crop + 0.5, 0, 255).astype(np.uint8)


def _srgb_to_linear(encoded: NDArray[np.float32]) -> NDArray[np.float32]:
    v = encoded / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _linear_to_srgb(linear: NDArray[np.float32]) -> NDArray[np.float32]:
    v = np.clip(linear, 0.0, 1.0)
    encoded = np.where(v <= 0.0031308, 12.92 * v, 1.055 * v ** (1 / 2.4) - 0.055)
    return (255.0 * encoded).astype(np.float32)


def _degrade(
    rng: np.random.Generator,
    rgb: NDArray[np.uint8],
    blur_px: float,
    noise: float,
    quality: int,
    linear_light: bool = False,
) -> NDArray[np.uint8]:
    """Blur (in sRGB values, or like a lens in linear light), add noise, JPEG round trip."""
    out = rgb.astype(np.float32)
    if linear_light:
        out = _linear_to_srgb(cv2.GaussianBlur(_srgb_to_linear(out), (0, 0), blur_px))
    else:
        out = cv2.GaussianBlur(out, (0, 0), blur_px)
    out += rng.normal(0, noise, out.shape).astype(np.float32)
    out8 = np.clip(out + 0.5, 0, 255).astype(np.uint8)
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(out8, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _plane_homography(
    rng: np.random.Generator,
    px_per_mm: float,
    angle_deg: float,
    centre_xy: tuple[float, float],
    marker_mm: float,
    size_wh: tuple[int, int],
    perspective: float,
) -> NDArray[np.float64]:
    """Skin plane (mm, marker's top-left corner at the origin) -> photo px.

    A similarity putting the marker's centre at ``centre_xy``, then mild
    perspective: the photo's corners moved at random by up to ``perspective`` of
    the photo's width and height.
    """
    a = math.radians(angle_deg)
    R = px_per_mm * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    S = np.eye(3)
    S[:2, :2] = R
    S[:2, 2] = np.asarray(centre_xy) - R @ np.full(2, marker_mm / 2)
    w, h = size_wh
    photo = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    moved = photo + rng.uniform(-perspective, perspective, (4, 2)) * np.array([w, h])
    P, _ = cv2.findHomography(photo, moved, 0)
    H = P @ S
    return np.asarray(H / H[2, 2], np.float64)


def render_scene(
    seed: int,
    *,
    px_per_mm: float,
    angle_deg: float,
    size_wh: tuple[int, int] | None = None,
    centre_xy: tuple[float, float] | None = None,
    marker_mm: float = 10.0,
    marker_id: int = 7,
    perspective: float = 0.03,
    blur_px: float = 0.8,
    noise: float = 3.0,
    quality: int = 85,
    draw_marker: bool = True,
    linear_light: bool = False,
    extra_markers: tuple[tuple[float, int, tuple[float, float]], ...] = (),
) -> Scene:
    """Render one photo of a flat marker on skin seen through a known homography.

    ``px_per_mm`` is the similarity's scale before the perspective is added; the
    true scale at the marker's centre is :attr:`Scene.px_per_mm`. Each extra
    marker ``(marker_mm, marker_id, top_left_mm)`` lies on the same skin plane,
    its top-left corner at ``top_left_mm`` in the main marker's plane coordinates.
    ``linear_light`` blurs like a lens (in linear light, then sRGB-encoded), which
    moves every ink-to-paper edge towards the ink in the pixel values.
    """
    rng = np.random.default_rng(seed)
    reach = px_per_mm * marker_mm * (8 / MODULES) * 0.71 + 4  # half the quiet zone's diagonal
    if size_wh is None:
        side = max(480, int(2.8 * reach))
        size_wh = (side + 160, side)
    w, h = size_wh
    quiet_mm = np.array([[-1, -1], [7, -1], [7, 7], [-1, 7]], np.float64) * marker_mm / MODULES
    for _attempt in range(50):  # until the marker and its quiet zone lie inside the photo
        centre = centre_xy or (rng.uniform(reach, w - reach), rng.uniform(reach, h - reach))
        H_mm = _plane_homography(rng, px_per_mm, angle_deg, centre, marker_mm, (w, h), perspective)
        box = _apply_h(H_mm, quiet_mm)
        if box.min() >= 4 and np.all(box.max(0) <= np.array([w, h]) - 5):
            break
    else:
        raise AssertionError("could not place the marker inside the photo")
    # the skin: a textured plane seen through the same homography
    photo_corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    seen_mm = _apply_h(np.linalg.inv(H_mm), photo_corners)
    lo_mm = seen_mm.min(0) - 2.0
    extent_mm = seen_mm.max(0) + 2.0 - lo_mm
    plane_px_per_mm = min(px_per_mm, 1600 / float(extent_mm.max()))
    plane_wh = np.ceil(extent_mm * plane_px_per_mm).astype(int)
    bg = _skin_background(rng, int(plane_wh[1]), int(plane_wh[0]), dots=int(rng.integers(20, 60)))
    mm_from_plane = np.array(
        [[1 / plane_px_per_mm, 0, lo_mm[0]], [0, 1 / plane_px_per_mm, lo_mm[1]], [0, 0, 1]],
        np.float64,
    )
    photo = cv2.warpPerspective(bg, H_mm @ mm_from_plane, (w, h), flags=cv2.INTER_LINEAR)
    if draw_marker:
        _paste_marker(photo, H_mm, marker_mm, marker_id)
    for extra_mm, extra_id, (u, v) in extra_markers:
        _paste_marker(photo, H_mm @ _translation(u, v), extra_mm, extra_id)
    rgb = _degrade(rng, photo, blur_px, noise, quality, linear_light)
    corners_mm = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64) * marker_mm
    return Scene(
        rgb=rgb,
        H_mm=H_mm,
        corners_xy=_apply_h(H_mm, corners_mm),
        px_per_mm=_local_scale(H_mm, (marker_mm / 2, marker_mm / 2)),
        marker_mm=marker_mm,
        marker_id=marker_id,
    )


def _distance_outside_px(polygon: NDArray[np.float64], points: NDArray[np.float64]) -> NDArray:
    """Euclidean distance of ``points`` (N, 2) to ``polygon``, 0 inside (OpenCV's own test)."""
    contour = polygon.astype(np.float32).reshape(-1, 1, 2)
    signed = [cv2.pointPolygonTest(contour, (float(x), float(y)), True) for x, y in points]
    return np.maximum(0.0, -np.asarray(signed, np.float64))


# --------------------------------------------------------------------------- the sweep

N_SWEEP = 40
SWEEP_RNG_SEED = 20260301


def _sweep_case(index: int) -> dict[str, float | int]:
    rng = np.random.default_rng([SWEEP_RNG_SEED, index])
    return {
        "px_per_mm": float(np.exp(rng.uniform(np.log(8.0), np.log(60.0)))),
        "angle_deg": float(rng.uniform(0.0, 360.0)),
        "blur_px": float(rng.uniform(0.5, 1.3)),
        "noise": float(rng.uniform(1.0, 4.0)),
        "quality": int(rng.integers(75, 96)),
        "marker_id": int(rng.integers(0, 50)),
    }


@pytest.mark.parametrize("index", range(N_SWEEP))
def test_marker_scale_within_one_percent(index: int) -> None:
    case = _sweep_case(index)
    scene = render_scene(1000 + index, **case)  # type: ignore[arg-type]

    cal = find_marker(scene.rgb)

    assert cal.method == "marker"
    assert cal.marker_id == scene.marker_id
    assert cal.marker_mm == 10.0
    assert cal.px_per_mm is not None and cal.uncertainty_pct is not None
    error_pct = 100.0 * (cal.px_per_mm / scene.px_per_mm - 1.0)
    assert abs(error_pct) < 1.0, f"{case}: scale off by {error_pct:.3f} %"
    assert cal.marker_polygon is not None
    assert cal.marker_polygon.shape == (4, 2) and cal.marker_polygon.dtype == np.float64
    corner_error_px = float(np.max(np.hypot(*(cal.marker_polygon - scene.corners_xy).T)))
    assert corner_error_px < 0.5, f"{case}: a corner is {corner_error_px:.3f} px off"
    # the one-sigma estimate is a real number that covers the error it claims to bound
    assert 0.0 < cal.uncertainty_pct < 5.0
    assert abs(error_pct) <= 3.0 * cal.uncertainty_pct


def test_large_photo_is_searched_downscaled_and_measured_at_full_resolution() -> None:
    # 12 MP with the smallest marker of the range (80 px): detection must use a
    # downscaled copy first and still reach sub-pixel corners at full resolution
    scene = render_scene(
        7, px_per_mm=8.0, angle_deg=123.0, size_wh=(4000, 3000), blur_px=1.2, marker_id=42
    )
    assert _detection_factors(scene.rgb.shape, 10.0)[0] < 1.0

    cal = find_marker(scene.rgb)

    assert cal.method == "marker" and cal.marker_id == 42 and cal.px_per_mm is not None
    assert abs(cal.px_per_mm / scene.px_per_mm - 1.0) < 0.01
    assert cal.marker_polygon is not None
    assert np.max(np.abs(cal.marker_polygon - scene.corners_xy)) < 0.5


def test_scale_is_the_local_scale_at_the_marker_centre_under_perspective() -> None:
    # strong perspective: side lengths differ by several %, the centre's scale is still met
    scene = render_scene(0, px_per_mm=20.0, angle_deg=40.0, perspective=0.08)
    sides = np.hypot(*(np.roll(scene.corners_xy, -1, 0) - scene.corners_xy).T)
    assert sides.max() / sides.min() > 1.05  # the case is really in perspective

    cal = find_marker(scene.rgb)

    assert cal.px_per_mm is not None
    assert abs(cal.px_per_mm / scene.px_per_mm - 1.0) < 0.002
    # the mean side length, the naive answer, is measurably different here
    naive = float(np.mean(sides)) / scene.marker_mm
    assert abs(naive / scene.px_per_mm - 1.0) > abs(cal.px_per_mm / scene.px_per_mm - 1.0)


@pytest.mark.parametrize(("px_per_mm", "blur_px"), [(8.0, 0.8), (8.0, 1.6), (20.0, 2.5)])
def test_a_camera_tone_curve_does_not_bias_the_scale(px_per_mm: float, blur_px: float) -> None:
    # Blur in linear light, then sRGB encoding: the half-way crossing of every
    # edge moves towards the ink by ~0.6 blur sigma, shrinking the marker by up to
    # 2-3 % at 8 px/mm unless the shift is measured on the marker's inner edges.
    scene = render_scene(
        31, px_per_mm=px_per_mm, angle_deg=66.0, blur_px=blur_px, linear_light=True
    )
    cal = find_marker(scene.rgb)
    assert cal.px_per_mm is not None and cal.uncertainty_pct is not None
    error_pct = 100.0 * (cal.px_per_mm / scene.px_per_mm - 1.0)
    assert abs(error_pct) < 0.3
    assert abs(error_pct) <= 3.0 * cal.uncertainty_pct
    assert cal.marker_polygon is not None
    assert np.max(np.abs(cal.marker_polygon - scene.corners_xy)) < 0.5


def test_uncertainty_grows_as_the_marker_shrinks() -> None:
    small = find_marker(render_scene(5, px_per_mm=8.0, angle_deg=10.0, perspective=0.0).rgb)
    large = find_marker(render_scene(5, px_per_mm=40.0, angle_deg=10.0, perspective=0.0).rgb)
    assert small.uncertainty_pct is not None and large.uncertainty_pct is not None
    assert small.uncertainty_pct > 2.0 * large.uncertainty_pct


def test_uncertainty_includes_the_scale_change_across_the_marker() -> None:
    flat = find_marker(render_scene(9, px_per_mm=25.0, angle_deg=70.0, perspective=0.0).rgb)
    tilted = find_marker(render_scene(9, px_per_mm=25.0, angle_deg=70.0, perspective=0.08).rgb)
    assert flat.uncertainty_pct is not None and tilted.uncertainty_pct is not None
    assert tilted.uncertainty_pct > 2.0 * flat.uncertainty_pct


def test_marker_mm_sets_the_scale() -> None:
    scene = render_scene(11, px_per_mm=15.0, angle_deg=200.0)
    ten = find_marker(scene.rgb, marker_mm=10.0)
    five = find_marker(scene.rgb, marker_mm=5.0)
    assert ten.px_per_mm is not None and five.px_per_mm is not None
    assert five.px_per_mm == pytest.approx(2.0 * ten.px_per_mm, rel=1e-9)
    assert five.marker_mm == 5.0
    assert five.uncertainty_pct == pytest.approx(ten.uncertainty_pct, rel=1e-6)


def test_several_markers_use_the_largest() -> None:
    # a 10 mm marker (id 7) and a 6 mm one (id 3) 30 mm to its right, same skin plane
    scene = render_scene(
        13,
        px_per_mm=20.0,
        angle_deg=15.0,
        size_wh=(1500, 800),
        centre_xy=(420.0, 400.0),
        perspective=0.01,
        extra_markers=((6.0, 3, (30.0, 2.0)),),
    )
    cal = find_marker(scene.rgb, marker_mm=10.0)
    assert cal.marker_id == 7
    assert cal.px_per_mm is not None
    assert abs(cal.px_per_mm / scene.px_per_mm - 1.0) < 0.01


def test_no_marker_gives_no_scale() -> None:
    skin = render_scene(17, px_per_mm=20.0, angle_deg=0.0, draw_marker=False).rgb
    cal = find_marker(skin)
    assert cal.method == "none"
    assert cal.px_per_mm is None and cal.uncertainty_pct is None
    assert cal.marker_polygon is None and cal.marker_id is None
    assert np.count_nonzero(marker_exclusion_mask(cal, skin.shape)) == 0


def test_no_marker_in_a_real_photo() -> None:
    skimage_data = pytest.importorskip("skimage.data")
    assert find_marker(skimage_data.astronaut()).method == "none"


def test_input_is_not_modified_and_may_be_read_only_or_grey() -> None:
    scene = render_scene(19, px_per_mm=12.0, angle_deg=300.0)
    rgb = scene.rgb.copy()
    rgb.flags.writeable = False
    cal = find_marker(rgb)
    np.testing.assert_array_equal(rgb, scene.rgb)
    grey = cv2.cvtColor(scene.rgb, cv2.COLOR_RGB2GRAY)
    from_grey = find_marker(grey)
    assert cal.px_per_mm is not None and from_grey.px_per_mm == pytest.approx(cal.px_per_mm)
    # a non-contiguous view (every other column flipped back) is fine too
    assert find_marker(np.ascontiguousarray(scene.rgb)[:, ::-1][:, ::-1]).method == "marker"


@pytest.mark.parametrize(
    ("image", "marker_mm"),
    [
        (np.zeros((100, 100, 3), np.float32), 10.0),
        (np.zeros((100, 100, 4), np.uint8), 10.0),
        (np.zeros((100,), np.uint8), 10.0),
        (np.zeros((100, 100, 3), np.uint8), 0.0),
        (np.zeros((100, 100, 3), np.uint8), float("nan")),
    ],
)
def test_bad_arguments_raise_value_error(image: NDArray, marker_mm: float) -> None:
    with pytest.raises(ValueError, match=r"\."):
        find_marker(image, marker_mm=marker_mm)


def test_progress_and_cancel() -> None:
    scene = render_scene(23, px_per_mm=10.0, angle_deg=45.0)
    calls: list[tuple[float, str]] = []
    find_marker(scene.rgb, progress=lambda f, m: calls.append((f, m)))
    assert calls and calls[-1][0] == 1.0
    assert all(0.0 <= f <= 1.0 for f, _ in calls)

    class _Set:
        def is_set(self) -> bool:
            return True

    with pytest.raises(Cancelled):
        find_marker(scene.rgb, cancel=_Set())


# --------------------------------------------------------------------------- manual scale


def test_manual_calibration_is_exact() -> None:
    cal = manual_calibration(31.25)
    assert cal.px_per_mm == 31.25
    assert cal.method == "manual"
    assert cal.marker_polygon is None
    assert cal.to_dict() == {"px_per_mm": 31.25, "method": "manual", "uncertainty_pct": None}


@pytest.mark.parametrize("bad", [0.0, -3.0, float("nan"), float("inf"), "12"])
def test_manual_calibration_rejects_nonsense(bad: object) -> None:
    with pytest.raises(ValueError, match="px_per_mm must be a positive finite number"):
        manual_calibration(bad)  # type: ignore[arg-type]


def test_calibration_from_points_is_exact() -> None:
    cal = calibration_from_points((10.0, 20.0), (40.0, 60.0), 5.0)  # 50 px apart
    assert cal.px_per_mm == pytest.approx(10.0, rel=1e-15)
    assert cal.method == "manual"
    # one px of click error per axis and point: sqrt(2) px over 50 px
    assert cal.uncertainty_pct == pytest.approx(100.0 * math.sqrt(2.0) / 50.0)
    far = calibration_from_points(np.array([0.0, 0.0]), np.array([500.0, 0.0]), 50.0)
    assert far.px_per_mm == 10.0
    assert far.uncertainty_pct is not None and cal.uncertainty_pct is not None
    assert far.uncertainty_pct == pytest.approx(cal.uncertainty_pct / 10.0)


@pytest.mark.parametrize(
    ("p1", "p2", "distance_mm"),
    [
        ((5.0, 5.0), (5.0, 5.0), 10.0),
        ((0.0, 0.0), (10.0, 0.0), 0.0),
        ((0.0, 0.0), (10.0, 0.0), -1.0),
        ((0.0, float("nan")), (10.0, 0.0), 1.0),
        ((0.0, 0.0, 0.0), (10.0, 0.0), 1.0),
    ],
)
def test_calibration_from_points_rejects_nonsense(
    p1: tuple[float, ...], p2: tuple[float, ...], distance_mm: float
) -> None:
    with pytest.raises(ValueError, match=r"\.$"):
        calibration_from_points(p1, p2, distance_mm)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- exclusion mask


def test_exclusion_mask_grows_the_polygon_by_the_margin() -> None:
    square = np.array([[100, 100], [300, 100], [300, 300], [100, 300]], np.float64)
    cal = Calibration(10.0, "marker", 0.1, square, 7, 10.0)
    mask = marker_exclusion_mask(cal, (400, 500, 3), margin_mm=2.0)  # 20 px
    assert mask.shape == (400, 500) and mask.dtype == np.bool_
    # polygon ⊕ disk, counted on pixel centres: (200 + 1 + 2 * 20)² less the rounded corners
    expected = 241**2 - (4 - math.pi) * 20**2
    assert np.count_nonzero(mask) == pytest.approx(expected, rel=0.005)
    rng = np.random.default_rng(0)
    points = rng.integers(0, (500, 400), size=(4000, 2)).astype(np.float64)
    distance = _distance_outside_px(square, points)
    hit = mask[points[:, 1].astype(int), points[:, 0].astype(int)]
    assert hit[distance <= 19.9].all()
    assert not hit[distance >= 20.1].any()
    # the corners are rounded: 15 px out along the diagonal (21.2 px away) is outside
    assert mask[300 + 14, 300 + 14] and not mask[300 + 15, 300 + 15]


def test_exclusion_mask_decides_every_pixel_as_measuring_it_would() -> None:
    """Blocks decided from their centre give exactly the pixel-by-pixel answer."""
    rng = np.random.default_rng(44)
    for _ in range(40):
        width, height = (int(v) for v in rng.integers(60, 500, 2))
        side = float(rng.uniform(4, 160))
        angle = float(rng.uniform(0, 2 * math.pi))
        rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        square = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], np.float64) * side / 2 @ rot
        quad = square + rng.uniform(-40, [width + 40, height + 40]) + rng.normal(0, 2, (4, 2))
        cal = Calibration(float(rng.uniform(2, 40)), "marker", None, quad)
        margin_mm = float(rng.uniform(0, 3))
        mask = marker_exclusion_mask(cal, (height, width), margin_mm=margin_mm)
        ys, xs = np.mgrid[0:height, 0:width]
        near = _distance_to_outline_px(quad, xs, ys) <= margin_mm * float(cal.px_per_mm or 0)
        inside = np.zeros((height, width), np.uint8)
        cv2.fillPoly(inside, [np.round(quad * 16).astype(np.int32)], 1, cv2.LINE_8, 4)
        np.testing.assert_array_equal(mask, near | (inside > 0))


def test_exclusion_mask_without_margin_or_marker() -> None:
    square = np.array([[10.5, 10.5], [60.5, 10.5], [60.5, 60.5], [10.5, 60.5]], np.float64)
    tight = marker_exclusion_mask(Calibration(5.0, "marker", None, square), (80, 80), margin_mm=0)
    assert np.count_nonzero(tight) == pytest.approx(50 * 50, rel=0.05)
    nothing = marker_exclusion_mask(manual_calibration(5.0), (30, 40))
    assert nothing.shape == (30, 40) and not nothing.any()
    with pytest.raises(ValueError, match="margin_mm"):
        marker_exclusion_mask(Calibration(None, "none"), (30, 40), margin_mm=-1.0)


def test_exclusion_mask_covers_a_detected_marker() -> None:
    scene = render_scene(29, px_per_mm=15.0, angle_deg=75.0)
    cal = find_marker(scene.rgb)
    assert cal.px_per_mm is not None
    mask = marker_exclusion_mask(cal, scene.rgb.shape, margin_mm=1.0)
    # the true marker square and 0.9 mm around it are masked; nothing beyond 1.1 mm
    rng = np.random.default_rng(1)
    height, width = mask.shape
    points = rng.integers(0, (width, height), size=(4000, 2)).astype(np.float64)
    distance_mm = _distance_outside_px(scene.corners_xy, points) / cal.px_per_mm
    hit = mask[points[:, 1].astype(int), points[:, 0].astype(int)]
    assert hit[distance_mm <= 0.9].all()
    assert not hit[distance_mm >= 1.1].any()
    assert hit.any() and not hit.all()
