"""The clinical record in the library: migration 3, treatment and grades, trend, export."""

from __future__ import annotations

import csv
import hashlib
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from scarview.core.grading import (
    SCALES_VERSION,
    EccaInput,
    GoodmanBaronInput,
    PatientReportedOutcome,
    SessionGrades,
    TreatmentRecord,
)
from scarview.core.records import CLINICAL_COLUMNS, MEASUREMENT_COLUMNS, measurement_row
from scarview.core.types import Alignment, Calibration
from scarview.store import Library, LibraryError, schema
from scarview.store.clinical import (
    clinical_log,
    grade_trend,
    grades_history,
    grades_of,
    save_grades,
    save_treatment,
    saved_grades_of,
    suggestion_for_session,
    treatment_history,
    treatment_of,
)
from scarview.store.library import DB_NAME
from tests.store.helpers import make_clinic_folder, make_scarmap, write_mask

CLINICAL_TABLES = {"session_treatments", "session_grades"}

TREATMENT = TreatmentRecord(
    procedures=("microneedling", "prp"),
    device="Dermapen 4, 16-needle cartridge",
    needle_depth_mm=1.5,
    passes=4,
    anaesthesia="Topical lidocaine 5 %, 45 min",
    clinician="Dr Ngata",
    immediate_reactions="pinpoint bleeding, oedema",
    erythema_days=3,
    pih=True,
    notes="Tolerated well.",
)

GRADES = SessionGrades(
    gb_qualitative=3,
    gb_quantitative=GoodmanBaronInput(punched_out_deep_abnormal=25, punched_out_shallow=8),
    ecca=EccaInput(v_shaped=3, u_shaped=2),
    pro=PatientReportedOutcome("ACNE-Q Appearance of Scars", 42),
    gb_quantitative_suggested=frozenset({"punched_out_shallow"}),
)


@pytest.fixture
def library(tmp_path: Path) -> Iterator[Library]:
    lib = Library.open(tmp_path / "library")
    yield lib
    lib.close()


@pytest.fixture
def patient_sessions(library: Library, tmp_path: Path) -> tuple[int, list[int]]:
    library.import_folder(make_clinic_folder(tmp_path / "clinic", patients=1, sessions=3, views=2))
    patient = library.find_patient("P000")
    return patient.id, [s.id for s in library.sessions_of(patient.id)]


# ---------------------------------------------------------------------- migration


def _dump(db: Path) -> dict[str, object]:
    """Every table's rows (sorted) and schema SQL, read with a plain connection."""
    conn = sqlite3.connect(db)
    try:
        master = sorted(
            conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
        )
        tables = [name for kind, name, _ in master if kind == "table"]
        return {
            "schema": master,
            "rows": {t: sorted(conn.execute(f"SELECT * FROM {t}"), key=repr) for t in tables},
        }
    finally:
        conn.close()


