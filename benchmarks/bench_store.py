"""Patient library: how fast the GUI's everyday queries are on a clinic-sized library.

A library of 200 patients × 8 sessions × 3 photos (metadata rows only, written
straight into a fresh library's database) is queried the way the GUI does when
a clinician picks a patient. Target (issue 5): a patient's sessions listed in
under 50 ms.
"""

from __future__ import annotations

import hashlib
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from scarview.store import Library
from scarview.store.library import DB_NAME

TITLE = "Patient library (200 patients × 8 sessions × 3 photos, metadata only)"

PATIENTS = 200
SESSIONS = 8
PHOTOS = 3
REPEATS = 50
TARGET_MS = 50.0


def _populate(root: Path) -> None:
    """Fill a fresh library with metadata rows (no files: the queries do not read them)."""
    Library.open(root).close()
    conn = sqlite3.connect(root / DB_NAME, isolation_level=None)
    now = "2026-01-01T09:00:00+00:00"
    views = ("frontal", "left-45", "right-45")
    conn.execute("BEGIN")
    for p in range(PATIENTS):
        patient_id = conn.execute(
            "INSERT INTO patients (code, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
            (f"P{p:04d}", f"Patient Näme {p}", now, now),
        ).lastrowid
        for s in range(SESSIONS):
            day = f"2025-{1 + s:02d}-{1 + p % 28:02d}"
            session_id = conn.execute(
                "INSERT INTO sessions (patient_id, label, session_date, created_at)"
                " VALUES (?, ?, ?, ?)",
                (patient_id, day, day, now),
            ).lastrowid
            for v in range(PHOTOS):
                sha = hashlib.sha256(f"{p}-{s}-{v}".encode()).hexdigest()
                conn.execute(
                    "INSERT INTO photos (session_id, sha256, stored_name, original_name, view,"
                    " width, height, file_size_bytes, imported_at)"
                    " VALUES (?, ?, ?, ?, ?, 4000, 3000, 4000000, ?)",
                    (
                        session_id,
                        sha,
                        f"originals/{sha[:2]}/{sha}.jpg",
                        f"{views[v]}.jpg",
                        views[v],
                        now,
                    ),
                )
    conn.execute("COMMIT")
    conn.close()


def _median_ms(work: Callable[[], object]) -> float:
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        work()
        times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)


def run() -> list[dict[str, object]]:
    """Time the queries; one row per query."""
    with tempfile.TemporaryDirectory(prefix="scarview-bench-") as tmp:
        root = Path(tmp) / "library"
        start = time.perf_counter()
        _populate(root)
        build_s = time.perf_counter() - start
        with Library.open(root) as library:
            patient = library.find_patient(f"P{PATIENTS // 2:04d}")
            sessions = library.sessions_of(patient.id)
            assert len(sessions) == SESSIONS

            def patient_view() -> None:
                for session in library.sessions_of(patient.id):
                    library.photos_of(session.id)

            queries: list[tuple[str, Callable[[], object], float | None]] = [
                ("sessions of one patient", lambda: library.sessions_of(patient.id), TARGET_MS),
                ("sessions + their photos", patient_view, None),
                ("list all patients", library.list_patients, None),
                ("search patients 'näme 1'", lambda: library.list_patients("näme 1"), None),
                ("find patient by code", lambda: library.find_patient("P0150"), None),
            ]
            rows: list[dict[str, object]] = []
            for name, work, target in queries:
                median = _median_ms(work)
                rows.append(
                    {
                        "query": name,
                        "median_ms": median,
                        "target_ms": "" if target is None else target,
                        "ok": "" if target is None else ("yes" if median < target else "NO"),
                    }
                )
        rows.append({"query": f"(building the library took {build_s:.1f} s)"})
        return rows
