"""Run a batch: plan, measure on workers, keep what is done, write the outputs.

:func:`run_batch` is what ``scarview batch`` calls; the GUI or a script may call
it too. The parent process plans (reads file headers), sends one task per
patient view (:class:`scarview.batch.tasks.TrackTask`) to the executor, stores
each result as it arrives (resume state, thumbnails), renders each patient's
report once that patient's photos are done, and finally writes
``measurements.csv`` and ``errors.csv`` atomically. It holds no pixel arrays.

Interrupting (the ``cancel`` event, which the command sets on Ctrl-C) stops the
workers at their next check, keeps every finished photo in the resume state,
leaves the earlier output files as they were, and raises
:class:`BatchInterrupted`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scarview.batch import outputs
from scarview.batch.executors import (
    DEFAULT_MAX_TASKS_PER_CHILD,
    DaskExecutor,
    Executor,
    LocalExecutor,
    available_cores,
)
from scarview.batch.outputs import BatchError
from scarview.batch.plan import BatchPlan, PlannedPhoto, plan_batch
from scarview.batch.progress import BatchListener, SilentListener
from scarview.batch.results import Record, algorithm_fingerprint, result_key, settings_key
from scarview.batch.state import ResumeState
from scarview.batch.tasks import (
    THUMBNAIL_LONG_SIDE_PX,
    PhotoJob,
    TrackResult,
    TrackTask,
    WorkerStats,
    process_track,
    render_report_task,
    trim_heap,
)
from scarview.core.pipeline import AnalysisSettings
from scarview.core.types import CancelToken
from scarview.errors import Cancelled, InputError, ScarViewError

if TYPE_CHECKING:
    from scarview.batch.library import LibrarySink

SUMMARY_SCHEMA = "scarview.batch/1"
REPORT_NAME = "report.pdf"
_POLL_S = 0.25
#: A task in flight when its worker died this many times is given up (its photos reported).
_MAX_CRASHES = 2


class BatchInterrupted(Cancelled):
    """The batch was interrupted; what was finished is kept for the next run.

    Attributes
    ----------
    done : int
        Photos measured, in this run and earlier ones.
    total : int
        Photos in the batch.
    """

    def __init__(self, done: int, total: int) -> None:
        self.done = done
        self.total = total
        Exception.__init__(
            self,
            f"Interrupted: {done} of {total} photos are measured and kept; "
            "run the same command again to resume.",
        )


@dataclass(frozen=True)
class BatchOptions:
    """How to run a batch.

    Attributes
    ----------
    settings : AnalysisSettings
        Scale options (``--px-per-mm``, ``--marker-mm``).
    workers : int or None
        Local worker processes; default: all cores.
    scheduler : str or None
        Address of an existing Dask scheduler; the tasks run there instead.
    report : bool
        Write ``<patient>/report.pdf`` for every patient.
    library : Path or None
        Also store photos, analyses and alignments in this patient library.
    max_tasks_per_child : int or None
        Tasks a local worker runs before it is replaced (memory stays flat).
    clinic_name : str or None
        Printed on the reports; default: the user settings' clinic name.
    """

    settings: AnalysisSettings = field(default_factory=AnalysisSettings)
    workers: int | None = None
    scheduler: str | None = None
    report: bool = True
    library: Path | None = None
    max_tasks_per_child: int | None = DEFAULT_MAX_TASKS_PER_CHILD
    clinic_name: str | None = None


@dataclass(frozen=True)
class BatchSummary:
    """What a batch did.

    Attributes
    ----------
    input_dir, out_dir : Path
    photos : int
        Readable photos in the batch.
    measured : int
        Photos measured by this run.
    skipped : int
        Photos already measured with the same settings by an earlier run.
    aligned, not_aligned : int
        Follow-up photos aligned onto their baseline photo, and those that could not be.
    errors : tuple of BatchError
        Every line of ``errors.csv``.
    warnings : tuple of str
    measurements_csv, errors_csv : Path
    reports : tuple of Path
        Every patient's report in the output folder (``<patient>/report.pdf``).
    reports_written : int
        Reports written (or rewritten) by this run.
    executor : str
        Where the tasks ran.
    elapsed_s : float
    workers : dict of int to WorkerStats
        The last memory figures each worker process sent, by process id.
    library : dict or None
        What was stored in the library (see :func:`scarview.batch.library.store_results`).
    """

    input_dir: Path
    out_dir: Path
    photos: int
    measured: int
    skipped: int
    aligned: int
    not_aligned: int
    errors: tuple[BatchError, ...]
    warnings: tuple[str, ...]
    measurements_csv: Path
    errors_csv: Path
    reports: tuple[Path, ...]
    reports_written: int
    executor: str
    elapsed_s: float
    workers: Mapping[int, WorkerStats] = field(default_factory=dict)
    library: Mapping[str, Any] | None = None

    @property
    def peak_worker_rss_mb(self) -> float:
        """Highest resident memory any worker reached, MiB (0 when no task ran)."""
        return max((w.peak_rss_mb for w in self.workers.values()), default=0.0)

    def to_document(self) -> dict[str, Any]:
        """The ``--json`` summary document (``scarview.batch/1``)."""
        return {
            "schema": SUMMARY_SCHEMA,
            "input": str(self.input_dir),
            "out": str(self.out_dir),
            "counts": {
                "photos": self.photos,
                "measured": self.measured,
                "skipped": self.skipped,
                "aligned": self.aligned,
                "not_aligned": self.not_aligned,
                "errors": len(self.errors),
            },
            "outputs": {
                "measurements": str(self.measurements_csv),
                "errors": str(self.errors_csv),
                "reports": [str(p) for p in self.reports],
                "reports_written": self.reports_written,
            },
            "errors": [{"file": e.file, "message": e.message} for e in self.errors],
            "warnings": list(self.warnings),
            "executor": self.executor,
            "elapsed_s": round(self.elapsed_s, 3),
            "peak_worker_rss_mb": round(self.peak_worker_rss_mb, 1),
            "library": None if self.library is None else dict(self.library),
        }


@dataclass
class _Pending:
    """A submitted task and what the parent must know when it ends."""

    kind: str  # "track" or "report"
    task: Any
    patient: str
    crashes: int = 0


class _Batch:
    """The state of one run (parent process only)."""

    def __init__(
        self,
        plan: BatchPlan,
        out_dir: Path,
        options: BatchOptions,
        listener: BatchListener,
        cancel: CancelToken | None,
        sink: LibrarySink | None = None,
    ) -> None:
        self.plan = plan
        self.sink = sink
        self.out_dir = out_dir
        self.options = options
        self.listener = listener
        self.cancel = cancel
        self.state = ResumeState(out_dir)
        self.settings_hash = settings_key(
            dict(options.settings.to_dict(), max_pixels=options.settings.max_pixels),
            algorithm_fingerprint(),
        )
        self.keys = {p.index: self._key(p) for p in plan.photos}
        self.by_patient: dict[str, list[PlannedPhoto]] = {}
        for photo in plan.photos:
            self.by_patient.setdefault(photo.patient, []).append(photo)
        self.errors: list[BatchError] = [BatchError(i.relpath, i.message) for i in plan.issues]
        self.failed_by_patient: dict[str, int] = {}
        for issue in plan.issues:
            patient = issue.relpath.split("/", 1)[0] if "/" in issue.relpath else ""
            if patient:
                self.failed_by_patient[patient] = self.failed_by_patient.get(patient, 0) + 1
        self.measured = 0
        self.workers: dict[int, WorkerStats] = {}
        self.reports: list[Path] = []
        self.changed_patients: set[str] = set()
        self.outstanding: dict[str, int] = {}

    # -------------------------------------------------------------- planning

    def _key(self, photo: PlannedPhoto) -> str:
        baseline = None if photo.baseline is None else self.plan.photos[photo.baseline].sha256
        return result_key(photo.sha256, baseline, self.settings_hash)

    def is_done(self, photo: PlannedPhoto) -> bool:
        """Measured with the same settings (and, for reports, its thumbnail kept)."""
        key = self.keys[photo.index]
        if key not in self.state:
            return False
        if self.options.report and self.state.thumbnail_path(key) is None:
            return False
        return self.sink is None or self.sink.has(photo, self.state.record(key))

    def tasks(self, workers: int = 1) -> list[TrackTask]:
        """One task per patient view with work left, the longest first.

        When there are fewer tasks than ``workers``, the longest tracks are cut
        in two (the second half analyses its baseline photo again), so that a
        batch of one or two patients still uses every worker.
        """
        groups: dict[tuple[str, str], list[PlannedPhoto]] = {}
        for photo in self.plan.photos:
            groups.setdefault((photo.patient, photo.track), []).append(photo)
        tasks: list[TrackTask] = []
        for photos in groups.values():
            baselines = {p.baseline for p in photos if p.baseline is not None}
            for baseline_index in sorted(baselines):
                base = self.plan.photos[baseline_index]
                followers = [p for p in photos if p.baseline == baseline_index]
                todo = [p for p in followers if not self.is_done(p)]
                if todo or not self.is_done(base):
                    tasks.append(self._task(base, todo))
            lone = [p for p in photos if p.baseline is None and p.index not in baselines]
            todo = [p for p in lone if not self.is_done(p)]
            if todo:
                tasks.append(self._task(None, todo))
        while len(tasks) < workers:
            widest = max(tasks, key=lambda t: len(t.followups), default=None)
            if widest is None or len(widest.followups) < 2:
                break
            tasks.remove(widest)
            half = len(widest.followups) // 2
            again = None if widest.baseline is None else replace(widest.baseline, measure=False)
            tasks.append(replace(widest, followups=widest.followups[:half]))
            tasks.append(replace(widest, baseline=again, followups=widest.followups[half:]))
        tasks.sort(key=lambda t: -len(t.jobs))
        return tasks

    def _job(self, photo: PlannedPhoto, measure: bool) -> PhotoJob:
        return PhotoJob(
            index=photo.index,
            path=photo.path,
            relpath=photo.relpath,
            sha256=photo.sha256,
            key=self.keys[photo.index],
            measure=measure,
            thumbnail=self.options.report,
            library=self.sink is not None,
        )

    def _task(self, baseline: PlannedPhoto | None, followups: list[PlannedPhoto]) -> TrackTask:
        return TrackTask(
            baseline=None if baseline is None else self._job(baseline, not self.is_done(baseline)),
            followups=tuple(self._job(p, True) for p in followups),
            settings=self.options.settings,
            thumbnail_long_side_px=THUMBNAIL_LONG_SIDE_PX,
        )

    # -------------------------------------------------------------- results

    def records(self, photos: Sequence[PlannedPhoto]) -> dict[int, Record]:
        """The records of ``photos`` available now, by plan index (read from the resume state)."""
        found: dict[int, Record] = {}
        for photo in photos:
            record = self.state.record(self.keys[photo.index])
            if record is not None:
                found[photo.index] = record
        return found

    def take(self, result: TrackResult) -> None:
        """Keep a task's results: resume state first, then tell the listener."""
        self.workers[result.worker.pid] = result.worker
        for item in result.photos:
            photo = self.plan.photos[item.index]
            error = None
            if item.record is not None:
                if self.sink is not None and item.library_payload is not None:
                    error = self._store_in_library(photo, item.record, item.library_payload)
                self.state.add(item.key, item.record, item.thumbnail_jpeg)
                self.measured += 1
            else:
                error = item.error or f"{photo.relpath!r} could not be measured."
                self.errors.append(BatchError(photo.relpath, error))
                self.failed_by_patient[photo.patient] = (
                    self.failed_by_patient.get(photo.patient, 0) + 1
                )
            self.changed_patients.add(photo.patient)
            self.listener.photo_done(photo.relpath, error, result.worker)

    def _store_in_library(
        self, photo: PlannedPhoto, record: Record, payload: Mapping[str, Any]
    ) -> str | None:
        assert self.sink is not None
        try:
            self.sink.store(photo, record, payload)
        except (ScarViewError, OSError, ValueError) as exc:
            message = (
                f"{photo.relpath!r} was measured but could not be stored in the library: "
                f"{str(exc).strip().rstrip('.')}."
            )
            self.errors.append(BatchError(photo.relpath, message))
            return message
        return None

    def give_up(self, task: TrackTask, reason: str) -> None:
        """Report every photo of a task that could not run."""
        for job in task.measured_jobs:
            photo = self.plan.photos[job.index]
            message = f"{job.relpath!r} could not be measured: {reason}."
            self.errors.append(BatchError(job.relpath, message))
            self.failed_by_patient[photo.patient] = self.failed_by_patient.get(photo.patient, 0) + 1
            self.changed_patients.add(photo.patient)
            self.listener.photo_done(job.relpath, message, None)

    # -------------------------------------------------------------- reports

    def report_path(self, patient: str) -> Path:
        """``OUT_DIR/<patient>/report.pdf``."""
        return self.out_dir / patient / REPORT_NAME

    def wants_report(self, patient: str) -> bool:
        """A report is (re)written when something changed or it is missing.

        A patient none of whose photos could be measured gets no report.
        """
        if not self.options.report or not any(
            self.keys[p.index] in self.state for p in self.by_patient.get(patient, ())
        ):
            return False
        return patient in self.changed_patients or not self.report_path(patient).is_file()

    def report_task(self, patient: str) -> Any:
        """The patient's :class:`ReportData`, built from the stored results."""
        from scarview.batch.reports import report_data

        photos = self.by_patient.get(patient, [])
        records = self.records(photos)

        def thumbnail(index: int) -> bytes | None:
            path = self.state.thumbnail_path(self.keys[index])
            return None if path is None else path.read_bytes()

        return report_data(
            patient,
            photos,
            records,
            thumbnail,
            failed=self.failed_by_patient.get(patient, 0),
            clinic_name=self._clinic_name(),
        )

    def _clinic_name(self) -> str:
        if self.options.clinic_name is not None:
            return self.options.clinic_name
        from scarview.settings import load_settings

        return str(load_settings().clinic_name)

    def write_report(self, patient: str, pdf: bytes) -> None:
        """Write a rendered report atomically."""
        from scarview.atomic import atomic_write_bytes

        path = atomic_write_bytes(self.report_path(patient), pdf)
        self.reports.append(path)
        self.listener.message(f"wrote {path}")


