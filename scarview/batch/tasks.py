"""The work a batch sends to its workers: plain, picklable tasks and small results.

One :class:`TrackTask` is one patient's view followed across sessions: its
baseline photo is read and analysed once, then every later photo of that view is
read, analysed, aligned onto it and compared. Tracks are independent, so they
run in parallel on local processes or on a Dask cluster alike; both executors
call the same top-level function, :func:`process_track`.

Results are small: numbers (:mod:`scarview.batch.results` records) and, when
asked for, JPEG thumbnails of the overlays for the reports. Pixel arrays never
leave the worker. Each result also carries the worker's process id and memory
(current and peak resident set), so the parent can watch memory over a long
batch.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import os
import resource
import signal
import socket
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from numpy.typing import NDArray

from scarview.batch.results import (
    Record,
    alignment_record,
    calibration_record,
    summary_record,
)
from scarview.core.pipeline import AnalysisSettings, PhotoAnalysis, PreparedPhoto
from scarview.core.types import Alignment, CancelToken, check_cancel
from scarview.errors import Cancelled, PhotoError
from scarview.report.data import PRINT_MAX_SIDE_PX, ReportData

#: Long side, in pixels, of the overlay thumbnails made for the reports (their print size).
THUMBNAIL_LONG_SIDE_PX = PRINT_MAX_SIDE_PX
_THUMBNAIL_JPEG_QUALITY = 95

_cancel: CancelToken | None = None


@dataclass(frozen=True)
class PhotoJob:
    """One photo of a track.

    Attributes
    ----------
    index : int
        The photo's index in the batch plan.
    path : str
        Absolute path of the file (the worker reads it itself).
    relpath : str
        Path relative to the input folder, to name the file in messages.
    sha256 : str
        The file's SHA-256 as planned (a file changed since is reported).
    key : str
        Result key (see :func:`scarview.batch.results.result_key`).
    measure : bool
        False for a baseline photo already measured: it is analysed again only
        as the reference of its follow-ups, and no result is sent for it.
    thumbnail : bool
        Send the overlay thumbnail for the report.
    library : bool
        Send the label image and scars too, for ``--library``.
    """

    index: int
    path: str
    relpath: str
    sha256: str
    key: str
    measure: bool = True
    thumbnail: bool = False
    library: bool = False


@dataclass(frozen=True)
class TrackTask:
    """A baseline photo and the later photos aligned onto it.

    Attributes
    ----------
    baseline : PhotoJob or None
        Analysed first; ``None`` when the view has no baseline photo (the
        follow-ups are then measured without alignment).
    followups : tuple of PhotoJob
        Analysed, aligned onto the baseline and compared, one after another.
    settings : AnalysisSettings
        Scale options, the same for every photo of the batch.
    thumbnail_long_side_px : int
    """

    baseline: PhotoJob | None
    followups: tuple[PhotoJob, ...]
    settings: AnalysisSettings
    thumbnail_long_side_px: int = THUMBNAIL_LONG_SIDE_PX

    @property
    def jobs(self) -> tuple[PhotoJob, ...]:
        """Every photo of the task, baseline first."""
        return ((self.baseline,) if self.baseline is not None else ()) + self.followups

    @property
    def measured_jobs(self) -> tuple[PhotoJob, ...]:
        """The photos whose results the task sends."""
        return tuple(j for j in self.jobs if j.measure)


@dataclass(frozen=True)
class PhotoResult:
    """What a worker found for one photo.

    Attributes
    ----------
    index : int
        The photo's index in the batch plan.
    key : str
    record : dict or None
        JSON-ready measurement (see :mod:`scarview.batch.results`); ``None``
        when the photo could not be read or analysed.
    error : str or None
        One sentence naming the file, when ``record`` is ``None``.
    thumbnail_jpeg : bytes or None
        The overlay (for a follow-up: warped into its baseline's frame), JPEG.
    library_payload : dict or None
        For ``--library``: ``labels_png`` (16-bit PNG bytes of the label image),
        ``scars`` (tuple of Scar), ``px_per_mm``, ``roi_polygon``,
        ``light_azimuth_deg`` and ``warnings`` of the scar map.
    """

    index: int
    key: str
    record: Record | None
    error: str | None = None
    thumbnail_jpeg: bytes | None = None
    library_payload: dict[str, Any] | None = None


@dataclass(frozen=True)
class WorkerStats:
    """A worker process's identity and memory when it finished a task.

    Attributes
    ----------
    pid : int
    host : str
    rss_mb : float
        Resident memory now, MiB.
    peak_rss_mb : float
        Highest resident memory of the process so far, MiB.
    """

    pid: int
    host: str
    rss_mb: float
    peak_rss_mb: float


@dataclass(frozen=True)
class TrackResult:
    """The results of one :class:`TrackTask`."""

    photos: tuple[PhotoResult, ...]
    worker: WorkerStats
    elapsed_s: float = 0.0
    cancelled: bool = False


# ------------------------------------------------------------------ worker setup


def init_worker(cancel: CancelToken | None, cv_threads: int) -> None:
    """Set up a local worker process (``ProcessPoolExecutor`` initializer).

    Ctrl-C is the parent's to handle (it asks the workers to stop through
    ``cancel``), so workers ignore SIGINT; OpenCV gets ``cv_threads`` threads so
    that the workers together do not oversubscribe the cores.
    """
    global _cancel
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _cancel = cancel
    cv2.setNumThreads(max(1, int(cv_threads)))


def memory_mb() -> tuple[float, float]:
    """Return this process's resident memory now and at its peak, in MiB."""
    rss = peak = 0.0
    try:
        with Path("/proc/self/status").open(encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1]) / 1024.0
                elif line.startswith("VmHWM:"):
                    peak = int(line.split()[1]) / 1024.0
    except OSError:
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        peak = maxrss / (1024.0 * 1024.0) if sys.platform == "darwin" else maxrss / 1024.0
        rss = peak
    return rss, peak


