"""Change between two analyses of one patient: totals, per type, and scar by scar.

:func:`compare_scarmaps` compares the scars found in a later (AFTER) photo with
those of an earlier (BEFORE) one, through their :class:`Alignment`.

What "change" means (``CONTRACT.md``): the change of the ``compare`` JSON
(``change.area_mm2``, ``area_pct``, ``count``, ``by_type``) and the change from
baseline of ``measurements.csv`` (``change_area_mm2``, ``change_area_pct``) are
one and the same figure, :func:`summary_change`:

* ``area_mm2`` is AFTER's total scar area minus BEFORE's, each the ``summary``
  of its own analysis (the photo's region of interest, or the whole photo
  without the marker); each photo's areas use its own scale, so the change is
  independent of the two photos' resolutions;
* ``area_pct`` is that difference in percent of BEFORE's total (``None`` when
  BEFORE has no scar area or a scale is missing);
* ``count`` and ``by_type`` are the same differences of counts and per-type
  areas.

So ``change.area_mm2 == after.summary.area_mm2 - before.summary.area_mm2``
within the documents' rounding, and ``scarview export`` and the PDF report use
the same definition. The figures are given only when the alignment is ``ok``:
a change computed from photos that do not line up is not a change.

Because a photo taken closer, or shifted, shows fewer scars and would fake an
improvement, :class:`Change` also carries, as an extension, the same figures
restricted to the skin seen in both photos (``common``):

* the common region is BEFORE's frame (or region of interest) intersected with
  AFTER's frame (or region of interest) mapped through the homography; a scar
  belongs to it when its centroid does;
* scars are matched one to one by an optimal assignment
  (:func:`scipy.optimize.linear_sum_assignment`) on the distance between
  BEFORE's centroids and AFTER's centroids mapped into BEFORE, in millimetres;
  pairs further apart than ``max_match_mm`` stay unmatched. AFTER scars without
  a partner are ``new``; BEFORE scars without one are ``resolved`` (both within
  the common region).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview.core.types import SCAR_TYPES, Alignment, Scar, ScarMap, ScarSummary

__all__ = [
    "Change",
    "RegionChange",
    "ScarMatch",
    "TypeChange",
    "compare_scarmaps",
    "summary_change",
]

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
class RegionChange:
    """Scar totals of two photos over one region and their difference (AFTER minus BEFORE).

    Attributes
    ----------
    area_mm2 : float or None
        Total scar area change, mm² (None without both scales).
    area_pct : float or None
        The same, in percent of BEFORE's area (None when BEFORE has no scar area).
    count : int
        Change in the number of scars.
    by_type : dict of str to TypeChange
        Per Jacob type (``icepick``, ``boxcar``, ``rolling``).
    before_area_mm2, after_area_mm2 : float or None
        Total scar area of each photo, mm².
    before_count, after_count : int
        Number of scars of each photo.
    """

    area_mm2: float | None
    area_pct: float | None
    count: int
    by_type: dict[str, TypeChange]
    before_area_mm2: float | None
    after_area_mm2: float | None
    before_count: int
    after_count: int

    def to_dict(self) -> dict[str, object]:
        """JSON-ready figures (areas rounded to 1e-4 mm², percentages to 0.01)."""
        return {
            **_figures(self.area_mm2, self.area_pct, self.count, self.by_type),
            **_totals(
                self.before_area_mm2, self.after_area_mm2, self.before_count, self.after_count
            ),
        }


def _round(v: float | None, nd: int = 4) -> float | None:
    return None if v is None else round(float(v), nd)


def _figures(
    area_mm2: float | None,
    area_pct: float | None,
    count: int | None,
    by_type: dict[str, TypeChange],
) -> dict[str, object]:
    """The contract's change figures, JSON-ready (areas to 1e-4 mm², percentages to 0.01)."""
    return {
        "area_mm2": _round(area_mm2),
        "area_pct": _round(area_pct, 2),
        "count": count,
        "by_type": {
            t: {"count": c.count, "area_mm2": _round(c.area_mm2)} for t, c in by_type.items()
        },
    }


def _totals(
    before_area_mm2: float | None,
    after_area_mm2: float | None,
    before_count: int | None,
    after_count: int | None,
) -> dict[str, object]:
    """Each photo's totals, JSON-ready."""
    return {
        "before_area_mm2": _round(before_area_mm2),
        "after_area_mm2": _round(after_area_mm2),
        "before_count": before_count,
        "after_count": after_count,
    }


def _difference(
    before: tuple[float | None, int, dict[str, tuple[int, float | None]]],
    after: tuple[float | None, int, dict[str, tuple[int, float | None]]],
) -> RegionChange:
    """``(area_mm2, count, {type: (count, area_mm2)})`` of each photo -> their change."""
    area_b, count_b, types_b = before
    area_a, count_a, types_a = after
    area = None if area_b is None or area_a is None else area_a - area_b
    pct = None if area is None or area_b is None or area_b <= 0 else 100.0 * area / area_b
    by_type: dict[str, TypeChange] = {}
    for t in SCAR_TYPES:
        cb, ab = types_b.get(t, (0, None if area_b is None else 0.0))
        ca, aa = types_a.get(t, (0, None if area_a is None else 0.0))
        by_type[t] = TypeChange(
            count=ca - cb, area_mm2=None if ab is None or aa is None else aa - ab
        )
    return RegionChange(
        area_mm2=area,
        area_pct=pct,
        count=count_a - count_b,
        by_type=by_type,
        before_area_mm2=area_b,
        after_area_mm2=area_a,
        before_count=count_b,
        after_count=count_a,
    )


