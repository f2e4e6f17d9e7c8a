"""``--preset dabney2020`` reproduces the original MATLAB analysis on the 40 real cells.

The original (``dongjae-kim/efficient-coding-dist-rl``, ``measured_neurons/dabney_matlab/``) is ported here
step by step, independently of neurorl's code, straight from the MATLAB files:

* ``LoadVarMagData.m``: per trial of types 1-14, spikes strictly inside (-1000, 3000) ms of odour onset go to
  1 ms bins ``1 + round(t - odour) + 1000``, each spike adding the causal kernel (truncated at the end);
  × 1000 -> spikes/s; minus the mean of bins 1..1000 (baseline -1000..0 ms); convolved again ('same');
* ``GEN_dabneys_fit.m``: mean over bins 1201..1600 (uncued: 200-600 ms) or 2701..3100 (cued: 1700-2100 ms);
  uncued responses shifted by grand mean(cued) - grand mean(uncued); utility axis = mean over cells of each
  cell's mean response per size;
* ``EstimateZeroCrossings.m``: the cut k in 0.5..7.5 maximising #(y > 0 above k) + #(y < 0 below k)
  (+ 0.001 N(0,1) against ties), interpolated on the utility axis with weights 1/|Δcount|, capped at
  U(1) + 0.01 and U(7) - 0.1;
* ``EstimateScaleFactors.m``: slopes through the origin (glmfit without constant) of the responses against the
  cell's utility axis shifted by its zero crossing, below (<= 0) and above (>= 0); asymmetry = pos/(pos + neg).

neurorl reads the converted NWB files with the preset and must match to r >= 0.99 per cell (it gives
r = 1.0000 for both). Single-trial responses agree to 1e-14 spikes/s except where a spike lies exactly half a
millisecond from the event: the port rounds in ms as the original, neurorl after converting to s, so such a
spike can land one 1 ms bin away; the utility axis then differs by < 2e-3 spikes/s.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

PSTH_WINDOW_MS = (-1000, 3000)
N_BINS = 1 + PSTH_WINDOW_MS[1] - PSTH_WINDOW_MS[0]


def _kernel() -> np.ndarray:
    t = np.arange(0, 2.5 * 20 + 1)                         # 0:1:(2.5*20)
    k = (1 - np.exp(-t)) * np.exp(-t / 20)
    return k / k.sum()


def _matlab_round(x):
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _port_cell(path) -> dict[int, list[float]]:
    """One cell's responses per trial type 1..14 (spikes/s), the original's preprocessing."""
    import scipy.io

    S = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    odor = np.atleast_1d(np.asarray(S["events"].odorOn, dtype=float))
    types = np.atleast_1d(np.asarray(S["events"].trialType, dtype=float))
    spikes = np.atleast_1d(np.asarray(S["responses"].spike, dtype=float))
    kernel = _kernel()
    out: dict[int, list[float]] = {t: [] for t in range(1, 15)}
    for trial, odor_time in enumerate(odor):
        kind = types[trial]
        if not (np.isfinite(kind) and 1 <= kind <= 14):
            continue
        inside = spikes[(spikes > odor_time + PSTH_WINDOW_MS[0]) & (spikes < odor_time + PSTH_WINDOW_MS[1])]
        index = (_matlab_round(inside - odor_time) - PSTH_WINDOW_MS[0]).astype(int)   # 0-based bin
        pstc = np.zeros(N_BINS)
        for start in index:
            end = min(start + kernel.size, N_BINS)
            pstc[start:end] += kernel[:end - start]
        psth = 1000.0 * pstc
        psth -= psth[0:1000].mean()                                # baselineWindow [-1000 0] -> bins 1..1000
        psth = np.convolve(psth, kernel, mode="same")              # convn(..., 'same')
        window = slice(1200, 1600) if kind <= 7 else slice(2700, 3100)
        out[int(kind)].append(float(psth[window].mean()))
    return out


def _port(files) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Zero crossings and asymmetries (utility axis) of every cell, and the utility axis."""
    cells = [_port_cell(f) for f in files]
    n_max = max(len(v) for c in cells for v in c.values())
    unexpected = np.full((len(cells), 7, n_max), np.nan)
    expected = np.full((len(cells), 7, n_max), np.nan)
    for i, cell in enumerate(cells):
        for j in range(7):
            unexpected[i, j, :len(cell[j + 1])] = cell[j + 1]
            expected[i, j, :len(cell[j + 8])] = cell[j + 8]
    with np.errstate(invalid="ignore"):
        shift = np.nanmean(expected, axis=2).mean() - np.nanmean(unexpected, axis=2).mean()
    per_cell = np.concatenate([expected, unexpected + shift], axis=2)
    utility = np.nanmean(per_cell, axis=2).mean(axis=0)
    rng = np.random.default_rng(1)
    zero_crossings = np.empty(len(cells))
    for i in range(len(cells)):
        y = per_cell[i]
        x = np.broadcast_to(np.arange(1, 8)[:, None], y.shape)
        valid = np.isfinite(y)
        cuts = np.arange(0.5, 7.6, 1.0)
        crit = np.array([np.sum(y[valid & (x > k)] > 0) + np.sum(y[valid & (x < k)] < 0) for k in cuts], float)
        crit += 0.001 * rng.standard_normal(crit.size)
        best = int(np.argmax(crit))
        zc = cuts[best]
        if zc < 1:
            zero_crossings[i] = utility[0] + 0.01
        elif zc > 7:
            zero_crossings[i] = utility[-1] - 0.1
        else:
            w = np.abs(np.diff([crit[best - 1], crit[best], crit[best + 1]]))
            w = (1 / w) / np.sum(1 / w)
            lower = int(zc - 0.5) - 1                               # utilityAxis(zc - 0.5), 0-based
            zero_crossings[i] = w[0] * utility[lower] + w[1] * utility[lower + 1]
    asymmetry = np.empty(len(cells))
    for i in range(len(cells)):
        axis = utility - zero_crossings[i]
        slopes = []
        for part, sign in ((axis <= 0, -1.0), (axis >= 0, 1.0)):
            X = np.broadcast_to((sign * axis)[part][:, None], per_cell[i, part].shape)
            Y = sign * per_cell[i, part]
            ok = np.isfinite(Y)
            slopes.append(np.sum(X[ok] * Y[ok]) / np.sum(X[ok] ** 2))
        negative, positive = slopes
        asymmetry[i] = positive / (negative + positive)
    return zero_crossings, asymmetry, utility


