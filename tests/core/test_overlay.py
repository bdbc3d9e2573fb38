"""Tests for :mod:`scarview.core.overlay`: outlines coloured by type, drawn on a copy."""

from __future__ import annotations

import numpy as np
import pytest

from scarview.core.overlay import ROI_COLOR_RGB, TYPE_COLORS_RGB, draw_overlay
from scarview.core.scars import scar_from_mask, summarize
from scarview.core.types import ScarMap


def _map(shape: tuple[int, int]) -> ScarMap:
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    labels = np.zeros(shape, np.int32)
    scars = []
    for i, (cx, cy, r, kind) in enumerate(
        ((40, 40, 8, "icepick"), (120, 60, 20, "boxcar"), (200, 120, 35, "rolling")), start=1
    ):
        mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        labels[mask] = i
        scars.append(scar_from_mask(mask, 10.0, i, scar_type=kind))  # type: ignore[arg-type]
    return ScarMap(tuple(scars), labels, summarize(tuple(scars), 10.0, shape[0] * shape[1]), 10.0)


def test_outlines_take_their_type_colour() -> None:
    rgb = np.full((180, 260, 3), 128, np.uint8)
    scarmap = _map(rgb.shape[:2])
    out = draw_overlay(rgb, scarmap, line_px=2)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.all(rgb == 128), "the input must not be modified"
    for scar in scarmap.scars:
        color = np.array(TYPE_COLORS_RGB[scar.type])
        x, y, w, h = scar.bbox_xywh
        box = out[max(0, y - 3) : y + h + 3, max(0, x - 3) : x + w + 3].reshape(-1, 3)
        exact = np.all(box == color, axis=1)
        assert exact.sum() > 10, scar.type
        # The outline follows the contour: the scar's centre is untouched.
        cx, cy = (round(v) for v in scar.centroid_xy)
        assert np.all(out[cy, cx] == 128)


def test_colours_are_distinct_and_away_from_skin() -> None:
    colours = [np.array(c, float) for c in TYPE_COLORS_RGB.values()]
    assert set(TYPE_COLORS_RGB) == {"icepick", "boxcar", "rolling"}
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.linalg.norm(colours[i] - colours[j]) > 150
    skin = np.array([205.0, 158.0, 125.0])
    assert all(np.linalg.norm(c - skin) > 100 for c in colours)


def test_roi_is_outlined_and_default_width_scales() -> None:
    rgb = np.zeros((400, 600, 3), np.uint8)
    scarmap = _map(rgb.shape[:2])
    roi = np.array([[300.0, 250.0], [580.0, 250.0], [580.0, 390.0], [300.0, 390.0]])
    out = draw_overlay(rgb, scarmap, roi=roi)
    column = out[247:254, 400].astype(int)
    assert np.all(column.max(axis=0) >= 0.8 * np.array(ROI_COLOR_RGB))
    assert not out[320, 440].any(), "inside the ROI nothing is drawn"
    thick = draw_overlay(rgb, scarmap, line_px=6)
    thin = draw_overlay(rgb, scarmap, line_px=1)
    assert np.count_nonzero(thick.any(axis=2)) > 2 * np.count_nonzero(thin.any(axis=2))


def test_mismatched_photo_is_refused() -> None:
    scarmap = _map((180, 260))
    with pytest.raises(ValueError):
        draw_overlay(np.zeros((50, 50, 3), np.uint8), scarmap)
    with pytest.raises(ValueError):
        draw_overlay(np.zeros((180, 260), np.uint8), scarmap)  # type: ignore[arg-type]
