"""Table 1 of Pozzi, Bohte & Roelfsema (2018) by the paper's own protocol: all 16 rows, resumable, side by side.

The paper's numbers live in ``data/reference/pozzi2018_table1.csv`` (see the README there); every row's rule,
feedback, network and learning rate come from it. One run is :func:`run_paper_training` (the protocol of
:mod:`neurorl.models.paper_training`); :func:`reproduce_paper_table1` runs rows x seeds through
:mod:`neurorl.parallel` and writes each finished run's small files to ``RUNS/<row>/seed<k>/`` (``history.csv``,
``class_counts.csv``, ``run.json``; ``run.json`` is written last and marks the run finished), skips runs whose
files are there, and checkpoints unfinished runs every validation under a cache folder, so a stopped sweep
resumes both from committed results and from the middle of a run. The table is rebuilt from whatever runs are
finished.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InvalidArgumentError, MissingDataError
from ..io.results import write_csv, write_text
from ..models.backprop import BackpropMLP
from ..models.paper_training import PAPER_PROTOCOL, PaperRun, train_paper
from ..models.qagrel import QAGREL
from ..models.saving import save_model
from ..tasks.classification import ClassificationTask

__all__ = ["reference_table1", "paper_rows", "PAPER_CONFIG", "run_paper_training", "binarized", "write_run",
           "read_run", "reproduce_paper_table1", "paper_table1_summary", "row_id", "table1_jobs",
           "fewest_runs_first", "COMPUTATION_VERSION"]

#: Version of a paper-protocol run's computation, stored in every ``run.json``: a finished run is reused (and
#: counted in the table) only when it matches. Bump it whenever a change alters the result of a run with the same
#: settings; runs written before the key existed count as version 1. Not the package version: a release must not
#: throw away finished runs.
COMPUTATION_VERSION = 1

#: Where Table 1 comes from (cited in every table written).
SOURCE = ("Pozzi, Bohte & Roelfsema (2018), A biologically plausible learning rule for deep learning in the brain, "
          "arXiv:1811.01768, Table 1")

#: Table 1 sections -> feedback of the run.
_SECTION_FEEDBACK = {"symmetric": "symmetric", "random_feedback": "random", "feedback_alignment": "fixed"}

#: Settings of one paper-protocol run; :func:`run_paper_training` fills missing keys from here.
PAPER_CONFIG: dict = {
    "rule": "qagrel",          # "qagrel" or "backprop"
    "hidden": [300, 100],
    "feedback": "symmetric",   # qagrel: symmetric / random / fixed; backprop: symmetric / fixed
    "learning_rate": 0.5,
    "seed": 0,
    "epsilon": 0.02,           # exploration probability (assumed; the paper leaves it open)
    "temperature": 1.0,        # Boltzmann temperature (assumed)
    # errorBP loss: "For supervised error backpropagation in the same networks with error E computed as the summed
    # square error over all output Q-values q_l and target outputs q^_l, E = 1/2 sum_l (q_l - q^_l)^2" (the paper's
    # section on the equivalence with error-backpropagation, before its Eq. 15); the outputs are the linear Q-values
    # (no softmax), the targets one-hot (the reward is 1 for the correct class, 0 otherwise: the text after Eq. 7)
    "loss": "squared_error",
    "bias": False,             # the paper's equations have no biases
    # inputs: "We will present a binary image to the network" (the paper's Introduction); pixels above half the
    # grey scale -> 1, others 0 (the threshold is assumed); None: grey levels in [0, 1]
    "binarize": 0.5,
    "optimistic_q": 0.0,       # Q-AGREL options beyond the paper (its Discussion); 0 / 0: the paper's network
    "recency_bonus": 0.0,
    "recency_window": 10,      # batches (assumed)
    "dtype": "float32",
    **{key: value for key, value in PAPER_PROTOCOL.items()},
    "test_every": None,        # only test at the stopping epoch
    "dataset": "mnist",
    "limit_train": None,       # use only the first n training / test images (quick checks); None: all
    "limit_test": None,
    "data_dir": None,
}


def reference_table1() -> pd.DataFrame:
    """The paper's Table 1 (accuracy % and epochs, mean and SD over 10 seeds), one row per line of the paper."""
    from .._data import embedded_data_path

    path = embedded_data_path("reference", "pozzi2018_table1.csv")
    if path is None:
        raise MissingDataError("the reference table data/reference/pozzi2018_table1.csv is not installed",
                               "pozzi2018_table1.csv")
    return pd.read_csv(path)


