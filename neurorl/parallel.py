"""Run many jobs — seeds x settings — in local processes or on an existing Dask cluster.

A *job* is a call ``function(**kwargs, seed=seed)`` that returns an :class:`xarray.Dataset`. :func:`run_jobs`
runs a list of them in local worker processes (joblib, the default) or, when given a scheduler address, on a
``dask.distributed`` cluster that already runs; no scheduler is built here. Results are gathered into one
Dataset with ``config`` and ``seed`` dimensions. Each job draws its randomness only from its own ``seed``, so
the same seed gives the same numbers wherever it ran.

With ``cache_dir`` every finished job is written to ``cache_dir/<config>-<key>__seed<seed>.nc`` (atomically)
and a later call skips it: a sweep that was stopped resumes where it stopped. The key hashes everything that
decides the result: the function, every keyword argument and the computation's version (the
``COMPUTATION_VERSION`` of the function's module, or its ``computation_version`` attribute), so a changed
setting or a changed computation is never answered from the cache.

Examples
--------
>>> import xarray as xr
>>> def square(x, seed):
...     return xr.Dataset({"value": x * x + seed})
>>> jobs = [Job(square, {"x": x}, seed=s, config=f"x={x}") for x in (1, 2) for s in (0, 1)]
>>> run_jobs(jobs, n_jobs=1, progress=False)["value"].values.tolist()
[[1, 2], [4, 5]]
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import xarray as xr

from ._progress import progress as _progress_bar
from .errors import InvalidArgumentError
from .io.results import write_netcdf

__all__ = ["Job", "run_jobs", "map_jobs", "gather"]


@dataclass(frozen=True)
class Job:
    """One run: ``function(**kwargs, seed=seed)`` returning an :class:`xarray.Dataset`.

    Attributes
    ----------
    function
        A module-level function (it is pickled to the worker processes).
    kwargs
        Keyword arguments other than ``seed``.
    seed
        The run's seed; its only source of randomness.
    config
        A label for the setting (all jobs with the same ``config`` differ only in ``seed``).
    """

    function: Callable[..., xr.Dataset]
    kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    config: str = "default"

    def cache_key(self) -> dict:
        """Everything that decides this job's result (JSON-ready).

        The function, the version of its computation, the keyword arguments, the config label and the seed.
        """
        module = sys.modules.get(getattr(self.function, "__module__", ""), None)
        version = getattr(self.function, "computation_version", getattr(module, "COMPUTATION_VERSION", 0))
        name = f"{getattr(self.function, '__module__', '?')}.{getattr(self.function, '__qualname__', repr(self.function))}"
        return {"function": name, "computation_version": version, "kwargs": self.kwargs, "config": self.config,
                "seed": self.seed}

    def cache_name(self) -> str:
        """File name of this job's cached result: the config label, then a hash of :meth:`cache_key`."""
        safe = re.sub(r"[^A-Za-z0-9_.=+-]+", "_", self.config)[:80]
        key = json.dumps(self.cache_key(), sort_keys=True, default=repr)
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        return f"{safe}-{digest}__seed{self.seed}.nc"


def _call(job: Job) -> xr.Dataset:
    result = job.function(**job.kwargs, seed=job.seed)
    if not isinstance(result, xr.Dataset):
        raise TypeError(f"job {job.config!r} seed {job.seed} returned {type(result).__name__}, not a Dataset")
    return result.load()


def run_jobs(
    jobs: Sequence[Job],
    *,
    scheduler: str | None = None,
    n_jobs: int = -1,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> xr.Dataset:
    """Run ``jobs`` and gather their results into one Dataset over ``config`` and ``seed``.

    Parameters
    ----------
    jobs
        The runs; each ``(config, seed)`` pair must be unique.
    scheduler
        Address of a running Dask scheduler (``tcp://HOST:PORT``). ``None``: local processes.
    n_jobs
        Local worker processes (joblib; -1 = one per core, 1 = run in this process).
    cache_dir
        Folder for per-job results; finished jobs found there are not run again.
    progress
        Show a progress bar (only on a terminal).

    Returns
    -------
    xarray.Dataset
        The jobs' Datasets, each expanded with ``config`` and ``seed`` dimensions and combined (outer join:
        runs of different lengths are padded with NaN).
    """
    jobs = list(jobs)
    results = map_jobs(jobs, scheduler=scheduler, n_jobs=n_jobs, cache_dir=cache_dir, progress=progress)
    return gather(results, jobs)


def map_jobs(
    jobs: Sequence[Job],
    *,
    scheduler: str | None = None,
    n_jobs: int = -1,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> list[xr.Dataset]:
    """Run ``jobs`` like :func:`run_jobs` but return each job's Dataset, in job order, with its own attrs."""
    jobs = list(jobs)
    keys = [(job.config, job.seed) for job in jobs]
    if len(set(keys)) != len(keys):
        raise InvalidArgumentError("jobs must have unique (config, seed) pairs")
    cache = Path(cache_dir) if cache_dir is not None else None
    results: dict[int, xr.Dataset] = {}
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        for index, job in enumerate(jobs):
            cached = cache / job.cache_name()
            if cached.is_file():
                try:
                    with xr.open_dataset(cached, engine="h5netcdf") as stored:
                        results[index] = stored.load()
                except Exception:  # noqa: BLE001 - a damaged cache entry (h5py/xarray raise several types): rerun
                    cached.unlink(missing_ok=True)
    pending = [index for index in range(len(jobs)) if index not in results]

    def finished(index: int, result: xr.Dataset) -> None:
        results[index] = result
        if cache is not None:
            write_netcdf(result, cache / jobs[index].cache_name())

    bar = _progress_bar(range(len(pending)), desc="jobs", total=len(pending), disable=None if progress else True)
    ticks = iter(bar)
    if scheduler is not None:
        from distributed import Client, as_completed

        with Client(scheduler) as client:
            futures = {client.submit(_call, jobs[i], pure=False, key=f"neurorl-job-{i}-{jobs[i].cache_name()}"): i
                       for i in pending}
            for future in as_completed(futures):
                finished(futures[future], future.result())
                next(ticks, None)
    elif n_jobs == 1 or len(pending) <= 1:
        for index in pending:
            finished(index, _call(jobs[index]))
            next(ticks, None)
    else:
        from joblib import Parallel, delayed

        runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
        for index, result in runner(delayed(_indexed_call)(i, jobs[i]) for i in pending):
            finished(index, result)
            next(ticks, None)
    if hasattr(bar, "close"):
        bar.close()
    return [results[i] for i in range(len(jobs))]


def _indexed_call(index: int, job: Job) -> tuple[int, xr.Dataset]:
    return index, _call(job)


def gather(results: Sequence[xr.Dataset], jobs: Sequence[Job]) -> xr.Dataset:
    """Combine per-job Datasets into one over ``config`` (in first-seen order) and ``seed`` (sorted)."""
    expanded = [result.expand_dims(config=[job.config], seed=[job.seed]) for result, job in zip(results, jobs, strict=True)]
    combined = xr.combine_by_coords(expanded, combine_attrs="drop_conflicts", join="outer", compat="no_conflicts",
                                  data_vars="all", coords="different")
    configs = list(dict.fromkeys(job.config for job in jobs))
    seeds = sorted({job.seed for job in jobs})
    return combined.reindex(config=configs, seed=seeds)
