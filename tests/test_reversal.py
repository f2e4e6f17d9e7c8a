"""Tests of neurorl.analysis.reversal: estimators, bootstrap, population tests, real cells."""

from __future__ import annotations

import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from scipy import optimize

from neurorl.analysis import reversal as rev
from neurorl.analysis.responses import compute_responses
from neurorl.analysis.reversal import (
    ReversalPointEstimator,
    classic_td_null_test,
    fit_cells,
    reversal_split_half,
    tau_reversal_correlation,
    utility_axis,
)
from neurorl.errors import InvalidArgumentError

VOLUMES = np.array([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0])
PROBS = np.array([0.0661, 0.0909, 0.1485, 0.1549, 0.3116, 0.1510, 0.0771])
REAL_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "dabney2020" / "variable-reward"


def _as_responses(values, volumes, session=None):
    n_cells, n_trials = values.shape
    coords = {"cell": [f"s/{i}" for i in range(n_cells)], "trial": np.arange(n_trials),
              "reward_volume": ("trial", np.asarray(volumes, float))}
    return xr.DataArray(values, dims=("cell", "trial"), coords=coords, name="responses")


def _piecewise(volumes, rp, a_pos, a_neg):
    d = volumes[None, :] - rp[:, None]
    return np.where(d > 0, a_pos[:, None] * d, a_neg[:, None] * d)


def _simulate_equation(n_cells, n_trials, sigma, seed):
    """Responses straight from the model equation with Gaussian noise (sd ``sigma`` spikes/s)."""
    rng = np.random.default_rng(seed)
    rp = rng.uniform(1.0, 12.0, n_cells)
    a_pos = rng.uniform(0.3, 1.5, n_cells)
    a_neg = rng.uniform(0.3, 1.5, n_cells)
    volumes = rng.choice(VOLUMES, size=n_trials, p=PROBS / PROBS.sum())
    values = _piecewise(volumes, rp, a_pos, a_neg) + sigma * rng.standard_normal((n_cells, n_trials))
    return _as_responses(values, volumes), rp, a_pos, a_neg


def _sandwich_se(volumes, rp, a_pos, a_neg, variance):
    """Asymptotic SEs of (rp, a+, a-, tau) of the unweighted least-squares kink fit.

    ``variance`` (cells, trials) is the per-trial noise variance; covariance = (GᵀG)⁻¹ GᵀΣG (GᵀG)⁻¹ with the
    gradient G of the model in (rp, a+, a-).
    """
    d = volumes[None, :] - rp[:, None]
    above = d > 0
    grad = np.stack([np.where(above, -a_pos[:, None], -a_neg[:, None]), np.where(above, d, 0.0),
                     np.where(above, 0.0, d)], axis=-1)                      # (cells, trials, 3)
    bread = np.linalg.inv(np.einsum("cti,ctj->cij", grad, grad))
    meat = np.einsum("cti,ct,ctj->cij", grad, variance, grad)
    cov = bread @ meat @ bread
    total = a_pos + a_neg
    dtau = np.stack([np.zeros_like(total), a_neg / total**2, -a_pos / total**2], axis=-1)
    se_tau = np.sqrt(np.einsum("ci,cij,cj->c", dtau, cov, dtau))
    return np.sqrt(cov[:, 0, 0]), np.sqrt(cov[:, 1, 1]), np.sqrt(cov[:, 2, 2]), se_tau


