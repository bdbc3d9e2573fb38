"""``scarview import FOLDER`` and ``scarview export --patient ID_OR_NAME --out FILE.csv``.

Both work on the patient library named by ``--library DIR``, else the
``SCARVIEW_LIBRARY`` environment variable, else the user data folder.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from scarview.errors import InputError
from scarview.store import ImportReport, Library, resolve_library_dir

ORDER = 40


def _add_library_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--library",
        metavar="DIR",
        help="the library folder (default: $SCARVIEW_LIBRARY, else the user data folder)",
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``import`` and ``export`` commands."""
    importer = subparsers.add_parser(
        "import",
        help="copy photos into the patient library",
        description=(
            "Import photos into the patient library. FOLDER holds one folder per patient "
            "(named by the patient's code), each holding session folders (an ISO date such as "
            "2026-03-01, or any name that sorts in session order) or photos grouped into "
            "sessions by their EXIF capture date. Originals are copied byte for byte and never "
            "changed; a photo already in the library is stored once. Files that are not photos "
            "are skipped; *.mask.png files are kept as ground-truth masks."
        ),
    )
    importer.add_argument("folder", metavar="FOLDER", help="the folder to import")
    importer.add_argument(
        "--patient",
        metavar="NAME",
        help="FOLDER is this one patient's folder (NAME is the patient's code)",
    )
    _add_library_option(importer)
    importer.add_argument(
        "--if-empty",
        action="store_true",
        help="import only into a library that never had a patient (first run with sample photos)",
    )
    importer.add_argument("--json", action="store_true", help="print one JSON document")
    importer.set_defaults(func=run_import)

    exporter = subparsers.add_parser(
        "export",
        help="write a patient's measurements as CSV",
        description=(
            "Write one row per photo of a patient, with the columns of batch's "
            "measurements.csv: the latest analysis of each photo and its change from baseline."
        ),
    )
    exporter.add_argument(
        "--patient", metavar="ID_OR_NAME", required=True, help="the patient's id, code or name"
    )
    exporter.add_argument("--out", metavar="FILE.csv", required=True, help="the CSV file to write")
    _add_library_option(exporter)
    exporter.set_defaults(func=run_export)


@contextmanager
def _progress_bar(enabled: bool) -> Iterator[Callable[[float, str], None] | None]:
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    with tqdm(total=1000, unit="‰", file=sys.stderr, leave=False) as bar:

        def update(fraction: float, message: str) -> None:
            bar.n = round(1000 * fraction)
            bar.set_description_str(message[:40], refresh=False)
            bar.refresh()

        yield update


def describe_import(report: ImportReport, library: Path) -> str:
    """A short human-readable summary of an import."""
    lines = [
        f"Imported {report.imported} photo{'s' if report.imported != 1 else ''} "
        f"into {library} ({report.sessions_created} new session"
        f"{'s' if report.sessions_created != 1 else ''}).",
    ]
    if report.patients:
        lines.append(f"Patients: {', '.join(report.patients)}.")
    if report.already_present:
        lines.append(f"Already in the library: {report.already_present}.")
    if report.in_trash:
        lines.append(f"In the library's trash (not imported again): {report.in_trash}.")
    if report.errors:
        lines.append(f"Could not be read (skipped): {len(report.errors)}.")
    return "\n".join(lines)


def run_import(args: argparse.Namespace) -> int:
    """Run ``scarview import``; exit code 3 when some photo could not be read."""
    folder = Path(args.folder)
    if not folder.is_dir():
        raise InputError(folder, "it is not a folder" if folder.exists() else "it does not exist")
    root = resolve_library_dir(args.library)
    skipped = False
    with Library.open(root) as library:
        if args.if_empty and library.has_patients():
            report, skipped = ImportReport(), True
        else:
            with _progress_bar(not args.json and sys.stderr.isatty()) as progress:
                report = library.import_folder(folder, patient=args.patient, progress=progress)
    for issue in report.warnings:
        print(f"scarview: warning: {issue.message}", file=sys.stderr)
    for issue in report.errors:
        print(f"scarview: {issue.message}", file=sys.stderr)
    if args.json:
        document = report.to_dict()
        document["library"] = str(root)
        print(json.dumps(document, indent=2, ensure_ascii=False))
    elif skipped:
        print(f"The library {root} already has patients; nothing was imported.")
    else:
        print(describe_import(report, root))
    return 3 if report.errors else 0


def run_export(args: argparse.Namespace) -> int:
    """Run ``scarview export``."""
    root = resolve_library_dir(args.library)
    with Library.open(root, create=False) as library:
        patient = library.find_patient(args.patient)
        count = library.export_csv(patient, args.out)
    print(f"Wrote {count} row{'s' if count != 1 else ''} for patient {patient.code} to {args.out}.")
    return 0
