"""Distributional TD: convergence to expectiles / quantiles / the mean, with tolerances from the learning rates.

A constant-step TD estimator never settles; it fluctuates around its target. The tolerances below are that
stationary fluctuation, derived from the learning rates and the reward distribution:

* expectile (and classic) code, ``V' = V + a_t (R - V)`` with ``a_t = a+`` if ``R > e`` else ``a-``: near the
  tau-expectile ``e``, ``V' - e = (1 - a_t)(V - e) + a_t (R - e)`` with ``E[a_t (R - e)] = 0``, so the stationary
  variance is ``E[a^2 (R - e)^2] / (2 E[a] - E[a^2])`` (exact while V stays between the same reward atoms as e).
* quantile code on a discrete distribution: around the quantile atom q, V is a random walk with steps +a+ / -a-
  and a drift back towards q. Lundberg's inequality bounds the chance of an excursion of ``x`` beyond the first
  step by ``exp(-theta x)``, theta > 0 solving ``E[exp(theta X)] = 1`` for the step X.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.optimize
import scipy.stats

from neurorl.errors import InvalidArgumentError
from neurorl.models.distributional_td import (
    DistributionalTD,
    expectile,
    learn_values,
    make_population,
    quantile,
)
from neurorl.tasks.variable_reward import VariableRewardTask

TASK = VariableRewardTask()
R, P = TASK.volumes, TASK.probs


def expectile_sd(tau_e: np.ndarray, ap: np.ndarray, an: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Stationary sd of the expectile-code estimator around its target ``e`` (per cell)."""
    above = R[None, :] > e[:, None]                                  # (cells, atoms)
    a = np.where(above, ap[:, None], an[:, None])
    ea = (a * P).sum(axis=1)
    ea2 = (a**2 * P).sum(axis=1)
    noise = (a**2 * (R[None, :] - e[:, None]) ** 2 * P).sum(axis=1)
    return np.sqrt(noise / (2 * ea - ea2))


# ------------------------------------------------------------------------------------------ helpers
def test_expectile_matches_scipy_on_samples_and_weighted_distributions():
    rng = np.random.default_rng(0)
    sample = rng.lognormal(1.0, 0.8, size=500)
    weights = rng.random(500)
    taus = np.linspace(0.01, 0.99, 23)
    ours = expectile(sample, taus)
    ref = np.array([scipy.stats.expectile(sample, alpha=t) for t in taus])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)
    ours_w = expectile(sample, taus, weights=weights)
    ref_w = np.array([scipy.stats.expectile(sample, alpha=t, weights=weights) for t in taus])
    np.testing.assert_allclose(ours_w, ref_w, rtol=0, atol=1e-9)
    # the task distribution; tau = 0.5 is the mean; scalar in -> 0-d out
    np.testing.assert_allclose(TASK.expectile(taus), [scipy.stats.expectile(R, alpha=t, weights=P) for t in taus],
                               atol=1e-9)
    assert float(expectile(R, 0.5, weights=P)) == pytest.approx(TASK.mean, abs=1e-12)
    assert expectile(R, 0.3, weights=P).shape == ()
    assert expectile(sample, [0.0, 1.0]).tolist() == [sample.min(), sample.max()]


def test_quantile_matches_numpy():
    rng = np.random.default_rng(1)
    sample = rng.normal(size=301)
    taus = np.linspace(0, 1, 17)
    np.testing.assert_allclose(quantile(sample, taus), np.quantile(sample, taus))
    np.testing.assert_allclose(quantile(R, taus, weights=P),
                               np.quantile(R, taus, weights=P, method="inverted_cdf"))
    # the smallest reward whose CDF reaches tau
    cdf = np.cumsum(P)
    for t in (0.05, 0.2, 0.5, 0.8, 0.95):
        assert float(quantile(R, t, weights=P)) == R[np.argmax(cdf >= t)]


def test_helpers_reject_bad_input():
    with pytest.raises(InvalidArgumentError):
        expectile([], 0.5)
    with pytest.raises(InvalidArgumentError):
        expectile([1.0, 2.0], 1.5)
    with pytest.raises(InvalidArgumentError):
        expectile([1.0, 2.0], 0.5, weights=[1.0])
    with pytest.raises(InvalidArgumentError):
        quantile([1.0, 2.0], -0.1)
    with pytest.raises(InvalidArgumentError):
        learn_values([1.0], 0.1, 0.1, code="median")
    with pytest.raises(InvalidArgumentError):
        learn_values([1.0], 1.5, 0.1)            # an expectile rate above 1 diverges
    with pytest.raises(InvalidArgumentError):
        learn_values(np.zeros((5, 3)), [0.1, 0.2], 0.1)


