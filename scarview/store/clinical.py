"""The clinical record of each session in the patient library: treatment and grades.

Rows live in the ``session_treatments`` and ``session_grades`` tables (schema 3,
``resources/sql/0003_clinical_record.sql``). Saving adds a row; the newest row
is the session's current record and the earlier ones stay as its history, the
way re-analysis keeps earlier analyses. Every write is one library transaction
(:meth:`Library.write_transaction`).

The records themselves are :class:`~scarview.core.grading.TreatmentRecord` and
:class:`~scarview.core.grading.SessionGrades`, validated when built; the scores
are computed by :mod:`scarview.core.grading` and stored beside the inputs with
the tables' version, so a number a clinician saw stays traceable.

Data for the trend chart (:func:`grade_trend`), the PDF report
(:func:`clinical_log`) and ``scarview export`` (through
:meth:`Library.measurement_rows`) come from here.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime

from scarview.core.grading import (
    SCALES_VERSION,
    EccaInput,
    GoodmanBaronInput,
    GradeSuggestion,
    PatientReportedOutcome,
    SessionGrades,
    TreatmentRecord,
    score_scale,
    suggest_from_measurement,
)
from scarview.store.library import Library, LibraryError


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _check_live_session(conn: sqlite3.Connection, session_id: int) -> None:
    row = conn.execute(
        "SELECT 1 FROM sessions WHERE id = ? AND trash_id IS NULL", (int(session_id),)
    ).fetchone()
    if row is None:
        raise LibraryError(f"There is no session {session_id} in the library.")


# ---------------------------------------------------------------------- treatment


@dataclass(frozen=True)
class SavedTreatment:
    """One saved version of a session's treatment record.

    Attributes
    ----------
    id, session_id : int
    saved_at : datetime
        When it was saved (UTC).
    record : TreatmentRecord
    """

    id: int
    session_id: int
    saved_at: datetime
    record: TreatmentRecord


def save_treatment(library: Library, session_id: int, record: TreatmentRecord) -> SavedTreatment:
    """Save a session's treatment record (earlier versions are kept).

    Parameters
    ----------
    library : Library
    session_id : int
        A session not in the trash.
    record : TreatmentRecord
        Already validated by its constructor.

    Returns
    -------
    SavedTreatment

    Raises
    ------
    LibraryError
        If there is no such session (or it is in the trash).
    """
    saved_at = _now()
    with library.write_transaction() as conn:
        _check_live_session(conn, session_id)
        cursor = conn.execute(
            "INSERT INTO session_treatments (session_id, procedures_json, other_procedure,"
            " device, needle_depth_mm, passes, anaesthesia, clinician, immediate_reactions,"
            " erythema_days, pih, infection, tram_track, other_adverse_events, notes, saved_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                int(session_id),
                json.dumps(list(record.procedures)),
                record.other_procedure,
                record.device,
                record.needle_depth_mm,
                record.passes,
                record.anaesthesia,
                record.clinician,
                record.immediate_reactions,
                record.erythema_days,
                int(record.pih),
                int(record.infection),
                int(record.tram_track),
                record.other_adverse_events,
                record.notes,
                saved_at,
            ),
        )
        row_id = cursor.lastrowid
    assert row_id is not None
    return SavedTreatment(int(row_id), int(session_id), datetime.fromisoformat(saved_at), record)


def _treatment(row: sqlite3.Row) -> SavedTreatment:
    record = TreatmentRecord(
        procedures=tuple(json.loads(row["procedures_json"])),
        other_procedure=row["other_procedure"],
        device=row["device"],
        needle_depth_mm=row["needle_depth_mm"],
        passes=row["passes"],
        anaesthesia=row["anaesthesia"],
        clinician=row["clinician"],
        immediate_reactions=row["immediate_reactions"],
        erythema_days=row["erythema_days"],
        pih=bool(row["pih"]),
        infection=bool(row["infection"]),
        tram_track=bool(row["tram_track"]),
        other_adverse_events=row["other_adverse_events"],
        notes=row["notes"],
    )
    return SavedTreatment(
        id=int(row["id"]),
        session_id=int(row["session_id"]),
        saved_at=datetime.fromisoformat(row["saved_at"]),
        record=record,
    )


def treatment_history(library: Library, session_id: int) -> tuple[SavedTreatment, ...]:
    """Return every saved version of a session's treatment record, oldest first."""
    with library.read_transaction() as conn:
        rows = conn.execute(
            "SELECT * FROM session_treatments WHERE session_id = ? ORDER BY id", (int(session_id),)
        ).fetchall()
    return tuple(_treatment(r) for r in rows)


