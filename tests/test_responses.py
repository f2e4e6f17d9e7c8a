"""Tests of neurorl.analysis.responses: exact firing rates on hand-built spike trains."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neurorl.analysis.responses import align_trial_types, compute_responses, original_kernel
from neurorl.errors import InvalidArgumentError, MissingDataError


def _recording(session, spikes_by_unit, trials):
    units = pd.DataFrame({"spike_times": [np.asarray(s, float) for s in spikes_by_unit.values()]},
                         index=pd.Index(list(spikes_by_unit), name="unit"))
    return SimpleNamespace(session=session, units=units, trials=pd.DataFrame(trials))


def _trials(starts, volumes, types, cue_delay=1.5):
    starts = np.asarray(starts, float)
    reward = np.where(np.asarray(types) == "cued", starts + cue_delay, starts)
    return {"start_time": starts, "stop_time": starts + 3.0, "reward_time": reward,
            "reward_volume": np.asarray(volumes, float), "trial_type": list(types)}


def test_plain_rates_are_exact_counts_per_second():
    # trial 0 (uncued, start = reward = 10 s): 3 spikes in [10.2, 10.6), 2 in baseline [9, 10)
    # trial 1 (cued, start 20 s, reward 21.5 s): 1 spike in [21.7, 22.1), 4 in baseline [19, 20)
    # trial 2: no reward -> dropped; trial 3 (uncued at 40 s): window spike exactly at 40.6 excluded,
    # at 40.2 included; baseline spike exactly at 40.0 excluded, at 39.0 included.
    spikes = [9.1, 9.9, 10.25, 10.4, 10.59, 19.0, 19.2, 19.5, 19.99, 21.8, 30.5,
              39.0, 40.0, 40.2, 40.6]
    trials = _trials([10, 20, 30, 40], [2.5, 5.0, np.nan, 0.1], ["uncued", "cued", "other", "uncued"])
    r = compute_responses([_recording("s1", {4: spikes}, trials)], max_silence_s=None)
    assert r.dims == ("cell", "trial")
    assert list(r["cell"].values) == ["s1/4"]
    np.testing.assert_allclose(r.values[0], [3 / 0.4 - 2 / 1.0, 1 / 0.4 - 4 / 1.0, 1 / 0.4 - 1 / 1.0], rtol=0,
                               atol=1e-12)
    np.testing.assert_array_equal(r["reward_volume"].values, [2.5, 5.0, 0.1])
    np.testing.assert_array_equal(r["trial_id"].values, [0, 1, 3])
    assert list(r["trial_type"].values) == ["uncued", "cued", "uncued"]
    assert r.attrs["units"] == "spikes/s" and r.attrs["window_ms"] == [200.0, 600.0]


def test_pooled_sessions_are_nan_outside_each_cells_session_and_types_filter():
    a = _recording("a", {0: [9.5, 10.3], 1: [10.3, 10.4]}, _trials([10], [1.2], ["uncued"]))
    b = _recording("b", {0: [4.5, 5.3]}, _trials([5, 15], [20.0, 10.0], ["uncued", "cued"]))
    r = compute_responses([a, b], max_silence_s=None)
    assert list(r["cell"].values) == ["a/0", "a/1", "b/0"]
    assert list(r["session"].values) == ["a", "a", "b"]
    assert list(r["trial_session"].values) == ["a", "b", "b"]
    np.testing.assert_allclose(r.values[0], [1 / 0.4 - 1, np.nan, np.nan])
    np.testing.assert_allclose(r.values[1], [2 / 0.4, np.nan, np.nan])
    np.testing.assert_allclose(r.values[2], [np.nan, 1 / 0.4 - 1, 0.0])
    cued = compute_responses([a, b], trial_types=["cued"], max_silence_s=None)
    assert cued.sizes["trial"] == 1 and float(cued.sel(cell="b/0").item()) == 0.0


def test_custom_windows():
    rec = _recording("s", {0: [9.75, 10.05, 10.15]}, _trials([10], [1.0], ["uncued"]))
    r = compute_responses([rec], window_ms=(0, 100), baseline_ms=500, max_silence_s=None)
    assert float(r.item()) == pytest.approx(1 / 0.1 - 1 / 0.5)


def test_lost_unit_trials_are_nan():
    rng = np.random.default_rng(0)
    # a 10 spikes/s unit that stops firing at 100 s; trials every 10 s up to 190 s
    spikes = np.sort(rng.uniform(0, 100, 1000))
    starts = np.arange(10, 200, 10.0)
    rec = _recording("s", {0: spikes}, _trials(starts, np.full(starts.size, 5.0), ["uncued"] * starts.size))
    r = compute_responses([rec])
    observed = np.isfinite(r.values[0])
    # last spike ~100 s; pad = min(5 x mean ISI (0.5 s), 20 s); window ends 0.6 s after start
    assert observed[starts + 0.6 < 99.0].all()
    assert not observed[starts - 1.0 > 101.0].any()
    # silence longer than max_silence_s inside the train also cuts it
    spikes2 = np.concatenate([spikes, np.sort(rng.uniform(150, 200, 500))])
    rec2 = _recording("s", {0: spikes2}, _trials(starts, np.full(starts.size, 5.0), ["uncued"] * starts.size))
    obs2 = np.isfinite(compute_responses([rec2]).values[0])
    assert obs2[(starts - 1 > 151) & (starts + 0.6 < 199)].all() and not obs2[(starts > 102) & (starts < 148)].any()
    everything = compute_responses([rec], max_silence_s=None)
    assert np.isfinite(everything.values).all()


def test_original_kernel():
    k = original_kernel()
    assert k.shape == (51,) and k[0] == 0 and k.sum() == pytest.approx(1.0)
    t = np.arange(51.0)
    raw = (1 - np.exp(-t)) * np.exp(-t / 20)
    np.testing.assert_allclose(k, raw / raw.sum())


def _matlab_reference(spikes_s, start_s, reward_offset_ms, window_ms=(200, 600)):
    """Literal re-implementation of the original PSTH pipeline for one trial (ms grid [-1000, 3000])."""
    k = original_kernel()
    length = 4001
    rel = (np.asarray(spikes_s) - start_s) * 1000.0
    rel = rel[(rel > -1000) & (rel < 3000)]
    idx = (np.sign(rel) * np.floor(np.abs(rel) + 0.5)).astype(int) + 1000   # 0-based bin of time 'rel'
    pstc = np.zeros(length)
    for i in idx:
        end = min(i + 51, length)
        pstc[i:end] += k[: end - i]
    psth = 1000.0 * pstc
    baseline = psth[0:1000].mean()
    psth = psth - baseline
    smoothed = np.convolve(psth, k, mode="full")[25:25 + length]                # MATLAB conv(..., 'same')
    lo = 1000 + reward_offset_ms + window_ms[0]
    return smoothed[lo:lo + window_ms[1] - window_ms[0]].mean()


def test_original_smoothing_matches_literal_matlab_pipeline():
    rng = np.random.default_rng(3)
    starts = np.arange(20.0, 80.0, 6.0) + rng.uniform(0, 0.5, 10)
    types = ["uncued", "cued"] * 5
    spikes = np.sort(rng.uniform(0, 100, 2000))
    trials = _trials(starts, np.full(10, 5.0), types)
    r = compute_responses([_recording("s", {0: spikes}, trials)], smoothing="original", max_silence_s=None)
    expected = [_matlab_reference(spikes, s, 1500 if t == "cued" else 0) for s, t in zip(starts, types, strict=True)]
    np.testing.assert_allclose(r.values[0], expected, rtol=1e-9, atol=1e-9)
    plain = compute_responses([_recording("s", {0: spikes}, trials)], max_silence_s=None)
    # smoothing moves mass across the window edges only: same mean level within Poisson noise
    assert np.abs(r.values - plain.values).max() < 15.0


def test_original_smoothing_single_spike_inside_window_counts_fully():
    rec = _recording("s", {0: [10.4]}, _trials([10], [1.0], ["uncued"]))
    r = compute_responses([rec], smoothing="original", max_silence_s=None)
    assert float(r.item()) == pytest.approx(1 / 0.4)
    # a spike 10 ms before the window end keeps exactly the composite kernel mass left of the edge
    rec = _recording("s", {0: [10.59]}, _trials([10], [1.0], ["uncued"]))
    k = original_kernel()
    composite = np.convolve(k, k)  # offsets -25..75 ms
    inside = composite[: 25 + 9 + 1].sum()  # bins 590-25 .. 599
    assert float(compute_responses([rec], smoothing="original", max_silence_s=None).item()) == pytest.approx(
        inside / 0.4)


def test_align_trial_types_population_offset():
    values = np.array([[1.0, 3.0, 10.0, 12.0], [3.0, 5.0, 14.0, np.nan]])
    da = xr.DataArray(values, dims=("cell", "trial"),
                      coords={"reward_volume": ("trial", [1.0, 2.0, 1.0, 2.0]),
                              "trial_type": ("trial", ["cued", "cued", "uncued", "uncued"])})
    out = align_trial_types(da)
    # grand mean cued = mean(1, 3, 3, 5) = 3; uncued = mean(10, 12, 14) over cells' per-size means = 12
    np.testing.assert_allclose(out.values[:, 2:], values[:, 2:] - 9.0)
    np.testing.assert_allclose(out.values[:, :2], values[:, :2])


@pytest.mark.parametrize("kwargs, error", [
    ({"window_ms": (600, 200)}, InvalidArgumentError),
    ({"baseline_ms": 0}, InvalidArgumentError),
    ({"smoothing": "gaussian"}, InvalidArgumentError),
    ({"max_silence_s": -1}, InvalidArgumentError),
    ({"trial_types": ["nonexistent"]}, MissingDataError),
])
def test_bad_arguments(kwargs, error):
    rec = _recording("s", {0: [1.0]}, _trials([10], [1.0], ["uncued"]))
    with pytest.raises(error):
        compute_responses([rec], **kwargs)
    with pytest.raises(MissingDataError):
        compute_responses([])


# ------------------------------------------------------------------- align/baseline events, traces, z-scoring
def test_align_and_baseline_events_and_baseline_window():
    # align 2 s after start (e.g. an outcome column), baseline window [-500, -100) ms before start
    spikes = [9.5, 9.6, 9.95, 12.3, 12.4]
    trials = _trials([10], [2.5], ["uncued"])
    trials["align_time"] = [12.0]
    trials["baseline_time"] = [10.0]
    r = compute_responses([_recording("s", {0: spikes}, trials)], baseline_window_ms=(-500, -100), max_silence_s=None)
    # window [12.2, 12.6): 2 spikes / 0.4 s; baseline [9.5, 9.9): 2 spikes / 0.4 s (9.95 is outside)
    assert float(r.item()) == pytest.approx(2 / 0.4 - 2 / 0.4)
    assert r.attrs["baseline_window_ms"] == [-500.0, -100.0]
    assert float(r["reward_time"].item()) == 12.0          # the align event
    # the cell's mean baseline rate (spikes/s) is kept beside the responses: 2 spikes / 0.4 s
    assert float(r["baseline_rate"].item()) == pytest.approx(5.0)


def test_dff_response_is_window_mean_minus_baseline_mean():
    times = np.arange(0, 30, 0.1)                          # 10 Hz
    trace = np.zeros((times.size, 2))
    trace[(times >= 10.2) & (times < 10.6), 0] = 1.0       # ROI 0: 1 ΔF/F in the window of trial 0
    trace[(times >= 9.0) & (times < 10.0), 1] = 0.5        # ROI 1: 0.5 ΔF/F in the baseline of trial 0
    trials = pd.DataFrame(_trials([10, 20], [2.5, 5.0], ["uncued", "uncued"]))
    recording = SimpleNamespace(session="s", signal="dff", trace=trace, trace_times=times, trials=trials,
                                units=pd.DataFrame(index=pd.Index([0, 1], name="unit")))
    r = compute_responses([recording])
    np.testing.assert_allclose(r.values, [[1.0, 0.0], [-0.5, 0.0]], atol=1e-12)
    assert r.attrs["units"] == "ΔF/F" and r.attrs["signal"] == "dff"
    assert list(r["n_spikes"].values) == [-1, -1]
    assert np.isnan(r["baseline_rate"].values).all()        # no firing rate for traces


def test_zscore_divides_by_the_baseline_sd():
    rng = np.random.default_rng(0)
    starts = np.arange(10, 410, 4.0)
    spikes = np.sort(np.concatenate([s - rng.uniform(0, 1, rng.integers(0, 8)) for s in starts]
                                    + [s + 0.2 + rng.uniform(0, 0.4, 3) for s in starts]))
    trials = _trials(starts, np.tile([1.2, 5.0], starts.size // 2), ["uncued"] * starts.size)
    rec = _recording("s", {0: spikes}, trials)
    plain = compute_responses([rec], max_silence_s=None)
    z = compute_responses([rec], max_silence_s=None, zscore=True)
    baseline = np.array([np.sum((spikes >= s - 1) & (spikes < s)) for s in starts], float)
    np.testing.assert_allclose(z.values, plain.values / baseline.std(ddof=1), rtol=1e-12)
    assert z.attrs["units"] == "baseline SD"


@pytest.mark.parametrize("max_silence_s", [20.0, 0.5, None])
def test_compiled_counts_are_the_numpy_counts(monkeypatch, max_silence_s):
    """The compiled kernel gives bit for bit the numbers of the numpy code: spikes exactly on window edges,
    silences, unsorted and empty trains, trials out of time order."""
    from neurorl.analysis import responses as module

    rng = np.random.default_rng(3)
    start = np.sort(rng.uniform(5, 200, 60))
    trials = pd.DataFrame({"start_time": start, "stop_time": start + 3.0, "reward_time": start + 1.5,
                           "reward_volume": rng.choice([0.1, 2.5, 20.0], 60), "trial_type": "uncued"})
    trials = trials.iloc[rng.permutation(60)].reset_index(drop=True)          # not in time order
    edges = np.concatenate([start + 1.7, start + 2.1, start - 1.0, start])    # window and baseline edges
    trains = [np.sort(np.concatenate([rng.uniform(0, 210, 400), edges])),     # spikes on every edge
              np.sort(np.concatenate([rng.uniform(0, 60, 100), rng.uniform(140, 210, 100)])),  # a long silence
              rng.uniform(0, 210, 300),                                        # unsorted
              np.array([]),                                                    # silent unit
              np.array([100.0]),                                               # one spike
              np.sort(rng.uniform(0, 210, 2000)).round(2)]                     # ties on a 10 ms grid
    units = pd.DataFrame({"spike_times": pd.Series(trains, dtype=object).to_numpy()}, index=np.arange(len(trains)))
    recording = SimpleNamespace(session="s", units=units, trials=trials)
    compiled = compute_responses([recording], max_silence_s=max_silence_s)
    monkeypatch.setattr(module, "_plain_kernel", lambda: None)
    reference = compute_responses([recording], max_silence_s=max_silence_s)
    xr.testing.assert_identical(compiled, reference)
    assert np.isfinite(reference.to_numpy()).sum() > (20 if max_silence_s == 0.5 else 100)
    if max_silence_s == 20.0:   # the silent stretch of unit 1 drops trials there
        assert np.isnan(reference.sel(cell="s/1").to_numpy()).sum() > 5
