"""The patient library: a folder holding ``library.sqlite3`` and the photos.

Layout of a library folder (owner-only, mode 0o700)::

    library.sqlite3          patients, sessions, photos, analyses, alignments,
                             corrections, trash (WAL journal, foreign keys on)
    originals/ab/<sha256>.jpg   imported photos, byte for byte, read-only
    derived/ab/<sha256>/     label images of analyses, ground-truth masks
    trash/<time>-<kind>-<id>/   what was deleted, same layout, restorable
    backups/                 the database as it was before each schema upgrade
    tmp/                     files being written (renamed into place when complete)

Guarantees:

* An original is never modified or removed except by an explicit move to the
  trash; importing the same bytes twice stores them once.
* A database row never points at a missing or partial file: files are written
  (temp file, fsync, hash check, rename) before the transaction that refers to
  them commits. A crash may leave a spare file, which the next import reuses.
* Every write is one transaction; the photos of one imported session are
  inserted together, so a killed import never leaves half a session.
* Several processes may use one library at once (a GUI reading while a batch
  writes): the journal is WAL and every connection waits up to
  :data:`BUSY_TIMEOUT_S` for a lock.
* Nothing leaves the machine: there is no network code here.

A :class:`Library` object may be shared by threads (calls are serialised by a
lock); for parallel writers, open one object per process.
"""

from __future__ import annotations

import csv
import io as _stdio
import json
import os
import sqlite3
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview.core import io
from scarview.core.records import MEASUREMENT_COLUMNS, measurement_row
from scarview.core.types import (
    Alignment,
    Calibration,
    CalibrationMethod,
    CancelToken,
    ProgressCallback,
    Scar,
    ScarMap,
    ScarSummary,
    ScarType,
    TypeSummary,
    check_cancel,
    report_progress,
)
from scarview.errors import InputError, PhotoError, ScarViewError
from scarview.store import files, schema
from scarview.store.layout import (
    ImportPlan,
    PatientSource,
    SourcePhoto,
    date_from_label,
    guess_view,
    nfc,
    scan_import_folder,
)
from scarview.store.models import (
    CORRECTION_KINDS,
    VIEWS,
    AlignmentRecord,
    AnalysisRecord,
    CorrectionRecord,
    ImportIssue,
    ImportReport,
    PatientRecord,
    PhotoRecord,
    SessionRecord,
    TrashKind,
    TrashRecord,
)

DB_NAME: Final = "library.sqlite3"
#: Seconds a connection waits for another process's write to finish.
BUSY_TIMEOUT_S: Final = 60.0


class LibraryError(ScarViewError):
    """A library operation that cannot be done; ``str`` is one sentence for the user."""

    exit_code = 3


class _Unset:
    """Marks a keyword argument that was not given (``None`` clears a field)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _dt(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _dt_required(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _date(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def fold(text: str | None) -> str:
    """Return ``text`` case-folded without accents, for searching (``"Müller"`` -> ``"muller"``)."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


# ----------------------------------------------------------------------- JSON forms


def _calibration_to_json(calibration: Calibration) -> str:
    polygon = calibration.marker_polygon
    return json.dumps(
        {
            "px_per_mm": _float_or_none(calibration.px_per_mm),
            "method": calibration.method,
            "uncertainty_pct": _float_or_none(calibration.uncertainty_pct),
            "marker_polygon": None
            if polygon is None
            else np.asarray(polygon, dtype=np.float64).tolist(),
            "marker_id": calibration.marker_id,
            "marker_mm": _float_or_none(calibration.marker_mm),
        }
    )


def _calibration_from_json(text: str) -> Calibration:
    data = json.loads(text)
    polygon = data.get("marker_polygon")
    return Calibration(
        px_per_mm=data.get("px_per_mm"),
        method=data.get("method", "none"),
        uncertainty_pct=data.get("uncertainty_pct"),
        marker_polygon=None if polygon is None else np.asarray(polygon, dtype=np.float64),
        marker_id=data.get("marker_id"),
        marker_mm=data.get("marker_mm"),
    )


def _summary_to_json(summary: ScarSummary) -> str:
    return json.dumps(
        {
            "count": int(summary.count),
            "area_mm2": _float_or_none(summary.area_mm2),
            "area_px": int(summary.area_px),
            "roi_area_mm2": _float_or_none(summary.roi_area_mm2),
            "area_fraction": float(summary.area_fraction),
            "by_type": {
                name: {"count": int(s.count), "area_mm2": _float_or_none(s.area_mm2)}
                for name, s in summary.by_type.items()
            },
        }
    )


def _summary_from_json(text: str) -> ScarSummary:
    data = json.loads(text)
    return ScarSummary(
        count=int(data["count"]),
        area_mm2=data.get("area_mm2"),
        area_px=int(data.get("area_px", 0)),
        roi_area_mm2=data.get("roi_area_mm2"),
        area_fraction=float(data.get("area_fraction", 0.0)),
        by_type={
            name: TypeSummary(int(s["count"]), s.get("area_mm2"))
            for name, s in data.get("by_type", {}).items()
        },
    )


def _encode_labels(labels: NDArray[np.int32]) -> bytes:
    if labels.ndim != 2:
        raise ValueError(f"labels must be a 2-D array, not of shape {labels.shape}")
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) > 65535):
        raise ValueError("labels must lie between 0 and 65535 to be stored as a 16-bit PNG")
    ok, encoded = cv2.imencode(".png", np.ascontiguousarray(labels, dtype=np.uint16))
    if not ok:
        raise ValueError("the label image could not be encoded as PNG")
    return bytes(encoded.tobytes())


# -------------------------------------------------------------------------- import


@dataclass
class _Candidate:
    source: SourcePhoto
    sha256: str
    width: int
    height: int
    format: str
    camera_model: str | None
    orientation: int
    captured_at: datetime | None
    captured_at_source: str | None


@dataclass
class _Tally:
    imported: int = 0
    already_present: int = 0
    in_trash: int = 0
    errors: list[ImportIssue] = field(default_factory=list)
    warnings: list[ImportIssue] = field(default_factory=list)
    patients: list[str] = field(default_factory=list)
    sessions_created: int = 0
    photo_ids: list[int] = field(default_factory=list)

    def report(self) -> ImportReport:
        return ImportReport(
            imported=self.imported,
            already_present=self.already_present,
            in_trash=self.in_trash,
            errors=tuple(self.errors),
            warnings=tuple(self.warnings),
            patients=tuple(self.patients),
            sessions_created=self.sessions_created,
            photo_ids=tuple(self.photo_ids),
        )


def _photo_error(path: Path, exc: BaseException) -> ImportIssue:
    if isinstance(exc, ScarViewError):
        return ImportIssue(str(path), str(exc))
    if isinstance(exc, OSError):
        return ImportIssue(str(path), str(PhotoError(path, exc.strerror or str(exc))))
    return ImportIssue(str(path), str(PhotoError(path, f"{type(exc).__name__}: {exc}")))


_PATIENT_COLUMNS = """
    p.*,
    (SELECT count(*) FROM sessions s
      WHERE s.patient_id = p.id AND s.trash_id IS NULL) AS session_count,
    (SELECT count(*) FROM sessions s JOIN photos ph ON ph.session_id = s.id
      WHERE s.patient_id = p.id AND s.trash_id IS NULL AND ph.trash_id IS NULL) AS photo_count,
    (SELECT min(s.session_date) FROM sessions s
      WHERE s.patient_id = p.id AND s.trash_id IS NULL) AS first_session_date,
    (SELECT max(s.session_date) FROM sessions s
      WHERE s.patient_id = p.id AND s.trash_id IS NULL) AS last_session_date
"""

_SESSION_COLUMNS = """
    s.*,
    (SELECT count(*) FROM photos ph
      WHERE ph.session_id = s.id AND ph.trash_id IS NULL) AS photo_count
"""

_PHOTO_SELECT = """
    SELECT ph.*, s.patient_id AS patient_id, t.folder AS trash_folder
      FROM photos ph
      JOIN sessions s ON s.id = ph.session_id
      LEFT JOIN trash t ON t.id = ph.trash_id
"""

_VIEW_ORDER = {view: i for i, view in enumerate(VIEWS)}