def row_id(section: str, rule: str, hidden: Sequence[int], learning_rate: float) -> str:
    """Folder name of a Table 1 row, e.g. ``symmetric_qagrel_300-100_lr0.5``."""
    name = "qagrel" if rule.lower().replace("-", "") == "qagrel" else "errorbp"
    return f"{section}_{name}_{'-'.join(str(int(n)) for n in hidden)}_lr{float(learning_rate):g}"


def paper_rows() -> pd.DataFrame:
    """The 16 rows of Table 1 to run, in the paper's order, with their run settings and the paper's numbers.

    Columns: ``row`` (1-16), ``row_id``, ``section``, ``rule`` (``qagrel``/``backprop``), ``feedback``,
    ``hidden`` (tuple), ``learning_rate`` and the paper's ``accuracy_mean_pct``, ``accuracy_sd_pct``,
    ``epochs_mean``, ``epochs_sd``.
    """
    table = reference_table1()
    table = table[table["section"].isin(list(_SECTION_FEEDBACK))].reset_index(drop=True)
    records = []
    for index, r in enumerate(table.itertuples(), start=1):
        hidden = tuple(int(n) for n in str(r.hidden_units).split("-"))
        rule = "qagrel" if r.rule == "Q-AGREL" else "backprop"
        records.append({"row": index, "row_id": row_id(r.section, r.rule, hidden, r.learning_rate),
                        "section": r.section, "rule": rule, "feedback": _SECTION_FEEDBACK[r.section],
                        "hidden": hidden, "learning_rate": float(r.learning_rate),
                        "accuracy_mean_pct": r.accuracy_mean_pct, "accuracy_sd_pct": r.accuracy_sd_pct,
                        "epochs_mean": r.epochs_mean, "epochs_sd": r.epochs_sd})
    return pd.DataFrame.from_records(records)


def _build_model(config: dict, sizes: tuple[int, ...]):
    common = dict(learning_rate=config["learning_rate"], bias=config["bias"], dtype=config["dtype"],
                  seed=int(config["seed"]))
    if config["rule"] == "qagrel":
        return QAGREL(sizes, feedback=config["feedback"], epsilon=config["epsilon"],
                      temperature=config["temperature"], optimistic_q=config["optimistic_q"],
                      recency_bonus=config["recency_bonus"], recency_window=config["recency_window"], **common)
    if config["rule"] == "backprop":
        return BackpropMLP(sizes, loss=config["loss"], feedback=config["feedback"], **common)
    raise InvalidArgumentError(f"rule must be 'qagrel' or 'backprop', got {config['rule']!r}")


def _full_config(config: dict) -> dict:
    from .qagrel import _with_defaults  # one merge of settings for both protocols

    return _with_defaults(config, PAPER_CONFIG)


def run_paper_training(config: dict, *, checkpoint: str | Path | None = None, blas_threads: int | None = 1,
                       desc: str | None = None) -> tuple[PaperRun, object]:
    """Train one network by the paper's protocol as described by ``config`` (see :data:`PAPER_CONFIG`).

    Returns
    -------
    run, model
        The :class:`~neurorl.models.paper_training.PaperRun` and the trained network.
    """
    from .qagrel import _task  # the MNIST loader shared with the fast protocol (cached per process)

    config = _full_config(config)
    loader_config = {"dataset": config["dataset"], "data_dir": config["data_dir"], "n_train": config["limit_train"],
                     "n_test": config["limit_test"]}
    train_task, test_task = _task(loader_config, "train"), _task(loader_config, "test")
    if config["binarize"] is not None:
        train_task, test_task = binarized(train_task, config["binarize"]), binarized(test_task, config["binarize"])
    model = _build_model(config, (train_task.n_inputs, *config["hidden"], train_task.n_classes))
    run = train_paper(model, train_task, test_task, seed=int(config["seed"]), max_epochs=config["max_epochs"],
                      batch_size=config["batch_size"], n_validation=config["n_validation"],
                      validate_every=config["validate_every"], n_equal=config["n_equal"],
                      decimals=config["decimals"], lr_drop_epoch=config["lr_drop_epoch"],
                      lr_drop_factor=config["lr_drop_factor"], test_every=config["test_every"],
                      checkpoint=checkpoint, blas_threads=blas_threads, desc=desc)
    run.settings = {**{k: v for k, v in config.items() if k != "data_dir"}, **run.settings}
    return run, model