def saved_treatment_of(library: Library, session_id: int) -> SavedTreatment | None:
    """Return the session's current treatment record with when it was saved, or ``None``."""
    with library.read_transaction() as conn:
        row = conn.execute(
            "SELECT * FROM session_treatments WHERE session_id = ? ORDER BY id DESC LIMIT 1",
            (int(session_id),),
        ).fetchone()
    return None if row is None else _treatment(row)


def treatment_of(library: Library, session_id: int) -> TreatmentRecord | None:
    """Return the session's current treatment record, or ``None`` if none was saved."""
    saved = saved_treatment_of(library, session_id)
    return None if saved is None else saved.record


# ------------------------------------------------------------------------- grades


@dataclass(frozen=True)
class SavedGrades:
    """One saved version of a session's clinical grades.

    Attributes
    ----------
    id, session_id : int
    saved_at : datetime
        When they were saved (UTC).
    grades : SessionGrades
    gb_quantitative_score, ecca_score : int or None
        The scores as computed when saved.
    scales_version : str
        :data:`scarview.core.grading.SCALES_VERSION` of the tables used.
    """

    id: int
    session_id: int
    saved_at: datetime
    grades: SessionGrades
    gb_quantitative_score: int | None
    ecca_score: int | None
    scales_version: str


def save_grades(library: Library, session_id: int, grades: SessionGrades) -> SavedGrades:
    """Save a session's clinical grades (earlier versions are kept).

    Saving :class:`SessionGrades` with nothing in it clears the session's grades
    (the earlier versions stay in :func:`grades_history`).

    Parameters
    ----------
    library : Library
    session_id : int
        A session not in the trash.
    grades : SessionGrades
        Already validated by its constructor; the scores are computed here.

    Returns
    -------
    SavedGrades

    Raises
    ------
    LibraryError
        If there is no such session (or it is in the trash).
    """
    gb = grades.gb_quantitative_result
    scored = grades.ecca_result
    pro = grades.pro
    saved_at = _now()
    with library.write_transaction() as conn:
        _check_live_session(conn, session_id)
        cursor = conn.execute(
            "INSERT INTO session_grades (session_id, gb_qualitative, gb_quantitative_json,"
            " gb_quantitative_score, gb_quantitative_suggested, ecca_json, ecca_score,"
            " ecca_suggested, pro_instrument, pro_score, pro_score_min, pro_score_max,"
            " scales_version, saved_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                int(session_id),
                grades.gb_qualitative,
                None
                if grades.gb_quantitative is None
                else json.dumps(grades.gb_quantitative.to_dict()),
                None if gb is None else gb.total,
                json.dumps(sorted(grades.gb_quantitative_suggested)),
                None if grades.ecca is None else json.dumps(grades.ecca.to_dict()),
                None if scored is None else scored.total,
                json.dumps(sorted(grades.ecca_suggested)),
                None if pro is None else pro.instrument,
                None if pro is None else pro.total_score,
                None if pro is None else pro.score_min,
                None if pro is None else pro.score_max,
                SCALES_VERSION,
                saved_at,
            ),
        )
        row_id = cursor.lastrowid
    assert row_id is not None
    return SavedGrades(
        id=int(row_id),
        session_id=int(session_id),
        saved_at=datetime.fromisoformat(saved_at),
        grades=grades,
        gb_quantitative_score=None if gb is None else gb.total,
        ecca_score=None if scored is None else scored.total,
        scales_version=SCALES_VERSION,
    )


