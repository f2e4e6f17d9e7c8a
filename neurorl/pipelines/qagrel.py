"""Q-AGREL pipelines: train one network on MNIST, or reproduce Table 1 of Pozzi, Bohte & Roelfsema.

Commands::

    neurorl train qagrel --hidden 300 100 --epochs 10 --lr 0.5 --feedback symmetric --seed 0 --out DIR
    neurorl train backprop --hidden 300 100 --epochs 10 --lr 0.5 --seed 0 --out DIR
    neurorl train qagrel --dataset fashion-mnist --data-dir FOLDER --out DIR   # Fashion-MNIST instead
    neurorl train qagrel --protocol paper --hidden 300 100 --lr 0.5 --seed 0 --out DIR   # the paper's protocol
    neurorl train backprop --protocol paper --feedback fixed --lr 0.1 --out DIR            # errorBP + feedback alignment
    neurorl reproduce qagrel --out DIR [--rows 1 5 ...] [--seeds 0 1 2] [--jobs 2]     # Table 1, paper protocol
    neurorl reproduce qagrel --protocol fast --out DIR [--quick]                       # the earlier fast protocol

Two protocols. ``paper`` (:mod:`neurorl.models.paper_training`, run by :mod:`neurorl.pipelines.pozzi2018`) is the
paper's; ``fast`` is the earlier one: one run is the pure function :func:`run_training` (a config dict in, an
:class:`xarray.Dataset` out), and its Table 1 sweep hands runs to :mod:`neurorl.parallel` (local processes or a
Dask cluster), which caches each finished run as netCDF under a key derived from its config.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InvalidArgumentError
from ..io.outdir import display_path, staging_of
from ..io.results import save_figure, write_csv, write_netcdf, write_text
from ..models.backprop import BACKPROP_FEEDBACK_MODES, LOSSES, BackpropMLP
from ..models.qagrel import FEEDBACK_MODES, QAGREL
from ..models.training import summarize_run, train
from ..tasks.classification import ClassificationTask

__all__ = ["DEFAULT_CONFIG", "run_training", "config_key", "history_to_frame",
           "table1_configs", "table1_summary", "reproduce_table1", "register", "PAPER_TABLE1",
           "COMPUTATION_VERSION", "mnist_inputs"]

#: Version of the computation behind a cached run (:func:`table1_job`, read by :mod:`neurorl.parallel` into
#: every cache key): bump it whenever a change alters the results of a run with the same settings, so that
#: cached runs are not reused. Not the package version: a release must not throw away finished runs.
COMPUTATION_VERSION = 1

#: Settings of one training run; :func:`run_training` fills missing keys from here.
DEFAULT_CONFIG: dict = {
    "rule": "qagrel",            # "qagrel" or "backprop"
    "hidden": [300, 100],        # hidden-layer sizes
    "feedback": "symmetric",     # Q-AGREL feedback mode
    "learning_rate": 0.5,
    "seed": 0,
    "epochs": 10,                # maximum number of epochs
    "batch_size": 100,
    "epsilon": 0.02,             # exploration probability (our default; the paper leaves it open)
    "temperature": 1.0,          # Boltzmann temperature (our default)
    "bias": True,
    "dtype": "float32",
    "loss": "squared_error",     # backprop loss
    "lr_drop_epoch": 500,
    "lr_drop_factor": 10.0,
    "patience": None,            # early stopping (epochs without a better validation accuracy)
    "validation_size": 1000,
    "dataset": "mnist",          # "mnist" or "fashion-mnist"
    "n_train": None,             # use only the first n training / test images (for quick checks)
    "n_test": None,
    "data_dir": None,            # data folder; None: $NEURORL_MNIST_DIR / $NEURORL_FASHION_MNIST_DIR or the cache
}

#: Paper numbers for Table 1 (accuracy %, epochs to the stopping criterion; mean and SD over 10 seeds), keyed by
#: (rule, feedback, architecture, lr), e.g. ``("qagrel", "symmetric", "784-300-10", 0.5)``; errorBP rows have
#: feedback ``"symmetric"`` (exact gradients) or ``"fixed"`` (feedback alignment). Read from the reference table
#: shipped in ``data/reference/pozzi2018_table1.csv`` (Pozzi, Bohte & Roelfsema 2018, arXiv:1811.01768, Table 1).
PAPER_TABLE1: dict[tuple, dict] = {}


def _fill_paper_table1() -> None:
    from .pozzi2018 import paper_rows
    for r in paper_rows().itertuples():
        key = (r.rule, r.feedback, "-".join(str(n) for n in (784, *r.hidden, 10)), r.learning_rate)
        PAPER_TABLE1[key] = {"accuracy_mean": r.accuracy_mean_pct, "accuracy_sd": r.accuracy_sd_pct,
                             "epochs_mean": r.epochs_mean, "epochs_sd": r.epochs_sd}


_fill_paper_table1()

PAPER_NOTE = ("Paper columns: Table 1 of Pozzi, Bohte & Roelfsema (arXiv:1811.01768), from "
              "data/reference/pozzi2018_table1.csv. The fast protocol differs from the paper's (validation images "
              "trained on in the same epoch, validation every epoch, patience-based stop, biases), so its epochs "
              "are not comparable with the paper's; `neurorl reproduce qagrel` (protocol paper) is.")


@functools.lru_cache(maxsize=4)
def _load(dataset: str, split: str, data_dir: str | None):
    from ..io.mnist import DATASETS, load_mnist
    if dataset not in DATASETS:
        raise InvalidArgumentError(f"unknown dataset {dataset!r} (known: {', '.join(map(repr, DATASETS))})")
    return load_mnist(split, directory=data_dir, dataset=dataset)


def _task(config: dict, split: str) -> ClassificationTask:
    images, labels = _load(config["dataset"], split, config["data_dir"])
    limit = config["n_train" if split == "train" else "n_test"]
    if limit is not None:
        images, labels = images[:int(limit)], labels[:int(limit)]
    return ClassificationTask(images, labels, n_classes=10)


def _with_defaults(config: dict, defaults: dict) -> dict:
    """``config`` over ``defaults`` (unknown settings refused), hidden layer sizes as ints."""
    unknown = set(config) - set(defaults)
    if unknown:
        raise InvalidArgumentError(f"unknown training settings: {sorted(unknown)}")
    full = {**defaults, **config}
    full["hidden"] = [int(n) for n in full["hidden"]]
    return full


def _full_config(config: dict) -> dict:
    full = _with_defaults(config, DEFAULT_CONFIG)
    if full["rule"] not in ("qagrel", "backprop"):
        raise InvalidArgumentError(f"rule must be 'qagrel' or 'backprop', got {full['rule']!r}")
    if full["rule"] == "backprop":
        full["feedback"] = "none"
    return full


def run_training(config: dict, desc: str | None = "training", blas_threads: int | None = 1) -> xr.Dataset:
    """Train one network as described by ``config`` (see :data:`DEFAULT_CONFIG`) and return its history.

    A pure function of its config (same config, same numbers), so sweeps can run it anywhere. BLAS runs on
    ``blas_threads`` threads (default 1): multithreaded BLAS splits sums differently, and the float rounding that
    changes with the thread count grows into different runs, so a fixed count keeps runs reproducible across
    machines and workers. ``None`` leaves the library's setting.
    """
    config = _full_config(config)
    train_task, test_task = _task(config, "train"), _task(config, "test")
    sizes = (train_task.n_inputs, *config["hidden"], train_task.n_classes)
    common = dict(learning_rate=config["learning_rate"], bias=config["bias"], dtype=config["dtype"],
                  seed=config["seed"])
    if config["rule"] == "qagrel":
        model = QAGREL(sizes, feedback=config["feedback"], epsilon=config["epsilon"],
                       temperature=config["temperature"], **common)
    else:
        model = BackpropMLP(sizes, loss=config["loss"], **common)
    history = train(model, train_task, test_task, epochs=config["epochs"], batch_size=config["batch_size"],
                    lr_drop_epoch=config["lr_drop_epoch"], lr_drop_factor=config["lr_drop_factor"],
                    validation_size=config["validation_size"], patience=config["patience"],
                    seed=np.random.SeedSequence([int(config["seed"]), 1]).generate_state(1)[0],
                    blas_threads=blas_threads, desc=desc)
    history.attrs["dataset"] = config["dataset"]
    history.attrs["config"] = json.dumps({k: v for k, v in config.items() if k != "data_dir"}, sort_keys=True)
    return history


def config_key(config: dict) -> str:
    """A readable, unique file stem for a run's config."""
    full = _full_config(config)
    digest = hashlib.sha1(json.dumps({k: v for k, v in full.items() if k != "data_dir"}, sort_keys=True,
                                     default=str).encode()).hexdigest()[:10]
    arch = "-".join(str(n) for n in full["hidden"])
    return f"{full['rule']}_{full['feedback']}_{arch}_lr{full['learning_rate']:g}_seed{full['seed']}_{digest}"


