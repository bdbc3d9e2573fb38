"""``scarview compare BEFORE AFTER``: align two sessions' photos and measure the change."""

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
from scarview.commands.analyze import describe, write_outputs
from scarview.core.align import warp_to_before
from scarview.core.pipeline import PhotoComparison, compare_photos

ORDER = 20
EXIT_NOT_ALIGNED = 4


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``compare`` command."""
    parser = subparsers.add_parser(
        "compare",
        help="align two sessions' photos and measure what changed",
        description=(
            "Analyse BEFORE and AFTER, align AFTER onto BEFORE and report the change in "
            "pitted-scar area and count (AFTER's totals minus BEFORE's, as in "
            "measurements.csv; the JSON adds the same figures over the skin both photos show, "
            "under 'common'), with scars matched one to one. With --roi, the region is drawn "
            "on BEFORE and carried into AFTER through the alignment. Exits with 4 (and "
            "reports no change) when the photos cannot be aligned."
        ),
    )
    parser.add_argument("before", metavar="BEFORE", help="the earlier photo (usually the baseline)")
    parser.add_argument("after", metavar="AFTER", help="the later photo")
    add_scale_options(parser)
    parser.add_argument("--mask-out-before", metavar="MASK.png", help="BEFORE's scar mask")
    parser.add_argument("--mask-out-after", metavar="MASK.png", help="AFTER's scar mask")
    parser.add_argument("--overlay-out", metavar="OVERLAY.jpg", help="BEFORE with outlines")
    parser.add_argument(
        "--aligned-out", metavar="ALIGNED.jpg", help="AFTER warped into BEFORE's frame"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``scarview compare``."""
    result = compare_photos(args.before, args.after, settings_from_args(args))
    write_outputs(result.before, args.mask_out_before, args.overlay_out)
    if args.mask_out_after:
        write_mask_png(args.mask_out_after, result.after.scarmap.labels)
    alignment = result.alignment
    if args.aligned_out and alignment.ok and alignment.homography is not None:
        aligned = warp_to_before(
            result.after.photo.rgb, alignment.homography, result.before.photo.rgb.shape[:2]
        )
        write_rgb_image(args.aligned_out, aligned)
    for side, analysis in (("BEFORE", result.before), ("AFTER", result.after)):
        for warning in analysis.warnings:
            print(f"scarview: warning ({side}): {warning}", file=sys.stderr)
    if not alignment.ok:
        print(f"scarview: the photos could not be aligned: {alignment.reason}", file=sys.stderr)
    if args.json:
        print_json(result.to_document())
    else:
        print(describe_comparison(result))
    return 0 if alignment.ok else EXIT_NOT_ALIGNED


def describe_comparison(result: PhotoComparison) -> str:
    """A short human-readable summary of a comparison."""
    a = result.alignment
    lines = ["BEFORE", describe(result.before), "", "AFTER", describe(result.after), ""]
    if a.ok:
        lines.append(
            f"Alignment: ok ({a.method}; RMSE {a.rmse_px or 0:.2f} px, "
            f"{a.inliers} inliers, correlation {a.ecc or 0:.3f})"
        )
    else:
        lines.append(f"Alignment: FAILED: {a.reason}. No change is reported.")
    if result.change is not None:
        c = result.change.to_dict()
        area = c.get("area_mm2")
        pct = c.get("area_pct")
        count = c.get("count")
        lines.append(
            f"Change: {format_area(area if isinstance(area, int | float) else None)}"
            + (f" ({pct:+.1f} %)" if isinstance(pct, int | float) else "")
            + (f", {count:+d} scars" if isinstance(count, int) else "")
        )
    return "\n".join(lines)
