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


def _pool(workers: int):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))


def run_forked(tasks: Sequence[Callable[[], T]], jobs: int) -> list[T]:
    """``[task() for task in tasks]``, the calls spread over up to ``jobs`` forked processes.

    Results come back in order; an exception of a call is raised here. With ``jobs <= 1``, one task, or no
    ``fork`` (not Linux), the calls run here one after another.

    Examples
    --------
    >>> run_forked([lambda: 1 + 1, lambda: 2 * 3], jobs=2)
    [2, 6]
    """
    tasks = list(tasks)
    if jobs <= 1 or len(tasks) <= 1 or not fork_available():
        return [task() for task in tasks]
    keys = [next(_KEYS) for _ in tasks]
    _PENDING.update(zip(keys, tasks, strict=True))
    try:
        with _pool(min(int(jobs), len(tasks))) as pool:
            return list(pool.map(_run_pending, keys))
    finally:
        for key in keys:
            _PENDING.pop(key, None)


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
        self._task = task
        self._pool = self._future = None
        self._key = next(_KEYS)
        if fork and fork_available():
            _PENDING[self._key] = task
            self._pool = _pool(1)
            self._future = self._pool.submit(_run_pending, self._key)

    def result(self) -> T:
        """The call's result (waits for it); its exception is raised here."""
        if self._future is None:
            return self._task()
        try:
            return self._future.result()
        finally:
            self.close()

    def close(self) -> None:
        """Stop the process if it still runs."""
        _PENDING.pop(self._key, None)
        if self._pool is not None:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                if process.is_alive() and self._future is not None and not self._future.done():
                    process.terminate()
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Background[T]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
