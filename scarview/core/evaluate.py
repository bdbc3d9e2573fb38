"""Accuracy metrics of a scar map against a true one (tests and benchmarks share them).

Definitions:

* **Pixel Dice** of two masks: ``2 |A & B| / (|A| + |B|)``, 1 when both are empty.
* **Lesion matching**: a found scar and a true scar match when their overlap
  (intersection over union) is at least ``min_iou`` (0.3 by default); pairs
  are made greedily, best overlap first, one to one.
* **Don't-care scars**: true scars that are not fully visible in the photo
  (or not inside the region of interest) are neither missed when not found
  nor false when found: a found scar whose pixels lie mostly on a don't-care
  scar is ignored, and don't-care pixels are left out of the Dice.
* **Lesion F1** from true positives (matched pairs), false positives (found,
  unmatched, not on a don't-care scar) and false negatives (true, unmatched).
* **Relative area error**: ``(found - true) / true`` of the total areas.
* **Type accuracy**: share of matched pairs whose found type equals the true one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "LesionMatch",
    "PhotoScore",
    "match_lesions",
    "pixel_dice",
    "relative_area_error",
    "score_photo",
    "type_accuracy",
]


def pixel_dice(found: NDArray[np.bool_], true: NDArray[np.bool_]) -> float:
    """Dice coefficient of two boolean masks of the same shape (1.0 when both are empty)."""
    a = np.asarray(found, dtype=bool)
    b = np.asarray(true, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"Masks differ in shape: {a.shape} and {b.shape}.")
    total = int(a.sum()) + int(b.sum())
    if total == 0:
        return 1.0
    return 2.0 * int(np.count_nonzero(a & b)) / total


@dataclass(frozen=True)
class LesionMatch:
    """How found scars pair with true ones.

    Attributes
    ----------
    pairs : tuple of (found_id, true_id, iou)
    false_positives : tuple of int
        Found ids with no partner (not counting those on don't-care scars).
    false_negatives : tuple of int
        True ids (that count) with no partner.
    ignored : tuple of int
        Found ids lying mostly on don't-care scars.
    """

    pairs: tuple[tuple[int, int, float], ...]
    false_positives: tuple[int, ...]
    false_negatives: tuple[int, ...]
    ignored: tuple[int, ...] = field(default=())

    @property
    def precision(self) -> float:
        """TP / (TP + FP); 1.0 when nothing was found."""
        tp, fp = len(self.pairs), len(self.false_positives)
        return 1.0 if tp + fp == 0 else tp / (tp + fp)

    @property
    def recall(self) -> float:
        """TP / (TP + FN); 1.0 when there was nothing to find."""
        tp, fn = len(self.pairs), len(self.false_negatives)
        return 1.0 if tp + fn == 0 else tp / (tp + fn)

    @property
    def f1(self) -> float:
        """Harmonic mean of precision and recall (1.0 when there is nothing either way)."""
        tp = len(self.pairs)
        denom = 2 * tp + len(self.false_positives) + len(self.false_negatives)
        return 1.0 if denom == 0 else 2 * tp / denom


def match_lesions(
    found_labels: NDArray[np.integer],
    true_labels: NDArray[np.integer],
    *,
    counted: Iterable[int] | None = None,
    min_iou: float = 0.3,
) -> LesionMatch:
    """Pair found scars with true scars by overlap.

    Parameters
    ----------
    found_labels, true_labels : ndarray of shape (H, W) and integer dtype
        0 outside scars, the scar's id inside.
    counted : iterable of int, optional
        True ids that count (fully visible, inside the ROI); the others are
        don't-care. Default: all.
    min_iou : float
        Least intersection over union of a pair.

    Returns
    -------
    LesionMatch
    """
    f = np.asarray(found_labels)
    t = np.asarray(true_labels)
    if f.shape != t.shape:
        raise ValueError(f"Label images differ in shape: {f.shape} and {t.shape}.")
    f_ids, f_areas = np.unique(f[f > 0], return_counts=True)
    t_ids, t_areas = np.unique(t[t > 0], return_counts=True)
    area_f = dict(zip(f_ids.tolist(), f_areas.tolist(), strict=True))
    area_t = dict(zip(t_ids.tolist(), t_areas.tolist(), strict=True))
    count_set = set(area_t) if counted is None else {int(i) for i in counted} & set(area_t)
    both = (f > 0) & (t > 0)
    pairs_px: dict[tuple[int, int], int] = {}
    if both.any():
        keys = f[both].astype(np.int64) * (int(t.max()) + 1) + t[both].astype(np.int64)
        uk, cnt = np.unique(keys, return_counts=True)
        base = int(t.max()) + 1
        for k, c in zip(uk.tolist(), cnt.tolist(), strict=True):
            pairs_px[(k // base, k % base)] = c
    ranked = sorted(
        ((c / (area_f[fi] + area_t[ti] - c), fi, ti) for (fi, ti), c in pairs_px.items()),
        reverse=True,
    )
    used_f: set[int] = set()
    used_t: set[int] = set()
    pairs: list[tuple[int, int, float]] = []
    for iou, fi, ti in ranked:
        if iou < min_iou or fi in used_f or ti in used_t:
            continue
        used_f.add(fi)
        used_t.add(ti)
        pairs.append((fi, ti, iou))
    dont_care = set(area_t) - count_set
    ignored: list[int] = []
    fps: list[int] = []
    kept_pairs: list[tuple[int, int, float]] = []
    for fi, ti, iou in pairs:
        if ti in dont_care:
            ignored.append(fi)
        else:
            kept_pairs.append((fi, ti, iou))
    for fi in area_f:
        if fi in used_f:
            continue
        on_dc = sum(c for (a, b), c in pairs_px.items() if a == fi and b in dont_care)
        if on_dc > 0.5 * area_f[fi]:
            ignored.append(fi)
        else:
            fps.append(fi)
    fns = sorted(ti for ti in count_set if ti not in used_t)
    return LesionMatch(
        pairs=tuple(kept_pairs),
        false_positives=tuple(sorted(fps)),
        false_negatives=tuple(fns),
        ignored=tuple(sorted(ignored)),
    )


def relative_area_error(found_area: float, true_area: float) -> float:
    """``(found - true) / true``; 0 when both are 0 and ``inf`` when only the truth is 0."""
    if true_area <= 0:
        return 0.0 if found_area <= 0 else float("inf")
    return (found_area - true_area) / true_area


def type_accuracy(
    pairs: Iterable[tuple[int, int, float]],
    found_types: Mapping[int, str],
    true_types: Mapping[int, str],
) -> tuple[int, int]:
    """Matched pairs whose types agree.

    Returns
    -------
    correct, total : int
        Number of pairs with equal types, number of pairs.
    """
    correct = total = 0
    for fi, ti, _ in pairs:
        total += 1
        correct += int(found_types.get(fi) == true_types.get(ti))
    return correct, total


@dataclass(frozen=True)
class PhotoScore:
    """Every metric of one photo.

    Attributes
    ----------
    dice : float
        Pixel Dice of the found and true masks, don't-care scars left out.
    match : LesionMatch
    found_area_px, true_area_px : int
        Total areas (don't-care scars left out), full-resolution pixels.
    area_error : float
        Relative error of the total area (see :func:`relative_area_error`).
    types_correct, types_total : int
        Matched pairs with the right type, and all matched pairs.
    pairs_by_type : dict
        ``{true type: [(found type or None, iou), ...]}`` for every counted
        true scar (``None`` when missed).
    """

    dice: float
    match: LesionMatch
    found_area_px: int
    true_area_px: int
    area_error: float
    types_correct: int
    types_total: int
    pairs_by_type: dict[str, list[tuple[str | None, float]]]


def score_photo(
    found_labels: NDArray[np.integer],
    found_types: Mapping[int, str],
    true_labels: NDArray[np.integer],
    true_types: Mapping[int, str],
    *,
    counted: Iterable[int] | None = None,
    ignore: NDArray[np.bool_] | None = None,
    min_iou: float = 0.3,
) -> PhotoScore:
    """Score a found scar map against the truth (see the module's definitions).

    Parameters
    ----------
    found_labels, true_labels : ndarray of shape (H, W) and integer dtype
    found_types, true_types : mapping
        Scar id -> type.
    counted : iterable of int, optional
        True ids that count; the other true scars are don't-care.
    ignore : ndarray of shape (H, W) and dtype bool, optional
        Pixels left out of everything (e.g. the scale marker); true scars
        there are removed before scoring.
    min_iou : float

    Returns
    -------
    PhotoScore
    """
    f = np.asarray(found_labels)
    t = np.asarray(true_labels).copy()
    if ignore is not None:
        t[np.asarray(ignore, bool)] = 0
    match = match_lesions(f, t, counted=counted, min_iou=min_iou)
    present = set(np.unique(t[t > 0]).tolist())
    count_set = present if counted is None else {int(i) for i in counted} & present
    dont_care = sorted(present - count_set)
    skip = np.isin(t, dont_care) if dont_care else np.zeros(t.shape, bool)
    if match.ignored:
        skip |= np.isin(f, list(match.ignored))
    fm = (f > 0) & ~skip
    tm = (t > 0) & ~skip
    found_px, true_px = int(fm.sum()), int(tm.sum())
    correct, total = type_accuracy(match.pairs, found_types, true_types)
    by_type: dict[str, list[tuple[str | None, float]]] = {}
    paired = {ti: (fi, iou) for fi, ti, iou in match.pairs}
    for ti in sorted(count_set):
        kind = str(true_types.get(ti, "?"))
        if ti in paired:
            fi, iou = paired[ti]
            by_type.setdefault(kind, []).append((found_types.get(fi), iou))
        else:
            by_type.setdefault(kind, []).append((None, 0.0))
    return PhotoScore(
        dice=pixel_dice(fm, tm),
        match=match,
        found_area_px=found_px,
        true_area_px=true_px,
        area_error=relative_area_error(found_px, true_px),
        types_correct=correct,
        types_total=total,
        pairs_by_type=by_type,
    )
