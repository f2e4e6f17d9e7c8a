"""Sweeps: one model over many seeds and settings, run locally or on a Dask cluster.

Commands::

    neurorl sweep qagrel --seeds 0 1 2 --hidden 100 --epochs 1 [--feedback symmetric random] \\
        [--scheduler tcp://HOST:PORT] --out DIR
    neurorl sweep dopamine --trials 50 100 200 400 --cells 10 40 --seeds 0 1 2 --out DIR

Jobs go through :func:`neurorl.parallel.run_jobs` (local processes by default, the given Dask scheduler
otherwise); each finished run is cached under ``DIR/cache`` so an interrupted sweep resumes.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..io.outdir import display_path, staging_of
from ..io.results import write_csv, write_netcdf
from ..parallel import Job, run_jobs

__all__ = ["qagrel_job", "qagrel_sweep", "dopamine_recovery_job", "dopamine_recovery_sweep", "register",
           "COMPUTATION_VERSION"]

#: Version of the sweep jobs' computation, part of every cache key (see :meth:`neurorl.parallel.Job.cache_name`,
#: which also hashes every keyword argument of the job): bump it whenever a change to :func:`qagrel_job`,
#: :func:`dopamine_recovery_job` or the code they call alters their results, so that an old cache is not reused.
#: Not the package version: a release must not throw away hours of finished runs.
COMPUTATION_VERSION = 1


# ------------------------------------------------------------------------------------------------ Q-AGREL
def qagrel_job(seed: int, **config) -> xr.Dataset:
    """One training run (see :func:`neurorl.pipelines.qagrel.run_training`) as a sweep job."""
    from .qagrel import run_training

    history = run_training({**config, "seed": int(seed)}, desc=None)
    # per-run attributes differ between runs; keep them as variables so they survive the gather
    history["final_test_accuracy"] = float(history.attrs["final_test_accuracy"])
    history["converged_epoch"] = int(history.attrs["converged_epoch"])
    history.attrs = {key: value for key, value in history.attrs.items() if key in ("dataset",)}
    return history


def qagrel_sweep(configs: Sequence[dict], seeds: Sequence[int], *, scheduler: str | None = None,
                 n_jobs: int = -1, cache_dir: str | Path | None = None,
                 progress: bool = True) -> tuple[xr.Dataset, pd.DataFrame]:
    """Train every config with every seed; return the gathered histories and one row per run.

    Parameters
    ----------
    configs
        Training settings (keys of :data:`neurorl.pipelines.qagrel.DEFAULT_CONFIG`, without ``seed``).
    seeds
        Seeds; each config is run once per seed.
    scheduler, n_jobs, cache_dir, progress
        See :func:`neurorl.parallel.run_jobs`.

    Returns
    -------
    histories : xarray.Dataset
        Over ``config`` x ``seed`` x ``epoch``.
    table : pandas.DataFrame
        ``config``, ``seed``, ``test_accuracy`` (final, fraction), ``epochs`` (run), ``converged_epoch``,
        ``seconds`` and the config's settings.
    """
    jobs = [Job(qagrel_job, dict(config), seed=int(seed), config=_label(config)) for config in configs
            for seed in seeds]
    histories = run_jobs(jobs, scheduler=scheduler, n_jobs=n_jobs, cache_dir=cache_dir, progress=progress)
    rows = []
    for config in configs:
        label = _label(config)
        for seed in seeds:
            run = histories.sel(config=label, seed=int(seed))
            finished = np.isfinite(run["test_accuracy"].values)
            rows.append({
                "config": label, "seed": int(seed),
                "test_accuracy": float(run["final_test_accuracy"]),
                "epochs": int(finished.sum()),
                "converged_epoch": int(run["converged_epoch"]),
                "seconds": float(np.nansum(run["seconds"].values)),
                **{key: json.dumps(value) if isinstance(value, list | tuple) else value
                   for key, value in config.items()},
            })
    return histories, pd.DataFrame(rows)


def _label(config: dict) -> str:
    hidden = "-".join(str(n) for n in config.get("hidden", []))
    rule = config.get("rule", "qagrel")
    parts = [rule] + ([config.get("feedback", "symmetric")] if rule == "qagrel" else []) + [
        hidden or "0", f"lr{config.get('learning_rate', 0.5):g}"]
    extra = {k: v for k, v in config.items() if k not in ("rule", "feedback", "hidden", "learning_rate")}
    settings = ",".join(f"{key}={'-'.join(map(str, value)) if isinstance(value, list | tuple) else value}"
                        for key, value in sorted(extra.items()))
    return "_".join(parts) + (f"_{settings}" if settings else "")


def _run_qagrel(args: argparse.Namespace) -> int:
    from .._argtypes import cores
    from .._memory import check_memory, train_bytes

    if args.scheduler is None:
        jobs = min(cores(args.jobs), len(args.seeds) * len(args.lr) * len(args.rule) * len(args.feedback))
        n_train = min(args.n_train or 60000, 60000)
        n_test = min(args.n_test or 10000, 10000)
        check_memory(train_bytes(n_train, n_test) * jobs, ["--n-train", "--jobs"],
                     what=f"{n_train} training images on {jobs} worker(s)")
    configs = []
    for rule in args.rule:
        for feedback in (args.feedback if rule == "qagrel" else ["symmetric"]):
            for lr in args.lr:
                config = {"rule": rule, "feedback": feedback, "hidden": list(args.hidden),
                          "learning_rate": lr, "epochs": args.epochs}
                for key in ("n_train", "n_test", "patience", "data_dir"):
                    if getattr(args, key) is not None:
                        config[key] = getattr(args, key)
                configs.append(config)
    # the cache lives in --out itself (outside the staging folder): it survives a failed or stopped sweep
    histories, table = qagrel_sweep(configs, args.seeds, scheduler=args.scheduler, n_jobs=args.jobs,
                                    cache_dir=Path(args.out) / "cache", progress=not args.quiet)
    out = staging_of(args)
    paths = [write_csv(table, out / "results.csv"), write_netcdf(histories, out / "results.nc")]
    print(table[["config", "seed", "test_accuracy", "epochs"]].to_string(index=False))
    for path in paths:
        print(f"wrote {display_path(args, path)}")
    return 0


# ------------------------------------------------------------------------------------- dopamine recovery
def dopamine_recovery_job(seed: int, *, n_cells: int, n_trials: int, code: str = "expectile",
                          method: str = "model", n_bootstrap: int = 100, n_splits: int = 100) -> xr.Dataset:
    """Simulate one recording, fit it, and score the fit against the simulation's ground truth.

    Parameters
    ----------
    seed
        Seed of the simulation (and of the bootstrap / splits).
    n_cells
        Cells recorded (in one session).
    n_trials
        Rewarded trials per cell.
    code, method, n_bootstrap, n_splits
        Simulated code; reversal-point estimator; bootstrap resamples; random splits of the tau test.

    Returns
    -------
    xarray.Dataset
        Scalars: ``reversal_point_r`` and ``reversal_point_rmse`` (µl) against the truth, ``asymmetry_r`` and
        ``asymmetry_rmse``, ``ci_coverage`` (fraction of 95% CIs on the reversal point that hold the truth),
        and the population test ``tau_reversal_r`` / ``tau_reversal_p`` (medians over splits).
    """
    from .._stats import pearson_r
    from ..analysis.responses import compute_responses
    from ..analysis.reversal import fit_cells, tau_reversal_correlation
    from ..models.dopamine_recording import simulate_recordings

    sessions, truth = simulate_recordings(n_cells, 1, n_trials, code=code, seed=seed)
    responses = compute_responses(sessions)
    fit = fit_cells(responses, method=method, n_bootstrap=n_bootstrap, seed=seed, split_half=False)
    truth = truth.set_index("cell").loc[fit["unit"].values]
    true_rp = truth["reversal_point"].to_numpy()
    true_tau = truth["asymmetry"].to_numpy()
    rp = fit["reversal_point"].values
    tau = fit["asymmetry"].values
    ci = fit["reversal_point_ci"].values
    ok = np.isfinite(rp) & np.isfinite(tau)
    test = tau_reversal_correlation(responses, n_splits=n_splits, seed=seed, method="counting")
    values = {
        "reversal_point_r": (pearson_r(rp[ok], true_rp[ok]).r, "1"),
        "reversal_point_rmse": (float(np.sqrt(np.mean((rp[ok] - true_rp[ok]) ** 2))), "µl"),
        "asymmetry_r": (pearson_r(tau[ok], true_tau[ok]).r, "1"),
        "asymmetry_rmse": (float(np.sqrt(np.mean((tau[ok] - true_tau[ok]) ** 2))), "1"),
        "ci_coverage": (float(np.mean((ci[ok, 0] <= true_rp[ok]) & (true_rp[ok] <= ci[ok, 1]))), "1"),
        "tau_reversal_r": (float(test["r_median"]), "1"),
        "tau_reversal_p": (float(test["p_greater_median"]), "1"),
    }
    return xr.Dataset({
        name: ((), value, {"units": units}) for name, (value, units) in values.items()
    }, attrs={"n_cells": n_cells, "n_trials": n_trials, "code": code, "method": method})


def dopamine_recovery_sweep(cells: Sequence[int], trials: Sequence[int], seeds: Sequence[int], *,
                            code: str = "expectile", method: str = "model", scheduler: str | None = None,
                            n_jobs: int = -1, cache_dir: str | Path | None = None,
                            progress: bool = True) -> pd.DataFrame:
    """Parameter recovery of the dopamine fits for every (cells, trials) pair and seed: one row per run."""
    jobs = [Job(dopamine_recovery_job, {"n_cells": int(n), "n_trials": int(t), "code": code, "method": method},
                seed=int(seed), config=f"cells={n},trials={t}") for n in cells for t in trials for seed in seeds]
    results = run_jobs(jobs, scheduler=scheduler, n_jobs=n_jobs, cache_dir=cache_dir, progress=progress)
    table = results.to_dataframe().reset_index()
    parsed = table["config"].str.extract(r"cells=(\d+),trials=(\d+)").astype(int)
    table.insert(1, "n_cells", parsed[0])
    table.insert(2, "n_trials", parsed[1])
    return table.drop(columns="config")


def _run_dopamine(args: argparse.Namespace) -> int:
    from .._argtypes import cores
    from .._memory import check_memory, sweep_dopamine_bytes
    from ..io.results import save_figure
    from ..plotting.recovery import plot_recovery

    if args.scheduler is None:
        jobs = min(cores(args.jobs), len(args.cells) * len(args.trials) * len(args.seeds))
        check_memory(sweep_dopamine_bytes(args.cells, args.trials, jobs), ["--cells", "--trials", "--jobs"],
                     what=f"--cells {max(args.cells)} --trials {max(args.trials)} on {jobs} worker(s)")

    table = dopamine_recovery_sweep(args.cells, args.trials, args.seeds, code=args.code, method=args.method,
                                    scheduler=args.scheduler, n_jobs=args.jobs,
                                    cache_dir=Path(args.out) / "cache", progress=not args.quiet)
    out = staging_of(args)
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    for ax, metric in zip(axes, ("reversal_point_r", "asymmetry_r", "tau_reversal_r"), strict=True):
        plot_recovery(table, ax=ax, metric=metric)
    figure.tight_layout()
    paths = [write_csv(table, out / "results.csv"),
             write_netcdf(table.set_index(["n_cells", "n_trials", "seed"]).to_xarray(), out / "results.nc"),
             save_figure(figure, out / "recovery.png")]
    plt.close(figure)
    summary = table.groupby(["n_cells", "n_trials"])[["reversal_point_r", "asymmetry_r", "tau_reversal_p"]].median()
    print(summary.to_string())
    for path in paths:
        print(f"wrote {display_path(args, path)}")
    return 0


# ----------------------------------------------------------------------------------------------- register
def register(groups: dict, parent: argparse.ArgumentParser) -> None:
    """Add ``neurorl sweep qagrel`` (and ``sweep dopamine`` when its modules are present)."""
    from .. import _argtypes as T

    p = groups["sweep"].add_parser("qagrel", parents=[parent], help="Q-AGREL / backprop over seeds and settings",
                                   description="Train Q-AGREL (or backprop) on MNIST for every seed x setting.")
    p.add_argument("--seeds", type=T.seed, nargs="+", default=[0, 1, 2], metavar="SEED",
                   help="random seeds, one run per seed and setting")
    p.add_argument("--hidden", type=T.positive_int, nargs="+", default=[300, 100], metavar="N",
                   help="hidden layer sizes")
    p.add_argument("--epochs", type=T.positive_int, default=10, help="epochs per run")
    p.add_argument("--lr", type=T.positive_float, nargs="+", default=[0.5], help="learning rates")
    p.add_argument("--feedback", nargs="+", default=["symmetric"], choices=["symmetric", "random", "fixed"],
                   help="feedback weights of Q-AGREL (backprop runs always use symmetric)")
    p.add_argument("--rule", nargs="+", default=["qagrel"], choices=["qagrel", "backprop"],
                   help="learning rules")
    p.add_argument("--n-train", type=T.positive_int, metavar="N",
                   help="use only the first N training images (default: all)")
    p.add_argument("--n-test", type=T.positive_int, metavar="N", help="use only the first N test images (default: all)")
    p.add_argument("--patience", type=T.positive_int, help="early-stopping patience, epochs (default: never stop early)")
    p.add_argument("--data-dir", metavar="DIR", help="MNIST folder (default: $NEURORL_MNIST_DIR or the user cache)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786 (default: local processes)")
    p.add_argument("--jobs", type=T.workers, default=-1, help="local worker processes (-1: one per core)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=_run_qagrel, _out_inputs=_mnist_inputs)

    p = groups["sweep"].add_parser(
        "dopamine", parents=[parent], help="parameter recovery of the dopamine fits vs trials and cells",
        description="Simulate recordings with known reversal points and asymmetries for every number of cells "
                    "x trials x seed, fit them, and score the recovery: how many trials does a lab need?")
    p.add_argument("--cells", type=T.positive_int, nargs="+", default=[20, 40], metavar="N",
                   help="numbers of cells per simulated recording")
    p.add_argument("--trials", type=T.positive_int, nargs="+", default=[50, 100, 200, 400], metavar="N",
                   help="rewarded trials per cell")
    p.add_argument("--seeds", type=T.seed, nargs="+", default=[0, 1, 2], metavar="SEED",
                   help="random seeds, one simulation and fit per seed and setting")
    p.add_argument("--code", choices=["expectile", "quantile", "classic"], default="expectile",
                   help="TD code of the simulated cells")
    p.add_argument("--method", choices=["counting", "model"], default="model", help="reversal-point estimator")
    p.add_argument("--scheduler", metavar="ADDRESS", help="address of a running Dask scheduler (default: local processes)")
    p.add_argument("--jobs", type=T.workers, default=-1, help="local worker processes (-1: one per core)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=_run_dopamine, _out_inputs=lambda args: [])


def _mnist_inputs(args: argparse.Namespace) -> list[Path]:
    from .qagrel import mnist_inputs

    return mnist_inputs(args)