def _grades(row: sqlite3.Row) -> SavedGrades:
    gb_json = row["gb_quantitative_json"]
    ecca_json = row["ecca_json"]
    pro = (
        None
        if row["pro_instrument"] is None
        else PatientReportedOutcome(
            row["pro_instrument"], row["pro_score"], row["pro_score_min"], row["pro_score_max"]
        )
    )
    grades = SessionGrades(
        gb_qualitative=row["gb_qualitative"],
        gb_quantitative=None
        if gb_json is None
        else GoodmanBaronInput.from_dict(json.loads(gb_json)),
        ecca=None if ecca_json is None else EccaInput.from_dict(json.loads(ecca_json)),
        pro=pro,
        gb_quantitative_suggested=frozenset(json.loads(row["gb_quantitative_suggested"])),
        ecca_suggested=frozenset(json.loads(row["ecca_suggested"])),
    )
    return SavedGrades(
        id=int(row["id"]),
        session_id=int(row["session_id"]),
        saved_at=datetime.fromisoformat(row["saved_at"]),
        grades=grades,
        gb_quantitative_score=row["gb_quantitative_score"],
        ecca_score=row["ecca_score"],
        scales_version=row["scales_version"],
    )


def grades_history(library: Library, session_id: int) -> tuple[SavedGrades, ...]:
    """Return every saved version of a session's grades, oldest first."""
    with library.read_transaction() as conn:
        rows = conn.execute(
            "SELECT * FROM session_grades WHERE session_id = ? ORDER BY id", (int(session_id),)
        ).fetchall()
    return tuple(_grades(r) for r in rows)


def saved_grades_of(library: Library, session_id: int) -> SavedGrades | None:
    """Return the session's current grades with their stored scores, or ``None``."""
    with library.read_transaction() as conn:
        row = conn.execute(
            "SELECT * FROM session_grades WHERE session_id = ? ORDER BY id DESC LIMIT 1",
            (int(session_id),),
        ).fetchone()
    return None if row is None else _grades(row)


def grades_of(library: Library, session_id: int) -> SessionGrades | None:
    """Return the session's current grades, or ``None`` if none were ever saved."""
    saved = saved_grades_of(library, session_id)
    return None if saved is None else saved.grades


# --------------------------------------------------------------------- suggestion


def suggestion_for_session(library: Library, session_id: int) -> GradeSuggestion | None:
    """Suggest calculator inputs from the session's measured photos.

    The session's views overlap, so their counts are not added: the suggestion
    comes from the one photo whose latest analysis found the most scars (ties:
    the library's view order). See
    :func:`~scarview.core.grading.suggest_from_measurement` for the mapping and
    what it cannot know.

    Returns
    -------
    GradeSuggestion or None
        ``None`` when no photo of the session has been analysed.
    """
    best = None
    for photo in library.photos_of(session_id):
        analysis = library.latest_analysis(photo.id)
        if analysis is not None and (best is None or analysis.summary.count > best.summary.count):
            best = analysis
    if best is None:
        return None
    return suggest_from_measurement(best.summary, scars=best.scars)


# --------------------------------------------------------------- trend and report


@dataclass(frozen=True)
class GradeTrendPoint:
    """One session's clinical scores and measured area, for a trend chart.

    Attributes
    ----------
    session_id : int
    session_date : date or None
    label : str
    gb_qualitative : int or None
    gb_quantitative : int or None
        Goodman and Baron quantitative score, 0 to 84.
    gb_quantitative_suggested : bool
        True while it rests on values suggested from the measurement.
    ecca : int or None
        ECCA score, 0 to 540.
    ecca_suggested : bool
    pro_instrument : str or None
    pro_score : float or None
    area_mm2 : float or None
        Total pitted-scar area measured in the session's photo of ``area_view``
        (latest analysis), in mm².
    area_view : str or None
        The view the area comes from (``None`` when unknown or not measured).
    """

    session_id: int
    session_date: date | None
    label: str
    gb_qualitative: int | None = None
    gb_quantitative: int | None = None
    gb_quantitative_suggested: bool = False
    ecca: int | None = None
    ecca_suggested: bool = False
    pro_instrument: str | None = None
    pro_score: float | None = None
    area_mm2: float | None = None
    area_view: str | None = None

    def value(self, key: str) -> float | None:
        """Return the score named ``key`` (see :data:`~scarview.core.grading.CLINICAL_SCORES`)."""
        score_scale(key)
        value: float | None = getattr(self, "pro_score" if key == "pro" else key)
        return value

    def is_suggested(self, key: str) -> bool:
        """True when the score named ``key`` rests on suggested values."""
        score_scale(key)
        return {"gb_quantitative": self.gb_quantitative_suggested, "ecca": self.ecca_suggested}.get(
            key, False
        )


