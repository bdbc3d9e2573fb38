"""The batch's parts on their own: plan, resume state, progress lines, crash recovery, CLI."""

from __future__ import annotations

import io
import os
import sys
import tracemalloc
from collections.abc import Callable, Collection
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from scarview.batch import BatchOptions, run_batch
from scarview.batch.executors import DaskExecutor, DaskMissingError, LocalExecutor
from scarview.batch.plan import plan_batch
from scarview.batch.progress import LogListener, SilentListener, TqdmListener, default_listener
from scarview.batch.runner import _Batch, _Driver
from scarview.batch.state import DONE_FILE, ResumeState
from scarview.batch.tasks import (
    PhotoResult,
    TrackResult,
    TrackTask,
    WorkerStats,
)
from scarview.cli import main
from scarview.errors import InputError
from scarview.synth import make_patient
from tests.batch.conftest import Archive


def test_plan_reads_the_layout(archive_template: Archive) -> None:
    plan = plan_batch(archive_template.root)
    assert plan.patients == ("alice", "bob", "carol")
    assert sorted(p.relpath for p in plan.photos) == sorted(archive_template.good)
    assert [i.relpath for i in plan.issues] == sorted(
        [archive_template.corrupt, archive_template.text]
    )
    by_rel = {p.relpath: p for p in plan.photos}
    baseline = by_rel["alice/2026-01-05/closeup.jpg"]
    assert baseline.session_index == 0 and baseline.baseline is None
    for rel in ("alice/2026-02-02/closeup.jpg", archive_template.unrelated):
        assert by_rel[rel].baseline == baseline.index
        assert by_rel[rel].view == "closeup"
    # Photos without session folders: sessions from the EXIF date, not the file name.
    first, second = by_rel["bob/left-45 b.jpg"], by_rel["bob/left-45 a.jpg"]
    assert (first.session, first.session_index) == ("2026-01-10", 0)
    assert (second.session, second.session_index, second.baseline) == ("2026-02-07", 1, first.index)
    assert by_rel["carol/visit-2/frontal.jpg"].session_date.isoformat() == "2026-05-06"
    assert [p.index for p in plan.photos] == list(range(len(plan.photos)))


def test_state_survives_a_line_cut_short(tmp_path: Path) -> None:
    state = ResumeState(tmp_path)
    state.add("a" * 40, {"n": 1}, b"jpeg-bytes")
    state.add("b" * 40, {"n": 2}, None)
    with (state.path).open("ab") as handle:
        handle.write(b'{"key": "cccc", "rec')  # a crash in the middle of a line
    again = ResumeState(tmp_path)
    assert len(again) == 2 and again.record("b" * 40) == {"n": 2}
    assert again.thumbnail_path("a" * 40) is not None
    assert again.thumbnail_path("b" * 40) is None
    again.add("d" * 40, {"n": 4}, None)
    third = ResumeState(tmp_path)
    assert len(third) == 3 and third.record("d" * 40) == {"n": 4}
    assert (tmp_path / ".scarview-batch" / DONE_FILE).read_bytes().endswith(b"\n")


def test_state_reads_records_back_instead_of_keeping_them(tmp_path: Path) -> None:
    """The batch process holds an index, not the records: it does not grow with the photos."""
    rng = np.random.default_rng(8)
    state = ResumeState(tmp_path)
    n, payload_chars = 120, 20_000
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(n):
            noise = "".join(rng.choice(list("abcdef"), size=payload_chars))
            state.add(f"{i:040d}", {"n": i, "noise": noise}, None)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    # What the records weigh on disk is far more than what stays in memory.
    assert state.path.stat().st_size > n * payload_chars
    assert held < n * 1_000, f"{held / n:.0f} bytes kept per photo"
    assert state.record(f"{7:040d}")["n"] == 7  # type: ignore[index]
    # Offsets stay right after a line cut short, in this run and the next one.
    with state.path.open("ab") as handle:
        handle.write(b'{"key": "x", "rec')
    state.add("e" * 40, {"n": -1}, None)
    assert state.record("e" * 40) == {"n": -1}
    again = ResumeState(tmp_path)
    assert len(again) == n + 1
    assert [again.record(f"{i:040d}")["n"] for i in (0, 59, n - 1)] == [0, 59, n - 1]  # type: ignore[index]
    assert again.record("e" * 40) == {"n": -1} and again.record("f" * 40) is None


