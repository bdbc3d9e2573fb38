"""Schema migrations on real SQLite files: from the first schema to the latest."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import cv2
import numpy as np
import pytest

from scarview.errors import InputError
from scarview.store import Library, schema
from scarview.store.library import DB_NAME
from tests.store.helpers import write_jpeg


def test_migrations_are_numbered_without_gaps() -> None:
    steps = schema.migrations()
    assert [m.version for m in steps] == list(range(1, len(steps) + 1))
    assert len(steps) >= 2
    assert schema.latest_version() == len(steps)


def test_split_statements_keeps_semicolons_inside_strings_and_triggers() -> None:
    script = """
        -- a comment; with a semicolon
        CREATE TABLE t (a TEXT DEFAULT 'x;y');
        CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = 'z;'; END;
        INSERT INTO t VALUES ('1;2');
    """
    statements = list(schema.split_statements(script))
    assert len(statements) == 3
    conn = sqlite3.connect(":memory:")
    for statement in statements:
        conn.execute(statement)
    assert conn.execute("SELECT a FROM t").fetchall() == [("z;",)]


def _build_version_1(root: Path, photo: Path) -> dict[str, object]:
    """A library at schema 1, populated as an old ScarView would have left it."""
    root.mkdir(mode=0o700)
    conn = sqlite3.connect(root / DB_NAME, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    assert schema.apply_migrations(conn, target=1) == 1
    data = photo.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    stored = f"originals/{sha[:2]}/{sha}.jpg"
    (root / stored).parent.mkdir(parents=True)
    (root / stored).write_bytes(data)
    mask_rel = f"derived/{sha[:2]}/{sha}/labels-old.png"
    (root / mask_rel).parent.mkdir(parents=True)
    labels = np.zeros((48, 64), dtype=np.uint16)
    labels[5:9, 5:9] = 1
    (root / mask_rel).write_bytes(cv2.imencode(".png", labels)[1].tobytes())
    now = "2025-06-01T09:00:00+00:00"
    conn.execute("BEGIN")
    conn.execute(
        "INSERT INTO patients (id, code, name, birth_date, fitzpatrick, notes, created_at,"
        " updated_at) VALUES (7, 'Ø-17', 'Zoë Ångström', '1990-02-03', 4, 'old notes', ?, ?)",
        (now, now),
    )
    conn.execute(
        "INSERT INTO sessions (id, patient_id, label, session_date, notes, created_at)"
        " VALUES (3, 7, '2025-05-30', '2025-05-30', '', ?)",
        (now,),
    )
    conn.execute(
        "INSERT INTO photos (id, session_id, sha256, stored_name, original_name, source_path,"
        " view, captured_at, width, height, file_size_bytes, format, camera_model, orientation,"
        " px_per_mm, calibration_method, calibration_uncertainty_pct, imported_at)"
        " VALUES (11, 3, ?, ?, 'frontal.jpg', '/old/frontal.jpg', 'frontal',"
        " '2025-05-30T10:00:00', 64, 48, ?, 'JPEG', 'Cam', 1, 10.0, 'marker', 0.5, ?)",
        (sha, stored, len(data), now),
    )
    conn.execute(
        "INSERT INTO analyses (id, photo_id, created_at, algorithm_version, settings_json,"
        " calibration_json, px_per_mm, summary_json, scar_count, area_mm2, warnings_json,"
        " mask_file) VALUES (5, 11, ?, 'v0.9', '{}',"
        ' \'{"px_per_mm": 10.0, "method": "marker"}\', 10.0,'
        ' \'{"count": 1, "area_mm2": 0.16, "area_px": 16, "roi_area_mm2": null,'
        ' "area_fraction": 0.005, "by_type": {"icepick": {"count": 1, "area_mm2": 0.16}}}\','
        " 1, 0.16, '[]', ?)",
        (now, mask_rel),
    )
    conn.execute(
        "INSERT INTO analysis_scars VALUES (5, 1, 'icepick', 16, 0.16, 0.45, 6.5, 6.5,"
        " 5, 5, 4, 4, ?, 0.9, NULL, 'auto')",
        (np.array([[5, 5], [8, 5], [8, 8]], dtype="<f8").tobytes(),),
    )
    conn.execute(
        "INSERT INTO corrections (photo_id, kind, payload_json, created_at)"
        " VALUES (11, 'remove_scar', '{\"centroid_xy\": [6.5, 6.5]}', ?)",
        (now,),
    )
    conn.execute("COMMIT")
    conn.close()
    return {"sha": sha}


def test_populated_version_1_library_migrates_to_latest(tmp_path: Path) -> None:
    photo = write_jpeg(tmp_path / "src" / "frontal.jpg", 5)
    root = tmp_path / "lib"
    facts = _build_version_1(root, photo)
    with Library.open(root, create=False) as library:
        assert library.schema_version == schema.latest_version()
        assert library.integrity_problems() == []
        patients = library.list_patients()
        assert [p.code for p in patients] == ["Ø-17"]
        patient = patients[0]
        assert patient.name == "Zoë Ångström"
        assert patient.fitzpatrick == 4
        assert patient.birth_date is not None and patient.birth_date.isoformat() == "1990-02-03"
        assert patient.notes == "old notes"
        (session,) = library.sessions_of(patient.id)
        (record,) = library.photos_of(session.id)
        assert record.sha256 == facts["sha"]
        assert record.path.read_bytes() == photo.read_bytes()
        assert record.captured_at_source == "exif"  # filled in by migration 2
        assert record.truth_mask_path is None
        assert record.calibration.px_per_mm == 10.0
        analysis = library.latest_analysis(record.id)
        assert analysis is not None
        assert analysis.algorithm_version == "v0.9"
        assert analysis.summary.area_mm2 == pytest.approx(0.16)
        assert analysis.scars[0].contour.shape == (3, 2)
        assert int((library.load_labels(analysis) == 1).sum()) == 16
        (correction,) = library.corrections_of(record.id)
        assert correction.payload == {"centroid_xy": [6.5, 6.5]}
    backups = list((root / "backups").glob("library-v1-*.sqlite3"))
    assert len(backups) == 1
    old = sqlite3.connect(backups[0])
    assert old.execute("PRAGMA user_version").fetchone()[0] == 1
    assert old.execute("SELECT count(*) FROM photos").fetchone()[0] == 1
    old.close()
    # Opening again applies nothing and makes no new backup.
    with Library.open(root) as library:
        assert library.schema_version == schema.latest_version()
    assert len(list((root / "backups").glob("*.sqlite3"))) == 1


def test_failed_migration_leaves_previous_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = sqlite3.connect(tmp_path / "x.sqlite3", isolation_level=None)
    assert schema.apply_migrations(conn, target=1) == 1
    good = schema.migrations()
    broken = schema.Migration(
        len(good) + 1,
        "9999_broken.sql",
        "CREATE TABLE half_done (a INTEGER);\nINSERT INTO no_such_table VALUES (1);",
    )
    monkeypatch.setattr(schema, "migrations", lambda: (*good, broken))
    with pytest.raises(sqlite3.OperationalError):
        schema.apply_migrations(conn)
    # Every good step committed on its own; the broken one left nothing behind.
    assert schema.user_version(conn) == len(good)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "half_done" not in tables
    conn.close()


def test_library_from_a_newer_scarview_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "lib"
    Library.open(root).close()
    conn = sqlite3.connect(root / DB_NAME)
    conn.execute(f"PRAGMA user_version = {schema.latest_version() + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(InputError, match="newer ScarView"):
        Library.open(root)
