"""Where batch tasks run: local worker processes, or an existing Dask cluster.

Both executors take the same top-level functions of :mod:`scarview.batch.tasks`
and plain arguments, and give back futures with ``result()``; the batch loop
does not know which one it drives.

Local processes are started with ``forkserver`` (``spawn`` where there is no
fork), never plain ``fork``, since the parent runs threads; the forkserver
pre-imports the analysis modules and renders one throwaway report
(:mod:`scarview.batch.warmup`), so fresh workers start in milliseconds, all alike.
Workers are replaced after about ``max_tasks_per_child`` tasks each, so memory
stays flat over a long batch whatever the libraries underneath keep. This is
done by retiring the whole pool and starting a new one (the retired pool
finishes what it was given, then its workers exit), not with
``ProcessPoolExecutor(max_tasks_per_child=...)``: on Python 3.11 that option
can leave the pool without workers and hang (CPython issue 115634).

The batch keeps only :attr:`Executor.window` tasks submitted at a time, so a
retired pool and its successor never run more than that many tasks together.

Dask (``pip install 'scarview[distributed]'``) is imported only when a
scheduler address is given.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Collection
from typing import Any, Protocol

from scarview.batch.tasks import init_worker
from scarview.errors import InputError, ScarViewError

#: Tasks a local worker runs before it is replaced by a fresh process.
DEFAULT_MAX_TASKS_PER_CHILD = 25

# scipy.optimize: imported by the change only when it is needed (it is slow to import).
_PRELOAD = [
    "scarview.batch.tasks",
    "scarview.core.pipeline",
    "scarview.report.pdf",
    "scipy.optimize",
    "scarview.batch.warmup",  # renders one report: every worker starts with fonts and caches
]


class DaskMissingError(ScarViewError):
    """``--scheduler`` was given but Dask's ``distributed`` package is not installed."""

    exit_code = 2

    def __init__(self) -> None:
        super().__init__(
            "Running on a Dask cluster needs the optional 'distributed' package: "
            "pip install 'scarview[distributed]'."
        )


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the system tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS, Windows
        return max(1, os.cpu_count() or 1)


class Executor(Protocol):
    """What the batch loop needs from an executor."""

    description: str
    workers: int
    window: int

    def submit(self, fn: Callable[..., Any], arg: Any) -> Any:
        """Start ``fn(arg)`` and return its future."""
        ...

    def wait(self, futures: Collection[Any], timeout_s: float) -> set[Any]:
        """Return the futures that are done, waiting up to ``timeout_s`` for one."""
        ...

    def is_broken(self, exc: BaseException) -> bool:
        """True when ``exc`` says the workers died and the executor must be restarted."""
        ...

    def restart(self) -> None:
        """Replace dead workers (after :meth:`is_broken`)."""
        ...

    def close(self, futures: Collection[Any] = (), *, cancel: bool = False) -> None:
        """Release the workers; with ``cancel``, stop running tasks and drop pending ones."""
        ...