# ------------------------------------------------------------------------------------------- estimators
def test_counting_estimator_matches_hand_count():
    # sizes 1..4, 3 trials each; signs: size1 - - -, size2 - - +, size3 + + +, size4 + + +
    volumes = np.repeat([1.0, 2.0, 3.0, 4.0], 3)
    values = np.array([[-1, -2, -3, -1, -1, 2, 1, 2, 3, 4, 5, 6]], float)
    # boundary counts k=0..4: [7, 10, 11, 8, 5]; best k=2 (between sizes 2 and 3);
    # beats lower neighbour by 1, upper by 3 -> weight on the lower size 3/4
    ds = fit_cells(_as_responses(values, volumes), n_bootstrap=0, split_half=False, align_trial_types=False)
    assert float(ds.reversal_point[0]) == pytest.approx(0.75 * 2 + 0.25 * 3)
    u = ds.utility_axis.values
    np.testing.assert_allclose(u, [-2, 0, 2, 5])
    assert float(ds.reversal_point_utility[0]) == pytest.approx(0.75 * u[1] + 0.25 * u[2])
    assert int(ds.reversal_censored[0]) == 0
    # slopes: least squares through the origin of y on (x - rp) on each side
    rp = 2.25
    xp, yp = volumes[volumes > rp] - rp, values[0, volumes > rp]
    xn, yn = volumes[volumes < rp] - rp, values[0, volumes < rp]
    a_pos, a_neg = (xp @ yp) / (xp @ xp), (xn @ yn) / (xn @ xn)
    assert float(ds.alpha_pos[0]) == pytest.approx(a_pos)
    assert float(ds.alpha_neg[0]) == pytest.approx(a_neg)
    assert float(ds.asymmetry[0]) == pytest.approx(a_pos / (a_pos + a_neg))


def test_counting_estimator_caps_like_the_original():
    volumes = np.repeat([1.0, 2.0, 3.0], 4)
    values = np.vstack([np.linspace(1, 5, 12), -np.linspace(1, 5, 12), np.linspace(-5, 5, 12)])
    ds = fit_cells(_as_responses(values, volumes), n_bootstrap=0, split_half=False, align_trial_types=False)
    u = ds.utility_axis.values
    assert float(ds.reversal_point_utility[0]) == pytest.approx(u[0] + 0.01)
    assert float(ds.reversal_point_utility[1]) == pytest.approx(u[-1] - 0.1)
    np.testing.assert_array_equal(ds.reversal_censored.values, [-1, 1, 0])
    assert float(ds.reversal_point[0]) == 1.0 and float(ds.reversal_point[1]) == 3.0


def test_model_estimator_is_exact_without_noise():
    rng = np.random.default_rng(0)
    volumes = rng.choice(VOLUMES, 400)
    rp, a_pos, a_neg = np.array([4.2, 0.7, 13.0]), np.array([1.5, 0.4, 2.0]), np.array([0.5, 1.0, 0.3])
    values = _piecewise(volumes, rp, a_pos, a_neg)
    ds = fit_cells(_as_responses(values, volumes), method="model", n_bootstrap=0, split_half=False,
                   align_trial_types=False)
    np.testing.assert_allclose(ds.reversal_point.values, rp, atol=1e-6)
    np.testing.assert_allclose(ds.alpha_pos.values, a_pos, rtol=1e-6)
    np.testing.assert_allclose(ds.alpha_neg.values, a_neg, rtol=1e-6)
    np.testing.assert_allclose(ds.asymmetry.values, a_pos / (a_pos + a_neg), rtol=1e-6)


def test_model_fit_is_the_least_squares_optimum_found_by_scipy():
    responses, *_ = _simulate_equation(6, 300, 4.0, seed=5)
    ds = fit_cells(responses, method="model", n_bootstrap=0, split_half=False, align_trial_types=False)
    x = responses["reward_volume"].values

    def sse(r, y):
        d = x - r
        total = 0.0
        for side in (d > 0, d < 0):
            if side.any():
                slope = (d[side] @ y[side]) / (d[side] @ d[side])
                total += np.sum((y[side] - slope * d[side]) ** 2)
        return total + np.sum(y[d == 0] ** 2)

    for cell in range(6):
        y = responses.values[cell]
        best = min((optimize.minimize_scalar(sse, bounds=(lo, hi), args=(y,), method="bounded",
                                             options={"xatol": 1e-10}) for lo, hi in zip(VOLUMES[:-1], VOLUMES[1:], strict=True)),
                   key=lambda res: res.fun)
        ours = float(ds.reversal_point[cell])
        assert sse(ours, y) <= best.fun + 1e-7 * max(1.0, best.fun)
        assert ours == pytest.approx(best.x, abs=1e-4)