def _worker_stats() -> WorkerStats:
    rss, peak = memory_mb()
    return WorkerStats(os.getpid(), socket.gethostname(), rss, peak)


# ------------------------------------------------------------------ thumbnails


def _jpeg(rgb: NDArray[np.uint8]) -> bytes:
    ok, data = cv2.imencode(
        ".jpg",
        cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2BGR),
        [cv2.IMWRITE_JPEG_QUALITY, _THUMBNAIL_JPEG_QUALITY],
    )
    if not ok:  # pragma: no cover - OpenCV always encodes uint8 RGB
        raise OSError("JPEG encoding failed")
    return bytes(data.tobytes())


def _thumbnail(analysis: PhotoAnalysis, long_side_px: int) -> bytes:
    """The photo at print size with its scars outlined, as the report draws them."""
    from scarview.report.images import print_overlay

    return _jpeg(
        print_overlay(analysis.photo.rgb, analysis.scarmap.scars, max_side_px=long_side_px)
    )


def _aligned_thumbnail(
    before: PhotoAnalysis, after: PhotoAnalysis, homography: NDArray[np.float64], long_side_px: int
) -> bytes:
    """AFTER at print size, warped into BEFORE's frame, with AFTER's scars outlined."""
    from scarview.report.images import print_overlay_aligned

    return _jpeg(
        print_overlay_aligned(
            after.photo.rgb,
            after.scarmap.scars,
            homography,
            before.photo.rgb.shape[:2],
            max_side_px=long_side_px,
        )
    )


# ------------------------------------------------------------------ the task


def _describe_failure(relpath: str, exc: BaseException) -> str:
    if isinstance(exc, PhotoError):
        return str(PhotoError(relpath, exc.reason))
    if isinstance(exc, MemoryError):
        return f"{relpath!r} could not be analysed: there was not enough memory."
    detail = str(exc).strip().rstrip(".") or type(exc).__name__
    return f"{relpath!r} could not be analysed ({type(exc).__name__}: {detail})."


def _analyze(
    job: PhotoJob, settings: AnalysisSettings, cancel: CancelToken | None, *, align: bool
) -> PreparedPhoto | PhotoAnalysis:
    """Read and analyse a photo (and prepare it for alignment when ``align``).

    The photo is decoded once; its luminance serves the marker search and the
    alignment both (see :func:`scarview.core.pipeline.prepare_photo`).
    """
    from scarview.core.pipeline import analyze_photo, prepare_photo

    result = (
        prepare_photo(job.path, settings, cancel=cancel)
        if align
        else analyze_photo(job.path, settings, cancel=cancel)
    )
    analysis = result.analysis if isinstance(result, PreparedPhoto) else result
    if analysis.photo.info.sha256 != job.sha256:
        raise PhotoError(job.relpath, "the file changed while the batch was running")
    return result


