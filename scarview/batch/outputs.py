"""The batch's files: ``measurements.csv`` and ``errors.csv``, written atomically.

Rows come from the plan (who, when, which file) and the stored results (what
was measured), so a resumed run writes exactly the files an uninterrupted run
would. Columns are :data:`scarview.core.records.MEASUREMENT_COLUMNS` (shared with
``scarview export``) followed by the batch's timing columns, which are the only
ones that differ between two runs of the same batch.

Change from baseline (``change_area_mm2``, ``change_area_pct``) is the photo's
total scar area minus its baseline photo's total area, and that difference in
percent of the baseline's (:func:`scarview.core.measure.summary_change`), given
only when the photo was aligned onto the baseline and both have a scale. It is
the same figure as ``change.area_mm2`` and ``change.area_pct`` of ``scarview
compare`` on the same two photos (``CONTRACT.md``), and the definition ``scarview
export`` and the PDF report use.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from scarview.atomic import atomic_write_text
from scarview.batch.plan import PlannedPhoto
from scarview.batch.results import (
    Record,
    alignment_from_record,
    calibration_from_record,
    summary_from_record,
)
from scarview.core.measure import summary_change
from scarview.core.records import MEASUREMENT_COLUMNS, format_number, measurement_row

#: Columns of ``measurements.csv``: the shared measurement columns, then timing.
TIMING_COLUMNS: tuple[str, ...] = ("analysis_s", "alignment_s")
BATCH_COLUMNS: tuple[str, ...] = MEASUREMENT_COLUMNS + TIMING_COLUMNS
ERROR_COLUMNS: tuple[str, ...] = ("file", "message")

MEASUREMENTS_CSV = "measurements.csv"
ERRORS_CSV = "errors.csv"


@dataclass(frozen=True)
class BatchError:
    """One line of ``errors.csv``.

    Attributes
    ----------
    file : str
        The file, relative to the input folder.
    message : str
        One sentence saying what went wrong.
    """

    file: str
    message: str


def change_from_baseline(
    record: Record, baseline: Record | None
) -> tuple[float | None, float | None]:
    """Area change from the baseline photo, mm² and percent (``None`` when not reportable).

    :func:`scarview.core.measure.summary_change` of the two photos' summaries:
    the photo's total area minus the baseline's, and that in percent of the
    baseline's (``None`` when the baseline has no scar area). Nothing is
    reported unless the photo was aligned ``ok`` onto that baseline.
    """
    alignment = record.get("alignment")
    if baseline is None or alignment is None or not alignment.get("ok"):
        return None, None
    change = summary_change(
        summary_from_record(baseline["summary"]), summary_from_record(record["summary"])
    )
    return change.area_mm2, change.area_pct


def alignment_message(record: Record) -> str | None:
    """The ``errors.csv`` sentence of a photo that could not be aligned, else ``None``."""
    alignment = record.get("alignment")
    if alignment is None or alignment.get("ok"):
        return None
    reason = str(alignment.get("reason") or "the alignment was not trustworthy").strip()
    return f"could not be aligned to the baseline: {reason.rstrip('.')}."


def measurement_rows(
    photos: Sequence[PlannedPhoto], records: Mapping[int, Record]
) -> list[dict[str, str]]:
    """One row per measured photo, in plan order (patient, session, view, file).

    Parameters
    ----------
    photos : sequence of PlannedPhoto
        The batch plan's photos.
    records : mapping of int to dict
        Each measured photo's record, by :attr:`PlannedPhoto.index`.
    """
    rows: list[dict[str, str]] = []
    for photo in photos:
        record = records.get(photo.index)
        if record is None:
            continue
        baseline = None if photo.baseline is None else records.get(photo.baseline)
        change_mm2, change_pct = change_from_baseline(record, baseline)
        aligned = record.get("alignment")
        row = measurement_row(
            patient=photo.patient,
            session=photo.session,
            date=photo.session_date,
            view=photo.view,
            file=photo.file,
            sha256=photo.sha256,
            calibration=calibration_from_record(record["calibration"]),
            summary=summary_from_record(record["summary"]),
            alignment=None if aligned is None else alignment_from_record(aligned),
            change_area_mm2=change_mm2,
            change_area_pct=change_pct,
            algorithm_version=record.get("algorithm_version") or "",
        )
        for column in TIMING_COLUMNS:
            row[column] = format_number(record.get(column), 3)
        rows.append(row)
    return rows


def _csv_text(columns: Sequence[str], rows: Iterable[Mapping[str, str]]) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_measurements(path: Path, rows: Iterable[Mapping[str, str]]) -> Path:
    """Write ``measurements.csv`` (UTF-8, ``\\n`` line ends) atomically.

    ``rows`` may be a generator: only the CSV text is held, never every row at once.
    """
    return atomic_write_text(path, _csv_text(BATCH_COLUMNS, rows))


def write_errors(path: Path, errors: Iterable[BatchError]) -> Path:
    """Write ``errors.csv`` (``file,message``), sorted by file, atomically."""
    ordered = sorted(set(errors), key=lambda e: (e.file, e.message))
    rows = [{"file": e.file, "message": e.message} for e in ordered]
    return atomic_write_text(path, _csv_text(ERROR_COLUMNS, rows))
