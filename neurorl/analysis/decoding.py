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

from .._stats import expectile
from ..errors import InvalidArgumentError, MissingDataError

__all__ = ["decode_distribution", "decode_fit", "expectiles_of_samples", "quantiles_of_samples",
           "wasserstein_to", "reference_distributions", "decoding_controls", "DECODE_SUPPORTS"]

#: ``support`` choices of :func:`decode_fit`: ``"task"`` (the task's reward range, as the paper's main-text
#: decoding: Dabney et al. 2020, Extended Data legends) or ``"wide"`` (the targets' range widened by the range on
#: each side, non-negative).
DECODE_SUPPORTS: tuple[str, ...] = ("task", "wide")


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


def _expectile_kernel(z, targets, taus, delta):
    """Expectile objective: the compiled kernel of :mod:`._jitted`, or numpy when numba is missing."""
    try:
        from ._jitted import expectile_objective
    except ImportError:  # pragma: no cover - numba is a dependency, but keep the module importable
        return _expectile_kernel_numpy(z, targets, taus, delta)
    return expectile_objective(z, targets, taus, -1.0 if delta is None else float(delta))


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
    z = flat.reshape(shape)
    if code == "expectile":
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
    # labels and units of a labelled input (a fit's cells keep their names; plain arrays: positions 0..n-1)
    labels = (np.asarray(reversal_points["cell"].values) if isinstance(reversal_points, xr.DataArray)
              and "cell" in reversal_points.coords and reversal_points.ndim == 1 else None)
    units = (str(reversal_points.attrs.get("units", "µl")) if isinstance(reversal_points, xr.DataArray)
             else "µl")  # assumed: reward volumes, as every reversal point of the package
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
    cells = cell_index if labels is None else labels[cell_index]
    return xr.Dataset(
        {
            "samples": (("restart", "sample"), samples, {"units": units,
                                                          "description": "decoded reward samples, sorted"}),
            "loss": (("restart",), per_restart, {"units": "1",
                                                 "description": "objective reached per restart (scaled units)"}),
            "kept": (("restart",), kept, {"units": "1", "description": "restart pooled into the density"}),
            "density": (("reward",), density, {"units": f"1/{units}", "description": "smoothed density"}),
            "tau": (("cell",), tau, {"units": "1", "description": "asymmetry used (clipped)"}),
            "reversal_point": (("cell",), e, {"units": units}),
            "target": (("cell",), target, {"units": units,
                                           "description": "reversal points after monotone projection"}),
            "decoded": (("cell",), decoded, {"units": units,
                                             "description": f"{code} of the best restart's samples at tau"}),
            "residual": (("cell",), residual, {"units": units, "description": "decoded - reversal_point"}),
        },
        coords={"restart": np.arange(n_restarts), "sample": np.arange(n_samples),
                "reward": ("reward", reward_grid, {"units": units}), "cell": cells},
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


def decode_fit(fit: xr.Dataset, *, asymmetry: str = "utility", support: str | tuple[float, float] = "task",
               **kwargs) -> xr.Dataset:
    """Decode the reward distribution from a :func:`neurorl.analysis.reversal.fit_cells` result.

    Uses each cell's ``reversal_point`` (µl) and asymmetry, keeping the cells where both are finite and whose
    reversal point is not censored at the edge of the reward range (``reversal_censored``), then calls
    :func:`decode_distribution` with ``kwargs``. The result's attrs add ``n_censored``, the number of cells
    left out because their reversal point was censored, ``asymmetry_axis`` and ``support``.

    Parameters
    ----------
    fit
        ``fit_cells`` result (``reversal_point``, ``asymmetry`` / ``asymmetry_utility``, ``reward_volume``).
    asymmetry
        ``"utility"`` (default): tau from the slopes on the utility axis, all trials -- the asymmetry the
        original analysis computed for every cell and saved for later use (``asymM_all``,
        GEN_dabneys_fit.m lines 72-74 and 192; the original repository has no decoding step, so this is
        the closest quantity); ``"volume"``: tau from the slopes on the µl axis.
        The reversal points are always in µl: the counting estimator interpolates between the same two
        sizes with the same weight on both axes, so the µl reversal point is the utility-axis one mapped
        back through the utility function.
    support
        ``"task"`` (default; the smallest to the largest reward size in ``fit``, as the main-text decoding
        of the paper: "constrained to the range of rewards in the task", Extended Data legends), ``"wide"``
        (:func:`decode_distribution`'s own default: the targets' range widened by the range on each side) or
        ``(low, high)`` in µl.

    Raises
    ------
    MissingDataError
        Fewer than 2 usable cells.
    InvalidArgumentError
        Unknown ``asymmetry`` or ``support``.
    """
    if asymmetry not in ("utility", "volume"):
        raise InvalidArgumentError(f"asymmetry must be 'utility' or 'volume', not {asymmetry!r}")
    name = "asymmetry_utility" if asymmetry == "utility" else "asymmetry"
    if name not in fit:
        raise InvalidArgumentError(f"the fit has no {name!r} (asymmetry={asymmetry!r})")
    if isinstance(support, str):
        if support not in DECODE_SUPPORTS:
            raise InvalidArgumentError(f"support must be one of {DECODE_SUPPORTS} or (low, high), not {support!r}")
        if support == "task":
            if "reward_volume" not in fit.coords:
                raise InvalidArgumentError("support='task' needs the fit's reward_volume coordinate")
            volumes = fit["reward_volume"].to_numpy().astype(float)
            bounds = (float(np.nanmin(volumes)), float(np.nanmax(volumes)))
        else:
            bounds = None
    else:
        bounds = tuple(map(float, support))
    reversal_points = fit["reversal_point"].to_numpy().astype(float)
    asymmetries = fit[name].to_numpy().astype(float)
    censored = (fit["reversal_censored"].to_numpy() != 0 if "reversal_censored" in fit
                else np.zeros(reversal_points.shape, bool))
    usable = np.isfinite(reversal_points) & np.isfinite(asymmetries) & ~censored
    if usable.sum() < 2:
        raise MissingDataError(f"fewer than 2 of {usable.size} cells have a reversal point inside the reward "
                               "range; cannot decode")
    decoded = decode_distribution(reversal_points[usable], asymmetries[usable], support=bounds, **kwargs)
    # the fit's own cell labels (session/unit), not positions among the usable cells
    rows = np.flatnonzero(usable)[decoded["cell"].to_numpy()]
    labels = {"cell": fit["cell"].to_numpy()[rows] if "cell" in fit.coords else rows}
    for coord, values in fit.coords.items():
        if coord != "cell" and values.dims == ("cell",):
            labels[coord] = ("cell", values.to_numpy()[rows], values.attrs)
    decoded = decoded.assign_coords(labels)
    decoded.attrs["n_censored"] = int(censored.sum())
    decoded.attrs["asymmetry_axis"] = asymmetry
    decoded.attrs["support"] = support if isinstance(support, str) else "custom"
    return decoded


def _pooled(decoded: xr.Dataset) -> np.ndarray:
    samples = decoded["samples"].to_numpy()
    kept = decoded["kept"].to_numpy().astype(bool) if "kept" in decoded else np.ones(samples.shape[0], bool)
    return samples[kept].ravel()


def wasserstein_to(decoded: xr.Dataset | np.ndarray, values, weights=None) -> float:
    """Wasserstein-1 distance (µl) between a decode's pooled samples (or any sample) and a distribution.

    ``values`` / ``weights``: the support and probabilities of the other distribution (equal weights when
    omitted), in µl.
    """
    from scipy.stats import wasserstein_distance

    samples = _pooled(decoded) if isinstance(decoded, xr.Dataset) else np.asarray(decoded, dtype=float).ravel()
    return float(wasserstein_distance(samples, np.asarray(values, float),
                                      v_weights=None if weights is None else np.asarray(weights, float)))


def reference_distributions(volumes, probabilities, *, n_points: int = 2000) -> dict[str, np.ndarray]:
    """The reference distributions a decode should be further from than from the task's own (µl samples).

    As the paper's controls of the decoding (Dabney et al. 2020, Extended Data Fig. 8d): ``uniform`` over the
    task's reward range [min, max]; ``unimodal``, a Gaussian with the task's mean and variance; ``mirrored``,
    the task distribution mirrored within its range (``min + max - r``). Continuous ones are given by
    ``n_points`` quantiles at mid-ranks; the mirrored one by ``n_points`` draws in proportion to its
    probabilities (rounded).
    """
    from scipy import stats

    x = np.asarray(volumes, float)
    p = np.asarray(probabilities, float)
    p = p / p.sum()
    mean = float(np.sum(p * x))
    sd = float(np.sqrt(np.sum(p * (x - mean) ** 2)))
    levels = (np.arange(n_points) + 0.5) / n_points
    mirrored = np.repeat(x.min() + x.max() - x, np.round(p * n_points).astype(int))
    return {"uniform": x.min() + levels * (x.max() - x.min()), "unimodal": stats.norm(mean, sd).ppf(levels),
            "mirrored": mirrored}


def decoding_controls(fit: xr.Dataset, decoded: xr.Dataset, volumes, probabilities, *,
                      control_fit: xr.Dataset | None = None, n_shuffles: int = 10,
                      seed: int | np.random.Generator | None = 0, **decode_kwargs) -> dict[str, float]:
    """W1 distances (µl) that say whether a decode carries information about the task distribution.

    Parameters
    ----------
    fit, decoded
        The ``fit_cells`` result and its decode (:func:`decode_fit`).
    volumes, probabilities
        The task's reward distribution (µl, probabilities).
    control_fit
        ``fit_cells`` result of a classic-TD population of the same size (the paper's null), decoded the same
        way; omitted: ``control_classic_td_w1_ul`` is NaN.
    n_shuffles
        Decodes with the asymmetries shuffled across cells (the reversal points kept); their mean W1 is
        reported (10: assumed).
    seed
        Seed or Generator of the shuffles and decodes.
    **decode_kwargs
        Passed to :func:`decode_fit` (the same settings as ``decoded``).

    Returns
    -------
    dict
        ``decode_w1_ul`` (the decode vs the task distribution), ``control_classic_td_w1_ul`` and
        ``control_shuffled_asymmetry_w1_ul`` (those decodes vs the task distribution; the shuffled one a mean
        over shuffles, its SD in ``control_shuffled_asymmetry_w1_sd_ul``), ``reference_uniform_w1_ul``,
        ``reference_unimodal_w1_ul`` and ``reference_mirrored_w1_ul`` (the decode vs those references,
        :func:`reference_distributions`).
        A decode that carries information is closer to the task (``decode_w1_ul``) than the controls are and
        than it is to the references.
    """
    rng = np.random.default_rng(seed)
    out = {"decode_w1_ul": wasserstein_to(decoded, volumes, probabilities)}
    if control_fit is not None:
        control = decode_fit(control_fit, seed=rng, **decode_kwargs)
        out["control_classic_td_w1_ul"] = wasserstein_to(control, volumes, probabilities)
    else:
        out["control_classic_td_w1_ul"] = float("nan")
    name = "asymmetry_utility" if decode_kwargs.get("asymmetry", "utility") == "utility" else "asymmetry"
    shuffled = []
    for _ in range(int(n_shuffles)):
        permuted = fit.copy()
        values = permuted[name].to_numpy().astype(float)
        finite = np.flatnonzero(np.isfinite(values))
        values[finite] = values[rng.permutation(finite)]           # shuffled across the cells that have one
        permuted[name] = (permuted[name].dims, values)
        shuffled.append(wasserstein_to(decode_fit(permuted, seed=rng, **decode_kwargs), volumes, probabilities))
    out["control_shuffled_asymmetry_w1_ul"] = float(np.mean(shuffled)) if shuffled else float("nan")
    out["control_shuffled_asymmetry_w1_sd_ul"] = float(np.std(shuffled, ddof=1)) if len(shuffled) > 1 else float("nan")
    for key, reference in reference_distributions(volumes, probabilities).items():
        out[f"reference_{key}_w1_ul"] = wasserstein_to(decoded, reference)
    return out
