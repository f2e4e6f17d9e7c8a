"""Detection rate and false-positive rates of the tau-reversal permutation test at the size of the real data.

For each population model and seed this script simulates 40 cells with the real cells' trial counts (each real
cell was recorded in its own file: one simulated session per cell, truncated to that cell's number of rewarded
trials, 135-303) and firing matched to the real cells (median baseline 5.65 spikes/s, log-sd 0.51; gain 0.68,
so that the mean response to 20 µl is about the real cells' 8.8 spikes/s -- both measured on the 40 real cells
by ``analyses/dabney2020.py``), runs the split-half tau-reversal test with its permutation p, and appends one
row per run to ``power.csv``:

* ``expectile`` -- distributional TD (the detection rate: no threshold, with 40 cells it is below 1);
* ``classic``, ``classic_concave`` (utility exponent 0.5) -- the classic-TD nulls;
* ``additive_bias`` at the real baseline rates, and ``additive_bias_40hz`` (median baseline 40 spikes/s: the
  firing floor at 0 spikes/s out of reach) -- the additive-bias null.

Each row also has the same test restricted to the cells that stay off the firing floor (every reward size's
mean rate in the response window >= 1 spike/s; ``p_perm_off_floor``), the diagnostic of the floor effect
(see ``FIGURES.md``, ED Fig. 4h).

Usage (from the repository root; runs are appended, so an interrupted run continues where it stopped)::

    nice -n 15 python analyses/dabney2020_power.py --seeds 100
    python analyses/dabney2020_power.py --summary        # the rates with 95% Clopper-Pearson intervals
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
DEFAULT_CSV = REPO / "analyses" / "results" / "dabney2020" / "power.csv"

#: Rewarded trials of each of the 40 real cells (sorted; measured on the shipped files, plain counts).
REAL_TRIAL_COUNTS: tuple[int, ...] = (
    135, 139, 146, 148, 150, 162, 164, 168, 179, 187, 187, 188, 193, 193, 198, 198, 198, 205, 207, 212,
    213, 213, 221, 228, 228, 250, 250, 264, 270, 281, 281, 281, 284, 285, 289, 291, 291, 294, 303, 303)
#: Firing matched to the real cells (measured on the 40 real cells: baseline median and log-sd; the gain gives
#: the real mean response to 20 µl, 8.8 spikes/s; the simulator's gain 1 gives about 13).
REAL_FIRING = dict(baseline_rate=5.65, baseline_spread=0.51, gain=0.68)
#: Population models: name -> (code, extra simulator arguments).
MODELS: dict[str, tuple[str, dict]] = {
    "expectile": ("expectile", {}),
    "classic": ("classic", {}),
    "classic_concave": ("classic", {"utility_exponent": 0.5}),
    "additive_bias": ("additive_bias", {}),
    "additive_bias_40hz": ("additive_bias", {"baseline_rate": 40.0}),
    # the same nulls with the reversal point and the two slopes fitted jointly (--method model) instead of the
    # original's counting estimator followed by slopes through the counted reversal point
    "additive_bias_model": ("additive_bias", {}),
    "additive_bias_40hz_model": ("additive_bias", {"baseline_rate": 40.0}),
    "expectile_model": ("expectile", {}),
    "classic_model": ("classic", {}),
    "classic_concave_model": ("classic", {"utility_exponent": 0.5}),
}
#: Reversal-point estimator per model (``counting``, the original's, unless named here).
METHODS: dict[str, str] = {"additive_bias_model": "model", "additive_bias_40hz_model": "model",
                           "expectile_model": "model", "classic_model": "model", "classic_concave_model": "model"}
#: A cell is "on the floor" when some reward size's mean rate in the response window is below this (spikes/s).
FLOOR_RATE = 1.0  # assumed: one spike/s, a fifth of the real cells' mean rate at 0.1 µl is below it


def mean_rates_by_reward(recordings, window_s=(0.2, 0.6), baseline_s=1.0) -> pd.DataFrame:
    """Raw mean firing rates (spikes/s, not baseline-subtracted) per cell.

    The baseline (``baseline_s`` before each rewarded trial's baseline event, ``start_time`` by default) and
    the response window after reward (``window_s``, s) for each reward size. Works on NWB recordings and
    simulated sessions.

    Returns
    -------
    pandas.DataFrame
        One row per cell: ``session``, ``unit``, ``n_trials``, ``baseline`` and ``rate_<µl>`` per reward size.
    """
    rows = []
    for recording in recordings:
        trials = recording.trials
        volume = trials["reward_volume"].to_numpy(dtype=float)
        rewarded = np.isfinite(volume)
        base_t = trials["baseline_time" if "baseline_time" in trials else "start_time"].to_numpy(dtype=float)
        align_t = trials["align_time" if "align_time" in trials else "reward_time"].to_numpy(dtype=float)
        for unit, row in recording.units.iterrows():
            spikes = np.asarray(row["spike_times"], dtype=float)
            base = (np.searchsorted(spikes, base_t) - np.searchsorted(spikes, base_t - baseline_s)) / baseline_s
            window = (np.searchsorted(spikes, align_t + window_s[1])
                      - np.searchsorted(spikes, align_t + window_s[0])) / (window_s[1] - window_s[0])
            frame = pd.DataFrame({"volume": volume, "baseline": base, "window": window})[rewarded]
            by_size = frame.groupby("volume")["window"].mean()
            rows.append({"session": str(recording.session), "unit": int(unit), "n_trials": int(rewarded.sum()),
                         "baseline": float(frame["baseline"].mean()),
                         **{f"rate_{size:g}": float(rate) for size, rate in by_size.items()}})
    return pd.DataFrame(rows)


def off_floor(rates: pd.DataFrame, floor: float = FLOOR_RATE) -> np.ndarray:
    """Cells whose mean rate at every reward size is at least ``floor`` spikes/s."""
    columns = [c for c in rates.columns if c.startswith("rate_")]
    return (rates[columns].min(axis=1) >= floor).to_numpy()


def simulate_like_real(code: str, seed: int, **kwargs):
    """40 simulated cells, one session each, with the real cells' rewarded-trial counts and firing."""
    from neurorl.models.dopamine_recording import simulate_recordings
    from neurorl.tasks.variable_reward import VariableRewardTask

    counts = np.asarray(REAL_TRIAL_COUNTS)
    settings = {**REAL_FIRING, "n_training_trials": 10000, **kwargs}
    simulation = simulate_recordings(counts.size, counts.size, int(counts.max()), code=code,
                                     task=VariableRewardTask(other_fraction=0.0), seed=seed, **settings)
    for session, n in zip(simulation.sessions, counts, strict=True):
        session.trials = session.trials.iloc[:n]
    return simulation


def one_run(model: str, seed: int, *, n_splits: int, n_permutations: int) -> dict:
    from neurorl.analysis.responses import compute_responses
    from neurorl.analysis.reversal import off_floor, tau_reversal_correlation, tau_reversal_test

    code, extra = MODELS[model]
    method = METHODS.get(model, "counting")
    simulation = simulate_like_real(code, seed, **extra)
    responses = compute_responses(simulation.sessions)
    test = tau_reversal_correlation(responses, n_splits=n_splits, seed=seed, n_permutations=n_permutations,
                                    method=method)
    keep = off_floor(responses).to_numpy()
    # the same test on the cells off the floor: with --method model this is neurorl's reported test
    sub = tau_reversal_test(responses, n_splits=n_splits, seed=seed, n_permutations=n_permutations,
                            method=method) if keep.sum() >= 5 else None
    rates = mean_rates_by_reward(simulation.sessions)
    baseline = rates["baseline"].to_numpy()
    return {"model": model, "seed": seed, "n_cells": int(responses.sizes["cell"]),
            "r_median": float(test["r_median"]), "p_median": float(test["p_median"]),
            "p_perm": float(test["p_perm"]),
            "n_off_floor": int(keep.sum()),
            "p_perm_off_floor": float(sub["p_perm"]) if sub is not None else np.nan,
            "r_median_off_floor": float(sub["r_median"]) if sub is not None else np.nan,
            "mean_response_20ul": float(np.mean(rates["rate_20"].to_numpy() - baseline)),
            "mean_response_0.1ul": float(np.mean(rates["rate_0.1"].to_numpy() - baseline)),
            "n_splits": n_splits, "n_permutations": n_permutations}


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    from scipy.stats import beta

    a = (1 - level) / 2
    low = 0.0 if k == 0 else float(beta.ppf(a, k, n - k + 1))
    high = 1.0 if k == n else float(beta.ppf(1 - a, k + 1, n - k))
    return low, high


def summarize(table: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Rate of p_perm < alpha per model (all cells, and cells off the floor), with 95% Clopper-Pearson CIs."""
    rows = []
    for model in [m for m in MODELS if m in set(table["model"])]:
        part = table[table["model"] == model]
        row = {"model": model, "runs": len(part)}
        for column, label in (("p_perm", "rate"), ("p_perm_off_floor", "rate_off_floor")):
            p = part[column].to_numpy(dtype=float)
            p = p[np.isfinite(p)]
            k = int(np.sum(p < alpha))
            low, high = clopper_pearson(k, p.size) if p.size else (np.nan, np.nan)
            row.update({label: k / p.size if p.size else np.nan, f"{label}_low": low, f"{label}_high": high,
                        f"{label}_runs": int(p.size)})
        row["median_r"] = float(part["r_median"].median())
        row["median_n_off_floor"] = float(part["n_off_floor"].median())
        row["mean_response_20ul"] = float(part["mean_response_20ul"].mean())
        row["mean_response_0.1ul"] = float(part["mean_response_0.1ul"].mean())
        rows.append(row)
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100, help="runs per model (default 100)")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=list(MODELS))
    parser.add_argument("--splits", type=int, default=200, help="random split-halves per run (default 200)")
    parser.add_argument("--permutations", type=int, default=199, help="permutations per run (default 199)")
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV, help="runs table (appended)")
    parser.add_argument("--summary", action="store_true", help="print the rates and exit")
    args = parser.parse_args(argv)
    done = pd.read_csv(args.csv) if args.csv.is_file() else pd.DataFrame(columns=["model", "seed"])
    if args.summary:
        print(summarize(done).to_string(index=False))
        return 0
    finished = set(zip(done["model"], done["seed"].astype(int), strict=True))
    started = time.perf_counter()
    for seed in range(args.seeds):                      # seeds outer: every model advances together
        for model in args.models:
            if (model, 10_000 + seed) in finished:
                continue
            row = one_run(model, 10_000 + seed, n_splits=args.splits, n_permutations=args.permutations)
            frame = pd.DataFrame([row])
            args.csv.parent.mkdir(parents=True, exist_ok=True)
            frame.to_csv(args.csv, mode="a", header=not args.csv.is_file(), index=False)
            print(f"{model:<20} seed {seed:3d}: p_perm {row['p_perm']:.3f}, off floor {row['n_off_floor']} cells "
                  f"p {row['p_perm_off_floor']:.3f} ({time.perf_counter() - started:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
