"""A library survives a killed import, and a reader and a writer can share it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from scarview.store import Library
from scarview.store.files import sha256_of
from tests.store.helpers import make_clinic_folder, write_jpeg

ROOT = Path(__file__).resolve().parents[2]

IMPORT_SCRIPT = textwrap.dedent(
    """
    import sys
    from scarview.store import Library

    library = Library.open(sys.argv[1])
    library.import_folder(sys.argv[2], progress=lambda f, m: print(m, flush=True))
    print("DONE", flush=True)
    """
)

BATCH_SCRIPT = textwrap.dedent(
    """
    import sys
    from scarview.core.types import Calibration
    from scarview.store import Library
    from tests.store.helpers import make_scarmap

    with Library.open(sys.argv[1]) as library:
        report = library.import_folder(sys.argv[2])
        for round_ in range(2):
            for photo_id in report.photo_ids:
                photo = library.get_photo(photo_id)
                scarmap = make_scarmap(photo.height, photo.width, seed=photo_id + round_)
                library.save_analysis(photo_id, scarmap, Calibration(10.0, "marker"), {}, "b")
    print("BATCH DONE", len(report.photo_ids), flush=True)
    """
)


def _python(script: str, *args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", script, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )


def _many_sessions(root: Path, sessions: int, views: int) -> Path:
    """One patient with ``sessions`` folders of ``views`` photos each (distinct bytes)."""
    seed = 0
    for s in range(sessions):
        for v in range(views):
            seed += 1
            write_jpeg(root / "P-kill" / f"s{s:03d}" / f"view{v}.jpg", seed, size=(48, 32))
    return root


def _check_consistent(library_root: Path, source: Path) -> int:
    """Integrity, whole sessions only, and every original matching its hash; returns photos."""
    with Library.open(library_root, create=False) as library:
        assert library.integrity_problems() == []
        conn = library._conn
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        total = 0
        for patient in library.list_patients():
            for session in library.sessions_of(patient.id):
                expected = {p.name for p in (source / patient.code / session.label).glob("*.jpg")}
                photos = library.photos_of(session.id)
                assert {p.original_name for p in photos} == expected, session.label
                for photo in photos:
                    assert sha256_of(photo.path) == photo.sha256
                total += len(photos)
        return total


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL is POSIX")
def test_import_killed_midway_leaves_a_consistent_library(tmp_path: Path) -> None:
    sessions, views = 24, 5
    source = _many_sessions(tmp_path / "in", sessions, views)
    library_root = tmp_path / "library"
    rng = np.random.default_rng(20260105)
    kills = 0
    for _attempt in range(3):
        # Kill after a random number of files were being stored in this run.
        kill_after = int(rng.integers(3, 2 * views * 4))
        proc = _python(IMPORT_SCRIPT, str(library_root), str(source))
        stored = 0
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Storing"):
                stored += 1
                if stored >= kill_after:
                    os.kill(proc.pid, signal.SIGKILL)
                    kills += 1
                    break
            if line.startswith("DONE"):
                break
        proc.wait(timeout=60)
        proc.stdout.close()
        assert proc.stderr is not None
        proc.stderr.close()
        found = _check_consistent(library_root, source)
        assert found % views == 0
    assert kills == 3
    assert found < sessions * views  # the kills really interrupted the import
    # The next import completes the library, reusing any copy left by a killed run.
    with Library.open(library_root) as library:
        report = library.import_folder(source)
        assert report.errors == ()
        assert report.imported + report.already_present == sessions * views
    assert _check_consistent(library_root, source) == sessions * views
    leftovers = list((library_root / "tmp").glob("*")) if (library_root / "tmp").exists() else []
    assert all(p.suffix == ".part" for p in leftovers)


def test_reader_and_writer_share_one_library(tmp_path: Path) -> None:
    library_root = tmp_path / "library"
    Library.open(library_root).close()
    source = make_clinic_folder(tmp_path / "in", patients=3, sessions=3, views=3)
    writer = _python(BATCH_SCRIPT, str(library_root), str(source))
    reads = 0
    seen_photos: set[int] = set()
    with Library.open(library_root) as gui:
        deadline = time.monotonic() + 120
        while True:  # at least one full pass, then until the writer is done
            for patient in gui.list_patients():
                for session in gui.sessions_of(patient.id):
                    for photo in gui.photos_of(session.id):
                        seen_photos.add(photo.id)
                        analysis = gui.latest_analysis(photo.id)
                        if analysis is not None:
                            assert analysis.mask_path.is_file()
                            assert len(analysis.scars) == 3
                            # The GUI writes too: a clinician's correction.
                            if not gui.corrections_of(photo.id):
                                gui.add_correction(photo.id, "remove_scar", '{"id": 1}')
            reads += 1
            if writer.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.005)  # leave the shared CPU to the writer between passes
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        assert "BATCH DONE 27" in out
        assert reads > 0
        photos = [
            p
            for patient in gui.list_patients()
            for s in gui.sessions_of(patient.id)
            for p in gui.photos_of(s.id)
        ]
        assert len(photos) == 27
        assert all(len(gui.analyses_of(p.id)) == 2 for p in photos)
        assert gui.integrity_problems() == []
