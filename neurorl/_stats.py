"""Small statistics shared by every layer: expectiles and quantiles of a distribution, Pearson correlation.

They sit below ``tasks`` and ``models`` (a task describes its reward distribution with them, a model's
cells converge to them, an analysis decodes them), so no layer imports another to reach them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .errors import InvalidArgumentError

__all__ = ["expectile", "quantile", "pearson_r", "Correlation"]


# ------------------------------------------------------------------------------- expectiles and quantiles
def _checked(what: str, values, tau, weights) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """``values`` as a 1-D float array, ``tau`` as an array in [0, 1], ``weights`` checked (or None)."""
    x = np.asarray(values, dtype=float).ravel()
    tau_arr = np.asarray(tau, dtype=float)
    if x.size == 0:
        raise InvalidArgumentError(f"{what} of an empty sample")
    if np.any((tau_arr < 0) | (tau_arr > 1)) or not np.all(np.isfinite(tau_arr)):
        raise InvalidArgumentError("tau must lie in [0, 1]")
    if weights is None:
        return x, tau_arr, None
    w = np.asarray(weights, dtype=float).ravel()
    if w.shape != x.shape or np.any(w < 0) or w.sum() <= 0:
        raise InvalidArgumentError("weights must be non-negative, one per value, with a positive sum")
    return x, tau_arr, w


def expectile(values, tau, weights=None) -> np.ndarray:
    """Exact ``tau``-expectiles of a sample or a discrete distribution, vectorised over ``tau``.

    The ``tau``-expectile ``e`` solves ``tau * E[(X - e)+] = (1 - tau) * E[(e - X)+]``; ``tau = 0.5`` gives
    the mean. It is found exactly: the balance is piecewise linear in ``e`` between sorted values.

    Parameters
    ----------
    values
        1-D sample, or the support of a discrete distribution (µl or any unit).
    tau
        Scalar or array of levels in [0, 1].
    weights
        Optional non-negative weights (probabilities of ``values``); equal weights when omitted.

    Returns
    -------
    numpy.ndarray
        Expectiles, shaped like ``tau`` (a 0-d array for a scalar ``tau``), in the unit of ``values``.

    Examples
    --------
    >>> expectile([0.0, 1.0], [0.2, 0.5, 0.8]).round(3)
    array([0.2, 0.5, 0.8])
    """
    x, tau_arr, w = _checked("expectile", values, tau, weights)
    w = np.ones_like(x) if w is None else w
    order = np.argsort(x, kind="stable")
    x, w = x[order], w[order] / w.sum()
    # at each support point x_k: A_k = E[(X - x_k)+], B_k = E[(x_k - X)+]
    cw = np.cumsum(w)
    cwx = np.cumsum(w * x)
    total_wx = cwx[-1]
    below_mass, below_sum = cw, cwx                   # P(X <= x_k), E[X 1(X <= x_k)]
    B = x * below_mass - below_sum
    A = (total_wx - below_sum) - x * (1.0 - below_mass)
    t = tau_arr.reshape(-1, 1)
    G = t * A[None, :] - (1.0 - t) * B[None, :]        # decreasing in k; root between k and k + 1
    k = np.sum(G >= 0, axis=1) - 1                      # last index with G >= 0
    k = np.clip(k, 0, x.size - 1)
    out = x[k].copy()
    inner = k < x.size - 1
    if np.any(inner):
        kk = k[inner]
        g0 = G[inner, kk]
        g1 = G[inner, kk + 1]
        span = x[kk + 1] - x[kk]
        with np.errstate(invalid="ignore", divide="ignore"):
            frac = np.where(g0 - g1 > 0, g0 / (g0 - g1), 0.0)
        out[inner] = x[kk] + np.clip(frac, 0.0, 1.0) * span
    out[G[:, 0] < 0] = x[0]                             # tau = 0 edge
    return out.reshape(tau_arr.shape)


def quantile(values, tau, weights=None, *, method: str | None = None) -> np.ndarray:
    """``tau``-quantiles of a sample or a discrete distribution, vectorised over ``tau``.

    Parameters
    ----------
    values
        1-D sample, or the support of a discrete distribution.
    tau
        Scalar or array of levels in [0, 1].
    weights
        Optional probabilities of ``values``.
    method
        :func:`numpy.quantile` method; default ``"inverted_cdf"`` (the smallest value whose CDF reaches
        ``tau`` — what the quantile TD rule converges to on a discrete distribution) when ``weights`` are given,
        ``"linear"`` otherwise.

    Returns
    -------
    numpy.ndarray
        Quantiles shaped like ``tau``.
    """
    x, tau_arr, w = _checked("quantile", values, tau, weights)
    if w is None:
        return np.asarray(np.quantile(x, tau_arr, method=method or "linear"))
    return np.asarray(np.quantile(x, tau_arr, weights=w, method=method or "inverted_cdf"))


# ------------------------------------------------------------------------------------------- correlation
class Correlation(NamedTuple):
    """Pearson correlation and the number of pairs it was computed over."""

    r: np.ndarray | float
    n: np.ndarray | int


def pearson_r(a, b, valid=None, *, min_n: int = 3) -> Correlation:
    """Pearson correlation of ``a`` and ``b`` along the first axis (column-wise for 2-D input).

    Parameters
    ----------
    a, b
        Arrays of the same shape; rows are the paired observations (cells, frames, ...).
    valid
        Boolean mask of the rows to use, same shape as ``a``; default: where both ``a`` and ``b`` are finite.
    min_n
        Fewest pairs for a correlation (assumed: 3, fewer pairs give r = ±1 or nothing); below it r is NaN.

    Returns
    -------
    Correlation
        ``r`` (dimensionless, NaN where a side is constant or there are fewer than ``min_n`` pairs) and ``n``
        (pairs used); floats / ints for 1-D input, arrays over the trailing axes otherwise.

    Examples
    --------
    >>> r, n = pearson_r([1.0, 2.0, 3.0, np.nan], [2.0, 4.0, 7.0, 1.0])
    >>> round(r, 4), n
    (0.9934, 3)
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise InvalidArgumentError(f"pearson_r: a {a.shape} and b {b.shape} differ in shape")
    valid = np.isfinite(a) & np.isfinite(b) if valid is None else np.asarray(valid, dtype=bool) & np.isfinite(a) & np.isfinite(b)
    n = valid.sum(axis=0)
    a = np.where(valid, a, 0.0)
    b = np.where(valid, b, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        da = np.where(valid, a - a.sum(axis=0) / n, 0.0)
        db = np.where(valid, b - b.sum(axis=0) / n, 0.0)
        r = (da * db).sum(axis=0) / np.sqrt((da * da).sum(axis=0) * (db * db).sum(axis=0))
    r = np.where(n >= min_n, np.clip(r, -1.0, 1.0), np.nan)
    if r.ndim == 0:
        return Correlation(float(r), int(n))
    return Correlation(r, n)
