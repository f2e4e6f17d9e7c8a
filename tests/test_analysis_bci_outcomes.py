"""Trial outcome times: the table's decision_time when given, else the rig's frame-based timing (CLOOSE)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurorl.analysis.bci import analyze_session, trial_outcome_times
from neurorl.analysis.bci.epochs import trial_response_start_times

FR = 10.0  # Hz: one frame = 0.1 s, so every expected time below is exact arithmetic


def _table() -> pd.DataFrame:
    """Five trials: a hit, a lower-bound failure, a time-out, a time-out cut short, a hit without grating onset."""
    return pd.DataFrame({
        "start_time": [100.0, 200.0, 300.0, 400.0, 500.0],
        "stop_time": [110.0, 215.0, 390.0, 430.0, 520.0],
        "response_start_time": [101.5, 201.5, 301.5, 401.5, np.nan],
        "target_hit": [True, False, False, False, True],
        "rewarded": [True, False, False, False, True],
        "time_to_target": [3.0, np.nan, np.nan, np.nan, 2.0],
        "lower_bound_failure": [False, True, False, False, False],
        "timed_out": [False, False, True, True, False],
        "white_noise_time": [np.nan, 210.0, 377.9, np.nan, np.nan],
    })


def test_frame_based_timing_without_decision_time():
    out = trial_outcome_times(_table(), frame_rate_hz=FR)
    expected = [101.5 + 3.0,  # hit: grating onset + time to target
                210.0 - 0.1,  # lower bound: the frame before the white noise
                300.0 + 74.9,  # time-out: the last of the trial's 750 frames (first grey frame = frame 0)
                430.0,  # time-out clipped to the trial's stop
                500.0 + 1.5 + 2.0]  # hit without response_start_time: start + 15 grey frames + time to target
    np.testing.assert_allclose(out, expected, atol=1e-9)
    np.testing.assert_allclose(trial_response_start_times(_table(), frame_rate_hz=FR),
                               [101.5, 201.5, 301.5, 401.5, 501.5], atol=1e-9)
    # the old timing (0.5 s grey, 28 s response window) would put the time-out at 328.5 s: not what is used
    assert abs(out[2] - 328.5) > 40
    # other rig settings move the fallback as the frames say
    np.testing.assert_allclose(trial_outcome_times(_table(), frame_rate_hz=FR, grey_frames=30, trial_frames=300)[[2, 4]],
                               [300.0 + 29.9, 500.0 + 3.0 + 2.0], atol=1e-9)


def test_decision_time_wins_where_given():
    table = _table()
    table["decision_time"] = [104.4, np.nan, 370.0, 420.0, 999.0]
    out = trial_outcome_times(table, frame_rate_hz=FR)
    # given values are used (even where they disagree with the fallback), NaN falls back, all clipped to stop
    np.testing.assert_allclose(out, [104.4, 209.9, 370.0, 420.0, 520.0], atol=1e-9)


def test_boolean_columns_read_from_csv_text():
    table = _table().astype({"target_hit": str, "lower_bound_failure": str})
    np.testing.assert_allclose(trial_outcome_times(table, frame_rate_hz=FR),
                               trial_outcome_times(_table(), frame_rate_hz=FR), atol=1e-9)


@pytest.fixture(scope="module")
def simulated():
    from neurorl.models.bci_learning import simulate_bci_experiment

    return next(iter(simulate_bci_experiment("vectorized", days=1, session_minutes=4, n_p0=4, seed=3)))


def test_fallback_matches_the_simulators_decision_times(simulated):
    """Without decision_time the frame-based timing gives the simulator's own decision frames."""
    trials = simulated.trials
    assert trials["timed_out"].any() and trials["target_hit"].any()
    given = trials["decision_time"].to_numpy(dtype=float)
    fallback = trial_outcome_times(trials.drop(columns="decision_time"), frame_rate_hz=simulated.frame_rate_hz)
    late = trials["timed_out"].to_numpy(dtype=bool) & trials["target_hit"].to_numpy(dtype=bool)
    # a hit on the very last frames (too late for its reward) is a time-out for the rig; its decision is the hit
    np.testing.assert_allclose(fallback[~late], given[~late], atol=1e-6)
    np.testing.assert_allclose(trial_outcome_times(trials, frame_rate_hz=simulated.frame_rate_hz), given, atol=1e-9)


def test_analysis_uses_the_decision_times(simulated):
    """The 2 s epochs lie inside [grating onset, decision] of some trial."""
    result = analyze_session(simulated)
    epochs = result["epochs"]
    trials = simulated.trials
    onset = trials["response_start_time"].to_numpy(dtype=float)
    decision = trials["decision_time"].to_numpy(dtype=float)
    start, stop = epochs["start_time"].values, epochs["stop_time"].values
    inside = (start[:, None] >= onset[None, :] - 1e-9) & (stop[:, None] <= decision[None, :] + 1.0 / simulated.frame_rate_hz + 1e-9)
    assert epochs.sizes["epoch"] > 10 and inside.any(axis=1).all()