def binarized(task: ClassificationTask, threshold: float) -> ClassificationTask:
    """``task`` with every input set to 1 where it exceeds ``threshold`` and to 0 elsewhere (a binary image)."""
    threshold = float(threshold)
    if not np.isfinite(threshold):
        raise InvalidArgumentError(f"binarize threshold must be finite, got {threshold}")
    images = (task.stimuli > threshold).astype(task.stimuli.dtype)
    return ClassificationTask(images, task.labels, n_classes=task.n_classes)


def write_run(run: PaperRun, folder: str | Path, model=None, extra: dict | None = None) -> dict[str, Path]:
    """Write ``history.csv``, ``class_counts.csv``, ``model.npz`` (when ``model`` is given) and, last,
    ``run.json`` into ``folder``.
    """
    folder = Path(folder)
    paths = {"history": write_csv(run.history, folder / "history.csv"),
             "class_counts": write_csv(run.class_counts, folder / "class_counts.csv")}
    if model is not None:
        paths["model"] = save_model(model, folder / "model.npz")
    summary = {"stopped_epoch": run.stopped_epoch, "converged": run.converged, "diverged": run.diverged,
               "final_test_accuracy": run.final_test_accuracy, "epochs_run": run.epochs_run,
               "n_train": run.settings["n_train"], "n_validation": run.settings["n_validation"],
               "seed": run.settings["seed"], "seconds": float(run.history["seconds"].sum()),
               "seconds_per_epoch": float(run.history["seconds"].mean()),
               "protocol": "paper", "computation_version": COMPUTATION_VERSION, "settings": run.settings,
               **(extra or {})}
    paths["run"] = write_text(json.dumps(summary, indent=1, sort_keys=True, default=str) + "\n", folder / "run.json")
    return paths


def read_run(folder: str | Path) -> dict:
    """A finished run's ``run.json`` as a dict."""
    return json.loads((Path(folder) / "run.json").read_text(encoding="utf-8"))


def table1_paper_job(row: dict, seed: int, runs_dir: str, cache_dir: str, overrides: dict,
                     blas_threads: int | None = 1) -> xr.Dataset:
    """One (row, seed) run for :mod:`neurorl.parallel`: trains (resuming from its checkpoint), writes its small
    files to ``runs_dir/<row_id>/seed<seed>/`` and its network to the cache, and returns its summary.
    """
    folder = Path(runs_dir) / row["row_id"] / f"seed{seed}"
    cache = Path(cache_dir) / row["row_id"] / f"seed{seed}"
    config = {"rule": row["rule"], "hidden": list(row["hidden"]), "feedback": row["feedback"],
              "learning_rate": row["learning_rate"], "seed": int(seed), **overrides}
    run, model = run_paper_training(config, checkpoint=cache / "checkpoint.npz", blas_threads=blas_threads)
    save_model(model, cache / "model.npz")
    write_run(run, folder, extra={"row_id": row["row_id"], "row": int(row["row"])})
    with contextlib.suppress(FileNotFoundError):
        (cache / "checkpoint.npz").unlink()
    return xr.Dataset(attrs={"row_id": row["row_id"], "seed": int(seed), "stopped_epoch": run.stopped_epoch,
                             "converged": int(run.converged), "final_test_accuracy": run.final_test_accuracy})


def fewest_runs_first(pending: Sequence[tuple[dict, int]], n_finished: dict[str, int]
                      ) -> list[tuple[dict, int]]:
    """Reorder ``pending`` (row, seed) pairs breadth first, counting the runs already finished.

    Each row's k-th pending run comes at position ``n_finished[row] + k`` of a breadth-first pass: rows with
    fewer finished runs are served first, and the (stable) order of ``pending`` is kept among equals.
    """
    rank: dict[str, int] = {}
    keyed = []
    for row, seed in pending:
        rank[row["row_id"]] = rank.get(row["row_id"], -1) + 1
        keyed.append((n_finished.get(row["row_id"], 0) + rank[row["row_id"]], (row, seed)))
    return [pair for _, pair in sorted(keyed, key=lambda item: item[0])]