def table1_job(config: dict, seed: int, blas_threads: int | None = 1) -> xr.Dataset:
    """One Table 1 run as a :class:`neurorl.parallel.Job` function (BLAS limited to ``blas_threads``)."""
    return run_training({**config, "seed": int(seed)}, desc=None, blas_threads=blas_threads)


def history_to_frame(history: xr.Dataset) -> pd.DataFrame:
    """One row per epoch: the scalar columns, then ``selection_frequency_<class>``, ``class_accuracy_<class>``
    and ``alignment_angle_layer<l>`` columns."""
    frame = pd.DataFrame({"epoch": history["epoch"].values})
    for name in ("train_reward", "validation_accuracy", "test_accuracy", "learning_rate", "seconds",
                 "elapsed_seconds"):
        frame[name] = history[name].values
    for name in ("selection_frequency", "class_accuracy"):
        for cls in history["class"].values:
            frame[f"{name}_{cls}"] = history[name].sel({"class": cls}).values
    if "alignment_angle" in history:
        for layer in history["layer"].values:
            frame[f"alignment_angle_layer{layer}"] = history["alignment_angle"].sel(layer=layer).values
    return frame


# --------------------------------------------------------------------------------------------------- Table 1

#: Rows of Table 1: (rule, feedback, hidden layers).
TABLE1_ROWS: tuple[tuple[str, str, tuple[int, ...]], ...] = tuple(
    [("qagrel", mode, hidden) for hidden in ((300,), (300, 100)) for mode in FEEDBACK_MODES]
    + [("backprop", "none", hidden) for hidden in ((300,), (300, 100))])

