"""Small generated photos, folders and scar maps for the library tests."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from scarview.core.types import Scar, ScarMap, ScarSummary, TypeSummary

EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 0x9003


def write_jpeg(
    path: Path,
    seed: int,
    *,
    captured_at: datetime | None = None,
    size: tuple[int, int] = (64, 48),
) -> Path:
    """Write a small, unique JPEG (random pixels from ``seed``), optionally with an EXIF date."""
    rng = np.random.default_rng(seed)
    width, height = size
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    exif = Image.Exif()
    if captured_at is not None:
        exif.get_ifd(EXIF_IFD)[DATETIME_ORIGINAL] = captured_at.strftime("%Y:%m:%d %H:%M:%S")
    Image.fromarray(pixels).save(path, format="JPEG", quality=90, exif=exif)
    return path


def write_mask(path: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """Write an 8-bit ground-truth mask PNG (255 inside one square)."""
    width, height = size
    mask = np.zeros((height, width), dtype=np.uint8)
    mask[10:20, 10:20] = 255
    Image.fromarray(mask).save(path, format="PNG")
    return path


def make_scarmap(height: int, width: int, seed: int, *, px_per_mm: float | None = 10.0) -> ScarMap:
    """A ScarMap of a few square scars at random places, with consistent summary."""
    rng = np.random.default_rng(seed)
    labels: NDArray[np.int32] = np.zeros((height, width), dtype=np.int32)
    scars = []
    types = ("icepick", "boxcar", "rolling")
    for scar_id in range(1, 4):
        side = int(rng.integers(3, 8))
        x = int(rng.integers(0, width - side))
        y = int(rng.integers(0, height - side))
        labels[y : y + side, x : x + side] = scar_id
        area_px = int((labels == scar_id).sum())
        area_mm2 = None if px_per_mm is None else area_px / px_per_mm**2
        contour = np.array(
            [[x, y], [x + side - 1, y], [x + side - 1, y + side - 1], [x, y + side - 1]],
            dtype=np.float64,
        ) + rng.random((4, 2))
        scars.append(
            Scar(
                id=scar_id,
                type=types[scar_id - 1],  # type: ignore[arg-type]
                area_px=area_px,
                area_mm2=area_mm2,
                diameter_mm=None if area_mm2 is None else float(2 * np.sqrt(area_mm2 / np.pi)),
                centroid_xy=(x + side / 2 + 0.25, y + side / 2 - 0.125),
                bbox_xywh=(x, y, side, side),
                contour=contour,
                confidence=float(rng.random()),
                depth_mm=0.12 if scar_id == 2 else None,
            )
        )
    # Overlaps may have shrunk earlier scars: recount.
    scars = [
        Scar(
            id=s.id,
            type=s.type,
            area_px=int((labels == s.id).sum()),
            area_mm2=None if px_per_mm is None else int((labels == s.id).sum()) / px_per_mm**2,
            diameter_mm=s.diameter_mm,
            centroid_xy=s.centroid_xy,
            bbox_xywh=s.bbox_xywh,
            contour=s.contour,
            confidence=s.confidence,
            depth_mm=s.depth_mm,
        )
        for s in scars
    ]
    total_px = int((labels > 0).sum())
    by_type: dict[str, TypeSummary] = {s.type: TypeSummary(1, s.area_mm2) for s in scars}
    summary = ScarSummary(
        count=len(scars),
        area_mm2=None if px_per_mm is None else total_px / px_per_mm**2,
        area_px=total_px,
        roi_area_mm2=None if px_per_mm is None else height * width / px_per_mm**2,
        area_fraction=total_px / (height * width),
        by_type=by_type,
    )
    return ScarMap(
        scars=tuple(scars),
        labels=labels,
        summary=summary,
        px_per_mm=px_per_mm,
        roi_polygon=np.array([[0, 0], [width - 1, 0], [width - 1, height - 1]], dtype=np.float64),
        light_azimuth_deg=37.5,
        algorithm_version="test-1",
        warnings=("a warning",),
    )


def make_clinic_folder(root: Path, *, patients: int = 2, sessions: int = 2, views: int = 3) -> Path:
    """``root/<patient>/<YYYY-MM-DD>/<view>.jpg`` with distinct photos; returns ``root``."""
    view_names = ("frontal", "left-45", "right-45", "closeup")
    seed = 1000
    for p in range(patients):
        for s in range(sessions):
            day = datetime(2026, 1 + s, 5 + p, 10, 0, 0)
            for v in range(views):
                seed += 1
                write_jpeg(
                    root / f"P{p:03d}" / day.date().isoformat() / f"{view_names[v]}.jpg",
                    seed,
                    captured_at=day,
                )
    return root