class Library:
    """A ScarView patient library; open it with :meth:`Library.open`.

    Use as a context manager, or call :meth:`close`. Every query returns frozen
    records (:mod:`scarview.store.models`); every write is one transaction.
    """

    def __init__(self, root: Path, conn: sqlite3.Connection) -> None:
        self._root = root
        self._conn = conn
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ opening

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = True) -> Library:
        """Open the library in folder ``path``, creating it if allowed.

        A new library folder is created owner-only (mode 0o700). An existing
        library written by an older ScarView is upgraded, each schema step in
        its own transaction, after a copy of the database is saved under
        ``backups/``.

        Parameters
        ----------
        path : str or PathLike
            The library folder.
        create : bool
            Create the library when the folder holds none (the folder must then
            be missing or empty).

        Returns
        -------
        Library

        Raises
        ------
        InputError
            If there is no library and ``create`` is False, the folder holds
            other files, or the library was written by a newer ScarView.
        """
        root = Path(path).expanduser().absolute()
        db_path = root / DB_NAME
        if root.exists() and not root.is_dir():
            raise InputError(root, "it is a file, not a library folder")
        if not db_path.is_file():
            if not create:
                raise InputError(root, "there is no ScarView library in this folder")
            if root.is_dir() and any(not e.name.startswith(".") for e in root.iterdir()):
                raise InputError(
                    root,
                    "the folder holds other files; choose an empty or new folder for a library",
                )
            files.make_dir(root)
            root.chmod(files.DIR_MODE)  # also when the user made the empty folder
            fd = os.open(db_path, os.O_CREAT | os.O_WRONLY, 0o600)
            os.close(fd)
        conn = sqlite3.connect(
            db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.create_function("sv_fold", 1, fold, deterministic=True)
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise InputError(root, "its database cannot use write-ahead logging here")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            version = schema.user_version(conn)
            if 0 < version < schema.latest_version():
                cls._backup(conn, root, version)
            try:
                schema.apply_migrations(conn)
            except schema.SchemaError as exc:
                raise InputError(root, str(exc)) from exc
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise InputError(db_path, f"the library database cannot be used ({exc})") from exc
        except BaseException:
            conn.close()
            raise
        for sub in (files.ORIGINALS, files.DERIVED, files.TRASH):
            files.make_dir(root / sub)
        files.clean_stale_temp(root)
        return cls(root, conn)

    @staticmethod
    def _backup(conn: sqlite3.Connection, root: Path, version: int) -> None:
        folder = root / files.BACKUPS
        files.make_dir(folder)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = folder / f"library-v{version}-{stamp}-{uuid.uuid4().hex[:6]}.sqlite3"
        fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
        os.close(fd)
        copy = sqlite3.connect(target)
        try:
            conn.backup(copy)
        finally:
            copy.close()

    @property
    def root(self) -> Path:
        """The library folder."""
        return self._root

    @property
    def database_path(self) -> Path:
        """The SQLite file."""
        return self._root / DB_NAME

    @property
    def schema_version(self) -> int:
        """The database's schema version (``PRAGMA user_version``)."""
        with self._lock:
            return schema.user_version(self._conn)

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def integrity_problems(self) -> list[str]:
        """Check the database and the stored originals (reads every photo: slow on big libraries).

        Returns
        -------
        list of str
            Empty when ``PRAGMA integrity_check`` says ok, foreign keys hold and
            every photo's file exists with its recorded SHA-256; otherwise one
            sentence per problem.
        """
        problems: list[str] = []
        with self._lock:
            result = [r[0] for r in self._conn.execute("PRAGMA integrity_check")]
            if result != ["ok"]:
                problems.extend(f"Database: {r}" for r in result)
            broken = self._conn.execute("PRAGMA foreign_key_check").fetchall()
            problems.extend(f"Broken reference in table {r[0]}, row {r[1]}." for r in broken)
            photos = [self._photo(r) for r in self._conn.execute(_PHOTO_SELECT)]
        for photo in photos:
            if not photo.path.is_file():
                problems.append(f"Photo {photo.id}: its file {photo.path} is missing.")
            elif files.sha256_of(photo.path) != photo.sha256:
                problems.append(f"Photo {photo.id}: its file {photo.path} does not match its hash.")
        return problems

    # ---------------------------------------------------------- transactions

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): all of it commits or none."""
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot for several queries."""
        with self._lock:
            self._conn.execute("BEGIN")
            try:
                yield self._conn
            finally:
                if self._conn.in_transaction:
                    self._conn.execute("COMMIT")

    # ------------------------------------------------------------ row mapping

    def _base(self, trash_folder: str | None) -> Path:
        return self._root / trash_folder if trash_folder else self._root

    @staticmethod
    def _patient(row: sqlite3.Row) -> PatientRecord:
        return PatientRecord(
            id=int(row["id"]),
            code=row["code"],
            name=row["name"],
            birth_date=_date(row["birth_date"]),
            fitzpatrick=row["fitzpatrick"],
            notes=row["notes"],
            created_at=_dt_required(row["created_at"]),
            updated_at=_dt_required(row["updated_at"]),
            session_count=int(row["session_count"]),
            photo_count=int(row["photo_count"]),
            first_session_date=_date(row["first_session_date"]),
            last_session_date=_date(row["last_session_date"]),
        )

    @staticmethod
    def _session(row: sqlite3.Row) -> SessionRecord:
        return SessionRecord(
            id=int(row["id"]),
            patient_id=int(row["patient_id"]),
            label=row["label"],
            session_date=_date(row["session_date"]),
            notes=row["notes"],
            created_at=_dt_required(row["created_at"]),
            photo_count=int(row["photo_count"]),
        )

    def _photo(self, row: sqlite3.Row) -> PhotoRecord:
        base = self._base(row["trash_folder"])
        truth = row["truth_mask_file"]
        method: CalibrationMethod = row["calibration_method"]
        return PhotoRecord(
            id=int(row["id"]),
            session_id=int(row["session_id"]),
            patient_id=int(row["patient_id"]),
            sha256=row["sha256"],
            path=base / row["stored_name"],
            original_name=row["original_name"],
            source_path=row["source_path"],
            view=row["view"],
            captured_at=_dt(row["captured_at"]),
            captured_at_source=row["captured_at_source"],
            width=int(row["width"]),
            height=int(row["height"]),
            file_size_bytes=int(row["file_size_bytes"]),
            format=row["format"],
            camera_model=row["camera_model"],
            orientation=int(row["orientation"]),
            calibration=Calibration(
                px_per_mm=row["px_per_mm"],
                method=method,
                uncertainty_pct=row["calibration_uncertainty_pct"],
                marker_mm=row["calibration_marker_mm"],
            ),
            imported_at=_dt_required(row["imported_at"]),
            truth_mask_path=None if truth is None else base / truth,
            trashed=row["trash_id"] is not None,
        )

    # ---------------------------------------------------------------- patients

    def add_patient(
        self,
        code: str,
        *,
        name: str | None = None,
        birth_date: date | None = None,
        fitzpatrick: int | None = None,
        notes: str = "",
    ) -> PatientRecord:
        """Add a patient.

        Parameters
        ----------
        code : str
            The clinic's code for the patient (unique among patients not in the trash).
        name : str, optional
        birth_date : date, optional
        fitzpatrick : int, optional
            Fitzpatrick skin type 1 to 6.
        notes : str

        Returns
        -------
        PatientRecord

        Raises
        ------
        LibraryError
            If the code is empty or taken, or the skin type is out of range.
        """
        code = nfc(code)
        self._check_patient_fields(code, fitzpatrick)
        with self._write() as conn:
            patient_id = self._insert_patient(conn, code, name, birth_date, fitzpatrick, notes)
        return self.get_patient(patient_id)

    @staticmethod
    def _check_patient_fields(code: str, fitzpatrick: int | None) -> None:
        if not code:
            raise LibraryError("A patient needs a code.")
        if fitzpatrick is not None and not 1 <= int(fitzpatrick) <= 6:
            raise LibraryError(f"Fitzpatrick skin type {fitzpatrick} is not between 1 and 6.")

    @staticmethod
    def _insert_patient(
        conn: sqlite3.Connection,
        code: str,
        name: str | None,
        birth_date: date | None,
        fitzpatrick: int | None,
        notes: str,
    ) -> int:
        now = _now()
        try:
            cursor = conn.execute(
                "INSERT INTO patients (code, name, birth_date, fitzpatrick, notes, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    code,
                    nfc(name) if name else None,
                    None if birth_date is None else birth_date.isoformat(),
                    fitzpatrick,
                    notes,
                    now,
                    now,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise LibraryError(f"Another patient already has the code {code!r}.") from exc
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    def update_patient(
        self,
        patient_id: int,
        *,
        code: str | _Unset = UNSET,
        name: str | _Unset | None = UNSET,
        birth_date: date | _Unset | None = UNSET,
        fitzpatrick: int | _Unset | None = UNSET,
        notes: str | _Unset = UNSET,
    ) -> PatientRecord:
        """Change a patient's details; arguments not given are left as they are.

        Pass ``None`` to clear an optional field. Raises :class:`LibraryError`
        for an unknown or trashed patient, or a code another patient has.
        """
        changes: dict[str, object] = {}
        if not isinstance(code, _Unset):
            changes["code"] = nfc(code)
            self._check_patient_fields(nfc(code), None)
        if not isinstance(name, _Unset):
            changes["name"] = nfc(name) if name else None
        if not isinstance(birth_date, _Unset):
            changes["birth_date"] = None if birth_date is None else birth_date.isoformat()
        if not isinstance(fitzpatrick, _Unset):
            self._check_patient_fields("x", fitzpatrick)
            changes["fitzpatrick"] = fitzpatrick
        if not isinstance(notes, _Unset):
            changes["notes"] = notes
        with self._write() as conn:
            self._live_patient_row(conn, patient_id)
            if changes:
                assignments = ", ".join(f"{column} = ?" for column in changes)
                try:
                    conn.execute(
                        f"UPDATE patients SET {assignments}, updated_at = ? WHERE id = ?",
                        (*changes.values(), _now(), patient_id),
                    )
                except sqlite3.IntegrityError as exc:
                    raise LibraryError(
                        f"Another patient already has the code {changes.get('code')!r}."
                    ) from exc
        return self.get_patient(patient_id)

    @staticmethod
    def _live_patient_row(conn: sqlite3.Connection, patient_id: int) -> sqlite3.Row:
        row = conn.execute(
            "SELECT * FROM patients WHERE id = ? AND trash_id IS NULL", (patient_id,)
        ).fetchone()
        if row is None:
            raise LibraryError(f"There is no patient {patient_id} in the library.")
        return row

    def get_patient(self, patient_id: int) -> PatientRecord:
        """Return the patient with this id (not in the trash); :class:`LibraryError` if none."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_PATIENT_COLUMNS} FROM patients p WHERE p.id = ? AND p.trash_id IS NULL",
                (patient_id,),
            ).fetchone()
        if row is None:
            raise LibraryError(f"There is no patient {patient_id} in the library.")
        return self._patient(row)

    def patient_by_code(self, code: str) -> PatientRecord | None:
        """Return the patient (not in the trash) with exactly this code, if any."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_PATIENT_COLUMNS} FROM patients p"
                " WHERE p.code = ? AND p.trash_id IS NULL",
                (nfc(code),),
            ).fetchone()
        return None if row is None else self._patient(row)

    def list_patients(self, search: str = "") -> tuple[PatientRecord, ...]:
        """Return the patients not in the trash, by name (or code), optionally filtered.

        Parameters
        ----------
        search : str
            Keeps patients whose code or name contains it, ignoring case and
            accents (``"muller"`` finds ``"Müller"``). Empty: every patient.

        Returns
        -------
        tuple of PatientRecord
        """
        needle = fold(nfc(search))
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_PATIENT_COLUMNS} FROM patients p WHERE p.trash_id IS NULL"
                " AND (? = '' OR instr(sv_fold(p.code), ?) > 0"
                "      OR instr(sv_fold(p.name), ?) > 0)"
                " ORDER BY sv_fold(coalesce(p.name, p.code)), p.code",
                (needle, needle, needle),
            ).fetchall()
        return tuple(self._patient(r) for r in rows)

    def find_patient(self, ident: str | int) -> PatientRecord:
        """Return the patient a user named by id, code or name.

        Tried in order: exact code, numeric id, code ignoring case and
        accents, then name ignoring case and accents (which must be unique).

        Raises
        ------
        InputError
            If no patient, or more than one by name, matches.
        """
        text = nfc(str(ident))
        found = self.patient_by_code(text)
        if found is not None:
            return found
        if text.isdigit():
            try:
                return self.get_patient(int(text))
            except LibraryError:
                pass
        key = fold(text)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_PATIENT_COLUMNS} FROM patients p WHERE p.trash_id IS NULL"
                " AND (sv_fold(p.code) = ? OR sv_fold(p.name) = ?)"
                " ORDER BY sv_fold(p.code) = ? DESC, p.id",
                (key, key, key),
            ).fetchall()
        if not rows:
            raise InputError(text, "no patient in the library has this id, code or name")
        if len(rows) > 1 and fold(rows[0]["code"]) != key:
            raise InputError(text, "several patients have this name; use the patient's code")
        return self._patient(rows[0])

    # ---------------------------------------------------------------- sessions

    def sessions_of(self, patient_id: int) -> tuple[SessionRecord, ...]:
        """Return a patient's sessions not in the trash, earliest first.

        Sessions without a date come after dated ones, in label order.
        """
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions s"
                " WHERE s.patient_id = ? AND s.trash_id IS NULL"
                " ORDER BY s.session_date IS NULL, s.session_date, s.label, s.id",
                (patient_id,),
            ).fetchall()
        return tuple(self._session(r) for r in rows)

    def get_session(self, session_id: int) -> SessionRecord:
        """Return one session (not in the trash); :class:`LibraryError` if none."""
        with self._lock:
            row = self._conn.execute(
                f"SELECT {_SESSION_COLUMNS} FROM sessions s WHERE s.id = ? AND s.trash_id IS NULL",
                (session_id,),
            ).fetchone()
        if row is None:
            raise LibraryError(f"There is no session {session_id} in the library.")
        return self._session(row)

    def add_session(
        self,
        patient_id: int,
        session_date: date | None,
        *,
        label: str | None = None,
        notes: str = "",
    ) -> SessionRecord:
        """Add an empty session to a patient.

        Parameters
        ----------
        patient_id : int
        session_date : date or None
        label : str, optional
            Defaults to the ISO date. Unique per patient.
        notes : str
        """
        text = nfc(label) if label else (session_date.isoformat() if session_date else "")
        if not text:
            raise LibraryError("A session needs a date or a label.")
        with self._write() as conn:
            self._live_patient_row(conn, patient_id)
            session_id, created = self._session_id(conn, patient_id, text, session_date)
            if not created:
                raise LibraryError(f"The patient already has a session named {text!r}.")
            if notes:
                conn.execute("UPDATE sessions SET notes = ? WHERE id = ?", (notes, session_id))
        return self.get_session(session_id)

    def update_session(
        self,
        session_id: int,
        *,
        label: str | _Unset = UNSET,
        session_date: date | _Unset | None = UNSET,
        notes: str | _Unset = UNSET,
    ) -> SessionRecord:
        """Change a session's label, date or notes; arguments not given are kept."""
        changes: dict[str, object] = {}
        if not isinstance(label, _Unset):
            if not nfc(label):
                raise LibraryError("A session's label cannot be empty.")
            changes["label"] = nfc(label)
        if not isinstance(session_date, _Unset):
            changes["session_date"] = None if session_date is None else session_date.isoformat()
        if not isinstance(notes, _Unset):
            changes["notes"] = notes
        with self._write() as conn:
            if (
                conn.execute(
                    "SELECT 1 FROM sessions WHERE id = ? AND trash_id IS NULL", (session_id,)
                ).fetchone()
                is None
            ):
                raise LibraryError(f"There is no session {session_id} in the library.")
            if changes:
                assignments = ", ".join(f"{column} = ?" for column in changes)
                try:
                    conn.execute(
                        f"UPDATE sessions SET {assignments} WHERE id = ?",
                        (*changes.values(), session_id),
                    )
                except sqlite3.IntegrityError as exc:
                    raise LibraryError(
                        f"The patient already has a session named {changes.get('label')!r}."
                    ) from exc
        return self.get_session(session_id)

    @staticmethod
    def _session_id(
        conn: sqlite3.Connection, patient_id: int, label: str, session_date: date | None
    ) -> tuple[int, bool]:
        row = conn.execute(
            "SELECT id, session_date FROM sessions"
            " WHERE patient_id = ? AND label = ? AND trash_id IS NULL",
            (patient_id, label),
        ).fetchone()
        if row is not None:
            if row["session_date"] is None and session_date is not None:
                conn.execute(
                    "UPDATE sessions SET session_date = ? WHERE id = ?",
                    (session_date.isoformat(), row["id"]),
                )
            return int(row["id"]), False
        cursor = conn.execute(
            "INSERT INTO sessions (patient_id, label, session_date, created_at)"
            " VALUES (?, ?, ?, ?)",
            (patient_id, label, None if session_date is None else session_date.isoformat(), _now()),
        )
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid), True

    # ------------------------------------------------------------------ photos

    def photos_of(self, session_id: int) -> tuple[PhotoRecord, ...]:
        """Return a session's photos not in the trash, by view then file name."""
        with self._lock:
            rows = self._conn.execute(
                _PHOTO_SELECT + " WHERE ph.session_id = ? AND ph.trash_id IS NULL",
                (session_id,),
            ).fetchall()
        photos = [self._photo(r) for r in rows]
        photos.sort(key=lambda p: (_VIEW_ORDER.get(p.view or "", len(VIEWS)), p.original_name))
        return tuple(photos)

    def get_photo(self, photo_id: int, *, include_trashed: bool = False) -> PhotoRecord:
        """Return one photo; :class:`LibraryError` if none (or trashed, unless asked)."""
        with self._lock:
            row = self._conn.execute(_PHOTO_SELECT + " WHERE ph.id = ?", (photo_id,)).fetchone()
        if row is None or (row["trash_id"] is not None and not include_trashed):
            raise LibraryError(f"There is no photo {photo_id} in the library.")
        return self._photo(row)

    def photo_by_sha256(self, sha256: str) -> PhotoRecord | None:
        """Return the photo (not in the trash) with these bytes, if the library holds it."""
        with self._lock:
            row = self._conn.execute(
                _PHOTO_SELECT + " WHERE ph.sha256 = ? AND ph.trash_id IS NULL", (sha256.lower(),)
            ).fetchone()
        return None if row is None else self._photo(row)

    def original_path(self, photo: PhotoRecord | int) -> Path:
        """Return the read-only stored original of a photo (a record or an id)."""
        record = photo if isinstance(photo, PhotoRecord) else self.get_photo(photo)
        return record.path

    def set_photo_view(self, photo_id: int, view: str | None) -> PhotoRecord:
        """Set a photo's view (one of :data:`~scarview.store.models.VIEWS`, or ``None``)."""
        if view is not None and view not in VIEWS:
            raise LibraryError(f"{view!r} is not a view; use one of {', '.join(VIEWS)}.")
        with self._write() as conn:
            self._live_photo_row(conn, photo_id)
            conn.execute("UPDATE photos SET view = ? WHERE id = ?", (view, photo_id))
        return self.get_photo(photo_id)

    @staticmethod
    def _live_photo_row(conn: sqlite3.Connection, photo_id: int) -> sqlite3.Row:
        row = conn.execute(
            "SELECT * FROM photos WHERE id = ? AND trash_id IS NULL", (photo_id,)
        ).fetchone()
        if row is None:
            raise LibraryError(f"There is no photo {photo_id} in the library.")
        return row

    def baseline_photo_for(self, photo_id: int) -> PhotoRecord | None:
        """Return the photo this one is compared with: same view, patient's first session.

        Returns ``None`` for a photo of the first session, or when the first
        session has no photo of the same view (the same file name when the view
        is unknown).
        """
        photo = self.get_photo(photo_id)
        sessions = self.sessions_of(photo.patient_id)
        if not sessions or sessions[0].id == photo.session_id:
            return None
        for candidate in self.photos_of(sessions[0].id):
            if photo.view is not None and candidate.view == photo.view:
                return candidate
            if photo.view is None and Path(candidate.original_name).stem.casefold() == (
                Path(photo.original_name).stem.casefold()
            ):
                return candidate
        return None

    # ------------------------------------------------------------------ import

    def import_folder(
        self,
        folder: str | os.PathLike[str],
        *,
        patient: str | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ImportReport:
        """Import every photo of a folder laid out as for ``scarview batch``.

        Parameters
        ----------
        folder : str or PathLike
            One folder per patient (named by the patient's code), each holding
            session folders or photos grouped into sessions by capture date;
            with ``patient``, one patient's folder.
        patient : str, optional
            The patient's code (or the name of a patient already in the library).
        progress : callable, optional
            ``progress(fraction, message)``.
        cancel : CancelToken, optional
            Checked between files; sessions finished before it was set stay imported.

        Returns
        -------
        ImportReport
            Counts and one sentence per file that could not be read (skipped).

        Raises
        ------
        InputError
            If ``folder`` is not a folder.
        Cancelled
            If ``cancel`` was set.
        """
        plan = scan_import_folder(Path(folder), patient=patient)
        return self._import_plan(plan, {}, patient is not None, progress, cancel)

    def import_photos(
        self,
        paths: Iterable[str | os.PathLike[str]],
        patient_code: str,
        session_date: date | None = None,
        *,
        session_label: str | None = None,
        progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> ImportReport:
        """Import chosen files (for example dropped on the window) into one patient.

        Parameters
        ----------
        paths : iterable of path
            Photo files; ``*.mask.png`` beside a photo of the same stem is kept
            as its ground truth; other files are reported and skipped.
        patient_code : str
            The patient's code (or the name of a patient already in the
            library); a new patient is created for an unknown code.
        session_date : date, optional
            Put every photo into the session of this date; without it (and
            without ``session_label``) photos are grouped by capture date.
        session_label : str, optional
            Name of the session (defaults to the ISO date).
        progress, cancel
            As for :meth:`import_folder`.
        """
        chosen = [Path(p) for p in paths]
        label = nfc(session_label) if session_label else None
        if label is None and session_date is not None:
            label = session_date.isoformat()
        issues: list[ImportIssue] = []
        masks = {
            p.name[: -len(".mask.png")].casefold(): p
            for p in chosen
            if io.classify_path(p) == "mask" and p.name.lower().endswith(".mask.png")
        }
        photos: list[SourcePhoto] = []
        for path in chosen:
            kind = io.classify_path(path)
            if kind == "photo":
                photos.append(SourcePhoto(path, label, masks.get(path.stem.casefold())))
            elif kind != "mask":
                issues.append(
                    ImportIssue(str(path), f"Skipped {str(path)!r}: it is not a photo file.")
                )
        code = nfc(patient_code)
        if not code:
            raise LibraryError("Choose the patient the photos belong to.")
        plan = ImportPlan((PatientSource(code, Path(), tuple(photos)),), tuple(issues))
        dates = {label: session_date} if label is not None and session_date is not None else {}
        return self._import_plan(plan, dates, True, progress, cancel)

    def _photo_state(self, sha256: str) -> str | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT min(trash_id IS NOT NULL) AS trashed FROM photos WHERE sha256 = ?",
                (sha256,),
            ).fetchone()
        if row is None or row["trashed"] is None:
            return None
        return "trash" if row["trashed"] else "live"

    def _import_plan(
        self,
        plan: ImportPlan,
        session_dates: Mapping[str, date],
        match_patient_name: bool,
        progress: ProgressCallback | None,
        cancel: CancelToken | None,
    ) -> ImportReport:
        tally = _Tally(errors=list(plan.issues))
        total = max(1, 2 * plan.photo_count)
        step = 0

        def advance(message: str) -> None:
            nonlocal step
            report_progress(progress, step / total, message)
            step += 1

        for source in plan.patients:
            groups: dict[str, list[_Candidate]] = {}
            for photo in source.photos:
                check_cancel(cancel)
                advance(f"Reading {photo.path.name}")
                candidate = self._read_candidate(photo, tally)
                if candidate is not None:
                    label = photo.session_label
                    if label is None:
                        assert candidate.captured_at is not None
                        label = candidate.captured_at.date().isoformat()
                    groups.setdefault(label, []).append(candidate)
            for label in sorted(groups):
                group = groups[label]
                dated = [
                    c.captured_at.date()
                    for c in group
                    if c.captured_at_source == "exif" and c.captured_at
                ]
                session_date = (
                    date_from_label(label)
                    or session_dates.get(label)
                    or (min(dated) if dated else None)
                )
                self._import_session(
                    source.code,
                    label,
                    session_date,
                    group,
                    match_patient_name,
                    tally,
                    cancel,
                    advance,
                )
        report_progress(progress, 1.0, "Import finished")
        return tally.report()

    def _read_candidate(self, photo: SourcePhoto, tally: _Tally) -> _Candidate | None:
        path = photo.path
        try:
            sha = io.sha256_file(path)
            state = self._photo_state(sha)
            if state == "live":
                tally.already_present += 1
                return None
            if state == "trash":
                tally.in_trash += 1
                tally.warnings.append(
                    ImportIssue(
                        str(path),
                        f"Skipped {str(path)!r}: the same photo is in the library's trash; "
                        "restore it from there to use it again.",
                    )
                )
                return None
            info = io.read_photo_info(path)
            if info.sha256 != sha:
                raise PhotoError(path, "the file changed while it was being imported")
            captured_at = info.captured_at
            source: str | None = "exif"
            if captured_at is None:
                source = None
                if photo.session_label is None:
                    captured_at = datetime.fromtimestamp(path.stat().st_mtime)
                    source = "mtime"
                    tally.warnings.append(
                        ImportIssue(
                            str(path),
                            f"{str(path)!r} has no capture date in its EXIF data; it was put in "
                            f"the session of its file date, {captured_at.date().isoformat()}.",
                        )
                    )
        except Exception as exc:  # one bad file is reported and skipped
            tally.errors.append(_photo_error(path, exc))
            return None
        return _Candidate(
            source=photo,
            sha256=sha,
            width=int(info.width),
            height=int(info.height),
            format=info.format or "",
            camera_model=info.camera_model,
            orientation=int(info.orientation),
            captured_at=captured_at,
            captured_at_source=source,
        )

    def _store_original(self, candidate: _Candidate) -> tuple[str, str | None]:
        """Copy the original (and its ground-truth mask) into the library.

        Returns the stored original's and mask's paths relative to the library.
        Raises :class:`PhotoError` when the source file fails, :class:`LibraryError`
        when the library cannot be written.
        """
        sha = candidate.sha256
        suffix = candidate.source.path.suffix.lower()
        relative = f"{files.ORIGINALS}/{sha[:2]}/{sha}{suffix}"
        try:
            files.store_copy(candidate.source.path, self._root, relative, sha)
        except ScarViewError:
            raise
        except OSError as exc:
            if exc.filename is not None and Path(exc.filename) == candidate.source.path:
                raise PhotoError(candidate.source.path, exc.strerror or str(exc)) from exc
            raise LibraryError(
                f"Cannot write into the library {str(self._root)!r}: {exc.strerror or exc}."
            ) from exc
        truth: str | None = None
        mask = candidate.source.truth_mask
        if mask is not None:
            truth = f"{files.DERIVED}/{sha[:2]}/{sha}/truth.mask.png"
            try:
                files.store_copy(mask, self._root, truth, files.sha256_of(mask))
            except (OSError, PhotoError):
                truth = None
        return relative, truth

    def _import_session(
        self,
        code: str,
        label: str,
        session_date: date | None,
        group: Sequence[_Candidate],
        match_patient_name: bool,
        tally: _Tally,
        cancel: CancelToken | None,
        advance: Callable[[str], None],
    ) -> None:
        stored: list[tuple[_Candidate, str, str | None]] = []
        for candidate in group:
            check_cancel(cancel)
            advance(f"Storing {candidate.source.path.name}")
            try:
                relative, truth = self._store_original(candidate)
            except PhotoError as exc:
                tally.errors.append(_photo_error(candidate.source.path, exc))
                continue
            stored.append((candidate, relative, truth))
        if not stored:
            return
        check_cancel(cancel)
        imported: list[int] = []
        present = 0
        with self._write() as conn:
            patient_id, patient_code = self._patient_for_import(conn, code, match_patient_name)
            session_id, created = self._session_id(conn, patient_id, label, session_date)
            for candidate, relative, truth in stored:
                if conn.execute(
                    "SELECT 1 FROM photos WHERE sha256 = ? AND trash_id IS NULL",
                    (candidate.sha256,),
                ).fetchone():
                    present += 1
                    continue
                imported.append(self._insert_photo(conn, session_id, candidate, relative, truth))
            if not imported and created:
                conn.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
                created = False
        tally.imported += len(imported)
        tally.photo_ids.extend(imported)
        tally.already_present += present
        tally.sessions_created += int(created)
        if imported and patient_code not in tally.patients:
            tally.patients.append(patient_code)

    @staticmethod
    @staticmethod
    def _patient_for_import(
        conn: sqlite3.Connection, code: str, match_name: bool
    ) -> tuple[int, str]:
        """Id and code of the patient an import names (created when new)."""
        row = conn.execute(
            "SELECT id, code FROM patients WHERE code = ? AND trash_id IS NULL", (code,)
        ).fetchone()
        if row is None and match_name:
            rows = conn.execute(
                "SELECT id, code FROM patients WHERE trash_id IS NULL AND sv_fold(name) = ?",
                (fold(code),),
            ).fetchall()
            if len(rows) == 1:
                row = rows[0]
        if row is not None:
            return int(row["id"]), str(row["code"])
        return Library._insert_patient(conn, code, None, None, None, ""), code

    def _insert_photo(
        self,
        conn: sqlite3.Connection,
        session_id: int,
        candidate: _Candidate,
        relative: str,
        truth: str | None,
    ) -> int:
        path = candidate.source.path
        size = (self._root / relative).stat().st_size
        cursor = conn.execute(
            "INSERT INTO photos (session_id, sha256, stored_name, original_name, source_path,"
            " view, captured_at, captured_at_source, width, height, file_size_bytes, format,"
            " camera_model, orientation, imported_at, truth_mask_file)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                session_id,
                candidate.sha256,
                relative,
                nfc(path.name),
                str(path.absolute()),
                guess_view(path.name),
                None
                if candidate.captured_at is None
                else candidate.captured_at.isoformat(timespec="seconds"),
                candidate.captured_at_source,
                candidate.width,
                candidate.height,
                size,
                candidate.format,
                candidate.camera_model,
                candidate.orientation,
                _now(),
                truth,
            ),
        )
        assert cursor.lastrowid is not None
        return int(cursor.lastrowid)

    # ---------------------------------------------------------------- analyses

    def save_analysis(
        self,
        photo_id: int,
        scarmap: ScarMap,
        calibration: Calibration,
        settings: Mapping[str, Any],
        algorithm_version: str,
    ) -> AnalysisRecord:
        """Store one analysis of a photo (earlier analyses are kept).

        The label image is written as a 16-bit PNG under ``derived/`` before
        the rows that name it are committed; the photo's current calibration
        becomes ``calibration``.

        Parameters
        ----------
        photo_id : int
        scarmap : ScarMap
            Its ``labels`` must have the photo's shape ``(height, width)`` and
            values 0 to 65535.
        calibration : Calibration
            The scale the analysis used.
        settings : Mapping
            Analysis settings (JSON-serialisable), recorded as given.
        algorithm_version : str

        Returns
        -------
        AnalysisRecord
        """
        photo = self.get_photo(photo_id)
        labels = np.asarray(scarmap.labels)
        if labels.shape != (photo.height, photo.width):
            raise ValueError(
                f"labels of shape {labels.shape} do not match photo {photo_id} "
                f"of {photo.width}×{photo.height} px"
            )
        settings_json = json.dumps(dict(settings), sort_keys=True, default=str)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        sha = photo.sha256
        relative = f"{files.DERIVED}/{sha[:2]}/{sha}/labels-{stamp}-{uuid.uuid4().hex[:8]}.png"
        files.store_bytes(_encode_labels(labels), self._root, relative)
        roi = scarmap.roi_polygon
        summary = scarmap.summary
        try:
            with self._write() as conn:
                self._live_photo_row(conn, photo_id)
                cursor = conn.execute(
                    "INSERT INTO analyses (photo_id, created_at, algorithm_version, settings_json,"
                    " calibration_json, px_per_mm, summary_json, scar_count, area_mm2, roi_json,"
                    " light_azimuth_deg, warnings_json, mask_file)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        photo_id,
                        _now(),
                        algorithm_version,
                        settings_json,
                        _calibration_to_json(calibration),
                        _float_or_none(calibration.px_per_mm),
                        _summary_to_json(summary),
                        int(summary.count),
                        _float_or_none(summary.area_mm2),
                        None
                        if roi is None
                        else json.dumps(np.asarray(roi, dtype=np.float64).tolist()),
                        _float_or_none(scarmap.light_azimuth_deg),
                        json.dumps(list(scarmap.warnings)),
                        relative,
                    ),
                )
                analysis_id = cursor.lastrowid
                conn.executemany(
                    "INSERT INTO analysis_scars (analysis_id, scar_id, type, area_px, area_mm2,"
                    " diameter_mm, centroid_x, centroid_y, bbox_x, bbox_y, bbox_w, bbox_h,"
                    " contour_xy, confidence, depth_mm, source)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (
                            analysis_id,
                            int(s.id),
                            s.type,
                            int(s.area_px),
                            _float_or_none(s.area_mm2),
                            _float_or_none(s.diameter_mm),
                            float(s.centroid_xy[0]),
                            float(s.centroid_xy[1]),
                            *(int(v) for v in s.bbox_xywh),
                            np.ascontiguousarray(s.contour, dtype="<f8").reshape(-1, 2).tobytes(),
                            float(s.confidence),
                            _float_or_none(s.depth_mm),
                            s.source,
                        )
                        for s in scarmap.scars
                    ],
                )
                conn.execute(
                    "UPDATE photos SET px_per_mm = ?, calibration_method = ?,"
                    " calibration_uncertainty_pct = ?, calibration_marker_mm = ? WHERE id = ?",
                    (
                        _float_or_none(calibration.px_per_mm),
                        calibration.method,
                        _float_or_none(calibration.uncertainty_pct),
                        _float_or_none(calibration.marker_mm),
                        photo_id,
                    ),
                )
        except BaseException:
            files.remove_file(self._root / relative)
            raise
        assert analysis_id is not None
        record = self._analysis(int(analysis_id))
        assert record is not None
        return record

    def latest_analysis(self, photo_id: int) -> AnalysisRecord | None:
        """Return the photo's most recent analysis, or ``None`` if never analysed."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id FROM analyses WHERE photo_id = ? ORDER BY id DESC LIMIT 1", (photo_id,)
            ).fetchone()
        return None if row is None else self._analysis(int(row["id"]))

    def analyses_of(self, photo_id: int) -> tuple[AnalysisRecord, ...]:
        """Return every analysis of a photo, oldest first."""
        with self._lock:
            ids = [
                int(r["id"])
                for r in self._conn.execute(
                    "SELECT id FROM analyses WHERE photo_id = ? ORDER BY id", (photo_id,)
                )
            ]
        records = [self._analysis(i) for i in ids]
        return tuple(r for r in records if r is not None)

    def _analysis(self, analysis_id: int) -> AnalysisRecord | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT a.*, t.folder AS trash_folder FROM analyses a"
                " JOIN photos ph ON ph.id = a.photo_id LEFT JOIN trash t ON t.id = ph.trash_id"
                " WHERE a.id = ?",
                (analysis_id,),
            ).fetchone()
            scar_rows = conn.execute(
                "SELECT * FROM analysis_scars WHERE analysis_id = ? ORDER BY scar_id",
                (analysis_id,),
            ).fetchall()
        if row is None:
            return None
        scars = tuple(self._scar(r) for r in scar_rows)
        roi = None if row["roi_json"] is None else json.loads(row["roi_json"])
        return AnalysisRecord(
            id=int(row["id"]),
            photo_id=int(row["photo_id"]),
            created_at=_dt_required(row["created_at"]),
            algorithm_version=row["algorithm_version"],
            settings=json.loads(row["settings_json"]),
            calibration=_calibration_from_json(row["calibration_json"]),
            summary=_summary_from_json(row["summary_json"]),
            scars=scars,
            mask_path=self._base(row["trash_folder"]) / row["mask_file"],
            roi_polygon=None if roi is None else tuple((float(x), float(y)) for x, y in roi),
            light_azimuth_deg=row["light_azimuth_deg"],
            warnings=tuple(json.loads(row["warnings_json"])),
        )

    @staticmethod
    def _scar(row: sqlite3.Row) -> Scar:
        scar_type: ScarType = row["type"]
        contour = np.frombuffer(row["contour_xy"], dtype="<f8").astype(np.float64).reshape(-1, 2)
        return Scar(
            id=int(row["scar_id"]),
            type=scar_type,
            area_px=int(row["area_px"]),
            area_mm2=row["area_mm2"],
            diameter_mm=row["diameter_mm"],
            centroid_xy=(float(row["centroid_x"]), float(row["centroid_y"])),
            bbox_xywh=(
                int(row["bbox_x"]),
                int(row["bbox_y"]),
                int(row["bbox_w"]),
                int(row["bbox_h"]),
            ),
            contour=contour,
            confidence=float(row["confidence"]),
            depth_mm=row["depth_mm"],
            source=row["source"],
        )

    @staticmethod
    def load_labels(analysis: AnalysisRecord) -> NDArray[np.int32]:
        """Read an analysis's label image.

        Returns
        -------
        ndarray of shape (H, W) and dtype int32
            0 outside scars, the scar's id inside.
        """
        data = np.frombuffer(analysis.mask_path.read_bytes(), dtype=np.uint8)
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        if image is None or image.ndim != 2:
            raise LibraryError(f"The label image {str(analysis.mask_path)!r} cannot be read.")
        return np.ascontiguousarray(image, dtype=np.int32)

    def load_scarmap(self, analysis: AnalysisRecord) -> ScarMap:
        """Rebuild the :class:`~scarview.core.types.ScarMap` an analysis stored."""
        roi = analysis.roi_polygon
        return ScarMap(
            scars=analysis.scars,
            labels=self.load_labels(analysis),
            summary=analysis.summary,
            px_per_mm=analysis.calibration.px_per_mm,
            roi_polygon=None if roi is None else np.asarray(roi, dtype=np.float64),
            light_azimuth_deg=analysis.light_azimuth_deg,
            algorithm_version=analysis.algorithm_version,
            warnings=analysis.warnings,
        )

    # -------------------------------------------------------------- alignments

    def save_alignment(
        self, photo_id: int, baseline_photo_id: int, alignment: Alignment
    ) -> AlignmentRecord:
        """Store how a photo maps onto its session-baseline photo (earlier ones are kept).

        Parameters
        ----------
        photo_id : int
            The later (AFTER) photo.
        baseline_photo_id : int
            The baseline (BEFORE) photo; ``alignment.homography`` maps
            ``photo_id``'s pixels onto its pixels.
        alignment : Alignment
        """
        if photo_id == baseline_photo_id:
            raise LibraryError("A photo cannot be aligned onto itself.")
        homography = alignment.homography
        with self._write() as conn:
            self._live_photo_row(conn, photo_id)
            self._live_photo_row(conn, baseline_photo_id)
            cursor = conn.execute(
                "INSERT INTO alignments (photo_id, baseline_photo_id, created_at, ok, method,"
                " homography_json, inliers, inlier_ratio, rmse_px, ecc, reason, warnings_json,"
                " residuals_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    photo_id,
                    baseline_photo_id,
                    _now(),
                    int(bool(alignment.ok)),
                    alignment.method,
                    None
                    if homography is None
                    else json.dumps(np.asarray(homography, dtype=np.float64).tolist()),
                    int(alignment.inliers),
                    float(alignment.inlier_ratio),
                    _float_or_none(alignment.rmse_px),
                    _float_or_none(alignment.ecc),
                    alignment.reason,
                    json.dumps(list(alignment.warnings)),
                    json.dumps([float(v) for v in alignment.residuals_px]),
                ),
            )
            alignment_id = cursor.lastrowid
        assert alignment_id is not None
        record = self._alignment_where("id = ?", int(alignment_id))
        assert record is not None
        return record

    def alignment_for(self, photo_id: int) -> AlignmentRecord | None:
        """Return the photo's most recent alignment onto its baseline photo, if any."""
        return self._alignment_where("photo_id = ? ORDER BY id DESC LIMIT 1", photo_id)

    def _alignment_where(self, clause: str, value: int) -> AlignmentRecord | None:
        with self._lock:
            row = self._conn.execute(
                f"SELECT * FROM alignments WHERE {clause}", (value,)
            ).fetchone()
        if row is None:
            return None
        homography = row["homography_json"]
        return AlignmentRecord(
            id=int(row["id"]),
            photo_id=int(row["photo_id"]),
            baseline_photo_id=int(row["baseline_photo_id"]),
            created_at=_dt_required(row["created_at"]),
            alignment=Alignment(
                ok=bool(row["ok"]),
                method=row["method"],
                homography=None
                if homography is None
                else np.asarray(json.loads(homography), dtype=np.float64),
                inliers=int(row["inliers"]),
                inlier_ratio=float(row["inlier_ratio"]),
                rmse_px=row["rmse_px"],
                ecc=row["ecc"],
                reason=row["reason"],
                warnings=tuple(json.loads(row["warnings_json"])),
                residuals_px=tuple(float(v) for v in json.loads(row["residuals_json"])),
            ),
        )

    # ------------------------------------------------------------- corrections

    def add_correction(self, photo_id: int, kind: str, payload_json: str) -> CorrectionRecord:
        """Record a clinician's correction of a photo; it outlives every re-analysis.

        Parameters
        ----------
        photo_id : int
        kind : str
            One of :data:`~scarview.store.models.CORRECTION_KINDS`, e.g.
            ``"remove_scar"`` (payload ``{"centroid_xy": [x, y]}``), ``"add_scar"``
            (``{"contour": [[x, y], ...], "type": "boxcar"}``), ``"roi"``,
            ``"calibration"`` (``{"px_per_mm": 31.2}``), ``"alignment_points"``.
        payload_json : str
            The correction's data as JSON text (coordinates in photo pixels).
        """
        if kind not in CORRECTION_KINDS:
            raise LibraryError(
                f"{kind!r} is not a kind of correction; use one of {', '.join(CORRECTION_KINDS)}."
            )
        try:
            json.loads(payload_json)
        except (TypeError, ValueError) as exc:
            raise LibraryError(f"The {kind} correction's data is not valid JSON.") from exc
        with self._write() as conn:
            self._live_photo_row(conn, photo_id)
            cursor = conn.execute(
                "INSERT INTO corrections (photo_id, kind, payload_json, created_at)"
                " VALUES (?, ?, ?, ?)",
                (photo_id, kind, payload_json, _now()),
            )
            correction_id = cursor.lastrowid
        assert correction_id is not None
        return self._correction(int(correction_id))

    def corrections_of(
        self, photo_id: int, *, include_deleted: bool = False
    ) -> tuple[CorrectionRecord, ...]:
        """Return a photo's corrections in the order they were made."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM corrections WHERE photo_id = ?"
                + ("" if include_deleted else " AND deleted_at IS NULL")
                + " ORDER BY id",
                (photo_id,),
            ).fetchall()
        return tuple(self._correction_from_row(r) for r in rows)

    def delete_correction(self, correction_id: int) -> CorrectionRecord:
        """Undo a correction (it is kept, marked deleted, and can be restored)."""
        return self._mark_correction(correction_id, _now())

    def restore_correction(self, correction_id: int) -> CorrectionRecord:
        """Redo a correction undone by :meth:`delete_correction`."""
        return self._mark_correction(correction_id, None)

    def _mark_correction(self, correction_id: int, deleted_at: str | None) -> CorrectionRecord:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE corrections SET deleted_at = ? WHERE id = ?", (deleted_at, correction_id)
            )
            if cursor.rowcount != 1:
                raise LibraryError(f"There is no correction {correction_id} in the library.")
        return self._correction(correction_id)

    def _correction(self, correction_id: int) -> CorrectionRecord:
        with self._lock:
            row = self._conn.execute(
                "SELECT * FROM corrections WHERE id = ?", (correction_id,)
            ).fetchone()
        if row is None:
            raise LibraryError(f"There is no correction {correction_id} in the library.")
        return self._correction_from_row(row)

    @staticmethod
    def _correction_from_row(row: sqlite3.Row) -> CorrectionRecord:
        return CorrectionRecord(
            id=int(row["id"]),
            photo_id=int(row["photo_id"]),
            kind=row["kind"],
            payload_json=row["payload_json"],
            created_at=_dt_required(row["created_at"]),
            deleted_at=_dt(row["deleted_at"]),
        )

    # ------------------------------------------------------------------- trash

    def trash_patient(self, patient_id: int) -> TrashRecord:
        """Move a patient, with its sessions and photos, to the trash (restorable)."""
        return self._trash("patient", patient_id)

    def trash_session(self, session_id: int) -> TrashRecord:
        """Move a session, with its photos, to the trash (restorable)."""
        return self._trash("session", session_id)

    def trash_photo(self, photo_id: int) -> TrashRecord:
        """Move a photo, with its analyses, to the trash (restorable)."""
        return self._trash("photo", photo_id)

    def list_trash(self, *, include_restored: bool = False) -> tuple[TrashRecord, ...]:
        """Return what is in the trash, most recent first."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT * FROM trash"
                + ("" if include_restored else " WHERE restored_at IS NULL")
                + " ORDER BY id DESC"
            ).fetchall()
        return tuple(self._trash_record(r) for r in rows)

    def _trash_record(self, row: sqlite3.Row) -> TrashRecord:
        kind: TrashKind = row["kind"]
        return TrashRecord(
            id=int(row["id"]),
            kind=kind,
            item_id=int(row["item_id"]),
            description=row["description"],
            folder=self._root / row["folder"],
            trashed_at=_dt_required(row["trashed_at"]),
            restored_at=_dt(row["restored_at"]),
        )

    @staticmethod
    def _scope(kind: TrashKind, item_id: int, trash_id: int | None) -> tuple[str, str, str]:
        """SQL conditions selecting the patients, sessions and photos of one trash item."""
        state = "IS NULL" if trash_id is None else f"= {int(trash_id)}"
        item = int(item_id)
        if kind == "patient":
            return (
                f"id = {item} AND trash_id {state}",
                f"patient_id = {item} AND trash_id {state}",
                f"session_id IN (SELECT id FROM sessions WHERE patient_id = {item})"
                f" AND trash_id {state}",
            )
        if kind == "session":
            return (
                "0",
                f"id = {item} AND trash_id {state}",
                f"session_id = {item} AND trash_id {state}",
            )
        return ("0", "0", f"id = {item} AND trash_id {state}")

    @staticmethod
    def _files_of_photos(conn: sqlite3.Connection, photo_where: str) -> list[str]:
        rows = conn.execute(
            f"SELECT stored_name, truth_mask_file, id FROM photos WHERE {photo_where}"
        ).fetchall()
        relative: list[str] = []
        for row in rows:
            relative.append(row["stored_name"])
            if row["truth_mask_file"]:
                relative.append(row["truth_mask_file"])
            relative.extend(
                r["mask_file"]
                for r in conn.execute(
                    "SELECT mask_file FROM analyses WHERE photo_id = ?", (row["id"],)
                )
            )
        return relative

    def _describe(self, conn: sqlite3.Connection, kind: TrashKind, item_id: int) -> str:
        if kind == "patient":
            row = conn.execute(
                "SELECT code, name FROM patients WHERE id = ? AND trash_id IS NULL", (item_id,)
            ).fetchone()
            if row is None:
                raise LibraryError(f"There is no patient {item_id} in the library.")
            name = f" ({row['name']})" if row["name"] else ""
            return f"Patient {row['code']}{name}"
        if kind == "session":
            row = conn.execute(
                "SELECT s.label, p.code FROM sessions s JOIN patients p ON p.id = s.patient_id"
                " WHERE s.id = ? AND s.trash_id IS NULL",
                (item_id,),
            ).fetchone()
            if row is None:
                raise LibraryError(f"There is no session {item_id} in the library.")
            return f"Session {row['label']} of patient {row['code']}"
        row = conn.execute(
            "SELECT ph.original_name, s.label, p.code FROM photos ph"
            " JOIN sessions s ON s.id = ph.session_id JOIN patients p ON p.id = s.patient_id"
            " WHERE ph.id = ? AND ph.trash_id IS NULL",
            (item_id,),
        ).fetchone()
        if row is None:
            raise LibraryError(f"There is no photo {item_id} in the library.")
        return f"Photo {row['original_name']} of session {row['label']}, patient {row['code']}"

    def _trash(self, kind: TrashKind, item_id: int) -> TrashRecord:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
        folder = f"{files.TRASH}/{stamp}-{kind}-{item_id}-{uuid.uuid4().hex[:6]}"
        trash_dir = self._root / folder
        moved: list[str] = []
        with self._write() as conn:
            description = self._describe(conn, kind, item_id)
            patients_where, sessions_where, photos_where = self._scope(kind, item_id, None)
            moved = [
                rel
                for rel in self._files_of_photos(conn, photos_where)
                if (self._root / rel).is_file()
            ]
            files.make_dir(trash_dir)
            for rel in moved:
                files.link_or_copy(self._root / rel, trash_dir / rel)
            manifest = {
                "kind": kind,
                "item_id": item_id,
                "description": description,
                "trashed_at": _now(),
                "files": moved,
            }
            files.store_bytes(
                json.dumps(manifest, indent=2, ensure_ascii=False).encode("utf-8"),
                self._root,
                f"{folder}/manifest.json",
                read_only=False,
            )
            cursor = conn.execute(
                "INSERT INTO trash (kind, item_id, folder, description, trashed_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (kind, item_id, folder, description, manifest["trashed_at"]),
            )
            trash_id = int(cursor.lastrowid or 0)
            # Photos first: their scope refers to sessions still live.
            conn.execute(f"UPDATE photos SET trash_id = ? WHERE {photos_where}", (trash_id,))
            conn.execute(f"UPDATE sessions SET trash_id = ? WHERE {sessions_where}", (trash_id,))
            conn.execute(f"UPDATE patients SET trash_id = ? WHERE {patients_where}", (trash_id,))
            row = conn.execute("SELECT * FROM trash WHERE id = ?", (trash_id,)).fetchone()
        for rel in moved:
            files.remove_file(self._root / rel)
            files.prune_empty_dirs((self._root / rel).parent, self._root / rel.split("/")[0])
        return self._trash_record(row)

    def restore(self, trash_id: int) -> TrashRecord:
        """Bring back what one trash item holds: rows and files, as they were.

        Raises
        ------
        LibraryError
            If the item was already restored, its parent is itself in the
            trash, or a patient, session or photo added since takes its place.
        """
        with self._write() as conn:
            row = conn.execute("SELECT * FROM trash WHERE id = ?", (trash_id,)).fetchone()
            if row is None:
                raise LibraryError(f"There is no item {trash_id} in the trash.")
            if row["restored_at"] is not None:
                raise LibraryError(f"{row['description']} was already restored.")
            kind: TrashKind = row["kind"]
            item_id = int(row["item_id"])
            self._check_restorable(conn, kind, item_id, trash_id, row["description"])
            patients_where, sessions_where, photos_where = self._scope(kind, item_id, trash_id)
            trash_dir = self._root / row["folder"]
            relative = self._files_of_photos(conn, photos_where)
            for rel in relative:
                if (trash_dir / rel).is_file():
                    files.link_or_copy(trash_dir / rel, self._root / rel)
                elif not (self._root / rel).is_file():
                    raise LibraryError(
                        f"Cannot restore {row['description']}: its file {rel} is missing."
                    )
            conn.execute(f"UPDATE patients SET trash_id = NULL WHERE {patients_where}")
            conn.execute(f"UPDATE sessions SET trash_id = NULL WHERE {sessions_where}")
            conn.execute(f"UPDATE photos SET trash_id = NULL WHERE {photos_where}")
            conn.execute("UPDATE trash SET restored_at = ? WHERE id = ?", (_now(), trash_id))
            restored = conn.execute("SELECT * FROM trash WHERE id = ?", (trash_id,)).fetchone()
        for rel in relative:
            files.remove_file(trash_dir / rel)
        files.remove_file(trash_dir / "manifest.json")
        for folder in sorted({(trash_dir / rel).parent for rel in relative}, reverse=True):
            files.prune_empty_dirs(folder, trash_dir)
        files.prune_empty_dirs(trash_dir, self._root / files.TRASH)
        return self._trash_record(restored)

    @staticmethod
    def _check_restorable(
        conn: sqlite3.Connection, kind: TrashKind, item_id: int, trash_id: int, description: str
    ) -> None:
        def refuse(reason: str) -> LibraryError:
            return LibraryError(f"Cannot restore {description}: {reason}.")

        if kind == "patient":
            code = conn.execute("SELECT code FROM patients WHERE id = ?", (item_id,)).fetchone()[0]
            if conn.execute(
                "SELECT 1 FROM patients WHERE code = ? AND trash_id IS NULL", (code,)
            ).fetchone():
                raise refuse(f"another patient now has the code {code!r}; change that code first")
        if kind == "session":
            row = conn.execute(
                "SELECT s.label, s.patient_id, p.trash_id AS patient_trash FROM sessions s"
                " JOIN patients p ON p.id = s.patient_id WHERE s.id = ?",
                (item_id,),
            ).fetchone()
            if row["patient_trash"] is not None:
                raise refuse("its patient is in the trash; restore the patient first")
            if conn.execute(
                "SELECT 1 FROM sessions WHERE patient_id = ? AND label = ? AND trash_id IS NULL",
                (row["patient_id"], row["label"]),
            ).fetchone():
                raise refuse(
                    f"the patient has a new session named {row['label']!r}; rename it first"
                )
        if kind == "photo":
            row = conn.execute(
                "SELECT s.trash_id FROM photos ph JOIN sessions s ON s.id = ph.session_id"
                " WHERE ph.id = ?",
                (item_id,),
            ).fetchone()
            if row[0] is not None:
                raise refuse("its session is in the trash; restore the session first")
        clash = conn.execute(
            "SELECT t.original_name FROM photos t JOIN photos live ON live.sha256 = t.sha256"
            " WHERE t.trash_id = ? AND live.trash_id IS NULL LIMIT 1",
            (trash_id,),
        ).fetchone()
        if clash is not None:
            raise refuse(f"the photo {clash[0]!r} was imported again since")

    # ------------------------------------------------------------------ export

    def measurement_rows(self, patient_id: int) -> list[dict[str, str]]:
        """Return one row of :data:`~scarview.core.records.MEASUREMENT_COLUMNS` per photo.

        Each row uses the photo's latest analysis and latest alignment; the
        change from baseline is given only when that alignment is trustworthy
        (``ok``) and both photos have an area in mm². The session's current
        treatment record and clinical grades (:mod:`scarview.store.clinical`)
        fill the clinical columns of every photo of the session.
        """
        # Imported here: the clinical module builds on this one.
        from scarview.store.clinical import grades_of, treatment_of

        patient = self.get_patient(patient_id)
        rows: list[dict[str, str]] = []
        for session in self.sessions_of(patient_id):
            treatment = treatment_of(self, session.id)
            grades = grades_of(self, session.id)
            for photo in self.photos_of(session.id):
                analysis = self.latest_analysis(photo.id)
                aligned = self.alignment_for(photo.id)
                change_mm2 = change_pct = None
                if aligned is not None and aligned.alignment.ok and analysis is not None:
                    baseline = self.latest_analysis(aligned.baseline_photo_id)
                    after = analysis.summary.area_mm2
                    before = None if baseline is None else baseline.summary.area_mm2
                    if after is not None and before is not None:
                        change_mm2 = after - before
                        change_pct = 100.0 * change_mm2 / before if before > 0 else None
                rows.append(
                    measurement_row(
                        patient=patient.code,
                        session=session.label,
                        date=session.session_date,
                        view=photo.view,
                        file=photo.original_name,
                        sha256=photo.sha256,
                        calibration=None if analysis is None else analysis.calibration,
                        summary=None if analysis is None else analysis.summary,
                        alignment=None if aligned is None else aligned.alignment,
                        change_area_mm2=change_mm2,
                        change_area_pct=change_pct,
                        algorithm_version="" if analysis is None else analysis.algorithm_version,
                        treatment=treatment,
                        grades=grades,
                    )
                )
        return rows

    def export_csv(self, patient: PatientRecord | int | str, path: str | os.PathLike[str]) -> int:
        """Write a patient's measurements as CSV (UTF-8, one row per photo).

        Parameters
        ----------
        patient : PatientRecord or int or str
            A record, an id, or what a user typed (id, code or name).
        path : str or PathLike
            The CSV file to write (replaced atomically if it exists).

        Returns
        -------
        int
            Number of rows written.
        """
        if isinstance(patient, PatientRecord):
            record = patient
        elif isinstance(patient, int):
            record = self.get_patient(patient)
        else:
            record = self.find_patient(patient)
        rows = self.measurement_rows(record.id)
        buffer = _stdio.StringIO(newline="")
        writer = csv.DictWriter(buffer, fieldnames=list(MEASUREMENT_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        target = Path(path)
        if target.is_dir():
            raise InputError(target, "it is a folder; name a .csv file")
        if not target.parent.is_dir():
            raise InputError(target, "its folder does not exist")
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.part")
        try:
            tmp.write_text(buffer.getvalue(), encoding="utf-8", newline="")
            tmp.replace(target)
        except OSError as exc:
            raise InputError(target, exc.strerror or str(exc)) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return len(rows)

    # ---------------------------------------------------------------- summary

    def has_patients(self, *, include_trashed: bool = True) -> bool:
        """Return True once any patient was ever added (trashed ones count by default)."""
        with self._lock:
            row = self._conn.execute(
                "SELECT 1 FROM patients"
                + ("" if include_trashed else " WHERE trash_id IS NULL")
                + " LIMIT 1"
            ).fetchone()
        return row is not None

    # ----------------------------------------------- transactions for extensions

    @contextmanager
    def write_transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction for a module that extends the library.

        Used by :mod:`scarview.store.clinical` (and any later record kind) so
        its rows are written with the same guarantees as the library's own:
        ``BEGIN IMMEDIATE``, everything commits or nothing does, and calls are
        serialised with the library's other work.

        Yields
        ------
        sqlite3.Connection
            Rows come back as :class:`sqlite3.Row`; do not commit or roll back.
        """
        with self._write() as conn:
            yield conn

    @contextmanager
    def read_transaction(self) -> Iterator[sqlite3.Connection]:
        """One consistent read snapshot for a module that extends the library.

        Yields
        ------
        sqlite3.Connection
            Rows come back as :class:`sqlite3.Row`; only read through it.
        """
        with self._read() as conn:
            yield conn


def ensure_sample_patient(library: Library, sample_dir: str | os.PathLike[str]) -> bool:
    """Import the sample patient into a library that never had a patient.

    Idempotent: does nothing once the library has (or had, now in the trash)
    any patient, or when ``sample_dir`` is missing.

    Parameters
    ----------
    library : Library
    sample_dir : str or PathLike
        ``sample_images/`` laid out as ``<patient>/<YYYY-MM-DD>/<view>.jpg``.

    Returns
    -------
    bool
        True when photos were imported.
    """
    folder = Path(sample_dir)
    if library.has_patients() or not folder.is_dir():
        return False
    return library.import_folder(folder).imported > 0


__all__ = [
    "BUSY_TIMEOUT_S",
    "DB_NAME",
    "UNSET",
    "Library",
    "LibraryError",
    "ensure_sample_patient",
    "fold",
]