def test_numba_kernel_and_numpy_fallback_agree():
    pytest.importorskip("numba")
    from neurorl.analysis._jitted import model_fit_rows

    responses, *_ = _simulate_equation(40, 300, 3.0, seed=9)
    prep = rev._prepare(responses, align=False)
    weights = rev._bootstrap_weights(np.random.default_rng(0), 20)(prep.blocks[0].size_index)
    n, s = rev._all_stats(prep, lambda size_index: weights)[:2]
    s2, n2 = s.reshape(-1, 7), n.reshape(-1, 7)
    fast = model_fit_rows(s2, n2, prep.volumes, rev._GRID_PER_INTERVAL, rev._GOLDEN_ITERATIONS)
    np.testing.assert_allclose(fast, rev._model_fit_flat(s2, n2, prep.volumes), atol=1e-6)


def test_bootstrap_by_weight_matrix_equals_refitting_resampled_trials():
    responses, *_ = _simulate_equation(5, 120, 2.0, seed=2)
    prep = rev._prepare(responses, align=False)
    weights = rev._bootstrap_weights(np.random.default_rng(1), 3)(prep.blocks[0].size_index)
    stats = rev._all_stats(prep, lambda size_index: weights)
    utility = rev._utility_from_stats(rev._all_stats(prep, lambda s: np.ones((1, s.size))))
    for method in ("counting", "model"):
        est = rev._estimate(stats, prep.volumes, utility, method)
        for b in range(3):
            picks = np.repeat(np.arange(weights.shape[1]), weights[b].astype(int))
            resampled = responses.isel(trial=picks).assign_coords(trial=np.arange(picks.size))
            p2 = rev._prepare(resampled, align=False)
            direct = rev._estimate(rev._all_stats(p2, lambda s: np.ones((1, s.size))), p2.volumes, utility, method)
            for key in ("reversal_volume", "reversal_utility", "tau_volume", "alpha_neg_utility"):
                tol = 1e-9 if method == "counting" else 1e-6  # golden-section search stops at ~1e-8 µl
                np.testing.assert_allclose(est[key][:, b], direct[key][:, 0], rtol=tol, atol=tol)
    # stratified: every resample keeps the number of trials of each size
    for j in range(prep.volumes.size):
        assert np.all(weights[:, prep.blocks[0].size_index == j].sum(axis=1) == np.sum(prep.blocks[0].size_index == j))


# ------------------------------------------------------------------------------- recovery and coverage
def test_parameter_recovery_within_noise_derived_tolerance():
    sigma = 3.0
    responses, rp, a_pos, a_neg = _simulate_equation(150, 800, sigma, seed=11)
    ds = fit_cells(responses, method="model", n_bootstrap=0, split_half=False, align_trial_types=False)
    x = responses["reward_volume"].values
    se_rp, se_pos, se_neg, se_tau = _sandwich_se(x, rp, a_pos, a_neg, np.full((150, x.size), sigma**2))
    tau = a_pos / (a_pos + a_neg)
    for est, truth, se in ((ds.reversal_point, rp, se_rp), (ds.alpha_pos, a_pos, se_pos),
                           (ds.alpha_neg, a_neg, se_neg), (ds.asymmetry, tau, se_tau)):
        z = (est.values - truth) / se
        # asymptotically N(0, 1): 95.4% within 2 SE; 150 cells -> binomial sd 1.7%, allow 4 sd
        assert np.mean(np.abs(z) < 2) >= 0.954 - 4 * 0.017
        assert np.max(np.abs(z)) < 5.5