def _select_rows(rows: Sequence[str | int] | None) -> pd.DataFrame:
    table = paper_rows()
    if rows is None:
        return table
    chosen = []
    for item in rows:
        text = str(item)
        match = table[(table["row_id"] == text) | (table["row"].astype(str) == text)]
        if match.empty:
            raise InvalidArgumentError(f"unknown Table 1 row {text!r}; rows are 1-16 or one of: "
                                       + ", ".join(table["row_id"]))
        chosen.append(int(match.index[0]))
    return table.loc[sorted(set(chosen))]


def table1_jobs(rows: Sequence[str | int] | None = None, seeds: Sequence[int] | None = None,
                order: str = "rows") -> list[tuple[dict, int]]:
    """(row, seed) pairs in run order: shortest rows first (errorBP, then Q-AGREL, feedback alignment last; by
    the paper's epochs within a group) and seeds 0-2 of every row before the later seeds.

    ``order="seeds"`` (breadth first): the first seed of every row, then the second seed of every row, and so on,
    so that every row has a run before any row has two more.
    """
    if order not in ("rows", "seeds"):
        raise InvalidArgumentError(f"order must be 'rows' or 'seeds', got {order!r}")
    table = _select_rows(rows)
    seeds = list(range(10)) if seeds is None else [int(s) for s in seeds]
    rows_in_order = sorted(table.to_dict("records"), key=lambda r: (r["section"] == "feedback_alignment",
                                                                    r["rule"] == "qagrel", r["epochs_mean"],
                                                                    r["row"]))
    if order == "seeds":
        return sorted(((row, seed) for row in rows_in_order for seed in seeds),
                      key=lambda pair: (seeds.index(pair[1]), rows_in_order.index(pair[0])))
    return sorted(((row, seed) for row in rows_in_order for seed in seeds),
                  key=lambda pair: (pair[1] >= 3, rows_in_order.index(pair[0]), pair[1]))


#: Settings a finished run must share with the requested ones to be skipped and counted in the table.
_MATCHED_SETTINGS = ("max_epochs", "limit_train", "limit_test", "dataset", "epsilon", "temperature", "loss", "bias",
                     "dtype", "batch_size", "n_validation", "validate_every", "n_equal", "decimals",
                     "lr_drop_epoch", "lr_drop_factor", "binarize", "optimistic_q", "recency_bonus",
                     "recency_window")


def _matches(run: dict, overrides: dict) -> bool:
    expected = _full_config(overrides)
    settings = run.get("settings", {})
    if run.get("computation_version", 1) != COMPUTATION_VERSION:
        return False
    return all(settings.get(key) == expected[key] for key in _MATCHED_SETTINGS)


def paper_table1_summary(runs_dir: str | Path, overrides: dict | None = None) -> pd.DataFrame:
    """Per Table 1 row: the paper's accuracy and epochs (mean, SD), neurorl's from the finished runs under
    ``runs_dir`` (mean, SD, seeds finished), and the differences in units of the paper's SD.

    Only runs made with the settings of :data:`PAPER_CONFIG` updated by ``overrides`` are counted (a quick check
    with fewer epochs or images never mixes with paper-scale runs).
    """
    runs_dir = Path(runs_dir)
    overrides = overrides or {}
    records = []
    for row in paper_rows().itertuples():
        finished = sorted((runs_dir / row.row_id).glob("seed*/run.json"))
        runs = [run for run in (json.loads(path.read_text(encoding="utf-8")) for path in finished)
                if _matches(run, overrides)]
        accuracy = np.array([100 * r["final_test_accuracy"] for r in runs if not r.get("diverged")], dtype=float)
        epochs = np.array([r["stopped_epoch"] for r in runs if not r.get("diverged")], dtype=float)

        def stat(values, fn):
            return float(fn(values)) if len(values) > (1 if fn is _sd else 0) else float("nan")

        record = {"row": row.row, "row_id": row.row_id, "section": row.section,
                  "rule": "Q-AGREL" if row.rule == "qagrel" else "errorBP", "feedback": row.feedback,
                  "network": "-".join(str(n) for n in (784, *row.hidden, 10)), "learning_rate": row.learning_rate,
                  "paper_accuracy_mean": row.accuracy_mean_pct, "paper_accuracy_sd": row.accuracy_sd_pct,
                  "paper_epochs_mean": row.epochs_mean, "paper_epochs_sd": row.epochs_sd,
                  "n_seeds": len(runs), "n_converged": sum(bool(r["converged"]) for r in runs),
                  "n_diverged": sum(bool(r.get("diverged")) for r in runs),
                  "accuracy_mean": stat(accuracy, np.mean), "accuracy_sd": stat(accuracy, _sd),
                  "epochs_mean": stat(epochs, np.mean), "epochs_sd": stat(epochs, _sd),
                  "seconds_per_epoch": float(np.median([r["seconds_per_epoch"] for r in runs])) if runs else np.nan}
        with np.errstate(divide="ignore", invalid="ignore"):
            record["accuracy_diff_paper_sd"] = (record["accuracy_mean"] - row.accuracy_mean_pct) / row.accuracy_sd_pct
            record["epochs_diff_paper_sd"] = (record["epochs_mean"] - row.epochs_mean) / row.epochs_sd
        records.append(record)
    return pd.DataFrame.from_records(records)


