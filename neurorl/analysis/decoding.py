"""Decode a reward distribution from a population's (asymmetry, reversal point) pairs.

Expectile imputation (Dabney et al., Nature 2020): a cell with asymmetry tau_i = a+/(a+ + a-) and reversal
point e_i reports that e_i is the tau_i-th expectile of the reward distribution. We look for reward samples
z_1..z_N whose expectiles at the cells' taus match the reversal points, by minimising the expectile
first-order conditions

    g_i(z) = 1/N sum_j |tau_i - 1[z_j < e_i]| (z_j - e_i)        (= 0 when e_i is z's tau_i-expectile)

summed over cells through a Huber penalty (robust to cells whose estimates are inconsistent with the
rest), with analytic gradients, L-BFGS-B and several random restarts optimised as one batch. For the
quantile code the target is the interpolated sample quantile function at tau_i (Huber penalty on its
distance to q_i, gradient through the sorted samples), with a small penalty on the gaps between sorted samples.

Real estimates are noisy and mutually inconsistent (expectiles must increase with tau; firing-floor
compression of negative responses biases taus upwards). Before fitting, taus are clipped away from 0 and 1
(optionally the reversal points are made non-decreasing in tau by isotonic regression); all cells are fitted
jointly, the Huber penalty limits the pull of the cells that are inconsistent with the rest, and samples are
kept inside a support interval (non-negative for reward volumes). Restarts are ranked by the loss reached
and the best half pooled, which averages over the many sample sets that fit equally well.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from ..errors import InvalidArgumentError, MissingDataError
from ..models.distributional_td import expectile

__all__ = ["decode_distribution", "decode_fit", "expectiles_of_samples", "quantiles_of_samples"]


def expectiles_of_samples(samples: np.ndarray, taus: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Exact expectiles of an (optionally weighted) sample at levels ``taus``, shape ``(len(taus),)``.

    A 1-D view of :func:`neurorl.models.distributional_td.expectile`, in the units of ``samples``.
    """
    return np.atleast_1d(expectile(samples, np.atleast_1d(np.asarray(taus, dtype=float)), weights=weights))