def test_bootstrap_intervals_cover_the_truth_near_nominal_rate():
    responses, rp, a_pos, a_neg = _simulate_equation(300, 600, 3.0, seed=21)
    ds = fit_cells(responses, method="model", n_bootstrap=200, ci=0.95, seed=4, split_half=False,
                   align_trial_types=False)
    tau = a_pos / (a_pos + a_neg)
    # 300 cells at nominal 0.95: binomial sd 1.26% -> accept 0.95 +- 4 sd
    for name, truth in (("reversal_point", rp), ("asymmetry", tau), ("alpha_pos", a_pos), ("alpha_neg", a_neg)):
        low, high = ds[f"{name}_ci"].sel(bound="low").values, ds[f"{name}_ci"].sel(bound="high").values
        coverage = np.mean((low <= truth) & (truth <= high))
        assert 0.95 - 4 * 0.0126 <= coverage <= 0.95 + 4 * 0.0126, (name, coverage)


def test_same_seed_same_numbers_and_output_layout():
    responses, *_ = _simulate_equation(10, 200, 2.0, seed=1)
    a = fit_cells(responses, n_bootstrap=20, seed=3)
    b = fit_cells(responses, n_bootstrap=20, seed=3)
    xr.testing.assert_identical(a, b)
    assert a.reversal_point_ci.dims == ("cell", "bound") and list(a.bound.values) == ["low", "high"]
    assert a.reversal_point_half.dims == ("cell", "half")
    assert a.attrs["method"] == "counting" and a.attrs["n_bootstrap"] == 20
    assert set(a.reward_volume.values) <= set(VOLUMES)


# --------------------------------------------------------------------------- D1's recording simulator
@pytest.fixture(scope="module")
def simulated():
    dopamine_recording = pytest.importorskip("neurorl.models.dopamine_recording")
    out = {}
    for code in ("expectile", "classic"):
        sim = dopamine_recording.simulate_recordings(90, 3, 500, code=code, baseline_rate=10.0, baseline_spread=0.2,
                                                     gain=1.0, gain_spread=0.2, n_training_trials=3000, seed=7)
        out[code] = (compute_responses(sim.sessions), sim.ground_truth)
    return out


def test_recovery_on_simulated_spike_recordings(simulated):
    responses, truth = simulated["expectile"]
    truth = truth.set_index(truth["session"] + "/" + truth["cell"].astype(str)).loc[responses.cell.values]
    ds = fit_cells(responses, method="model", n_bootstrap=0, split_half=False, align_trial_types=False)
    rp, slope_pos, slope_neg = (truth[c].to_numpy() for c in ("reversal_point", "slope_pos", "slope_neg"))
    baseline = truth["baseline_rate"].to_numpy()
    x = responses["reward_volume"].values
    finite = np.isfinite(responses.values)
    # Poisson noise: var = window rate / 0.4 s + baseline / 1 s, (spikes/s)^2, on the trials the cell saw
    mean_rate = baseline[:, None] + _piecewise(x, rp, slope_pos, slope_neg)
    variance = np.where(finite, mean_rate / 0.4 + baseline[:, None] / 1.0, 0.0)
    se_rp, se_pos, se_neg, se_tau = _masked_se(x, rp, slope_pos, slope_neg, variance, finite)
    # The asymptotic normal SEs hold where the model holds (firing floor of 0 spikes/s never reached) and the
    # kink is identified (both slopes > 5 SE; a weak side lets a kink at the edge of the range compete).
    unfloored = slope_neg * (rp - VOLUMES[0]) < baseline
    identified = np.minimum(slope_pos / se_pos, slope_neg / se_neg) > 5
    mask = unfloored & identified
    assert mask.mean() > 0.5
    for est, truth_values, se in ((ds.reversal_point.values, rp, se_rp),
                                  (ds.asymmetry.values, truth["asymmetry"].to_numpy(), se_tau)):
        z = ((est - truth_values) / se)[mask]
        n = z.size
        assert np.mean(np.abs(z) < 2) >= 0.954 - 4 * np.sqrt(0.954 * 0.046 / n)
        assert np.max(np.abs(z)) < 5.5
    # poorly identified cells still land on the right side of the population: rank correlation
    assert _spearman(ds.reversal_point.values, rp) > 0.8
    tr = tau_reversal_correlation(responses, n_splits=100, method="model", axis="volume", seed=0)
    assert float(tr.r_median) > 0.5 and float(tr.p_median) < 1e-4
    tr = tau_reversal_correlation(responses, n_splits=100, seed=0)        # counting, utility axis
    assert float(tr.r_median) > 0.5 and float(tr.p_median) < 1e-4


