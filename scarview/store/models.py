"""Frozen records the library returns from its queries (never raw rows).

Every path in a record is absolute and points at a file that exists inside the
library folder (or inside its trash, for a trashed item).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from scarview.core.types import Alignment, Calibration, Scar, ScarSummary

#: The views a clinic photographs, as stored in the library.
VIEWS: tuple[str, ...] = ("frontal", "left-45", "right-45", "left-90", "right-90", "closeup")

#: Kinds of manual correction a clinician can record on a photo.
CORRECTION_KINDS: tuple[str, ...] = (
    "add_scar",
    "remove_scar",
    "scar_type",
    "roi",
    "calibration",
    "alignment_points",
)

TrashKind = Literal["patient", "session", "photo"]
CapturedAtSource = Literal["exif", "mtime"]


@dataclass(frozen=True)
class PatientRecord:
    """One patient.

    Attributes
    ----------
    id : int
    code : str
        The clinic's patient code (unique among patients not in the trash);
        the folder name on import.
    name : str or None
    birth_date : date or None
    fitzpatrick : int or None
        Fitzpatrick skin type, 1 to 6.
    notes : str
    created_at, updated_at : datetime
        When the record was made and last edited (UTC).
    session_count, photo_count : int
        Sessions and photos not in the trash.
    first_session_date, last_session_date : date or None
    """

    id: int
    code: str
    name: str | None
    birth_date: date | None
    fitzpatrick: int | None
    notes: str
    created_at: datetime
    updated_at: datetime
    session_count: int = 0
    photo_count: int = 0
    first_session_date: date | None = None
    last_session_date: date | None = None

    @property
    def display_name(self) -> str:
        """The name when known, else the code."""
        return self.name or self.code


@dataclass(frozen=True)
class SessionRecord:
    """One treatment session (one visit) of a patient.

    Attributes
    ----------
    id, patient_id : int
    label : str
        The session folder's name, or the ISO date for photos grouped by date.
    session_date : date or None
        From the label when it is an ISO date, else the earliest capture date.
    notes : str
    created_at : datetime
    photo_count : int
        Photos not in the trash.
    """

    id: int
    patient_id: int
    label: str
    session_date: date | None
    notes: str
    created_at: datetime
    photo_count: int = 0


@dataclass(frozen=True, eq=False)
class PhotoRecord:
    """One imported photo; its original is read-only under ``originals/``.

    Attributes
    ----------
    id, session_id, patient_id : int
    sha256 : str
        Hex SHA-256 of the original's bytes.
    path : Path
        The stored original (absolute; inside the trash for a trashed photo).
    original_name : str
        File name it was imported under.
    source_path : str or None
        Where it was imported from.
    view : str or None
        One of :data:`VIEWS`, or ``None`` when unknown.
    captured_at : datetime or None
        Naive local capture time.
    captured_at_source : {"exif", "mtime"} or None
        Where ``captured_at`` came from (``"mtime"``: the file's modification
        time, used when the photo had no EXIF date).
    width, height : int
        Pixels after EXIF orientation.
    file_size_bytes : int
    format : str
    camera_model : str or None
    orientation : int
    calibration : Calibration
        The scale last used on this photo (``method="none"`` until analysed).
    imported_at : datetime
    truth_mask_path : Path or None
        A ground-truth mask imported beside the photo (8-bit, 255 inside scars).
    trashed : bool
    """

    id: int
    session_id: int
    patient_id: int
    sha256: str
    path: Path
    original_name: str
    source_path: str | None
    view: str | None
    captured_at: datetime | None
    captured_at_source: CapturedAtSource | None
    width: int
    height: int
    file_size_bytes: int
    format: str
    camera_model: str | None
    orientation: int
    calibration: Calibration
    imported_at: datetime
    truth_mask_path: Path | None = None
    trashed: bool = False


@dataclass(frozen=True, eq=False)
class AnalysisRecord:
    """One stored analysis of a photo (re-analysis adds a new one).

    Attributes
    ----------
    id, photo_id : int
    created_at : datetime
    algorithm_version : str
    settings : Mapping
        The analysis settings as given (JSON values).
    calibration : Calibration
    summary : ScarSummary
    scars : tuple of Scar
        With contours, in label order.
    mask_path : Path
        16-bit single-channel PNG of the photo's size: 0 outside scars,
        ``scar.id`` inside.
    roi_polygon : tuple of (float, float) or None
        Region analysed, ``(x, y)`` photo pixels.
    light_azimuth_deg : float or None
    warnings : tuple of str
    """

    id: int
    photo_id: int
    created_at: datetime
    algorithm_version: str
    settings: Mapping[str, object]
    calibration: Calibration
    summary: ScarSummary
    scars: tuple[Scar, ...]
    mask_path: Path
    roi_polygon: tuple[tuple[float, float], ...] | None = None
    light_azimuth_deg: float | None = None
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class AlignmentRecord:
    """A photo aligned onto its session-baseline photo.

    Attributes
    ----------
    id, photo_id, baseline_photo_id : int
    created_at : datetime
    alignment : Alignment
        Its homography maps this photo's pixels onto the baseline photo's.
    """

    id: int
    photo_id: int
    baseline_photo_id: int
    created_at: datetime
    alignment: Alignment


@dataclass(frozen=True)
class CorrectionRecord:
    """A clinician's manual correction of one photo's result.

    Attributes
    ----------
    id, photo_id : int
    kind : str
        One of :data:`CORRECTION_KINDS`.
    payload_json : str
        The correction's data as JSON text.
    created_at : datetime
    deleted_at : datetime or None
        When it was undone (the record is kept).
    """

    id: int
    photo_id: int
    kind: str
    payload_json: str
    created_at: datetime
    deleted_at: datetime | None = None

    @property
    def payload(self) -> object:
        """The payload decoded from JSON."""
        return json.loads(self.payload_json)


@dataclass(frozen=True)
class TrashRecord:
    """One deletion: a patient, session or photo moved to the trash.

    Attributes
    ----------
    id : int
    kind : {"patient", "session", "photo"}
    item_id : int
        Id of the patient, session or photo.
    description : str
        What was deleted, for the user.
    folder : Path
        ``trash/<timestamp>-<kind>-<id>/`` inside the library, holding the files.
    trashed_at : datetime
    restored_at : datetime or None
    """

    id: int
    kind: TrashKind
    item_id: int
    description: str
    folder: Path
    trashed_at: datetime
    restored_at: datetime | None = None


@dataclass(frozen=True)
class ImportIssue:
    """A file an import skipped or had to guess about.

    Attributes
    ----------
    path : str
    message : str
        One sentence naming the file.
    """

    path: str
    message: str


@dataclass(frozen=True)
class ImportReport:
    """What an import did.

    Attributes
    ----------
    imported : int
        New photos stored.
    already_present : int
        Photos whose bytes the library already held (stored once).
    in_trash : int
        Photos whose bytes are in the library's trash (left there; restore them instead).
    errors : tuple of ImportIssue
        Files with a photo's extension that could not be read (skipped).
    warnings : tuple of ImportIssue
    patients : tuple of str
        Codes of the patients that received photos.
    sessions_created : int
    photo_ids : tuple of int
        Ids of the new photos.
    """

    imported: int = 0
    already_present: int = 0
    in_trash: int = 0
    errors: tuple[ImportIssue, ...] = ()
    warnings: tuple[ImportIssue, ...] = ()
    patients: tuple[str, ...] = ()
    sessions_created: int = 0
    photo_ids: tuple[int, ...] = ()

    def to_dict(self) -> dict[str, object]:
        """Return the ``scarview import --json`` document."""
        return {
            "schema": "scarview.import/1",
            "imported": self.imported,
            "already_present": self.already_present,
            "in_trash": self.in_trash,
            "sessions_created": self.sessions_created,
            "patients": list(self.patients),
            "errors": [{"file": e.path, "message": e.message} for e in self.errors],
            "warnings": [{"file": w.path, "message": w.message} for w in self.warnings],
        }
