"""Scale marker: how fast and how exactly :func:`find_marker` measures px per mm.

Photos come from the renderer in ``tests/core/test_calibrate.py`` (a flat
``DICT_4X4_50`` marker with a white quiet zone on textured skin, seen through a
known homography, blurred, noised and JPEG-compressed), so the true scale and
corners are known. Rows: photo size x marker scale, a photo without a marker,
and, for the record, a small sweep measured with ArUco's own
``CORNER_REFINE_SUBPIX`` instead of ``find_marker``'s edge fitting, with the blur
applied to the pixel values and, like a lens, to linear light before sRGB
encoding (which makes markers look small unless corrected).
"""

from __future__ import annotations

import time

import cv2
import numpy as np

from scarview.core.calibrate import _homography, _local_scale, find_marker
from scarview.core.types import Calibration
from tests.core.test_calibrate import render_scene

TITLE = "Scale marker (find_marker): speed and accuracy"

CASES = [  # (width, height, px_per_mm)
    (1600, 1200, 8.0),
    (1600, 1200, 25.0),
    (1600, 1200, 60.0),
    (4000, 3000, 8.0),
    (4000, 3000, 60.0),
    (6000, 4000, 8.0),
]
REPEATS = 3
TARGET_S = 0.5
TARGET_PCT = 1.0


def _timed(rgb: np.ndarray) -> tuple[float, Calibration]:
    """Best of ``REPEATS`` runs (s) and the result."""
    best = np.inf
    result = Calibration(None, "none")
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = find_marker(rgb)
        best = min(best, time.perf_counter() - start)
    return float(best), result


def _aruco_subpix_scale(rgb: np.ndarray, marker_mm: float) -> float | None:
    params = cv2.aruco.DetectorParameters()
    params.cornerRefinementMethod = cv2.aruco.CORNER_REFINE_SUBPIX
    dictionary = cv2.aruco.getPredefinedDictionary(cv2.aruco.DICT_4X4_50)
    corners, ids, _ = cv2.aruco.ArucoDetector(dictionary, params).detectMarkers(
        cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    )
    if ids is None:
        return None
    square = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], np.float64) * marker_mm
    quad = np.asarray(corners[0], np.float64).reshape(4, 2)
    return _local_scale(_homography(square, quad), (marker_mm / 2, marker_mm / 2))


def _rms(values: list[float]) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


def run() -> list[dict[str, object]]:
    """Return one row per case (see the module docstring)."""
    rows: list[dict[str, object]] = []
    for index, (width, height, px_per_mm) in enumerate(CASES):
        scene = render_scene(
            index, px_per_mm=px_per_mm, angle_deg=37.0 * index, size_wh=(width, height)
        )
        seconds, cal = _timed(scene.rgb)
        found = cal.px_per_mm is not None and cal.marker_polygon is not None
        error_pct = corner_px = float("nan")
        if cal.px_per_mm is not None and cal.marker_polygon is not None:
            error_pct = 100 * (cal.px_per_mm / scene.px_per_mm - 1)
            corner_px = float(np.max(np.hypot(*(cal.marker_polygon - scene.corners_xy).T)))
        rows.append(
            {
                "case": f"{width}x{height} ({width * height / 1e6:.0f} MP), {px_per_mm:g} px/mm",
                "time_s": seconds,
                "error_pct": error_pct,
                "corner_err_px": corner_px,
                "uncertainty_pct": cal.uncertainty_pct,
                "target": f"< {TARGET_S} s, < {TARGET_PCT} %",
                "ok": found and seconds < TARGET_S and abs(error_pct) < TARGET_PCT,
            }
        )

    skin = render_scene(99, px_per_mm=8.0, angle_deg=0.0, size_wh=(6000, 4000), draw_marker=False)
    seconds, cal = _timed(skin.rgb)
    rows.append(
        {
            "case": "6000x4000 (24 MP), no marker",
            "time_s": seconds,
            "error_pct": "",
            "corner_err_px": "",
            "uncertainty_pct": "",
            "target": f"< {TARGET_S} s, method none",
            "ok": seconds < TARGET_S and cal.method == "none",
        }
    )

    # the refinement: edge fitting against ArUco's cornerSubPix refinement, same
    # photos, blurred in pixel values and (like a lens) in linear light
    for linear_light in (False, True):
        rng = np.random.default_rng(7)
        ours: list[float] = []
        subpix: list[float] = []
        for index in range(16):
            scene = render_scene(
                200 + index,
                px_per_mm=float(np.exp(rng.uniform(np.log(8.0), np.log(60.0)))),
                angle_deg=float(rng.uniform(0, 360)),
                blur_px=float(rng.uniform(0.5, 1.3)),
                noise=float(rng.uniform(1, 4)),
                quality=int(rng.integers(75, 96)),
                linear_light=linear_light,
            )
            cal = find_marker(scene.rgb)
            if cal.px_per_mm is not None:
                ours.append(abs(cal.px_per_mm / scene.px_per_mm - 1) * 100)
            other = _aruco_subpix_scale(scene.rgb, scene.marker_mm)
            if other is not None:
                subpix.append(abs(other / scene.px_per_mm - 1) * 100)
        blur = "linear-light blur" if linear_light else "pixel-value blur"
        for name, errors in (("find_marker", ours), ("ArUco CORNER_REFINE_SUBPIX", subpix)):
            rows.append(
                {
                    "case": f"16 photos, {blur}, {name}",
                    "time_s": "",
                    "error_pct": f"max {max(errors):.3f}, rms {_rms(errors):.3f}",
                    "corner_err_px": "",
                    "uncertainty_pct": "",
                    "target": f"< {TARGET_PCT} %",
                    "ok": len(errors) == 16 and max(errors) < TARGET_PCT,
                }
            )
    return rows