def _base_record(analysis: PhotoAnalysis, elapsed_s: float) -> Record:
    """A photo's record; ``timings_s`` holds its steps' seconds (not written to the CSV)."""
    return {
        "sha256": analysis.photo.info.sha256,
        "width": int(analysis.photo.info.width),
        "height": int(analysis.photo.info.height),
        "captured_at": None
        if analysis.photo.info.captured_at is None
        else analysis.photo.info.captured_at.isoformat(timespec="seconds"),
        "calibration": calibration_record(analysis.calibration),
        "summary": summary_record(analysis.scarmap.summary),
        "algorithm_version": analysis.scarmap.algorithm_version,
        "warnings": [str(w) for w in analysis.warnings],
        "baseline_sha256": None,
        "alignment": None,
        "analysis_s": elapsed_s,
        "alignment_s": None,
        "timings_s": {str(k): float(v) for k, v in analysis.timings_s.items()},
    }


def process_track(task: TrackTask) -> TrackResult:
    """Measure a track: analyse its baseline, then analyse, align and compare each follow-up.

    A photo that cannot be read or analysed gets an error result and the
    others go on; follow-ups of a baseline that failed are measured and
    reported as not aligned. Runs in a worker process (local or Dask).

    Parameters
    ----------
    task : TrackTask

    Returns
    -------
    TrackResult
        One :class:`PhotoResult` per photo with ``measure`` set, baseline first.
        When the batch is interrupted (local workers only): the photos finished
        so far, with ``cancelled`` set. Cancellation is returned rather than
        raised because ScarView's exceptions do not pickle across processes.
    """
    started = time.perf_counter()
    results: list[PhotoResult] = []
    try:
        _measure_track(task, results)
    except Cancelled:
        _release_free_memory()
        return TrackResult(tuple(results), _worker_stats(), time.perf_counter() - started, True)
    _release_free_memory()
    return TrackResult(tuple(results), _worker_stats(), time.perf_counter() - started)


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, or None where there is none."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def _release_free_memory() -> None:
    """Free a finished task's garbage and hand the C heap's free pages back to the system.

    First a full garbage collection: a report's matplotlib figures (and their
    raster buffers) live in reference cycles, which only Python's cyclic
    collector frees, and it runs a full pass rarely -- without this, a worker's
    memory climbs by tens of MB over a few reports and drops at some later
    task. Then trimming: a 12-megapixel track frees hundreds of MB of arrays;
    glibc keeps much of it in its arenas (one per thread that allocated), so a
    worker's resident memory would show what it once needed rather than what it
    holds. Both keep a long batch's memory flat and its figures honest; the
    trim is a no-op off glibc.
    """
    gc.collect()
    trim_heap()


