"""The variable-reward task: reward distribution, sampling frequencies, trial timing, state chain."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from neurorl.errors import InvalidArgumentError
from neurorl.tasks.variable_reward import (
    REWARD_FREQUENCIES_DATA,
    REWARD_PROBABILITIES,
    REWARD_VOLUMES_UL,
    VariableRewardTask,
)


def test_constants_match_the_paper_and_data_readme():
    assert REWARD_VOLUMES_UL == (0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0)
    assert sum(REWARD_PROBABILITIES) == pytest.approx(1.0, abs=1e-12)
    # the README's frequencies are rounded to 4 decimals
    np.testing.assert_allclose(REWARD_PROBABILITIES, REWARD_FREQUENCIES_DATA, atol=1e-4)
    task = VariableRewardTask()
    assert task.mean == pytest.approx(float(np.dot(REWARD_VOLUMES_UL, REWARD_PROBABILITIES)))
    assert task.variance == pytest.approx(float(np.dot((np.array(REWARD_VOLUMES_UL) - task.mean) ** 2,
                                                       REWARD_PROBABILITIES)))
    np.testing.assert_allclose(task.cdf(REWARD_VOLUMES_UL), np.cumsum(REWARD_PROBABILITIES))
    assert float(task.expectile(0.5)) == pytest.approx(task.mean)
    assert float(task.expectile(0.9)) == pytest.approx(
        scipy.stats.expectile(task.volumes, alpha=0.9, weights=task.probs))


def test_real_data_reward_frequencies(dabney_dir):
    """The frequencies used here are the ones in the 40 real files (trial types 1-14)."""
    import scipy.io

    counts = np.zeros(7)
    n_cued = 0
    for path in sorted(dabney_dir.glob("*.mat")):
        events = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)["events"]
        trial_type = np.asarray(events.trialType, dtype=float)
        for k in range(7):
            counts[k] += np.sum(trial_type == k + 1) + np.sum(trial_type == k + 8)
        n_cued += int(np.sum((trial_type >= 8) & (trial_type <= 14)))
    np.testing.assert_allclose(counts / counts.sum(), REWARD_PROBABILITIES, atol=1e-4)
    assert 0.45 < n_cued / counts.sum() < 0.56                       # about half the rewards are cued


def test_sampled_frequencies_within_binomial_tolerance():
    task = VariableRewardTask(cued_fraction=0.4)
    n = 40_000
    trials = task.sample_trials(n, seed=0)
    freq = trials["reward_volume"].value_counts().reindex(task.volumes, fill_value=0).to_numpy() / n
    p = task.probs
    # each count is Binomial(n, p): 5 standard errors (family-wise miss probability < 1e-5)
    np.testing.assert_array_less(np.abs(freq - p), 5 * np.sqrt(p * (1 - p) / n))
    cued = np.mean(trials["trial_type"] == "cued")
    assert abs(cued - 0.4) < 5 * np.sqrt(0.4 * 0.6 / n)
    # size and cue are independent: the cued share of each size is the cued fraction
    table = np.array([[np.sum((trials.reward_volume == v) & (trials.trial_type == t)) for t in ("cued", "uncued")]
                      for v in task.volumes])
    assert scipy.stats.chi2_contingency(table).pvalue > 1e-4
    # sample_rewards: same distribution
    rewards = task.sample_rewards(n, seed=1)
    assert set(np.unique(rewards)) <= set(task.volumes)
    assert abs(rewards.mean() - task.mean) < 5 * np.sqrt(task.variance / n)


def test_session_timing():
    task = VariableRewardTask()
    n = 3000
    trials = task.sample_session(n, seed=3, start_s=4.0)
    assert list(trials.columns) == ["start_time", "stop_time", "reward_time", "reward_volume", "trial_type"]
    assert trials.index.name == "trial" and len(trials) == n
    start = trials["start_time"].to_numpy()
    assert start[0] == 4.0
    gaps = np.diff(start)
    assert gaps.min() >= task.iti_min_s
    # gaps = iti_min + Exponential(mean): mean within 5 standard errors (sd of an exponential = its mean)
    assert abs(gaps.mean() - (task.iti_min_s + task.iti_mean_extra_s)) < 5 * task.iti_mean_extra_s / np.sqrt(n - 1)
    cued = trials["trial_type"].to_numpy() == "cued"
    np.testing.assert_allclose(trials["reward_time"].to_numpy()[cued], start[cued] + 1.5)
    np.testing.assert_array_equal(trials["reward_time"].to_numpy()[~cued], start[~cued])
    np.testing.assert_allclose(trials["stop_time"].to_numpy(), start + 3.0)
    # trials do not overlap, rewards lie inside their trial
    assert np.all(trials["stop_time"].to_numpy()[:-1] <= start[1:])
    assert np.all((trials.reward_time >= trials.start_time) & (trials.reward_time <= trials.stop_time))
    # reproducible by seed
    again = task.sample_session(n, seed=3, start_s=4.0)
    assert again.equals(trials)
    assert not task.sample_session(n, seed=4).equals(trials)


def test_state_chain():
    task = VariableRewardTask(n_delay_steps=3)
    assert task.state_names == ("cue", "delay_1", "reward_pending")
    assert task.state_path("cued") == (0, 1, 2)
    assert task.state_path("uncued") == (2,)
    one = VariableRewardTask(n_delay_steps=1)
    assert one.state_names == ("reward_pending",) and one.state_path("cued") == (0,)


@pytest.mark.parametrize("kwargs", [
    {"probabilities": (0.5, 0.5)},
    {"probabilities": (-0.1, 0.2, 0.2, 0.2, 0.2, 0.2, 0.1)},
    {"cued_fraction": 1.5},
    {"n_delay_steps": 0},
    {"discount": 0.0},
    {"trial_duration_s": 1.0},      # shorter than the cue-reward delay
    {"iti_min_s": 2.0},             # trials would overlap
])
def test_invalid_tasks(kwargs):
    with pytest.raises(InvalidArgumentError):
        VariableRewardTask(**kwargs)


def test_other_trials():
    task = VariableRewardTask(other_fraction=0.2)
    trials = task.sample_session(5000, seed=2)
    other = trials["trial_type"].to_numpy() == "other"
    assert abs(other.mean() - 0.2) < 5 * np.sqrt(0.2 * 0.8 / 5000)
    assert np.all(np.isnan(trials["reward_volume"].to_numpy()[other]))
    assert np.all(np.isnan(trials["reward_time"].to_numpy()[other]))
    assert task.state_path("other") == ()
    # the default task draws no such trials and keeps its random stream
    plain = VariableRewardTask().sample_trials(100, seed=1)
    assert set(plain["trial_type"]) == {"cued", "uncued"}
    with pytest.raises(InvalidArgumentError):
        VariableRewardTask(other_fraction=1.0)
