"""Registration of a later (AFTER) photo onto an earlier (BEFORE) one.

Two stages, both on luminance (colour and exposure differ between sessions,
geometry does not):

1. **Coarse.** SIFT features on a copy of each photo at a reduced working
   resolution, about :attr:`AlignParams.work_px_per_mm` when the scale is known
   (skin's distinctive detail -- hair, pigment spots, pits, mottling -- lives at
   a fraction of a millimetre and up; finer detail is mostly pores and relief,
   whose shading moves with the light). The copy is log-luminance with the slow
   shading removed and its contrast stretched, so that low-contrast skin yields
   keypoints. Lowe's ratio test, then a USAC/MAGSAC homography.
2. **Fine.** ECC refinement on a pyramid of crops up to full resolution: square
   patches tiling the overlap are registered one by one with translation-only
   ECC on pre-blurred crops (ECC's own blur off, see ``STYLE.md``) whose
   quadratic shading trend is removed first, with masks that leave out the scale
   marker and the scars. The homography is re-fitted to the patch matches
   (MAGSAC for outliers, then least squares weighted by each match's
   information matrix: its structure tensor over its residual variance). ECC's
   correlation ignores gain and offset and the detrending ignores smooth
   shading, so exposure, white balance and slow light changes barely matter.

The homography maps AFTER pixels ``(x, y, 1)`` onto BEFORE pixels, in full
resolution, as the command-line contract says. Whether the result is ``ok`` is
decided from several independent figures (feature inliers, their ratio and
spread, patch agreement, residual RMSE, final correlation, a sane homography);
two photos of different skin must never pass.

Known limit: when the light comes from a very different direction in the two
photos, the relief and pores of the skin shade differently and their apparent
position moves by a fraction of a pixel to a few pixels; the aligner then
either refuses the pair (the patches disagree) or aligns it less exactly (see
``benchmarks/bench_align.py``). Photograph every session under the same light.

Manual fallback: :func:`align_from_points` fits a similarity or a homography to
clicked point pairs and reports each pair's residual.

What depends on one photo only (its luminance pyramid and the pixels that may be
used) is :func:`prepare_alignment`, so two photos can be prepared side by side
and a baseline once for all its follow-ups; :func:`align_prepared` does the rest
(the two photos' features in two threads, the patches in :attr:`AlignParams.threads`).
:func:`align_photos` is the two together. OpenCV's random generator is seeded
first (:data:`RNG_SEED`): the same pair always gives the same homography.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Literal

import cv2
import numpy as np
from numpy.typing import ArrayLike, NDArray

from scarview.core.types import (
    Alignment,
    CancelToken,
    ProgressCallback,
    check_cancel,
    report_progress,
)

__all__ = [
    "RNG_SEED",
    "AlignParams",
    "AlignmentInput",
    "align_from_points",
    "align_photos",
    "align_prepared",
    "corner_error_px",
    "corner_errors_px",
    "prepare_alignment",
    "warp_labels",
    "warp_points",
    "warp_to_before",
]

FloatArray = NDArray[np.float64]

METHOD = "sift+magsac+ecc-patches"

#: Seed of OpenCV's random generator (the calling thread's ``cv::RNG``), set by
#: :func:`align_prepared` before its robust fits, so that the same pair gives the same
#: homography whatever the caller did with that generator before. (OpenCV 5.0's
#: ``findHomography`` keeps its own fixed seed for RANSAC and USAC, as measured here;
#: the seed guards against builds and estimators that draw from ``cv::RNG``.)
RNG_SEED = 20260105

#: The pyramids of :func:`prepare_alignment` stop at about this long side (px).
_SMALLEST_LEVEL_PX = 16


@dataclass(frozen=True)
class AlignParams:
    """Settings of :func:`align_photos`.

    Attributes
    ----------
    work_px_per_mm : float
        Resolution of the coarse stage when the scale is known. Skin's most
        distinctive detail (hair, pigment spots, pits, mottling) is a fraction of a
        millimetre to a few millimetres across; finer detail is mostly pores and
        relief, whose shading changes with the light.
    work_long_side_px : int
        Long side of the coarse working copy when the scale is unknown.
    min_work_long_side_px : int
        The coarse working copy is never smaller than this (nor larger than the photo).
    max_features : int
        Most SIFT keypoints kept per photo.
    contrast_threshold : float
        SIFT's contrast threshold on the contrast-stretched working copy.
    shading_sigma_frac : float
        Gaussian sigma of the slow shading removed before feature detection, as a
        fraction of the working copy's long side.
    ratio : float
        Lowe's ratio test threshold on the two nearest descriptor distances.
    ransac_threshold_px : float
        MAGSAC inlier threshold, in working-resolution pixels.
    level_step : float
        Largest zoom between successive refinement levels (the last one is full resolution).
    patch_px : int
        Side of an ECC patch in pixels at every level.
    max_patches : int
        Most patches at full resolution (they tile the overlap on a regular grid).
    max_patches_between : int
        Most patches at the levels between the working resolution and full
        resolution (they only need to bring the estimate within ECC's reach).
    min_patch_valid : float
        Fewest usable (not excluded, inside both photos) pixels in a patch, as a fraction.
    final_passes : int
        Patch registration + refit passes at full resolution.
    threads : int
        Threads registering patches (OpenCV releases the GIL).
    patch_blur_px : float
        Sigma of the Gaussian pre-blur applied to both crops before ECC (ECC's
        own blur is turned off, see ``STYLE.md``).
    patch_tolerance_px : float
        A patch whose residual exceeds this, in pixels of its level, is an outlier...
    patch_tolerance_mm : float
        ... or, when BEFORE's scale is known and it is more, this in millimetres.
    min_patch_corr : float
        A patch whose ECC correlation is below this is not used.
    min_inliers : int
        Fewest feature inliers for a trustworthy alignment.
    min_inlier_ratio : float
        Lowest fraction of ratio-test matches that are MAGSAC inliers.
    min_inlier_spread : float
        Lowest area of the inliers' convex hull as a fraction of the overlap
        (inliers clustered on one object, such as a marker, do not count).
    min_patches : int
        Fewest patches that must agree at full resolution.
    min_patch_fraction : float
        Lowest fraction of tried patches that must agree at full resolution.
    max_rmse_mm : float
        Highest RMS patch residual at full resolution, in millimetres of skin,
        when BEFORE's scale is known.
    max_rmse_px : float
        Otherwise, the highest RMS patch residual in pixels of a photo whose long
        side is 1500 px (proportionally more for larger photos).
    min_ecc : float
        Lowest final correlation (:attr:`Alignment.ecc`).
    min_overlap : float
        Lowest fraction of BEFORE covered by the warped AFTER.
    max_scale_ratio : float
        Largest accepted zoom between the photos (and its inverse the smallest).
    max_perspective : float
        Largest ratio between the homogeneous ``w`` of AFTER's corners; 1 means
        affine, 1.5 is a strong tilt.
    """

    work_px_per_mm: float = 5.0
    work_long_side_px: int = 480
    min_work_long_side_px: int = 256
    max_features: int = 2000
    contrast_threshold: float = 0.003
    shading_sigma_frac: float = 0.08
    ratio: float = 0.8
    ransac_threshold_px: float = 1.5
    level_step: float = 4.0
    patch_px: int = 64
    max_patches: int = 120
    max_patches_between: int = 48
    min_patch_valid: float = 0.7
    final_passes: int = 1
    threads: int = 2
    patch_blur_px: float = 1.0
    patch_tolerance_px: float = 1.0
    patch_tolerance_mm: float = 0.06
    min_patch_corr: float = 0.2
    min_inliers: int = 12
    min_inlier_ratio: float = 0.1
    min_inlier_spread: float = 0.1
    min_patches: int = 12
    min_patch_fraction: float = 0.4
    max_rmse_mm: float = 0.1
    max_rmse_px: float = 1.5
    min_ecc: float = 0.3
    min_overlap: float = 0.2
    max_scale_ratio: float = 4.0
    max_perspective: float = 1.5


# ----------------------------------------------------------------------------------------------
# Geometry helpers


def warp_points(H: ArrayLike, xy: ArrayLike) -> FloatArray:
    """Map points through a homography.

    Parameters
    ----------
    H : array_like of shape (3, 3)
        Homography (for example AFTER -> BEFORE pixels).
    xy : array_like of shape (N, 2) or (2,)
        Points ``(x, y)`` in pixels.

    Returns
    -------
    ndarray of shape (N, 2) (or (2,)) and dtype float64
        The mapped points ``(x, y)``.
    """
    Hm = np.asarray(H, dtype=np.float64)
    pts = np.asarray(xy, dtype=np.float64)
    single = pts.ndim == 1
    pts2 = pts.reshape(-1, 2)
    homog = np.c_[pts2, np.ones(len(pts2))] @ Hm.T
    out = homog[:, :2] / homog[:, 2:3]
    return out[0] if single else out


def _corners(width: int, height: int) -> FloatArray:
    """The outer corners of a ``width`` x ``height`` image in pixel coordinates.

    Pixel centres are at integers, so the outer corners are at -0.5 and size - 0.5.
    """
    return np.array(
        [[-0.5, -0.5], [width - 0.5, -0.5], [width - 0.5, height - 0.5], [-0.5, height - 0.5]]
    )


def corner_errors_px(H_est: ArrayLike, H_true: ArrayLike, width: int, height: int) -> FloatArray:
    """Distances between the true and estimated images of AFTER's four corners.

    Parameters
    ----------
    H_est, H_true : array_like of shape (3, 3)
        Estimated and true AFTER -> BEFORE homographies, in full-resolution pixels.
    width, height : int
        AFTER's size in pixels.

    Returns
    -------
    ndarray of shape (4,) and dtype float64
        Distance in BEFORE pixels for the top-left, top-right, bottom-right and
        bottom-left corner.
    """
    c = _corners(width, height)
    return np.asarray(
        np.linalg.norm(warp_points(H_est, c) - warp_points(H_true, c), axis=1), dtype=np.float64
    )


def corner_error_px(H_est: ArrayLike, H_true: ArrayLike, width: int, height: int) -> float:
    """Mean corner error of an estimated homography, in BEFORE pixels.

    The mean over AFTER's four image corners of the distance between where the
    true and the estimated homography put them (see :func:`corner_errors_px`
    for the four distances, whose maximum is the other figure worth reporting).

    Parameters
    ----------
    H_est, H_true : array_like of shape (3, 3)
        Estimated and true AFTER -> BEFORE homographies, in full-resolution pixels.
    width, height : int
        AFTER's size in pixels.

    Returns
    -------
    float
        Mean corner distance in BEFORE pixels.
    """
    return float(np.mean(corner_errors_px(H_est, H_true, width, height)))


def warp_to_before(
    after_rgb: NDArray[np.uint8], H: ArrayLike, before_shape: tuple[int, ...]
) -> NDArray[np.uint8]:
    """Resample AFTER into BEFORE's frame.

    Parameters
    ----------
    after_rgb : ndarray of shape (H_a, W_a, 3) or (H_a, W_a) and dtype uint8
        The AFTER photo (or any image in AFTER's pixels).
    H : array_like of shape (3, 3)
        AFTER -> BEFORE homography in full-resolution pixels.
    before_shape : tuple of int
        BEFORE's shape; only ``(rows, cols)`` is used.

    Returns
    -------
    ndarray of shape (rows, cols, 3) (or (rows, cols)) and dtype uint8
        AFTER as seen in BEFORE's frame, bilinear; 0 where AFTER has no pixels.
    """
    rows, cols = int(before_shape[0]), int(before_shape[1])
    out = cv2.warpPerspective(
        np.ascontiguousarray(after_rgb),
        np.asarray(H, dtype=np.float64),
        (cols, rows),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return np.asarray(out, dtype=np.uint8)


def warp_labels(
    labels: NDArray[np.integer], H: ArrayLike, before_shape: tuple[int, ...]
) -> NDArray[np.int32]:
    """Resample a label image (or mask) of AFTER into BEFORE's frame, nearest neighbour.

    Parameters
    ----------
    labels : ndarray of shape (H_a, W_a), integer or bool
        Labels in AFTER's pixels (0 = background).
    H : array_like of shape (3, 3)
        AFTER -> BEFORE homography in full-resolution pixels.
    before_shape : tuple of int
        BEFORE's shape; only ``(rows, cols)`` is used.

    Returns
    -------
    ndarray of shape (rows, cols) and dtype int32
        The labels in BEFORE's frame; 0 where AFTER has no pixels.
    """
    rows, cols = int(before_shape[0]), int(before_shape[1])
    src = np.ascontiguousarray(labels, dtype=np.int32)
    out = cv2.warpPerspective(
        src,
        np.asarray(H, dtype=np.float64),
        (cols, rows),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    return np.asarray(out, dtype=np.int32)


# ----------------------------------------------------------------------------------------------
# Image pyramids


@dataclass(frozen=True, eq=False)
class _Level:
    """One resolution of a photo.

    Attributes
    ----------
    gray : ndarray of shape (h, w) and dtype uint8
    valid : ndarray of shape (h, w) and dtype uint8, or None
        255 where pixels may be used; None when every pixel may.
    S : ndarray of shape (3, 3)
        Full-resolution pixels -> this level's pixels.
    """

    gray: NDArray[np.uint8]
    valid: NDArray[np.uint8] | None
    S: FloatArray

    @property
    def scale(self) -> float:
        """Level pixels per full-resolution pixel (geometric mean of both axes)."""
        return float(np.sqrt(self.S[0, 0] * self.S[1, 1]))


def _resize_level(level: _Level, size: tuple[int, int]) -> _Level:
    """Shrink a level to ``size = (cols, rows)`` by area averaging.

    ``cv2.resize`` maps destination pixel centres to ``(x + 0.5) * src / dst - 0.5``;
    the returned level's ``S`` follows that exactly, per axis.
    """
    rows, cols = level.gray.shape
    dcols, drows = size
    sx, sy = dcols / cols, drows / rows
    step = np.array([[sx, 0.0, 0.5 * sx - 0.5], [0.0, sy, 0.5 * sy - 0.5], [0.0, 0.0, 1.0]])
    gray = np.asarray(cv2.resize(level.gray, size, interpolation=cv2.INTER_AREA), np.uint8)
    valid = None
    if level.valid is not None:
        small = cv2.resize(level.valid, size, interpolation=cv2.INTER_AREA)
        # wholly usable pixels only: 255 where every pixel averaged was 255, else 0
        valid = np.asarray(cv2.compare(small, 255, cv2.CMP_EQ), np.uint8)
    return _Level(gray, valid, step @ level.S)


def _pyramid(
    gray: NDArray[np.uint8], valid: NDArray[np.uint8] | None, smallest_long_side: int
) -> list[_Level]:
    """Halving pyramid, full resolution first, down to about ``smallest_long_side``."""
    levels = [_Level(gray, valid, np.eye(3))]
    while max(levels[-1].gray.shape) > 2 * smallest_long_side:
        rows, cols = levels[-1].gray.shape
        levels.append(_resize_level(levels[-1], ((cols + 1) // 2, (rows + 1) // 2)))
    return levels


def _level_at(levels: list[_Level], scale: float) -> _Level:
    """A level at exactly ``scale`` (from the nearest finer pyramid level)."""
    if scale >= 0.999:
        return levels[0]
    finer = [lv for lv in levels if lv.scale >= scale * 0.999]
    base = finer[-1]
    if base.scale <= scale * 1.001:
        return base
    rows, cols = levels[0].gray.shape
    return _resize_level(base, (max(1, round(cols * scale)), max(1, round(rows * scale))))


def _nearest_level(levels: list[_Level], scale: float) -> _Level:
    """The pyramid level whose scale is nearest to ``scale`` in ratio."""
    return min(levels, key=lambda lv: abs(np.log(lv.scale / min(scale, 1.0))))


def _to_level(H: FloatArray, before: _Level, after: _Level) -> FloatArray:
    """A full-resolution AFTER -> BEFORE homography in the two levels' pixels."""
    return before.S @ H @ np.linalg.inv(after.S)


def _to_full(H_level: FloatArray, before: _Level, after: _Level) -> FloatArray:
    """Inverse of :func:`_to_level`."""
    H = np.linalg.inv(before.S) @ H_level @ after.S
    return np.asarray(H / H[2, 2], dtype=np.float64)


def _valid_mask(exclude: NDArray[np.bool_] | None) -> NDArray[np.uint8] | None:
    """255 where pixels may be used, 0 where ``exclude`` is True (None: all usable)."""
    if exclude is None or not exclude.any():
        return None
    flags = np.ascontiguousarray(exclude, dtype=bool).view(np.uint8)
    return np.asarray(cv2.compare(flags, 0, cv2.CMP_EQ), np.uint8)


# ----------------------------------------------------------------------------------------------
# Sanity checks


def _homography_problem(
    H: FloatArray,
    after_size: tuple[int, int],
    before_size: tuple[int, int],
    params: AlignParams,
) -> tuple[str | None, float]:
    """Why ``H`` is not a plausible camera change, and the overlap fraction.

    Parameters
    ----------
    H : ndarray of shape (3, 3)
        AFTER -> BEFORE homography in full-resolution pixels.
    after_size, before_size : tuple of int
        ``(width, height)`` of each photo.
    params : AlignParams

    Returns
    -------
    reason : str or None
        A sentence, or None when the homography is plausible.
    overlap : float
        Fraction of BEFORE's area covered by the warped AFTER (0 to 1).
    """
    if not np.all(np.isfinite(H)) or abs(np.linalg.det(H)) < 1e-12:
        return "The estimated transformation is degenerate.", 0.0
    wa, ha = after_size
    wb, hb = before_size
    corners = _corners(wa, ha)
    w = np.c_[corners, np.ones(4)] @ H[2]
    if np.any(w <= 0) or np.max(w) / np.min(w) > params.max_perspective:
        return "The estimated transformation has an implausible perspective.", 0.0
    quad = warp_points(H, corners).astype(np.float32)
    cross = []
    for i in range(4):
        a, b, c = quad[i], quad[(i + 1) % 4], quad[(i + 2) % 4]
        u, v = b - a, c - b
        cross.append(float(u[0] * v[1] - u[1] * v[0]))
    if not (all(v > 0 for v in cross) or all(v < 0 for v in cross)) or cross[0] < 0:
        return "The estimated transformation folds or mirrors the photo.", 0.0
    area_after = float(wa * ha)
    area_mapped = abs(float(cv2.contourArea(quad)))
    scale = np.sqrt(area_mapped / area_after)
    if not (1.0 / params.max_scale_ratio <= scale <= params.max_scale_ratio):
        return (
            f"The estimated zoom between the photos ({scale:.2f}×) is outside the accepted range.",
            0.0,
        )
    frame = _corners(wb, hb).astype(np.float32)
    inter, _ = cv2.intersectConvexConvex(quad, frame)
    overlap = float(inter) / float(wb * hb)
    if overlap < params.min_overlap:
        return f"The photos overlap too little ({100 * overlap:.0f} % of BEFORE).", overlap
    return None, overlap


# ----------------------------------------------------------------------------------------------
# Image preparation


def _gray(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """Luminance of an RGB (or already grey) image, uint8."""
    if rgb.ndim == 2:
        return np.ascontiguousarray(rgb)
    return np.asarray(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY), dtype=np.uint8)


#: Gaussian blurs up to this sigma (px) are computed directly by :func:`_smooth`.
_SMOOTH_DIRECT_SIGMA_PX = 12.0


def _smooth(img: NDArray[np.float32], sigma_px: float) -> NDArray[np.float32]:
    """Gaussian blur of a float image; a wide one computed at a reduced resolution.

    Parameters
    ----------
    img : ndarray of shape (h, w) and dtype float32
    sigma_px : float
        Gaussian sigma in pixels of ``img``.

    Returns
    -------
    ndarray of shape (h, w) and dtype float32

    Notes
    -----
    A blur wider than :data:`_SMOOTH_DIRECT_SIGMA_PX` is a slow trend: the image is
    area-averaged by an integer factor (about a sixth of sigma), blurred there and
    resized back bilinearly, which differs from the direct blur by a small
    fraction of the trend's own variation and costs about ten times less.
    """
    rows, cols = img.shape
    factor = int(sigma_px // 6.0)
    if sigma_px <= _SMOOTH_DIRECT_SIGMA_PX or factor < 2 or min(rows, cols) < 4 * factor:
        return np.asarray(cv2.GaussianBlur(img, (0, 0), sigma_px), np.float32)
    small_size = (-(-cols // factor), -(-rows // factor))
    small = cv2.resize(img, small_size, interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigma_px / factor)
    return np.asarray(cv2.resize(small, (cols, rows), interpolation=cv2.INTER_LINEAR), np.float32)


def _feature_image(
    gray: NDArray[np.uint8], valid: NDArray[np.uint8], sigma_px: float
) -> NDArray[np.uint8]:
    """Log-luminance with slow shading removed, contrast-stretched to uint8.

    Skin is low in contrast: without the stretch most of its keypoints fall under
    SIFT's contrast threshold. The slow background is a normalised convolution
    over usable pixels, so an excluded marker does not bleed into its surroundings.
    """
    x = np.log1p(gray.astype(np.float32))
    m = (valid > 0).astype(np.float32)
    den = _smooth(m, sigma_px) + 1e-6
    hp = x - _smooth(x * m, sigma_px) / den
    used = hp[valid > 0]
    spread = float(np.std(used)) if used.size else 1.0
    return np.asarray(np.clip(128.0 + 50.0 * hp / (spread + 1e-6), 0, 255), dtype=np.uint8)


def _check_image(name: str, img: NDArray[np.uint8]) -> None:
    """Raise ValueError, with one sentence, on an image that cannot be aligned."""
    if img.dtype != np.uint8 or img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] != 3):
        raise ValueError(f"{name} must be an (H, W, 3) uint8 RGB image, got {img.shape}.")
    if min(img.shape[:2]) < 64:
        raise ValueError(f"{name} is too small to align ({img.shape[1]}x{img.shape[0]} px).")


def _check_inputs(
    before_rgb: NDArray[np.uint8],
    after_rgb: NDArray[np.uint8],
    before_exclude: NDArray[np.bool_] | None,
    after_exclude: NDArray[np.bool_] | None,
) -> None:
    """Raise ValueError, with one sentence, on photos or masks that cannot be aligned."""
    for name, img in (("before_rgb", before_rgb), ("after_rgb", after_rgb)):
        _check_image(name, img)
    for name, mask, img in (
        ("before_exclude", before_exclude, before_rgb),
        ("after_exclude", after_exclude, after_rgb),
    ):
        if mask is not None and mask.shape != img.shape[:2]:
            raise ValueError(
                f"{name} has shape {mask.shape} but its photo is {img.shape[1]}x{img.shape[0]} px."
            )


def _local_scale(H: FloatArray, x: float, y: float) -> float:
    """sqrt|det J| of ``H`` at ``(x, y)``: destination pixels per source pixel."""
    p = H @ np.array([x, y, 1.0])
    w = p[2]
    u, v = p[0] / w, p[1] / w
    J = np.array(
        [
            [(H[0, 0] - u * H[2, 0]) / w, (H[0, 1] - u * H[2, 1]) / w],
            [(H[1, 0] - v * H[2, 0]) / w, (H[1, 1] - v * H[2, 1]) / w],
        ]
    )
    return float(np.sqrt(abs(np.linalg.det(J))))


# ----------------------------------------------------------------------------------------------
# Coarse stage


@dataclass(frozen=True)
class _Coarse:
    H: FloatArray | None  # full resolution, AFTER -> BEFORE
    matches: int
    inliers: int
    spread: float  # inlier hull area over BEFORE's working area
    reason: str | None


def _coarse(before: _Level, after: _Level, params: AlignParams) -> _Coarse:
    """SIFT on contrast-stretched log-luminance, ratio test and MAGSAC, at working resolution."""
    sigma = params.shading_sigma_frac * max(before.gray.shape)
    bmask = before.valid if before.valid is not None else np.full_like(before.gray, 255)
    amask = after.valid if after.valid is not None else np.full_like(after.gray, 255)

    def features(
        level: _Level, mask: NDArray[np.uint8]
    ) -> tuple[tuple[cv2.KeyPoint, ...], NDArray[np.float32] | None]:
        sift = cv2.SIFT_create(
            nfeatures=params.max_features, contrastThreshold=params.contrast_threshold
        )
        keypoints, descriptors = sift.detectAndCompute(
            _feature_image(level.gray, mask, sigma), level.valid
        )
        return tuple(keypoints), descriptors

    # The two photos' features are independent: one thread each (OpenCV releases the GIL).
    if params.threads > 1:
        with ThreadPoolExecutor(2) as pool:
            f_before = pool.submit(features, before, bmask)
            (ka, da), (kb, db) = features(after, amask), f_before.result()
    else:
        (kb, db), (ka, da) = features(before, bmask), features(after, amask)
    if db is None or da is None or len(kb) < 8 or len(ka) < 8:
        return _Coarse(None, 0, 0, 0.0, "Too few distinct features to align the photos.")
    knn = cv2.BFMatcher(cv2.NORM_L2).knnMatch(da, db, k=2)
    good = [m[0] for m in knn if len(m) == 2 and m[0].distance < params.ratio * m[1].distance]
    if len(good) < 8:
        return _Coarse(
            None, len(good), 0, 0.0, "Too few features match between the photos to align them."
        )
    pa = np.array([ka[m.queryIdx].pt for m in good], dtype=np.float64)
    pb = np.array([kb[m.trainIdx].pt for m in good], dtype=np.float64)
    H, inl = cv2.findHomography(
        pa, pb, cv2.USAC_MAGSAC, params.ransac_threshold_px, maxIters=10000, confidence=0.9999
    )
    if H is None or inl is None:
        return _Coarse(None, len(good), 0, 0.0, "No consistent transformation links the photos.")
    keep = inl.ravel().astype(bool)
    n_in = int(keep.sum())
    spread = 0.0
    if n_in >= 3:
        hull = cv2.convexHull(pb[keep].astype(np.float32))
        rows, cols = before.gray.shape
        spread = float(cv2.contourArea(hull)) / float(rows * cols)
    H_full = _to_full(np.asarray(H, dtype=np.float64), before, after)
    return _Coarse(H_full, len(good), n_in, spread, None)


# ----------------------------------------------------------------------------------------------
# Fine stage: ECC on a pyramid of patches


@dataclass(frozen=True)
class _Patches:
    """Patch correspondences at one level (level pixels)."""

    after_pts: FloatArray  # (K, 2)
    before_pts: FloatArray  # (K, 2)
    info: FloatArray  # (K, 2, 2): inverse covariance of each match, 1/px²
    tried: int


def _patch_centres(
    before: _Level,
    after: _Level,
    work_b: _Level,
    work_a: _Level,
    H_level: FloatArray,
    usable_work: NDArray[np.uint8],
    params: AlignParams,
) -> FloatArray:
    """Centres ``(x, y)`` (BEFORE level pixels) of a regular grid of patches in the overlap.

    ``usable_work`` is, at the working resolution of BEFORE, the fraction (0-255) of
    usable pixels of both photos in a patch-sized box around each pixel.
    """
    P = params.patch_px
    margin = P // 2 + int(np.ceil(3 * params.patch_blur_px)) + 3
    rows, cols = before.gray.shape
    arows, acols = after.gray.shape
    k = work_b.scale / before.scale  # working pixels per level pixel
    n_usable = float(np.count_nonzero(usable_work >= 255 * params.min_patch_valid))
    area = n_usable / (k * k)
    step = max(float(P), np.sqrt(area / max(1, params.max_patches)))
    if cols - 2 * margin < 1 or rows - 2 * margin < 1:
        return np.zeros((0, 2))
    nx = int((cols - 2 * margin) // step) + 1
    ny = int((rows - 2 * margin) // step) + 1
    gx = margin + (cols - 2 * margin - (nx - 1) * step) / 2 + step * np.arange(nx)
    gy = margin + (rows - 2 * margin - (ny - 1) * step) / 2 + step * np.arange(ny)
    cx, cy = np.meshgrid(np.round(gx), np.round(gy))
    pts = np.c_[cx.ravel(), cy.ravel()]
    # The patch must lie inside AFTER (with margin) ...
    pa = warp_points(np.linalg.inv(H_level), pts)
    inside = (
        (pa[:, 0] >= margin)
        & (pa[:, 0] < acols - margin)
        & (pa[:, 1] >= margin)
        & (pa[:, 1] < arows - margin)
    )
    # ... and be mostly usable in both photos.
    wx = np.clip(np.round(pts[:, 0] * k), 0, usable_work.shape[1] - 1).astype(int)
    wy = np.clip(np.round(pts[:, 1] * k), 0, usable_work.shape[0] - 1).astype(int)
    ok = inside & (usable_work[wy, wx] >= 255 * params.min_patch_valid)
    return np.asarray(pts[ok], dtype=np.float64)


def _usable_work(
    work_b: _Level, work_a: _Level, H_work: FloatArray, box_px: int
) -> NDArray[np.uint8]:
    """Fraction (0-255) of pixels usable in both photos in a box around each BEFORE pixel."""
    rows, cols = work_b.gray.shape
    amask = work_a.valid if work_a.valid is not None else np.full_like(work_a.gray, 255)
    usable = cv2.warpPerspective(
        amask, H_work, (cols, rows), flags=cv2.INTER_NEAREST, borderValue=0
    )
    if work_b.valid is not None:
        usable = cv2.bitwise_and(usable, work_b.valid)
    box = max(1, int(box_px))
    return np.asarray(cv2.blur(usable, (box, box), borderType=cv2.BORDER_CONSTANT), np.uint8)


def _register_patch(
    before: _Level,
    after: _Level,
    H_inv: FloatArray,
    centre: FloatArray,
    params: AlignParams,
    crit: tuple[int, int, float],
) -> tuple[FloatArray, FloatArray, FloatArray] | None:
    """Translation-only ECC of one BEFORE patch against AFTER warped into its frame.

    Returns the AFTER point, the BEFORE point (level pixels) and the match's 2x2
    information matrix, or None when the patch does not converge.
    """
    P = params.patch_px
    m = int(np.ceil(3 * params.patch_blur_px)) + 1
    Q = P + 2 * m
    x0 = int(centre[0]) - Q // 2
    y0 = int(centre[1]) - Q // 2
    tpl = before.gray[y0 : y0 + Q, x0 : x0 + Q].astype(np.float32)
    M = H_inv @ np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1]])
    inp = cv2.warpPerspective(
        after.gray,
        M,
        (Q, Q),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    ).astype(np.float32)
    if params.patch_blur_px > 0:
        tpl = cv2.GaussianBlur(tpl, (0, 0), params.patch_blur_px)
        inp = cv2.GaussianBlur(inp, (0, 0), params.patch_blur_px)
    tpl = tpl[m : m + P, m : m + P]
    inp = inp[m : m + P, m : m + P]
    tmask: NDArray[np.uint8] | None = None
    imask: NDArray[np.uint8] | None = None
    if before.valid is not None:
        tmask = np.ascontiguousarray(before.valid[y0 + m : y0 + m + P, x0 + m : x0 + m + P])
    if after.valid is not None:
        Mp = H_inv @ np.array([[1.0, 0, x0 + m], [0, 1.0, y0 + m], [0, 0, 1]])
        imask = np.asarray(
            cv2.warpPerspective(
                after.valid,
                Mp,
                (P, P),
                flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
                borderMode=cv2.BORDER_CONSTANT,
                borderValue=0,
            ),
            np.uint8,
        )
    if tmask is not None and tmask.min() == 255:
        tmask = None
    if imask is not None and imask.min() == 255:
        imask = None
    tpl = _detrend(tpl, tmask)
    inp = _detrend(inp, imask)
    if float(tpl.std()) < 0.3 or float(inp.std()) < 0.3:
        return None  # flat: nothing to register
    W = np.eye(2, 3, dtype=np.float32)
    try:
        if tmask is None and imask is None:
            r, W = cv2.findTransformECC(tpl, inp, W, cv2.MOTION_TRANSLATION, crit, None, 1)
        else:
            full = np.full((P, P), 255, np.uint8)
            r, W = cv2.findTransformECCWithMask(
                tpl,
                inp,
                full if tmask is None else tmask,
                full if imask is None else imask,
                W,
                cv2.MOTION_TRANSLATION,
                crit,
                1,
            )
    except cv2.error:
        return None
    t = W[:, 2].astype(np.float64)
    if not np.all(np.isfinite(t)) or np.hypot(*t) > P / 4 or r < params.min_patch_corr:
        return None
    # Template pixel (u, v) is BEFORE level pixel (x0 + m + u, y0 + m + v); ECC matched it
    # with the warped AFTER crop at (u, v) + t.
    c_b = np.array([x0 + m + (P - 1) / 2.0, y0 + m + (P - 1) / 2.0])
    c_a = warp_points(H_inv, c_b + t)
    gx = cv2.Sobel(tpl, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8)
    gy = cv2.Sobel(tpl, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8)
    if tmask is not None:
        w = tmask.astype(np.float32) / 255.0
        gx, gy = gx * w, gy * w
        var = float(tpl[tmask > 0].var())
    else:
        var = float(tpl.var())
    S = np.array(
        [
            [float((gx * gx).sum()), float((gx * gy).sum())],
            [float((gx * gy).sum()), float((gy * gy).sum())],
        ]
    )
    noise = max(1.0 - float(r) ** 2, 1e-3) * var
    return c_a, c_b, S / noise


def _patch_pass(
    before: _Level,
    after: _Level,
    H_level: FloatArray,
    centres: FloatArray,
    params: AlignParams,
    cancel: CancelToken | None,
) -> _Patches:
    """Register every patch (two threads; OpenCV releases the GIL).

    Each converged patch gives a correspondence and its information matrix: the
    template's structure tensor over the residual variance ``(1 - r²) var``
    (the Cramér-Rao bound of a translation estimate), so that an edge constrains
    only across itself and a poorly matching patch counts little.
    """
    H_inv = np.asarray(np.linalg.inv(H_level), dtype=np.float64)
    crit = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)

    def run(chunk: FloatArray) -> list[tuple[FloatArray, FloatArray, FloatArray] | None]:
        out = []
        for c in chunk:
            check_cancel(cancel)
            out.append(_register_patch(before, after, H_inv, c, params, crit))
        return out

    chunks = [centres[i :: params.threads] for i in range(params.threads)]
    if params.threads > 1 and len(centres) > 8:
        with ThreadPoolExecutor(params.threads) as pool:
            results = [r for part in pool.map(run, chunks) for r in part]
    else:
        results = run(centres)
    found = [r for r in results if r is not None]
    return _Patches(
        np.asarray([f[0] for f in found], dtype=np.float64).reshape(-1, 2),
        np.asarray([f[1] for f in found], dtype=np.float64).reshape(-1, 2),
        np.asarray([f[2] for f in found], dtype=np.float64).reshape(-1, 2, 2),
        len(centres),
    )


@lru_cache(maxsize=8)
def _quadratic_basis(n: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Quadratic surface basis over an n x n patch (n*n, 6) and its pseudo-inverse (6, n*n)."""
    t = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    yy, xx = np.meshgrid(t, t, indexing="ij")
    basis = np.stack([np.ones_like(xx), xx, yy, xx * xx, xx * yy, yy * yy], axis=-1).reshape(-1, 6)
    return basis, np.linalg.pinv(basis).astype(np.float32)


def _detrend(patch: NDArray[np.float32], mask: NDArray[np.uint8] | None) -> NDArray[np.float32]:
    """Subtract the least-squares quadratic surface (over ``mask``) from a square patch.

    A smooth shading change across a patch (the light's direction, the cheek's
    curvature) would otherwise pull ECC's translation; ECC itself only ignores a
    change of gain and offset.
    """
    n = patch.shape[0]
    basis, pinv = _quadratic_basis(n)
    values = patch.reshape(-1)
    if mask is None:
        coef = pinv @ values
    else:
        w = (mask.reshape(-1) > 0).astype(np.float32)
        bw = basis * w[:, None]
        coef = np.linalg.lstsq(bw.T @ basis, bw.T @ values, rcond=None)[0]
    return np.ascontiguousarray((values - basis @ coef).reshape(n, n), dtype=np.float32)


def _fit_homography(
    patches: _Patches, tolerance_px: float
) -> tuple[FloatArray | None, NDArray[np.bool_]]:
    """Homography from patch matches: MAGSAC for outliers, then weighted least squares.

    The weighted fit minimises the sum of Mahalanobis distances
    ``(H(a) - b)^T info (H(a) - b)`` over the inliers.
    """
    a_pts, b_pts = patches.after_pts, patches.before_pts
    n = len(a_pts)
    if n < 8:
        return None, np.zeros(n, bool)
    H, inl = cv2.findHomography(
        a_pts, b_pts, cv2.USAC_MAGSAC, tolerance_px, maxIters=5000, confidence=0.999
    )
    if H is None or inl is None:
        return None, np.zeros(n, bool)
    keep = inl.ravel().astype(bool)
    H = np.asarray(H, dtype=np.float64)
    for _ in range(2):
        if keep.sum() < 8:
            return None, keep
        H = _weighted_homography(H, a_pts[keep], b_pts[keep], patches.info[keep])
        res = np.linalg.norm(warp_points(H, a_pts) - b_pts, axis=1)
        keep = res <= tolerance_px
    return H / H[2, 2], keep


def _weighted_homography(
    H0: FloatArray, a: FloatArray, b: FloatArray, info: FloatArray
) -> FloatArray:
    """Gauss-Newton refinement of ``H0`` minimising sum (H(a)-b)^T info (H(a)-b)."""
    # Normalise coordinates for conditioning.
    ca, cb = a.mean(axis=0), b.mean(axis=0)
    sa = float(np.sqrt(np.mean(np.sum((a - ca) ** 2, axis=1)))) or 1.0
    sb = float(np.sqrt(np.mean(np.sum((b - cb) ** 2, axis=1)))) or 1.0
    Ta = np.array([[1 / sa, 0, -ca[0] / sa], [0, 1 / sa, -ca[1] / sa], [0, 0, 1]])
    Tb = np.array([[1 / sb, 0, -cb[0] / sb], [0, 1 / sb, -cb[1] / sb], [0, 0, 1]])
    an = warp_points(Ta, a)
    bn = warp_points(Tb, b)
    info_n = info * (sb * sb)
    # Square roots of the information matrices (symmetric PSD 2x2).
    evals, evecs = np.linalg.eigh(info_n)
    root = np.einsum("kij,kj,klj->kil", evecs, np.sqrt(np.clip(evals, 0, None)), evecs)
    Hn = Tb @ H0 @ np.linalg.inv(Ta)
    h = (Hn / Hn[2, 2]).ravel()[:8].copy()
    x, y = an[:, 0], an[:, 1]
    for _ in range(10):
        Hm = np.append(h, 1.0).reshape(3, 3)
        u = Hm[0, 0] * x + Hm[0, 1] * y + Hm[0, 2]
        v = Hm[1, 0] * x + Hm[1, 1] * y + Hm[1, 2]
        w = Hm[2, 0] * x + Hm[2, 1] * y + 1.0
        pu, pv = u / w, v / w
        r = np.stack([pu - bn[:, 0], pv - bn[:, 1]], axis=1)  # (K, 2)
        zero = np.zeros_like(x)
        Ju = np.stack([x / w, y / w, 1 / w, zero, zero, zero, -x * pu / w, -y * pu / w], axis=1)
        Jv = np.stack([zero, zero, zero, x / w, y / w, 1 / w, -x * pv / w, -y * pv / w], axis=1)
        J = np.stack([Ju, Jv], axis=1)  # (K, 2, 8)
        Jw = np.einsum("kij,kjp->kip", root, J).reshape(-1, 8)
        rw = np.einsum("kij,kj->ki", root, r).reshape(-1)
        step, *_ = np.linalg.lstsq(Jw, -rw, rcond=None)
        h += step
        if float(np.max(np.abs(step))) < 1e-10:
            break
    Hn = np.append(h, 1.0).reshape(3, 3)
    H = np.linalg.inv(Tb) @ Hn @ Ta
    return np.asarray(H / H[2, 2], dtype=np.float64)


@dataclass(frozen=True)
class _Fine:
    H: FloatArray
    tried: int
    agreed: int
    rmse_px: float  # full-resolution BEFORE pixels
    reason: str | None


def _fine(
    before_levels: list[_Level],
    after_levels: list[_Level],
    work_b: _Level,
    work_a: _Level,
    H0: FloatArray,
    params: AlignParams,
    px_per_mm: float | None,
    progress: ProgressCallback | None,
    cancel: CancelToken | None,
) -> _Fine:
    """ECC patch refinement from above the working resolution up to full resolution.

    A patch agrees with the fitted homography within ``patch_tolerance_px`` level
    pixels, or ``patch_tolerance_mm`` of skin when BEFORE's scale is known and
    that is more (fine levels of large photos resolve pores, whose shading moves
    with the light by a fraction of a millimetre).
    """
    # BEFORE's levels: pyramid levels at most ``level_step`` apart, ending at full resolution.
    chosen: list[_Level] = []
    s = work_b.scale
    while True:
        finer = [lv for lv in before_levels if lv.scale <= s * params.level_step * 1.001]
        level = max(finer, key=lambda lv: lv.scale)
        chosen.append(level)
        if level.scale >= 0.999:
            break
        s = level.scale
    hb, wb = before_levels[0].gray.shape
    H = H0.copy()
    tried = agreed = 0
    rmse = float("inf")
    for li, lb in enumerate(chosen):
        # AFTER at the pyramid level whose pixels best match BEFORE's at this level.
        centre_a = warp_points(np.linalg.inv(H), [wb / 2, hb / 2])
        zoom = _local_scale(H, float(centre_a[0]), float(centre_a[1]))
        la = _nearest_level(after_levels, lb.scale * zoom)
        passes = params.final_passes if lb.scale >= 0.999 else 1
        # Small photos get smaller patches, so that enough of them fit.
        level_params = replace(
            params,
            patch_px=int(np.clip(min(lb.gray.shape) // 6, 24, params.patch_px)),
            max_patches=params.max_patches if lb.scale >= 0.999 else params.max_patches_between,
        )
        for _ in range(passes):
            H_level = _to_level(H, lb, la)
            box = level_params.patch_px * work_b.scale / lb.scale
            usable = _usable_work(work_b, work_a, _to_level(H, work_b, work_a), round(box))
            centres = _patch_centres(lb, la, work_b, work_a, H_level, usable, level_params)
            patches = _patch_pass(lb, la, H_level, centres, level_params, cancel)
            tried = patches.tried
            tolerance = params.patch_tolerance_px
            if px_per_mm is not None:
                tolerance = max(tolerance, params.patch_tolerance_mm * px_per_mm * lb.scale)
            H_new, keep = _fit_homography(patches, tolerance)
            agreed = int(keep.sum())
            if H_new is None:
                return _Fine(
                    H,
                    tried,
                    agreed,
                    float("inf"),
                    f"Only {agreed} of {tried} image patches agree on one transformation.",
                )
            H = _to_full(H_new, lb, la)
            res = np.linalg.norm(
                warp_points(H_new, patches.after_pts[keep]) - patches.before_pts[keep], axis=1
            )
            rmse = float(np.sqrt(np.mean(res**2))) / lb.scale
        report_progress(progress, 0.35 + 0.55 * (li + 1) / len(chosen), "Refining the alignment")
    return _Fine(H, tried, agreed, rmse, None)


def _final_correlation(work_b: _Level, work_a: _Level, H_work: FloatArray) -> float:
    """Correlation of the (slightly blurred) working copies over their usable overlap.

    Slow shading is removed first so that the figure reflects the skin, not the light.
    """
    rows, cols = work_b.gray.shape
    b = cv2.GaussianBlur(work_b.gray.astype(np.float32), (0, 0), 1.0)
    a = cv2.GaussianBlur(work_a.gray.astype(np.float32), (0, 0), 1.0)
    warped = cv2.warpPerspective(a, H_work, (cols, rows), flags=cv2.INTER_LINEAR)
    amask = work_a.valid if work_a.valid is not None else np.full_like(work_a.gray, 255)
    mask = cv2.warpPerspective(amask, H_work, (cols, rows), flags=cv2.INTER_NEAREST)
    if work_b.valid is not None:
        mask = cv2.bitwise_and(mask, work_b.valid)
    if int(np.count_nonzero(mask)) < 100:
        return 0.0
    sigma = max(rows, cols) / 20.0
    m = mask.astype(np.float32) / 255.0
    den = _smooth(m, sigma) + 1e-6
    b = b - _smooth(b * m, sigma) / den
    warped = warped - _smooth(warped * m, sigma) / den
    return float(cv2.computeECC(b, warped, mask))


# ----------------------------------------------------------------------------------------------
# Public API


def _fail(H: FloatArray | None, reasons: list[str], inliers: int, ratio: float) -> Alignment:
    """A refused alignment: the first reason is the user's sentence, the rest warnings."""
    return Alignment(
        ok=False,
        method=METHOD,
        homography=H,
        inliers=inliers,
        inlier_ratio=ratio,
        reason=reasons[0],
        warnings=tuple(reasons[1:]),
    )


@dataclass(frozen=True, eq=False)
class AlignmentInput:
    """A photo made ready for registration (see :func:`prepare_alignment`).

    Attributes
    ----------
    levels : tuple of _Level
        Luminance pyramid, full resolution first, halving down to about
        ``_SMALLEST_LEVEL_PX`` on the long side; each level holds its grey
        pixels (uint8), the pixels that may be used (uint8 255, or None when
        all may) and its scale from full-resolution pixels.
    """

    levels: tuple[_Level, ...]

    @property
    def shape(self) -> tuple[int, int]:
        """``(rows, cols)`` of the full-resolution photo."""
        rows, cols = self.levels[0].gray.shape
        return int(rows), int(cols)


def prepare_alignment(
    image: NDArray[np.uint8], exclude: NDArray[np.bool_] | None = None
) -> AlignmentInput:
    """Luminance pyramid and usable pixels of one photo, for :func:`align_prepared`.

    This is the part of the registration that depends on one photo only, so
    two photos can be prepared at the same time (each in its own thread: OpenCV
    releases the GIL) and a baseline photo once for all its follow-ups.

    Parameters
    ----------
    image : ndarray of shape (H, W, 3) or (H, W) and dtype uint8
        The photo, RGB, or its luminance (``cv2.COLOR_RGB2GRAY``) when the
        caller already has it.
    exclude : ndarray of shape (H, W) and dtype bool, optional
        True where pixels must not guide the alignment (the scale marker, the
        scars, each grown by a margin).

    Returns
    -------
    AlignmentInput

    Raises
    ------
    ValueError
        With one sentence, when the image or mask cannot be aligned.
    """
    _check_image("image", image)
    if exclude is not None and exclude.shape != image.shape[:2]:
        raise ValueError(
            f"exclude has shape {exclude.shape} but its photo is "
            f"{image.shape[1]}x{image.shape[0]} px."
        )
    levels = _pyramid(_gray(image), _valid_mask(exclude), _SMALLEST_LEVEL_PX)
    return AlignmentInput(tuple(levels))


def align_photos(
    before_rgb: NDArray[np.uint8],
    after_rgb: NDArray[np.uint8],
    *,
    before_exclude: NDArray[np.bool_] | None = None,
    after_exclude: NDArray[np.bool_] | None = None,
    px_per_mm: float | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    params: AlignParams = AlignParams(),
) -> Alignment:
    """Register AFTER onto BEFORE.

    The same as :func:`prepare_alignment` on each photo followed by
    :func:`align_prepared`.

    Parameters
    ----------
    before_rgb : ndarray of shape (H_b, W_b, 3) and dtype uint8
        The earlier photo, RGB.
    after_rgb : ndarray of shape (H_a, W_a, 3) and dtype uint8
        The later photo, RGB; its size may differ from BEFORE's.
    before_exclude, after_exclude : ndarray of shape (H, W) and dtype bool, optional
        True where pixels must not guide the alignment (the scale marker, the
        scars, each grown by a margin), in each photo's own pixels.
    px_per_mm : float, optional
        BEFORE's scale. When given, the coarse stage works at
        :attr:`AlignParams.work_px_per_mm`, where skin shows its most distinctive
        detail (hair, pigment spots, pits); otherwise at
        :attr:`AlignParams.work_long_side_px`.
    progress : callable, optional
        ``progress(fraction, message)``.
    cancel : CancelToken, optional
        Raises :class:`scarview.errors.Cancelled` when set.
    params : AlignParams
        Tuning; the defaults are what the accuracy figures were measured with.

    Returns
    -------
    Alignment
        See :func:`align_prepared`.
    """
    _check_inputs(before_rgb, after_rgb, before_exclude, after_exclude)
    report_progress(progress, 0.0, "Preparing the photos")
    before = prepare_alignment(before_rgb, before_exclude)
    check_cancel(cancel)
    after = prepare_alignment(after_rgb, after_exclude)
    check_cancel(cancel)
    return align_prepared(
        before, after, px_per_mm=px_per_mm, progress=progress, cancel=cancel, params=params
    )


def align_prepared(
    before: AlignmentInput,
    after: AlignmentInput,
    *,
    px_per_mm: float | None = None,
    progress: ProgressCallback | None = None,
    cancel: CancelToken | None = None,
    params: AlignParams = AlignParams(),
) -> Alignment:
    """Register AFTER onto BEFORE, both already prepared by :func:`prepare_alignment`.

    OpenCV's random generator of the calling thread is seeded with
    :data:`RNG_SEED` first, so the same pair always gives the same homography.

    Parameters
    ----------
    before, after : AlignmentInput
        The earlier and the later photo (their sizes may differ).
    px_per_mm : float, optional
        BEFORE's scale. When given, the coarse stage works at
        :attr:`AlignParams.work_px_per_mm`, where skin shows its most distinctive
        detail (hair, pigment spots, pits); otherwise at
        :attr:`AlignParams.work_long_side_px`.
    progress : callable, optional
        ``progress(fraction, message)``.
    cancel : CancelToken, optional
        Raises :class:`scarview.errors.Cancelled` when set.
    params : AlignParams
        Tuning; the defaults are what the accuracy figures were measured with.

    Returns
    -------
    Alignment
        ``homography`` maps AFTER pixels onto BEFORE pixels (full resolution).
        ``inliers`` and ``inlier_ratio`` describe the coarse feature matches;
        ``rmse_px`` is the RMS residual of the full-resolution ECC patches under
        the final homography, in BEFORE pixels; ``ecc`` is the correlation of the
        aligned photos over their overlap at the working resolution (slow
        shading removed). ``ok`` is False, with a ``reason``, when any of these
        or the homography's shape says the pair cannot be trusted; the
        homography is still given when one was found, for display only.
    """
    cv2.setRNGSeed(RNG_SEED)
    report_progress(progress, 0.02, "Preparing the photos")
    hb, wb = before.shape
    ha, wa = after.shape
    scale = (
        float(px_per_mm)
        if px_per_mm is not None and np.isfinite(px_per_mm) and px_per_mm > 0
        else None
    )
    if scale is not None:
        s_b = params.work_px_per_mm / scale
    else:
        s_b = params.work_long_side_px / max(hb, wb)
    s_b = float(np.clip(s_b, params.min_work_long_side_px / max(hb, wb), 1.0))
    # AFTER's working copy has the same long side; the features absorb any zoom.
    s_a = float(min(1.0, s_b * max(hb, wb) / max(ha, wa)))
    before_levels = list(before.levels)
    after_levels = list(after.levels)
    work_b = _level_at(before_levels, s_b)
    work_a = _level_at(after_levels, s_a)
    check_cancel(cancel)

    report_progress(progress, 0.05, "Matching features")
    coarse = _coarse(work_b, work_a, params)
    check_cancel(cancel)
    ratio = coarse.inliers / coarse.matches if coarse.matches else 0.0
    if coarse.H is None:
        report_progress(progress, 1.0, "The photos could not be aligned")
        return _fail(None, [str(coarse.reason)], coarse.inliers, ratio)
    reasons: list[str] = []
    if coarse.inliers < params.min_inliers:
        reasons.append(
            f"Only {coarse.inliers} features agree between the photos "
            f"(at least {params.min_inliers} are needed)."
        )
    if ratio < params.min_inlier_ratio:
        reasons.append(f"Only {100 * ratio:.0f} % of the feature matches agree.")
    problem, _ = _homography_problem(coarse.H, (wa, ha), (wb, hb), params)
    if problem is not None:
        reasons.append(problem)
    if reasons:
        report_progress(progress, 1.0, "The photos could not be aligned")
        return _fail(coarse.H, reasons, coarse.inliers, ratio)

    report_progress(progress, 0.35, "Refining the alignment")
    fine = _fine(
        before_levels, after_levels, work_b, work_a, coarse.H, params, scale, progress, cancel
    )
    H = fine.H
    problem, overlap = _homography_problem(H, (wa, ha), (wb, hb), params)
    ecc = _final_correlation(work_b, work_a, _to_level(H, work_b, work_a))
    report_progress(progress, 1.0, "Alignment done")

    if fine.reason is not None:
        reasons.append(fine.reason)
    if problem is not None:
        reasons.append(problem)
    if coarse.spread / max(overlap, 1e-6) < params.min_inlier_spread:
        reasons.append("The matching features cover too small a part of the photos.")
    if fine.reason is None and (
        fine.agreed < params.min_patches or fine.agreed < params.min_patch_fraction * fine.tried
    ):
        reasons.append(
            f"Only {fine.agreed} of {fine.tried} image patches agree at full resolution."
        )
    if scale is not None:
        limit_px = params.max_rmse_mm * scale
    else:
        limit_px = params.max_rmse_px * max(1.0, max(hb, wb) / 1500.0)
    if fine.reason is None and fine.rmse_px > limit_px:
        reasons.append(
            f"The patches disagree by {fine.rmse_px:.2f} px RMS "
            f"(at most {limit_px:.2f} px is accepted)."
        )
    if ecc < params.min_ecc:
        reasons.append(f"The aligned photos correlate too weakly ({ecc:.2f}).")
    return Alignment(
        ok=not reasons,
        method=METHOD,
        homography=H,
        inliers=coarse.inliers,
        inlier_ratio=ratio,
        rmse_px=fine.rmse_px if np.isfinite(fine.rmse_px) else None,
        ecc=ecc,
        reason=reasons[0] if reasons else None,
        warnings=tuple(reasons[1:]),
    )


def align_from_points(
    after_xy: ArrayLike,
    before_xy: ArrayLike,
    *,
    model: Literal["similarity", "homography"] = "homography",
    max_rmse_px: float = 5.0,
) -> Alignment:
    """Alignment from clicked point pairs (the manual fallback).

    Parameters
    ----------
    after_xy, before_xy : array_like of shape (N, 2)
        The same skin landmarks ``(x, y)`` clicked in AFTER and in BEFORE, in
        full-resolution pixels, pair by pair.
    model : {"similarity", "homography"}
        Rotation, uniform scale and translation (3 or more pairs), or a full
        homography (4 or more pairs, no three of them on one line).
    max_rmse_px : float
        Above this RMS residual (BEFORE pixels) the pairs contradict each other
        and the alignment is not ``ok``.

    Returns
    -------
    Alignment
        ``method`` is ``"manual-similarity"`` or ``"manual-homography"``;
        ``residuals_px`` holds each pair's distance in BEFORE pixels after the
        least-squares fit, ``rmse_px`` their RMS; ``inliers`` the number of pairs.
        ``ok`` is False (with a reason) when the fit mirrors the photo or the
        residuals exceed ``max_rmse_px``.

    Raises
    ------
    ValueError
        With one sentence, when there are too few pairs or they are degenerate
        (coincident or collinear points).
    """
    if model not in ("similarity", "homography"):
        raise ValueError(f"Unknown alignment model {model!r}; use 'similarity' or 'homography'.")
    a = np.asarray(after_xy, dtype=np.float64).reshape(-1, 2)
    b = np.asarray(before_xy, dtype=np.float64).reshape(-1, 2)
    if len(a) != len(b):
        raise ValueError(
            "Each point clicked in AFTER needs its partner in BEFORE "
            f"({len(a)} and {len(b)} given)."
        )
    need = 3 if model == "similarity" else 4
    if len(a) < need:
        raise ValueError(
            f"A manual {model} needs at least {need} point pairs; {len(a)} were given."
        )
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("The clicked points must be finite numbers.")
    for name, pts in (("AFTER", a), ("BEFORE", b)):
        _check_spread(pts, name, homography=(model == "homography"))
    if model == "similarity":
        H = _similarity_lsq(a, b)
    else:
        Hh, _ = cv2.findHomography(a, b, 0)
        if Hh is None or not np.all(np.isfinite(Hh)) or abs(float(Hh[2, 2])) < 1e-12:
            raise ValueError("The clicked points do not determine a homography.")
        H = np.asarray(Hh, dtype=np.float64)
        H = H / H[2, 2]
    res = np.linalg.norm(warp_points(H, a) - b, axis=1)
    rmse = float(np.sqrt(np.mean(res**2)))
    warnings: list[str] = []
    if model == "homography" and len(a) == 4:
        warnings.append(
            "With exactly 4 pairs a homography fits any clicks; add a pair so that "
            "the residuals can reveal a misplaced one."
        )
    centre = a.mean(axis=0)
    reason = None
    if (
        not np.all(np.isfinite(H))
        or float(H[2] @ np.array([centre[0], centre[1], 1.0])) <= 0
        or np.linalg.det(H) * float(H[2] @ np.array([centre[0], centre[1], 1.0])) <= 0
    ):
        reason = "The clicked points imply a mirrored or degenerate transformation."
    elif rmse > max_rmse_px:
        worst = _most_suspect_pair(a, b, res, model, need) + 1
        reason = (
            f"The clicked pairs disagree by {rmse:.1f} px RMS (pair {worst} the most); "
            "check for a misplaced click."
        )
    return Alignment(
        ok=reason is None,
        method=f"manual-{model}",
        homography=H,
        inliers=len(a),
        inlier_ratio=1.0,
        rmse_px=rmse,
        ecc=None,
        reason=reason,
        warnings=tuple(warnings),
        residuals_px=tuple(float(r) for r in res),
    )


def _most_suspect_pair(a: FloatArray, b: FloatArray, res: FloatArray, model: str, need: int) -> int:
    """Index of the pair whose removal leaves the others most consistent."""
    if len(a) < need + 2:
        return int(np.argmax(res))
    rest_rmse = np.full(len(a), np.inf)
    for i in range(len(a)):
        keep = np.arange(len(a)) != i
        if model == "similarity":
            Hi = _similarity_lsq(a[keep], b[keep])
        else:
            Hh, _ = cv2.findHomography(a[keep], b[keep], 0)
            if Hh is None:
                continue
            Hi = np.asarray(Hh, dtype=np.float64)
        r = np.linalg.norm(warp_points(Hi, a[keep]) - b[keep], axis=1)
        rest_rmse[i] = float(np.sqrt(np.mean(r**2)))
    return int(np.argmin(rest_rmse))


def _check_spread(pts: FloatArray, name: str, *, homography: bool) -> None:
    """Raise ValueError when clicked points coincide or, for a homography, are collinear."""
    centred = pts - pts.mean(axis=0)
    sv = np.linalg.svd(centred, compute_uv=False)
    if sv[0] < 1.0:
        raise ValueError(f"The points clicked in {name} all lie on the same spot.")
    if homography and sv[1] < 1e-3 * sv[0] + 0.5:
        raise ValueError(f"The points clicked in {name} lie on one line; spread them out.")
    d = np.linalg.norm(pts[:, None, :] - pts[None, :, :], axis=2)
    if np.any(d[np.triu_indices(len(pts), 1)] < 1.0):
        raise ValueError(f"Two points clicked in {name} are on the same spot.")
    if homography and len(pts) == 4:
        scale = float(np.max(d)) ** 2
        for i, j, k in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)):
            u, v = pts[j] - pts[i], pts[k] - pts[i]
            if abs(float(u[0] * v[1] - u[1] * v[0])) < 1e-3 * scale:
                raise ValueError(
                    f"Three of the four points clicked in {name} lie on one line; "
                    "move one or add a fifth pair."
                )


def _similarity_lsq(a: FloatArray, b: FloatArray) -> FloatArray:
    """Least-squares similarity (Umeyama) mapping ``a`` onto ``b``, as a 3x3 matrix."""
    ma, mb = a.mean(axis=0), b.mean(axis=0)
    ac, bc = a - ma, b - mb
    cov = bc.T @ ac / len(a)
    U, S, Vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(U @ Vt))
    D = np.diag([1.0, d])
    R = U @ D @ Vt
    var_a = float(np.mean(np.sum(ac**2, axis=1)))
    scale = float(np.trace(np.diag(S) @ D)) / var_a
    t = mb - scale * R @ ma
    H = np.eye(3)
    H[:2, :2] = scale * R
    H[:2, 2] = t
    return H
