"""``scarview analyze PHOTO``: find, outline, type and measure the pitted scars in one photo."""

from __future__ import annotations

import argparse
import sys

from scarview.commands._common import (
    add_scale_options,
    format_area,
    print_json,
    settings_from_args,
    write_mask_png,
    write_rgb_image,
)
from scarview.core.overlay import draw_overlay
from scarview.core.pipeline import PhotoAnalysis, analyze_photo
from scarview.core.types import SCAR_TYPES

ORDER = 10


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``analyze`` command."""
    parser = subparsers.add_parser(
        "analyze",
        help="measure the pitted scars in one photo",
        description=(
            "Find every atrophic (pitted) acne scar in PHOTO, outline it, type it (ice pick, "
            "boxcar, rolling) and measure its area in mm². The scale comes from an ArUco "
            "marker (DICT_4X4_50) on the skin or from --px-per-mm."
        ),
    )
    parser.add_argument(
        "photo", metavar="PHOTO", help="the photo (JPEG, PNG, TIFF, WebP, BMP, HEIC)"
    )
    add_scale_options(parser)
    parser.add_argument("--mask-out", metavar="MASK.png", help="write the scar mask (255 inside)")
    parser.add_argument(
        "--overlay-out",
        metavar="OVERLAY.jpg",
        help="write the photo with outlines coloured by type",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


def write_outputs(analysis: PhotoAnalysis, mask_out: str | None, overlay_out: str | None) -> None:
    """Write the optional mask and overlay files of one analysis."""
    if mask_out:
        write_mask_png(mask_out, analysis.scarmap.labels)
    if overlay_out:
        write_rgb_image(
            overlay_out,
            draw_overlay(analysis.photo.rgb, analysis.scarmap, roi=analysis.scarmap.roi_polygon),
        )


def run(args: argparse.Namespace) -> int:
    """Run ``scarview analyze``."""
    analysis = analyze_photo(args.photo, settings_from_args(args))
    write_outputs(analysis, args.mask_out, args.overlay_out)
    for warning in analysis.warnings:
        print(f"scarview: warning: {warning}", file=sys.stderr)
    if args.json:
        print_json(analysis.to_document())
    else:
        print(describe(analysis))
    return 0


def describe(analysis: PhotoAnalysis) -> str:
    """A short human-readable summary of one analysis."""
    cal = analysis.calibration
    summary = analysis.scarmap.summary
    scale = (
        "unknown"
        if cal.px_per_mm is None
        else f"{cal.px_per_mm:.2f} px/mm ({cal.method}"
        + ("" if cal.uncertainty_pct is None else f", ±{cal.uncertainty_pct:.1f} %")
        + ")"
    )
    lines = [
        f"Photo:  {analysis.photo.info.path}  ({analysis.photo.info.width} × "
        f"{analysis.photo.info.height} px)",
        f"Scale:  {scale}",
        f"Scars:  {summary.count}, total {format_area(summary.area_mm2)}"
        f" ({summary.area_fraction * 100:.2f} % of the region)",
    ]
    for scar_type in SCAR_TYPES:
        part = summary.by_type.get(scar_type)
        if part is not None:
            lines.append(f"  {scar_type:<8} {part.count:>3}  {format_area(part.area_mm2)}")
    return "\n".join(lines)
