"""Options and helpers shared by the analysis commands (analyze, compare, batch)."""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview.atomic import atomic_write_bytes
from scarview.core.pipeline import AnalysisSettings
from scarview.errors import InputError


def add_scale_options(parser: argparse.ArgumentParser, *, roi: bool = True) -> None:
    """``--px-per-mm``, ``--marker-mm`` and (optionally) ``--roi``."""
    parser.add_argument(
        "--px-per-mm",
        type=positive_float,
        metavar="F",
        help="manual scale in pixels per millimetre on the skin (overrides the marker)",
    )
    parser.add_argument(
        "--marker-mm",
        type=positive_float,
        default=10.0,
        metavar="MM",
        help="printed side of the ArUco scale marker (DICT_4X4_50), in mm (default 10)",
    )
    if roi:
        parser.add_argument(
            "--roi",
            metavar="ROI.json",
            help='region of interest: a JSON file {"polygon": [[x, y], ...]} in photo pixels',
        )


def positive_float(text: str) -> float:
    """argparse type: a finite number greater than zero."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a number greater than zero")
    return value


def load_roi(path: str | None) -> tuple[tuple[float, float], ...] | None:
    """Read a region-of-interest JSON file (``{"polygon": [[x, y], ...]}``).

    Raises
    ------
    InputError
        When the file cannot be read or does not hold a polygon of 3 or more points.
    """
    if path is None:
        return None
    try:
        data: Any = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(path, "the file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"the file cannot be read ({exc.__class__.__name__})") from None
    except json.JSONDecodeError as exc:
        raise InputError(path, f"it is not valid JSON (line {exc.lineno})") from None
    polygon = data.get("polygon") if isinstance(data, dict) else None
    if not isinstance(polygon, list) or len(polygon) < 3:
        raise InputError(path, 'it must hold {"polygon": [[x, y], ...]} with at least 3 points')
    points: list[tuple[float, float]] = []
    for point in polygon:
        if (
            not isinstance(point, list | tuple)
            or len(point) != 2
            or not all(isinstance(v, int | float) and math.isfinite(v) for v in point)
        ):
            raise InputError(path, "every polygon point must be a pair of numbers [x, y]")
        points.append((float(point[0]), float(point[1])))
    return tuple(points)


def settings_from_args(args: argparse.Namespace) -> AnalysisSettings:
    """The analysis settings the command-line options describe."""
    return AnalysisSettings(
        px_per_mm=args.px_per_mm,
        marker_mm=args.marker_mm,
        roi=load_roi(getattr(args, "roi", None)),
    )


def write_mask_png(path: str | Path, labels: NDArray[np.integer]) -> None:
    """8-bit single-channel PNG: 255 inside scars, 0 elsewhere, the photo's size."""
    # 255 where labels > 0, straight to uint8 (no full-size int64 temporary)
    mask = cv2.compare(np.ascontiguousarray(labels, dtype=np.int32), 0, cv2.CMP_GT)
    ok, data = cv2.imencode(".png", mask)
    if not ok:  # pragma: no cover - OpenCV always encodes uint8
        raise OSError("PNG encoding failed")
    atomic_write_bytes(path, data.tobytes())


def write_rgb_image(path: str | Path, rgb: NDArray[np.uint8], *, quality: int = 92) -> None:
    """Write an RGB image as JPEG or PNG by the path's extension."""
    suffix = Path(path).suffix.lower() or ".jpg"
    if suffix not in {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}:
        suffix = ".jpg"
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if suffix in {".jpg", ".jpeg"} else []
    ok, data = cv2.imencode(suffix, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:  # pragma: no cover
        raise OSError(f"{suffix} encoding failed")
    atomic_write_bytes(path, data.tobytes())


def format_area(value: float | None) -> str:
    """``12.34 mm²`` or ``n/a`` without a scale."""
    return "n/a" if value is None else f"{value:.2f} mm²"


def print_json(document: dict[str, Any]) -> None:
    """Exactly one JSON document on stdout."""
    print(json.dumps(document, indent=2, ensure_ascii=False))