def _spearman(a, b):
    from scipy.stats import spearmanr

    return spearmanr(a, b).statistic


def _masked_se(volumes, rp, a_pos, a_neg, variance, finite):
    """Sandwich SEs of (rp, a+, a-, tau) when each cell only has the trials where ``finite``."""
    d = volumes[None, :] - rp[:, None]
    above = d > 0
    grad = np.stack([np.where(above, -a_pos[:, None], -a_neg[:, None]), np.where(above, d, 0.0),
                     np.where(above, 0.0, d)], axis=-1) * finite[..., None]
    bread = np.linalg.inv(np.einsum("cti,ctj->cij", grad, grad))
    cov = bread @ np.einsum("cti,ct,ctj->cij", grad, variance, grad) @ bread
    total = a_pos + a_neg
    dtau = np.stack([np.zeros_like(total), a_neg / total**2, -a_pos / total**2], axis=-1)
    se_tau = np.sqrt(np.einsum("ci,cij,cj->c", dtau, cov, dtau))
    return np.sqrt(cov[:, 0, 0]), np.sqrt(cov[:, 1, 1]), np.sqrt(cov[:, 2, 2]), se_tau


def test_classic_td_null_shows_no_tau_reversal_correlation(simulated):
    responses, truth = simulated["classic"]
    assert np.ptp(truth["reversal_point"]) == pytest.approx(0.0)
    n = responses.sizes["cell"]
    for method in ("counting", "model"):
        tr = tau_reversal_correlation(responses, n_splits=100, method=method, seed=1)
        # the median over splits of r estimated from n cells: sd ~ 1/sqrt(n); allow 3 sd
        assert abs(float(tr.r_median)) < 3 / np.sqrt(n), method
        assert float(tr.p_median) > 0.01, method
    null = classic_td_null_test(responses, n_splits=100, n_bootstrap=100, seed=2)
    assert null.attrs["rejected"] == 0
    assert float(null.split_half_p) > 0.01
    # the distributional population rejects it
    dist = classic_td_null_test(simulated["expectile"][0], n_splits=100, n_bootstrap=100, seed=2)
    assert dist.attrs["rejected"] == 1 and float(dist.split_half_r) > 0.4


# ---------------------------------------------------------------------------------------- real cells
@pytest.fixture(scope="module")
def real_responses():
    if not REAL_DATA.is_dir():
        pytest.skip(f"real dopamine cells not found at {REAL_DATA} (they live in ../shared, never in the repo)")
    commonformat = pytest.importorskip("neurorl.io.commonformat")
    recordings = []
    for path in sorted(REAL_DATA.glob("*.mat")):
        cell = commonformat.read_commonformat(path)
        units = pd.DataFrame({"spike_times": [cell.spike_times]}, index=pd.Index([0], name="unit"))
        recordings.append(SimpleNamespace(session=cell.name, units=units, trials=cell.trials))
    return compute_responses(recordings)


