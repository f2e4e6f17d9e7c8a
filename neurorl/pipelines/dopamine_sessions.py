"""Read dopamine sessions and compute their responses one session at a time, locally or on a Dask cluster.

Only one session's spike times (or trace) are in memory at once: each file is read, turned into its responses
(:func:`neurorl.analysis.responses.compute_responses`) and dropped; the per-session responses are kept as a list
(``pool=False``, what ``neurorl fit dopamine`` does) or pooled by :func:`~neurorl.analysis.responses.pool_responses`. With ``scheduler`` (the address of a running
``dask.distributed`` scheduler, e.g. ``tcp://HOST:PORT``) the sessions are read and reduced on its workers,
which must see the files at the same paths; the result is identical to the local run.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import partial
from pathlib import Path

import xarray as xr

from .._argtypes import cores
from ..errors import InvalidArgumentError

__all__ = ["session_responses", "stream_responses", "default_jobs", "MAX_DEFAULT_JOBS"]


def session_responses(path: str | os.PathLike, spec=None, *, allow_external_links: bool = False
                      ) -> tuple[xr.DataArray, dict]:
    """Read one session with ``spec`` and return its responses and its units per ``cell_type``."""
    from ..analysis.responses import compute_responses
    from ..io.nwb import read_dopamine

    recording = read_dopamine(path, spec, allow_external_links=allow_external_links)
    return compute_responses([recording], spec=spec), dict(recording.unit_types)


def default_jobs(n_files: int) -> int:
    """Local reader processes for ``n_files`` sessions: one per core, at most :data:`MAX_DEFAULT_JOBS` and the
    number of files (1 for a single file)."""
    return max(1, min(os.cpu_count() or 1, MAX_DEFAULT_JOBS, int(n_files)))


#: Most local reader processes by default (assumed: reading is decompression-bound, and each process holds one
#: session in memory, so memory grows with the number of processes).
MAX_DEFAULT_JOBS = 4


def _warm_up_analysis():
    """Import the analysis modules and load their compiled kernels in a thread, while the readers read.

    Started only once every reader process exists (a process forked while this thread held an import or the
    compiler's lock could not load its own kernels).
    """
    import threading

    def warm() -> None:
        try:
            import matplotlib.figure  # noqa: F401
            import numpy as np
            import scipy.optimize  # noqa: F401

            from ..analysis import _jitted, decoding, reversal  # noqa: F401
            from ..plotting import dopamine  # noqa: F401

            rows = np.ones((1, 2))
            _jitted.counting_rows(rows, rows, rows, np.ones((1, 2)), np.ones(1), np.ones(1))
            _jitted.slopes_rows(rows, rows, np.ones(2), np.ones(1))
        except Exception:  # noqa: BLE001 - only a head start: anything missing is loaded when it is used
            pass

    thread = threading.Thread(target=warm, name="neurorl-warm-up", daemon=True)
    thread.start()
    return thread


def stream_responses(files: Sequence[str | os.PathLike], spec=None, *, scheduler: str | None = None,
                     allow_external_links: bool = False, pool: bool = True, jobs: int | None = 1
                     ) -> tuple[xr.DataArray | list[xr.DataArray], dict]:
    """Responses of every session of ``files``, computed one session at a time (pooled, or kept per session).

    Parameters
    ----------
    files
        NWB files, one session each (pooled in this order).
    spec
        :class:`neurorl.io.spec.RecordingSpec`.
    scheduler
        Address of a running Dask scheduler; ``None`` runs here.
    allow_external_links
        Read HDF5 links to other files instead of refusing the file (see :func:`neurorl.io.nwb.read_dopamine`).
    jobs
        Local processes reading sessions side by side (``None``: :func:`default_jobs`; -1: one per core); each
        holds one session
        at a time, so peak memory is about ``jobs`` times the largest session. Results do not depend on it.
    pool
        Pool the sessions into one ``responses(cell, trial)`` (dense: cells × trials of all sessions); with
        ``False`` the list of per-session responses, which every analysis of :mod:`neurorl.analysis.reversal`
        takes as it is (memory bounded by the largest session).

    Returns
    -------
    responses : xarray.DataArray or list of xarray.DataArray
        As ``compute_responses`` over all sessions (or one per session).
    unit_types : dict
        Units analysed per ``cell_type``, summed over sessions.
    """
    from ..analysis.responses import pool_responses

    files = [Path(f) for f in files]
    if scheduler is not None:
        from distributed import Client

        with Client(scheduler) as client:
            futures = client.map(session_responses, [str(f) for f in files], spec=spec,
                                 allow_external_links=allow_external_links, pure=False)
            results = client.gather(futures)
    else:
        jobs = default_jobs(len(files)) if jobs is None else cores(int(jobs))
        if jobs < 1:
            raise InvalidArgumentError(f"jobs must be at least 1 (or -1: one per core), got {jobs}")
        jobs = min(jobs, len(files))
        if jobs > 1:
            from .._forked import worker_pool

            read = partial(session_responses, spec=spec, allow_external_links=allow_external_links)
            with worker_pool(jobs, spawn_elsewhere=True) as executor:
                pending = executor.map(read, [str(f) for f in files])   # every reader process started here
                warming = _warm_up_analysis()
                results = list(pending)
                warming.join()
        else:
            results = [session_responses(f, spec, allow_external_links=allow_external_links) for f in files]
    unit_types: dict[str, int] = {}
    for _, types in results:
        for kind, n in types.items():
            unit_types[kind] = unit_types.get(kind, 0) + int(n)
    blocks = [r for r, _ in results]
    return (pool_responses(blocks) if pool else blocks), unit_types
