"""How a running batch tells the user where it is.

On a terminal: a tqdm bar on stderr (photos done, rate, time left). Otherwise
(a log file, a pipe, a scheduler's job output): one plain line per finished
photo on stderr, with the count, the rate and the time left, so logs stay
readable and greppable. Library users pass their own :class:`BatchListener`.
"""

from __future__ import annotations

import sys
import time
from typing import IO, Any, Protocol

from scarview.batch.tasks import WorkerStats


class BatchListener(Protocol):
    """Receives the batch's progress in the parent process."""

    def started(self, total: int, skipped: int, description: str) -> None:
        """The batch starts: ``total`` photos, ``skipped`` of them measured by an earlier run."""
        ...

    def photo_done(self, relpath: str, error: str | None, worker: WorkerStats | None) -> None:
        """One photo is finished (``error`` is a sentence when it could not be measured)."""
        ...

    def message(self, text: str) -> None:
        """A line worth telling (a warning, a report written)."""
        ...

    def finished(self) -> None:
        """The batch is over (completed or interrupted)."""
        ...


class SilentListener:
    """Says nothing."""

    def started(self, total: int, skipped: int, description: str) -> None:
        """Ignore."""

    def photo_done(self, relpath: str, error: str | None, worker: WorkerStats | None) -> None:
        """Ignore."""

    def message(self, text: str) -> None:
        """Ignore."""

    def finished(self) -> None:
        """Ignore."""


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {(seconds % 3600) // 60:02d} min"


class LogListener:
    """Plain log lines: ``scarview batch: [12/200] alice/2026-01-05/frontal.jpg measured ...``.

    Parameters
    ----------
    stream : text stream, optional
        Default ``sys.stderr``.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._total = 0
        self._done = 0
        self._start = time.monotonic()

    def _print(self, text: str) -> None:
        stream = self._stream or sys.stderr
        print(f"scarview batch: {text}", file=stream, flush=True)

    def started(self, total: int, skipped: int, description: str) -> None:
        """Say what will be done."""
        todo = total - skipped
        self._total = todo
        self._start = time.monotonic()
        already = f"; {skipped} already measured with the same settings are skipped" * bool(skipped)
        self._print(f"{todo} photo{'s' * (todo != 1)} to measure on {description}{already}.")

    def photo_done(self, relpath: str, error: str | None, worker: WorkerStats | None) -> None:
        """One line per photo, with the rate and the time left."""
        self._done += 1
        elapsed = time.monotonic() - self._start
        rate = self._done / elapsed if elapsed > 0 else 0.0
        left = (self._total - self._done) / rate if rate > 0 else 0.0
        what = f"error: {error}" if error else "measured"
        self._print(
            f"[{self._done}/{self._total}] {relpath} {what} "
            f"({rate * 60:.1f} photos/min, about {_duration(left)} left)"
        )

    def message(self, text: str) -> None:
        """Print ``text``."""
        self._print(text)

    def finished(self) -> None:
        """Nothing more to print."""


class TqdmListener:
    """A progress bar on a terminal (stderr): photos done, rate, time left."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream
        self._bar: Any = None

    def started(self, total: int, skipped: int, description: str) -> None:
        """Open the bar."""
        from tqdm import tqdm

        stream = self._stream or sys.stderr
        todo = total - skipped
        note = f" ({skipped} already measured, skipped)" if skipped else ""
        print(
            f"scarview batch: {todo} photo{'s' * (todo != 1)} to measure on {description}{note}.",
            file=stream,
        )
        self._bar = tqdm(total=todo, unit="photo", desc="Measuring", file=stream, smoothing=0.1)

    def photo_done(self, relpath: str, error: str | None, worker: WorkerStats | None) -> None:
        """Advance the bar; errors are printed above it."""
        if self._bar is None:
            return
        if error:
            self._bar.write(f"scarview batch: error: {error}", file=self._stream or sys.stderr)
        self._bar.update(1)

    def message(self, text: str) -> None:
        """Print ``text`` above the bar."""
        if self._bar is None:
            print(f"scarview batch: {text}", file=self._stream or sys.stderr)
        else:
            self._bar.write(f"scarview batch: {text}", file=self._stream or sys.stderr)

    def finished(self) -> None:
        """Close the bar."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def default_listener(stream: IO[str] | None = None) -> BatchListener:
    """A bar when ``stream`` (default stderr) is a terminal, plain log lines otherwise."""
    target = stream or sys.stderr
    isatty = getattr(target, "isatty", None)
    if callable(isatty) and isatty():
        return TqdmListener(stream)
    return LogListener(stream)