def test_real_cells_tau_reversal_correlation_and_reliability(real_responses):
    assert real_responses.sizes["cell"] == 40
    tr = tau_reversal_correlation(real_responses, n_splits=200, seed=0)      # counting, utility axis (original)
    assert float(tr.r_median) > 0.3 and float(tr.p_median) < 0.05
    assert float(tr.fraction_significant) > 0.5
    split = reversal_split_half(real_responses, n_splits=200, seed=0)
    assert float(split.r_median) > 0.5 and float(split.p_greater_median) < 1e-3
    u = utility_axis(real_responses).values
    assert np.all(np.diff(u) > 0)                       # responses grow with reward size


def test_real_cells_lost_unit_is_cut(real_responses):
    cell = [c for c in real_responses.cell.values if c.startswith("03_05_TT6_1")][0]
    times = real_responses["reward_time"].values[np.isfinite(real_responses.sel(cell=cell).values)]
    own = real_responses["trial_session"].values == cell.split("/")[0]
    assert times.max() < 2662.0 and own.sum() > np.isfinite(real_responses.sel(cell=cell).values).sum()


# --------------------------------------------------------------------------------------- API surface
def test_estimator_wrapper_on_plain_arrays():
    responses, rp, *_ = _simulate_equation(20, 400, 1.0, seed=8)
    est = ReversalPointEstimator(method="model", n_bootstrap=0)
    assert est.get_params()["method"] == "model"
    fitted = est.fit(responses.values.T, responses["reward_volume"].values)
    assert fitted is est and est.n_features_in_ == 20
    np.testing.assert_allclose(est.reversal_point_, fit_cells(responses, method="model", n_bootstrap=0,
                                                              split_half=False).reversal_point.values)
    with pytest.raises(InvalidArgumentError):
        ReversalPointEstimator().fit(responses.values.T)


def test_bad_arguments():
    responses, *_ = _simulate_equation(3, 50, 1.0, seed=0)
    with pytest.raises(InvalidArgumentError):
        fit_cells(responses, method="spline")
    with pytest.raises(InvalidArgumentError):
        fit_cells(responses.values)
    with pytest.raises(InvalidArgumentError):
        tau_reversal_correlation(responses, axis="log")
    one_size = responses.assign_coords(reward_volume=("trial", np.ones(50)))
    with pytest.raises(InvalidArgumentError):
        fit_cells(one_size)


def test_every_result_variable_carries_units():
    """CF-style ``attrs["units"]`` on every variable of the fits and the population tests."""
    responses, *_ = _simulate_equation(6, 160, 2.0, seed=4)
    results = [rev.fit_cells(responses, n_bootstrap=5),
               rev.tau_reversal_correlation(responses, n_splits=5, n_permutations=5),
               rev.reversal_split_half(responses, n_splits=5),
               rev.same_vs_diverse(responses, n_splits=5),
               rev.classic_td_null_test(responses, n_splits=5, n_bootstrap=5)]
    for ds in results:
        missing = [name for name in ds.data_vars if "units" not in ds[name].attrs]
        assert missing == []
    fit = results[0]
    assert fit["reversal_point"].attrs["units"] == "µl" and fit["asymmetry"].attrs["units"] == "1"
    assert fit["reversal_point_ci"].attrs["units"] == "µl"


def test_row_percentiles_are_numpys_nanpercentile():
    from neurorl.analysis.reversal import _row_percentiles

    rng = np.random.default_rng(0)
    values = rng.normal(size=(300, 57))
    values[rng.random(values.shape) < 0.01] = np.nan
    values[7] = np.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        expected = np.nanpercentile(values, [2.5, 50.0, 97.5], axis=1)
        np.testing.assert_array_equal(_row_percentiles(values, [2.5, 50.0, 97.5]), expected)


