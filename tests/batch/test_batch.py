"""``scarview batch`` end to end on a generated archive: outputs, resume, Dask, interruption."""

from __future__ import annotations

import csv
import gc
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scarview.batch import BatchOptions, BatchSummary, run_batch
from scarview.batch.outputs import BATCH_COLUMNS, TIMING_COLUMNS
from scarview.batch.plan import plan_batch
from scarview.batch.progress import SilentListener
from scarview.batch.runner import _Batch
from scarview.batch.state import DONE_FILE, STATE_DIR
from scarview.batch.tasks import render_report_task
from scarview.core.records import MEASUREMENT_COLUMNS
from tests.batch.conftest import SMALL_PATIENTS, Archive

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Run:
    summary: BatchSummary
    out: Path
    library: Path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _without_timing(path: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in _rows(path)]


def _state_keys(out: Path) -> list[str]:
    path = out / STATE_DIR / DONE_FILE
    if not path.exists():
        return []
    return [json.loads(line)["key"] for line in path.read_text("utf-8").splitlines() if line]


@pytest.fixture(scope="module")
def local_run(archive_template: Archive, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    """The archive measured once on 2 local processes, with reports and a library."""
    base = tmp_path_factory.mktemp("batch-local")
    out, library = base / "out", base / "library"
    summary = run_batch(archive_template.root, out, BatchOptions(workers=2, library=library))
    yield Run(summary, out, library)


def test_measurements_csv_has_one_row_per_photo_in_order(
    local_run: Run, archive_template: Archive
) -> None:
    path = local_run.out / "measurements.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        header = next(csv.reader(handle))
    assert tuple(header) == BATCH_COLUMNS
    assert header[: len(MEASUREMENT_COLUMNS)] == list(MEASUREMENT_COLUMNS)
    rows = _rows(path)
    pairs = sorted((rel.split("/")[0], rel.rsplit("/", 1)[1]) for rel in archive_template.good)
    assert sorted((r["patient"], r["file"]) for r in rows) == pairs
    # Deterministic order: patient, then session order, then view, then file.
    assert [r["patient"] for r in rows] == sorted(r["patient"] for r in rows)
    for row in rows:
        rel = f"{row['patient']}/{row['session']}/{row['file']}"
        if rel not in archive_template.good:  # bob: no session folders
            rel = f"{row['patient']}/{row['file']}"
        digest = hashlib.sha256((archive_template.root / rel).read_bytes()).hexdigest()
        assert row["sha256"] == digest


def test_sessions_baselines_and_change(local_run: Run, archive_template: Archive) -> None:
    rows = _rows(local_run.out / "measurements.csv")
    by_patient: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_patient.setdefault(row["patient"], []).append(row)
    # bob's photos have no session folders: the EXIF date orders them, not the name.
    bob = by_patient["bob"]
    assert [(r["session"], r["file"]) for r in bob] == [
        ("2026-01-10", "left-45 b.jpg"),
        ("2026-02-07", "left-45 a.jpg"),
    ]
    assert all(r["view"] == "left-45" for r in bob)
    # carol's session folders are not dates: their dates come from EXIF.
    assert [(r["session"], r["date"]) for r in by_patient["carol"]] == [
        ("visit-1", "2026-04-01"),
        ("visit-2", "2026-05-06"),
    ]
    unrelated = archive_template.unrelated.rsplit("/", 1)[1]
    for patient, entries in by_patient.items():
        baseline, follow_ups = entries[0], entries[1:]
        assert baseline["aligned_ok"] == "" and baseline["change_area_mm2"] == "", patient
        assert baseline["calibration_method"] == "marker"
        assert float(baseline["px_per_mm"]) == pytest.approx(18.0, rel=0.03)
        for row in follow_ups:
            if patient == "alice" and row["file"] == unrelated:
                assert row["aligned_ok"] == "false"
                assert row["change_area_mm2"] == "" and row["change_area_pct"] == ""
                continue
            assert row["aligned_ok"] == "true", row
            assert float(row["alignment_rmse_px"]) < 1.0
            change = float(row["area_mm2"]) - float(baseline["area_mm2"])
            assert float(row["change_area_mm2"]) == pytest.approx(change, abs=2e-4)
            pct = 100.0 * change / float(baseline["area_mm2"])
            assert float(row["change_area_pct"]) == pytest.approx(pct, abs=0.01)
            assert row["algorithm_version"] == baseline["algorithm_version"] != ""


def test_errors_csv_names_each_bad_file_once(local_run: Run, archive_template: Archive) -> None:
    path = local_run.out / "errors.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        assert next(csv.reader(handle)) == ["file", "message"]
    errors = {r["file"]: r["message"] for r in _rows(path)}
    assert set(errors) == {
        archive_template.corrupt,
        archive_template.text,
        archive_template.unrelated,
    }
    assert "truncated" in errors[archive_template.corrupt]
    assert archive_template.corrupt in errors[archive_template.corrupt]
    assert "text" in errors[archive_template.text]
    assert errors[archive_template.unrelated].startswith("could not be aligned to the baseline: ")
    for skipped in archive_template.skipped:
        assert skipped not in path.read_text("utf-8")
    summary = local_run.summary
    assert (summary.photos, summary.measured, summary.skipped) == (8, 8, 0)
    assert (summary.aligned, summary.not_aligned, len(summary.errors)) == (4, 1, 3)


def test_one_report_per_patient(local_run: Run) -> None:
    pypdf = pytest.importorskip("pypdf")
    for patient in ("alice", "bob", "carol"):
        report = local_run.out / patient / "report.pdf"
        text = " ".join(page.extract_text() for page in pypdf.PdfReader(report).pages)
        assert patient in text
        assert str(local_run.out) not in text and "closeup-2.jpg" not in text
    assert len(local_run.summary.reports) == local_run.summary.reports_written == 3


def test_library_holds_the_same_measurements(local_run: Run) -> None:
    from scarview.store import Library

    rows = _without_timing(local_run.out / "measurements.csv")
    with Library.open(local_run.library, create=False) as library:
        exported = []
        for patient in ("alice", "bob", "carol"):
            exported.extend(library.measurement_rows(library.find_patient(patient).id))
    assert sorted(exported, key=lambda r: r["sha256"]) == sorted(rows, key=lambda r: r["sha256"])
    assert local_run.summary.library is not None
    assert local_run.summary.library["analyses_saved"] == 8


def test_rerun_skips_everything_and_writes_the_same_files(
    local_run: Run, archive_template: Archive, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    shutil.copytree(local_run.out, out)
    before = {name: (out / name).read_bytes() for name in ("measurements.csv", "errors.csv")}
    (out / "measurements.csv").unlink()
    summary = run_batch(archive_template.root, out, BatchOptions(workers=2))
    assert (summary.measured, summary.skipped) == (0, 8)
    assert summary.reports_written == 0  # nothing changed and every report is there
    assert len(summary.reports) == 3
    for name, data in before.items():
        assert (out / name).read_bytes() == data


def test_other_settings_measure_again(
    local_run: Run, archive_template: Archive, tmp_path: Path
) -> None:
    from scarview.batch.plan import plan_batch
    from scarview.batch.results import algorithm_fingerprint, result_key, settings_key
    from scarview.core.pipeline import AnalysisSettings

    plan = plan_batch(archive_template.root)
    keys = set(_state_keys(local_run.out))
    for settings, expected in (
        (AnalysisSettings(), True),
        (AnalysisSettings(px_per_mm=20.0), False),
    ):
        digest = settings_key(
            dict(settings.to_dict(), max_pixels=settings.max_pixels), algorithm_fingerprint()
        )
        for photo in plan.photos:
            base = None if photo.baseline is None else plan.photos[photo.baseline].sha256
            assert (result_key(photo.sha256, base, digest) in keys) is expected


def _rows_of(path: Path, patients: tuple[str, ...]) -> list[dict[str, str]]:
    return [r for r in _without_timing(path) if r["patient"] in patients]


def _errors_of(path: Path, patients: tuple[str, ...]) -> list[dict[str, str]]:
    return [r for r in _rows(path) if r["file"].split("/", 1)[0] in patients]


def test_dask_cluster_gives_the_same_measurements(
    local_run: Run, small_archive: Path, tmp_path: Path
) -> None:
    distributed = pytest.importorskip("distributed")
    out = tmp_path / "out"
    with distributed.LocalCluster(
        n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None
    ) as cluster:
        summary = run_batch(
            small_archive, out, BatchOptions(scheduler=cluster.scheduler_address, report=False)
        )
    assert summary.executor.startswith("Dask cluster")
    assert summary.measured == 4
    reference = local_run.out / "measurements.csv"
    assert _without_timing(out / "measurements.csv") == _rows_of(reference, SMALL_PATIENTS)
    errors = _rows(out / "errors.csv")
    assert errors == _errors_of(local_run.out / "errors.csv", SMALL_PATIENTS)
    assert len(errors) == 2


def _batch_command(root: Path, out: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "scarview", "batch", str(root), "--out", str(out), *extra]


def test_interrupted_batch_resumes(local_run: Run, small_archive: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        _batch_command(small_archive, out, "--workers", "1", "--no-report"),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    lines = []
    deadline = time.monotonic() + 120
    for line in process.stderr:
        lines.append(line)
        if "] " in line and " measured (" in line:
            process.send_signal(signal.SIGINT)
            break
        assert time.monotonic() < deadline
    _, rest = process.communicate(timeout=120)
    stderr = "".join(lines) + rest
    assert process.returncode == 130, stderr
    assert "Interrupted:" in stderr and "run the same command again" in stderr
    assert "Traceback" not in stderr
    assert not (out / "measurements.csv").exists()
    done = len(set(_state_keys(out)))
    assert 0 < done < 4

    again = subprocess.run(
        _batch_command(small_archive, out, "--workers", "2", "--no-report", "--json"),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0, again.stderr
    document = json.loads(again.stdout)
    assert document["counts"]["skipped"] == done
    assert document["counts"]["measured"] == 4 - done
    assert f"{done} already measured with the same settings are skipped" in again.stderr
    reference = local_run.out / "measurements.csv"
    assert _without_timing(out / "measurements.csv") == _rows_of(reference, SMALL_PATIENTS)
    assert _rows(out / "errors.csv") == _errors_of(local_run.out / "errors.csv", SMALL_PATIENTS)


def test_a_report_task_leaves_no_cyclic_garbage(local_run: Run, archive_template: Archive) -> None:
    """A report's figures live in reference cycles; the task frees them before it returns.

    Left to Python's occasional full collection, they made a worker's memory
    climb by tens of MB between collections over a long batch.
    """
    plan = plan_batch(archive_template.root)
    batch = _Batch(plan, local_run.out, BatchOptions(workers=1), SilentListener(), None)
    data = batch.report_task("alice")
    assert any(s.overlay_rgb is not None for s in data.sessions)
    gc.collect()
    gc.disable()
    try:
        pdf = render_report_task(data)
        left = gc.collect()
    finally:
        gc.enable()
    assert pdf.startswith(b"%PDF")
    assert left == 0