def test_make_population_rates():
    ap, an = make_population(500, "expectile", tau_range=(0.2, 0.7), learning_rate=0.03, seed=3)
    tau = ap / (ap + an)
    assert tau.min() >= 0.2 and tau.max() <= 0.7
    np.testing.assert_allclose((ap + an) / 2, 0.03)
    # uniform on the range: mean within 5 standard errors
    assert abs(tau.mean() - 0.45) < 5 * 0.5 / np.sqrt(12 * 500)
    ap_c, an_c = make_population(10, "classic", seed=3)
    np.testing.assert_array_equal(ap_c, an_c)
    np.testing.assert_array_equal(make_population(5, seed=7)[0], make_population(5, seed=7)[0])
    with pytest.raises(InvalidArgumentError):
        make_population(3, tau_range=(0.0, 0.5))


# --------------------------------------------------------------------------------------- convergence
N_CELLS = 200


def _converge(code: str, ap: np.ndarray, an: np.ndarray, n_trials: int, seed: int, initial) -> np.ndarray:
    rng = np.random.default_rng(seed)
    rewards = rng.choice(R, p=P, size=(n_trials, ap.size))           # independent reward stream per cell
    return learn_values(rewards, ap, an, code=code, initial_value=initial)


def test_expectile_code_converges_to_expectiles_within_stationary_fluctuation():
    tau = np.linspace(0.05, 0.95, N_CELLS)
    lr = 0.005
    ap, an = 2 * lr * tau, 2 * lr * (1 - tau)
    target = np.array([scipy.stats.expectile(R, alpha=t, weights=P) for t in tau])
    # slowest relaxation rate E[a] >= 0.002/trial -> 6000 trials is > 10 time constants from the mean
    values = _converge("expectile", ap, an, 6000, seed=11, initial=TASK.mean)
    z = (values - target) / expectile_sd(tau, ap, an, target)
    # each z ~ N(0, 1) (independent streams): a 5-sd miss has probability < 1e-4 over 200 cells
    assert np.max(np.abs(z)) < 5.0, np.max(np.abs(z))
    # the derived sd is the right size: sample sd of 200 unit normals lies in 1 +- 0.25 (5 standard errors)
    assert 0.75 < np.std(z) < 1.25, np.std(z)
    assert abs(np.mean(z)) < 5 / np.sqrt(N_CELLS), np.mean(z)
    # and the values are ordered like the taus (expectiles increase with tau) up to that noise
    assert scipy.stats.spearmanr(tau, values).statistic > 0.95


def test_classic_td_converges_to_the_mean():
    lr = 0.01
    ap = an = np.full(N_CELLS, lr)
    values = _converge("classic", ap, an, 3000, seed=12, initial=0.0)
    # sd of a symmetric constant-step estimator: sqrt(a Var(R) / (2 - a)); 3000 trials = 30 time constants
    sd = np.sqrt(lr * TASK.variance / (2 - lr))
    z = (values - np.average(R, weights=P)) / sd
    assert np.max(np.abs(z)) < 5.0
    assert 0.75 < np.std(z) < 1.25
    assert abs(np.mean(z)) < 5 / np.sqrt(N_CELLS)
    # classic ignores asymmetric rates: it uses their mean
    skewed = learn_values(np.full(50, 3.0), 0.3, 0.1, code="classic", initial_value=0.0)
    np.testing.assert_allclose(skewed, 3.0 * (1 - (1 - 0.2) ** 50))


def _lundberg_theta(p_up: float, up: float, down: float) -> float:
    """theta > 0 with p_up e^(theta up) + (1 - p_up) e^(-theta down) = 1 (walk with negative drift)."""
    f = lambda th: p_up * np.exp(th * up) + (1 - p_up) * np.exp(-th * down) - 1.0  # noqa: E731
    hi = 1.0
    while f(hi) < 0:
        hi *= 2
    return scipy.optimize.brentq(f, 1e-9 * hi + 1e-12, hi) if f(1e-9) < 0 else np.inf