#: Scales of the reproduction. ``paper``: 10 seeds, up to 1000 epochs with early stopping (patience 50, our
#: choice) and the learning-rate drop at epoch 500; the learning rates are our grid. ``quick``: 3 seeds x 10
#: epochs at lr 0.5 (about 10 minutes on 2 cores), plus feedback alignment on 784-300-10 at lr 0.2, because at
#: lr 0.5 that row diverges (see :class:`~neurorl.models.qagrel.QAGREL`, "Stability of feedback alignment").
#: ``extra_rows`` (rule, feedback, hidden, lr) are added only when the learning rates are not overridden.
SCALES: dict[str, dict] = {
    "paper": {"seeds": list(range(10)), "epochs": 1000, "patience": 50, "learning_rates": [0.1, 0.5, 1.0],
              "extra_rows": []},
    "quick": {"seeds": [0, 1, 2], "epochs": 10, "patience": None, "learning_rates": [0.5],
              "extra_rows": [("qagrel", "fixed", (300,), 0.2)]},
}


def _row_label(rule: str, feedback: str, hidden: Sequence[int]) -> str:
    arch = "-".join(str(n) for n in (784, *hidden, 10))
    return f"Q-AGREL {feedback} {arch}" if rule == "qagrel" else f"errorBP {arch}"


def table1_configs(scale: str = "quick", seeds: Sequence[int] | None = None, epochs: int | None = None,
                   learning_rates: Sequence[float] | None = None, **overrides) -> list[dict]:
    """Every run of Table 1 at ``scale`` (``"quick"`` or ``"paper"``), as configs for :func:`run_training`."""
    if scale not in SCALES:
        raise InvalidArgumentError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    settings = SCALES[scale]
    seeds = settings["seeds"] if seeds is None else list(seeds)
    epochs = settings["epochs"] if epochs is None else int(epochs)
    rates = settings["learning_rates"] if learning_rates is None else list(learning_rates)
    rows = [(rule, feedback, hidden, lr) for rule, feedback, hidden in TABLE1_ROWS for lr in rates]
    if learning_rates is None:
        rows += [row for row in settings["extra_rows"] if row not in rows]
        rows.sort(key=lambda row: (TABLE1_ROWS.index(row[:3]), row[3]))  # extra rows beside their network
    configs = []
    for rule, feedback, hidden, lr in rows:
        for seed in seeds:
            config = {"rule": rule, "hidden": list(hidden), "learning_rate": float(lr), "seed": int(seed),
                      "epochs": epochs, "patience": settings["patience"], **overrides}
            if rule == "qagrel":
                config["feedback"] = feedback
            configs.append(config)
    return configs


def table1_summary(histories: Iterable[xr.Dataset]) -> pd.DataFrame:
    """Mean and s.d. over seeds of final test accuracy (%) and epochs to convergence, per Table 1 row,
    beside the paper's numbers (NaN where not available). Runs whose weights overflowed are counted in
    ``n_diverged`` and left out of the means."""
    records = []
    for history in histories:
        config = json.loads(history.attrs["config"])
        summary = summarize_run(history)
        records.append({"rule": config["rule"], "feedback": config["feedback"],
                        "architecture": "-".join(str(n) for n in (784, *config["hidden"], 10)),
                        "learning_rate": config["learning_rate"], "seed": config["seed"],
                        "diverged": summary["diverged"],
                        "accuracy": np.nan if summary["diverged"] else 100 * summary["final_test_accuracy"],
                        "epochs": np.nan if summary["diverged"] else summary["converged_epoch"],
                        "seconds_per_epoch": summary["seconds"] / summary["epochs_run"]})
    runs = pd.DataFrame.from_records(records)
    keys = ["rule", "feedback", "architecture", "learning_rate"]
    grouped = runs.groupby(keys, sort=False)
    table = grouped.agg(n_seeds=("seed", "count"), n_diverged=("diverged", "sum"), accuracy_mean=("accuracy", "mean"),
                        accuracy_sd=("accuracy", "std"), epochs_mean=("epochs", "mean"),
                        epochs_sd=("epochs", "std"), seconds_per_epoch=("seconds_per_epoch", "median")
                        ).reset_index()
    for column in ("paper_accuracy_mean", "paper_accuracy_sd", "paper_epochs_mean", "paper_epochs_sd"):
        table[column] = [PAPER_TABLE1.get((r.rule, "symmetric" if r.feedback == "none" else r.feedback,
                                           r.architecture, r.learning_rate), {}).get(
            column.removeprefix("paper_"), np.nan) for r in table.itertuples()]
    return table


