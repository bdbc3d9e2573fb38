"""``scarview report --patient ID_OR_NAME --out REPORT.pdf [--deidentify] [--library DIR]``.

Writes one patient's PDF progress report from the patient library: the same file
the desktop app's "Export report" writes (both call :mod:`scarview.report`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from scarview.errors import InputError

ORDER = 60


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` command."""
    parser = subparsers.add_parser(
        "report",
        help="write a patient's PDF progress report",
        description=(
            "Write a patient's PDF progress report from the library: scar area at every "
            "session with its change from baseline, the trend chart, each follow-up photo "
            "beside the baseline with the scars outlined, and how the figures were measured. "
            "The clinic's name comes from the settings."
        ),
    )
    parser.add_argument(
        "--patient", metavar="ID_OR_NAME", required=True, help="the patient's id, code or name"
    )
    parser.add_argument("--out", metavar="REPORT.pdf", required=True, help="the PDF file to write")
    parser.add_argument(
        "--deidentify",
        action="store_true",
        help="leave out the patient's name, date of birth and all notes (the report says so)",
    )
    parser.add_argument(
        "--library",
        metavar="DIR",
        help="the library folder (default: $SCARVIEW_LIBRARY, else the user data folder)",
    )
    parser.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    """Run ``scarview report``; exit code 3 when the patient or library cannot be used."""
    from scarview.report import render_report, report_data_from_library
    from scarview.store import Library, resolve_library_dir

    out = Path(args.out)
    if out.is_dir():
        raise InputError(out, "it is a folder; name a .pdf file")
    if not out.parent.is_dir():
        raise InputError(out, "its folder does not exist")
    root = resolve_library_dir(args.library)
    with Library.open(root, create=False) as library:
        patient = library.find_patient(args.patient)
        data = report_data_from_library(library, patient, deidentify=args.deidentify)
    if not data.sessions:
        print(
            f"scarview: warning: patient {patient.code} has no analysed photo; "
            "the report lists none.",
            file=sys.stderr,
        )
    try:
        render_report(data, out)
    except OSError as exc:
        raise InputError(out, exc.strerror or "it cannot be written") from exc
    sessions = data.session_count
    print(
        f"Wrote the progress report of patient {patient.code} "
        f"({sessions} session{'s' if sessions != 1 else ''}"
        f"{', de-identified' if args.deidentify else ''}) to {out}."
    )
    return 0
