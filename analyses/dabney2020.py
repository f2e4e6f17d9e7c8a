"""Dabney et al. (Nature 2020) on the 40 real dopamine cells, next to simulated classic- and distributional-TD cells.

From a folder of the Eshel / Uchida CommonFormat MATLAB files (one cell per file) this script

1. converts each file to NWB with neurorl's importer (into a temporary folder; the data never enter the
   repository), reads them back and runs the same analyses as ``neurorl fit dopamine``: per-cell reversal
   points (µl and utility axis) and asymmetries with bootstrap CIs, the split-half tau-reversal correlation
   and reversal-point reliability over random splits, and expectile-imputation decoding;
2. runs the same analyses on simulated populations of the same size and a comparable number of trials:
   distributional TD (expectile code), distributional TD (quantile code) and classic TD (the null);
3. writes figures and a results table to ``analyses/results/dabney2020/`` (``results.csv``, ``results.md``,
   ``cells_real.csv``, ``summary_<population>.png``, ``asymmetry_vs_reversal.png``).

Usage (from the repository root)::

    python analyses/dabney2020.py                       # data: ../shared/data/dabney2020/variable-reward
    python analyses/dabney2020.py --data DIR --out analyses/results/dabney2020 --splits 1000 --bootstrap 200
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "dabney2020" / "variable-reward"
DEFAULT_OUT = REPO / "analyses" / "results" / "dabney2020"

POPULATIONS = {  # name -> (label, simulation code or None for the real cells)
    "real": ("real cells (Eshel/Uchida, 40 VTA dopamine neurons)", None),
    "distributional_expectile": ("simulated distributional TD (expectile code)", "expectile"),
    "distributional_quantile": ("simulated distributional TD (quantile code)", "quantile"),
    "classic": ("simulated classic TD (null)", "classic"),
}


def load_real(data: Path, workdir: Path):
    """Convert the MATLAB files to NWB in ``workdir`` and read them back."""
    from neurorl.io.commonformat import convert_commonformat_folder
    from neurorl.io.nwb import read_dopamine_folder

    convert_commonformat_folder(data, workdir, show_progress=False)
    return read_dopamine_folder(workdir)


def simulate(code: str, n_cells: int, n_sessions: int, n_trials: int, seed: int):
    """A simulated population (objects with .session/.units/.trials, fed straight to the analyses)."""
    from neurorl.models.dopamine_recording import simulate_recordings
    from neurorl.tasks.variable_reward import VariableRewardTask

    task = VariableRewardTask(other_fraction=0.2)  # about a fifth of the real trials are unrewarded
    sessions, truth = simulate_recordings(n_cells, n_sessions, n_trials, code=code, task=task, seed=seed)
    return sessions, truth


def wasserstein_to_task(decoded) -> float:
    from scipy.stats import wasserstein_distance

    from neurorl.tasks.variable_reward import VariableRewardTask

    task = VariableRewardTask()
    samples = decoded["samples"].to_numpy()[decoded["kept"].to_numpy()].ravel()
    return float(wasserstein_distance(samples, task.volumes, v_weights=task.probs))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of CommonFormat .mat files")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results folder")
    parser.add_argument("--splits", type=int, default=1000, help="random split-halves (default 1000)")
    parser.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--sim-sessions", type=int, default=20, help="sessions per simulated population")
    parser.add_argument("--sim-trials", type=int, default=300, help="trials per simulated session")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from neurorl.io.results import save_figure, write_csv, write_text
    from neurorl.pipelines.dopamine import _figures, analyze_dopamine
    from neurorl.plotting.dopamine import plot_asymmetry_vs_reversal
    from neurorl.tasks.variable_reward import VariableRewardTask

    if not args.data.is_dir():
        print(f"dabney2020: error: {args.data}: no such folder (the real cells live in ../shared/data)",
              file=sys.stderr)
        return 1
    task = VariableRewardTask()
    started = time.perf_counter()
    rows, fits = [], {}
    with tempfile.TemporaryDirectory(prefix="neurorl-dabney2020-") as workdir:
        real = load_real(args.data, Path(workdir))
        n_real_cells = sum(len(r.units) for r in real)
        settings = dict(n_bootstrap=args.bootstrap, n_splits=args.splits, seed=args.seed)
        runs = [("real", real, None), ("real_original_smoothing", real, "original")]
        for offset, (name, (_label, code)) in enumerate(list(POPULATIONS.items())[1:]):
            sessions, _ = simulate(code, n_real_cells, args.sim_sessions, args.sim_trials, args.seed + 1 + offset)
            runs.append((name, sessions, None))
        for name, recordings, smoothing in runs:
            results = analyze_dopamine(recordings, smoothing=smoothing, data_name=name, make_figures=False, **settings)
            fits[name] = results
            s = results.summary
            rows.append({
                "population": name,
                "description": POPULATIONS.get(name, ("real cells, original spike smoothing", None))[0],
                "n_cells": s["n_cells"],
                "n_trials": s["n_trials"],
                "tau_reversal_r": s["tau_reversal_r"],
                "tau_reversal_p": s["tau_reversal_p"],
                "tau_reversal_fraction_significant": s["tau_reversal_fraction_significant"],
                "reversal_split_half_r": s["reversal_split_half_r"],
                "reversal_split_half_p": s["reversal_split_half_p"],
                "decode_loss": s["decode_loss"],
                "decode_wasserstein_ul": wasserstein_to_task(results.decoded),
            })
            print(f"{name:<28} r(tau, reversal) = {s['tau_reversal_r']:+.2f} (p = {s['tau_reversal_p']:.2g}), "
                  f"split-half r = {s['reversal_split_half_r']:+.2f}, decode W1 = {rows[-1]['decode_wasserstein_ul']:.2f} µl",
                  flush=True)

    table = pd.DataFrame(rows)
    out = args.out
    command = "python analyses/dabney2020.py" + "".join(
        f" {flag} {shlex.quote(str(value))}" for flag, value, default in (
            ("--splits", args.splits, 1000), ("--bootstrap", args.bootstrap, 200), ("--seed", args.seed, 0),
            ("--sim-sessions", args.sim_sessions, 20), ("--sim-trials", args.sim_trials, 300))
        if value != default)
    write_csv(table, out / "results.csv")
    write_csv(fits["real"].cells, out / "cells_real.csv")

    taus = np.linspace(0.01, 0.99, 99)
    curves = {"distributional TD (task expectiles)": (task.expectile(taus), taus),
              "classic TD (task mean)": ([task.mean, task.mean], [0.0, 1.0])}
    for name, results in fits.items():
        figures = _figures(results.fit, results.decoded, task)
        figures["summary"].suptitle(POPULATIONS.get(name, ("real cells, original spike smoothing", None))[0])
        save_figure(figures["summary"], out / f"summary_{name}.png", dpi=80)
    fig = Figure(figsize=(13, 7), layout="constrained")
    axes = fig.subplots(2, 4)
    for column, name in enumerate(["real", "distributional_expectile", "distributional_quantile", "classic"]):
        plot_asymmetry_vs_reversal(fits[name].fit, ax=axes[0, column], model_curves=curves)
        axes[0, column].set_title(POPULATIONS[name][0].replace(" (", "\n(") + "\nsame trials", fontsize=9)
        plot_asymmetry_vs_reversal(fits[name].fit, ax=axes[1, column], axis="utility", halves=True)
        axes[1, column].set_title(f"tau (half B) vs reversal point (half A), utility axis\n"
                                  f"median r over {args.splits} splits = {fits[name].summary['tau_reversal_r']:+.2f}",
                                  fontsize=9)
    save_figure(fig, out / "asymmetry_vs_reversal.png", dpi=100)

    shown = table.drop(columns=["description"]).copy()
    lines = ["# Dabney et al. 2020: real dopamine cells vs simulated TD populations", "",
             f"Made with `{command}` (neurorl; {time.perf_counter() - started:.0f} s). Split-half statistics are "
             f"medians over {args.splits} random splits (utility axis, counting estimator, as the original); "
             "decode W1 = Wasserstein-1 distance (µl) between the decoded and the task reward distribution.", "",
             "| population | cells | r(tau, reversal) | p | fraction p<0.05 | split-half r | p | decode W1 (µl) |",
             "|---|---|---|---|---|---|---|---|"]
    for row in shown.itertuples(index=False):
        lines.append(f"| {row.population} | {row.n_cells} | {row.tau_reversal_r:+.2f} | {row.tau_reversal_p:.2g} | "
                     f"{row.tau_reversal_fraction_significant:.2f} | {row.reversal_split_half_r:+.2f} | "
                     f"{row.reversal_split_half_p:.2g} | {row.decode_wasserstein_ul:.2f} |")
    lines += ["", "Figures: `asymmetry_vs_reversal.png`, `summary_<population>.png`. Per-cell real-data fits: "
              "`cells_real.csv`.", ""]
    write_text("\n".join(lines), out / "results.md")
    print(f"wrote results to {out} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
