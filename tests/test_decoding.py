"""Tests of expectile / quantile imputation (neurorl.analysis.decoding)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import expectile, wasserstein_distance

from neurorl.analysis.decoding import (
    _expectile_kernel,
    _expectile_kernel_numpy,
    decode_distribution,
    decode_fit,
    expectiles_of_samples,
    quantiles_of_samples,
)
from neurorl.errors import InvalidArgumentError, MissingDataError
from neurorl.tasks.variable_reward import REWARD_PROBABILITIES, REWARD_VOLUMES_UL

VOLUMES = np.array(REWARD_VOLUMES_UL)
PROBS = np.array(REWARD_PROBABILITIES)
MEAN = float(VOLUMES @ PROBS)
SD = float(np.sqrt(((VOLUMES - MEAN) ** 2) @ PROBS))
TAUS = np.linspace(0.03, 0.97, 40)


def task_expectiles(taus):
    return np.array([expectile(VOLUMES, t, weights=PROBS) for t in taus])


def pooled(decoded):
    return decoded["samples"].to_numpy()[decoded["kept"].to_numpy()].ravel()


def test_expectiles_of_samples_matches_scipy():
    rng = np.random.default_rng(0)
    values = rng.gamma(2.0, 2.0, size=57)
    weights = rng.uniform(0.1, 1.0, size=57)
    taus = np.array([0.01, 0.2, 0.5, 0.77, 0.99])
    expected = [expectile(values, t, weights=weights) for t in taus]
    np.testing.assert_allclose(expectiles_of_samples(values, taus, weights), expected, rtol=1e-10, atol=1e-10)


def test_quantiles_of_samples_midrank():
    np.testing.assert_allclose(quantiles_of_samples(np.arange(10.0), [0.05, 0.5, 0.95]), [0.0, 4.5, 9.0])


def test_kernel_matches_numpy_and_numeric_gradient():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3, 30))
    targets = np.sort(rng.normal(size=9))
    taus = rng.uniform(0.05, 0.95, size=9)
    kernel = _expectile_kernel
    for delta in (None, 0.05):
        loss, grad = kernel(z, targets, taus, delta)
        loss_ref, grad_ref = _expectile_kernel_numpy(z, targets, taus, delta)
        np.testing.assert_allclose(loss, loss_ref, atol=1e-14)
        np.testing.assert_allclose(grad, grad_ref, atol=1e-14)
    # central differences (the loss is piecewise quadratic; steps far smaller than the gaps to the kinks)
    flat = z.ravel()
    eps = 1e-7
    numeric = np.empty_like(flat)
    for i in range(flat.size):
        step = np.zeros_like(flat)
        step[i] = eps
        numeric[i] = (kernel((flat + step).reshape(z.shape), targets, taus, 0.05)[0].sum()
                      - kernel((flat - step).reshape(z.shape), targets, taus, 0.05)[0].sum()) / (2 * eps)
    np.testing.assert_allclose(numeric, kernel(z, targets, taus, 0.05)[1].ravel(), atol=1e-9)


def _plain_expectile_objective(z, targets, taus, delta):
    """The expectile objective as a plain per-cell loop (binary search per cell), in Python floats."""
    n_restarts, n_samples = z.shape
    per_restart, grad = np.zeros(n_restarts), np.zeros(z.shape)
    for r in range(n_restarts):
        zs = np.sort(z[r])
        prefix = np.zeros(n_samples + 1)
        for j in range(n_samples):                     # the kernel's running sum, not numpy's pairwise one
            prefix[j + 1] = prefix[j] + zs[j]
        total, base, loss, slope = prefix[n_samples], 0.0, 0.0, []
        for e, t in zip(targets, taus, strict=True):
            k = int(np.searchsorted(zs, e, side="right"))
            g = ((1.0 - t) * (prefix[k] - k * e) + t * ((total - prefix[k]) - (n_samples - k) * e)) / n_samples
            if delta < 0 or abs(g) <= delta:
                loss += 0.5 * g * g
                slope.append(g)
            else:
                loss += delta * (abs(g) - 0.5 * delta)
                slope.append(delta if g > 0 else -delta)
            base += slope[-1] * (1.0 - t)
        slope_prefix = [0.0]
        for s, t in zip(slope, taus, strict=True):
            slope_prefix.append(slope_prefix[-1] + s * (2.0 * t - 1.0))
        for j in range(n_samples):
            m = int(np.searchsorted(targets, z[r, j], side="left"))
            grad[r, j] = (base + slope_prefix[m]) / (targets.size * n_samples)
        per_restart[r] = loss / targets.size
    return per_restart, grad


def test_kernel_is_bit_identical_to_the_plain_per_cell_loop():
    from neurorl.analysis._jitted import expectile_objective

    rng = np.random.default_rng(3)
    z = np.round(rng.normal(size=(4, 25)), 1)           # ties between samples and with the targets
    targets = np.sort(np.concatenate([np.round(rng.normal(size=60), 1), [z.min() - 1, z.max() + 1]]))
    taus = rng.uniform(0.02, 0.98, size=targets.size)
    for delta in (-1.0, 0.05):
        loss, grad = expectile_objective(z, targets, taus, delta)
        loss_ref, grad_ref = _plain_expectile_objective(z, targets, taus, delta)
        assert np.array_equal(loss, loss_ref) and np.array_equal(grad, grad_ref)


def test_recovers_task_distribution_from_exact_expectiles():
    decoded = decode_distribution(task_expectiles(TAUS), TAUS, seed=0)
    samples = pooled(decoded)
    # the decoded samples' expectiles reproduce the targets to a small fraction of a µl
    assert decoded.attrs["rmse"] < 0.05
    # expectiles at 0.5 is the mean: the decoded mean matches it
    assert abs(samples.mean() - MEAN) < 0.02 * MEAN
    assert abs(samples.std() - SD) < 0.05 * SD
    # Wasserstein-1 distance to the 7-point distribution: far below its SD (5.3 µl) and below the distance
    # of a naive decode that takes the reversal points themselves as samples (~1.9 µl)
    distance = wasserstein_distance(samples, VOLUMES, v_weights=PROBS)
    naive = wasserstein_distance(task_expectiles(TAUS), VOLUMES, v_weights=PROBS)
    assert distance < 0.4
    assert distance < 0.25 * naive
    # the density integrates to 1 and puts mass near the big atoms
    density, grid = decoded["density"].to_numpy(), decoded["reward"].to_numpy()
    assert np.trapezoid(density, grid) == pytest.approx(1.0, abs=1e-6)
    assert decoded.attrs["converged"] in (0, 1)


def test_noisy_and_inconsistent_estimates_stay_close():
    """Noise on tau (sd 0.05) and 5% multiplicative noise on reversal points; plus upward-biased taus for
    low-reversal cells (the firing floor compresses negative responses, so a- is underestimated)."""
    rng = np.random.default_rng(7)
    taus = np.sort(rng.uniform(0.05, 0.95, 40))
    exact = task_expectiles(taus)
    distances, mean_errors = [], []
    for repeat in range(4):
        noisy_tau = np.clip(taus + rng.normal(0, 0.05, taus.size), 0.001, 0.999)
        noisy_tau = np.where(exact < MEAN, noisy_tau + 0.5 * (1 - noisy_tau) * 0.2, noisy_tau)  # floor bias
        noisy_points = exact * np.exp(rng.normal(0, 0.05, taus.size))
        decoded = decode_distribution(noisy_points, noisy_tau, seed=repeat)
        samples = pooled(decoded)
        distances.append(wasserstein_distance(samples, VOLUMES, v_weights=PROBS))
        mean_errors.append(abs(samples.mean() - MEAN))
        assert np.all(np.isfinite(samples)) and samples.min() >= 0
    # stays within a third of the distribution's SD and the mean within 15%
    assert np.median(distances) < SD / 3
    assert np.median(mean_errors) < 0.15 * MEAN


def test_inconsistent_duplicate_cells():
    # two cells with the same tau but different reversal points cannot both be matched: the decoder
    # must still return finite samples whose expectile at that tau lies between them
    taus = np.array([0.2, 0.5, 0.5, 0.8])
    points = np.array([2.0, 4.0, 6.0, 8.0])
    decoded = decode_distribution(points, taus, seed=0, n_restarts=5)
    middle = expectiles_of_samples(decoded["samples"].to_numpy()[int(np.argmin(decoded["loss"].to_numpy()))], [0.5])[0]
    assert 4.0 - 1e-6 <= middle <= 6.0 + 1e-6
    assert decoded.attrs["loss"] > 0


def test_quantile_code_recovers_quantiles():
    taus = np.linspace(0.05, 0.95, 30)
    rng = np.random.default_rng(3)
    draws = rng.gamma(3.0, 2.0, size=100_000)
    targets = np.quantile(draws, taus)
    decoded = decode_distribution(targets, taus, code="quantile", seed=0)
    samples = pooled(decoded)
    assert decoded.attrs["rmse"] < 0.05 * draws.std()
    assert wasserstein_distance(samples, draws[:5000]) < 0.1 * draws.std()


def test_same_seed_same_result_and_nan_cells_dropped():
    points = np.append(task_expectiles(TAUS[:10]), np.nan)
    taus = np.append(TAUS[:10], 0.5)
    a = decode_distribution(points, taus, seed=3, n_restarts=4)
    b = decode_distribution(points, taus, seed=3, n_restarts=4)
    np.testing.assert_array_equal(a["samples"], b["samples"])
    assert a.attrs["n_cells"] == 10 and a.attrs["n_dropped"] == 1


@pytest.mark.parametrize("kwargs", [dict(code="mean"), dict(n_samples=1), dict(tau_clip=0.6),
                                    dict(support=(5.0, 1.0))])
def test_bad_arguments(kwargs):
    with pytest.raises(InvalidArgumentError):
        decode_distribution(task_expectiles(TAUS), TAUS, **kwargs)


def test_too_few_cells():
    with pytest.raises(InvalidArgumentError, match="at least 2"):
        decode_distribution([1.0, np.nan], [0.5, 0.5])


def test_decode_fit_uses_uncensored_finite_cells_only():
    import xarray as xr

    points = task_expectiles(TAUS[:12])
    # a censored cell and a NaN cell first, so that positions among the usable cells differ from the fit's rows
    order = np.r_[12, 13, 0:12]
    labels = np.array([f"session_01/{i}" for i in range(14)])[order]
    fit = xr.Dataset({
        "reversal_point": ("cell", np.append(points, [0.1, np.nan])[order], {"units": "µl"}),
        "asymmetry": ("cell", np.append(TAUS[:12], [0.2, 0.6])[order]),
        "reversal_censored": ("cell", np.append(np.zeros(12, int), [1, 0])[order]),
    }, coords={"cell": labels, "session": ("cell", np.full(14, "session_01")), "unit": ("cell", np.r_[12, 13, 0:12])})
    decoded = decode_fit(fit, seed=5, n_restarts=4, asymmetry="volume", support="wide")
    direct = decode_distribution(points, TAUS[:12], seed=5, n_restarts=4)
    np.testing.assert_array_equal(decoded["samples"], direct["samples"])
    assert decoded.attrs["n_cells"] == 12 and decoded.attrs["n_censored"] == 1
    # the fit's labels, not positions 0..11 among the usable cells, and each row still describes its own cell
    assert decoded["cell"].values.tolist() == [f"session_01/{i}" for i in range(12)]
    assert decoded["unit"].values.tolist() == list(range(12)) and set(decoded["session"].values) == {"session_01"}
    np.testing.assert_allclose(decoded["reversal_point"], fit["reversal_point"].sel(cell=decoded["cell"]))
    assert decoded["tau"].sel(cell="session_01/3") == pytest.approx(TAUS[3])
    with pytest.raises(MissingDataError, match="fewer than 2 of 3 cells"):
        decode_fit(fit.isel(cell=[0, 1, 2]), asymmetry="volume", support="wide")


def _fit_like(points, taus_volume, taus_utility, volumes=(0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0)):
    import xarray as xr

    n = len(points)
    return xr.Dataset({
        "reversal_point": ("cell", np.asarray(points, float)),
        "asymmetry": ("cell", np.asarray(taus_volume, float)),
        "asymmetry_utility": ("cell", np.asarray(taus_utility, float)),
        "reversal_censored": ("cell", np.zeros(n, int)),
    }, coords={"reward_volume": np.asarray(volumes, float)})


def test_decode_fit_constrains_the_support_to_the_task_by_default():
    # cells spanning most of the task's range: the wide support reaches past 20 µl, the task support does not
    taus = np.linspace(0.05, 0.95, 20)
    points = task_expectiles(taus)
    fit = _fit_like(points, taus, taus)
    decoded = decode_fit(fit, seed=0, n_restarts=4)
    assert decoded.attrs["support"] == "task"
    assert (decoded.attrs["support_low"], decoded.attrs["support_high"]) == (0.1, 20.0)
    assert decoded["samples"].min() >= 0.1 - 1e-9 and decoded["samples"].max() <= 20.0 + 1e-9
    wide = decode_fit(fit, seed=0, n_restarts=4, support="wide")
    assert wide.attrs["support_high"] > 20.0
    with pytest.raises(InvalidArgumentError, match="support"):
        decode_fit(fit, support="everywhere")


def test_decode_fit_uses_the_utility_axis_asymmetry_by_default():
    taus = np.linspace(0.1, 0.9, 12)
    points = task_expectiles(taus)
    fit = _fit_like(points, np.full(12, 0.5), taus)      # the µl-axis taus carry no information here
    default = decode_fit(fit, seed=1, n_restarts=4)
    direct = decode_distribution(points, taus, seed=1, n_restarts=4, support=(0.1, 20.0))
    np.testing.assert_array_equal(default["samples"], direct["samples"])
    assert default.attrs["asymmetry_axis"] == "utility"
    volume = decode_fit(fit, seed=1, n_restarts=4, asymmetry="volume")
    np.testing.assert_array_equal(volume["tau"], np.full(12, 0.5))


def test_decoding_controls_say_whether_a_decode_carries_information():
    from neurorl.analysis.decoding import decoding_controls, reference_distributions
    from neurorl.tasks.variable_reward import VariableRewardTask

    task = VariableRewardTask()
    taus = np.linspace(0.05, 0.95, 30)
    fit = _fit_like(task_expectiles(taus), taus, taus)
    classic = _fit_like(np.full(30, task.mean) + np.linspace(-0.5, 0.5, 30), np.full(30, 0.5), np.full(30, 0.5))
    decoded = decode_fit(fit, seed=0, n_restarts=6)
    out = decoding_controls(fit, decoded, task.volumes, task.probs, control_fit=classic, n_shuffles=3, seed=0,
                            n_restarts=6)
    assert set(out) >= {"decode_w1_ul", "control_classic_td_w1_ul", "control_shuffled_asymmetry_w1_ul",
                        "reference_uniform_w1_ul", "reference_unimodal_w1_ul"}
    # exact expectiles decode close to the task, and closer than every control and reference
    assert out["decode_w1_ul"] < 0.5
    for key in ("control_classic_td_w1_ul", "control_shuffled_asymmetry_w1_ul", "reference_uniform_w1_ul",
                "reference_unimodal_w1_ul"):
        assert out[key] > 2 * out["decode_w1_ul"], key
    # the references have the properties they are named for
    refs = reference_distributions(task.volumes, task.probs)
    assert refs["uniform"].min() >= 0.1 and refs["uniform"].max() <= 20.0
    assert np.mean(refs["unimodal"]) == pytest.approx(task.mean, rel=0.01)
    assert np.var(refs["unimodal"]) == pytest.approx(task.variance, rel=0.02)
    assert np.mean(refs["mirrored"]) == pytest.approx(0.1 + 20.0 - task.mean, abs=0.05)
    assert out["reference_mirrored_w1_ul"] > 2 * out["decode_w1_ul"]


def test_every_decoded_variable_carries_units():
    decoded = decode_distribution(task_expectiles(TAUS[:10]), TAUS[:10], seed=0, n_restarts=2)
    for name in [*decoded.data_vars, "reward"]:
        assert "units" in decoded[name].attrs, name
    assert decoded["samples"].attrs["units"] == "µl" and decoded["density"].attrs["units"] == "1/µl"
    assert decoded["tau"].attrs["units"] == "1"
    assert decoded["cell"].values.tolist() == list(range(10))  # plain arrays: positions


def test_decode_distribution_keeps_the_labels_and_units_of_a_dataarray():
    import xarray as xr

    cells = [f"s/{i}" for i in range(10)]
    points = xr.DataArray(np.append(task_expectiles(TAUS[:9]), np.nan), dims="cell", coords={"cell": cells},
                          attrs={"units": "nl"})
    decoded = decode_distribution(points, np.append(TAUS[:9], 0.5), seed=0, n_restarts=2)
    assert decoded["cell"].values.tolist() == cells[:9] and decoded["samples"].attrs["units"] == "nl"