def test_log_lines_count_rate_and_time_left() -> None:
    stream = io.StringIO()
    listener = LogListener(stream)
    listener.started(10, 4, "2 local worker processes")
    listener.photo_done("p/2026-01-01/a.jpg", None, None)
    listener.photo_done("p/2026-01-01/b.jpg", "Cannot read 'p/2026-01-01/b.jpg': broken.", None)
    lines = stream.getvalue().splitlines()
    assert "6 photos to measure" in lines[0] and "4 already measured" in lines[0]
    assert lines[1].startswith("scarview batch: [1/6] p/2026-01-01/a.jpg measured (")
    assert "photos/min" in lines[1] and "left)" in lines[1]
    assert lines[2].startswith("scarview batch: [2/6] p/2026-01-01/b.jpg error: Cannot read")


class _FakeExecutor:
    """Runs nothing: answers each task with ``respond(task)`` (a result or an exception)."""

    description = "fake"
    workers = 1
    window = 2

    def __init__(self, respond: Callable[[Any], Any]) -> None:
        self.respond = respond
        self.restarts = 0

    def submit(self, fn: Callable[..., Any], arg: Any) -> Future[Any]:
        future: Future[Any] = Future()
        answer = self.respond(arg)
        if isinstance(answer, BaseException):
            future.set_exception(answer)
        else:
            future.set_result(answer)
        return future

    def wait(self, futures: Collection[Any], timeout_s: float) -> set[Any]:
        return {f for f in futures if f.done()}

    def is_broken(self, exc: BaseException) -> bool:
        return isinstance(exc, BrokenProcessPool)

    def restart(self) -> None:
        self.restarts += 1

    def close(self, futures: Collection[Any] = (), *, cancel: bool = False) -> None:
        pass


def test_a_task_that_kills_its_worker_is_given_up(
    archive_template: Archive, tmp_path: Path
) -> None:
    plan = plan_batch(archive_template.root)
    batch = _Batch(plan, tmp_path, BatchOptions(report=False), SilentListener(), None)
    tasks = batch.tasks()
    poison = next(t for t in tasks if plan.photos[t.jobs[0].index].patient == "bob")
    worker = WorkerStats(pid=1, host="test", rss_mb=1.0, peak_rss_mb=1.0)

    def respond(task: TrackTask) -> Any:
        if task is poison:
            return BrokenProcessPool("a worker died")
        return TrackResult(
            tuple(PhotoResult(j.index, j.key, {"ok": j.relpath}) for j in task.measured_jobs),
            worker,
        )

    executor = _FakeExecutor(respond)
    _Driver(batch, executor).run(tasks)
    assert executor.restarts == 2
    failed = {e.file for e in batch.errors} - {i.relpath for i in plan.issues}
    assert failed == {"bob/left-45 a.jpg", "bob/left-45 b.jpg"}
    assert all("worker process stopped" in e.message for e in batch.errors if e.file in failed)
    assert len(ResumeState(tmp_path)) == len(plan.photos) - 2


def test_output_inside_input_is_refused(archive_template: Archive) -> None:
    with pytest.raises(InputError, match="inside the input folder"):
        run_batch(archive_template.root, archive_template.root / "out")
    with pytest.raises(InputError, match="not a folder"):
        run_batch(archive_template.root / "alice" / "2026-01-05" / "closeup.jpg", "/tmp/x")


