"""``scarview batch`` on 100 pairs of 12-megapixel photos with 2 local workers.

Input: 100 patients, each with a baseline and a follow-up session of one view
(4000 x 3000 JPEG, q90, 40 px/mm, ArUco marker on the skin; the follow-up taken
from a slightly moved camera under a slightly different light, after one
session of healing). Rendering 12-megapixel synthetic photos is slow (about 8 s
each), so four distinct patients are rendered once and each of the 100 pairs is
one of them made byte-unique by a JPEG comment: every photo has its own
SHA-256, so nothing is skipped, and every photo is decoded, analysed and
aligned in full. The photos are cached under ``/tmp/scarview-bench-batch``.

The batch runs as ``scarview batch`` does by default (analysis, alignment,
change, one PDF report per patient), with ``workers=2``, into an empty output
folder. Rows:

* wall time of the whole batch (target <= 90 s), with the median time a worker
  spent reading and analysing one photo and aligning one pair;
* where a worker's time goes, as means over the batch from each photo's step
  timings (its record's ``timings_s``): per photo, reading, scaling (marker
  search and masks), the scar engine (``analyze_scars``), preparing for
  alignment (masks and pyramid) and the report thumbnail; per pair, alignment
  and change; one patient's PDF report rendered once more at the end. The
  non-engine cost of a pair is all of these but the two engine calls; beside it,
  the workers' whole time per pair (wall time times workers over pairs) less the
  engine, which also counts the reports, process start-up, waiting and the
  transfer of results;
* peak resident memory of each worker process (``VmHWM``, as the workers
  report it with each result; target <= 800 MB);
* memory after 10 pairs and after 100 pairs (target: within 10 %): the batch
  process's resident memory plus each current worker's resident memory as it
  reported it at the end of its latest task (between tasks, so the figure is
  what stays behind, not what a photo in progress happens to hold), taken when
  the 20th and the 200th photo are done. Every worker figure is taken at the
  same kind of moment, the end of a track task, after the task freed its
  garbage (see ``_release_free_memory`` in ``scarview.batch.tasks``); workers
  are replaced every 25 tasks, so the two samples come from workers of
  different ages, which is why a worker must not grow with the tasks it ran.
  Below it: the batch process alone and the workers alone at those two
  moments; the whole process tree's resident memory at those moments (it swings
  with what the workers are doing at that instant); a worker's memory at the
  end of each of its tasks over the first and the second half of the batch
  (median and range: the same moment of every task, so growth of the workers
  over the batch shows there whatever their age); and the batch process's
  memory after its first photo and at its highest.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from scarview.batch import BatchOptions, run_batch
from scarview.batch.progress import SilentListener
from scarview.batch.tasks import WorkerStats

CACHE = Path(tempfile.gettempdir()) / "scarview-bench-batch"
#: ``SCARVIEW_BENCH_BATCH_PAIRS=20`` runs a shorter batch (the first pairs of the same input).
PAIRS = int(os.environ.get("SCARVIEW_BENCH_BATCH_PAIRS", "100"))
TITLE = f"Batch: {PAIRS} pairs of 12 MP photos, 2 local workers (analysis, alignment, reports)"
DISTINCT = 4
WIDTH, HEIGHT, PX_PER_MM = 4000, 3000, 40.0
DATES = ("2026-01-05", "2026-02-02")
TARGET_WALL_S = 90.0
TARGET_WORKER_MB = 800.0
TARGET_GROWTH_PCT = 10.0


def _render_pairs() -> list[tuple[bytes, bytes]]:
    from scarview.synth import Camera, Capture, Light, SessionJitter, make_patient, session_captures

    pairs = []
    for seed in range(DISTINCT):
        photos = session_captures(
            make_patient(1000 + seed, n_scars=16),
            len(DATES),
            np.random.default_rng(1000 + seed),
            camera=Camera(width=WIDTH, height=HEIGHT, px_per_mm=PX_PER_MM, blur_px=0.8),
            light=Light(azimuth_deg=135.0, elevation_deg=40.0),
            capture=Capture(jpeg_quality=90),
            jitter=SessionJitter(zoom=(0.95, 1.05), rotation_deg=6.0, shift_mm=3.0),
            dates=[datetime.fromisoformat(date).replace(hour=10) for date in DATES],
        )
        before, after = (photo.encoded for photo in photos)
        pairs.append((before, after))
    return pairs


def _unique(jpeg: bytes, tag: str) -> bytes:
    """The same JPEG with a comment segment after SOI: other bytes, same pixels."""
    comment = f"scarview bench {tag}".encode("ascii")
    return jpeg[:2] + b"\xff\xfe" + (len(comment) + 2).to_bytes(2, "big") + comment + jpeg[2:]


def _input_folder() -> Path:
    folder = CACHE / f"in-{PAIRS}x{WIDTH}x{HEIGHT}"
    stamp = folder / ".complete"
    if stamp.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    pairs = _render_pairs()
    for i in range(PAIRS):
        before, after = pairs[i % DISTINCT]
        for date, jpeg in zip(DATES, (before, after), strict=True):
            target = folder / f"patient-{i:03d}" / date / "closeup.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(_unique(jpeg, f"{i}-{date}"))
    stamp.write_text("ok\n", "utf-8")
    return folder


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text("ascii").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return found
    for task in tasks:
        try:
            children = (task / "children").read_text("ascii").split()
        except OSError:
            continue
        for child in map(int, children):
            found.append(child)
            found.extend(_descendants(child))
    return found


class _MemoryProbe(SilentListener):
    """Samples memory when given numbers of photos are done."""

    def __init__(self, at_photos: tuple[int, ...], workers: int) -> None:
        self.at = set(at_photos)
        self.workers = workers
        self.done = 0
        self.latest: dict[int, tuple[int, float]] = {}  # pid -> (order, rss_mb at task end)
        #: photos done -> (batch process MB, current workers MB at task end, process tree MB)
        self.samples: dict[int, tuple[float, float, float]] = {}
        #: Every worker's resident memory at the end of every task (MB), in batch order.
        self.task_end_mb: list[float] = []
        #: The batch process's resident memory after every photo (MB).
        self.parent_mb: list[float] = []
        self._last_stats: WorkerStats | None = None

    def photo_done(self, relpath: str, error: str | None, worker: WorkerStats | None) -> None:
        self.done += 1
        self.parent_mb.append(_rss_mb(os.getpid()))
        if worker is not None:
            if worker is not self._last_stats:  # a task's photos share its figures
                self.task_end_mb.append(worker.rss_mb)
                self._last_stats = worker
            self.latest[worker.pid] = (self.done, worker.rss_mb)
        if self.done in self.at:
            parent = _rss_mb(os.getpid())
            current = sorted(self.latest.values(), reverse=True)[: self.workers]
            tree = parent + sum(_rss_mb(p) for p in _descendants(os.getpid()))
            self.samples[self.done] = (parent, sum(rss for _, rss in current), tree)


#: Per-photo and per-pair steps of a worker, from the records' ``timings_s``.
PHOTO_STEPS = ("read", "calibrate", "analyse", "prepare", "thumbnail")
PAIR_STEPS = ("align", "change")


def _step_means(out: Path) -> dict[str, float]:
    """Mean seconds of each step over the batch's records (resume state)."""
    steps: dict[str, list[float]] = {}
    for line in (out / ".scarview-batch" / "done.jsonl").read_text("utf-8").splitlines():
        record = json.loads(line).get("record") or {}
        for step, seconds in (record.get("timings_s") or {}).items():
            steps.setdefault(step, []).append(float(seconds))
    return {step: statistics.fmean(values) for step, values in steps.items()}


