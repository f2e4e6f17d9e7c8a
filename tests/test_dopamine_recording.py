"""Recording simulator and ``neurorl simulate dopamine``: reproducibility, spike statistics, floor, NWB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurorl.errors import InvalidArgumentError
from neurorl.models.dopamine_recording import GROUND_TRUTH_COLUMNS, simulate_recordings
from neurorl.tasks.variable_reward import VariableRewardTask

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "data" / "dopamine_example"


def _counts(spikes: np.ndarray, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    return np.searchsorted(spikes, t1) - np.searchsorted(spikes, t0)


@pytest.fixture(scope="module")
def strong():
    """High gains, so that the firing floor is reached on small rewards."""
    return simulate_recordings(12, 3, 400, gain=3.0, n_training_trials=3000, seed=7)


def test_reproducible_by_seed_and_shapes():
    a = simulate_recordings(5, 2, 40, n_training_trials=500, seed=1)
    b = simulate_recordings(5, 2, 40, n_training_trials=500, seed=1)
    c = simulate_recordings(5, 2, 40, n_training_trials=500, seed=2)
    assert [s.session for s in a.sessions] == ["session_01", "session_02"]
    pd.testing.assert_frame_equal(a.ground_truth, b.ground_truth)
    for sa, sb in zip(a.sessions, b.sessions, strict=True):
        pd.testing.assert_frame_equal(sa.trials, sb.trials)
        assert list(sa.spike_times) == list(sb.spike_times)
        for unit in sa.spike_times:
            np.testing.assert_array_equal(sa.spike_times[unit], sb.spike_times[unit])
    assert not np.array_equal(a.sessions[0].spike_times[0], c.sessions[0].spike_times[0])
    # cells in contiguous blocks, unit ids unique over sessions; ground truth lists every cell once
    assert [list(s.spike_times) for s in a.sessions] == [[0, 1, 2], [3, 4]]
    truth = a.ground_truth
    assert list(truth.columns) == list(GROUND_TRUTH_COLUMNS)
    assert truth["cell"].tolist() == [0, 1, 2, 3, 4]
    assert truth["session"].tolist() == ["session_01"] * 3 + ["session_02"] * 2
    # SimulatedSession looks like a DopamineRecording to the analyses
    units = a.sessions[0].units
    assert units.index.name == "unit" and list(units.columns) == ["spike_times", "cell_type"]
    assert set(units["cell_type"]) == {"dopamine"}
    assert len(a.sessions[1].trials) == 40


def test_spikes_sorted_nonnegative_and_inside_the_session(strong):
    for session in strong.sessions:
        end = session.trials["stop_time"].max() + 2.0
        for times in session.spike_times.values():
            assert times.dtype == np.float64 and times.size > 0
            assert times[0] >= 0 and times[-1] <= end
            assert np.all(np.diff(times) >= 0)


def test_firing_floor_and_rates_match_the_model(strong):
    truth = strong.ground_truth.set_index("cell")
    window = 0.6                                                      # response box 0.1-0.7 s after the event
    n_floored = 0
    z_scores = []
    for session in strong.sessions:
        trials = session.trials
        reward_time = trials["reward_time"].to_numpy()
        volume = trials["reward_volume"].to_numpy()
        start = trials["start_time"].to_numpy()
        cued = trials["trial_type"].to_numpy() == "cued"
        for unit, spikes in session.spike_times.items():
            cell = truth.loc[unit]
            delta = volume - cell.reversal_point
            rate = np.maximum(0.0, cell.baseline_rate + np.where(delta > 0, cell.slope_pos, cell.slope_neg) * delta)
            counts = _counts(spikes, reward_time + 0.1, reward_time + 0.7)
            # the floor: zero rate -> not a single spike in the window
            floored = rate == 0
            n_floored += int(floored.sum())
            assert np.all(counts[floored] == 0)
            # per reward size, the summed count is Poisson(rate * 0.6 s * n)
            for v in np.unique(volume):
                sel = volume == v
                expected = rate[sel].sum() * window
                if expected > 0:
                    z_scores.append((counts[sel].sum() - expected) / np.sqrt(expected))
            # baseline: the 1 s before every trial start is at the baseline rate
            base = _counts(spikes, start - 1.0, start).sum()
            z_scores.append((base - cell.baseline_rate * start.size) / np.sqrt(cell.baseline_rate * start.size))
            # cue: gamma V(cue) is positive -> rate b + cue_gain * up * cue_rpe on cued trials
            up = cell.slope_pos / cell.gain
            cue_rate = max(0.0, cell.baseline_rate + cell.cue_gain * up * cell.cue_rpe)
            cue = _counts(spikes, start[cued] + 0.1, start[cued] + 0.7).sum()
            z_scores.append((cue - cue_rate * window * cued.sum()) / np.sqrt(cue_rate * window * cued.sum()))
    assert n_floored > 100                                            # the test exercised the floor
    z = np.asarray(z_scores)
    # ~130 Poisson z-scores: all within 5 sd, and their spread is that of unit normals
    assert np.max(np.abs(z)) < 5.0, np.max(np.abs(z))
    assert 0.7 < np.std(z) < 1.3, np.std(z)


def test_ground_truth_is_the_learned_value():
    sim = simulate_recordings(30, 3, 20, learning_rate=0.005, n_training_trials=8000, seed=3)
    truth = sim.ground_truth
    task = VariableRewardTask()
    # reversal points are the learned values: close to the exact expectiles, spread by learning noise
    tau = truth["asymmetry"].to_numpy()
    np.testing.assert_allclose(truth["exact_statistic"], task.expectile(tau))
    # stationary sd of a constant-step expectile estimator around e (see test_distributional_td):
    # E[a^2 (R - e)^2] / (2 E[a] - E[a^2]), a = a+ if R > e else a-; errors are shared by the cells (one training
    # sequence) but each cell's marginal error has this sd: five sd per cell
    e = truth["exact_statistic"].to_numpy()[:, None]
    a = np.where(task.volumes[None, :] > e, truth["alpha_pos"].to_numpy()[:, None],
                 truth["alpha_neg"].to_numpy()[:, None])
    sd = np.sqrt((a**2 * (task.volumes - e) ** 2 * task.probs).sum(1)
                 / (2 * (a * task.probs).sum(1) - (a**2 * task.probs).sum(1)))
    assert np.all(np.abs(truth["reversal_point"] - truth["exact_statistic"]) < 5 * sd)
    np.testing.assert_allclose(truth["asymmetry"], truth["alpha_pos"] / (truth["alpha_pos"] + truth["alpha_neg"]))
    np.testing.assert_allclose(truth["slope_pos"] / (truth["slope_pos"] + truth["slope_neg"]), truth["asymmetry"])
    np.testing.assert_allclose(truth["cue_rpe"], task.discount ** task.n_delay_steps * truth["reversal_point"],
                               rtol=0.2)
    # scale like the real cells: baselines of a few spikes/s, tens of spikes/s above baseline at 20 µl
    assert 2.0 < np.median(truth["baseline_rate"]) < 10.0
    excess_20 = truth["slope_pos"] * (20.0 - truth["reversal_point"])
    assert 10.0 < np.median(excess_20) < 60.0


def test_classic_and_quantile_codes():
    classic = simulate_recordings(8, 2, 20, code="classic", n_training_trials=2000, seed=4).ground_truth
    assert classic["reversal_point"].nunique() == 1
    np.testing.assert_allclose(classic["asymmetry"], 0.5)
    # stationary sd of symmetric constant-step TD (rate a = 0.02): sqrt(a Var(R) / (2 - a))
    sd = np.sqrt(0.02 * VariableRewardTask().variance / (2 - 0.02))
    assert abs(classic["reversal_point"].iloc[0] - VariableRewardTask().mean) < 5 * sd
    quant = simulate_recordings(40, 2, 20, code="quantile", learning_rate=0.01, n_training_trials=10000,
                                seed=5).ground_truth
    np.testing.assert_allclose(quant["exact_statistic"], VariableRewardTask().quantile(quant["asymmetry"]))
    # quantile learners sit near reward atoms (within a few steps of 2 * 0.01 µl) unless tau is near a CDF step
    cdf = np.cumsum(VariableRewardTask().probs)
    clear = np.min(np.abs(quant["asymmetry"].to_numpy()[:, None] - cdf[None, :]), axis=1) > 0.02
    assert clear.sum() >= 20
    err = np.abs(quant["reversal_point"] - quant["exact_statistic"]).to_numpy()[clear]
    assert np.median(err) < 0.5


def test_spike_window_restricts_spikes():
    sim = simulate_recordings(3, 1, 50, spike_window_s=(1.5, 0.5), n_training_trials=500, seed=6)
    session = sim.sessions[0]
    lo = session.trials["start_time"].to_numpy() - 1.5
    hi = session.trials["stop_time"].to_numpy() + 0.5
    for spikes in session.spike_times.values():
        k = np.searchsorted(lo, spikes, side="right") - 1
        assert np.all(k >= 0) and np.all(spikes <= hi[k])


@pytest.mark.parametrize("kwargs", [
    {"n_cells": 2, "n_sessions": 3},
    {"n_trials": 0},
    {"code": "median"},
    {"baseline_rate": 0.0},
    {"response_window_s": (0.5, 0.2)},
    {"response_window_s": (0.1, 2.0)},
    {"spike_window_s": (-1.0, 0.0)},
    {"session_names": ["a"]},
])
def test_invalid_arguments(kwargs):
    args = {"n_cells": 4, "n_sessions": 2, "n_trials": 10, "n_training_trials": 10, **kwargs}
    with pytest.raises(InvalidArgumentError):
        simulate_recordings(**args)


# ------------------------------------------------------------------------------------------------ CLI
def _inspect(path: Path) -> list:
    from nwbinspector import Importance, inspect_nwbfile

    bad = {Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION}
    return [m for m in inspect_nwbfile(nwbfile_path=str(path)) if m.importance in bad]


def test_cli_writes_nwb_that_reads_back(tmp_path, capsys):
    from neurorl.cli import main
    from neurorl.io.nwb import read_dopamine, read_dopamine_folder

    out = tmp_path / "sim"
    args = ["simulate", "dopamine", "--cells", "5", "--sessions", "2", "--trials", "30", "--code", "quantile",
            "--seed", "3", "--training-trials", "500", "--out", str(out)]
    assert main(args) == 0
    assert "wrote 2 simulated sessions" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["ground_truth.csv", "manifest.json", "session_01.nwb",
                                                             "session_02.nwb"]
    truth = pd.read_csv(out / "ground_truth.csv")
    assert list(truth.columns) == list(GROUND_TRUTH_COLUMNS) and len(truth) == 5
    sim = simulate_recordings(5, 2, 30, code="quantile", seed=3, n_training_trials=500)
    np.testing.assert_allclose(truth["reversal_point"], sim.ground_truth["reversal_point"])
    recordings = read_dopamine_folder(out)
    for recording, session in zip(recordings, sim.sessions, strict=True):
        assert recording.session == session.session
        assert list(recording.units.index) == list(session.spike_times)
        for unit, times in session.spike_times.items():
            np.testing.assert_array_equal(recording.spike_times(unit), times)
        pd.testing.assert_frame_equal(recording.trials[list(session.trials.columns)], session.trials, check_dtype=False)
        assert set(recording.units["cell_type"]) == {"dopamine"}
        assert _inspect(out / f"{session.session}.nwb") == []
    # same command again: identical files' contents (identifier derived from the settings)
    first = read_dopamine(out / "session_01.nwb")
    assert main(args) == 0
    np.testing.assert_array_equal(read_dopamine(out / "session_01.nwb").spike_times(0), first.spike_times(0))


def test_cli_bad_input(tmp_path, capsys):
    from neurorl.cli import main

    out = tmp_path / "sim"
    assert main(["simulate", "dopamine", "--cells", "2", "--sessions", "3", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("neurorl: error:") and len(err.strip().splitlines()) == 1
    assert not out.exists() or not any(out.iterdir())
    out.mkdir(exist_ok=True)
    (out / "other.nwb").write_bytes(b"")
    assert main(["simulate", "dopamine", "--cells", "2", "--sessions", "1", "--trials", "5",
                 "--training-trials", "10", "--out", str(out)]) == 2
    assert "other.nwb" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["other.nwb"]


# --------------------------------------------------------------------------------------- example data
def test_embedded_example_is_what_its_readme_says():
    from neurorl.io.nwb import read_dopamine_folder

    if not EXAMPLE.is_dir():
        pytest.skip("data/dopamine_example/ not generated yet")
    files = sorted(EXAMPLE.iterdir())
    assert sum(f.stat().st_size for f in files) < 3 * 1024**2
    readme = (EXAMPLE / "README.md").read_text(encoding="utf-8")
    assert "simulated" in readme.lower() and "neurorl simulate dopamine" in readme
    truth = pd.read_csv(EXAMPLE / "ground_truth.csv")
    recordings = read_dopamine_folder(EXAMPLE)
    listed = {(r.session, int(u)) for r in recordings for u in r.units.index}
    assert listed == set(zip(truth["session"], truth["cell"].astype(int), strict=True))
    for recording in recordings:
        assert recording.trials["reward_volume"].notna().all()
    # the documented command reproduces it (same seed -> same ground truth and spikes)
    sim = simulate_recordings(40, 4, 300, spike_window_s=(1.2, 0.3), seed=0)
    pd.testing.assert_frame_equal(truth, sim.ground_truth, check_exact=False, rtol=1e-12)
    np.testing.assert_array_equal(recordings[0].spike_times(0), sim.sessions[0].spike_times[0])
    pd.testing.assert_frame_equal(recordings[2].trials[list(sim.sessions[2].trials.columns)], sim.sessions[2].trials,
                                  check_dtype=False)
    assert _inspect(EXAMPLE / "session_01.nwb") == []


def test_trials_without_reward():
    task = VariableRewardTask(other_fraction=0.25)
    sim = simulate_recordings(4, 1, 400, task=task, n_training_trials=500, seed=8)
    trials = sim.sessions[0].trials
    other = (trials["trial_type"] == "other").to_numpy()
    # Binomial(400, 0.25): within 5 standard errors
    assert abs(other.mean() - 0.25) < 5 * np.sqrt(0.25 * 0.75 / 400)
    assert trials.loc[other, ["reward_time", "reward_volume"]].isna().all().all()
    assert trials.loc[~other, ["reward_time", "reward_volume"]].notna().all().all()
    # no response on those trials: counts after the trial start are at the baseline rate
    truth = sim.ground_truth.set_index("cell")
    start = trials["start_time"].to_numpy()[other]
    for unit, spikes in sim.sessions[0].spike_times.items():
        b = truth.loc[unit, "baseline_rate"]
        n = _counts(spikes, start, start + 3.0).sum()
        assert abs(n - b * 3.0 * start.size) < 5 * np.sqrt(b * 3.0 * start.size)


def test_cli_other_fraction(tmp_path):
    from neurorl.cli import main
    from neurorl.io.nwb import read_dopamine

    out = tmp_path / "sim"
    assert main(["simulate", "dopamine", "--cells", "2", "--sessions", "1", "--trials", "60", "--training-trials",
                 "50", "--other-fraction", "0.3", "--out", str(out), "--quiet"]) == 0
    trials = read_dopamine(out / "session_01.nwb").trials
    assert (trials["trial_type"] == "other").sum() > 0
    assert trials.loc[trials["trial_type"] == "other", "reward_volume"].isna().all()


def test_expected_reward_response_matches_the_ground_truth_model():
    from neurorl.models.dopamine_recording import expected_reward_response

    truth = simulate_recordings(6, 2, 10, n_training_trials=500, seed=9).ground_truth
    volumes = VariableRewardTask().volumes
    expected = expected_reward_response(truth, volumes)
    assert expected.shape == (6, 7)
    # zero at the reversal point, increasing in reward, floored at -baseline
    np.testing.assert_allclose(expected_reward_response(truth, truth["reversal_point"]).diagonal(), 0.0)
    assert np.all(np.diff(expected, axis=1) >= 0)
    assert np.all(expected >= -truth["baseline_rate"].to_numpy()[:, None])