def _markdown(table: pd.DataFrame, title: str, command: str, notes: Sequence[str]) -> str:
    def fmt(value, digits):
        return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"

    def pm(mean, sd, digits):
        return "n/a" if fmt(mean, digits) == "n/a" else f"{fmt(mean, digits)} ± {fmt(sd, digits)}"

    lines = [f"# {title}", "", f"Made with: `{command}`", "",
             "| rule | feedback | network | lr | seeds | diverged | accuracy % (mean ± sd) | epochs to convergence "
             "(mean ± sd) | paper accuracy % | paper epochs | s / epoch |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(
            f"| {'Q-AGREL' if r.rule == 'qagrel' else 'errorBP'} | {r.feedback} | {r.architecture} | "
            f"{r.learning_rate:g} | {r.n_seeds} | {r.n_diverged} | {pm(r.accuracy_mean, r.accuracy_sd, 2)} | "
            f"{pm(r.epochs_mean, r.epochs_sd, 1)} | {pm(r.paper_accuracy_mean, r.paper_accuracy_sd, 2)} | "
            f"{pm(r.paper_epochs_mean, r.paper_epochs_sd, 1)} | {fmt(r.seconds_per_epoch, 2)} |")
    lines += [""] + [f"- {note}" for note in notes] + [""]
    return "\n".join(lines)


def reproduce_table1(out: str | Path, *, quick: bool = False, seeds: Sequence[int] | None = None,
                     epochs: int | None = None, learning_rates: Sequence[float] | None = None,
                     cache_dir: str | Path | None = None, stem: str | None = None, command: str | None = None,
                     scheduler: str | None = None, jobs: int = 1, blas_threads: int | None = 1,
                     show_progress: bool = True, **overrides) -> dict[str, Path]:
    """Run (or resume) the Table 1 sweep and write the table beside the paper's numbers.

    Parameters
    ----------
    out
        Output folder.
    quick
        The quick scale (3 seeds x 10 epochs, lr 0.5, and feedback alignment on 784-300-10 at lr 0.2) instead of
        the paper scale.
    seeds, epochs, learning_rates
        Override the scale's seeds, maximum epochs and learning rates.
    cache_dir
        Where finished runs are cached (``out/cache`` by default); rerunning skips them.
    stem
        File stem of the table (``pozzi2018_table1`` or ``pozzi2018_table1_quick``).
    command
        The command line recorded in the Markdown table.
    scheduler
        Address of a running Dask scheduler to run on (see :mod:`neurorl.parallel`); default: local.
    jobs
        Local worker processes (``1``: one run after another in this process).
    blas_threads
        BLAS threads per run (default 1; ``None`` leaves the BLAS library's default).
    overrides
        Further :data:`DEFAULT_CONFIG` settings for every run (e.g. ``n_train`` for a tiny check).

    Returns
    -------
    dict
        Paths of the written ``csv``, ``md``, ``nc`` (per-run curves) and ``png`` files.
    """
    out = Path(out)
    scale = "quick" if quick else "paper"
    stem = stem or ("pozzi2018_table1_quick" if quick else "pozzi2018_table1")
    cache_dir = Path(cache_dir) if cache_dir is not None else out / "cache"
    configs = table1_configs(scale, seeds=seeds, epochs=epochs, learning_rates=learning_rates, **overrides)
    if jobs < 1 and jobs != -1:
        raise InvalidArgumentError(f"jobs must be >= 1 (or -1: one per core), got {jobs}")
    from ..parallel import Job, map_jobs

    run_jobs_list = [Job(table1_job, {"config": {k: v for k, v in config.items() if k != "seed"},
                                      "blas_threads": blas_threads},
                         seed=int(config["seed"]), config=config_key({**config, "seed": 0}))
                     for config in configs]
    started = time.perf_counter()
    histories = map_jobs(run_jobs_list, scheduler=scheduler, n_jobs=jobs, cache_dir=cache_dir,
                         progress=show_progress)
    table = table1_summary(histories)
    settings = SCALES[scale]
    notes = [
        f"Scale: {scale}; up to {configs[0]['epochs']} epochs, batch 100, weights U(-0.05, 0.05), "
        f"epsilon 0.02, temperature 1, lr / 10 from epoch 500, early stopping patience "
        f"{settings['patience'] if 'patience' not in overrides else overrides['patience']}.",
        "Accuracy: test accuracy at the epoch of the best validation accuracy (1,000 random training images "
        "drawn anew each epoch); epochs to convergence: that epoch.",
        "errorBP: squared error on all outputs, same network and initialisation.",
        "diverged: runs whose weights overflowed (the run stops; left out of the means). Feedback alignment "
        "(fixed) on 784-300-10 diverges at lr 0.4-0.5 in the first epoch and learns at lr <= 0.3: the hidden "
        "activity grows under its non-gradient hidden updates until the output layer's delta rule is unstable "
        "(see the QAGREL docstring); the deeper network is stable at lr 0.5.",
        PAPER_NOTE,
        f"Training time: {sum(float(h['seconds'].sum()) for h in histories):.0f} s summed over "
        f"{len(histories)} runs; this invocation took {time.perf_counter() - started:.0f} s (finished runs are "
        "read back from the cache, not rerun).",
    ]
    paths = {"csv": write_csv(table.round(4), out / f"{stem}.csv"),
             "md": write_text(_markdown(
                 table, "Pozzi, Bohte & Roelfsema Table 1 (MNIST), reproduced",
                 command or f"neurorl reproduce qagrel --out {out}{' --quick' if quick else ''}", notes),
                 out / f"{stem}.md")}
    curves = _curves(histories)
    paths["nc"] = write_netcdf(curves.to_dataset(name="test_accuracy"), out / f"{stem}_curves.nc")
    from ..plotting.qagrel import plot_accuracy_by_row
    ax = plot_accuracy_by_row(curves)
    ax.set_title("Table 1 runs: test accuracy (mean ± sd over seeds)")
    paths["png"] = save_figure(ax.get_figure(), out / f"{stem}.png")
    return paths


