"""Tests for :mod:`scarview.core.measure`: change between two analyses."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from numpy.typing import NDArray

from scarview.core.align import align_photos
from scarview.core.measure import compare_scarmaps, summary_change
from scarview.core.types import (
    SCAR_TYPES,
    Alignment,
    Scar,
    ScarMap,
    ScarSummary,
    ScarType,
    TypeSummary,
)
from scarview.synth import RenderedPhoto, random_camera, random_capture, random_light, render
from scarview.synth.skin import true_area_mm2
from tests.core.test_align import marker_exclusion, patient

# ------------------------------------------------------------------------------------------
# Building analyses


def _scar(
    sid: int,
    xy: tuple[float, float],
    area_px: int,
    px_per_mm: float | None,
    scar_type: ScarType = "boxcar",
) -> Scar:
    area_mm2 = None if px_per_mm is None else area_px / px_per_mm**2
    r = float(np.sqrt(area_px / np.pi))
    return Scar(
        id=sid,
        type=scar_type,
        area_px=area_px,
        area_mm2=area_mm2,
        diameter_mm=None if area_mm2 is None else 2 * float(np.sqrt(area_mm2 / np.pi)),
        centroid_xy=xy,
        bbox_xywh=(int(xy[0] - r), int(xy[1] - r), int(2 * r) + 1, int(2 * r) + 1),
        contour=np.zeros((0, 2)),
        confidence=1.0,
    )


def _scarmap(scars: list[Scar], shape: tuple[int, int], px_per_mm: float | None) -> ScarMap:
    area_px = sum(s.area_px for s in scars)
    by_type = {}
    for t in SCAR_TYPES:
        of_type = [s for s in scars if s.type == t]
        by_type[t] = TypeSummary(
            count=len(of_type),
            area_mm2=None if px_per_mm is None else float(sum(s.area_mm2 or 0.0 for s in of_type)),
        )
    summary = ScarSummary(
        count=len(scars),
        area_mm2=None if px_per_mm is None else area_px / px_per_mm**2,
        area_px=area_px,
        roi_area_mm2=None if px_per_mm is None else shape[0] * shape[1] / px_per_mm**2,
        area_fraction=area_px / (shape[0] * shape[1]),
        by_type=by_type,
    )
    return ScarMap(
        scars=tuple(scars),
        labels=np.zeros(shape, np.int32),
        summary=summary,
        px_per_mm=px_per_mm,
    )


def scarmap_from_truth(photo: RenderedPhoto) -> ScarMap:
    """What a perfect analysis would report: the true outlines, measured with the
    photo's single scale (as the marker gives it), not with the true areas."""
    ppm = photo.px_per_mm
    scars = []
    for sid in np.unique(photo.labels):
        if sid == 0:
            continue
        ys, xs = np.nonzero(photo.labels == sid)
        spec = next(s for s in photo.truth["scars"] if s["id"] == sid)
        scars.append(
            _scar(int(sid), (float(xs.mean()), float(ys.mean())), len(xs), ppm, spec["type"])
        )
    return dataclasses.replace(_scarmap(scars, photo.labels.shape, ppm), labels=photo.labels.copy())


def _ok(H: NDArray[np.float64]) -> Alignment:
    return Alignment(ok=True, method="test", homography=H)


# ------------------------------------------------------------------------------------------
# Against synthetic truth


def _visible(photo: RenderedPhoto, centre_mm: tuple[float, float]) -> bool:
    p = photo.image_from_skin @ np.array([centre_mm[0], centre_mm[1], 1.0])
    x, y = p[0] / p[2], p[1] / p[2]
    rows, cols = photo.labels.shape
    return 0 <= x < cols and 0 <= y < rows


def test_change_from_baseline_matches_the_synthetic_truth() -> None:
    """Sessions 1-3 of one patient against the baseline, each photographed anew."""
    p = patient(300)
    rng = np.random.default_rng(300)
    cam0 = random_camera(rng, px_per_mm=(15.0, 17.0))
    photos = []
    for session in range(4):
        cam = (
            cam0
            if session == 0
            else random_camera(
                rng, base=cam0, px_per_mm=(0.85, 1.15), rotation_deg=(-15, 15), shift_mm=4.0
            )
        )
        light = dataclasses.replace(random_light(rng), azimuth_deg=135 + rng.uniform(-20, 20))
        photos.append(
            render(p, session=session, camera=cam, light=light, capture=random_capture(rng))
        )
    base = photos[0]
    base_map = scarmap_from_truth(base)
    for later in photos[1:]:
        alignment = align_photos(
            base.rgb,
            later.rgb,
            before_exclude=marker_exclusion(base),
            after_exclude=marker_exclusion(later),
            px_per_mm=base.px_per_mm,
        )
        assert alignment.ok, alignment.reason
        change = compare_scarmaps(base_map, scarmap_from_truth(later), alignment)
        assert change.ok
        # Truth: the analytic areas of the scars seen in both photos.
        session = later.truth["session"]
        common = [
            s for s in p.scars if _visible(base, s.center_mm) and _visible(later, s.center_mm)
        ]
        before_mm2 = sum(true_area_mm2(s, 0) for s in common)
        after_mm2 = sum(true_area_mm2(s, session) for s in common)
        true_pct = 100.0 * (after_mm2 - before_mm2) / before_mm2
        assert change.common is not None and change.common.area_pct is not None
        assert abs(change.common.area_pct - true_pct) <= 5.0, (session, change.common, true_pct)
        assert true_pct < 0  # the scars heal
        # Scar ids are stable in the generator: every match must pair a scar with itself.
        assert change.matched
        assert all(m.before_id == m.after_id for m in change.matched)
        assert all(m.distance_mm is not None and m.distance_mm < 0.5 for m in change.matched)
        # Nothing appears; what disappears has healed above the 0.05 mm threshold.
        assert change.new == ()
        assert set(change.resolved).isdisjoint(s["id"] for s in later.truth["scars"])