def _make_executor(options: BatchOptions) -> Executor:
    if options.scheduler:
        return DaskExecutor(options.scheduler)
    workers = options.workers or available_cores()
    # Worker processes start when tasks are submitted, so a small batch starts few.
    return LocalExecutor(
        workers,
        cv_threads=max(1, available_cores() // max(1, workers)),
        max_tasks_per_child=options.max_tasks_per_child,
    )


class _Driver:
    """Drives an executor until every task and report is done, or the batch is cancelled.

    Tasks wait in a queue and at most :attr:`Executor.window` are submitted at
    a time: the parent holds no more than that in flight, and a local pool that
    is being replaced never runs beside a full new one.

    When a local worker process dies (killed, out of memory), every task in
    flight fails with the pool; the pool is restarted and those tasks are sent
    again. The tasks that were running when it died (all of the failed ones,
    when none was seen running) are suspects; a task suspected twice is given
    up and its photos reported, so one photo that kills its worker can neither
    stop the batch nor make it loop.
    """

    def __init__(self, batch: _Batch, executor: Executor) -> None:
        self.batch = batch
        self.executor = executor
        self.queue: deque[_Pending] = deque()
        self.pending: dict[Any, _Pending] = {}
        self.seen_running: set[Any] = set()

    def run(self, tasks: list[TrackTask]) -> None:
        """Run ``tasks`` (and the reports that follow) and wait for all of them."""
        batch = self.batch
        for task in tasks:
            patient = batch.plan.photos[task.jobs[0].index].patient
            batch.outstanding[patient] = batch.outstanding.get(patient, 0) + 1
            self.queue.append(_Pending("track", task, patient))
        if batch.options.report:
            for patient in batch.plan.patients:
                if batch.outstanding.get(patient, 0) == 0:
                    self.queue_report(patient)
        self.top_up()
        while self.pending:
            if batch.cancel is not None and batch.cancel.is_set():
                self.stop()
            self.seen_running.update(f for f in self.pending if _is_running(f))
            done = self.executor.wait(list(self.pending), _POLL_S)
            crashed: list[tuple[_Pending, bool]] = []
            for future in done:
                self.handle(future, self.pending.pop(future), crashed)
            if crashed:
                self.recover(crashed)
            self.top_up()
            if done:
                trim_heap()

    def top_up(self) -> None:
        """Submit queued tasks while fewer than the executor's window are in flight."""
        while self.queue and len(self.pending) < self.executor.window:
            entry = self.queue.popleft()
            fn = process_track if entry.kind == "track" else render_report_task
            self.pending[self.executor.submit(fn, entry.task)] = entry

    def stop(self) -> None:
        """Cancel: stop the workers, keep the results that arrived, raise Cancelled."""
        self.queue.clear()
        self.executor.close(list(self.pending), cancel=True)
        for future, entry in self.pending.items():
            if entry.kind == "track" and future.done() and not future.cancelled():
                with contextlib.suppress(Exception):
                    self.batch.take(future.result())
        raise Cancelled()

    def queue_report(self, patient: str) -> None:
        """Render a patient's report next, if it is wanted."""
        if self.batch.wants_report(patient):
            self.queue.appendleft(_Pending("report", self.batch.report_task(patient), patient))

    def finish(self, entry: _Pending) -> None:
        """A task is over; the patient's report follows their last one."""
        if entry.kind != "track":
            return
        outstanding = self.batch.outstanding
        outstanding[entry.patient] -= 1
        if outstanding[entry.patient] == 0 and self.batch.options.report:
            self.queue_report(entry.patient)

    def fail(self, entry: _Pending, exc: BaseException) -> None:
        """Report a task that could not run."""
        detail = str(exc).strip().rstrip(".") or type(exc).__name__
        if entry.kind == "track":
            self.batch.give_up(entry.task, detail)
        else:
            self.batch.errors.append(
                BatchError(
                    f"{entry.patient}/{REPORT_NAME}", f"The report could not be written ({detail})."
                )
            )
        self.finish(entry)

    def handle(self, future: Any, entry: _Pending, crashed: list[tuple[_Pending, bool]]) -> None:
        """Take one finished future (a crash is collected for :meth:`recover`)."""
        was_running = future in self.seen_running
        self.seen_running.discard(future)
        try:
            result = future.result()
        except Exception as exc:
            if self.executor.is_broken(exc):
                crashed.append((entry, was_running))
            else:
                self.fail(entry, exc)
            return
        if entry.kind == "track":
            self.batch.take(result)
        else:
            self.batch.write_report(entry.patient, result)
        self.finish(entry)

    def recover(self, crashed: list[tuple[_Pending, bool]]) -> None:
        """The workers died: blame the suspects, restart, queue the survivors again."""
        # Every task still in flight failed with the pool (or finished just before).
        for future, entry in list(self.pending.items()):
            del self.pending[future]
            if future.done() and not future.cancelled() and future.exception() is None:
                self.handle(future, entry, crashed)
            else:
                crashed.append((entry, future in self.seen_running))
        self.seen_running.clear()
        suspects = [e for e, running in crashed if running] or [e for e, _ in crashed]
        for entry in suspects:
            entry.crashes += 1
        self.executor.restart()
        for entry, _ in reversed(crashed):
            if entry.crashes >= _MAX_CRASHES:
                self.fail(entry, RuntimeError("its worker process stopped (out of memory?)"))
            else:
                self.queue.appendleft(entry)


def _is_running(future: Any) -> bool:
    running = getattr(future, "running", None)
    return bool(running()) if callable(running) else False


def run_batch(
    input_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    options: BatchOptions | None = None,
    *,
    listener: BatchListener | None = None,
    cancel: CancelToken | None = None,
) -> BatchSummary:
    """Measure every photo of a folder of patients and write the batch's outputs.

    Parameters
    ----------
    input_dir : str or PathLike
        ``INPUT_DIR/<patient>/<session>/<photos>`` (or photos grouped by EXIF date).
    out_dir : str or PathLike
        Receives ``measurements.csv``, ``errors.csv``, ``<patient>/report.pdf``
        and the resume state ``.scarview-batch/``.
    options : BatchOptions, optional
    listener : BatchListener, optional
        Progress (default: silent).
    cancel : CancelToken, optional
        Set it to stop the batch (Ctrl-C); finished photos are kept.

    Returns
    -------
    BatchSummary

    Raises
    ------
    InputError
        If ``input_dir`` is not a folder or ``out_dir`` is inside it or unwritable.
    BatchInterrupted
        If ``cancel`` was set before the batch finished.

    Notes
    -----
    Local workers are started with ``forkserver`` (or ``spawn``), which import
    the calling script's main module: a script calling this function must do
    so under ``if __name__ == "__main__":``, as for any multiprocessing code.
    """
    started = time.perf_counter()
    options = options or BatchOptions()
    listener = listener or SilentListener()
    source = Path(input_dir)
    target = Path(out_dir)
    _check_folders(source, target)
    plan = plan_batch(source, max_pixels=options.settings.max_pixels)
    for warning in plan.warnings:
        listener.message(f"warning: {warning}")
    sink = None
    if options.library is not None:
        from scarview.batch.library import LibrarySink

        listener.message(f"importing the photos into the library {str(options.library)!r}")
        try:
            sink = LibrarySink(options.library, plan, options.settings.to_dict(), cancel=cancel)
        except Cancelled:
            raise BatchInterrupted(0, len(plan.photos)) from None
    try:
        return _run(plan, source, target, options, listener, cancel, sink, started)
    finally:
        if sink is not None:
            sink.close()


def _run(
    plan: BatchPlan,
    source: Path,
    target: Path,
    options: BatchOptions,
    listener: BatchListener,
    cancel: CancelToken | None,
    sink: LibrarySink | None,
    started: float,
) -> BatchSummary:
    batch = _Batch(plan, target, options, listener, cancel, sink)
    tasks = batch.tasks()
    todo = sum(len(t.measured_jobs) for t in tasks)
    skipped = len(plan.photos) - todo
    if cancel is not None and cancel.is_set():
        raise BatchInterrupted(skipped, len(plan.photos))
    executor: Executor | None = None
    description = "no workers (nothing to measure)"
    if tasks or (options.report and any(batch.wants_report(p) for p in plan.patients)):
        executor = _make_executor(options)
        description = executor.description
        tasks = batch.tasks(executor.workers)
    listener.started(len(plan.photos), skipped, description)
    try:
        if executor is not None:
            completed = False
            try:
                _Driver(batch, executor).run(tasks)
                completed = True
            except Cancelled:
                raise BatchInterrupted(
                    sum(1 for p in plan.photos if batch.is_done(p)), len(plan.photos)
                ) from None
            finally:
                executor.close(cancel=not completed)
    finally:
        listener.finished()

    errors = list(batch.errors)
    counts = {"aligned": 0, "not_aligned": 0}

    def rows() -> Iterator[dict[str, str]]:
        # One patient's records at a time: the rows go straight into the CSV text.
        for photos in batch.by_patient.values():
            records = batch.records(photos)
            yield from outputs.measurement_rows(photos, records)
            for photo in photos:
                record = records.get(photo.index)
                if record is None or record.get("alignment") is None:
                    continue
                message = outputs.alignment_message(record)
                if message is None:
                    counts["aligned"] += 1
                else:
                    counts["not_aligned"] += 1
                    errors.append(BatchError(photo.relpath, message))

    measurements = outputs.write_measurements(target / outputs.MEASUREMENTS_CSV, rows())
    errors_csv = outputs.write_errors(target / outputs.ERRORS_CSV, errors)
    aligned, not_aligned = counts["aligned"], counts["not_aligned"]
    return BatchSummary(
        input_dir=source,
        out_dir=target,
        photos=len(plan.photos),
        measured=batch.measured,
        skipped=skipped,
        aligned=aligned,
        not_aligned=not_aligned,
        errors=tuple(sorted(set(errors), key=lambda e: (e.file, e.message))),
        warnings=plan.warnings,
        measurements_csv=measurements,
        errors_csv=errors_csv,
        reports=tuple(
            path
            for patient in plan.patients
            if options.report and (path := batch.report_path(patient)).is_file()
        ),
        reports_written=len(batch.reports),
        executor=description,
        elapsed_s=time.perf_counter() - started,
        workers=dict(batch.workers),
        library=None if sink is None else sink.summary(),
    )


def _check_folders(source: Path, target: Path) -> None:
    if not source.is_dir():
        raise InputError(source, "it is not a folder")
    try:
        target.resolve().relative_to(source.resolve())
    except ValueError:
        pass
    else:
        raise InputError(target, "the output folder must not be inside the input folder")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(target, f"the output folder cannot be created ({exc.strerror})") from None
    if not os.access(target, os.W_OK):
        raise InputError(target, "the output folder is not writable")
