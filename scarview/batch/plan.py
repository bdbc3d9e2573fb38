"""What a batch will do: patients, sessions in order, photos, and each photo's baseline.

The folder is read with :func:`scarview.store.layout.scan_import_folder` (the one
implementation of the contract's layout rules); this module adds what only the
batch needs before any pixel is decoded:

* every photo's header is read (:func:`scarview.core.io.read_photo_info`: the
  SHA-256 identity, capture date, size), in a few threads; a file that cannot be
  read is an error of the batch and gets no task;
* photos lying directly in a patient's folder are grouped into sessions by their
  EXIF capture date (the file's date when the EXIF has none, with a warning), as
  ``scarview import`` does;
* sessions are put in order (dated ones first, by date -- the date a folder name
  starts with, else the earliest capture date of its photos -- then by name); the
  earliest is the patient's baseline session;
* every photo of a later session is paired with its baseline photo: the photo of
  the baseline session with the same view (from the file name,
  :func:`scarview.store.layout.guess_view`), or with the same file stem when the
  view cannot be told -- the rule of :meth:`scarview.store.Library.baseline_photo_for`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from scarview.core import io
from scarview.core.types import PhotoInfo
from scarview.errors import PhotoError
from scarview.store.layout import PatientSource, date_from_label, guess_view, scan_import_folder


@dataclass(frozen=True)
class PlannedPhoto:
    """One readable photo of the batch.

    Attributes
    ----------
    index : int
        Position in :attr:`BatchPlan.photos` (the order of ``measurements.csv``).
    patient : str
        Patient code (the patient folder's name, NFC).
    session : str
        Session label (the session folder's name, or the ISO capture date).
    session_date : datetime.date or None
        The date the label starts with, else the earliest capture date in the session.
    session_index : int
        0 for the patient's baseline session, then 1, 2... in session order.
    view : str or None
        ``"frontal"``, ``"left-45"``... guessed from the file name.
    file : str
        The file's name.
    relpath : str
        Path relative to the batch's input folder, with ``/`` separators.
    path : str
        Absolute path of the file.
    sha256 : str
        Hex SHA-256 of the file's bytes.
    track : str
        What pairs a photo with its baseline: the view, or ``"name:<stem>"``.
    baseline : int or None
        :attr:`index` of the photo this one is aligned onto; ``None`` for photos
        of the baseline session and for photos whose view has no baseline photo.
    """

    index: int
    patient: str
    session: str
    session_date: date | None
    session_index: int
    view: str | None
    file: str
    relpath: str
    path: str
    sha256: str
    track: str
    baseline: int | None


@dataclass(frozen=True)
class PlanIssue:
    """A file the batch cannot measure, found while planning.

    Attributes
    ----------
    relpath : str
        Path relative to the input folder.
    message : str
        One sentence naming the file and what is wrong.
    """

    relpath: str
    message: str


@dataclass(frozen=True)
class BatchPlan:
    """Everything the batch will measure, in output order.

    Attributes
    ----------
    input_dir : Path
    photos : tuple of PlannedPhoto
        Sorted by patient, session order, view, file name.
    issues : tuple of PlanIssue
        Unreadable files and photos outside any patient folder.
    warnings : tuple of str
        E.g. photos without an EXIF date grouped by their file date.
    """

    input_dir: Path
    photos: tuple[PlannedPhoto, ...]
    issues: tuple[PlanIssue, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def patients(self) -> tuple[str, ...]:
        """Patient codes with at least one readable photo, in output order."""
        seen: dict[str, None] = {}
        for photo in self.photos:
            seen.setdefault(photo.patient, None)
        return tuple(seen)


@dataclass(frozen=True)
class _Read:
    relpath: str
    path: Path
    session_label: str | None
    info: PhotoInfo | None
    error: str | None


def relative_name(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with ``/`` separators (``path`` itself if outside)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def photo_error_message(relpath: str, exc: PhotoError) -> str:
    """The reader's one-sentence error, naming the file by its path in the batch."""
    return str(PhotoError(relpath, exc.reason))


def _read_headers(
    sources: Sequence[tuple[str, Path, str | None]], max_pixels: int, threads: int
) -> list[_Read]:
    def read(item: tuple[str, Path, str | None]) -> _Read:
        relpath, path, label = item
        try:
            info = io.read_photo_info(path, max_pixels=max_pixels)
        except PhotoError as exc:
            return _Read(relpath, path, label, None, photo_error_message(relpath, exc))
        return _Read(relpath, path, label, info, None)

    if threads <= 1 or len(sources) < 2:
        return [read(s) for s in sources]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(read, sources))


def _track_key(file_name: str) -> tuple[str | None, str]:
    view = guess_view(file_name)
    return view, view if view is not None else "name:" + Path(file_name).stem.casefold()


def _plan_patient(
    source: PatientSource, reads: list[_Read], first_index: int, warnings: list[str]
) -> list[PlannedPhoto]:
    groups: dict[str, list[_Read]] = {}
    for read in reads:
        assert read.info is not None
        label = read.session_label
        if label is None:
            captured = read.info.captured_at
            if captured is None:
                captured = datetime.fromtimestamp(read.path.stat().st_mtime)
                warnings.append(
                    f"{read.relpath!r} has no capture date in its EXIF data; it was put in the "
                    f"session of its file date, {captured.date().isoformat()}."
                )
            label = captured.date().isoformat()
        groups.setdefault(label, []).append(read)

    def session_date(label: str) -> date | None:
        dated = [r.info.captured_at.date() for r in groups[label] if r.info and r.info.captured_at]
        return date_from_label(label) or (min(dated) if dated else None)

    dates = {label: session_date(label) for label in groups}
    order = sorted(groups, key=lambda lb: (dates[lb] is None, dates[lb] or date.min, lb))

    entries: list[tuple[int, str, str, _Read]] = []
    for session_index, label in enumerate(order):
        for read in groups[label]:
            entries.append((session_index, label, read.path.name, read))
    entries.sort(key=lambda e: (e[0], guess_view(e[2]) or "", e[2], e[3].relpath))

    photos: list[PlannedPhoto] = []
    baselines: dict[str, int] = {}
    for offset, (session_index, label, name, read) in enumerate(entries):
        assert read.info is not None
        view, track = _track_key(name)
        index = first_index + offset
        baseline: int | None = None
        if session_index == 0:
            baselines.setdefault(track, index)
        else:
            baseline = baselines.get(track)
        photos.append(
            PlannedPhoto(
                index=index,
                patient=source.code,
                session=label,
                session_date=dates[label],
                session_index=session_index,
                view=view,
                file=name,
                relpath=read.relpath,
                path=str(read.path.absolute()),
                sha256=read.info.sha256,
                track=track,
                baseline=baseline,
            )
        )
    return photos


def plan_batch(
    input_dir: str | os.PathLike[str], *, max_pixels: int = io.DEFAULT_MAX_PIXELS, threads: int = 4
) -> BatchPlan:
    """Scan ``input_dir`` and decide what the batch measures and aligns.

    Parameters
    ----------
    input_dir : str or PathLike
        ``INPUT_DIR/<patient>/<session>/<photos>`` or ``INPUT_DIR/<patient>/<photos>``.
    max_pixels : int, optional
        Largest photo accepted, in pixels.
    threads : int, optional
        Threads reading file headers (hashing is I/O and ``hashlib`` releases the GIL).

    Returns
    -------
    BatchPlan

    Raises
    ------
    scarview.errors.InputError
        If ``input_dir`` is not a readable folder.
    """
    root = Path(input_dir)
    scan = scan_import_folder(root)
    issues = [PlanIssue(relative_name(Path(i.path), root), i.message) for i in scan.issues]
    warnings: list[str] = []
    sources = [
        (relative_name(p.path, root), p.path, p.session_label)
        for patient in scan.patients
        for p in patient.photos
    ]
    reads = _read_headers(sources, max_pixels, threads)
    by_patient: list[tuple[PatientSource, list[_Read]]] = []
    start = 0
    for patient in scan.patients:
        by_patient.append((patient, reads[start : start + len(patient.photos)]))
        start += len(patient.photos)
    photos: list[PlannedPhoto] = []
    for patient, mine in sorted(by_patient, key=lambda item: item[0].code):
        ok = [r for r in mine if r.info is not None]
        issues.extend(PlanIssue(r.relpath, r.error or "") for r in mine if r.info is None)
        if ok:
            photos.extend(_plan_patient(patient, ok, len(photos), warnings))
    return BatchPlan(
        root, tuple(photos), tuple(sorted(issues, key=lambda i: i.relpath)), tuple(warnings)
    )