def _curves(histories: Sequence[xr.Dataset]) -> xr.DataArray:
    """Test accuracy over (row, seed, epoch), NaN after a run stopped and for diverged runs."""
    by_row: dict[str, dict[int, np.ndarray]] = {}
    n_epochs = max(h.sizes["epoch"] for h in histories)
    for history in histories:
        config = json.loads(history.attrs["config"])
        row = _row_label(config["rule"], config["feedback"], config["hidden"]) + f" lr {config['learning_rate']:g}"
        values = np.full(n_epochs, np.nan)
        if not history.attrs.get("diverged", 0):  # a diverged run has no meaningful curve
            values[:history.sizes["epoch"]] = history["test_accuracy"].values
        by_row.setdefault(row, {})[int(config["seed"])] = values
    rows = list(by_row)
    seeds = sorted({seed for per_seed in by_row.values() for seed in per_seed})
    data = np.full((len(rows), len(seeds), n_epochs), np.nan)
    for i, row in enumerate(rows):
        for j, seed in enumerate(seeds):
            if seed in by_row[row]:
                data[i, j] = by_row[row][seed]
    return xr.DataArray(data, dims=("row", "seed", "epoch"),
                        coords={"row": rows, "seed": seeds, "epoch": np.arange(1, n_epochs + 1)},
                        attrs={"long_name": "greedy accuracy on the test set", "units": "1"})


# ------------------------------------------------------------------------------------------------------ CLI

def _train_outputs(history: xr.Dataset, out: Path) -> list[Path]:
    from ..plotting.qagrel import plot_alignment, plot_learning_curve, plot_selection_frequency
    paths = [write_csv(history_to_frame(history), out / "history.csv"), write_netcdf(history, out / "history.nc")]
    paths.append(save_figure(plot_learning_curve(history).get_figure(), out / "learning_curve.png"))
    paths.append(save_figure(plot_selection_frequency(history).get_figure(), out / "selection_frequency.png"))
    if "alignment_angle" in history:
        paths.append(save_figure(plot_alignment(history).get_figure(), out / "alignment_angle.png"))
    return paths


def _config_from_args(args: argparse.Namespace, rule: str) -> dict:
    if args.epochs is None:
        args.epochs = 10
    if args.epochs < 1:
        raise InvalidArgumentError(f"--epochs must be >= 1, got {args.epochs}")
    if not args.lr > 0:
        raise InvalidArgumentError(f"--lr must be > 0, got {args.lr}")
    if any(n < 1 for n in args.hidden):
        raise InvalidArgumentError(f"--hidden sizes must be >= 1, got {args.hidden}")
    config = {"rule": rule, "hidden": list(args.hidden), "learning_rate": args.lr, "seed": args.seed,
              "epochs": args.epochs, "batch_size": args.batch_size, "bias": not args.no_bias,
              "dtype": "float64" if args.float64 else "float32", "patience": args.patience,
              "lr_drop_epoch": args.lr_drop_epoch, "n_train": args.n_train, "n_test": args.n_test,
              "data_dir": args.mnist_dir, "dataset": args.dataset}
    if rule == "qagrel":
        config.update(feedback=args.feedback, epsilon=args.epsilon, temperature=args.temperature)
    else:
        if args.feedback != "symmetric":
            raise InvalidArgumentError("--feedback fixed for backprop needs --protocol paper")
        config["loss"] = args.loss
    return config


