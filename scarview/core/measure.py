"""Change between two analyses of one patient: totals, per type, and scar by scar.

:func:`compare_scarmaps` compares the scars found in a later (AFTER) photo with
those of an earlier (BEFORE) one, through their :class:`Alignment`:

* Only skin seen in both photos counts. The common region is BEFORE's frame
  (or region of interest) intersected with AFTER's frame (or region of
  interest) mapped through the homography; a scar belongs to it when its
  centroid does. Otherwise a photo taken closer, or shifted, would show fewer
  scars and fake an improvement.
* Totals and per-type figures are sums of the scars' own areas (each photo's
  areas use its own scale), so the change is independent of the two photos'
  resolutions.
* Scars are matched one to one by an optimal assignment
  (:func:`scipy.optimize.linear_sum_assignment`) on the distance between
  BEFORE's centroids and AFTER's centroids mapped into BEFORE, in millimetres;
  pairs further apart than ``max_match_mm`` stay unmatched. AFTER scars without
  a partner are new; BEFORE scars without one are resolved.
* When the alignment is not ``ok`` there are no figures at all, only the
  reason: a change computed from photos that do not line up is not a change.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from scarview.core.types import SCAR_TYPES, Alignment, Scar, ScarMap

__all__ = ["Change", "ScarMatch", "TypeChange", "compare_scarmaps"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class ScarMatch:
    """One scar followed from BEFORE to AFTER.

    Attributes
    ----------
    before_id, after_id : int
        The scar's id in each analysis.
    area_change_mm2 : float or None
        AFTER's area minus BEFORE's, in mm² (None without both scales).
    distance_mm : float or None
        Distance between BEFORE's centroid and AFTER's mapped centroid, in mm
        (None without BEFORE's scale).
    distance_px : float
        The same distance in BEFORE pixels.
    """

    before_id: int
    after_id: int
    area_change_mm2: float | None
    distance_mm: float | None
    distance_px: float


@dataclass(frozen=True)
class TypeChange:
    """Change of one scar type's count and area (AFTER minus BEFORE)."""

    count: int
    area_mm2: float | None


@dataclass(frozen=True)
class Change:
    """How the scars changed between two photos.

    Attributes
    ----------
    ok : bool
        False when the alignment was not trustworthy; every figure is then None
        or empty and ``reason`` says why.
    reason : str or None
    area_mm2 : float or None
        Total scar area change in the common region, mm² (AFTER minus BEFORE).
    area_pct : float or None
        The same, in percent of BEFORE's area (None when BEFORE has no scar area).
    count : int or None
        Change in the number of scars in the common region.
    by_type : dict of str to TypeChange
        Per Jacob type (``icepick``, ``boxcar``, ``rolling``).
    matched : tuple of ScarMatch
    new : tuple of int
        AFTER ids with no BEFORE partner.
    resolved : tuple of int
        BEFORE ids with no AFTER partner.
    before_area_mm2, after_area_mm2 : float or None
        Total scar area of each photo in the common region.
    before_count, after_count : int or None
        Number of scars of each photo in the common region.
    common_fraction : float or None
        Fraction of BEFORE's region of interest that AFTER also shows.
    max_match_mm : float
        The matching distance used.
    """

    ok: bool
    reason: str | None = None
    area_mm2: float | None = None
    area_pct: float | None = None
    count: int | None = None
    by_type: dict[str, TypeChange] = field(default_factory=dict)
    matched: tuple[ScarMatch, ...] = ()
    new: tuple[int, ...] = ()
    resolved: tuple[int, ...] = ()
    before_area_mm2: float | None = None
    after_area_mm2: float | None = None
    before_count: int | None = None
    after_count: int | None = None
    common_fraction: float | None = None
    max_match_mm: float = 2.0

    def to_dict(self) -> dict[str, object]:
        """Return the contract's ``change`` object (plus ``ok``, ``reason``, ``new``, ...)."""

        def r(v: float | None, nd: int = 4) -> float | None:
            return None if v is None else round(float(v), nd)

        return {
            "ok": self.ok,
            "reason": self.reason,
            "area_mm2": r(self.area_mm2),
            "area_pct": r(self.area_pct, 2),
            "count": self.count,
            "by_type": {
                t: {"count": c.count, "area_mm2": r(c.area_mm2)} for t, c in self.by_type.items()
            },
            "matched": [
                {
                    "before_id": m.before_id,
                    "after_id": m.after_id,
                    "area_change_mm2": r(m.area_change_mm2),
                    "distance_mm": r(m.distance_mm, 3),
                }
                for m in self.matched
            ],
            "new": list(self.new),
            "resolved": list(self.resolved),
            "before_area_mm2": r(self.before_area_mm2),
            "after_area_mm2": r(self.after_area_mm2),
            "before_count": self.before_count,
            "after_count": self.after_count,
            "common_fraction": r(self.common_fraction),
        }


def _frame_polygon(scarmap: ScarMap) -> FloatArray:
    """The analysed region of a photo: its ROI, else its frame (pixel edges)."""
    if scarmap.roi_polygon is not None and len(scarmap.roi_polygon) >= 3:
        return np.asarray(scarmap.roi_polygon, dtype=np.float64)
    rows, cols = scarmap.labels.shape
    return np.array(
        [[-0.5, -0.5], [cols - 0.5, -0.5], [cols - 0.5, rows - 0.5], [-0.5, rows - 0.5]]
    )


def _warp(H: FloatArray, xy: FloatArray) -> FloatArray:
    pts = np.c_[xy, np.ones(len(xy))] @ H.T
    return np.asarray(pts[:, :2] / pts[:, 2:3], dtype=np.float64)


def _inside(polygon: FloatArray, xy: FloatArray) -> NDArray[np.bool_]:
    """Whether each point lies inside (or on) a polygon."""
    contour = polygon.astype(np.float32).reshape(-1, 1, 2)
    return np.array(
        [cv2.pointPolygonTest(contour, (float(x), float(y)), False) >= 0 for x, y in xy],
        dtype=bool,
    )


def _common_fraction(before_poly: FloatArray, after_in_before: FloatArray) -> float:
    """Area of the intersection over BEFORE's region (convex hulls of both polygons)."""
    a = cv2.convexHull(before_poly.astype(np.float32))
    b = cv2.convexHull(after_in_before.astype(np.float32))
    area = abs(float(cv2.contourArea(a)))
    if area <= 0:
        return 0.0
    inter, _ = cv2.intersectConvexConvex(a, b)
    return float(inter) / area


def _area_sum(scars: list[Scar]) -> float | None:
    if any(s.area_mm2 is None for s in scars):
        return None
    return float(sum(float(s.area_mm2) for s in scars if s.area_mm2 is not None))


def _equivalent_radius_px(scar: Scar) -> float:
    return float(np.sqrt(max(scar.area_px, 1) / np.pi))


def compare_scarmaps(
    before: ScarMap,
    after: ScarMap,
    alignment: Alignment,
    *,
    max_match_mm: float = 2.0,
) -> Change:
    """Change of the scars from BEFORE to AFTER.

    Parameters
    ----------
    before, after : ScarMap
        The analyses of the earlier and the later photo, each in its own pixels.
    alignment : Alignment
        AFTER -> BEFORE (see :func:`scarview.core.align.align_photos`).
    max_match_mm : float
        Scars whose centroids are further apart than this (after alignment) are
        not the same scar. Without BEFORE's scale, a pair matches when either
        centroid lies within the other scar's equivalent radius instead.

    Returns
    -------
    Change
        With ``ok`` False and only a ``reason`` when the alignment is not ok.
    """
    if max_match_mm <= 0:
        raise ValueError("max_match_mm must be positive.")
    if not alignment.ok or alignment.homography is None:
        reason = alignment.reason or "The photos are not aligned."
        return Change(ok=False, reason=reason, max_match_mm=max_match_mm)
    H = np.asarray(alignment.homography, dtype=np.float64)

    before_poly = _frame_polygon(before)
    after_poly_b = _warp(H, _frame_polygon(after))
    common = _common_fraction(before_poly, after_poly_b)

    H_inv = np.asarray(np.linalg.inv(H), dtype=np.float64)
    b_xy = np.array([s.centroid_xy for s in before.scars], dtype=np.float64).reshape(-1, 2)
    a_xy = np.array([s.centroid_xy for s in after.scars], dtype=np.float64).reshape(-1, 2)
    a_in_b = _warp(H, a_xy) if len(a_xy) else np.zeros((0, 2))
    # A scar counts when its centroid is in both photos' regions.
    b_keep = (
        _inside(before_poly, b_xy) & _inside(_frame_polygon(after), _warp(H_inv, b_xy))
        if len(b_xy)
        else np.zeros(0, bool)
    )
    a_keep = (
        _inside(_frame_polygon(after), a_xy) & _inside(before_poly, a_in_b)
        if len(a_xy)
        else np.zeros(0, bool)
    )
    b_scars = [s for s, k in zip(before.scars, b_keep, strict=True) if k]
    a_scars = [s for s, k in zip(after.scars, a_keep, strict=True) if k]
    b_pts = b_xy[b_keep]
    a_pts = a_in_b[a_keep]

    # One-to-one matching on centroid distance.
    ppm = before.px_per_mm
    matched: list[ScarMatch] = []
    if len(b_scars) and len(a_scars):
        dist_px = np.linalg.norm(b_pts[:, None, :] - a_pts[None, :, :], axis=2)
        if ppm is not None and ppm > 0:
            allowed = dist_px / ppm <= max_match_mm
        else:
            rb = np.array([_equivalent_radius_px(s) for s in b_scars])[:, None]
            ra = np.array([_equivalent_radius_px(s) for s in a_scars])[None, :]
            allowed = dist_px <= np.maximum(rb, ra)
        big = 1e9
        cost = np.where(allowed, dist_px, big)
        rows, cols = linear_sum_assignment(cost)
        for i, j in zip(rows, cols, strict=True):
            if not allowed[i, j]:
                continue
            sb, sa = b_scars[i], a_scars[j]
            change = (
                None
                if sb.area_mm2 is None or sa.area_mm2 is None
                else float(sa.area_mm2) - float(sb.area_mm2)
            )
            matched.append(
                ScarMatch(
                    before_id=sb.id,
                    after_id=sa.id,
                    area_change_mm2=change,
                    distance_mm=None if ppm is None or ppm <= 0 else float(dist_px[i, j] / ppm),
                    distance_px=float(dist_px[i, j]),
                )
            )
    matched.sort(key=lambda m: m.before_id)
    b_matched = {m.before_id for m in matched}
    a_matched = {m.after_id for m in matched}
    new = tuple(sorted(s.id for s in a_scars if s.id not in a_matched))
    resolved = tuple(sorted(s.id for s in b_scars if s.id not in b_matched))

    area_b = _area_sum(b_scars)
    area_a = _area_sum(a_scars)
    area_change = None if area_b is None or area_a is None else area_a - area_b
    area_pct = (
        None
        if area_change is None or area_b is None or area_b <= 0
        else 100.0 * area_change / area_b
    )
    by_type: dict[str, TypeChange] = {}
    for t in SCAR_TYPES:
        tb = [s for s in b_scars if s.type == t]
        ta = [s for s in a_scars if s.type == t]
        ab, aa = _area_sum(tb), _area_sum(ta)
        by_type[t] = TypeChange(
            count=len(ta) - len(tb), area_mm2=None if ab is None or aa is None else aa - ab
        )
    return Change(
        ok=True,
        area_mm2=area_change,
        area_pct=area_pct,
        count=len(a_scars) - len(b_scars),
        by_type=by_type,
        matched=tuple(matched),
        new=new,
        resolved=resolved,
        before_area_mm2=area_b,
        after_area_mm2=area_a,
        before_count=len(b_scars),
        after_count=len(a_scars),
        common_fraction=common,
        max_match_mm=max_match_mm,
    )