def _populated_schema_2_library(root: Path, source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A library written by a ScarView that knew schema 2: photos, analyses, trash..."""
    two = schema.migrations()[:2]
    with monkeypatch.context() as patch:
        patch.setattr(schema, "migrations", lambda: two)
        with Library.open(root) as library:
            assert library.schema_version == 2
            make_clinic_folder(source, patients=2, sessions=2, views=2)
            write_mask(source / "P000" / "2026-01-05" / "frontal.mask.png")
            library.import_folder(source)
            patient = library.find_patient("P000")
            library.update_patient(patient.id, name="Zoë Ångström", fitzpatrick=4, notes="note")
            first, second = library.sessions_of(patient.id)
            library.update_session(first.id, notes="baseline visit")
            base, later = library.photos_of(first.id)[0], library.photos_of(second.id)[0]
            for photo, seed in ((base, 1), (later, 2)):
                library.save_analysis(
                    photo.id,
                    make_scarmap(photo.height, photo.width, seed),
                    Calibration(10.0, "marker", 0.5, marker_mm=10.0),
                    {"mode": "auto"},
                    "v0.9",
                )
            library.save_alignment(later.id, base.id, Alignment(True, "sift", np.eye(3), 40))
            library.add_correction(later.id, "remove_scar", '{"centroid_xy": [5, 5]}')
            library.trash_photo(library.photos_of(second.id)[1].id)
            other = library.find_patient("P001")
            library.trash_session(library.sessions_of(other.id)[0].id)


def test_migration_adds_the_clinical_tables_without_losing_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "lib"
    _populated_schema_2_library(root, tmp_path / "src", monkeypatch)
    before = _dump(root / DB_NAME)
    files_before = {
        p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and p.parts[len(root.parts)] in ("originals", "derived", "trash")
    }
    assert before["rows"]["photos"] and before["rows"]["analysis_scars"]  # type: ignore[index]
    assert not CLINICAL_TABLES & set(before["rows"])  # type: ignore[arg-type]

    with Library.open(root, create=False) as library:
        assert library.schema_version == schema.latest_version() >= 3
        assert library.integrity_problems() == []
        patient = library.find_patient("P000")
        assert patient.name == "Zoë Ångström"
        (session, _) = library.sessions_of(patient.id)
        assert treatment_of(library, session.id) is None
        assert grades_of(library, session.id) is None
        rows = library.measurement_rows(patient.id)
        assert rows and all(row[c] == "" for row in rows for c in CLINICAL_COLUMNS)

    after = _dump(root / DB_NAME)
    old_tables = set(before["rows"])  # type: ignore[arg-type]
    assert set(after["rows"]) == old_tables | CLINICAL_TABLES  # type: ignore[arg-type]
    for table in old_tables:
        assert after["rows"][table] == before["rows"][table], table  # type: ignore[index]
    old_schema = set(before["schema"])  # type: ignore[arg-type]
    assert old_schema <= set(after["schema"])  # type: ignore[arg-type]
    files_after = {
        p.relative_to(root): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file() and p.parts[len(root.parts)] in ("originals", "derived", "trash")
    }
    assert files_after == files_before
    (backup,) = (root / "backups").glob("library-v2-*.sqlite3")
    assert _dump(backup) == before


def test_migrated_library_takes_clinical_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "lib"
    _populated_schema_2_library(root, tmp_path / "src", monkeypatch)
    with Library.open(root) as library:
        patient = library.find_patient("P000")
        session = library.sessions_of(patient.id)[1]
        save_treatment(library, session.id, TREATMENT)
        save_grades(library, session.id, GRADES)
    with Library.open(root) as library:
        assert treatment_of(library, session.id) == TREATMENT
        assert grades_of(library, session.id) == GRADES


def test_database_refuses_out_of_range_values_itself(library: Library) -> None:
    patient = library.add_patient("P1")
    session = library.add_session(patient.id, date(2026, 1, 5))
    conn = sqlite3.connect(library.database_path)
    try:
        for column, value in (("needle_depth_mm", 3.5), ("passes", 0), ("pih", 2)):
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute(
                    f"INSERT INTO session_treatments (session_id, procedures_json, {column},"
                    " saved_at) VALUES (?, '[\"microneedling\"]', ?, 'now')",
                    (session.id, value),
                )
        for column, value in (("gb_qualitative", 5), ("ecca_score", 541)):
            with pytest.raises(sqlite3.IntegrityError):
                conn.execute(
                    f"INSERT INTO session_grades (session_id, {column}, scales_version, saved_at)"
                    " VALUES (?, ?, 'x', 'now')",
                    (session.id, value),
                )
    finally:
        conn.close()


# ---------------------------------------------------------------- save and read


def test_treatment_round_trip_and_history(
    library: Library, patient_sessions: tuple[int, list[int]]
) -> None:
    _, sessions = patient_sessions
    assert treatment_of(library, sessions[0]) is None
    first = save_treatment(library, sessions[0], TREATMENT)
    assert first.record == TREATMENT and first.session_id == sessions[0]
    edited = TreatmentRecord(procedures=("rf_microneedling",), needle_depth_mm=2.0, passes=2)
    save_treatment(library, sessions[0], edited)
    assert treatment_of(library, sessions[0]) == edited
    history = treatment_history(library, sessions[0])
    assert [h.record for h in history] == [TREATMENT, edited]
    assert history[0].id < history[1].id
    assert treatment_of(library, sessions[1]) is None


def test_grades_round_trip_store_scores_and_can_be_cleared(
    library: Library, patient_sessions: tuple[int, list[int]]
) -> None:
    _, sessions = patient_sessions
    saved = save_grades(library, sessions[0], GRADES)
    # 25 ice pick (C x3 = 9) + 8 shallow boxcar (B x1 = 2); ECCA 15x3 + 20x2.
    assert (saved.gb_quantitative_score, saved.ecca_score) == (11, 85)
    stored = saved_grades_of(library, sessions[0])
    assert stored is not None
    assert stored.grades == GRADES
    assert stored.grades.pro is not None and stored.grades.pro.score_max == 100.0
    assert (stored.gb_quantitative_score, stored.ecca_score) == (11, 85)
    assert stored.scales_version == SCALES_VERSION
    save_grades(library, sessions[0], SessionGrades())
    cleared = grades_of(library, sessions[0])
    assert cleared is not None and cleared.is_empty
    assert len(grades_history(library, sessions[0])) == 2


def test_unknown_or_trashed_session_is_refused_and_nothing_written(
    library: Library, patient_sessions: tuple[int, list[int]]
) -> None:
    _, sessions = patient_sessions
    with pytest.raises(LibraryError, match="no session 9999"):
        save_treatment(library, 9999, TREATMENT)
    library.trash_session(sessions[2])
    with pytest.raises(LibraryError, match=f"no session {sessions[2]}"):
        save_grades(library, sessions[2], GRADES)
    assert grades_history(library, sessions[2]) == ()
    assert treatment_history(library, 9999) == ()


# ------------------------------------------------------------------ trend, log


def test_grade_trend_follows_sessions_and_the_trash(
    library: Library, patient_sessions: tuple[int, list[int]]
) -> None:
    patient_id, sessions = patient_sessions
    photo = library.photos_of(sessions[0])[0]
    scarmap = make_scarmap(photo.height, photo.width, 3)
    library.save_analysis(photo.id, scarmap, Calibration(10.0, "marker"), {}, "v1")
    save_grades(library, sessions[0], GRADES)
    later = SessionGrades(gb_quantitative=GoodmanBaronInput(punched_out_deep_abnormal=12))
    save_grades(library, sessions[2], later)

    trend = grade_trend(library, patient_id)
    assert [p.session_id for p in trend] == sessions
    assert [p.value("gb_quantitative") for p in trend] == [11, None, 6]
    assert [p.value("ecca") for p in trend] == [85, None, None]
    assert [p.value("gb_qualitative") for p in trend] == [3, None, None]
    assert trend[0].value("pro") == 42.0 and trend[0].pro_instrument.startswith("ACNE-Q")
    assert trend[0].is_suggested("gb_quantitative") and not trend[2].is_suggested("gb_quantitative")
    assert trend[0].area_mm2 == pytest.approx(scarmap.summary.area_mm2)
    assert trend[0].area_view == photo.view and trend[1].area_mm2 is None
    assert grade_trend(library, patient_id, view="closeup")[0].area_mm2 is None

    trash = library.trash_session(sessions[2])
    assert [p.session_id for p in grade_trend(library, patient_id)] == sessions[:2]
    library.restore(trash.id)
    assert grade_trend(library, patient_id)[2].value("gb_quantitative") == 6


def test_clinical_log_for_the_report(
    library: Library, patient_sessions: tuple[int, list[int]]
) -> None:
    patient_id, sessions = patient_sessions
    save_treatment(library, sessions[1], TREATMENT)
    save_grades(library, sessions[1], GRADES)
    log = clinical_log(library, patient_id)
    assert [r.session_id for r in log] == sessions
    assert log[0].treatment is None and log[0].grades is None
    assert log[1].treatment == TREATMENT and log[1].grades == GRADES
    assert log[1].treatment_saved_at is not None and log[1].grades_saved_at is not None
    assert log[1].session_date == library.get_session(sessions[1]).session_date


def test_suggestion_comes_from_the_fullest_measured_photo(
    library: Library, patient_sessions: tuple[int, list[int]]
) -> None:
    _, sessions = patient_sessions
    assert suggestion_for_session(library, sessions[0]) is None
    photo = library.photos_of(sessions[0])[1]
    scarmap = make_scarmap(photo.height, photo.width, 4)
    library.save_analysis(photo.id, scarmap, Calibration(10.0, "marker"), {}, "v1")
    suggestion = suggestion_for_session(library, sessions[0])
    assert suggestion is not None and suggestion.suggested
    counts = {t: s.count for t, s in scarmap.summary.by_type.items()}
    assert suggestion.goodman_baron.punched_out_deep_abnormal == counts["icepick"]
    assert suggestion.ecca.m_shaped == (1 if counts["rolling"] else 0)
    # make_scarmap's boxcar scar has a depth of 0.12 mm: shallow.
    assert suggestion.goodman_baron.punched_out_shallow == counts["boxcar"]


# ------------------------------------------------------------------------ export


def test_measurement_row_clinical_columns() -> None:
    row = measurement_row(
        patient="P1",
        session="s",
        date="2026-01-05",
        view=None,
        file="x.jpg",
        sha256="0" * 64,
        treatment=TreatmentRecord(
            procedures=("microneedling", "other"), other_procedure="peel", needle_depth_mm=0.5
        ),
        grades=GRADES,
    )
    assert list(row) == list(MEASUREMENT_COLUMNS)
    assert MEASUREMENT_COLUMNS[-len(CLINICAL_COLUMNS) :] == CLINICAL_COLUMNS
    assert row["procedures"] == "microneedling+other (peel)"
    assert row["needle_depth_mm"] == "0.50" and row["passes"] == ""
    assert row["pih"] == "false" and row["erythema_days"] == ""
    assert row["gb_qualitative"] == "3"
    assert row["gb_quantitative"] == "11" and row["gb_quantitative_suggested"] == "true"
    assert row["ecca"] == "85" and row["ecca_suggested"] == "false"
    assert row["pro_instrument"] == "ACNE-Q Appearance of Scars" and row["pro_score"] == "42.00"
    only_pro = measurement_row(
        patient="P1",
        session="s",
        date=None,
        view=None,
        file="x.jpg",
        sha256="0" * 64,
        grades=SessionGrades(pro=PatientReportedOutcome("DLQI", 4)),
    )
    assert only_pro["pro_score"] == "4.00"
    assert only_pro["gb_quantitative"] == only_pro["ecca"] == only_pro["procedures"] == ""


def test_export_csv_includes_the_clinical_record(
    library: Library, patient_sessions: tuple[int, list[int]], tmp_path: Path
) -> None:
    patient_id, sessions = patient_sessions
    save_treatment(library, sessions[1], TREATMENT)
    save_grades(library, sessions[1], GRADES)
    out = tmp_path / "export.csv"
    assert library.export_csv(patient_id, out) == 6
    with out.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == MEASUREMENT_COLUMNS
    label = library.get_session(sessions[1]).label
    treated = [r for r in rows if r["session"] == label]
    others = [r for r in rows if r["session"] != label]
    assert len(treated) == 2 and len(others) == 4
    for row in treated:
        assert row["procedures"] == "microneedling+prp"
        assert row["device"] == TREATMENT.device and row["clinician"] == "Dr Ngata"
        assert row["needle_depth_mm"] == "1.50" and row["passes"] == "4"
        assert row["erythema_days"] == "3" and row["pih"] == "true" and row["tram_track"] == "false"
        assert row["gb_quantitative"] == "11" and row["ecca"] == "85"
    assert all(r[c] == "" for r in others for c in CLINICAL_COLUMNS)