def _summary_totals(
    summary: ScarSummary,
) -> tuple[float | None, int, dict[str, tuple[int, float | None]]]:
    return (
        None if summary.area_mm2 is None else float(summary.area_mm2),
        int(summary.count),
        {
            t: (int(s.count), None if s.area_mm2 is None else float(s.area_mm2))
            for t, s in summary.by_type.items()
        },
    )


def _scar_totals(
    scars: list[Scar],
) -> tuple[float | None, int, dict[str, tuple[int, float | None]]]:
    return (
        _area_sum(scars),
        len(scars),
        {t: (len(m), _area_sum(m)) for t in SCAR_TYPES if (m := [s for s in scars if s.type == t])},
    )


def summary_change(before: ScarSummary, after: ScarSummary) -> RegionChange:
    """The contract's change between two analyses: AFTER's totals minus BEFORE's.

    The one definition of "change" that ``scarview compare`` (``change``),
    ``measurements.csv`` and ``scarview export`` (``change_area_mm2``,
    ``change_area_pct``) report; see the module's docstring. It does not look
    at the alignment: report it only for photos aligned ``ok``.

    Parameters
    ----------
    before, after : ScarSummary
        The totals of each analysis (over its own region of interest). A type
        missing from ``by_type`` counts as none of that type.

    Returns
    -------
    RegionChange
    """
    return _difference(_summary_totals(before), _summary_totals(after))


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
        Total scar area change (:func:`summary_change`): AFTER's ``summary``
        area minus BEFORE's, mm².
    area_pct : float or None
        The same, in percent of BEFORE's area (None when BEFORE has no scar area).
    count : int or None
        Change in the number of scars (AFTER's ``summary.count`` minus BEFORE's).
    by_type : dict of str to TypeChange
        Per Jacob type (``icepick``, ``boxcar``, ``rolling``), from the summaries.
    matched : tuple of ScarMatch
        Scars followed from BEFORE to AFTER (within the common region).
    new : tuple of int
        AFTER ids in the common region with no BEFORE partner.
    resolved : tuple of int
        BEFORE ids in the common region with no AFTER partner.
    before_area_mm2, after_area_mm2 : float or None
        Each photo's total scar area (its summary), mm².
    before_count, after_count : int or None
        Each photo's number of scars (its summary).
    common_fraction : float or None
        Fraction of BEFORE's region of interest that AFTER also shows.
    max_match_mm : float
        The matching distance used.
    common : RegionChange or None
        The same figures over the skin seen in both photos only (scars whose
        centroid lies in the common region).
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
    common: RegionChange | None = None

    def to_dict(self) -> dict[str, object]:
        """Return the contract's ``change`` object.

        The contract's keys (``area_mm2``, ``area_pct``, ``count``, ``by_type``,
        ``matched``), then ``ok``, ``reason``, ``new``, ``resolved``, each
        photo's totals, ``common_fraction`` and ``common`` (the figures over the
        skin seen in both photos, :meth:`RegionChange.to_dict`).
        """
        return {
            "ok": self.ok,
            "reason": self.reason,
            **_figures(self.area_mm2, self.area_pct, self.count, self.by_type),
            "matched": [
                {
                    "before_id": m.before_id,
                    "after_id": m.after_id,
                    "area_change_mm2": _round(m.area_change_mm2),
                    "distance_mm": _round(m.distance_mm, 3),
                }
                for m in self.matched
            ],
            "new": list(self.new),
            "resolved": list(self.resolved),
            **_totals(
                self.before_area_mm2, self.after_area_mm2, self.before_count, self.after_count
            ),
            "common_fraction": _round(self.common_fraction),
            "common": None if self.common is None else self.common.to_dict(),
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
        Otherwise the totals come from the two summaries
        (:func:`summary_change`), ``common`` and the matching from the scars in
        the common region.
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
        from scipy.optimize import linear_sum_assignment  # its import is slow: only when needed

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

    totals = summary_change(before.summary, after.summary)
    return Change(
        ok=True,
        area_mm2=totals.area_mm2,
        area_pct=totals.area_pct,
        count=totals.count,
        by_type=totals.by_type,
        matched=tuple(matched),
        new=new,
        resolved=resolved,
        before_area_mm2=totals.before_area_mm2,
        after_area_mm2=totals.after_area_mm2,
        before_count=totals.before_count,
        after_count=totals.after_count,
        common_fraction=common,
        max_match_mm=max_match_mm,
        common=_difference(_scar_totals(b_scars), _scar_totals(a_scars)),
    )