def _run_train_paper(args: argparse.Namespace, rule: str) -> int:
    from .pozzi2018 import run_paper_training, write_run
    epochs = 1000 if args.epochs is None else args.epochs
    if epochs < 1:
        raise InvalidArgumentError(f"--epochs must be >= 1, got {epochs}")
    if not args.lr > 0:
        raise InvalidArgumentError(f"--lr must be > 0, got {args.lr}")
    if any(n < 1 for n in args.hidden):
        raise InvalidArgumentError(f"--hidden sizes must be >= 1, got {args.hidden}")
    if args.patience is not None:
        raise InvalidArgumentError("--patience belongs to the fast protocol; the paper stops at 5 equal validations")
    config = {"rule": rule, "hidden": list(args.hidden), "learning_rate": args.lr, "seed": args.seed,
              "max_epochs": epochs, "batch_size": args.batch_size, "feedback": args.feedback,
              "dtype": "float64" if args.float64 else "float32", "lr_drop_epoch": args.lr_drop_epoch,
              "limit_train": args.n_train, "limit_test": args.n_test, "data_dir": args.mnist_dir,
              "dataset": args.dataset}
    if rule == "qagrel":
        config.update(epsilon=args.epsilon, temperature=args.temperature)
    else:
        config["loss"] = args.loss
    threads = None if args.threads is None or args.threads < 1 else args.threads
    # the checkpoint is a resumable cache: it lives in --out itself (not the staging folder), so a stopped
    # run resumes from it
    checkpoint = Path(args.out) / "checkpoint.npz"
    _check_training_memory(args)
    run, model = run_paper_training(config, checkpoint=checkpoint, blas_threads=threads, desc=f"{rule} epochs")
    paths = write_run(run, staging_of(args), model=model,
                      extra={"diverged_epoch": int(run.stopped_epoch) if run.diverged else -1})
    checkpoint.unlink(missing_ok=True)
    if run.diverged:
        return _diverged(args, rule, int(run.stopped_epoch), paths["run"])
    state = "met the stopping criterion" if run.converged else "did not meet the stopping criterion"
    print(f"{rule} (paper protocol) on {config['dataset']}: {state}, stopping epoch {run.stopped_epoch}, test "
          f"accuracy {100 * run.final_test_accuracy:.2f}%, {run.history['seconds'].sum():.1f} s")
    for path in paths.values():
        print(f"wrote {display_path(args, path)}")
    return 0


def _run_train(args: argparse.Namespace, rule: str) -> int:
    if args.protocol == "paper":
        return _run_train_paper(args, rule)
    config = _config_from_args(args, rule)
    threads = None if args.threads is None or args.threads < 1 else args.threads
    _check_training_memory(args)
    history = run_training(config, desc=f"{rule} epochs", blas_threads=threads)
    paths = _train_outputs(history, staging_of(args))
    summary = summarize_run(history)
    run_json = {**summary, "diverged_epoch": int(history.attrs.get("diverged_epoch", -1)), "protocol": "fast",
                "config": json.loads(history.attrs["config"])}
    paths.append(write_text(json.dumps(run_json, indent=1, sort_keys=True, default=str) + "\n", staging_of(args) / "run.json"))
    if summary["diverged"]:
        return _diverged(args, rule, int(history.attrs.get("diverged_epoch", history.sizes["epoch"])), paths[-1])
    print(f"{rule} on {history.attrs['dataset']}: test accuracy {100 * history['test_accuracy'].values[-1]:.2f}% after "
          f"{history.sizes['epoch']} epochs (best validation at epoch {summary['converged_epoch']}: test "
          f"{100 * summary['final_test_accuracy']:.2f}%), {summary['seconds']:.1f} s")
    for path in paths:
        print(f"wrote {display_path(args, path)}")
    return 0


def _check_training_memory(args: argparse.Namespace) -> None:
    """Refuse a training run whose images cannot fit in memory (60,000 + 10,000 MNIST images at most)."""
    from .._memory import check_memory, train_bytes

    n_train = 60000 if args.n_train is None else min(args.n_train, 60000)
    n_test = 10000 if args.n_test is None else min(args.n_test, 10000)
    check_memory(train_bytes(n_train, n_test, float64=bool(getattr(args, "float64", False))),
                 ["--n-train", "--n-test"], what=f"{n_train} training and {n_test} test images")


def _diverged(args: argparse.Namespace, rule: str, epoch: int, record: Path) -> int:
    """Report a diverged run in one line (its history and run.json are kept in --out) and fail (exit 1)."""
    import sys

    print(f"neurorl: error: {rule} diverged at epoch {epoch} (Q-values or weights overflowed at --lr {args.lr:g}; "
          f"lower --lr); recorded in {display_path(args, record)}", file=sys.stderr)
    args._commit_on_failure = True  # the record of the failed run is written to --out
    return 1