def test_estimates_asked_for_are_those_of_all_estimates():
    from neurorl.analysis.reversal import _estimate

    rng = np.random.default_rng(1)
    n = rng.integers(1, 30, size=(20, 5, 6)).astype(float)
    s = rng.normal(size=n.shape) * n
    positive = np.floor(n * rng.uniform(0, 1, n.shape))
    stats = np.stack([n, s, positive, n - positive])
    volumes, utility = np.array([0.1, 0.3, 1.2, 2.5, 5.0, 10.0]), np.array([-3.0, -2.0, -0.5, 0.4, 2.0, 6.0])
    for method in ("counting", "model"):
        everything = _estimate(stats, volumes, utility, method)
        for keys in (["tau_utility", "reversal_utility"], ["tau_sides_volume"], ["n_trials"],
                     ["alpha_pos_sides_utility", "censored_volume"]):
            some = _estimate(stats, volumes, utility, method, keys)
            for key in keys:
                np.testing.assert_array_equal(some[key], everything[key])


@pytest.mark.parametrize("n_strata", [5, 300])
def test_stratified_permutations_stay_in_their_stratum_and_are_uniform(n_strata):
    from neurorl.analysis.reversal import MAX_LOOPED_STRATA, _permutation_orders

    assert (n_strata > MAX_LOOPED_STRATA) == (n_strata == 300)     # both ways of drawing are tested
    rng = np.random.default_rng(0)
    strata = np.repeat(np.arange(n_strata), 4)[rng.permutation(4 * n_strata)]
    orders = _permutation_orders(rng, strata.size, 4000, strata)
    assert all(np.array_equal(np.sort(row), np.arange(strata.size)) for row in orders[:50])
    assert np.all(strata[orders] == strata[None, :])
    # each cell takes each of its stratum's 4 members with probability 1/4: over 4000 permutations the count
    # is Binomial(4000, 1/4) (SD 27.4); all counts within 5 SD (P(any outside) < 1e-3 for 4 * 1200 counts)
    first = np.flatnonzero(strata == strata[0])
    counts = np.array([[np.sum(orders[:, i] == j) for j in first] for i in first])
    assert np.all(np.abs(counts - 1000) < 5 * np.sqrt(4000 * 0.25 * 0.75))


@pytest.mark.parametrize("n_sizes", [2, 7, 8, 12])
def test_compiled_estimators_are_the_numpy_estimators(n_sizes):
    """The compiled counting estimator and slopes give the numpy code's numbers bit for bit (ties, empty rows,
    points outside the sizes, integer and fractional counts)."""
    from neurorl.analysis.reversal import _counting, _counting_numpy, _slopes, _slopes_numpy

    rng = np.random.default_rng(n_sizes)
    shape = (60, 40, n_sizes)
    n = rng.integers(0, 12, size=shape).astype(float)
    n[:5] = 0.0                                                     # empty rows
    positive = np.floor(n * rng.uniform(0, 1, shape))
    negative = n - positive
    positive[5:10] = negative[5:10] = 1.0                           # many ties
    positive[10:15, :, :] = n[10:15]                                # all above: censored low
    positive[15:20] = positive[15:20] / 3.0                         # fractional weights
    s = rng.normal(size=shape) * n
    volumes = np.sort(rng.uniform(0.1, 20, n_sizes))
    utility = np.sort(rng.normal(size=n_sizes) * 5)
    axes = {"volume": (volumes, volumes[0], volumes[-1]), "utility": (utility, utility[0] + 0.01, utility[-1] - 0.1)}
    (compiled, censored), (reference, censored_ref) = (_counting(positive, negative, n, axes),
                                                       _counting_numpy(positive, negative, n, axes))
    np.testing.assert_array_equal(censored, censored_ref)
    assert {-1, 0, 1} <= set(np.unique(censored_ref).tolist())
    for name in axes:
        np.testing.assert_array_equal(compiled[name], reference[name])
        r = np.where(np.isfinite(reference[name]), reference[name], 0.0)
        for got, expected in zip(_slopes(s, n, axes[name][0], r), _slopes_numpy(s, n, axes[name][0], r), strict=True):
            np.testing.assert_array_equal(got, expected)
