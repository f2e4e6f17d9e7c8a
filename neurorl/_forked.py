"""Run a few independent calls in forked processes (Linux), here one after another elsewhere.

Forked workers start at once and see the caller's objects as they are (figures drawn, arrays computed)
without pickling them; only each call's result travels back. Used where a pipeline has a few independent,
CPU-bound steps, e.g. saving its figures. A call must not launch a parallel numba kernel: a process forked
after OpenMP was used may not use it again (every such kernel here is one of the reversal-point model fits or
the permutation test).
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

#: Calls waiting for a forked worker, by key (a worker forked at submission finds its call here).
_PENDING: dict[int, Callable] = {}
_KEYS = itertools.count()


def _run_pending(key: int):
    return _PENDING[key]()


def fork_available() -> bool:
    """Whether calls can run in forked processes here (Linux)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def init_worker(parent: int | None = None) -> None:
    """Set up a worker process: signals left to the parent, and an end with the parent.

    Ctrl-C is ignored (the parent gets it too, and stops its workers); SIGTERM and SIGHUP get their default
    action (a forked worker would otherwise inherit the parent's handler that raises an exception, and print
    a traceback when the parent stops it). On Linux the worker also ends when its parent does
    (``PR_SET_PDEATHSIG``): a pool's workers wait for work on a pipe whose other end they hold themselves, so
    after a ``kill -9`` of the parent they would wait for ever. ``parent``: the parent's pid when the pool was
    made (a parent already gone ends the worker at once).
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), signal.SIG_DFL)
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)          # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):  # pragma: no cover - no libc prctl
        return
    if parent is not None and os.getppid() != parent:
        os._exit(1)


def worker_pool(workers: int, *, spawn_elsewhere: bool = False):
    """Return a ``ProcessPoolExecutor`` of forked workers set up by :func:`init_worker`.

    Forking is the platform's safe choice on Linux (workers start at once, with nothing to import; callers
    check :func:`fork_available`). ``spawn_elsewhere``: spawn the workers where it is not (the calls and their
    arguments are then pickled).
    """
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    method = "spawn" if spawn_elsewhere and not fork_available() else "fork"
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method),
                               initializer=init_worker, initargs=(os.getpid(),))


class Forked(Generic[T]):
    """Calls started in up to ``jobs`` forked processes (Linux); elsewhere, with ``jobs <= 1`` or with
    ``fork=False`` they run here, one after another, when :meth:`results` is called.

    Use as a context manager: leaving the block before :meth:`results` stops the processes.

    Examples
    --------
    >>> with Forked([lambda: 1 + 1, lambda: 2 * 3], jobs=2) as calls:
    ...     calls.results()
    [2, 6]
    """

    def __init__(self, tasks: Sequence[Callable[[], T]], jobs: int, *, fork: bool = True) -> None:
        self._tasks = list(tasks)
        self._keys = [next(_KEYS) for _ in self._tasks]
        self._pool = None
        self._futures: list = []
        if fork and jobs > 1 and self._tasks and fork_available():
            _PENDING.update(zip(self._keys, self._tasks, strict=True))
            self._pool = worker_pool(min(int(jobs), len(self._tasks)))
            self._futures = [self._pool.submit(_run_pending, key) for key in self._keys]

    def results(self) -> list[T]:
        """Return the calls' results, in order (waits for them); the first exception of a call is raised here."""
        if self._pool is None:
            return [task() for task in self._tasks]
        try:
            return [future.result() for future in self._futures]
        finally:
            self.close()

    def close(self) -> None:
        """Stop the processes if they still run."""
        for key in self._keys:
            _PENDING.pop(key, None)
        if self._pool is not None:
            if not all(future.done() for future in self._futures):
                for process in list(getattr(self._pool, "_processes", {}).values()):
                    if process.is_alive():
                        process.terminate()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Forked[T]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def run_forked(tasks: Sequence[Callable[[], T]], jobs: int) -> list[T]:
    """``[task() for task in tasks]``, the calls spread over up to ``jobs`` forked processes (see :class:`Forked`).

    Examples
    --------
    >>> run_forked([lambda: 1 + 1, lambda: 2 * 3], jobs=2)
    [2, 6]
    """
    with Forked(tasks, jobs) as calls:
        return calls.results()


class Background(Generic[T]):
    """One call started in a forked process (Linux; elsewhere, or with ``fork=False``, run at :meth:`result`).

    Use as a context manager: leaving the block before :meth:`result` stops the process.

    Examples
    --------
    >>> with Background(lambda: sum(range(10))) as job:
    ...     job.result()
    45
    """

    def __init__(self, task: Callable[[], T], *, fork: bool = True) -> None:
        self._calls = Forked([task], jobs=2, fork=fork)

    def result(self) -> T:
        """Return the call's result (waits for it); its exception is raised here."""
        return self._calls.results()[0]

    def close(self) -> None:
        """Stop the process if it still runs."""
        self._calls.close()

    def __enter__(self) -> Background[T]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
