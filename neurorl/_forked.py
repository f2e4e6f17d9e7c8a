"""Run a few independent calls in forked processes (Linux), one after another elsewhere.

Forked workers start at once and see the caller's objects as they are (figures drawn, arrays computed)
without pickling them; only each call's result travels back. Used where a pipeline has a handful of
independent, CPU-bound steps left, e.g. saving its figures. A call must not launch a parallel numba
kernel: a process forked after OpenMP was used may not use it again.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

#: The calls of the running :func:`run_forked` (the forked workers find them here).
_TASKS: list | None = None


def _run_task(index: int):
    return _TASKS[index]()


def fork_available() -> bool:
    """Whether calls can run in forked processes here (Linux)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def run_forked(tasks: Sequence[Callable[[], T]], jobs: int) -> list[T]:
    """``[task() for task in tasks]``, the calls spread over up to ``jobs`` forked processes.

    Results come back in order; an exception of a call is raised here. With ``jobs <= 1``, one task, or no
    ``fork`` (not Linux), the calls run here one after another.

    Examples
    --------
    >>> run_forked([lambda: 1 + 1, lambda: 2 * 3], jobs=2)
    [2, 6]
    """
    global _TASKS
    tasks = list(tasks)
    if jobs <= 1 or len(tasks) <= 1 or not fork_available() or _TASKS is not None:
        return [task() for task in tasks]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    _TASKS = tasks
    try:
        with ProcessPoolExecutor(min(int(jobs), len(tasks)), mp_context=multiprocessing.get_context("fork")) as pool:
            return list(pool.map(_run_task, range(len(tasks))))
    finally:
        _TASKS = None
