"""``scarview batch INPUT_DIR --out OUT_DIR``: measure a whole folder of patients."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from scarview.commands._common import add_scale_options, print_json, settings_from_args

if TYPE_CHECKING:
    from scarview.batch import BatchSummary

ORDER = 30


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``batch`` command."""
    parser = subparsers.add_parser(
        "batch",
        help="measure every photo of a folder of patients",
        description=(
            "Measure every photo in INPUT_DIR/<patient>/<session>/ (or photos grouped into "
            "sessions by their EXIF date): scale, scars, alignment onto the patient's baseline "
            "photo of the same view, and change from baseline. Writes OUT_DIR/measurements.csv, "
            "OUT_DIR/errors.csv and OUT_DIR/<patient>/report.pdf. Re-running the same command "
            "skips photos already measured with the same settings, so an interrupted batch "
            "resumes where it stopped."
        ),
    )
    parser.add_argument("input_dir", metavar="INPUT_DIR", help="one folder per patient")
    parser.add_argument(
        "--out", required=True, metavar="OUT_DIR", help="where the results are written"
    )
    parser.add_argument(
        "--workers",
        type=_positive_int,
        metavar="N",
        help="local worker processes (default: all cores; ignored with --scheduler)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on an existing Dask distributed cluster (e.g. tcp://host:8786) instead of "
        "local processes; needs pip install 'scarview[distributed]'",
    )
    add_scale_options(parser, roi=False)
    parser.add_argument(
        "--no-report", action="store_true", help="do not write the patients' PDF reports"
    )
    parser.add_argument(
        "--library",
        metavar="DIR",
        help="also store the photos and results in this ScarView library",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON summary at the end")
    parser.set_defaults(func=run)


@contextmanager
def _stop_on_signals(cancel: threading.Event) -> Iterator[None]:
    """Ctrl-C (and SIGTERM) ask the batch to stop cleanly; a second Ctrl-C aborts."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def describe(summary: BatchSummary) -> str:
    """A short human-readable account of a batch."""
    lines = [
        f"Photos: {summary.photos} ({summary.measured} measured now, "
        f"{summary.skipped} already measured)",
        f"Aligned to baseline: {summary.aligned}, not aligned: {summary.not_aligned}",
        f"Errors: {len(summary.errors)}"
        + (f" (see {summary.errors_csv})" if summary.errors else ""),
        f"Measurements: {summary.measurements_csv}",
    ]
    if summary.reports:
        lines.append(
            f"Reports: {len(summary.reports)} ({summary.reports_written} written now), "
            f"{summary.out_dir}/<patient>/report.pdf"
        )
    if summary.library is not None:
        lines.append(f"Library: {summary.library.get('path')}")
    lines.append(f"Time: {summary.elapsed_s:.1f} s on {summary.executor}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run ``scarview batch``."""
    from scarview.batch import BatchInterrupted, BatchOptions, run_batch
    from scarview.batch.progress import default_listener

    options = BatchOptions(
        settings=settings_from_args(args),
        workers=args.workers,
        scheduler=args.scheduler,
        report=not args.no_report,
        library=None if args.library is None else Path(args.library),
    )
    cancel = threading.Event()
    try:
        with _stop_on_signals(cancel):
            summary = run_batch(
                args.input_dir, args.out, options, listener=default_listener(), cancel=cancel
            )
    except BatchInterrupted as exc:
        print(f"scarview: {exc}", file=sys.stderr)
        return 130
    if args.json:
        print_json(summary.to_document())
    else:
        print(describe(summary))
    return 0