def trim_heap() -> None:
    """Return the C heap's free pages to the system (glibc's ``malloc_trim``; else a no-op).

    The batch process calls it too, after each result: results are unpickled
    and reports pickled on the executor's threads, each with its own glibc
    arena, whose freed pages would otherwise stay resident.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _measure_track(task: TrackTask, results: list[PhotoResult]) -> None:
    cancel = _cancel
    base = None
    if task.baseline is not None:
        base = _measure_baseline(task, task.baseline, results, cancel)
    for job in task.followups:
        check_cancel(cancel)
        results.append(_measure_followup(task, job, base, cancel))


def _measure_baseline(
    task: TrackTask, job: PhotoJob, results: list[PhotoResult], cancel: CancelToken | None
) -> PreparedPhoto | None:
    """Analyse the baseline photo once for all its follow-ups (``None`` when it failed).

    It is prepared for alignment too when it has follow-ups: its pyramid and
    masks then serve every one of them.
    """
    check_cancel(cancel)
    t0 = time.perf_counter()
    try:
        analysed = _analyze(job, task.settings, cancel, align=bool(task.followups))
    except Cancelled:
        raise
    except Exception as exc:  # one bad photo never stops the batch
        if job.measure:
            results.append(
                PhotoResult(job.index, job.key, None, _describe_failure(job.relpath, exc))
            )
        return None
    elapsed = time.perf_counter() - t0
    base = analysed.analysis if isinstance(analysed, PreparedPhoto) else analysed
    if job.measure:
        record = _base_record(base, elapsed)
        thumb = None
        if job.thumbnail:
            t1 = time.perf_counter()
            thumb = _thumbnail(base, task.thumbnail_long_side_px)
            record["timings_s"]["thumbnail"] = time.perf_counter() - t1
        results.append(
            PhotoResult(job.index, job.key, record, None, thumb, _library_payload(job, base))
        )
    return analysed if isinstance(analysed, PreparedPhoto) else None


def _library_payload(job: PhotoJob, analysis: PhotoAnalysis) -> dict[str, Any] | None:
    if not job.library:
        return None
    from scarview.batch.library import encode_labels

    scarmap = analysis.scarmap
    return {
        "labels_png": encode_labels(scarmap.labels),
        "scars": tuple(scarmap.scars),
        "px_per_mm": scarmap.px_per_mm,
        "roi_polygon": scarmap.roi_polygon,
        "light_azimuth_deg": scarmap.light_azimuth_deg,
        "warnings": tuple(scarmap.warnings),
    }


def _compare(
    base: PreparedPhoto | None,
    after: PreparedPhoto,
    baseline: PhotoJob,
    cancel: CancelToken | None,
) -> tuple[Alignment, dict[str, float]]:
    """Align AFTER onto the baseline; a failure of any kind is an alignment that is not ok.

    Returns the alignment and the seconds of its steps (``"align"``, ``"change"``).
    The alignment seeds OpenCV's random generator itself, so every run, resumed
    or on another executor, gives the same figures.
    """
    if base is None:
        return Alignment(
            ok=False,
            method="none",
            homography=None,
            reason=f"the baseline photo {baseline.relpath!r} could not be analysed",
        ), {}
    from scarview.core.pipeline import compare_loaded

    try:
        comparison = compare_loaded(
            base.analysis,
            after.analysis,
            cancel=cancel,
            before_input=base.alignment_input,
            after_input=after.alignment_input,
        )
    except Cancelled:
        raise
    except Exception as exc:
        detail = str(exc).strip().rstrip(".") or type(exc).__name__
        return Alignment(
            ok=False,
            method="none",
            homography=None,
            reason=f"the alignment stopped with an error ({detail})",
        ), {}
    return comparison.alignment, dict(comparison.timings_s)


def _measure_followup(
    task: TrackTask, job: PhotoJob, base: PreparedPhoto | None, cancel: CancelToken | None
) -> PhotoResult:
    """Analyse a later photo and align it onto the baseline (when there is one)."""
    long_side = task.thumbnail_long_side_px
    t0 = time.perf_counter()
    try:
        analysed = _analyze(job, task.settings, cancel, align=task.baseline is not None)
    except Cancelled:
        raise
    except Exception as exc:
        return PhotoResult(job.index, job.key, None, _describe_failure(job.relpath, exc))
    after = analysed.analysis if isinstance(analysed, PreparedPhoto) else analysed
    record = _base_record(after, time.perf_counter() - t0)
    thumb: bytes | None = None
    payload = _library_payload(job, after)
    if task.baseline is None or not isinstance(analysed, PreparedPhoto):
        if job.thumbnail:
            t2 = time.perf_counter()
            thumb = _thumbnail(after, long_side)
            record["timings_s"]["thumbnail"] = time.perf_counter() - t2
        return PhotoResult(job.index, job.key, record, None, thumb, payload)
    t1 = time.perf_counter()
    alignment, steps = _compare(base, analysed, task.baseline, cancel)
    record["baseline_sha256"] = task.baseline.sha256
    record["alignment"] = alignment_record(alignment)
    record["alignment_s"] = time.perf_counter() - t1
    record["timings_s"].update(steps)
    if job.thumbnail:
        t2 = time.perf_counter()
        if base is not None and alignment.ok and alignment.homography is not None:
            thumb = _aligned_thumbnail(base.analysis, after, alignment.homography, long_side)
        else:
            thumb = _thumbnail(after, long_side)
        record["timings_s"]["thumbnail"] = time.perf_counter() - t2
    return PhotoResult(job.index, job.key, record, None, thumb, payload)


# ------------------------------------------------------------------ reports


def render_report_task(data: ReportData) -> bytes:
    """Render a patient's PDF report in a worker and return its bytes.

    The parent writes the file (atomically), so a Dask cluster need not see
    the output folder.
    """
    from scarview.report.pdf import render_report

    with tempfile.TemporaryDirectory(prefix="scarview-report-") as tmp:
        out = Path(tmp) / "report.pdf"
        render_report(data, out)
        pdf = out.read_bytes()
    _release_free_memory()
    return pdf