def _run_reproduce(args: argparse.Namespace) -> int:
    if args.protocol == "paper" and not args.quick:
        return _run_reproduce_paper(args)
    if args.rows is not None:
        raise InvalidArgumentError("--rows needs --protocol paper")
    overrides = {key: value for key, value in (("n_train", args.n_train), ("n_test", args.n_test),
                                               ("data_dir", args.mnist_dir)) if value is not None}
    command = "neurorl reproduce qagrel --out " + str(args.out) + (" --quick" if args.quick else "")
    # the cache of finished runs lives in --out itself (not the staging folder): it survives a failed run
    cache = args.cache if args.cache is not None else Path(args.out) / "cache"
    paths = reproduce_table1(staging_of(args), quick=args.quick, seeds=args.seeds, epochs=args.epochs,
                             learning_rates=args.lr, cache_dir=cache, command=command, jobs=args.jobs,
                             scheduler=args.scheduler, show_progress=not args.quiet, **overrides)
    print(Path(paths["md"]).read_text(encoding="utf-8"))
    for path in paths.values():
        print(f"wrote {display_path(args, path)}")
    return 0


def _run_reproduce_paper(args: argparse.Namespace) -> int:
    from .pozzi2018 import reproduce_paper_table1
    if args.lr is not None:
        raise InvalidArgumentError("--lr: the paper protocol uses each row's learning rate from Table 1")
    overrides = {key: value for key, value in (("limit_train", args.n_train), ("limit_test", args.n_test),
                                               ("data_dir", args.mnist_dir), ("max_epochs", args.epochs))
                 if value is not None}
    command = "neurorl reproduce qagrel --out " + str(args.out)
    if args.rows is not None:
        command += " --rows " + " ".join(args.rows)
    if args.seeds is not None:
        command += " --seeds " + " ".join(map(str, args.seeds))
    # finished runs and checkpoints are resumable: they live in --out itself, not the staging folder
    stem = "pozzi2018_table1"
    runs = args.runs if args.runs is not None else Path(args.out) / stem / "runs"
    cache = args.cache if args.cache is not None else Path(args.out) / "cache" / stem
    paths = reproduce_paper_table1(staging_of(args), rows=args.rows, seeds=args.seeds, cache_dir=cache,
                                   runs_dir=runs, jobs=args.jobs, stem=stem, scheduler=args.scheduler, command=command,
                                   show_progress=not args.quiet, **overrides)
    print(Path(paths["md"]).read_text(encoding="utf-8"))
    for path in paths.values():
        print(f"wrote {display_path(args, path)}")
    return 0


def mnist_inputs(args: argparse.Namespace) -> list[Path]:
    """The data set folder a training command reads (for ``manifest.json``; none when it is not found, the
    command then says so itself)."""
    from ..errors import NeurorlError
    from ..io.mnist import find_mnist_dir

    data_dir = getattr(args, "mnist_dir", None) or getattr(args, "data_dir", None)
    try:
        return [find_mnist_dir(data_dir, dataset=getattr(args, "dataset", "mnist"))]
    except (NeurorlError, OSError):
        return []


def _add_training_options(p: argparse.ArgumentParser) -> None:
    from .. import _argtypes as T

    p.add_argument("--hidden", type=T.positive_int, nargs="+", default=[300, 100], help="hidden-layer sizes (default 300 100)")
    p.add_argument("--protocol", choices=("fast", "paper"), default="fast",
                   help="fast (default): every image trained each epoch, validation every epoch, optional "
                        "patience stop; paper: the protocol of Pozzi et al. (fresh 1,000 held-out validation "
                        "images each epoch, validation every 5 epochs, stop at 5 equal validations, no biases, "
                        "up to 1000 epochs); writes history.csv, class_counts.csv, model.npz and run.json")
    p.add_argument("--epochs", type=T.positive_int, default=None,
                   help="maximum number of epochs (default 10; 1000 with --protocol paper)")
    p.add_argument("--lr", type=T.positive_float, default=0.5, help="learning rate (default 0.5)")
    p.add_argument("--seed", type=T.seed, default=0, help="random seed (default 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--batch-size", type=T.positive_int, default=100, help="trials per update (default 100)")
    p.add_argument("--no-bias", action="store_true", help="units without biases")
    p.add_argument("--float64", action="store_true", help="compute in float64 (default float32)")
    p.add_argument("--patience", type=T.positive_int, default=None,
                   help="stop after this many epochs without better validation accuracy (default: never)")
    # 500: Pozzi et al.'s protocol divides the learning rate by 10 after 500 epochs (the paper, Methods)
    p.add_argument("--lr-drop-epoch", type=T.positive_int, default=500,
                   help="divide the learning rate by 10 from this epoch on (default 500, as the paper)")
    p.add_argument("--threads", type=T.nonnegative_int, default=1,
                   help="BLAS threads (default 1: the matrices are small, more threads gain little and slow "
                        "down sharply when cores are shared; 0: the BLAS library's default)")
    p.add_argument("--dataset", choices=("mnist", "fashion-mnist"), default="mnist",
                   help="image set (default mnist; fashion-mnist: Zalando's clothing images in the same format)")
    _add_data_options(p, fashion=True)