def test_missing_dask_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(DaskMissingError, match=r"pip install 'scarview\[distributed\]'"):
        DaskExecutor("tcp://127.0.0.1:8786")


def test_batch_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["batch", "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in (
        "--out",
        "--workers",
        "--scheduler",
        "--marker-mm",
        "--px-per-mm",
        "--no-report",
    ):
        assert option in text


def test_batch_of_an_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "in").mkdir()
    assert main(["batch", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--json"]) == 0
    assert '"photos": 0' in capsys.readouterr().out
    assert (tmp_path / "out" / "measurements.csv").read_text("utf-8").count("\n") == 1
    assert (tmp_path / "out" / "errors.csv").read_text("utf-8") == "file,message\n"


def _worker_pid(_: object) -> int:
    return os.getpid()


def test_local_workers_are_replaced_and_all_tasks_finish() -> None:
    executor = LocalExecutor(2, max_tasks_per_child=2)
    try:
        futures = [executor.submit(_worker_pid, i) for i in range(12)]
        pids = [f.result(timeout=60) for f in futures]
    finally:
        executor.close()
    assert len(pids) == 12
    # 2 workers replaced after 2 tasks each: 3 successive pools, so more than 2 processes.
    assert len(set(pids)) >= 3
    assert os.getpid() not in pids


def test_retired_pools_are_let_go() -> None:
    """A long batch retires many pools; the batch process keeps none whose tasks are done."""
    executor = LocalExecutor(1, max_tasks_per_child=1)
    try:
        pids = {executor.submit(_worker_pid, i).result(timeout=60) for i in range(8)}
        # 8 pools were used; submitting let go of those whose task had finished
        # (the last one or two may still be finishing when the next task is submitted).
        assert len(pids) == 8
        assert len(executor._retired) <= 2
        assert len(executor._unfinished) <= 3
    finally:
        executor.close()
    assert executor._retired == [] and not executor._unfinished


def test_forkserver_warms_the_report_renderer_up() -> None:
    """Workers start with the report's fonts and caches loaded: the warm-up must keep working.

    It swallows its errors (it must never stop the forkserver), so a change of
    the report's data classes would silently make workers cold again.
    """
    from scarview.batch import executors
    from scarview.batch.warmup import warm_up_reports

    assert "scarview.batch.warmup" in executors._PRELOAD
    assert warm_up_reports() is True


def test_progress_bar_on_a_terminal() -> None:
    stream = io.StringIO()
    stream.isatty = lambda: True  # type: ignore[method-assign]
    listener = default_listener(stream)
    assert isinstance(listener, TqdmListener)
    listener.started(3, 1, "2 local worker processes")
    listener.photo_done("p/s/a.jpg", None, None)
    listener.photo_done("p/s/b.jpg", "Cannot read 'p/s/b.jpg': broken.", None)
    listener.finished()
    text = stream.getvalue()
    assert "2 photos to measure" in text and "Measuring" in text and "2/2" in text
    assert "error: Cannot read 'p/s/b.jpg'" in text
    assert isinstance(default_listener(io.StringIO()), LogListener)


def test_a_track_reads_and_prepares_each_photo_once(
    archive_template: Archive, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """alice's baseline is read, analysed and prepared for alignment once for both follow-ups,
    and each follow-up aligns exactly as ``scarview compare`` aligns the same two photos."""
    from scarview.batch import tasks as tasks_module
    from scarview.core import pipeline
    from scarview.core.io import sha256_file

    plan = plan_batch(archive_template.root)
    batch = _Batch(plan, tmp_path, BatchOptions(report=True), SilentListener(), None)
    task = next(
        t
        for t in batch.tasks()
        if t.baseline is not None and t.baseline.relpath == "alice/2026-01-05/closeup.jpg"
    )
    followups = [j.relpath for j in task.followups]
    assert sorted(followups) == [
        "alice/2026-02-02/closeup.jpg",
        "alice/2026-03-02/closeup-2.jpg",  # skimage's coffee: not alignable
        "alice/2026-03-02/closeup.jpg",
    ]
    calls: dict[str, list[str]] = {"read": [], "prepare": []}
    read, prepare = pipeline.read_photo, pipeline.prepare_alignment

    def counting_read(path: Any, **kw: Any) -> Any:
        calls["read"].append(Path(path).name + ":" + Path(path).parent.name)
        return read(path, **kw)

    def counting_prepare(image: Any, exclude: Any = None) -> Any:
        calls["prepare"].append(str(image.shape))
        return prepare(image, exclude)

    monkeypatch.setattr(pipeline, "read_photo", counting_read)
    monkeypatch.setattr(pipeline, "prepare_alignment", counting_prepare)
    result = tasks_module.process_track(task)
    assert len(calls["read"]) == 4 and len(set(calls["read"])) == 4
    assert len(calls["prepare"]) == 4
    records = [p.record for p in result.photos]
    assert all(r is not None for r in records) and len(records) == 4
    assert all(p.thumbnail_jpeg for p in result.photos)
    base, *later = records
    assert base is not None and base["alignment"] is None
    assert {"read", "calibrate", "analyse", "prepare", "thumbnail"} <= set(base["timings_s"])
    for job, record in zip(task.followups, later, strict=True):
        assert record is not None
        assert {"read", "calibrate", "analyse", "prepare", "align", "change", "thumbnail"} <= set(
            record["timings_s"]
        )
        assert record["sha256"] == sha256_file(job.path)
        if job.relpath.endswith("closeup-2.jpg"):
            assert record["alignment"]["ok"] is False
            continue
        assert record["alignment"]["ok"] is True
        if job.relpath != "alice/2026-02-02/closeup.jpg":
            continue
        same = pipeline.compare_photos(task.baseline.path, job.path)
        assert same.alignment.homography is not None
        assert record["alignment"]["homography"] == same.alignment.homography.tolist()


def test_session_captures_photographs_the_view_again_each_session() -> None:
    """The one helper behind sample_images/, the batch archive and the batch benchmark."""
    from scarview.synth import Camera, Capture, Light, SessionJitter, session_captures

    patient = make_patient(5, n_scars=4)
    camera = Camera(width=240, height=180, px_per_mm=9.0, blur_px=0.5)
    jitter = SessionJitter(light_elevation_deg=5.0, capture_minutes=30, exposure=0.1)
    when = datetime(2026, 1, 5, 10)

    def take(seed: int) -> list[Any]:
        return list(
            session_captures(
                patient,
                3,
                np.random.default_rng(seed),
                camera=camera,
                light=Light(azimuth_deg=100.0, elevation_deg=40.0),
                capture=Capture(jpeg_quality=90),
                jitter=jitter,
                dates=[when, when + timedelta(days=28), when + timedelta(days=56)],
            )
        )

    first, again, other = take(1), take(1), take(2)
    assert [p.encoded for p in first] == [p.encoded for p in again]
    assert first[1].encoded != other[1].encoded
    np.testing.assert_allclose(first[0].image_from_skin, camera.image_from_skin())
    assert [p.truth["session"] for p in first] == [0, 1, 2]
    for photo in first:
        light = photo.truth["light"]
        assert abs(light["azimuth_deg"] - 100.0) <= 20.0
        assert abs(light["elevation_deg"] - 40.0) <= 5.0
        assert abs(photo.truth["capture"]["exposure"] - 1.0) <= 0.1
    later = first[1].image_from_skin
    assert not np.allclose(later, camera.image_from_skin())
    # No jitter, no draw: the generator is left as it was.
    rng = np.random.default_rng(3)
    state = rng.bit_generator.state
    still = SessionJitter(light_azimuth_deg=0.0)
    photos = list(session_captures(patient, 1, rng, camera=camera, jitter=still))
    assert rng.bit_generator.state == state and len(photos) == 1
