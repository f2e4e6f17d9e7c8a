"""Benchmark: per-cell reversal point + slopes + tau with 200 bootstrap resamples, 1,000 cells x 2,000 trials.

neurorl (:func:`neurorl.analysis.reversal.fit_cells`, counting and model estimators, bootstrap by weight
matrices and matrix products) against a plain per-cell loop a user would write: for every cell and every
bootstrap resample, index the resampled trials and fit the piecewise-linear kink model with
``scipy.optimize.curve_fit``. The loop is timed on a few cells and scaled to all cells.

Run ``python benchmarks/bench_dopamine_fit.py`` (``--quick`` for a smaller run). Target: neurorl < 10 s on
2 cores for the full size.
"""

from __future__ import annotations

import time
import warnings

import numpy as np
import xarray as xr
from run import bench_main, median_time

VOLUMES = np.array([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0])
PROBABILITIES = np.array([0.0661, 0.0909, 0.1485, 0.1549, 0.3116, 0.1510, 0.0771])


def make_responses(n_cells: int, n_trials: int, seed: int = 0) -> xr.DataArray:
    """Responses from the kinked-linear model with Gaussian noise (spikes/s), one session."""
    rng = np.random.default_rng(seed)
    reversal = rng.uniform(1.0, 12.0, n_cells)
    a_pos, a_neg = rng.uniform(0.3, 1.5, (2, n_cells))
    volume = rng.choice(VOLUMES, size=n_trials, p=PROBABILITIES / PROBABILITIES.sum())
    d = volume[None, :] - reversal[:, None]
    values = np.where(d > 0, a_pos[:, None] * d, a_neg[:, None] * d) + 3.0 * rng.standard_normal((n_cells, n_trials))
    return xr.DataArray(values, dims=("cell", "trial"),
                        coords={"cell": np.arange(n_cells), "trial": np.arange(n_trials),
                                "reward_volume": ("trial", volume)})


def _kink(x, reversal, a_pos, a_neg):
    d = x - reversal
    return np.where(d > 0, a_pos * d, a_neg * d)


def reference_fit(values: np.ndarray, volume: np.ndarray, n_bootstrap: int, seed: int = 0) -> np.ndarray:
    """Plain loop: per cell and resample, ``curve_fit`` of the kink model -> (cells, resamples, 4)."""
    from scipy.optimize import curve_fit

    rng = np.random.default_rng(seed)
    out = np.full((values.shape[0], n_bootstrap, 4), np.nan)
    for cell in range(values.shape[0]):
        for b in range(n_bootstrap):
            picks = rng.integers(0, volume.size, volume.size)
            x, y = volume[picks], values[cell, picks]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    (reversal, a_pos, a_neg), _ = curve_fit(_kink, x, y, p0=(5.0, 1.0, 1.0))
                except RuntimeError:
                    continue
            out[cell, b] = reversal, a_pos, a_neg, a_pos / (a_pos + a_neg)
    return out


def run(quick: bool = False) -> list[dict]:
    """Time the fits; rows ``{"benchmark", "neurorl_s", "reference", "reference_s", "ratio"}``."""
    from neurorl.analysis.reversal import fit_cells

    n_cells, n_trials, n_bootstrap = (200, 1000, 200) if quick else (1000, 2000, 200)
    n_reference_cells = 2 if quick else 4
    repeats = 1 if quick else 3
    responses = make_responses(n_cells, n_trials)
    # warm-up (numba compilation is cached on disk after the first run)
    fit_cells(responses.isel(cell=slice(0, 5)), method="model", n_bootstrap=5, split_half=False)

    start = time.perf_counter()
    reference_fit(responses.values[:n_reference_cells], responses["reward_volume"].values, n_bootstrap)
    reference_s = (time.perf_counter() - start) * n_cells / n_reference_cells
    reference = f"per-cell scipy curve_fit loop ({n_reference_cells} cells timed, scaled)"

    rows = []
    for method in ("counting", "model"):
        neurorl_s = median_time(lambda method=method: fit_cells(responses, method=method, n_bootstrap=n_bootstrap,
                                                                 split_half=False), repeats)[0]
        rows.append({
            "benchmark": f"fit {method}: {n_cells} cells x {n_trials} trials x {n_bootstrap} bootstraps",
            "neurorl_s": neurorl_s,
            "reference": reference,
            "reference_s": reference_s,
            "ratio": reference_s / neurorl_s,
        })
    return rows


def main() -> None:
    bench_main(run, __doc__, "200 cells x 1000 trials")


if __name__ == "__main__":
    main()