# ------------------------------------------------------------------------------------------
# Matching and bookkeeping


def test_matching_is_optimal_one_to_one_in_millimetres() -> None:
    ppm = 10.0
    shape = (400, 600)
    # AFTER is BEFORE shifted by (+50, -20) px: H maps AFTER -> BEFORE by (-50, +20).
    H = np.array([[1.0, 0, -50.0], [0, 1.0, 20.0], [0, 0, 1]])
    before = _scarmap(
        [_scar(1, (200.0, 200.0), 300, ppm), _scar(2, (218.0, 200.0), 200, ppm)], shape, ppm
    )
    # In BEFORE's frame: after-1 sits at (208, 200) -- nearest to before-1 (0.8 mm) but also
    # within 1.0 mm of before-2; after-2 sits at (189, 200), only within reach of before-1.
    after = _scarmap(
        [_scar(1, (258.0, 180.0), 150, ppm), _scar(2, (239.0, 180.0), 250, ppm)], shape, ppm
    )
    change = compare_scarmaps(before, after, _ok(H), max_match_mm=2.0)
    pairs = {(m.before_id, m.after_id) for m in change.matched}
    assert pairs == {(1, 2), (2, 1)}  # a greedy nearest-first match would pair 1-1 only
    assert change.new == () and change.resolved == ()
    by_pair = {(m.before_id, m.after_id): m for m in change.matched}
    assert by_pair[(2, 1)].area_change_mm2 == pytest.approx((150 - 200) / ppm**2)
    assert by_pair[(2, 1)].distance_mm == pytest.approx(1.0)
    assert change.area_mm2 == pytest.approx((400 - 500) / ppm**2)
    assert change.area_pct == pytest.approx(-20.0)
    assert change.count == 0


def test_far_scars_are_new_and_resolved() -> None:
    ppm = 10.0
    shape = (400, 600)
    before = _scarmap(
        [_scar(1, (100.0, 100.0), 300, ppm, "icepick"), _scar(2, (300.0, 100.0), 300, ppm)],
        shape,
        ppm,
    )
    after = _scarmap(
        [_scar(5, (101.0, 100.0), 100, ppm, "icepick"), _scar(6, (340.0, 300.0), 80, ppm)],
        shape,
        ppm,
    )
    change = compare_scarmaps(before, after, _ok(np.eye(3)))
    assert [(m.before_id, m.after_id) for m in change.matched] == [(1, 5)]
    assert change.new == (6,) and change.resolved == (2,)
    assert change.by_type["icepick"].count == 0
    assert change.by_type["icepick"].area_mm2 == pytest.approx(-2.0)
    assert change.by_type["boxcar"].area_mm2 == pytest.approx(-2.2)
    assert change.by_type["rolling"].count == 0


def test_only_skin_seen_in_both_photos_counts() -> None:
    """AFTER was taken closer: it shows only BEFORE's left half."""
    ppm = 10.0
    before = _scarmap(
        [_scar(1, (100.0, 200.0), 300, ppm), _scar(2, (500.0, 200.0), 300, ppm)], (400, 600), ppm
    )
    # AFTER pixel (x, y) shows BEFORE pixel (x / 2, y / 2): its frame covers x < 300.
    H = np.diag([0.5, 0.5, 1.0])
    after = _scarmap([_scar(7, (200.0, 400.0), 1000, 2 * ppm)], (800, 600), 2 * ppm)
    change = compare_scarmaps(before, after, _ok(H))
    assert change.resolved == ()  # scar 2 is simply not in AFTER's view
    assert [(m.before_id, m.after_id) for m in change.matched] == [(1, 7)]
    common = change.common
    assert common is not None
    assert common.before_count == 1 and common.after_count == 1 and common.count == 0
    assert common.area_mm2 == pytest.approx(1000 / 400 - 3.0)
    assert common.area_pct == pytest.approx(100 * (1000 / 400 - 3.0) / 3.0)
    assert change.common_fraction == pytest.approx(0.5, abs=0.01)
    # The contract's figures are the two analyses' totals, whatever each photo shows.
    assert change.before_count == 2 and change.after_count == 1 and change.count == -1
    assert change.area_mm2 == pytest.approx(1000 / 400 - 6.0)
    doc = change.to_dict()
    assert doc["common"]["area_mm2"] == pytest.approx(1000 / 400 - 3.0)  # type: ignore[index]


