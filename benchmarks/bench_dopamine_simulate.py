"""Benchmark: simulating dopamine recordings (``neurorl.models.dopamine_recording.simulate_recordings``).

neurorl draws the spikes of all cells and trials of a session at once (Poisson counts per (cell, rate segment),
order statistics of uniforms without a sort). The reference is the plain approach: a Python loop over cells and
rate segments, one ``rng.poisson`` and one sorted ``rng.uniform`` draw per segment, same model and segments. The
reference is timed on a subset of cells and scaled linearly (its cost is linear in cells).

Run ``python benchmarks/bench_dopamine_simulate.py [--quick]``.
"""

from __future__ import annotations

import numpy as np
from run import bench_main, median_time

from neurorl.models.dopamine_recording import simulate_recordings


def _reference_session(trials, truth, response_window=(0.1, 0.7), seed=0) -> list[np.ndarray]:
    """Per-cell, per-segment loop (the plain way), same rate model as the simulator."""
    rng = np.random.default_rng(seed)
    start = trials["start_time"].to_numpy()
    reward_time = trials["reward_time"].to_numpy()
    volume = trials["reward_volume"].to_numpy()
    cued = trials["trial_type"].to_numpy() == "cued"
    end = trials["stop_time"].max() + 2.0
    out = []
    for cell in truth.itertuples():
        events = []                                      # (start, stop, rate)
        for j in range(len(trials)):
            delta = volume[j] - cell.reversal_point
            slope = cell.slope_pos if delta > 0 else cell.slope_neg
            events.append((reward_time[j] + response_window[0], reward_time[j] + response_window[1],
                           max(0.0, cell.baseline_rate + slope * delta)))
            if cued[j]:
                up = cell.slope_pos / cell.gain
                events.append((start[j] + response_window[0], start[j] + response_window[1],
                               max(0.0, cell.baseline_rate + cell.cue_gain * up * cell.cue_rpe)))
        events.sort()
        spikes = []
        t = 0.0
        for e0, e1, rate in events + [(end, end, 0.0)]:
            for s0, s1, r in ((t, e0, cell.baseline_rate), (e0, e1, rate)):
                n = rng.poisson(r * (s1 - s0))
                spikes.append(np.sort(rng.uniform(s0, s1, n)))
            t = e1
        out.append(np.concatenate(spikes))
    return out


def run(quick: bool = False) -> list[dict]:
    """Time the simulator; rows ``{"benchmark", "neurorl_s", "reference", "reference_s", "ratio"}``."""
    n_cells, n_sessions, n_trials = (40, 4, 100) if quick else (40, 4, 500)
    repeats = 3
    sim = simulate_recordings(n_cells, n_sessions, n_trials, seed=0)
    n_spikes = sum(t.size for s in sim.sessions for t in s.spike_times.values())
    # spikes only: TD training (a sequential loop over trials, ~0.1 s for 10,000 trials) is skipped here
    fast = {"n_training_trials": 1, "seed": 0}
    neurorl_s = median_time(lambda: simulate_recordings(n_cells, n_sessions, n_trials, **fast), repeats)[0]

    subset = 4 if quick else 10                          # reference cells timed, then scaled to all cells
    truth = sim.ground_truth.set_index("cell")
    session = sim.sessions[0]
    cells = truth.loc[list(session.spike_times)[:subset]]
    ref_one = median_time(lambda: _reference_session(session.trials, cells), repeats)[0]
    reference_s = ref_one * n_cells / cells.shape[0]
    return [{
        "benchmark": f"spikes of {n_cells} cells x {n_sessions} sessions x {n_trials} trials ({n_spikes:,} spikes)",
        "neurorl_s": neurorl_s,
        "reference": f"per-cell/per-segment Python loop (timed on {cells.shape[0]} cells, scaled)",
        "reference_s": reference_s,
        "ratio": reference_s / neurorl_s,
    }]


def main() -> None:
    bench_main(run, __doc__, "small sizes")


if __name__ == "__main__":
    main()
