"""Frozen dataclasses shared by every layer: what a photo is, how it was scaled,
what was found in it and how two sessions relate.

Conventions (see ``ARCHITECTURE.md``): points are ``(x, y)`` in the photo's own
full-resolution pixels after EXIF orientation; arrays are indexed ``[row, col]``;
colour is RGB; units are in names; a homography maps AFTER pixels onto BEFORE.

Dataclasses holding arrays use ``eq=False`` (arrays do not compare to a bool);
arrays inside them are treated as read-only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

import numpy as np
from numpy.typing import NDArray

ScarType = Literal["icepick", "boxcar", "rolling"]
SCAR_TYPES: tuple[ScarType, ...] = ("icepick", "boxcar", "rolling")
CalibrationMethod = Literal["marker", "manual", "none"]

#: ``progress(fraction, message)``: fraction of the work done (0 to 1) and what is happening.
ProgressCallback = Callable[[float, str], None]


class CancelToken(Protocol):
    """Anything with ``is_set()``, e.g. :class:`threading.Event`."""

    def is_set(self) -> bool:
        """Return True once the work should stop."""
        ...


def check_cancel(cancel: CancelToken | None) -> None:
    """Raise :class:`scarview.errors.Cancelled` if ``cancel`` is set."""
    if cancel is not None and cancel.is_set():
        from scarview.errors import Cancelled

        raise Cancelled()


def report_progress(progress: ProgressCallback | None, fraction: float, message: str) -> None:
    """Call ``progress`` if one was given."""
    if progress is not None:
        progress(min(1.0, max(0.0, fraction)), message)


@dataclass(frozen=True)
class PhotoInfo:
    """What ScarView knows about a photo file without looking at its pixels twice.

    Attributes
    ----------
    path : str
        The file as it was named (absolute or relative to the working folder).
    sha256 : str
        Hex SHA-256 of the file's bytes; the photo's identity everywhere.
    width, height : int
        Size in pixels after EXIF orientation.
    captured_at : datetime or None
        EXIF ``DateTimeOriginal`` (else ``DateTime``), naive local time.
    camera_model : str or None
        EXIF make and model, e.g. ``"Apple iPhone 15 Pro"``.
    orientation : int
        The EXIF orientation tag that was applied (1 to 8; 1 when absent).
    format : str
        Container format as Pillow names it (``"JPEG"``, ``"PNG"``, ``"HEIF"``...).
    bit_depth : int
        Bits per channel of the stored file (8 or 16).
    """

    path: str
    sha256: str
    width: int
    height: int
    captured_at: datetime | None = None
    camera_model: str | None = None
    orientation: int = 1
    format: str = ""
    bit_depth: int = 8


@dataclass(frozen=True, eq=False)
class Photo:
    """A decoded photo.

    Attributes
    ----------
    rgb : ndarray of shape (H, W, 3) and dtype uint8
        Pixels in RGB order, EXIF orientation applied, C-contiguous.
    info : PhotoInfo
        File metadata; ``info.width == W`` and ``info.height == H``.
    """

    rgb: NDArray[np.uint8]
    info: PhotoInfo


@dataclass(frozen=True, eq=False)
class Calibration:
    """The photo's scale on the skin plane.

    Attributes
    ----------
    px_per_mm : float or None
        Pixels per millimetre on the skin plane; ``None`` when unknown.
    method : {"marker", "manual", "none"}
        How the scale was obtained.
    uncertainty_pct : float or None
        Estimated one-sigma relative uncertainty of ``px_per_mm`` in percent.
    marker_polygon : ndarray of shape (4, 2) and dtype float64, or None
        The scale marker's outer corners ``(x, y)`` in photo pixels (clockwise
        from the marker's top-left), so analysis can leave it out.
    marker_id : int or None
        The ArUco id of the marker that was used.
    marker_mm : float or None
        The printed side of the marker in millimetres.
    """

    px_per_mm: float | None
    method: CalibrationMethod
    uncertainty_pct: float | None = None
    marker_polygon: NDArray[np.float64] | None = None
    marker_id: int | None = None
    marker_mm: float | None = None

    def to_dict(self) -> dict[str, object]:
        """Return the contract's ``calibration`` object."""
        return {
            "px_per_mm": None if self.px_per_mm is None else round(float(self.px_per_mm), 4),
            "method": self.method,
            "uncertainty_pct": (
                None if self.uncertainty_pct is None else round(float(self.uncertainty_pct), 3)
            ),
        }