def test_change_is_the_difference_of_the_summaries() -> None:
    """``change`` follows CONTRACT.md: AFTER's summary minus BEFORE's, as in measurements.csv."""
    rng = np.random.default_rng(7)
    ppm = 12.0
    shape = (300, 400)
    types: list[ScarType] = ["icepick", "boxcar"]  # no rolling scar in either photo

    def random_map(n: int) -> ScarMap:
        scars = [
            _scar(
                i + 1,
                (float(rng.uniform(20, 380)), float(rng.uniform(20, 280))),
                int(rng.integers(50, 900)),
                ppm,
                types[int(rng.integers(0, 2))],
            )
            for i in range(n)
        ]
        return _scarmap(scars, shape, ppm)

    before, after = random_map(9), random_map(6)
    # Shifted: some scars of each photo fall outside the other's frame.
    change = compare_scarmaps(before, after, _ok(np.array([[1.0, 0, 90], [0, 1, -40], [0, 0, 1]])))
    totals = summary_change(before.summary, after.summary)
    assert change.area_mm2 == pytest.approx(after.summary.area_mm2 - before.summary.area_mm2)
    assert change.area_mm2 == totals.area_mm2 and change.area_pct == totals.area_pct
    assert change.area_pct == pytest.approx(
        100 * (after.summary.area_mm2 - before.summary.area_mm2) / before.summary.area_mm2
    )
    assert change.count == 6 - 9
    for t in SCAR_TYPES:
        b, a = before.summary.by_type[t], after.summary.by_type[t]
        assert change.by_type[t].count == a.count - b.count
        assert change.by_type[t].area_mm2 == pytest.approx(a.area_mm2 - b.area_mm2)
    assert change.by_type["rolling"].count == 0 and change.by_type["rolling"].area_mm2 == 0.0
    assert change.common is not None and change.common.before_count < 9
    # A type missing from a summary counts as none of it.
    partial = dataclasses.replace(
        before.summary, by_type={"icepick": before.summary.by_type["icepick"]}
    )
    missing = summary_change(partial, after.summary)
    assert missing.by_type["boxcar"].count == after.summary.by_type["boxcar"].count
    no_scale = summary_change(dataclasses.replace(before.summary, area_mm2=None), after.summary)
    assert no_scale.area_mm2 is None and no_scale.area_pct is None


def test_no_change_is_reported_from_a_failed_alignment() -> None:
    m = _scarmap([_scar(1, (10.0, 10.0), 30, 10.0)], (100, 100), 10.0)
    failed = Alignment(ok=False, method="x", homography=np.eye(3), reason="Too few features.")
    change = compare_scarmaps(m, m, failed)
    assert not change.ok and change.reason == "Too few features."
    assert change.area_mm2 is None and change.area_pct is None and change.count is None
    assert change.matched == () and change.by_type == {}
    doc = change.to_dict()
    assert doc["ok"] is False and doc["area_mm2"] is None and doc["matched"] == []


def test_without_a_scale_counts_still_work() -> None:
    before = _scarmap(
        [_scar(1, (100.0, 100.0), 400, None), _scar(2, (300.0, 100.0), 100, None)],
        (400, 600),
        None,
    )
    after = _scarmap([_scar(4, (105.0, 103.0), 350, None)], (400, 600), None)
    change = compare_scarmaps(before, after, _ok(np.eye(3)))
    assert change.ok and change.count == -1
    assert change.area_mm2 is None and change.area_pct is None
    assert [(m.before_id, m.after_id) for m in change.matched] == [(1, 4)]
    assert change.matched[0].area_change_mm2 is None and change.matched[0].distance_mm is None
    assert change.resolved == (2,)


def test_to_dict_follows_the_contract() -> None:
    ppm = 10.0
    before = _scarmap([_scar(1, (100.0, 100.0), 300, ppm)], (400, 600), ppm)
    after = _scarmap([_scar(3, (100.5, 100.0), 240, ppm)], (400, 600), ppm)
    doc = compare_scarmaps(before, after, _ok(np.eye(3))).to_dict()
    assert {"area_mm2", "area_pct", "count", "by_type", "matched", "new", "resolved"} <= set(doc)
    assert {"common", "common_fraction", "before_area_mm2", "after_area_mm2"} <= set(doc)
    assert doc["matched"] == [
        {"before_id": 1, "after_id": 3, "area_change_mm2": -0.6, "distance_mm": 0.05}
    ]
    assert set(doc["by_type"]) == set(SCAR_TYPES)  # type: ignore[arg-type]
    assert doc["area_pct"] == pytest.approx(-20.0)
    with pytest.raises(ValueError):
        compare_scarmaps(before, after, _ok(np.eye(3)), max_match_mm=0.0)
