"""BCI analyses: known answers on constructed data, and the paper's signatures on small seeded simulations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neurorl.analysis import bci as A

RATE = 15.46


# ------------------------------------------------------------------------------------------- known answers
def test_pairing_recovers_known_correlation():
    rng = np.random.default_rng(0)
    soma = rng.standard_normal((20000, 3))
    # dendrite = soma + noise of SD s: r = 1 / sqrt(1 + s^2)  ->  s = 0.5: 0.894, s = 2: 0.447
    noise_sd = np.array([0.5, 2.0, 0.5])
    parent = np.array([0, 1, 2])
    dend = soma + noise_sd * rng.standard_normal((20000, 3))
    out = A.pair_soma_dendrite(soma, dend, parent, min_r=0.6)
    expected = 1 / np.sqrt(1 + noise_sd ** 2)
    np.testing.assert_allclose(out["r"].values, expected, atol=0.02)  # SE of r ~ (1-r^2)/sqrt(n) < 0.01
    assert out["paired"].values.tolist() == [True, False, True]
    # a dendrite linked to the wrong soma is uncorrelated
    wrong = A.pair_soma_dendrite(soma, dend, np.array([1, 0, 2]))
    assert abs(float(wrong["r"][0])) < 0.05 and not bool(wrong["paired"][0])


def test_detect_events_known_runs():
    x = np.zeros((200, 2))
    x[20:24, 0] = [1.0, 2.0, 1.5, 0.5]   # event: onset 20, peak 2.0
    x[100:102, 0] = 3.0                 # event: onset 100, peak 3.0
    x[50, 1] = 5.0                      # single frame: below min_frames
    x[150:155, 1] = 0.8                 # event: onset 150
    x += 0.01 * np.random.default_rng(1).standard_normal(x.shape)
    ev = A.detect_events(x, 10.0, threshold_sd=5.0, min_frames=2)
    assert ev["neuron"].values.tolist() == [0, 0, 1]
    assert ev["onset_frame"].values.tolist() == [20, 100, 150]
    np.testing.assert_allclose(ev["time"].values, [2.0, 10.0, 15.0])
    np.testing.assert_allclose(ev["magnitude"].values, [2.0, 3.0, 0.8], atol=0.05)
    # restricting the frames drops the first event but keeps absolute times
    late = A.detect_events(x, 10.0, threshold_sd=5.0, start_frame=60)
    assert late["onset_frame"].values.tolist() == [100, 150]


def test_coincident_events_window():
    soma = xr.Dataset({"neuron": ("event", [0, 0, 0, 1]), "time": ("event", [1.0, 5.0, 9.0, 2.0]),
                       "magnitude": ("event", [1.0, 2.0, 3.0, 4.0])})
    dend = xr.Dataset({"neuron": ("event", [0, 0, 1, 1]), "time": ("event", [1.3, 9.6, 2.49, 50.0]),
                       "magnitude": ("event", [0.5, 0.7, 0.9, 1.0])})
    out = A.coincident_events(soma, dend, np.array([0, 1]), window_s=0.5)
    assert out["neuron"].values.tolist() == [0, 1]            # 5.0 has no partner, 9.0 is 0.6 s away
    np.testing.assert_allclose(out["dendrite_magnitude"].values, [0.5, 0.9])
    np.testing.assert_allclose(out["lag"].values, [0.3, 0.49])


def _constructed_events(gain: float, rng, n_per=400):
    """Coincident events of 2 P+ and 2 P- neurons with dendrite = 0.2 + 0.5 * soma + gain * sign * s(epoch)."""
    ensemble = np.array(["P+", "P-", "P+", "P-", "P0"])
    sign = np.array([1, -1, 1, -1, 0])
    epochs = xr.Dataset({"start_time": ("epoch", np.arange(100) * 2.0), "stop_time": ("epoch", np.arange(100) * 2.0 + 2.0),
                         "label": ("epoch", np.where(np.arange(100) % 2 == 0, "error_fell", "error_rose"))})
    neuron = np.repeat(np.arange(5), n_per)
    time = rng.uniform(0, 200, neuron.size)
    fell = (np.floor(time / 2.0) % 2) == 0
    soma = rng.uniform(0.5, 2.0, neuron.size)
    teach = gain * sign[neuron] * np.where(fell, 1.0, -1.0)
    dend = 0.2 + 0.5 * soma + teach
    events = xr.Dataset({"neuron": ("event", neuron), "time": ("event", time), "soma_magnitude": ("event", soma),
                         "dendrite_magnitude": ("event", dend)})
    return events, epochs, ensemble


def test_residual_fit_and_vectorized_signature_known_answer():
    rng = np.random.default_rng(2)
    gain = 0.1
    events, epochs, ensemble = _constructed_events(gain, rng)
    res = A.fit_dendrite_residuals(events)
    # teach is uncorrelated with soma magnitude, so the fit recovers slope 0.5 and intercept 0.2
    np.testing.assert_allclose(res["slope"].values, 0.5, atol=0.03)
    np.testing.assert_allclose(res["intercept"].values, 0.2, atol=0.05)
    by = A.residuals_by_epoch(res, epochs, ensemble)
    # P+ residual ~ +gain when the error fell, -gain when it rose; P- the opposite -> signature ~ 4 * gain
    np.testing.assert_allclose(by["mean"].sel(epoch_type="error_fell").values, [gain, -gain], atol=0.02)
    np.testing.assert_allclose(by["mean"].sel(epoch_type="error_rose").values, [-gain, gain], atol=0.02)
    assert float(by["signature"]) == pytest.approx(4 * gain, abs=0.05)
    assert float(by["signature_p_value"]) < 1e-6
    assert int(by["n"].sum()) == 4 * 400
    # no instructive signal: signature ~ 0 and not significant
    none = A.residuals_by_epoch(A.fit_dendrite_residuals(_constructed_events(0.0, rng)[0]), epochs, ensemble)
    assert abs(float(none["signature"])) < 1e-9


def test_error_epochs_labels_and_intervals():
    rate = 10.0
    # cursor rises for 2 s, falls for 2 s, ...: error = threshold - cursor falls in the even epochs
    t = np.arange(400)
    cursor = np.where((t // 20) % 2 == 0, t % 20, 20 - t % 20).astype(float) * 0.01
    ep = A.error_epochs(cursor, rate, threshold=1.0, epoch_s=2.0)
    assert ep.sizes["epoch"] == 20
    assert ep["label"].values.tolist() == ["error_fell", "error_rose"] * 10
    np.testing.assert_allclose(ep["start_time"].values, np.arange(20) * 2.0)
    # intervals: epochs tile each interval from its start and never straddle intervals
    ep2 = A.error_epochs(cursor, rate, epoch_s=2.0, intervals_s=np.array([[4.0, 9.0], [20.0, 22.5]]))
    np.testing.assert_allclose(ep2["start_time"].values, [4.0, 6.0, 20.0])
    idx = A.assign_epochs(np.array([3.9, 4.0, 7.99, 8.0, 21.0, 30.0]), ep2)
    assert idx.tolist() == [-1, 0, 1, -1, 2, -1]


def test_decode_reward_known_answers():
    from sklearn.linear_model import RidgeClassifier
    from sklearn.model_selection import LeaveOneOut, cross_val_predict

    rng = np.random.default_rng(3)
    y = rng.random(80) < 0.4
    x = rng.standard_normal((80, 6))
    # exact closed-form leave-one-out equals refitting scikit-learn's RidgeClassifier n times (same weights)
    xs = (x - x.mean(0)) / x.std(0)
    w = A._balanced_weights(y)
    loo = cross_val_predict(RidgeClassifier(alpha=2.0), xs, y, cv=LeaveOneOut(), params={"sample_weight": w})
    mine = A._loo_ridge_predictions(xs, np.where(y, 1.0, -1.0)[:, None], 2.0, w)[:, 0] > 0
    np.testing.assert_array_equal(mine, loo)
    loo = cross_val_predict(RidgeClassifier(alpha=2.0), xs, y, cv=LeaveOneOut())
    mine = A._loo_ridge_predictions(xs, np.where(y, 1.0, -1.0)[:, None], 2.0)[:, 0] > 0
    np.testing.assert_array_equal(mine, loo)
    noise = A.decode_reward(x, y, n_shuffles=500, seed=0)
    assert 0.3 < float(noise["accuracy"]) < 0.7 and float(noise["p_value"]) > 0.01
    assert float(noise["shuffle_mean"]) == pytest.approx(0.5, abs=0.05)
    x_signal = x.copy()
    x_signal[:, 0] += 1.5 * np.where(y, 1, -1)  # d' = 3 on one neuron: accuracy ~ Phi(1.5) = 0.93
    signal = A.decode_reward(x_signal, y, n_shuffles=500, seed=0)
    assert float(signal["accuracy"]) > 0.85 and float(signal["p_value"]) <= 2 / 501
    logistic = A.decode_reward(x_signal[:30], y[:30], n_shuffles=0, classifier="logistic", seed=0)
    assert float(logistic["accuracy"]) > 0.8
    first = A.decode_reward(x_signal, y, n_shuffles=50, seed=0)["shuffle_accuracy"].values
    np.testing.assert_array_equal(first, A.decode_reward(x_signal, y, n_shuffles=50, seed=0)["shuffle_accuracy"].values)
    # degenerate input: one class only -> NaN, not an exception
    assert np.isnan(float(A.decode_reward(x, np.ones(80, bool), n_shuffles=5)["accuracy"]))


def test_trial_residual_vectors_window():
    res = xr.Dataset({"neuron": ("event", [0, 2, 2, 0]), "time": ("event", [9.0, 9.5, 9.9, 20.0]),
                      "residual": ("event", [1.0, 2.0, 4.0, 7.0])})
    v = A.trial_residual_vectors(res, np.array([10.0, 21.0, 40.0]), np.array([0, 2]), window_s=(-2.0, 0.0))
    np.testing.assert_allclose(v.values, [[1.0, 3.0], [7.0, 0.0], [0.0, 0.0]])


def test_learning_curves_time_and_rate_change():
    trials = {1: pd.DataFrame({"target_hit": [True, False, True, False], "rewarded": [True, False, True, False],
                               "time_to_target": [3.0, np.nan, 5.0, np.nan]}),
              2: pd.DataFrame({"target_hit": [True, True, True, False], "rewarded": [True, True, True, False],
                               "time_to_target": [1.0, 2.0, 3.0, np.nan]})}
    curve = A.learning_curves(trials, {1: 2.0, 2: 4.0})
    np.testing.assert_allclose(curve["accuracy"].values, [0.5, 0.75])
    np.testing.assert_allclose(curve["rewards_per_min"].values, [1.0, 0.75])
    np.testing.assert_allclose(curve["median_time_to_target"].values, [4.0, 2.0])
    assert A.learning_time(curve["accuracy"], criterion=0.7) == 2.0
    assert np.isnan(A.learning_time(curve["accuracy"], criterion=0.9))
    rates = xr.DataArray([[1.0, 2.0, 4.0, 0.0], [2.0, 1.0, 4.0, 3.0]], dims=("day", "neuron"), coords={"day": [1, 2]})
    change = A.event_rate_change(rates, np.array(["P+", "P-", "P0", "P0"]))
    np.testing.assert_allclose(change["mean_change"].sel(day=2).values, [1.0, -0.5, 0.0])  # silent P0 left out
    np.testing.assert_allclose(change["mean_change"].sel(day=1).values, [0.0, 0.0, 0.0])
    assert change["n_neurons"].sel(day=2, ensemble="P0").item() == 1


# ----------------------------------------------------------------------------------- synthetic sessions
def _trace_session(gain: float, seed: int, n_frames: int = 30000):
    """A session built from traces: somatic calcium events, dendrites = 0.6 x soma event + gain * sign * (-Δerror)."""
    from _bci_fake import FakeSession

    rng = np.random.default_rng(seed)
    n = 8
    ensemble = np.array(["P+", "P-"] * 3 + ["P0", "P0"])
    sign = np.array([1, -1] * 3 + [0, 0])
    kernel = np.exp(-np.arange(30) / (0.4 * RATE))
    cursor = np.cumsum(rng.standard_normal(n_frames)) * 0.01
    cursor -= pd.Series(cursor).rolling(200, min_periods=1).mean().to_numpy()
    soma = np.zeros((n_frames, n))
    dend = np.zeros((n_frames, n))
    for i in range(n):
        onsets = np.sort(rng.choice(np.arange(50, n_frames - 50), size=n_frames // 60, replace=False))
        mags = rng.uniform(0.5, 2.0, onsets.size)
        change = cursor[np.minimum(onsets + 15, n_frames - 1)] - cursor[np.maximum(onsets - 15, 0)]
        dmag = 0.3 + 0.6 * mags + gain * sign[i] * np.tanh(change / 0.05) + 0.05 * rng.standard_normal(onsets.size)
        s_imp = np.zeros(n_frames)
        d_imp = np.zeros(n_frames)
        s_imp[onsets] = mags
        d_imp[onsets] = np.maximum(dmag, 0.05)
        soma[:, i] = np.convolve(s_imp, kernel)[:n_frames]
        dend[:, i] = np.convolve(d_imp, kernel)[:n_frames]
    soma += 0.05 * rng.standard_normal(soma.shape)
    dend += 0.05 * rng.standard_normal(dend.shape)
    starts = np.arange(20.0, n_frames / RATE - 40, 40.0)
    hit = rng.random(starts.size) < 0.5
    trials = pd.DataFrame({"start_time": starts, "stop_time": starts + 39.0, "target_hit": hit, "rewarded": hit,
                           "time_to_target": np.where(hit, 20.0, np.nan), "threshold": 1.0,
                           "reward_time": np.where(hit, starts + 21.5, np.nan)})
    return FakeSession(day=1, frame_rate_hz=RATE, soma_dff=soma.astype(np.float32), dendrite_dff=dend.astype(np.float32),
                       ensemble=ensemble, bci_weight=sign / 3.0, cursor=cursor, grating_angle=np.zeros(n_frames),
                       baseline_frames=100, trials=trials)


def test_analyze_session_on_traces():
    with_signal = A.analyze_session(_trace_session(0.3, seed=4))
    without = A.analyze_session(_trace_session(0.0, seed=4))
    assert bool(with_signal["pairing"]["paired"].all())
    fits = with_signal["residuals"]
    assert np.nanmedian(without["residuals"]["slope"].values) == pytest.approx(0.6, abs=0.1)
    assert int(fits["n_events"].sum()) > 0.8 * 8 * (30000 // 60) * (1 - 100 / 30000)
    sig = with_signal["by_epoch"]
    assert float(sig["difference"].sel(epoch_type="error_fell")) > 0 > float(sig["difference"].sel(epoch_type="error_rose"))
    assert float(sig["signature"]) > 0.2 and float(sig["signature_p_value"]) < 1e-3
    assert abs(float(without["by_epoch"]["signature"])) < 0.05


# ----------------------------------------------------------------------------------- seeded simulations
def _simulated(rule: str, seed: int, days: int, minutes: float):
    bci_learning = pytest.importorskip("neurorl.models.bci_learning")
    from neurorl.pipelines.bci_analysis import analyze_sessions

    sessions = bci_learning.simulate_bci_experiment(rule, days=days, session_minutes=minutes, n_p0=12, n_bci=8,
                                                    seed=seed)
    return analyze_sessions(sessions, n_shuffles=200, seed=seed)


@pytest.fixture(scope="module")
def simulated():
    # 2 days x 30 min, 20 neurons: ~150 trials and ~1,000 coincident BCI-neuron events per rule (~2 s each)
    return {rule: _simulated(rule, seed=11, days=2, minutes=30.0) for rule in ("vectorized", "scalar", "none")}


def test_vectorized_signature_only_in_vectorized(simulated):
    vec = simulated["vectorized"]["by_epoch"]
    # vectorized: P+ residual above P- when the error fell, below it when the error rose
    assert float(vec["difference"].sel(epoch_type="error_fell")) > 0
    assert float(vec["difference"].sel(epoch_type="error_rose")) < 0
    assert float(vec["signature_p_value"]) < 0.01
    for rule in ("scalar", "none"):
        other = simulated[rule]["by_epoch"]
        # measured over seeds 11-14 at this size: vectorized 0.086-0.224 (p <= 0.003); scalar and none
        # |signature| <= 0.052, i.e. at most 0.24 x the vectorized value of the same seed
        assert abs(float(other["signature"])) < 0.35 * float(vec["signature"]), rule


def test_residual_decoding_above_chance_only_with_instructive_signal(simulated):
    # decoding from the P+/P- residual population vector, within-day leave-one-out, 200 label shuffles.
    # Measured at this size (seeds 11, 12): vectorized 0.75, 0.62; scalar 0.74, 0.71 (all p = 0.005);
    # none 0.59 (p = 0.015-0.025), 0.57 (p = 0.025-0.03). Without an instructive signal the residuals of BCI
    # neurons still carry a weak, reward-related dependence on firing (event selection: a dendritic event must
    # cross its own threshold to be coincident), so `none` sits near chance and well below both instructive rules.
    accuracy = {rule: float(simulated[rule]["decoding"]["accuracy"]) for rule in simulated}
    for rule in ("vectorized", "scalar"):
        dec = simulated[rule]["decoding"]
        assert float(dec["p_value"]) < 0.02 and accuracy[rule] > 0.65, rule
        # leave-one-out with a re-fitted intercept scores shuffled labels slightly below 0.5
        assert float(dec["shuffle_mean"]) == pytest.approx(0.5, abs=0.05)
    assert accuracy["none"] < 0.62
    assert accuracy["none"] < min(accuracy["vectorized"], accuracy["scalar"]) - 0.08
