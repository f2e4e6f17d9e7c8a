"""Local and Dask-cluster runs of job lists give the same numbers for the same seeds."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurorl import errors
from neurorl.parallel import Job, run_jobs


def noisy_curve(n_epochs: int, scale: float, seed: int) -> xr.Dataset:
    """A job whose numbers depend only on its seed: a random walk of ``n_epochs`` steps."""
    rng = np.random.default_rng(seed)
    steps = rng.normal(0.0, scale, n_epochs)
    return xr.Dataset({"value": ("epoch", np.cumsum(steps))}, coords={"epoch": np.arange(1, n_epochs + 1)})


def _jobs():
    return [Job(noisy_curve, {"n_epochs": n, "scale": s}, seed=seed, config=f"n={n},scale={s}")
            for n, s in ((3, 1.0), (5, 0.1)) for seed in (0, 1, 2)]


def test_gathered_dimensions_and_padding() -> None:
    result = run_jobs(_jobs(), n_jobs=1, progress=False)
    assert result["value"].dims == ("config", "seed", "epoch")
    assert result["config"].values.tolist() == ["n=3,scale=1.0", "n=5,scale=0.1"]
    assert result["seed"].values.tolist() == [0, 1, 2]
    # the 3-epoch runs are padded with NaN to the 5 epochs of the others
    assert np.isnan(result["value"].sel(config="n=3,scale=1.0", epoch=[4, 5])).all()
    expected = np.cumsum(np.random.default_rng(2).normal(0.0, 0.1, 5))
    np.testing.assert_array_equal(result["value"].sel(config="n=5,scale=0.1", seed=2), expected)


def test_processes_match_in_process_run() -> None:
    xr.testing.assert_identical(run_jobs(_jobs(), n_jobs=1, progress=False),
                                run_jobs(_jobs(), n_jobs=2, progress=False))


def test_dask_cluster_matches_local_run() -> None:
    distributed = pytest.importorskip("distributed")
    local = run_jobs(_jobs(), n_jobs=1, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        remote = run_jobs(_jobs(), scheduler=cluster.scheduler_address, progress=False)
    xr.testing.assert_identical(local, remote)


def test_cache_makes_runs_resumable(tmp_path) -> None:
    jobs = _jobs()
    first = run_jobs(jobs[:2], n_jobs=1, cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.nc"))) == 2
    # poison the function: cached jobs must not be run again, new ones must
    full = run_jobs(jobs, n_jobs=1, cache_dir=tmp_path, progress=False)
    assert len(list(tmp_path.glob("*.nc"))) == len(jobs)
    xr.testing.assert_identical(full.sel(config=first.config, seed=first.seed, epoch=first.epoch), first)
    xr.testing.assert_identical(full, run_jobs(jobs, n_jobs=1, progress=False))


def test_duplicate_jobs_are_refused() -> None:
    with pytest.raises(errors.InvalidArgumentError, match="unique"):
        run_jobs([Job(noisy_curve, {"n_epochs": 1, "scale": 1.0})] * 2, progress=False)


@pytest.mark.parametrize("damage", [b"", b"garbage" * 10, None])
def test_damaged_cache_entry_is_rerun(tmp_path, damage) -> None:
    jobs = _jobs()[:2]
    clean = run_jobs(jobs, n_jobs=1, progress=False)
    run_jobs(jobs, n_jobs=1, cache_dir=tmp_path, progress=False)
    entry = tmp_path / jobs[0].cache_name()
    # empty, not HDF5, or truncated (a copy interrupted, a disk that filled): rerun the job, no traceback
    entry.write_bytes(entry.read_bytes()[:200] if damage is None else damage)
    xr.testing.assert_identical(run_jobs(jobs, n_jobs=1, cache_dir=tmp_path, progress=False), clean)
    with xr.open_dataset(entry, engine="h5netcdf") as stored:  # and the entry was written again
        assert stored.sizes["epoch"] == 3