def _report_seconds(folder: Path, out: Path) -> float:
    """Render the first patient's report once more, as a worker does, and time it."""
    from scarview.batch.plan import plan_batch
    from scarview.batch.runner import _Batch
    from scarview.batch.tasks import render_report_task

    plan = plan_batch(folder)
    batch = _Batch(plan, out, BatchOptions(workers=1), SilentListener(), None)
    data = batch.report_task(plan.patients[0])
    t = time.perf_counter()
    render_report_task(data)
    return time.perf_counter() - t


def _spread(values: list[float]) -> str:
    return f"{statistics.median(values):.0f} [{min(values):.0f} - {max(values):.0f}]"


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} / {five:.1f} on {os.cpu_count()} cores"


def run() -> list[dict[str, object]]:
    """Measure the batch; rows of measured value and target."""
    t0 = time.perf_counter()
    folder = _input_folder()
    prepare_s = time.perf_counter() - t0
    probe = _MemoryProbe((min(20, 2 * PAIRS), 2 * PAIRS), workers=2)
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="scarview-bench-batch-out-") as out:
        start = time.perf_counter()
        summary = run_batch(folder, out, BatchOptions(workers=2), listener=probe)
        wall_s = time.perf_counter() - start
        load_after = _load()
        with summary.measurements_csv.open(encoding="utf-8", newline="") as handle:
            rows_csv = list(csv.DictReader(handle))
        means = _step_means(Path(out))
        report_s = _report_seconds(folder, Path(out))
    analysis_s = [float(r["analysis_s"]) for r in rows_csv if r["analysis_s"]]
    alignment_s = [float(r["alignment_s"]) for r in rows_csv if r["alignment_s"]]
    peak_mb = summary.peak_worker_rss_mb
    engine_per_pair = 2 * means.get("analyse", 0.0)
    non_engine_per_pair = 2 * sum(means.get(k, 0.0) for k in PHOTO_STEPS if k != "analyse") + sum(
        means.get(k, 0.0) for k in PAIR_STEPS
    )
    worker_s_per_pair = wall_s * 2 / PAIRS
    rows: list[dict[str, object]] = [
        {
            "measure": f"wall time, {PAIRS} pairs (s; {load_before} before, {load_after} after)",
            "value": round(wall_s, 1),
            "target": f"<= {TARGET_WALL_S * PAIRS / 100:.0f}",
            "ok": wall_s <= TARGET_WALL_S * PAIRS / 100,
        },
        {
            "measure": "photos measured / errors / aligned pairs",
            "value": f"{summary.measured} / {len(summary.errors)} / {summary.aligned}",
            "target": f"{2 * PAIRS} / 0 / {PAIRS}",
            "ok": summary.measured == 2 * PAIRS and not summary.errors,
        },
        {
            "measure": "  per photo: read + scale + analysis + preparation, median (s)",
            "value": round(statistics.median(analysis_s), 3) if analysis_s else "",
            "target": "",
            "ok": "",
        },
        {
            "measure": "  per pair: alignment + change, median (s)",
            "value": round(statistics.median(alignment_s), 3) if alignment_s else "",
            "target": "",
            "ok": "",
        },
    ]
    for step in PHOTO_STEPS:
        rows.append(
            {
                "measure": f"  per photo, mean: {step}"
                + (" (the scar engine)" if step == "analyse" else ""),
                "value": round(means.get(step, float("nan")), 4),
                "target": "",
                "ok": "",
            }
        )
    for step in PAIR_STEPS:
        rows.append(
            {
                "measure": f"  per pair, mean: {step}",
                "value": round(means.get(step, float("nan")), 4),
                "target": "",
                "ok": "",
            }
        )
    rows += [
        {
            "measure": "  per patient: PDF report (s, rendered once more after the batch)",
            "value": round(report_s, 3),
            "target": "",
            "ok": "",
        },
        {
            "measure": "non-engine cost per pair, in the tasks (s: all steps but the engine)",
            "value": round(non_engine_per_pair, 3),
            "target": "",
            "ok": "",
        },
        {
            "measure": "  the engine per pair (s: two analyze_scars calls)",
            "value": round(engine_per_pair, 3),
            "target": "",
            "ok": "",
        },
        {
            "measure": "  worker time per pair less the engine (s: + reports, start-up, waiting)",
            "value": round(worker_s_per_pair - engine_per_pair, 3),
            "target": "",
            "ok": "",
        },
        {
            "measure": "peak memory per worker (MB)",
            "value": round(peak_mb, 0),
            "target": f"<= {TARGET_WORKER_MB:.0f}",
            "ok": 0 < peak_mb <= TARGET_WORKER_MB,
        },
    ]
    early, late = probe.samples.get(min(20, 2 * PAIRS)), probe.samples.get(2 * PAIRS)
    if early and late:
        total_early, total_late = early[0] + early[1], late[0] + late[1]
        growth = 100.0 * (total_late - total_early) / total_early
        rows.append(
            {
                "measure": f"memory after 10 -> {PAIRS} pairs, batch + workers (MB)",
                "value": f"{total_early:.0f} -> {total_late:.0f} ({growth:+.1f} %)",
                "target": f"within {TARGET_GROWTH_PCT:.0f} %",
                "ok": abs(growth) <= TARGET_GROWTH_PCT,
            }
        )
        rows.append(
            {
                "measure": "  batch process alone (MB)",
                "value": f"{early[0]:.0f} -> {late[0]:.0f}",
                "target": "",
                "ok": "",
            }
        )
        rows.append(
            {
                "measure": "  current workers alone, at the end of their latest task (MB)",
                "value": f"{early[1]:.0f} -> {late[1]:.0f}",
                "target": "",
                "ok": "",
            }
        )
        rows.append(
            {
                "measure": "  process tree at that instant (MB)",
                "value": f"{early[2]:.0f} -> {late[2]:.0f}",
                "target": "",
                "ok": "",
            }
        )
    if probe.task_end_mb:
        ends = probe.task_end_mb
        half = len(ends) // 2
        rows.append(
            {
                "measure": "  a worker at the end of a task, first -> second half of the batch "
                "(MB: median [min - max])",
                "value": f"{_spread(ends[:half] or ends)} -> {_spread(ends[half:])}",
                "target": "",
                "ok": "",
            }
        )
    if probe.parent_mb:
        rows.append(
            {
                "measure": "  batch process over the batch (MB: first photo, max)",
                "value": f"{probe.parent_mb[0]:.0f}, {max(probe.parent_mb):.0f}",
                "target": "",
                "ok": "",
            }
        )
    rows.append(
        {
            "measure": "worker processes used / reports written",
            "value": f"{len(summary.workers)} / {summary.reports_written}",
            "target": "",
            "ok": "",
        }
    )
    rows.append(
        {
            "measure": "preparing the input (s, cached after the first run)",
            "value": round(prepare_s, 1),
            "target": "",
            "ok": "",
        }
    )
    return rows
