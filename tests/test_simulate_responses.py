"""``simulate_responses``: window counts drawn from the rate model agree with counting simulated spikes."""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest

from neurorl.analysis.responses import compute_responses, pool_responses, skip_cells
from neurorl.errors import InvalidArgumentError
from neurorl.io.spec import RecordingSpec
from neurorl.models.dopamine_recording import simulate_recordings, simulate_responses
from neurorl.tasks.variable_reward import VariableRewardTask

#: One session, so that both simulators draw the same trial sequence as well as the same population.
POPULATION = dict(n_cells=30, n_sessions=1, n_trials=400, n_training_trials=3000, gain=1.5, seed=11,
                  task=VariableRewardTask(other_fraction=0.1))
#: Family-wise false-rejection rate of the agreement checks.
ALPHA = 1e-3


@pytest.fixture(scope="module")
def recorded():
    """The spike version: whole-session spikes of the population, with their ground truth."""
    return simulate_recordings(**POPULATION)


def _per_size(responses) -> tuple[np.ndarray, np.ndarray]:
    """Per (cell, reward size): the responses' means and the squared deviations from them, as lists of arrays."""
    values = responses.transpose("cell", "trial").to_numpy()
    volume = responses["reward_volume"].to_numpy()
    means, squares = [], []
    for size in np.unique(volume):
        block = values[:, volume == size]
        means.append(block)
        squares.append((block - block.mean(axis=1, keepdims=True)) ** 2)
    return means, squares


def _max_z(a, b) -> tuple[float, float, float]:
    """Largest |z| over cell x size pairs of the difference of the means, and of the variances (the mean squared
    deviation, with its own sampling sd: no normality assumed), and the Bonferroni-corrected normal quantile."""
    mean_a, sq_a = _per_size(a)
    mean_b, sq_b = _per_size(b)

    def z(xs, ys):
        out = []
        for x, y in zip(xs, ys, strict=True):
            se = np.sqrt(x.var(axis=1, ddof=1) / x.shape[1] + y.var(axis=1, ddof=1) / y.shape[1])
            out.append(np.abs(x.mean(axis=1) - y.mean(axis=1)) / se)
        return np.concatenate(out)

    z_mean, z_var = z(mean_a, mean_b), z(sq_a, sq_b)
    bound = NormalDist().inv_cdf(1.0 - ALPHA / (2 * z_mean.size))
    return float(z_mean.max()), float(z_var.max()), bound


def test_window_counts_agree_with_counted_spikes(recorded):
    sessions, truth = recorded
    counted = compute_responses(sessions, spec=RecordingSpec())
    drawn, drawn_truth = simulate_responses(**POPULATION)
    pd.testing.assert_frame_equal(truth, drawn_truth)                      # the same population
    (drawn,) = drawn
    np.testing.assert_array_equal(counted["reward_volume"], drawn["reward_volume"])   # and the same trials
    z_mean, z_var, bound = _max_z(counted, drawn)
    assert z_mean < bound and z_var < bound, (z_mean, z_var, bound)
    # the check has power: a 300 ms window 500-800 ms after reward (it leaves the response 700 ms after reward)
    wrong = simulate_responses(**POPULATION, window_ms=(500.0, 800.0)).responses[0]
    assert _max_z(counted, wrong)[0] > bound
    # ... and a 100 ms window inside the response (the same mean rate, a larger variance)
    wrong = simulate_responses(**POPULATION, window_ms=(200.0, 300.0)).responses[0]
    z_mean, z_var, bound = _max_z(counted, wrong)
    assert z_var > bound, (z_mean, z_var, bound)


def test_overlapping_windows_keep_the_joint_distribution(recorded):
    """A response window that overlaps the baseline window and the cue response: the two counts share spikes."""
    sessions, _ = recorded
    windows = dict(window_ms=(-700.0, 600.0), baseline_window_ms=(-1000.0, 200.0))
    counted = compute_responses(sessions, spec=RecordingSpec(**windows))
    drawn = simulate_responses(**POPULATION, **windows).responses[0]
    z_mean, z_var, bound = _max_z(counted, drawn)
    assert z_mean < bound and z_var < bound, (z_mean, z_var, bound)


def test_coords_and_attrs_are_those_of_compute_responses():
    settings = dict(n_cells=7, n_sessions=3, n_trials=60, n_training_trials=500, seed=4, code="additive_bias",
                    task=VariableRewardTask(other_fraction=0.3), utility_exponent=0.7)
    sessions, _ = simulate_recordings(**settings)
    drawn, _ = simulate_responses(**settings)
    assert len(drawn) == len(sessions)
    for session, block in zip(sessions, drawn, strict=True):
        counted = compute_responses([session], spec=RecordingSpec())
        assert list(block.coords) == list(counted.coords)
        assert block.dims == counted.dims and block.name == counted.name
        for name, coord in counted.coords.items():
            assert block[name].dims == coord.dims, name
            assert block[name].dtype == coord.dtype, name
        assert block.attrs == counted.attrs
        np.testing.assert_array_equal(block["cell"], counted["cell"])
        np.testing.assert_array_equal(block["unit"], counted["unit"])
        assert (block["n_spikes"] > 0).all() and np.isfinite(block).all()
    # the first session's trials are the same; its expected spike totals are close to the counted ones
    counted = compute_responses(sessions[:1], spec=RecordingSpec())
    for name in ("trial_id", "reward_volume", "trial_type", "reward_time"):
        np.testing.assert_array_equal(drawn[0][name], counted[name])
    n_spikes = counted["n_spikes"].to_numpy()
    assert np.all(np.abs(drawn[0]["n_spikes"].to_numpy() - n_spikes) < 6 * np.sqrt(n_spikes))
    # they pool and pass the analysis' checks as the counted responses do
    pooled = pool_responses(drawn)
    assert pooled.sizes["cell"] == 7
    assert not skip_cells(drawn)[1]["reason"].str.contains("no spikes").any()


def test_same_seed_same_responses_and_bounded_by_session():
    settings = dict(n_cells=6, n_sessions=2, n_trials=80, n_training_trials=500)
    a = simulate_responses(**settings, seed=3).responses
    b = simulate_responses(**settings, seed=3).responses
    c = simulate_responses(**settings, seed=4).responses
    for x, y in zip(a, b, strict=True):
        assert x.identical(y)
    assert not np.array_equal(a[0].to_numpy(), c[0].to_numpy())
    seen = []
    kept = simulate_responses(**settings, seed=np.random.default_rng(3), on_session=seen.append)
    assert kept.responses == [] and len(seen) == 2
    for x, y in zip(a, seen, strict=True):
        assert x.identical(y)


def test_invalid_windows():
    with pytest.raises(InvalidArgumentError):
        simulate_responses(4, 1, 20, n_training_trials=100, window_ms=(600.0, 200.0))
    with pytest.raises(InvalidArgumentError):
        simulate_responses(4, 1, 20, n_training_trials=100, baseline_window_ms=(0.0, 0.0))