class LocalExecutor:
    """A pool of local worker processes.

    Parameters
    ----------
    workers : int
        Number of processes.
    cv_threads : int, optional
        OpenCV threads per worker (default: cores divided among the workers).
    max_tasks_per_child : int, optional
        Tasks a worker runs before it is replaced.
    """

    def __init__(
        self,
        workers: int,
        *,
        cv_threads: int | None = None,
        max_tasks_per_child: int | None = DEFAULT_MAX_TASKS_PER_CHILD,
    ) -> None:
        self.workers = max(1, int(workers))
        #: Tasks in flight: one waiting behind the running ones, so no worker idles.
        self.window = self.workers + 1
        self.description = f"{self.workers} local worker process{'es' * (self.workers != 1)}"
        methods = multiprocessing.get_all_start_methods()
        self._ctx = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        if self._ctx.get_start_method() == "forkserver":
            self._ctx.set_forkserver_preload(_PRELOAD)
        self._cv_threads = cv_threads or max(1, available_cores() // self.workers)
        self._tasks_per_pool = (
            None if max_tasks_per_child is None else max(1, max_tasks_per_child) * self.workers
        )
        self._cancel = self._ctx.Event()
        self._retired: list[cf.ProcessPoolExecutor] = []
        #: Tasks of each pool not finished yet (done callbacks run on the pools' threads).
        self._unfinished: dict[cf.ProcessPoolExecutor, int] = {}
        self._lock = threading.Lock()
        self._pool = self._new_pool()
        self._submitted = 0

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        return cf.ProcessPoolExecutor(
            max_workers=self.workers,
            mp_context=self._ctx,
            initializer=init_worker,
            initargs=(self._cancel, self._cv_threads),
        )

    def submit(self, fn: Callable[..., Any], arg: Any) -> cf.Future[Any]:
        """Start ``fn(arg)`` in a worker (in a fresh pool once this one did its share)."""
        self._drop_finished_pools()
        if self._tasks_per_pool is not None and self._submitted >= self._tasks_per_pool:
            self._pool.shutdown(wait=False)
            self._retired.append(self._pool)
            self._pool = self._new_pool()
            self._submitted = 0
        self._submitted += 1
        pool = self._pool
        future = pool.submit(fn, arg)
        with self._lock:
            self._unfinished[pool] = self._unfinished.get(pool, 0) + 1
        future.add_done_callback(lambda _: self._task_finished(pool))
        return future

    def _task_finished(self, pool: cf.ProcessPoolExecutor) -> None:
        with self._lock:
            self._unfinished[pool] -= 1

    def _drop_finished_pools(self) -> None:
        """Forget retired pools whose tasks are all done (their processes, threads and pipes).

        A long batch retires a pool every ``max_tasks_per_child * workers``
        tasks; keeping them all would grow the batch process (and its open
        files) with the number of photos.
        """
        with self._lock:
            finished = [p for p in self._retired if self._unfinished.get(p, 0) <= 0]
        for pool in finished:
            pool.shutdown(wait=True)  # its workers were told to exit: joining is quick
            self._retired.remove(pool)
            with self._lock:
                self._unfinished.pop(pool, None)

    def wait(self, futures: Collection[Any], timeout_s: float) -> set[Any]:
        """Futures done, waiting up to ``timeout_s`` for the first."""
        done, _ = cf.wait(futures, timeout=timeout_s, return_when=cf.FIRST_COMPLETED)
        return set(done)

    def is_broken(self, exc: BaseException) -> bool:
        """A worker process died (killed, out of memory)."""
        from concurrent.futures.process import BrokenProcessPool

        return isinstance(exc, BrokenProcessPool)

    def restart(self) -> None:
        """Start a fresh pool after a worker died."""
        for pool in [*self._retired, self._pool]:
            pool.shutdown(wait=True, cancel_futures=True)
        self._retired.clear()
        with self._lock:
            self._unfinished.clear()
        self._pool = self._new_pool()
        self._submitted = 0

    def close(self, futures: Collection[Any] = (), *, cancel: bool = False) -> None:
        """Shut the pools down; with ``cancel``, running tasks stop at their next check."""
        if cancel:
            self._cancel.set()
            for future in futures:
                future.cancel()
        for pool in [*self._retired, self._pool]:
            pool.shutdown(wait=True, cancel_futures=cancel)
        self._retired.clear()
        with self._lock:
            self._unfinished.clear()


class DaskExecutor:
    """Tasks on an existing Dask distributed cluster.

    Parameters
    ----------
    address : str
        The scheduler, e.g. ``tcp://10.0.0.5:8786``.
    timeout_s : float
        How long to wait for the scheduler to answer.

    Raises
    ------
    DaskMissingError
        When ``distributed`` is not installed.
    InputError
        When no scheduler answers at ``address``.
    """

    def __init__(self, address: str, *, timeout_s: float = 20.0) -> None:
        try:
            import distributed
        except ImportError:
            raise DaskMissingError() from None
        try:
            self._client = distributed.Client(address, timeout=timeout_s, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            detail = str(exc).strip().rstrip(".") or type(exc).__name__
            raise InputError(address, f"no Dask scheduler answered there ({detail})") from None
        threads = self._client.nthreads()
        self.workers = max(1, sum(threads.values()))
        #: Tasks in flight: enough to keep every thread of the cluster busy.
        self.window = 2 * self.workers
        self.description = (
            f"Dask cluster {address} ({len(threads)} worker{'s' * (len(threads) != 1)}, "
            f"{self.workers} thread{'s' * (self.workers != 1)})"
        )

    def submit(self, fn: Callable[..., Any], arg: Any) -> Any:
        """Start ``fn(arg)`` on the cluster (never cached: ``pure=False``)."""
        return self._client.submit(fn, arg, pure=False)

    def wait(self, futures: Collection[Any], timeout_s: float) -> set[Any]:
        """Futures done, waiting up to ``timeout_s`` for the first."""
        # Polled: ``distributed.wait`` looks for a default client, and this one is private.
        deadline = time.monotonic() + timeout_s
        while True:
            done = {f for f in futures if f.done()}
            if done or time.monotonic() >= deadline:
                return done
            time.sleep(0.02)

    def is_broken(self, exc: BaseException) -> bool:
        """Dask replaces dead workers itself."""
        return False

    def restart(self) -> None:
        """Nothing to do: the cluster manages its workers."""

    def close(self, futures: Collection[Any] = (), *, cancel: bool = False) -> None:
        """Disconnect; with ``cancel``, drop the batch's tasks from the cluster first."""
        try:
            if cancel and futures:
                self._client.cancel(list(futures))
        finally:
            self._client.close()
