"""The paper's nulls in the simulator and the calibration of the tau-reversal permutation test.

False-positive rates are checked over seeds against a binomial bound: with ``n`` independent runs at
alpha = 0.05, the number of runs with p < 0.05 exceeds ``binom.ppf(0.999, n, 0.05)`` with probability < 0.001
when the test is calibrated. The default suite runs small populations; the paper-scale runs (40 cells) are
marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from neurorl.analysis.responses import compute_responses
from neurorl.analysis.reversal import (
    fit_cells,
    off_floor,
    same_vs_diverse,
    tau_reversal_correlation,
    tau_reversal_test,
)
from neurorl.models.dopamine_recording import NULL_CODES, simulate_recordings
from neurorl.tasks.variable_reward import VariableRewardTask

ALPHA = 0.05


def _p_perm(code, seed, *, n_cells=12, n_sessions=2, n_trials=120, n_splits=30, n_permutations=99, **kwargs):
    simulation = simulate_recordings(n_cells, n_sessions, n_trials, code=code, seed=seed,
                                     n_training_trials=kwargs.pop("n_training_trials", 2000), **kwargs)
    test = tau_reversal_correlation(compute_responses(simulation.sessions), n_splits=n_splits, seed=seed,
                                    n_permutations=n_permutations)
    return float(test["p_perm"]), float(test["p_median"])


def _p_test(code, seed, *, n_cells=24, n_sessions=2, n_trials=160, n_splits=30, n_permutations=99, **kwargs):
    """p of the reported test (tau_reversal_test: model estimator, cells off the firing floor)."""
    simulation = simulate_recordings(n_cells, n_sessions, n_trials, code=code, seed=seed,
                                     n_training_trials=kwargs.pop("n_training_trials", 2000), **kwargs)
    test = tau_reversal_test(compute_responses(simulation.sessions), n_splits=n_splits, seed=seed,
                             n_permutations=n_permutations)
    return float(test["p_perm"])


def test_permutation_p_is_reported_beside_the_median_p_and_is_exact_at_its_floor():
    simulation = simulate_recordings(20, 2, 300, code="expectile", seed=0, n_training_trials=3000, gain=3.0)
    test = tau_reversal_correlation(compute_responses(simulation.sessions), n_splits=40, seed=0,
                                    n_permutations=49)
    assert {"p_perm", "p_median", "r_median_null"} <= set(test.data_vars)
    assert test.sizes["permutation"] == 49
    # p_perm = (1 + #{null >= observed}) / (1 + n): its smallest value is 1/50
    exceed = int(np.sum(test["r_median_null"].to_numpy() >= float(test["r_median"])))
    assert float(test["p_perm"]) == pytest.approx((1 + exceed) / 50)
    assert float(test["p_perm"]) == pytest.approx(1 / 50)           # a strong distributional population
    assert "not a test" in test.attrs["p_median"]


@pytest.mark.parametrize("code, kwargs", [
    ("classic", {}),
    ("classic", {"utility_exponent": 0.5}),
    # the additive-bias null with the firing floor out of reach (see test_additive_bias_null_and_the_floor)
    ("additive_bias", {"baseline_rate": 40.0}),
])
def test_false_positive_rate_of_the_permutation_test_under_the_nulls(code, kwargs):
    n_runs = 30
    p = np.array([_p_perm(code, 100 + seed, **kwargs)[0] for seed in range(n_runs)])
    limit = stats.binom.ppf(0.999, n_runs, ALPHA)
    assert np.sum(p < ALPHA) <= limit, (code, kwargs, np.sort(p)[:8])


#: The real cells' firing (analyses/dabney2020_power.py: baseline median 5.65 spikes/s, log-sd 0.51, gain 0.68):
#: about 40 % of the cells have some reward size's mean rate under 1 spike/s.
REAL_FIRING = dict(baseline_rate=5.65, baseline_spread=0.51, gain=0.68)


@pytest.mark.parametrize("code, kwargs", [
    ("classic", REAL_FIRING),
    ("classic", {**REAL_FIRING, "utility_exponent": 0.5}),
    # the additive-bias null at the real cells' (low) firing: the original's statistic finds it in most runs
    ("additive_bias", REAL_FIRING),
    ("additive_bias", {"baseline_rate": 40.0}),
])
def test_false_positive_rate_of_the_reported_test_under_the_nulls(code, kwargs):
    n_runs = 30
    p = np.array([_p_test(code, 300 + seed, **kwargs) for seed in range(n_runs)])
    assert np.sum(p < ALPHA) <= stats.binom.ppf(0.999, n_runs, ALPHA), (code, kwargs, np.sort(p)[:8])


def test_the_original_statistic_finds_the_additive_bias_null_at_low_firing_and_the_reported_test_does_not():
    # what tau_reversal_test is for: the same simulated populations through both
    original, reported = [], []
    for seed in range(12):
        simulation = simulate_recordings(40, 4, 250, code="additive_bias", seed=500 + seed,
                                         n_training_trials=3000, **REAL_FIRING)
        responses = compute_responses(simulation.sessions)
        original.append(float(tau_reversal_correlation(responses, n_splits=40, seed=seed,
                                                       n_permutations=99)["p_perm"]))
        reported.append(float(tau_reversal_test(responses, n_splits=40, seed=seed, n_permutations=99)["p_perm"]))
    # a calibrated test rejects in more than 3 of 12 runs with probability < 0.002 (binomial, alpha 0.05)
    assert np.sum(np.array(reported) < ALPHA) <= 3
    assert np.sum(np.array(original) < ALPHA) >= 6, original     # 0.77 of 100 runs at the real trial counts


def test_the_reported_test_detects_distributional_populations():
    p = np.array([_p_test("expectile", 700 + seed, n_cells=30, n_trials=300, **REAL_FIRING) for seed in range(10)])
    # the nulls above stay within the binomial bound; a distributional code is found in most runs
    assert np.sum(p < ALPHA) >= 6, p


def test_off_floor_finds_the_simulated_floor():
    simulation = simulate_recordings(30, 2, 600, code="additive_bias", seed=4, n_training_trials=2000,
                                     baseline_rate=4.0, baseline_spread=0.6, gain=1.0)
    responses = compute_responses(simulation.sessions)
    kept = off_floor(responses).to_numpy()
    truth = simulation.ground_truth.set_index("cell").loc[responses["unit"].to_numpy()]
    # the baseline_rate coordinate is the cell's mean baseline rate: SE sqrt(b / 600 s) < 0.15 spikes/s
    assert np.allclose(responses["baseline_rate"].to_numpy(), truth["baseline_rate"].to_numpy(), atol=0.5)
    assert 0 < kept.sum() < kept.size                                  # some cells on the floor, some off
    # a cell off the floor has every size's mean rate >= 1 spike/s; on the floor, some size's is below
    volume = responses["reward_volume"].to_numpy()
    raw = np.stack([np.nanmean(responses.to_numpy()[:, volume == v], axis=1) for v in np.unique(volume)], 1)
    raw = raw + responses["baseline_rate"].to_numpy()[:, None]
    assert np.array_equal(kept, raw.min(axis=1) >= 1.0)
    # the reported test drops exactly those cells, and a trace (no spikes) has no floor
    test = tau_reversal_test(responses, n_splits=5, n_permutations=0)
    assert test.attrs["n_cells_tested"] == kept.sum() and np.array_equal(test["tested"].to_numpy(), kept)
    traces = responses.assign_attrs(signal="dff")
    assert off_floor(traces).to_numpy().all()


@pytest.mark.slow
@pytest.mark.parametrize("code, kwargs", [("classic", REAL_FIRING),
                                          ("classic", {**REAL_FIRING, "utility_exponent": 0.5}),
                                          ("additive_bias", REAL_FIRING),
                                          ("additive_bias", {"baseline_rate": 40.0})])
def test_false_positive_rate_at_paper_scale(code, kwargs):
    n_runs = 100
    p = np.array([_p_test(code, 1000 + seed, n_cells=40, n_sessions=4, n_trials=300, n_splits=200,
                          n_permutations=199, n_training_trials=10000, **kwargs) for seed in range(n_runs)])
    assert np.sum(p < ALPHA) <= stats.binom.ppf(0.999, n_runs, ALPHA)


@pytest.mark.slow
def test_detection_rate_of_distributional_populations_of_40_cells():
    # no threshold on power (with 40 cells it is well below 1); it must exceed what the nulls give
    n_runs = 40
    p = np.array([_p_test("expectile", 2000 + seed, n_cells=40, n_sessions=4, n_trials=300, n_splits=200,
                          n_permutations=199, n_training_trials=10000, **REAL_FIRING) for seed in range(n_runs)])
    rate = float(np.mean(p < ALPHA))
    print(f"detection rate (expectile code, 40 cells, alpha 0.05): {rate:.2f}")
    assert np.sum(p < ALPHA) > stats.binom.ppf(0.999, n_runs, ALPHA)


def test_utility_nonlinearity_has_ground_truth_in_microlitres():
    task = VariableRewardTask()
    linear = simulate_recordings(4, 1, 10, code="classic", seed=0, n_training_trials=4000)
    concave = simulate_recordings(4, 1, 10, code="classic", seed=0, n_training_trials=4000, utility_exponent=0.5)
    # classic TD on u(r) learns E[u(R)]; in µl that is the certainty equivalent u^-1(E[u(R)]) < E[R]
    u = 20.0 * (task.volumes / 20.0) ** 0.5
    certainty_equivalent = 20.0 * (float(u @ task.probs) / 20.0) ** 2
    assert concave.ground_truth["exact_statistic"].iloc[0] == pytest.approx(certainty_equivalent)
    assert certainty_equivalent < task.mean - 1.0
    assert linear.ground_truth["exact_statistic"].iloc[0] == pytest.approx(task.mean)
    # the learned value is near it (constant-step TD noise: sd about sqrt(rate * Var / 2) in utility units)
    assert abs(concave.ground_truth["reversal_point"].iloc[0] - certainty_equivalent) < 1.5
    assert concave.ground_truth.attrs["utility_exponent"] == 0.5


def test_utility_nonlinearity_reversal_points_are_recovered_in_microlitres():
    simulation = simulate_recordings(12, 2, 400, code="expectile", seed=3, n_training_trials=4000,
                                     utility_exponent=0.5, gain=4.0)
    fit = fit_cells(compute_responses(simulation.sessions), n_bootstrap=0, split_half=False)
    truth = simulation.ground_truth["reversal_point"].to_numpy()
    assert np.corrcoef(fit["reversal_point"].to_numpy(), truth)[0, 1] > 0.9


def test_additive_bias_null_and_the_floor():
    assert NULL_CODES == ("classic", "additive_bias")
    simulation = simulate_recordings(20, 2, 400, code="additive_bias", seed=1, n_training_trials=3000,
                                     baseline_rate=40.0, gain=3.0)
    truth = simulation.ground_truth
    assert np.all(truth["asymmetry"] == 0.5)
    assert np.ptp(truth["reversal_point"]) > 3.0                      # diverse reversal points ...
    fit = fit_cells(compute_responses(simulation.sessions), n_bootstrap=0, split_half=False)
    assert np.corrcoef(fit["reversal_point"].to_numpy(), truth["reversal_point"])[0, 1] > 0.9
    # ... and symmetric slopes: the asymmetries scatter around 0.5 (SE of the mean of 20 noisy taus)
    assert abs(np.nanmean(fit["asymmetry"].to_numpy()) - 0.5) < 0.08


def test_same_vs_diverse_prefers_diverse_reversal_points_only_when_they_differ():
    diverse = simulate_recordings(24, 2, 500, code="expectile", seed=7, n_training_trials=3000, gain=3.0)
    same = simulate_recordings(24, 2, 500, code="classic", seed=7, n_training_trials=3000, gain=3.0)
    held_out_diverse = same_vs_diverse(compute_responses(diverse.sessions), n_splits=20, seed=0)
    held_out_same = same_vs_diverse(compute_responses(same.sessions), n_splits=20, seed=0)
    assert float(held_out_diverse["p_wilcoxon"]) < 0.05
    assert float(held_out_diverse["mean_accuracy_diverse"]) > float(held_out_diverse["mean_accuracy_same"])
    assert 0.5 < float(held_out_diverse["mean_accuracy_diverse"]) <= 1.0
    # under classic TD the cells' own (noisy) points overfit half A: the shared point predicts as well or better
    assert float(held_out_same["p_wilcoxon"]) > 0.05
    assert float(held_out_same["mean_accuracy_diverse"]) <= float(held_out_same["mean_accuracy_same"]) + 0.01


def _additive_bias_fit(baseline_rate, n_trials, seed, method="counting"):
    simulation = simulate_recordings(24, 2, n_trials, code="additive_bias", seed=seed, n_training_trials=2000,
                                     baseline_rate=baseline_rate, baseline_spread=0.0, gain=1.0)
    fit = fit_cells(compute_responses(simulation.sessions), n_bootstrap=0, split_half=False, method=method)
    return fit, simulation.ground_truth["reversal_point"].to_numpy()


def test_symmetric_cells_on_the_firing_floor_look_asymmetric_in_proportion_to_their_reversal_point():
    # baseline 2 spikes/s: the small rewards' negative errors of a cell with a high reversal point are clipped
    # at 0 spikes/s, its slope below is underestimated and its tau overestimated -> tau rises with the
    # reversal point (what made the additive-bias null 'distributional' at low baseline rates)
    fit, truth = _additive_bias_fit(2.0, 800, seed=0)
    tau = fit["asymmetry_utility"].to_numpy()
    ok = np.isfinite(tau)
    assert np.corrcoef(tau[ok], truth[ok])[0, 1] > 0.6               # 0.84-0.94 over seeds 0-3


def test_without_the_floor_the_counting_estimators_tau_error_follows_its_reversal_point_error():
    # baseline 40 spikes/s, floor out of reach, 2000 trials: the slopes are taken through the counted reversal
    # point, so a cell whose counted point is too high gets tau > 0.5 (and vice versa); where the true point
    # falls between the sparse reward sizes (5, 10, 20 µl) sets that error, so tau can track the reversal point
    # of symmetric cells too
    fit, truth = _additive_bias_fit(40.0, 2000, seed=0)
    tau = fit["asymmetry"].to_numpy()
    error = fit["reversal_point"].to_numpy() - truth
    ok = np.isfinite(tau) & np.isfinite(error)
    assert np.corrcoef(tau[ok] - 0.5, error[ok])[0, 1] > 0.4         # 0.55-0.91 over seeds 0-3
    # and it is no asymmetric scaling: on average the taus stay near 0.5 (0.54-0.58 over seeds 0-3: the
    # counted points err high more often than low)
    assert abs(np.nanmean(tau) - 0.5) < 0.1


def test_the_floor_diagnostic_of_the_dabney2020_analysis_finds_the_simulated_floor():
    # analyses/dabney2020_power.py: raw mean rates per reward size (not baseline-subtracted) and the cells on the
    # firing floor, checked against the simulator's ground truth
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "analyses"))
    from dabney2020_power import mean_rates_by_reward, off_floor

    from neurorl.models.dopamine_recording import expected_reward_response

    simulation = simulate_recordings(12, 2, 600, code="additive_bias", seed=4, n_training_trials=2000,
                                     baseline_rate=4.0, baseline_spread=0.5, gain=1.0)
    rates = mean_rates_by_reward(simulation.sessions)
    truth = simulation.ground_truth.set_index("cell").loc[rates["unit"].to_numpy()]
    # baseline: 600 trials x 1 s of Poisson spikes -> SE sqrt(b / 600) < 0.2 spikes/s
    assert np.allclose(rates["baseline"], truth["baseline_rate"], atol=0.6)
    volumes = VariableRewardTask().volumes
    expected = truth["baseline_rate"].to_numpy()[:, None] + expected_reward_response(truth, volumes)
    observed = rates[[f"rate_{v:g}" for v in volumes]].to_numpy()
    # a size's mean rate over its n trials of a 0.4 s window is Poisson: SE sqrt(rate / (0.4 n))
    session_of = dict(zip(truth.index, truth["session"], strict=True))
    trials = {s.session: s.trials["reward_volume"].to_numpy() for s in simulation.sessions}
    n = np.array([[np.sum(trials[session_of[c]] == v) for v in volumes] for c in rates["unit"]])
    z = (observed - expected) / np.sqrt(np.maximum(expected, 0.5) / (0.4 * n))
    assert np.max(np.abs(z)) < 4.5                                   # 84 values: |z| > 4.5 has p < 1e-3
    floor_truth = expected.min(axis=1) < 0.5
    floor_found = ~off_floor(rates)
    assert floor_truth.any() and (~floor_truth).any()
    assert np.mean(floor_found == floor_truth) >= 0.8


def test_side_slopes_do_not_turn_a_misplaced_reversal_point_into_asymmetry():
    # noise-free responses of one cell at the task's sizes, as per-size sums (n trials per size)
    from neurorl.analysis.reversal import _side_slopes, _slopes

    x = np.array([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0])
    n = np.full(x.size, 30.0)
    true_point = 3.5
    for a_pos, a_neg in ((1.0, 1.0), (1.6, 0.4)):
        y = np.where(x > true_point, a_pos, a_neg) * (x - true_point)
        s = n * y
        for placed in (3.0, 3.5, 4.5):               # between the same sizes (2.5 and 5) as the true point
            up, down = _side_slopes(s, n, x, np.array(placed))
            assert up == pytest.approx(a_pos) and down == pytest.approx(a_neg)
        # slopes through a misplaced point: a symmetric cell looks asymmetric (the counting estimator's bias)
        up, down = _slopes(s, n, x, np.array(4.5))
        if a_pos == a_neg:
            assert up / (up + down) > 0.55
    # fewer than two sizes on a side: no slope
    up, down = _side_slopes(n * (x - 15.0), n, x, np.array(15.0))
    assert np.isnan(up) and np.isfinite(down)


def test_the_reported_test_uses_the_sides_slopes_and_the_original_statistic_the_kink():
    simulation = simulate_recordings(16, 2, 200, code="expectile", seed=9, n_training_trials=2000, **REAL_FIRING)
    responses = compute_responses(simulation.sessions)
    assert tau_reversal_test(responses, n_splits=5, n_permutations=0).attrs["slopes"] == "sides"
    assert tau_reversal_correlation(responses, n_splits=5, n_permutations=0).attrs["slopes"] == "kink"
    with pytest.raises(Exception, match="slopes"):
        tau_reversal_correlation(responses, n_splits=5, slopes="through")


def test_stratified_permutations_shuffle_only_within_strata():
    simulation = simulate_recordings(24, 2, 200, code="expectile", seed=11, n_training_trials=2000, **REAL_FIRING)
    responses = compute_responses(simulation.sessions)
    strata = np.repeat([0, 1, 2], 8)
    # a reversal point paired with an asymmetry of its own stratum only: with one cell per stratum nothing moves
    test = tau_reversal_correlation(responses, n_splits=4, n_permutations=20, strata=np.arange(24), seed=1)
    assert np.allclose(test["r_median_null"].to_numpy(), float(test["r_median"]))
    test = tau_reversal_correlation(responses, n_splits=4, n_permutations=20, strata=strata, seed=1)
    assert np.ptp(test["r_median_null"].to_numpy()) > 0
    with pytest.raises(Exception, match="strata"):
        tau_reversal_correlation(responses, n_splits=4, n_permutations=5, strata=np.zeros(3))
    reported = tau_reversal_test(responses, n_splits=4, n_permutations=5)
    assert reported.attrs["n_strata"] == max(1, reported.attrs["n_cells_tested"] // 8)