def _add_data_options(p: argparse.ArgumentParser, fashion: bool = False) -> None:
    from .. import _argtypes as T

    where = ("$NEURORL_MNIST_DIR / $NEURORL_FASHION_MNIST_DIR, the user cache, or for Fashion-MNIST Debian's "
             "/usr/share/datasets/fashion-mnist") if fashion else "$NEURORL_MNIST_DIR or the user cache"
    p.add_argument("--data-dir", "--mnist-dir", dest="mnist_dir", default=None,
                   help=f"folder with the idx files of the data set (default: {where})")
    p.add_argument("--n-train", type=T.positive_int, default=None, metavar="N",
                   help="use only the first N training images (default: all)")
    p.add_argument("--n-test", type=T.positive_int, default=None, metavar="N",
                   help="use only the first N test images (default: all)")


def register(groups: dict, parent: argparse.ArgumentParser) -> None:
    """Add ``train qagrel``, ``train backprop`` and ``reproduce qagrel`` to the ``neurorl`` command."""
    p = groups["train"].add_parser("qagrel", parents=[parent], help="train Q-AGREL on MNIST by trial and error",
                                   description="Train a Q-AGREL network on MNIST or Fashion-MNIST (reward 1 for "
                                               "the right class).")
    from .. import _argtypes as T

    _add_training_options(p)
    p.add_argument("--feedback", choices=FEEDBACK_MODES, default="symmetric", help="feedback weights")
    p.add_argument("--epsilon", type=T.probability, default=0.02, help="exploration probability (default 0.02)")
    p.add_argument("--temperature", type=T.positive_float, default=1.0, help="Boltzmann temperature (default 1)")
    p.set_defaults(func=lambda args: _run_train(args, "qagrel"), _out_inputs=mnist_inputs)

    p = groups["train"].add_parser("backprop", parents=[parent], help="train the error-backprop baseline on MNIST",
                                   description="Train the same network with error backpropagation (supervised) "
                                               "on MNIST or Fashion-MNIST.")
    _add_training_options(p)
    p.add_argument("--loss", choices=LOSSES, default="squared_error", help="loss (default squared_error)")
    p.add_argument("--feedback", choices=BACKPROP_FEEDBACK_MODES, default="symmetric",
                   help="symmetric (exact gradients, default) or fixed (feedback alignment; --protocol paper)")
    p.set_defaults(func=lambda args: _run_train(args, "backprop"), _out_inputs=mnist_inputs)

    p = groups["reproduce"].add_parser(
        "qagrel", parents=[parent], help="reproduce Table 1 of Pozzi, Bohte & Roelfsema (MNIST)",
        description="Run every row of Table 1 (rules x feedback modes x networks x learning rates) over seeds; "
                    "resumable (finished runs are cached).")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--protocol", choices=("paper", "fast"), default="paper",
                   help="paper (default): all 16 rows of Table 1 by the paper's protocol, each finished run's "
                        "history.csv, class_counts.csv and run.json under OUT/pozzi2018_table1/runs/<row>/seed<k>/ "
                        "(skipped when there), table OUT/pozzi2018_table1.{csv,md}; fast: the earlier faster "
                        "protocol (every image trained each epoch, patience stop) on our learning-rate grid")
    p.add_argument("--quick", action="store_true", help="fast protocol, 3 seeds x 10 epochs at lr 0.5 (and feedback "
                   "alignment on 784-300-10 at lr 0.2)")
    p.add_argument("--rows", nargs="+", default=None,
                   help="paper protocol: Table 1 rows to run, 1-16 or row ids (default all)")
    p.add_argument("--runs", default=None, help="paper protocol: folder of finished runs "
                   "(default OUT/pozzi2018_table1/runs)")
    p.add_argument("--seeds", type=T.seed, nargs="+", default=None,
                   help="override the seeds (paper protocol default 0-9, seeds 0-2 of every row first)")
    p.add_argument("--epochs", type=T.positive_int, default=None,
                   help="override the maximum number of epochs (default: the protocol's)")
    p.add_argument("--lr", type=T.positive_float, nargs="+", default=None,
                   help="override the learning rates (default: each row's)")
    p.add_argument("--cache", default=None, help="cache folder (fast: finished runs, default OUT/cache; paper: "
                   "checkpoints and trained networks, default OUT/cache/pozzi2018_table1)")
    p.add_argument("--jobs", type=T.workers, default=1,
                   help="runs at a time (joblib processes, 1 BLAS thread each; -1: one per core)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786 (default: run here)")
    _add_data_options(p)
    p.set_defaults(func=_run_reproduce, _out_inputs=mnist_inputs)
