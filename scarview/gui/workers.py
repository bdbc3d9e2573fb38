"""Background work for the GUI: ``QRunnable`` workers on ``QThreadPool`` s.

The GUI thread never runs anything slow. A :class:`TaskRunner` starts a
function on a worker thread, hands it a ``progress(fraction, message)``
callback and a ``cancel`` event (:class:`threading.Event`, the cooperative
cancel every core function accepts), and delivers the outcome back on the GUI
thread through the signals of a :class:`WorkerSignals` helper object (signals
emitted from a worker thread reach GUI-thread slots as queued calls). Only the
GUI thread touches widgets.

Two pools keep the window responsive: ``heavy`` (one thread) runs imports and
analyses one at a time; ``light`` (two threads) decodes photos, makes
thumbnails and draws charts. A task submitted with a ``key`` supersedes the
previous task of the same key: that one is cancelled and its result dropped,
so a quick click through sessions never shows a stale pair.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from scarview.errors import Cancelled, ScarViewError

log = logging.getLogger(__name__)

__all__ = ["Task", "TaskRunner", "Worker", "WorkerSignals"]


class WorkerSignals(QObject):
    """Signals of one worker; emitted on the worker thread, received on the GUI thread.

    Signals
    -------
    progressed(float, str)
        Fraction done (0 to 1) and what is happening.
    succeeded(object)
        The function's return value.
    failed(str)
        One sentence for the user.
    cancelled()
        The work stopped because its cancel event was set.
    finished()
        Always emitted last, whatever the outcome.
    """

    progressed = Signal(float, str)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    finished = Signal()


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


class Worker(QRunnable):
    """Run ``fn(*args, progress=..., cancel=..., **kwargs)`` on a pool thread.

    ``progress`` and ``cancel`` are passed only when ``fn`` accepts them.
    Exceptions never escape: a :class:`~scarview.errors.ScarViewError` becomes
    its one-sentence message, :class:`~scarview.errors.Cancelled` the
    ``cancelled`` signal, anything else a logged traceback and a short message.
    """

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.setAutoDelete(False)  # Python keeps the reference until ``finished`` is handled
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.cancel_event = threading.Event()
        self.signals = WorkerSignals()
        self._last_progress = 0.0

    def _progress(self, fraction: float, message: str) -> None:
        # At most ~30 updates a second reach the GUI thread; the last one always does.
        now = time.monotonic()
        if fraction < 1.0 and now - self._last_progress < 0.033:
            return
        self._last_progress = now
        self.signals.progressed.emit(float(fraction), str(message))

    def run(self) -> None:
        """Called by the pool on its thread."""
        kwargs = dict(self.kwargs)
        if _accepts(self.fn, "progress"):
            kwargs.setdefault("progress", self._progress)
        if _accepts(self.fn, "cancel"):
            kwargs.setdefault("cancel", self.cancel_event)
        try:
            if self.cancel_event.is_set():
                raise Cancelled()
            result = self.fn(*self.args, **kwargs)
            if self.cancel_event.is_set():
                raise Cancelled()
        except Cancelled:
            self.signals.cancelled.emit()
        except ScarViewError as exc:
            self.signals.failed.emit(str(exc))
        except Exception as exc:
            log.error("Background task failed:\n%s", traceback.format_exc())
            self.signals.failed.emit(f"Unexpected error: {exc}")
        else:
            self.signals.succeeded.emit(result)
        finally:
            self.signals.finished.emit()


@dataclass
class Task:
    """A submitted worker as the runner tracks it.

    Attributes
    ----------
    worker : Worker
    key : str or None
        Tasks sharing a key supersede each other.
    label : str
        What the status bar says while it runs ("" for a silent task).
    fraction : float
        Last progress reported, 0 to 1.
    message : str
        Last progress message.
    superseded : bool
        A newer task of the same key replaced it; its outcome is ignored.
    """

    worker: Worker
    key: str | None
    label: str
    fraction: float = 0.0
    message: str = ""
    superseded: bool = False
    callbacks: dict[str, Callable[..., None] | None] = field(default_factory=dict)

    def cancel(self) -> None:
        """Ask the work to stop at its next cancel check."""
        self.worker.cancel_event.set()


class TaskRunner(QObject):
    """Starts, tracks and cancels the GUI's background tasks.

    Signals
    -------
    status_changed(str, float, bool)
        The status-bar text for the visible tasks, their mean progress (0 to 1,
        or -1 when unknown), and whether any visible task is running.
    """

    status_changed = Signal(str, float, bool)

    def __init__(self, parent: QObject | None = None, *, light_threads: int = 2) -> None:
        super().__init__(parent)
        self.heavy = QThreadPool(self)
        self.heavy.setMaxThreadCount(1)
        self.light = QThreadPool(self)
        self.light.setMaxThreadCount(max(1, light_threads))
        self._tasks: list[Task] = []
        self._shut_down = False

    # ----------------------------------------------------------------- submit

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        key: str | None = None,
        label: str = "",
        heavy: bool = False,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_cancel: Callable[[], None] | None = None,
        on_done: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> Task | None:
        """Run ``fn`` in the background and call back on the GUI thread.

        Parameters
        ----------
        fn : callable
            Receives ``progress`` and ``cancel`` keywords when it accepts them.
        *args, **kwargs
            Passed to ``fn``.
        key : str, optional
            A task with the same key still running is cancelled and its
            outcome ignored.
        label : str
            Shown in the status bar with the progress; empty for quick,
            silent tasks (thumbnails, charts).
        heavy : bool
            Queue on the one-thread pool for imports and analyses.
        on_result, on_error, on_cancel, on_done : callable, optional
            Called on the GUI thread with the result, with the error sentence,
            on cancellation, and always at the end.

        Returns
        -------
        Task or None
            None after :meth:`shutdown`.
        """
        if self._shut_down:
            return None
        if key is not None:
            for old in self._tasks:
                if old.key == key and not old.superseded:
                    old.superseded = True
                    old.cancel()
        worker = Worker(fn, *args, **kwargs)
        task = Task(
            worker,
            key,
            label,
            callbacks={
                "result": on_result,
                "error": on_error,
                "cancel": on_cancel,
                "done": on_done,
            },
        )
        signals = worker.signals
        signals.progressed.connect(partial(self._on_task_progressed, task))
        signals.succeeded.connect(partial(self._call, task, "result"))
        signals.failed.connect(partial(self._call, task, "error"))
        signals.cancelled.connect(partial(self._call, task, "cancel"))
        signals.finished.connect(partial(self._on_task_finished, task))
        self._tasks.append(task)
        (self.heavy if heavy else self.light).start(worker)
        self._emit_status()
        return task

    # ---------------------------------------------------------------- queries

    @property
    def tasks(self) -> tuple[Task, ...]:
        """Tasks submitted and not yet finished."""
        return tuple(self._tasks)

    def is_busy(self, *, visible_only: bool = False) -> bool:
        """True while any (visible, when asked) task is running or queued."""
        return any(t.label or not visible_only for t in self._tasks)

    def has_task(self, key: str) -> bool:
        """True while a task of this key (not superseded) is running or queued."""
        return any(t.key == key and not t.superseded for t in self._tasks)

    # ----------------------------------------------------------------- cancel

    def cancel_visible(self) -> None:
        """Cancel the tasks the status bar shows (imports, analyses)."""
        for task in self._tasks:
            if task.label:
                task.cancel()

    def cancel_all(self) -> None:
        """Cancel every task; they stop at their next cancel check."""
        for task in self._tasks:
            task.cancel()

    def shutdown(self, timeout_ms: int = 30_000) -> bool:
        """Cancel everything, wait for the threads and refuse new tasks.

        Returns
        -------
        bool
            True when every worker thread finished within ``timeout_ms``.
        """
        self._shut_down = True
        self.cancel_all()
        deadline = time.monotonic() + timeout_ms / 1000.0
        done = True
        for pool in (self.heavy, self.light):
            remaining = max(0, int((deadline - time.monotonic()) * 1000))
            done = pool.waitForDone(remaining) and done
        if done:
            # Their outcomes are still queued for the GUI thread; nobody wants them now.
            self._tasks.clear()
            self._emit_status()
        return done

    # ------------------------------------------------------------------ slots

    def _call(self, task: Task, which: str, *args: Any) -> None:
        if task.superseded or self._shut_down:
            return
        callback = task.callbacks.get(which)
        if callback is not None:
            callback(*args)

    def _on_task_progressed(self, task: Task, fraction: float, message: str) -> None:
        task.fraction = fraction
        task.message = message
        if task.label:
            self._emit_status()

    def _on_task_finished(self, task: Task) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        self._call(task, "done")
        self._emit_status()

    def _emit_status(self) -> None:
        visible = [t for t in self._tasks if t.label and not t.superseded]
        if not visible:
            self.status_changed.emit("", -1.0, False)
            return
        current = visible[0]
        text = current.label
        if current.message:
            text = f"{text}: {current.message}"
        if len(visible) > 1:
            text += f"  (+{len(visible) - 1} queued)"
        self.status_changed.emit(text, current.fraction, True)