def quantiles_of_samples(samples: np.ndarray, taus: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Quantiles (inverse of the weighted empirical CDF, interpolated at mid-ranks) at levels ``taus``."""
    z = np.asarray(samples, dtype=float).ravel()
    w = np.ones_like(z) if weights is None else np.asarray(weights, dtype=float).ravel()
    order = np.argsort(z)
    z, w = z[order], w[order]
    cdf = (np.cumsum(w) - 0.5 * w) / w.sum()
    return np.interp(np.asarray(taus, dtype=float), cdf, z)


def _isotonic(values: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """Least-squares non-decreasing fit (pool-adjacent-violators) of ``values`` in their given order."""
    v = np.asarray(values, dtype=float)
    w = np.ones_like(v) if weights is None else np.asarray(weights, dtype=float)
    means, wsum, counts = [], [], []
    for value, weight in zip(v, w, strict=True):
        means.append(value)
        wsum.append(weight)
        counts.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            m2, w2, c2 = means.pop(), wsum.pop(), counts.pop()
            total = wsum[-1] + w2
            means[-1] = (means[-1] * wsum[-1] + m2 * w2) / total
            wsum[-1] = total
            counts[-1] += c2
    return np.repeat(means, counts)


def _huber(g: np.ndarray, delta: float | None) -> tuple[np.ndarray, np.ndarray]:
    """Huber penalty and its derivative (plain 0.5 g^2 when ``delta`` is None)."""
    if delta is None:
        return 0.5 * g * g, g
    small = np.abs(g) <= delta
    value = np.where(small, 0.5 * g * g, delta * (np.abs(g) - 0.5 * delta))
    return value, np.where(small, g, delta * np.sign(g))


def _expectile_kernel_numpy(z, targets, taus, delta):
    diff = z[:, None, :] - targets[None, :, None]             # (restart, cell, sample)
    weight = np.where(diff > 0, taus[None, :, None], 1.0 - taus[None, :, None])
    g = (weight * diff).mean(axis=2)                          # (restart, cell)
    penalty, slope = _huber(g, delta)
    grad = np.einsum("rc,rcj->rj", slope, weight) / (targets.size * z.shape[1])
    return penalty.sum(axis=1) / targets.size, grad


def _make_expectile_kernel():
    """Numba version of the expectile objective (falls back to numpy when numba is missing)."""
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency, but keep the module importable
        return _expectile_kernel_numpy

    @numba.njit(cache=True)
    def kernel(z, targets, taus, delta):  # pragma: no cover - compiled
        # targets sorted ascending (taus in the same order); O((N + C) log) per restart via prefix sums
        n_restarts, n_samples = z.shape
        n_cells = targets.size
        per_restart = np.zeros(n_restarts)
        grad = np.zeros((n_restarts, n_samples))
        slope = np.empty(n_cells)
        prefix = np.empty(n_samples + 1)
        slope_prefix = np.empty(n_cells + 1)
        for r in range(n_restarts):
            zs = np.sort(z[r])
            prefix[0] = 0.0
            for j in range(n_samples):
                prefix[j + 1] = prefix[j] + zs[j]
            total = prefix[n_samples]
            base = 0.0
            for c in range(n_cells):
                e, t = targets[c], taus[c]
                k = np.searchsorted(zs, e, side="right")        # samples <= e
                below = prefix[k] - k * e
                above = (total - prefix[k]) - (n_samples - k) * e
                g = ((1.0 - t) * below + t * above) / n_samples
                if delta < 0 or abs(g) <= delta:
                    per_restart[r] += 0.5 * g * g
                    slope[c] = g
                else:
                    per_restart[r] += delta * (abs(g) - 0.5 * delta)
                    slope[c] = delta if g > 0 else -delta
                base += slope[c] * (1.0 - t)
            slope_prefix[0] = 0.0
            for c in range(n_cells):
                slope_prefix[c + 1] = slope_prefix[c] + slope[c] * (2.0 * taus[c] - 1.0)
            for j in range(n_samples):
                m = np.searchsorted(targets, z[r, j], side="left")  # cells with e < z
                grad[r, j] = (base + slope_prefix[m]) / (n_cells * n_samples)
            per_restart[r] /= n_cells
        return per_restart, grad

    def wrapped(z, targets, taus, delta):
        return kernel(z, targets, taus, -1.0 if delta is None else float(delta))

    return wrapped


_expectile_kernel = None


def _quantile_objective(z: np.ndarray, targets: np.ndarray, taus: np.ndarray, delta: float | None,
                        smoothness: float) -> tuple[np.ndarray, np.ndarray]:
    """Quantile code: Huber(Q_z(tau_i) - q_i) with Q_z the interpolated sample quantile function, plus a
    penalty on squared gaps between sorted samples (spreads samples evenly between constraints)."""
    n_restarts, n_samples = z.shape
    order = np.argsort(z, axis=1)
    sorted_z = np.take_along_axis(z, order, axis=1)
    position = np.clip(taus * n_samples - 0.5, 0, n_samples - 1)
    low = np.minimum(np.floor(position).astype(int), n_samples - 2)
    frac = position - low
    quantiles = sorted_z[:, low] * (1 - frac) + sorted_z[:, low + 1] * frac  # (restart, cell)
    penalty, slope = _huber(quantiles - targets[None, :], delta)
    grad_sorted = np.zeros_like(sorted_z)
    rows = np.arange(n_restarts)[:, None]
    np.add.at(grad_sorted, (rows, low[None, :]), slope * (1 - frac))
    np.add.at(grad_sorted, (rows, low[None, :] + 1), slope * frac)
    grad_sorted /= targets.size
    gaps = np.diff(sorted_z, axis=1)
    loss = penalty.sum(axis=1) / targets.size + 0.5 * smoothness * (gaps ** 2).sum(axis=1)
    grad_sorted[:, 1:] += smoothness * gaps
    grad_sorted[:, :-1] -= smoothness * gaps
    grad = np.empty_like(grad_sorted)
    np.put_along_axis(grad, order, grad_sorted, axis=1)
    return loss, grad


def _objective(flat: np.ndarray, targets: np.ndarray, taus: np.ndarray, shape: tuple[int, int], code: str,
               delta: float | None, smoothness: float) -> tuple[float, np.ndarray, np.ndarray]:
    """Summed loss over restarts, its gradient, and the per-restart losses (all in scaled units)."""
    global _expectile_kernel
    z = flat.reshape(shape)
    if code == "expectile":
        if _expectile_kernel is None:
            _expectile_kernel = _make_expectile_kernel()
        per_restart, grad = _expectile_kernel(z, targets, taus, delta)
    else:
        per_restart, grad = _quantile_objective(z, targets, taus, delta, smoothness)
    return float(per_restart.sum()), grad.ravel(), per_restart


def decode_distribution(
    reversal_points: Sequence[float] | np.ndarray,
    asymmetries: Sequence[float] | np.ndarray,
    *,
    code: str = "expectile",
    n_samples: int = 100,
    n_restarts: int = 20,
    seed: int | np.random.Generator | None = 0,
    tau_clip: float = 0.02,
    monotone: bool | str = False,
    robust_scale: float | None = 0.05,
    support: tuple[float, float] | None = None,
    nonnegative: bool = True,
    keep_fraction: float = 0.5,
    reward_grid: np.ndarray | None = None,
    bandwidth: float | None = None,
    quantile_smoothing: float = 0.02,
    max_iter: int = 300,
) -> xr.Dataset:
    """Decode a reward distribution from cells' reversal points and asymmetries (expectile/quantile imputation).

    Parameters
    ----------
    reversal_points
        Each cell's reversal point (reward units, e.g. µl), shape (n_cells,). Non-finite cells are dropped.
    asymmetries
        Each cell's tau = a+/(a+ + a-), shape (n_cells,).
    code
        ``"expectile"`` (reversal points are expectiles) or ``"quantile"``.
    n_samples
        Reward samples per restart.
    n_restarts
        Random restarts (optimised together as one batch); the best ``keep_fraction`` of them (lowest loss)
        are pooled for the density.
    seed
        Seed or Generator for the starting points.
    tau_clip
        Taus are clipped to ``[tau_clip, 1 - tau_clip]``.
    monotone
        ``True``: make the targets non-decreasing in tau (isotonic regression) before fitting; ``"sort"``: pair
        the sorted reversal points with the sorted taus; ``False`` (default): fit the estimates as given (on
        noisy simulated populations this decoded closest to the truth; the Huber penalty handles crossings).
    robust_scale
        Huber threshold as a fraction of the target range (expectile code: residuals in reward units; quantile
        code: in probability units, not scaled); ``None`` for plain least squares.
    support
        ``(low, high)`` bounds for the samples (reward units). Default: the targets' range widened by the
        range on each side, with ``low >= 0`` when ``nonnegative``.
    nonnegative
        Keep samples >= 0 in the default support (reward volumes).
    keep_fraction
        Fraction of restarts (best first) pooled into ``pooled`` samples and the density.
    reward_grid
        Grid (reward units) for the density; default 400 points over the support.
    bandwidth
        Gaussian kernel width of the density (reward units); default Silverman's rule on one restart's samples.
    quantile_smoothing
        Weight of the penalty on squared gaps between sorted samples (quantile code), which spreads the samples
        evenly between the constrained quantiles.
    max_iter
        L-BFGS-B iteration limit.

    Returns
    -------
    xarray.Dataset
        ``samples(restart, sample)`` (sorted, reward units), ``loss(restart)``, ``kept(restart)``,
        ``density(reward)`` (per reward unit, integrates to 1 over the grid), per cell ``tau``,
        ``reversal_point`` (input), ``target`` (after monotone projection), ``decoded`` (the decoded
        samples' expectile/quantile at tau, from the best restart) and ``residual`` (decoded - input).
        ``attrs``: ``loss`` (best restart), ``rmse`` (RMS residual, reward units), settings, ``converged``.

    Raises
    ------
    InvalidArgumentError
        Fewer than two usable cells, bad ``code`` or settings.

    Examples
    --------
    >>> import numpy as np
    >>> from scipy.stats import expectile
    >>> rewards = np.array([0.1, 0.3, 1.2, 2.5, 5, 10, 20])
    >>> taus = np.linspace(0.05, 0.95, 30)
    >>> points = [expectile(rewards, t) for t in taus]
    >>> decoded = decode_distribution(points, taus, seed=0)
    >>> bool(decoded.attrs["rmse"] < 0.1)
    True
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    if code not in ("expectile", "quantile"):
        raise InvalidArgumentError(f"code must be 'expectile' or 'quantile', not {code!r}")
    if n_samples < 2 or n_restarts < 1:
        raise InvalidArgumentError("n_samples must be >= 2 and n_restarts >= 1")
    if not 0 <= tau_clip < 0.5:
        raise InvalidArgumentError("tau_clip must be in [0, 0.5)")
    if not 0 < keep_fraction <= 1:
        raise InvalidArgumentError("keep_fraction must be in (0, 1]")
    points = np.asarray(reversal_points, dtype=float).ravel()
    taus_in = np.asarray(asymmetries, dtype=float).ravel()
    if points.shape != taus_in.shape:
        raise InvalidArgumentError(f"{points.size} reversal points but {taus_in.size} asymmetries")
    usable = np.isfinite(points) & np.isfinite(taus_in)
    if usable.sum() < 2:
        raise InvalidArgumentError(f"need at least 2 cells with finite reversal point and asymmetry, got {usable.sum()}")
    rng = np.random.default_rng(seed)

    tau = np.clip(taus_in[usable], tau_clip, 1.0 - tau_clip)
    e = points[usable]
    order = np.argsort(tau, kind="stable")
    target = e.copy()
    if monotone == "sort":
        target[order] = np.sort(e)
    elif monotone:
        target[order] = _isotonic(e[order])

    span = float(np.ptp(target)) or float(np.abs(target).max()) or 1.0
    if support is None:
        low, high = target.min() - span, target.max() + span
        if nonnegative and e.min() >= 0:
            low = max(low, 0.0)
    else:
        low, high = map(float, support)
        if not low < high:
            raise InvalidArgumentError(f"support must be (low, high) with low < high, got {support}")
    loc, scale = float(target.mean()), span
    t_scaled = (target - loc) / scale
    fit_order = np.argsort(t_scaled, kind="stable")      # the expectile kernel wants sorted targets
    t_fit, tau_fit = np.ascontiguousarray(t_scaled[fit_order]), np.ascontiguousarray(tau[fit_order])
    bounds_scaled = ((low - loc) / scale, (high - loc) / scale)
    delta = None if robust_scale is None else float(robust_scale)
    smoothness = float(quantile_smoothing) / n_samples

    shape = (n_restarts, n_samples)
    init_low = max(bounds_scaled[0], t_scaled.min() - 0.1)
    init_high = min(bounds_scaled[1], t_scaled.max() + 0.1)
    start = rng.uniform(init_low, init_high, size=shape)
    # scipy's L-BFGS-B makes many tiny BLAS calls: multi-threaded OpenBLAS makes them ~100x slower on a
    # busy machine, so run them on one thread.
    with threadpool_limits(limits=1, user_api="blas"):
        result = minimize(lambda x: _objective(x, t_fit, tau_fit, shape, code, delta, smoothness)[:2], start.ravel(),
                          jac=True, method="L-BFGS-B", bounds=[bounds_scaled] * start.size,
                          options={"maxiter": max_iter, "maxfun": 2 * max_iter, "ftol": 1e-13, "gtol": 1e-10})
    _, _, per_restart = _objective(result.x, t_fit, tau_fit, shape, code, delta, smoothness)
    samples = np.sort(result.x.reshape(shape) * scale + loc, axis=1)

    n_keep = max(1, int(round(keep_fraction * n_restarts)))
    ranking = np.argsort(per_restart, kind="stable")
    kept = np.zeros(n_restarts, dtype=bool)
    kept[ranking[:n_keep]] = True
    pooled = samples[kept].ravel()
    best = samples[ranking[0]]

    if reward_grid is None:
        reward_grid = np.linspace(low, high, 400)
    reward_grid = np.asarray(reward_grid, dtype=float)
    if bandwidth is None:
        sd = best.std(ddof=1)
        iqr = np.subtract(*np.percentile(best, [75, 25]))
        spread = min(sd, iqr / 1.34) if iqr > 0 else sd
        bandwidth = 0.9 * (spread or span) * n_samples ** (-0.2)
    kernel = np.exp(-0.5 * ((reward_grid[:, None] - pooled[None, :]) / bandwidth) ** 2)
    density = kernel.sum(axis=1)
    area = np.trapezoid(density, reward_grid) if reward_grid.size > 1 else 1.0
    density = density / area if area > 0 else density

    decoded = expectiles_of_samples(best, tau) if code == "expectile" else quantiles_of_samples(best, tau)
    residual = decoded - e
    cell_index = np.flatnonzero(usable)
    return xr.Dataset(
        {
            "samples": (("restart", "sample"), samples, {"units": "reward units (µl)",
                                                          "description": "decoded reward samples, sorted"}),
            "loss": (("restart",), per_restart, {"description": "objective reached per restart (scaled units)"}),
            "kept": (("restart",), kept, {"description": "restart pooled into the density"}),
            "density": (("reward",), density, {"units": "1/reward unit", "description": "smoothed density"}),
            "tau": (("cell",), tau, {"description": "asymmetry used (clipped)"}),
            "reversal_point": (("cell",), e, {"units": "reward units (µl)"}),
            "target": (("cell",), target, {"description": "reversal points after monotone projection"}),
            "decoded": (("cell",), decoded, {"description": f"{code} of the best restart's samples at tau"}),
            "residual": (("cell",), residual, {"description": "decoded - reversal_point"}),
        },
        coords={"restart": np.arange(n_restarts), "sample": np.arange(n_samples), "reward": reward_grid,
                "cell": cell_index},
        attrs={
            "code": code, "loss": float(per_restart.min()), "rmse": float(np.sqrt(np.mean(residual ** 2))),
            "n_cells": int(usable.sum()), "n_dropped": int((~usable).sum()), "n_samples": n_samples,
            "n_restarts": n_restarts, "tau_clip": tau_clip, "monotone": str(monotone),
            "robust_scale": "none" if robust_scale is None else float(robust_scale),
            "support_low": float(low), "support_high": float(high), "bandwidth": float(bandwidth),
            "keep_fraction": keep_fraction, "converged": int(bool(result.success)),
            "n_iterations": int(result.nit), "optimizer": "L-BFGS-B (analytic gradient, restarts batched)",
        },
    )


def decode_fit(fit: xr.Dataset, **kwargs) -> xr.Dataset:
    """Decode the reward distribution from a :func:`neurorl.analysis.reversal.fit_cells` result.

    Uses each cell's ``reversal_point`` (µl) and ``asymmetry`` (tau), keeping the cells where both are finite
    and whose reversal point is not censored at the edge of the reward range (``reversal_censored``), then
    calls :func:`decode_distribution` with ``kwargs``. The result's attrs add ``n_censored``, the number
    of cells left out because their reversal point was censored.

    Raises
    ------
    MissingDataError
        Fewer than 2 usable cells.
    """
    reversal_points = fit["reversal_point"].to_numpy().astype(float)
    asymmetries = fit["asymmetry"].to_numpy().astype(float)
    censored = (fit["reversal_censored"].to_numpy() != 0 if "reversal_censored" in fit
                else np.zeros(reversal_points.shape, bool))
    usable = np.isfinite(reversal_points) & np.isfinite(asymmetries) & ~censored
    if usable.sum() < 2:
        raise MissingDataError(f"fewer than 2 of {usable.size} cells have a reversal point inside the reward "
                               "range; cannot decode")
    decoded = decode_distribution(reversal_points[usable], asymmetries[usable], **kwargs)
    decoded.attrs["n_censored"] = int(censored.sum())
    return decoded