def _sd(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1))


def _markdown(table: pd.DataFrame, command: str, overrides: dict | None = None) -> str:
    config = _full_config(overrides or {})
    inputs = ("grey levels scaled to [0, 1]" if config["binarize"] is None
              else f"binary images (grey level / 255 > {config['binarize']:g} -> 1, else 0; the paper: \"We will "
              "present a binary image to the network\", the threshold assumed)")
    extra = {k: config[k] for k in ("optimistic_q", "recency_bonus") if config[k]}
    if extra:
        inputs += "; Q-AGREL options beyond the paper: " + ", ".join(f"{k} = {v:g}" for k, v in extra.items())

    def num(value, digits):
        return "" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"

    def cell(mean, sd, digits):
        text = num(mean, digits)
        return text + (f" ({num(sd, digits)})" if text and num(sd, digits) else "")

    lines = ["# Pozzi, Bohte & Roelfsema Table 1 (MNIST) by the paper's protocol", "",
             f"Paper: {SOURCE}. Made with: `{command}`", "",
             "| # | section | rule | network | lr | paper accuracy % | neurorl accuracy % | Δ acc (paper SD) | "
             "paper epochs | neurorl epochs | Δ epochs (paper SD) | seeds (converged) | s / epoch |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    def diverged_note(r) -> str:
        n = int(getattr(r, "n_diverged", 0) or 0)
        return f", {n} diverged (left out of the means)" if n else ""

    for r in table.itertuples():
        paper = (f"| {r.row} | {r.section} | {r.rule} | {r.network} | {r.learning_rate:g} | "
                 f"{cell(r.paper_accuracy_mean, r.paper_accuracy_sd, 2)} | ")
        if r.n_seeds == 0:
            lines.append(paper + f"**not yet run** | | {cell(r.paper_epochs_mean, r.paper_epochs_sd, 0)} | "
                         "**not yet run** | | 0 | |")
            continue
        lines.append(
            paper + f"{cell(r.accuracy_mean, r.accuracy_sd, 2)} | "
            f"{num(r.accuracy_diff_paper_sd, 1)} | {cell(r.paper_epochs_mean, r.paper_epochs_sd, 0)} | "
            f"{cell(r.epochs_mean, r.epochs_sd, 0)} | {num(r.epochs_diff_paper_sd, 1)} | "
            f"{r.n_seeds} ({r.n_converged}){diverged_note(r)} | {num(r.seconds_per_epoch, 2)} |")
    n_done = int((table["n_seeds"] > 0).sum())
    if n_done < len(table):
        lines += ["", f"**Incomplete: {n_done} of {len(table)} rows have finished runs**; rows marked *not yet run* "
                  "have none. Re-running the same command resumes: finished runs (their `run.json`) are skipped."]
    lines += ["", "- Values: mean (SD) over the finished seeds; Δ = (neurorl mean - paper mean) / paper SD.",
              "- Protocol (the paper's Methods): each epoch holds out a fresh random draw of 1,000 training images "
              "and trains on the other 59,000 (590 batches of 100); validation every 5 epochs; stop when five "
              "validations in a row have the same accuracy in percent rounded to 0.1; the epoch reported is that "
              "stopping epoch (999 when never met within 1,000 epochs, the paper's 999*); lr / 10 from epoch 500; "
              "no biases; weights U(-0.05, 0.05); accuracy: test accuracy at the stopping epoch.",
              "- Q-AGREL: max-Boltzmann selection, epsilon 0.02, temperature 1 (assumed; the paper leaves them "
              "open). errorBP: squared error on all (linear) outputs against one-hot targets, as the paper's text "
              "defines it (\"the summed square error over all output Q-values\", before its Eq. 15); feedback "
              "alignment: fixed random feedback weights.",
              f"- Inputs: {inputs}.",
              ""]
    return "\n".join(lines)


def reproduce_paper_table1(out: str | Path, *, rows: Sequence[str | int] | None = None,
                           seeds: Sequence[int] | None = None, runs_dir: str | Path | None = None,
                           cache_dir: str | Path | None = None, jobs: int = 1, scheduler: str | None = None,
                           blas_threads: int | None = 1, command: str | None = None, show_progress: bool = True,
                           stem: str = "pozzi2018_table1", order: str = "rows", run_pending: bool = True,
                           **overrides) -> dict[str, Path]:
    """Run (or resume) Table 1 by the paper's protocol and write ``OUT/<stem>.csv`` and ``.md``.

    Parameters
    ----------
    out
        Folder of the table.
    rows
        Rows to run (1-16 or row ids; default all 16).
    seeds
        Seeds (default 0-9); seeds 0-2 of every row run before the later ones.
    order
        ``"rows"`` (default): all of a row's seeds 0-2 in turn; ``"seeds"``: breadth first, counting the runs
        already finished, so that the rows with the fewest finished runs go first (see :func:`table1_jobs`).
    run_pending
        False: only rebuild the table from the runs already finished (nothing is trained).
    runs_dir
        Where each finished run's ``history.csv``, ``class_counts.csv`` and ``run.json`` go (default
        ``OUT/<stem>/runs``); runs found there are skipped.
    cache_dir
        Checkpoints of unfinished runs and the trained networks (default ``OUT/cache/<stem>``; not committed).
    jobs, scheduler
        Local worker processes, or the address of a running Dask scheduler (its workers must see ``runs_dir``).
    blas_threads
        BLAS threads per run (default 1).
    overrides
        Further :data:`PAPER_CONFIG` settings for every run (e.g. ``max_epochs``, ``limit_train`` for a small check).

    Returns
    -------
    dict
        Paths of the written ``csv`` and ``md``.
    """
    out = Path(out)
    runs_dir = Path(runs_dir) if runs_dir is not None else out / stem / "runs"
    cache_dir = Path(cache_dir) if cache_dir is not None else out / "cache" / stem
    _full_config(overrides)  # reject unknown settings before anything runs
    if jobs < 1 and jobs != -1:
        raise InvalidArgumentError(f"jobs must be >= 1 (or -1: one per core), got {jobs}")
    from ..parallel import Job, map_jobs

    def finished(row: dict, seed: int) -> bool:
        path = runs_dir / row["row_id"] / f"seed{seed}" / "run.json"
        return path.is_file() and _matches(json.loads(path.read_text(encoding="utf-8")), overrides)

    pending = [(row, seed) for row, seed in table1_jobs(rows, seeds, order) if not finished(row, seed)]
    if order == "seeds":
        done = {row["row_id"]: sum(finished(row, s) for s in (seeds if seeds is not None else range(10)))
                for row, _ in pending}
        pending = fewest_runs_first(pending, done)
    job_list = [Job(table1_paper_job, {"row": {**row, "hidden": list(row["hidden"])}, "runs_dir": str(runs_dir),
                                       "cache_dir": str(cache_dir), "overrides": dict(overrides),
                                       "blas_threads": blas_threads},
                    seed=int(seed), config=row["row_id"]) for row, seed in pending]
    if job_list and run_pending:
        map_jobs(job_list, scheduler=scheduler, n_jobs=jobs, cache_dir=None, progress=show_progress)
    table = paper_table1_summary(runs_dir, overrides)
    command = command or f"neurorl reproduce qagrel --out {out}"
    paths = {"csv": write_csv(table.round(4), out / f"{stem}.csv"),
             "md": write_text(_markdown(table, command, overrides), out / f"{stem}.md")}
    return paths
