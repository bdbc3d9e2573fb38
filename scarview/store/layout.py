"""How an import folder is laid out: patients, sessions, photos, masks and views.

The layout is the one ``scarview batch`` reads (see ``CONTRACT.md``)::

    FOLDER/<patient>/<session>/<photos>      sessions named by folder
    FOLDER/<patient>/<photos>                grouped into sessions by capture date

With a patient given, FOLDER is that patient's folder. ``<session>`` is an ISO
date (``2026-03-01``, optionally followed by more words) or any name that sorts
in session order; files in folders below a session folder belong to it. Files
named ``*.mask.png`` are ground-truth masks of the photo with the same stem
beside them. Hidden files (``.DS_Store``, macOS ``._name.jpg`` copies) and
files that are not photos by name are skipped silently.

Names are normalised to Unicode NFC, so a folder copied from macOS (NFD) names
the same patient as one typed on Windows.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from scarview.core import io
from scarview.errors import InputError
from scarview.store.models import ImportIssue

_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?![0-9])")
_B = r"(?<![a-z0-9])"  # start of a name token
_E = r"(?![a-z0-9])"  # end of a name token
_VIEW_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("closeup", re.compile(_B + r"(?:close-?up|cheek|macro)")),
    ("left-90", re.compile(_B + r"(?:(?:left|l)-?90|left-?(?:profile|lateral)|90-?left)" + _E)),
    ("right-90", re.compile(_B + r"(?:(?:right|r)-?90|right-?(?:profile|lateral)|90-?right)" + _E)),
    ("left-45", re.compile(_B + r"(?:(?:left|l)-?45|left-?oblique|45-?left)" + _E)),
    ("right-45", re.compile(_B + r"(?:(?:right|r)-?45|right-?oblique|45-?right)" + _E)),
    ("frontal", re.compile(_B + r"(?:frontal|front|en-?face)" + _E)),
)


def nfc(text: str) -> str:
    """Return ``text`` in Unicode normal form C, without surrounding blanks."""
    return unicodedata.normalize("NFC", text).strip()


def guess_view(file_name: str) -> str | None:
    """Guess a photo's view from its file name.

    Parameters
    ----------
    file_name : str
        E.g. ``"frontal.jpg"``, ``"IMG_L45.JPG"``, ``"right-90.heic"``, ``"cheek-left.jpg"``.

    Returns
    -------
    str or None
        One of ``"closeup"``, ``"left-90"``, ``"right-90"``, ``"left-45"``,
        ``"right-45"``, ``"frontal"``; ``None`` when the name does not say.
    """
    stem = Path(file_name).stem if file_name else ""
    key = re.sub(r"[^a-z0-9]+", "-", nfc(stem).casefold())
    for view, pattern in _VIEW_PATTERNS:
        if pattern.search(key):
            return view
    return None


def date_from_label(label: str) -> date | None:
    """Return the date a session folder's name starts with (``2026-03-01...``), if any."""
    match = _ISO_DATE.match(label.strip())
    if match is None:
        return None
    try:
        return date.fromisoformat(match.group(1))
    except ValueError:
        return None


@dataclass(frozen=True)
class SourcePhoto:
    """A file to import.

    Attributes
    ----------
    path : Path
    session_label : str or None
        The session folder's name; ``None`` for a photo to be grouped by capture date.
    truth_mask : Path or None
        ``<stem>.mask.png`` found beside the photo.
    """

    path: Path
    session_label: str | None
    truth_mask: Path | None = None


@dataclass(frozen=True)
class PatientSource:
    """One patient's folder and the photos found in it."""

    code: str
    folder: Path
    photos: tuple[SourcePhoto, ...]


@dataclass(frozen=True)
class ImportPlan:
    """What a folder holds, before any file is read.

    Attributes
    ----------
    patients : tuple of PatientSource
    issues : tuple of ImportIssue
        Photos that sit where no patient can be told.
    """

    patients: tuple[PatientSource, ...]
    issues: tuple[ImportIssue, ...] = ()

    @property
    def photo_count(self) -> int:
        """Number of photo files to import."""
        return sum(len(p.photos) for p in self.patients)


def _visible(path: Path) -> bool:
    return not path.name.startswith((".", "~$"))


def _children(folder: Path) -> tuple[list[Path], list[Path]]:
    files: list[Path] = []
    dirs: list[Path] = []
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if not _visible(entry):
            continue
        if entry.is_dir():
            dirs.append(entry)
        elif entry.is_file():
            files.append(entry)
    return files, dirs


def _photos_in(files: list[Path], session_label: str | None) -> list[SourcePhoto]:
    masks = {
        f.name[: -len(".mask.png")].casefold(): f
        for f in files
        if io.classify_path(f) == "mask" and f.name.lower().endswith(".mask.png")
    }
    return [
        SourcePhoto(f, session_label, masks.get(f.stem.casefold()))
        for f in files
        if io.classify_path(f) == "photo"
    ]


def _files_below(folder: Path) -> list[Path]:
    found: list[Path] = []
    files, dirs = _children(folder)
    found.extend(files)
    for sub in dirs:
        found.extend(_files_below(sub))
    return found


def _scan_patient(folder: Path) -> tuple[SourcePhoto, ...]:
    files, dirs = _children(folder)
    photos = _photos_in(files, None)
    for session_dir in dirs:
        label = nfc(session_dir.name)
        by_dir: dict[Path, list[Path]] = {}
        for f in _files_below(session_dir):
            by_dir.setdefault(f.parent, []).append(f)
        for group in by_dir.values():
            photos.extend(_photos_in(group, label))
    return tuple(photos)


def scan_import_folder(folder: Path, *, patient: str | None = None) -> ImportPlan:
    """List what an import of ``folder`` would bring in, without reading any photo.

    Parameters
    ----------
    folder : Path
        One folder per patient inside, or (with ``patient``) one patient's folder.
    patient : str, optional
        The patient's code when ``folder`` is one patient's folder.

    Returns
    -------
    ImportPlan

    Raises
    ------
    InputError
        If ``folder`` is not a readable folder.
    """
    if not folder.is_dir():
        raise InputError(folder, "it is not a folder")
    try:
        if patient is not None:
            code = nfc(patient)
            if not code:
                raise InputError(patient, "a patient needs a non-empty name or code")
            return ImportPlan((PatientSource(code, folder, _scan_patient(folder)),))
        files, dirs = _children(folder)
        issues = tuple(
            ImportIssue(
                str(f),
                f"Skipped {str(f)!r}: it is not inside a patient folder "
                "(put it in a folder named after the patient, or import with --patient).",
            )
            for f in files
            if io.classify_path(f) == "photo"
        )
        patients = tuple(PatientSource(nfc(d.name), d, _scan_patient(d)) for d in dirs)
        return ImportPlan(patients, issues)
    except PermissionError as exc:
        raise InputError(exc.filename or folder, "permission denied") from exc