@pytest.fixture(scope="module")
def converted(dabney_dir, tmp_path_factory):
    from neurorl.io.commonformat import convert_commonformat_folder

    out = tmp_path_factory.mktemp("dabney_nwb")
    convert_commonformat_folder(dabney_dir, out)
    return out


@pytest.fixture(scope="module")
def original(dabney_dir):
    files = sorted(dabney_dir.glob("*.mat"))
    assert len(files) == 40
    zc, asym, utility = _port(files)
    return pd.DataFrame({"session": [f.stem for f in files], "zero_crossing": zc, "asymmetry": asym}), utility


def test_preset_matches_the_original_analysis(converted, original):
    from neurorl.io.nwb import read_dopamine_folder
    from neurorl.io.spec import PRESET_ANALYSIS, preset_spec
    from neurorl.pipelines.dopamine import analyze_dopamine

    table, utility = original
    spec = preset_spec("dabney2020")
    recordings = read_dopamine_folder(converted, spec)
    results = analyze_dopamine(recordings, method=PRESET_ANALYSIS["dabney2020"]["method"], n_bootstrap=1,
                               n_splits=2, seed=0, data_name="dabney2020", make_figures=False, spec=spec)
    fit = results.fit
    assert results.skipped.empty and fit.sizes["cell"] == 40
    ours = pd.DataFrame({"session": fit["session"].values.astype(str),
                         "reversal_point_utility": fit["reversal_point_utility"].values,
                         "asymmetry_utility": fit["asymmetry_utility"].values})
    merged = table.merge(ours, on="session")
    assert len(merged) == 40
    np.testing.assert_allclose(fit["utility_axis"].values, utility, rtol=0, atol=2e-3)
    r_zc = np.corrcoef(merged["zero_crossing"], merged["reversal_point_utility"])[0, 1]
    r_asym = np.corrcoef(merged["asymmetry"], merged["asymmetry_utility"])[0, 1]
    print(f"r(reversal point, utility axis) = {r_zc:.4f}, r(asymmetry, utility axis) = {r_asym:.4f}")
    assert r_zc >= 0.99, r_zc
    assert r_asym >= 0.99, r_asym


def test_default_preprocessing_differs_from_the_original(converted, original):
    """Without the preset (plain counts, 20 s silence cut) neurorl does not claim the original's numbers."""
    from neurorl.analysis.responses import compute_responses
    from neurorl.io.nwb import read_dopamine_folder
    from neurorl.io.spec import RecordingSpec, preset_spec

    recordings = read_dopamine_folder(converted)
    default = compute_responses(recordings, spec=RecordingSpec())
    preset = compute_responses(recordings, spec=preset_spec("dabney2020"))
    assert np.isnan(default.values).sum() > np.isnan(preset.values).sum()     # the silence cut drops trials
    assert default.attrs["smoothing"] == "none" and preset.attrs["smoothing"] == "original"


def test_cli_preset(converted, tmp_path):
    from neurorl.cli import main

    out = tmp_path / "out"
    assert main(["fit", "dopamine", str(converted), "--preset", "dabney2020", "--out", str(out), "--bootstrap", "5",
                 "--splits", "5", "--quiet"]) == 0
    import json

    summary = json.loads((out / "summary.json").read_text())
    assert summary["smoothing"] == "original" and summary["recording_spec"]["max_silence_s"] == "none"
    assert summary["method"] == "counting"