@dataclass(frozen=True, eq=False)
class Scar:
    """One pitted scar found in a photo.

    Attributes
    ----------
    id : int
        1-based label; equals its value in :attr:`ScarMap.labels`.
    type : {"icepick", "boxcar", "rolling"}
        Jacob's type from width and wall profile.
    area_px : int
        Pixels inside the outline at full resolution.
    area_mm2 : float or None
        Area in mm² (``None`` without a scale).
    diameter_mm : float or None
        Diameter of the circle of equal area, in mm.
    centroid_xy : tuple of float
        Centroid ``(x, y)`` in full-resolution photo pixels.
    bbox_xywh : tuple of int
        Bounding box ``(x, y, width, height)`` in photo pixels.
    contour : ndarray of shape (N, 2) and dtype float64
        Outline ``(x, y)`` in photo pixels, closed implicitly.
    confidence : float
        0 to 1: how clearly the shading says this is a depression.
    depth_mm : float or None
        Estimated depth below the surrounding skin in mm (relative; shading only).
    source : {"auto", "manual"}
        ``"manual"`` for a scar a clinician drew.
    """

    id: int
    type: ScarType
    area_px: int
    area_mm2: float | None
    diameter_mm: float | None
    centroid_xy: tuple[float, float]
    bbox_xywh: tuple[int, int, int, int]
    contour: NDArray[np.float64]
    confidence: float
    depth_mm: float | None = None
    source: Literal["auto", "manual"] = "auto"

    def to_dict(self) -> dict[str, object]:
        """Return the contract's per-scar object."""
        return {
            "id": self.id,
            "type": self.type,
            "area_mm2": None if self.area_mm2 is None else round(self.area_mm2, 4),
            "area_px": int(self.area_px),
            "diameter_mm": None if self.diameter_mm is None else round(self.diameter_mm, 4),
            "centroid_xy": [round(self.centroid_xy[0], 2), round(self.centroid_xy[1], 2)],
            "bbox_xywh": [int(v) for v in self.bbox_xywh],
            "confidence": round(float(self.confidence), 3),
        }


@dataclass(frozen=True)
class TypeSummary:
    """Count and area of one scar type."""

    count: int
    area_mm2: float | None


@dataclass(frozen=True)
class ScarSummary:
    """Totals over the scars inside the region of interest.

    Attributes
    ----------
    count : int
    area_mm2 : float or None
    area_px : int
    roi_area_mm2 : float or None
        Area of the region analysed (whole photo without the marker when no
        region of interest was given).
    area_fraction : float
        ``area_px`` over the region's area in pixels.
    by_type : dict
        ``{"icepick": TypeSummary, "boxcar": ..., "rolling": ...}``.
    """

    count: int
    area_mm2: float | None
    area_px: int
    roi_area_mm2: float | None
    area_fraction: float
    by_type: dict[str, TypeSummary] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Return the contract's ``summary`` object."""

        def r(v: float | None) -> float | None:
            return None if v is None else round(float(v), 4)

        return {
            "count": self.count,
            "area_mm2": r(self.area_mm2),
            "area_px": int(self.area_px),
            "roi_area_mm2": r(self.roi_area_mm2),
            "area_fraction": round(float(self.area_fraction), 6),
            "by_type": {
                t: {"count": s.count, "area_mm2": r(s.area_mm2)} for t, s in self.by_type.items()
            },
        }


@dataclass(frozen=True, eq=False)
class ScarMap:
    """Everything the analysis found in one photo.

    Attributes
    ----------
    scars : tuple of Scar
    labels : ndarray of shape (H, W) and dtype int32
        0 outside scars, ``scar.id`` inside, at the photo's full resolution.
    summary : ScarSummary
    px_per_mm : float or None
        The scale the areas were computed with.
    roi_polygon : ndarray of shape (N, 2) and dtype float64, or None
        The region of interest analysed, in photo pixels.
    light_azimuth_deg : float or None
        Estimated direction the light comes from, in image coordinates
        (0 = from +x, 90 = from +y i.e. from below), or ``None`` when unclear.
    algorithm_version : str
    warnings : tuple of str
    """

    scars: tuple[Scar, ...]
    labels: NDArray[np.int32]
    summary: ScarSummary
    px_per_mm: float | None
    roi_polygon: NDArray[np.float64] | None = None
    light_azimuth_deg: float | None = None
    algorithm_version: str = ""
    warnings: tuple[str, ...] = ()

    @property
    def mask(self) -> NDArray[np.bool_]:
        """Boolean mask of shape (H, W): True inside any scar."""
        return self.labels > 0


@dataclass(frozen=True, eq=False)
class Alignment:
    """How a later (AFTER) photo maps onto an earlier (BEFORE) one.

    Attributes
    ----------
    ok : bool
        True only when the alignment is trustworthy enough to report change.
    method : str
        E.g. ``"sift+magsac+ecc"`` or ``"manual-homography"``.
    homography : ndarray of shape (3, 3) and dtype float64, or None
        Maps AFTER pixel ``(x, y, 1)`` onto BEFORE pixels (full resolution).
    inliers : int
    inlier_ratio : float
    rmse_px : float or None
        Reprojection RMSE of the inlier matches (or clicked pairs), in BEFORE px.
    ecc : float or None
        Final normalised correlation after refinement (-1 to 1).
    reason : str or None
        Why ``ok`` is False, as a sentence for the user.
    warnings : tuple of str
    residuals_px : tuple of float
        Per-pair residuals for manual alignment (empty otherwise).
    """

    ok: bool
    method: str
    homography: NDArray[np.float64] | None
    inliers: int = 0
    inlier_ratio: float = 0.0
    rmse_px: float | None = None
    ecc: float | None = None
    reason: str | None = None
    warnings: tuple[str, ...] = ()
    residuals_px: tuple[float, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Return the contract's ``alignment`` object."""
        warnings = list(self.warnings)
        if self.reason and self.reason not in warnings:
            warnings.insert(0, self.reason)
        return {
            "ok": bool(self.ok),
            "method": self.method,
            "homography": None
            if self.homography is None
            else [[float(v) for v in row] for row in self.homography],
            "inliers": int(self.inliers),
            "inlier_ratio": round(float(self.inlier_ratio), 4),
            "rmse_px": None if self.rmse_px is None else round(float(self.rmse_px), 4),
            "ecc": None if self.ecc is None else round(float(self.ecc), 4),
            "warnings": warnings,
        }