def test_quantile_code_converges_to_quantiles_within_random_walk_bound():
    cdf = np.cumsum(P)
    grid = np.linspace(0.05, 0.9, 400)
    gap = np.min(np.abs(grid[:, None] - cdf[None, :]), axis=1)
    tau = grid[gap > 0.03][:N_CELLS]                                  # quantile well defined (away from CDF steps)
    lr = 0.05                                                         # steps a+ + a- = 0.1 µl
    ap, an = 2 * lr * tau, 2 * lr * (1 - tau)
    target = np.quantile(R, tau, weights=P, method="inverted_cdf")
    # drift towards q is at least (a+ + a-) * 0.03 = 0.003 µl/trial; distance <= 5 µl -> 1700 trials; run 8000
    values = _converge("quantile", ap, an, 8000, seed=13, initial=TASK.mean)

    k = np.searchsorted(R, target)                                    # atom index of the target
    f_below = np.where(k > 0, cdf[np.maximum(k - 1, 0)], 0.0)        # P(R < q)
    f_at = cdf[k]                                                     # P(R <= q)
    n_tests = 2 * tau.size
    log_budget = np.log(n_tests / 1e-4)                               # family-wise miss probability 1e-4
    for i in range(tau.size):
        # above q: up (+a+) with P(R > V) = 1 - F(q); below q: down (-a-) with P(R < V) = F(q-)
        theta_above = _lundberg_theta(1 - f_at[i], ap[i], an[i])
        theta_below = _lundberg_theta(f_below[i], an[i], ap[i])
        upper = target[i] + ap[i] + log_budget / theta_above
        lower = target[i] - an[i] - log_budget / theta_below
        assert lower <= values[i] <= upper, (tau[i], target[i], values[i], lower, upper)
    # most cells sit within a few steps of their atom
    assert np.median(np.abs(values - target)) < 10 * 2 * lr


def test_single_reward_stream_shared_and_trajectory():
    rewards = TASK.sample_rewards(400, seed=5)
    ap, an = make_population(7, seed=1)
    traj = learn_values(rewards, ap, an, return_trajectory=True)
    assert traj.shape == (401, 7)
    np.testing.assert_array_equal(traj[0], 0.0)
    np.testing.assert_allclose(traj[-1], learn_values(rewards, ap, an))
    # one step by hand
    d = rewards[0] - 0.0
    np.testing.assert_allclose(traj[1], np.where(d > 0, ap, an) * d)


def test_multistep_td_values_follow_the_discounted_reward_state():
    task = VariableRewardTask(n_delay_steps=4, discount=0.8, cued_fraction=1.0)
    tau = np.linspace(0.1, 0.9, 30)
    lr = 0.004
    ap, an = 2 * lr * tau, 2 * lr * (1 - tau)
    td = DistributionalTD(ap, an, n_states=task.n_delay_steps, discount=task.discount,
                          initial_value=task.mean)
    td.train(task, 8000, seed=21)
    assert td.values.shape == (30, 4)
    np.testing.assert_allclose(td.taus, tau)
    target = task.expectile(tau)
    sd = expectile_sd(tau, ap, an, target)
    v_reward = td.values[:, task.reward_state]
    assert np.max(np.abs(v_reward - target) / sd) < 5.0
    # every earlier state is an exponential average of gamma x the next one; the deterministic chain gives
    # V(cue) -> gamma^(n-1) V(reward) with (at most) the reward state's fluctuation, discounted
    for k in range(task.n_delay_steps - 1):
        expected = task.discount ** (task.reward_state - k) * target
        assert np.max(np.abs(td.values[:, k] - expected) / sd) < 5.0
    # prediction errors: one step of a cued trial
    td2 = DistributionalTD([0.1], [0.3], n_states=2, discount=0.5)
    td2.values[:] = [[2.0, 4.0]]
    np.testing.assert_allclose(td2.rpe(0, 0.0, 1), [0.5 * 4.0 - 2.0])
    deltas = td2.run_trial([0, 1], 10.0)
    np.testing.assert_allclose(deltas[:, 0], [0.0, 6.0])
    np.testing.assert_allclose(td2.values, [[2.0, 4.6]])


def test_quantile_multistep_and_classic_population():
    td = DistributionalTD([0.05], [0.05], code="quantile", n_states=1)
    td.run_trial([0], 3.0)
    td.run_trial([0], -1.0)
    td.run_trial([0], 0.0)                                             # delta = 0: no step
    np.testing.assert_allclose(td.values, [[0.0]])
    classic = DistributionalTD([0.3, 0.1], [0.1, 0.3], code="classic")
    np.testing.assert_allclose(classic.taus, 0.5)