def _session_area(
    library: Library, session_id: int, view: str | None
) -> tuple[float | None, str | None]:
    for photo in library.photos_of(session_id):
        if view is not None and photo.view != view:
            continue
        analysis = library.latest_analysis(photo.id)
        if analysis is not None and analysis.summary.area_mm2 is not None:
            return float(analysis.summary.area_mm2), photo.view
    return None, None


def grade_trend(
    library: Library, patient_id: int, *, view: str | None = None
) -> tuple[GradeTrendPoint, ...]:
    """Return each session's clinical scores and measured area, earliest session first.

    Parameters
    ----------
    library : Library
    patient_id : int
    view : str, optional
        The view whose measured area is given (``"frontal"``...); by default
        the first measured photo of each session in the library's view order.

    Returns
    -------
    tuple of GradeTrendPoint
        One per session not in the trash, in :meth:`Library.sessions_of` order;
        scores not graded are ``None``.
    """
    points: list[GradeTrendPoint] = []
    for session in library.sessions_of(patient_id):
        saved = saved_grades_of(library, session.id)
        area_mm2, area_view = _session_area(library, session.id, view)
        if saved is None:
            points.append(
                GradeTrendPoint(
                    session.id,
                    session.session_date,
                    session.label,
                    area_mm2=area_mm2,
                    area_view=area_view,
                )
            )
            continue
        grades = saved.grades
        points.append(
            GradeTrendPoint(
                session_id=session.id,
                session_date=session.session_date,
                label=session.label,
                gb_qualitative=grades.gb_qualitative,
                gb_quantitative=saved.gb_quantitative_score,
                gb_quantitative_suggested=bool(grades.gb_quantitative_suggested),
                ecca=saved.ecca_score,
                ecca_suggested=bool(grades.ecca_suggested),
                pro_instrument=None if grades.pro is None else grades.pro.instrument,
                pro_score=None if grades.pro is None else grades.pro.total_score,
                area_mm2=area_mm2,
                area_view=area_view,
            )
        )
    return tuple(points)


@dataclass(frozen=True)
class SessionClinicalRecord:
    """Everything the clinic recorded at one session, for the report's treatment log.

    Attributes
    ----------
    session_id : int
    session_date : date or None
    label : str
    treatment : TreatmentRecord or None
        ``None`` when no treatment was recorded.
    grades : SessionGrades or None
        ``None`` when no grade was recorded; computed scores are
        ``grades.gb_quantitative_result`` and ``grades.ecca_result``.
    treatment_saved_at, grades_saved_at : datetime or None
    """

    session_id: int
    session_date: date | None
    label: str
    treatment: TreatmentRecord | None
    grades: SessionGrades | None
    treatment_saved_at: datetime | None = None
    grades_saved_at: datetime | None = None


def clinical_log(library: Library, patient_id: int) -> tuple[SessionClinicalRecord, ...]:
    """Return every session's current treatment record and grades, earliest session first.

    Sessions with neither are included (both ``None``) so the log lines up
    with the measurements; drop them with ``[r for r in log if r.treatment or r.grades]``.
    """
    log: list[SessionClinicalRecord] = []
    for session in library.sessions_of(patient_id):
        treatment = saved_treatment_of(library, session.id)
        grades = saved_grades_of(library, session.id)
        log.append(
            SessionClinicalRecord(
                session_id=session.id,
                session_date=session.session_date,
                label=session.label,
                treatment=None if treatment is None else treatment.record,
                grades=None if grades is None else grades.grades,
                treatment_saved_at=None if treatment is None else treatment.saved_at,
                grades_saved_at=None if grades is None else grades.saved_at,
            )
        )
    return tuple(log)


__all__ = [
    "GradeTrendPoint",
    "SavedGrades",
    "SavedTreatment",
    "SessionClinicalRecord",
    "clinical_log",
    "grade_trend",
    "grades_history",
    "grades_of",
    "save_grades",
    "save_treatment",
    "saved_grades_of",
    "saved_treatment_of",
    "suggestion_for_session",
    "treatment_history",
    "treatment_of",
]
