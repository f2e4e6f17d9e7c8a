"""Benchmark: decode the reward distribution of 40 cells by expectile imputation.

neurorl (:func:`neurorl.analysis.decoding.decode_distribution`: 20 restarts x 100 samples optimised as one
batch with L-BFGS-B and an analytic gradient from a compiled kernel) against the plain scipy loop a user
would write: for every restart, ``scipy.optimize.minimize`` (L-BFGS-B, gradient by finite differences) of
the numpy expectile loss from the same starting point. The loop is timed on a few restarts and scaled to
all. Both decodes are scored by the Wasserstein-1 distance of their samples to the task's 7-point
distribution (µl), so the speed-up is not bought with accuracy.

Run ``python benchmarks/bench_dopamine_decode.py`` (``--quick`` for a smaller run). Target: neurorl < 1 s on
2 cores.
"""

from __future__ import annotations

import time

import numpy as np
from run import bench_main, median_time

VOLUMES = np.array([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0])
PROBABILITIES = np.array([0.0661, 0.0909, 0.1485, 0.1549, 0.3116, 0.1510, 0.0771])
PROBABILITIES = PROBABILITIES / PROBABILITIES.sum()


def make_population(n_cells: int = 40, noise: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Reversal points (µl) = the task's expectiles at random taus, optionally with noise."""
    from scipy.stats import expectile

    rng = np.random.default_rng(seed)
    taus = np.sort(rng.uniform(0.03, 0.97, n_cells))
    points = np.array([expectile(VOLUMES, t, weights=PROBABILITIES) for t in taus])
    if noise:
        taus = np.clip(taus + rng.normal(0, noise, n_cells), 0.01, 0.99)
        points = points * np.exp(rng.normal(0, noise, n_cells))
    return points, taus


def _loss(samples: np.ndarray, points: np.ndarray, taus: np.ndarray) -> float:
    diff = samples[None, :] - points[:, None]
    weight = np.where(diff > 0, taus[:, None], 1.0 - taus[:, None])
    g = (weight * diff).mean(axis=1)
    return float(np.mean(g ** 2))


def reference_decode(points: np.ndarray, taus: np.ndarray, n_restarts: int, n_samples: int = 100,
                     seed: int = 0, max_iter: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Plain loop: one ``minimize`` per restart, numeric gradient. Returns (samples, losses)."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(seed)
    low, high = 0.0, points.max() + np.ptp(points)
    samples, losses = [], []
    for _ in range(n_restarts):
        start = rng.uniform(points.min(), points.max(), n_samples)
        result = minimize(_loss, start, args=(points, taus), method="L-BFGS-B", bounds=[(low, high)] * n_samples,
                          options={"maxiter": max_iter})
        samples.append(np.sort(result.x))
        losses.append(result.fun)
    return np.array(samples), np.array(losses)


def _wasserstein(samples: np.ndarray) -> float:
    from scipy.stats import wasserstein_distance

    return float(wasserstein_distance(samples.ravel(), VOLUMES, v_weights=PROBABILITIES))


def run(quick: bool = False) -> list[dict]:
    """Time the decodes; rows ``{"benchmark", "neurorl_s", "reference", "reference_s", "ratio", ...}``."""
    from threadpoolctl import threadpool_limits

    from neurorl.analysis.decoding import decode_distribution

    n_cells, n_restarts, n_samples = 40, 20, 100
    n_reference = 1 if quick else 2
    repeats = 3 if quick else 5
    decode_distribution(*make_population(5), n_restarts=2, n_samples=10, max_iter=5)  # warm-up (numba cache)
    rows = []
    for noise in (0.0, 0.05):
        points, taus = make_population(n_cells, noise=noise)
        with threadpool_limits(limits=1, user_api="blas"):  # the same favour neurorl does itself
            start = time.perf_counter()
            ref_samples, _ = reference_decode(points, taus, n_reference, n_samples)
            reference_s = (time.perf_counter() - start) * n_restarts / n_reference
        neurorl_s, decoded = median_time(
            lambda points=points, taus=taus: decode_distribution(points, taus, n_restarts=n_restarts,
                                                                 n_samples=n_samples, seed=0), repeats)
        kept = decoded["samples"].to_numpy()[decoded["kept"].to_numpy()]
        rows.append({
            "benchmark": f"decode {n_cells} cells ({'exact' if not noise else f'noisy {noise:g}'} expectiles), "
                         f"{n_restarts} restarts x {n_samples} samples",
            "neurorl_s": neurorl_s,
            "reference": f"per-restart scipy L-BFGS-B, numeric gradient ({n_reference} restarts timed, scaled)",
            "reference_s": reference_s,
            "ratio": reference_s / neurorl_s,
            "target": "< 1 s",
            "meets_target": bool(neurorl_s < 1.0),
            "neurorl_wasserstein_ul": _wasserstein(kept),
            "reference_wasserstein_ul": _wasserstein(ref_samples),
        })
    return rows


def main() -> None:
    bench_main(run, __doc__, "fewer repeats and reference restarts",
               footer="W1 = Wasserstein-1 distance (µl) to the task distribution")


if __name__ == "__main__":
    main()
