"""Reversal points and response asymmetries of dopamine neurons, with bootstrap CIs and population tests.

Input is ``responses(cell, trial)`` from :func:`neurorl.analysis.responses.compute_responses` (or any
DataArray with a ``reward_volume`` coordinate over ``trial``; NaN = cell not recorded on that trial), or a list
of them, one per session (e.g. from :func:`neurorl.pipelines.dopamine_sessions.stream_responses` with
``pool=False``): every function works one session block at a time, so a list is never pooled into one dense
matrix and memory is bounded by the largest session; pooled and per-session input give the same numbers.

Estimators (per cell)
---------------------
``counting`` (the original analysis of Dabney et al. 2020)
    For each boundary between consecutive reward sizes (and below the smallest / above the largest), count
    the trials that lie on the "right" side: positive responses above the boundary plus negative responses
    below it. The best boundary lies between sizes ``m−1`` and ``m``; the reversal point is interpolated
    between them as ``w·x[m−1] + (1−w)·x[m]`` with ``w = d+/(d− + d+)``, where ``d−``/``d+`` are how many
    counts the best boundary beats its lower / upper neighbour by (so a near-tie with the lower neighbour
    pulls the point towards ``x[m−1]``). A best boundary below all sizes gives ``x[0] + 0.01`` on the
    utility axis (``x[0]`` in µl), above all sizes ``x[-1] − 0.1`` (``x[-1]`` in µl), flagged in
    ``reversal_censored``. The original broke ties at random; here tied boundaries are averaged.
``model``
    Least-squares fit of ``y = a+ (x − r)`` for ``x > r`` and ``y = a− (x − r)`` for ``x < r`` (a piecewise
    linear function with its kink on zero at the reversal point ``r``, restricted to the range of sizes).
    For fixed ``r`` the slopes are linear least squares, so ``r`` maximises a profile that depends only on
    per-size sums; it is found on a grid and refined by golden-section search, vectorised over cells and
    resamples.

Both give the slopes above / below the reversal point by least squares through the origin of the
response on ``x − r`` (as the original's ``EstimateScaleFactors`` with ``functionType='linear'``) and the
asymmetry ``tau = a+ / (a+ + a−)``. Everything is computed on two axes: reward volume (µl) and the
original's "utility axis" ``U`` (the population-mean response to each reward size, spikes/s).

Resampling (bootstrap and split halves) is stratified by (session, reward size) and vectorised: each
resample is a row of a weight matrix and the per-size sufficient statistics of every cell and resample
come from one matrix product per size.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import xarray as xr
from scipy import stats as _stats

from .._stats import pearson_r
from ..errors import InvalidArgumentError, MissingDataError
from .responses import align_trial_types as _align_trial_types

__all__ = [
    "METHODS",
    "fit_cells",
    "utility_axis",
    "tau_reversal_correlation",
    "tau_reversal_test",
    "SLOPES",
    "off_floor",
    "FLOOR_RATE",
    "reversal_split_half",
    "classic_td_null_test",
    "same_vs_diverse",
    "ReversalPointEstimator",
    "reuse_prepared",
]

#: Reversal-point estimators.
METHODS = ("counting", "model")
#: How tau's slopes are taken in the split-half test (see :func:`tau_reversal_correlation`).
SLOPES = ("kink", "sides")

_AXES = ("utility", "volume")
_GRID_PER_INTERVAL = 8
_GOLDEN_ITERATIONS = 40


# --------------------------------------------------------------------------------------------- data prep
@dataclass
class _Block:
    """One session's responses: ``values`` (c, t), NaN = not recorded; ``rows`` are the cells' positions."""
    values: np.ndarray
    size_index: np.ndarray       # (t,) index into the reward sizes
    rows: np.ndarray             # (c,) positions of the block's cells in the output order
    totals: np.ndarray | None = None  # (4, c, 1, J) unweighted statistics, kept once computed (split halves)


@dataclass
class _Prepared:
    blocks: list                 # [_Block], one per session, sessions in sorted order
    volumes: np.ndarray          # (J,) sorted reward sizes, µl
    cells: np.ndarray            # (C,) cell labels in the output order
    cell_coords: dict
    attrs: dict                  # the responses' attrs
    utility: np.ndarray | None = None

    @property
    def n_cells(self) -> int:
        return int(self.cells.size)


def _check_responses(responses) -> list[xr.DataArray]:
    """The responses as a list of ``(cell, trial)`` DataArrays (one pooled array, or one per session)."""
    parts = [responses] if isinstance(responses, xr.DataArray) else list(responses) if isinstance(
        responses, (list, tuple)) else None
    if not parts or not all(isinstance(part, xr.DataArray) for part in parts):
        raise InvalidArgumentError("responses must be an xarray.DataArray with dims (cell, trial), or a list of "
                                   "them (one per session)")
    for part in parts:
        if set(part.dims) != {"cell", "trial"}:
            raise InvalidArgumentError(f"responses must have dims (cell, trial), got {part.dims}")
        if "reward_volume" not in part.coords:
            raise InvalidArgumentError("responses lack the 'reward_volume' coordinate over trial")
    return [part.transpose("cell", "trial") for part in parts]


def _session_blocks(parts: list[xr.DataArray]) -> list[tuple[str, np.ndarray, xr.DataArray]]:
    """``(session, rows, block)`` per session, sessions sorted; ``rows`` index the cells in input order.

    A pooled array is cut into its sessions (a cell's columns are its own session's trials), so that pooled and
    per-session input give the same blocks and the same numbers; a list of arrays is taken in order (each may
    hold several sessions).
    """
    pieces = []
    offset = 0
    for part in parts:
        if "trial_session" in part.coords and "session" in part.coords:
            trial_session = part["trial_session"].to_numpy().astype(str)
            cell_session = part["session"].to_numpy().astype(str)
            for session in np.unique(cell_session):
                rows = np.flatnonzero(cell_session == session)
                cols = np.flatnonzero(trial_session == session)
                block = part.isel(cell=rows)
                if cols.size == 0:
                    cols = np.flatnonzero(np.isfinite(block.to_numpy()).any(axis=0))
                pieces.append((str(session), offset + rows, block.isel(trial=cols)))
        else:
            pieces.append(("", offset + np.arange(part.sizes["cell"]), part))
        offset += part.sizes["cell"]
    # sessions in sorted order (as a pooled array's sessions): the resampling draws follow this order
    order = sorted(range(len(pieces)), key=lambda k: pieces[k][0])
    return [pieces[k] for k in order]


def _cell_coords(parts: list[xr.DataArray]) -> tuple[np.ndarray, dict]:
    cells = np.concatenate([part["cell"].to_numpy() for part in parts])
    coords = {}
    for name in ("session", "unit"):
        if all(name in part.coords for part in parts):
            coords[name] = np.concatenate([part[name].to_numpy() for part in parts])
    return cells, coords


#: Prepared responses kept for reuse while :func:`reuse_prepared` is active: {key: (parts, prepared)}.
_PREPARED_CACHE: dict | None = None


@contextlib.contextmanager
def reuse_prepared() -> Iterator[None]:
    """Within the block, analyses of the same responses objects share their preparation.

    Each analysis (:func:`fit_cells`, :func:`tau_reversal_correlation`, ...) checks, cuts into sessions, aligns
    the trial types of and indexes the responses before it starts: about 0.4 s at 10,000 cells, paid once per
    analysis. A pipeline that runs several analyses of responses it does not change wraps them in this block
    (``neurorl fit dopamine`` does); the numbers are the same. Objects are matched by identity, so responses
    changed in place inside the block would not be seen: do not.
    """
    global _PREPARED_CACHE
    previous = _PREPARED_CACHE
    _PREPARED_CACHE = {}
    try:
        yield
    finally:
        _PREPARED_CACHE = previous


def _prepare(responses, align: bool) -> _Prepared:
    cache = _PREPARED_CACHE
    if cache is not None:
        given = [responses] if isinstance(responses, xr.DataArray) else list(responses) if isinstance(
            responses, (list, tuple)) else [responses]
        key = (tuple(id(part) for part in given), bool(align))
        if key in cache:
            return cache[key][1]
        prepared = _prepare_now(responses, align)
        cache[key] = (given, prepared)      # the parts are kept alive: their ids cannot be reused meanwhile
        return prepared
    return _prepare_now(responses, align)


def _prepare_now(responses, align: bool) -> _Prepared:
    parts = _check_responses(responses)
    pieces = _session_blocks(parts)
    blocks = [block for _, _, block in pieces]
    if align:
        blocks = _align_trial_types(blocks)
    kept = []
    for block in blocks:
        volume = block["reward_volume"].to_numpy().astype(float)
        kept.append(block.isel(trial=np.flatnonzero(np.isfinite(volume))))
    all_volumes = np.concatenate([b["reward_volume"].to_numpy().astype(float) for b in kept])
    if not any(b.size and np.isfinite(b.to_numpy()).any() for b in kept):
        raise MissingDataError("responses hold no finite value on a rewarded trial")
    volumes = np.unique(all_volumes)
    if volumes.size < 2:
        raise InvalidArgumentError("at least two different reward sizes are needed to place a reversal point")
    prepared = [
        _Block(np.asarray(block.to_numpy(), dtype=float),
               np.searchsorted(volumes, block["reward_volume"].to_numpy().astype(float)), rows)
        for (_, rows, _), block in zip(pieces, kept)]
    cells, coords = _cell_coords(parts)
    return _Prepared(prepared, volumes, cells, coords, dict(parts[0].attrs))


def _block_stats(values: np.ndarray, size_index: np.ndarray, n_sizes: int, weights: np.ndarray) -> np.ndarray:
    """Weighted per-size sums of one block: array (4, cells, resamples, sizes) = n, sum y, n(y>0), n(y<0)."""
    finite = np.isfinite(values)
    y = np.where(finite, values, 0.0)
    # the three 0/1 indicators go through single precision: their weighted sums are integers (resample counts)
    # below 2**24, exact in float32, and sgemm is about twice as fast as dgemm; the responses stay in float64
    indicators = np.concatenate([finite, y > 0, y < 0]).astype(np.float32)  # (3c, t)
    exact_counts = float(np.max(weights, initial=0.0)) * values.shape[1] < 2 ** 24 and np.all(weights == np.round(weights))
    c = values.shape[0]
    out = np.zeros((4, c, weights.shape[0], n_sizes))
    for j in range(n_sizes):
        cols = np.flatnonzero(size_index == j)
        if cols.size:
            w = weights[:, cols].T
            if exact_counts:
                counts = indicators[:, cols] @ w.astype(np.float32)
            else:
                counts = indicators[:, cols].astype(float) @ w
            counts = counts.reshape(3, c, -1)
            out[0, :, :, j] = counts[0]
            out[2, :, :, j] = counts[1]
            out[3, :, :, j] = counts[2]
            out[1, :, :, j] = y[:, cols] @ w
    return out


def _all_stats(prep: _Prepared, make_weights) -> np.ndarray:
    """Stats (4, C, R, J) over all blocks; ``make_weights(size_index_of_block) -> (R, t)``.

    Only for few resamples (the point estimates): many resamples go block by block through
    :func:`_estimates_by_block`, which never holds every cell's statistics at once.
    """
    result = None
    for block in prep.blocks:
        weights = make_weights(block.size_index)
        stats = _block_stats(block.values, block.size_index, prep.volumes.size, weights)
        if result is None:
            result = np.zeros((4, prep.n_cells, weights.shape[0], prep.volumes.size))
        result[:, block.rows] = stats
    return result


def _estimates_by_block(prep: _Prepared, make_weights, utility: np.ndarray, method: str, keys,
                        out: dict | None = None, columns: slice | None = None, keep_stats: bool = False,
                        halves: bool = False) -> dict:
    """Estimates ``keys`` of every cell, computed one session block at a time: dict of (C, R) arrays.

    ``make_weights(size_index_of_block) -> (R, t)`` draws the resamples of a block (blocks in order, so the
    random stream is that of one pass over the sessions). With ``out`` and ``columns`` the estimates go into
    those columns of preallocated arrays. ``keep_stats`` adds ``positive`` and ``negative`` (C, R, J): the
    weighted counts of positive and negative responses per size. With ``halves`` the weights are half-A masks
    (R rows) and the estimates have 2R columns: half A, then half B from the block's totals minus half A's
    statistics (half the matrix products of weighting both halves).
    """
    out = {} if out is None else out
    for block in prep.blocks:
        weights = make_weights(block.size_index)
        stats = _block_stats(block.values, block.size_index, prep.volumes.size, weights)
        if halves:
            if block.totals is None:
                block.totals = _block_stats(block.values, block.size_index, prep.volumes.size,
                                            np.ones((1, block.size_index.size)))
            stats = np.concatenate([stats, block.totals - stats], axis=2)
        estimates = _estimate(stats, prep.volumes, utility, method, keys)
        if keep_stats:
            estimates["positive"], estimates["negative"] = stats[2], stats[3]
        for key in keys:
            value = estimates[key]
            if key not in out:
                shape = (prep.n_cells, value.shape[1] if columns is None else columns.stop) + value.shape[2:]
                out[key] = np.full(shape, np.nan) if value.dtype.kind == "f" else np.zeros(shape, value.dtype)
            if columns is None:
                out[key][block.rows] = value
            else:
                out[key][block.rows, columns] = value
    return out


def _bootstrap_weights(rng: np.random.Generator, n_bootstrap: int):
    def make(size_index: np.ndarray) -> np.ndarray:
        weights = np.zeros((n_bootstrap, size_index.size))
        for j in np.unique(size_index):
            cols = np.flatnonzero(size_index == j)
            picks = rng.integers(0, cols.size, size=(n_bootstrap, cols.size))
            # how often each trial was drawn in each resample (bincount: the counts np.add.at gave, ~10x faster)
            flat = (picks + (np.arange(n_bootstrap) * cols.size)[:, None]).ravel()
            weights[:, cols] = np.bincount(flat, minlength=n_bootstrap * cols.size).reshape(n_bootstrap, cols.size)
        return weights
    return make


def _split_weights(rng: np.random.Generator, n_splits: int, complement: bool = True):
    """Rows 0..S-1: half A masks; rows S..2S-1: the complementary half B (stratified by size).

    With ``complement=False`` only the half-A rows (half B's statistics are then the block's totals minus
    half A's: see :func:`_estimates_by_block`); the random draws are the same.
    """
    def make(size_index: np.ndarray) -> np.ndarray:
        half_a = np.zeros((n_splits, size_index.size))
        for j in np.unique(size_index):
            cols = np.flatnonzero(size_index == j)
            order = np.argsort(rng.random((n_splits, cols.size)), axis=1)
            chosen = order[:, : cols.size // 2]
            half_a[np.arange(n_splits)[:, None], cols[chosen]] = 1.0
        return np.concatenate([half_a, 1.0 - half_a]) if complement else half_a
    return make


# ------------------------------------------------------------------------------------------- estimators
def _utility_from_stats(stats: np.ndarray) -> np.ndarray:
    """Population mean of the cells' mean response per size, from point stats (4, C, 1, J) -> (J,)."""
    n, s = stats[0, :, 0], stats[1, :, 0]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.where(n > 0, s / n, np.nan), axis=0)


def _kernels():
    """The compiled row kernels of the estimators (:mod:`._jitted`), or ``None`` without numba."""
    try:
        from ._jitted import counting_rows, slopes_rows
    except ImportError:  # pragma: no cover - numba missing: the numpy code
        return None
    return counting_rows, slopes_rows


def _rows(array: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(array, dtype=float).reshape(-1, array.shape[-1]))


def _counting(positive: np.ndarray, negative: np.ndarray, n: np.ndarray, axes: dict[str, tuple]):
    """Counting estimator. Returns ({axis: reversal}, censored (-1/0/+1)) with shapes (...)."""
    j = positive.shape[-1]
    kernels = _kernels() if j <= 128 else None
    if kernels is not None and axes:
        # compiled, row by row: the same numbers as the numpy code below (tests/test_reversal.py), ~10x faster
        positive, negative, n = np.broadcast_arrays(positive, negative, n)
        shape = positive.shape[:-1]
        names = list(axes)
        values, censored = kernels[0](_rows(positive), _rows(negative), _rows(n),
                                      np.array([np.asarray(axes[name][0], dtype=float) for name in names]),
                                      np.array([float(axes[name][1]) for name in names]),
                                      np.array([float(axes[name][2]) for name in names]))
        return ({name: values[k].reshape(shape) for k, name in enumerate(names)}, censored.reshape(shape))
    return _counting_numpy(positive, negative, n, axes)


def _counting_numpy(positive: np.ndarray, negative: np.ndarray, n: np.ndarray, axes: dict[str, tuple]):
    j = positive.shape[-1]
    suffix_pos = np.concatenate([np.cumsum(positive[..., ::-1], axis=-1)[..., ::-1],
                                 np.zeros(positive.shape[:-1] + (1,))], axis=-1)
    prefix_neg = np.concatenate([np.zeros(negative.shape[:-1] + (1,)), np.cumsum(negative, axis=-1)], axis=-1)
    crit = suffix_pos + prefix_neg                                      # (..., J+1) boundaries 0..J
    best = crit.max(axis=-1, keepdims=True)
    ties = np.isclose(crit, best, rtol=0, atol=1e-9)
    d_low = crit[..., 1:j] - crit[..., 0:j - 1]                          # interior boundary k=1..J-1
    d_high = crit[..., 1:j] - crit[..., 2:j + 1]
    total = d_low + d_high
    with np.errstate(invalid="ignore", divide="ignore"):
        w_low = np.where(total > 0, d_high / np.where(total > 0, total, 1.0), 0.5)
    n_ties = ties.sum(axis=-1)
    empty = n.sum(axis=-1) == 0
    result = {}
    for name, (x, low_cap, high_cap) in axes.items():
        interior = w_low * x[:-1] + (1.0 - w_low) * x[1:]
        candidates = np.concatenate([np.full(crit.shape[:-1] + (1,), low_cap), interior,
                                     np.full(crit.shape[:-1] + (1,), high_cap)], axis=-1)
        value = (candidates * ties).sum(axis=-1) / n_ties
        result[name] = np.where(empty, np.nan, value)
    censored = np.where(ties[..., 0] & (n_ties == 1), -1, np.where(ties[..., -1] & (n_ties == 1), 1, 0))
    return result, np.where(empty, 0, censored)


def _side_sums(s: np.ndarray, n: np.ndarray, x: np.ndarray, r: np.ndarray):
    """A± = Σ d s and B± = Σ n d² over sizes above (+) and below (−) r, with d = x − r."""
    d = x - r[..., None]
    above, below = d > 0, d < 0
    ds, nd2 = d * s, n * d * d
    return ((ds * above).sum(-1), (nd2 * above).sum(-1), (ds * below).sum(-1), (nd2 * below).sum(-1))


def _slopes(s: np.ndarray, n: np.ndarray, x: np.ndarray, r: np.ndarray):
    kernels = _kernels() if s.shape[-1] <= 128 else None
    if kernels is not None:
        s, n = np.broadcast_arrays(s, n)
        shape = s.shape[:-1]
        slope_pos, slope_neg = kernels[1](_rows(s), _rows(n), np.ascontiguousarray(x, dtype=float),
                                          np.ascontiguousarray(np.broadcast_to(r, shape), dtype=float).ravel())
        return slope_pos.reshape(shape), slope_neg.reshape(shape)
    return _slopes_numpy(s, n, x, r)


def _slopes_numpy(s: np.ndarray, n: np.ndarray, x: np.ndarray, r: np.ndarray):
    a_pos, b_pos, a_neg, b_neg = _side_sums(s, n, x, r)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(b_pos > 0, a_pos / b_pos, np.nan), np.where(b_neg > 0, a_neg / b_neg, np.nan)


def _side_slopes(s: np.ndarray, n: np.ndarray, x: np.ndarray, r: np.ndarray):
    """Least-squares slopes *with their own intercepts* of the responses above and below ``r``.

    Above: ``y = c+ + a+ x`` over the trials of the sizes with ``x > r``; below likewise over ``x < r``; each
    needs trials at two or more sizes on its side (else NaN). Unlike :func:`_slopes` (lines through the point
    ``(r, 0)``), a side's slope does not depend on where ``r`` was placed as long as the sizes stay on their
    side, so an error of the reversal point does not turn into an error of tau (the trial-level regression
    from the per-size sums: ``a = (N Sxy - Sx Sy) / (N Sxx - Sx^2)``).
    """
    x_full = np.broadcast_to(x, n.shape)
    slopes = []
    for side in (x_full > r[..., None], x_full < r[..., None]):
        weight = np.where(side, n, 0.0)
        total, sx = weight.sum(-1), (weight * x).sum(-1)
        sxx, sy, sxy = (weight * x * x).sum(-1), np.where(side, s, 0.0).sum(-1), np.where(side, s * x, 0.0).sum(-1)
        denominator = total * sxx - sx * sx
        enough = (side & (n > 0)).sum(-1) >= 2
        with np.errstate(invalid="ignore", divide="ignore"):
            slopes.append(np.where(enough & (denominator > 0), (total * sxy - sx * sy) / denominator, np.nan))
    return slopes[0], slopes[1]


def _model_fit(s: np.ndarray, n: np.ndarray, x: np.ndarray, chunk: int = 50_000):
    """Least-squares kink location on axis ``x`` (any order) -> (reversal (...), censored)."""
    order = np.argsort(x)
    x, s, n = x[order], s[..., order], n[..., order]
    shape = s.shape[:-1]
    s2, n2 = s.reshape(-1, x.size), n.reshape(-1, x.size)
    try:
        from ._jitted import model_fit_rows
    except ImportError:  # pragma: no cover - numba missing: same algorithm in numpy
        model_fit_rows = None
    if model_fit_rows is not None:
        value = model_fit_rows(np.ascontiguousarray(s2, dtype=float), np.ascontiguousarray(n2, dtype=float),
                               np.ascontiguousarray(x, dtype=float), _GRID_PER_INTERVAL, _GOLDEN_ITERATIONS)
    else:
        value = np.empty(s2.shape[0])
        for start in range(0, s2.shape[0], chunk):
            value[start:start + chunk] = _model_fit_flat(s2[start:start + chunk], n2[start:start + chunk], x)
    value = value.reshape(shape)
    span = x[-1] - x[0]
    censored = np.where(value <= x[0] + 1e-6 * span, -1, np.where(value >= x[-1] - 1e-6 * span, 1, 0))
    empty = n.sum(axis=-1) == 0
    return np.where(empty, np.nan, value), np.where(empty, 0, censored)


def _model_fit_flat(s: np.ndarray, n: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Kink location for rows of per-size sums ``s``, ``n`` (rows, J) on sorted axis ``x``."""
    j = x.size
    # Per interval m (r in [x_m, x_m+1]) the + side holds sizes > m, the − side sizes <= m, and the profile
    # gain is (S1 − r S0)² / (N2 − 2 r N1 + r² N0) per side, from cumulative sums over sizes.
    def sides(a, power):
        weighted = a * x ** power
        left = np.cumsum(weighted, axis=-1)[:, : j - 1]
        right = weighted.sum(axis=-1, keepdims=True) - left
        return left, right

    (s0l, s0r), (s1l, s1r) = sides(s, 0), sides(s, 1)
    (n0l, n0r), (n1l, n1r), (n2l, n2r) = sides(n, 0), sides(n, 1), sides(n, 2)
    coeffs = (s0l, s1l, n0l, n1l, n2l, s0r, s1r, n0r, n1r, n2r)     # each (rows, J-1)

    def gain(r, c):
        total = 0.0
        for s0, s1, n0, n1, n2 in (c[:5], c[5:]):
            a = s1 - r * s0
            b = n2 - 2.0 * r * n1 + r * r * n0
            ok = b > 1e-12
            total = total + np.where(ok, a * a / np.where(ok, b, 1.0), 0.0)
        return total

    t = np.linspace(0.0, 1.0, _GRID_PER_INTERVAL, endpoint=False)
    grid = np.append((x[:-1, None] + t[None, :] * np.diff(x)[:, None]).ravel(), x[-1])
    interval = np.minimum(np.searchsorted(x, grid, side="right") - 1, j - 2)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        gains = gain(grid[None, :], tuple(c[:, interval] for c in coeffs))        # (rows, G)
        best = np.argmax(gains, axis=1)
        value = grid[best]
        best_gain = gains[np.arange(best.size), best]
        golden = (np.sqrt(5.0) - 1.0) / 2.0
        rows = np.arange(best.size)
        for k in (np.maximum(best - 1, 0), np.minimum(best, grid.size - 2)):   # sub-brackets [g_k, g_k+1]
            m = interval[k]
            c = tuple(cf[rows, m] for cf in coeffs)
            lo, hi = grid[k], grid[k + 1]
            p, q = hi - golden * (hi - lo), lo + golden * (hi - lo)
            fp, fq = gain(p, c), gain(q, c)
            for _ in range(_GOLDEN_ITERATIONS):
                left = fp >= fq
                hi = np.where(left, q, hi)
                lo = np.where(left, lo, p)
                probe = np.where(left, hi - golden * (hi - lo), lo + golden * (hi - lo))
                f_probe = gain(probe, c)
                p, q = np.where(left, probe, q), np.where(left, p, probe)
                fp, fq = np.where(left, f_probe, fq), np.where(left, fp, f_probe)
            r = 0.5 * (lo + hi)
            fr = gain(r, c)
            better = fr > best_gain
            value = np.where(better, r, value)
            best_gain = np.where(better, fr, best_gain)
    return value


def _estimate(stats: np.ndarray, volumes: np.ndarray, utility: np.ndarray, method: str, keys=None
              ) -> dict[str, np.ndarray]:
    """Per-cell estimates from stats (4, C, R, J); arrays (C, R).

    ``keys``: the estimates wanted (default all); an axis, or the sides' slopes of an axis, that no wanted key
    needs is not computed (the others are the same numbers either way).
    """
    n, s, positive, negative = stats
    axes = {"volume": volumes, "utility": utility}
    if keys is not None:
        keys = set(keys)
        axes = {name: x for name, x in axes.items() if any(key.endswith(f"_{name}") for key in keys)}
    sides = {name for name in axes if keys is None or any(key.endswith(f"sides_{name}") for key in keys)}
    out: dict[str, np.ndarray] = {}
    if method == "counting":
        caps = {"volume": (volumes, volumes[0], volumes[-1]),
                "utility": (utility, utility[0] + 0.01, utility[-1] - 0.1)}
        reversal, censored = _counting(positive, negative, n, {name: caps[name] for name in axes})
        for name in axes:
            out[f"censored_{name}"] = censored
    else:
        reversal = {}
        for name, x in axes.items():
            reversal[name], out[f"censored_{name}"] = _model_fit(s, n, x)
    for name, x in axes.items():
        r = reversal[name]
        a_pos, a_neg = _slopes(s, n, x, np.where(np.isfinite(r), r, 0.0))
        a_pos = np.where(np.isfinite(r), a_pos, np.nan)
        a_neg = np.where(np.isfinite(r), a_neg, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            tau = a_pos / (a_pos + a_neg)
        out[f"reversal_{name}"] = r
        out[f"alpha_pos_{name}"] = a_pos
        out[f"alpha_neg_{name}"] = a_neg
        out[f"tau_{name}"] = tau
        if name not in sides:
            continue
        # the sides' own regression lines (tau_reversal_correlation(slopes="sides")); a side whose slope is
        # not positive gives no tau
        s_pos, s_neg = _side_slopes(s, n, x, np.where(np.isfinite(r), r, 0.0))
        ok = np.isfinite(r) & (s_pos > 0) & (s_neg > 0)
        out[f"alpha_pos_sides_{name}"] = np.where(ok, s_pos, np.nan)
        out[f"alpha_neg_sides_{name}"] = np.where(ok, s_neg, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[f"tau_sides_{name}"] = np.where(ok, s_pos / (s_pos + s_neg), np.nan)
    out["n_trials"] = n.sum(axis=-1)
    return out


def _check_method(method: str) -> None:
    if method not in METHODS:
        raise InvalidArgumentError(f"method must be one of {METHODS}, got {method!r}")


def _check_axis(axis: str) -> None:
    if axis not in _AXES:
        raise InvalidArgumentError(f"axis must be one of {_AXES}, got {axis!r}")


# --------------------------------------------------------------------------------------------- public
def utility_axis(responses: xr.DataArray | list[xr.DataArray], *, align_trial_types: bool = True
                 ) -> xr.DataArray:
    """The original "utility axis": population mean of each cell's mean response per reward size.

    Parameters
    ----------
    responses
        ``responses(cell, trial)`` with a ``reward_volume`` coordinate.
    align_trial_types
        Shift uncued responses to the cued level first, as the original analysis did.

    Returns
    -------
    xarray.DataArray
        Over ``reward_volume`` (µl), in spikes/s.
    """
    prep = _prepare(responses, align_trial_types)
    stats = _all_stats(prep, lambda size_index: np.ones((1, size_index.size)))
    return xr.DataArray(_utility_from_stats(stats), dims="reward_volume",
                        coords={"reward_volume": prep.volumes}, name="utility_axis",
                        attrs={"units": "spikes/s"})


def fit_cells(
    responses: xr.DataArray | list[xr.DataArray],
    *,
    method: str = "counting",
    n_bootstrap: int = 200,
    ci: float = 0.95,
    seed: int | np.random.Generator | None = 0,
    align_trial_types: bool = True,
    split_half: bool = True,
) -> xr.Dataset:
    """Per-cell reversal points, slopes and asymmetries with bootstrap CIs and one split-half estimate.

    Parameters
    ----------
    responses
        ``responses(cell, trial)`` (spikes/s) with ``reward_volume`` (µl) over ``trial``; optional
        ``trial_type``, ``trial_session``/``session`` (resampling is stratified by session and size); or a
        list of them, one per session (never pooled).
    method
        ``"counting"`` (original estimator) or ``"model"`` (piecewise-linear least squares).
    n_bootstrap
        Bootstrap resamples of each cell's trials (within session and reward size); 0 disables CIs.
    ci
        Confidence level of the percentile intervals.
    seed
        Seed or Generator for resampling and the split.
    align_trial_types
        Shift uncued responses by a population-wide constant to the cued level (original analysis).
    split_half
        Also estimate from one random split of the trials into two halves (``half`` dim: a, b).

    Returns
    -------
    xarray.Dataset
        Over ``cell``: ``reversal_point`` (µl), ``reversal_point_utility`` (spikes/s, utility axis),
        ``alpha_pos``/``alpha_neg`` (spikes/s per µl), ``asymmetry`` (tau, volume axis),
        ``alpha_pos_utility``/``alpha_neg_utility`` (dimensionless), ``asymmetry_utility``,
        ``reversal_censored`` (-1 below the smallest size, +1 above the largest, 0 inside; volume axis),
        ``n_trials``; ``*_ci`` over ``bound`` (low, high) and ``*_se`` from the bootstrap;
        ``*_half`` over ``half``; ``mean_response(cell, reward_volume)``, ``n_per_size`` and
        ``utility_axis(reward_volume)``. ``attrs`` hold the method and settings (and the responses'
        attrs prefixed ``responses_``).
    """
    _check_method(method)
    if n_bootstrap < 0:
        raise InvalidArgumentError(f"n_bootstrap must be >= 0, got {n_bootstrap}")
    if not 0 < ci < 1:
        raise InvalidArgumentError(f"ci must be in (0, 1), got {ci}")
    rng = np.random.default_rng(seed)
    prep = _prepare(responses, align_trial_types)
    point_stats = _all_stats(prep, lambda size_index: np.ones((1, size_index.size)))
    utility = _utility_from_stats(point_stats)
    if not np.all(np.isfinite(utility)):
        raise MissingDataError("some reward size has no response from any cell")
    point = {k: v[:, 0] for k, v in _estimate(point_stats, prep.volumes, utility, method).items()}

    names = {  # output name -> internal key
        "reversal_point": "reversal_volume",
        "reversal_point_utility": "reversal_utility",
        "alpha_pos": "alpha_pos_volume",
        "alpha_neg": "alpha_neg_volume",
        "asymmetry": "tau_volume",
        "alpha_pos_utility": "alpha_pos_utility",
        "alpha_neg_utility": "alpha_neg_utility",
        "asymmetry_utility": "tau_utility",
    }
    data = {out: ("cell", point[key]) for out, key in names.items()}
    data["reversal_censored"] = ("cell", point["censored_volume"].astype(np.int8))
    data["n_trials"] = ("cell", point["n_trials"].astype(np.int64))
    n0, s0 = point_stats[0, :, 0], point_stats[1, :, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        data["mean_response"] = (("cell", "reward_volume"), np.where(n0 > 0, s0 / np.where(n0 > 0, n0, 1), np.nan))
    data["n_per_size"] = (("cell", "reward_volume"), n0.astype(np.int64))
    data["utility_axis"] = ("reward_volume", utility)

    if n_bootstrap > 0:
        boot = _estimates_by_block(prep, _bootstrap_weights(rng, n_bootstrap), utility, method, names.values())
        q = [100 * (1 - ci) / 2, 100 * (1 + ci) / 2]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            for out, key in names.items():
                data[f"{out}_ci"] = (("cell", "bound"), _row_percentiles(boot[key], q).T)
                data[f"{out}_se"] = ("cell", np.nanstd(boot[key], axis=1, ddof=1))
    if split_half:
        est = _estimates_by_block(prep, _split_weights(rng, 1), utility, method,
                                  [names[out] for out in ("reversal_point", "reversal_point_utility", "asymmetry",
                                                          "asymmetry_utility")])
        for out in ("reversal_point", "reversal_point_utility", "asymmetry", "asymmetry_utility"):
            data[f"{out}_half"] = (("cell", "half"), est[names[out]])

    coords = {"cell": prep.cells, "reward_volume": prep.volumes}
    for name, values in prep.cell_coords.items():
        coords[name] = ("cell", values)
    if n_bootstrap > 0:
        coords["bound"] = ["low", "high"]
    if split_half:
        coords["half"] = ["a", "b"]
    attrs = {
        "method": method,
        "n_bootstrap": int(n_bootstrap),
        "ci": float(ci),
        "seed": seed if isinstance(seed, int) else str(seed),
        "align_trial_types": int(bool(align_trial_types)),
        "resampling": "bootstrap over trials, stratified by session and reward size (percentile intervals)",
        "asymmetry": "tau = alpha_pos / (alpha_pos + alpha_neg)",
        "utility_axis": "population-mean response per reward size (the original analysis' utility axis)",
    }
    response_units = str(prep.attrs.get("units", "spikes/s"))
    for key, value in prep.attrs.items():
        if isinstance(value, (str, int, float)):
            attrs[f"responses_{key}"] = value
        elif isinstance(value, (list, tuple)):
            attrs[f"responses_{key}"] = [float(v) for v in value]
    result = xr.Dataset(data, coords=coords, attrs=attrs)
    # CF-style units on every variable (the utility axis is in the responses' units)
    units = {"reversal_point": "µl", "reversal_point_utility": response_units,
             "alpha_pos": f"{response_units} per µl", "alpha_neg": f"{response_units} per µl",
             "alpha_pos_utility": "1", "alpha_neg_utility": "1", "asymmetry": "1", "asymmetry_utility": "1",
             "reversal_censored": "1", "n_trials": "1", "mean_response": response_units, "n_per_size": "1",
             "utility_axis": response_units}
    for name in list(result.data_vars):
        base = name.removesuffix("_ci").removesuffix("_se").removesuffix("_half")
        if base in units:
            result[name].attrs["units"] = units[base]
    result["reward_volume"].attrs["units"] = "µl"
    return result


def _row_percentiles(values: np.ndarray, q: list[float]) -> np.ndarray:
    """``np.nanpercentile(values, q, axis=1)``, the same numbers, vectorised over the rows without NaN.

    numpy's nan-aware percentile loops over rows in Python (about 40 µs a row: 3 s for 10,000 cells' eight
    bootstrap estimates); rows without NaN go through ``np.percentile`` in one call, which interpolates the
    same way.
    """
    values = np.asarray(values, dtype=float)
    out = np.empty((len(q), values.shape[0]))
    has_nan = np.isnan(values).any(axis=1)
    if (~has_nan).any():
        out[:, ~has_nan] = np.percentile(values[~has_nan], q, axis=1)
    if has_nan.any():
        out[:, has_nan] = np.nanpercentile(values[has_nan], q, axis=1)
    return out


def _pearson(a: np.ndarray, b: np.ndarray, valid: np.ndarray):
    """Column-wise Pearson r, two-sided p, one-sided p (r > 0) and n over rows where ``valid``."""
    r, n = pearson_r(a, b, valid)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = r * np.sqrt((n - 2) / np.maximum(1.0 - r * r, 1e-300))
    dof = np.maximum(n - 2, 1)
    p_two = np.where(n > 2, 2 * _stats.t.sf(np.abs(t), dof), np.nan)
    p_greater = np.where(n > 2, _stats.t.sf(t, dof), np.nan)
    return r, p_two, p_greater, n


def _split_estimates(responses, n_splits, seed, method, align, chunk=250, keep_stats=False, keys_a=None,
                     keys_b=None):
    """Estimates from half A and half B of ``n_splits`` random splits: dicts of (C, S) arrays.

    Computed one session block and one chunk of splits at a time, into arrays of the keys asked for
    (``keys_a`` from half A, ``keys_b`` from half B; all estimates by default). With ``keep_stats`` the
    per-size counts of positive and negative responses come too (``half["positive"]``, ``half["negative"]``:
    (C, S, J)).
    """
    _check_method(method)
    if n_splits < 1:
        raise InvalidArgumentError(f"n_splits must be >= 1, got {n_splits}")
    rng = np.random.default_rng(seed)
    prep = _prepare(responses, align)
    point_stats = _all_stats(prep, lambda size_index: np.ones((1, size_index.size)))
    utility = _utility_from_stats(point_stats)
    all_keys = list(_estimate(point_stats[:, :1], prep.volumes, utility, method))
    keys_a = all_keys if keys_a is None else list(keys_a)
    keys_b = all_keys if keys_b is None else list(keys_b)
    if keep_stats:
        keys_b = [*keys_b, "positive", "negative"]
    keys = list(dict.fromkeys([*keys_a, *keys_b]))
    half_a: dict = {}
    half_b: dict = {}
    for start in range(0, n_splits, chunk):
        size = min(chunk, n_splits - start)
        both = _estimates_by_block(prep, _split_weights(rng, size, complement=False), utility, method, keys,
                                   keep_stats=keep_stats, halves=True)
        for half, wanted, columns in ((half_a, keys_a, slice(0, size)), (half_b, keys_b, slice(size, 2 * size))):
            for key in wanted:
                value = both[key][:, columns]
                if key not in half:
                    half[key] = np.empty((value.shape[0], n_splits) + value.shape[2:], value.dtype)
                half[key][:, start:start + size] = value
    prep.utility = utility
    return half_a, half_b, prep


def _permuted_median_r(tau: np.ndarray, reversal: np.ndarray, tau_ok: np.ndarray, orders: np.ndarray
                       ) -> np.ndarray:
    """Median over splits of r(tau, reversal permuted by each row of ``orders``); arrays (C, S)."""
    try:
        from ._jitted import permuted_median_r
    except ImportError:  # pragma: no cover - numba missing: the same in numpy, one permutation at a time
        permuted_median_r = None
    if permuted_median_r is not None:
        # (S, C) rows: one split's cells contiguous for the kernel's gathers
        return permuted_median_r(np.ascontiguousarray(tau.T, dtype=float),
                                 np.ascontiguousarray(reversal.T, dtype=float),
                                 np.ascontiguousarray(tau_ok.T), orders)
    null = np.empty(orders.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for k, order in enumerate(orders):
            shuffled = reversal[order]
            null[k] = np.nanmedian(pearson_r(tau, shuffled, tau_ok & np.isfinite(shuffled)).r)
    return null


def _split_attrs(method, axis, n_splits, seed, align_trial_types, description) -> dict:
    return {"method": method, "axis": axis, "n_splits": int(n_splits),
            "seed": seed if isinstance(seed, int) else str(seed), "align_trial_types": int(bool(align_trial_types)),
            "description": description}


def _split_dataset(r, p_two, p_greater, n, attrs, name):
    ds = xr.Dataset(
        {
            "r": ("split", r),
            "p": ("split", p_two),
            "p_greater": ("split", p_greater),
            "n_cells": ("split", n.astype(np.int64)),
            "r_median": ((), float(np.nanmedian(r))),
            "p_median": ((), float(np.nanmedian(p_two))),
            "p_greater_median": ((), float(np.nanmedian(p_greater))),
            "fraction_significant": ((), float(np.nanmean((p_two < 0.05) & (r > 0)))),
        },
        coords={"split": np.arange(r.size)},
        attrs={**attrs, "test": name},
    )
    for variable in ds.data_vars:  # correlations, p-values, counts: all dimensionless
        ds[variable].attrs["units"] = "1"
    return ds


def tau_reversal_correlation(
    responses: xr.DataArray | list[xr.DataArray],
    *,
    n_splits: int = 1000,
    seed: int | np.random.Generator | None = 0,
    method: str = "counting",
    axis: str = "utility",
    align_trial_types: bool = True,
    n_permutations: int = 1000,
    permutation_seed: int | np.random.Generator | None = None,
    slopes: str = "kink",
    strata: np.ndarray | None = None,
) -> xr.Dataset:
    """Split-half test of the distributional code: asymmetry (half B) vs reversal point (half A).

    For each random split of every cell's trials (stratified by session and reward size; half A gets
    ``floor(n/2)`` trials of each size) the reversal point is estimated from half A, and from half B the
    reversal point and then the slopes and tau; Pearson's r across cells between tau (B) and the reversal
    point (A) is computed over the cells whose two half-B slopes are finite and non-zero (as the original).

    Parameters
    ----------
    responses
        ``responses(cell, trial)``.
    n_splits
        Number of random splits.
    seed
        Seed or Generator.
    method
        Reversal-point estimator (``"counting"`` as the original, or ``"model"``).
    axis
        ``"utility"`` (as the original) or ``"volume"`` (µl).
    align_trial_types
        Shift uncued responses to the cued level first (original analysis).
    n_permutations
        Permutations of the permutation test (0: none). Each permutation shuffles which cell's half-A
        reversal point is paired with which cell's half-B asymmetry -- one shuffle applied to every split, so
        that the permuted statistic is the same median over the same splits -- and recomputes the median r.
        ``p_perm = (1 + #{median r_perm >= median r}) / (1 + n_permutations)`` is a calibrated one-sided
        p-value (the cells' pairs are exchangeable under "asymmetry and reversal point unrelated"); the
        median of the per-split p-values (``p_median``) is a summary of the splits, not a test.
    permutation_seed
        Seed or Generator of the permutations; ``None``: they continue the stream of ``seed``.
    slopes
        How half B's slopes (and so tau) are taken: ``"kink"`` (as the original: lines through the point
        ``(reversal point, 0)``) or ``"sides"`` (each side's own least-squares line, with its own intercept,
        over the sizes strictly above / below half B's reversal point, two sizes at least: an error of the
        reversal point then does not become an error of tau).
    strata
        Optional label per cell (input order): the permutations shuffle reversal points only among cells with
        the same label (a null that keeps whatever the strata explain).

    Returns
    -------
    xarray.Dataset
        Over ``split``: ``r``, ``p`` (two-sided), ``p_greater`` (one-sided, r > 0), ``n_cells``; scalars
        ``r_median``, ``p_median``, ``p_greater_median``, ``fraction_significant`` (p < 0.05 and r > 0),
        ``p_perm`` (permutation test, one-sided, r > 0; NaN without permutations); over ``permutation``:
        ``r_median_null`` (the permuted medians).
    """
    _check_axis(axis)
    if slopes not in SLOPES:
        raise InvalidArgumentError(f"slopes must be one of {SLOPES}, got {slopes!r}")
    variant = "" if slopes == "kink" else "sides_"
    rng = np.random.default_rng(seed)
    half_a, half_b, _ = _split_estimates(responses, n_splits, rng, method, align_trial_types,
                                         keys_a=[f"reversal_{axis}"],
                                         keys_b=[f"tau_{variant}{axis}", f"alpha_pos_{variant}{axis}",
                                                 f"alpha_neg_{variant}{axis}"])
    reversal_a = half_a[f"reversal_{axis}"]
    tau_b = half_b[f"tau_{variant}{axis}"]
    pos_b, neg_b = half_b[f"alpha_pos_{variant}{axis}"], half_b[f"alpha_neg_{variant}{axis}"]
    slopes_ok = np.isfinite(pos_b) & np.isfinite(neg_b) & (pos_b != 0) & (neg_b != 0)
    valid = slopes_ok & np.isfinite(tau_b) & np.isfinite(reversal_a)
    r, p_two, p_greater, n = _pearson(tau_b, reversal_a, valid)
    attrs = _split_attrs(method, axis, n_splits, seed, align_trial_types,
                         "Pearson r across cells between tau (half B) and reversal point (half A)")
    ds = _split_dataset(r, p_two, p_greater, n, attrs, "tau_reversal_correlation")
    if n_permutations < 0:
        raise InvalidArgumentError(f"n_permutations must be >= 0, got {n_permutations}")
    null = np.empty(int(n_permutations))
    tau_ok = slopes_ok & np.isfinite(tau_b)
    perm_rng = rng if permutation_seed is None else np.random.default_rng(permutation_seed)
    if strata is not None and np.shape(strata) != (reversal_a.shape[0],):
        raise InvalidArgumentError(f"strata must have one label per cell ({reversal_a.shape[0]}), got shape "
                                   f"{np.shape(strata)}")
    orders = _permutation_orders(perm_rng, reversal_a.shape[0], null.size, strata)
    if null.size:
        null[:] = _permuted_median_r(tau_b, reversal_a, tau_ok, orders)
    observed = float(ds["r_median"])
    p_perm = (1.0 + np.sum(null >= observed)) / (1.0 + null.size) if null.size and np.isfinite(observed) else np.nan
    ds["p_perm"] = ((), float(p_perm))
    ds["r_median_null"] = ("permutation", null)
    ds["p_perm"].attrs["units"] = ds["r_median_null"].attrs["units"] = "1"
    ds.attrs["n_permutations"] = int(n_permutations)
    ds.attrs["slopes"] = slopes
    ds.attrs["p_perm"] = ("permutation test: cells' half-A reversal points shuffled across cells (one shuffle "
                          "for all splits), one-sided (r > 0)")
    ds.attrs["p_median"] = "median over splits of the per-split Pearson p (two-sided): a summary, not a test"
    return ds


def _permutation_orders(rng: np.random.Generator, n_cells: int, n_permutations: int, strata=None) -> np.ndarray:
    """(n_permutations, n_cells) orders: row k gives each cell the cell whose value it takes in permutation k.

    Without ``strata`` a uniform permutation of all cells; with them (one label per cell) a uniform permutation
    within each stratum.
    """
    orders = np.empty((n_permutations, n_cells), dtype=np.intp)
    if strata is None:
        for k in range(n_permutations):
            orders[k] = rng.permutation(n_cells)
        return orders
    labels, codes = np.unique(np.asarray(strata), return_inverse=True)
    if labels.size <= MAX_LOOPED_STRATA:
        groups = [np.flatnonzero(codes == label) for label in range(labels.size)]
        for k in range(n_permutations):
            orders[k] = np.arange(n_cells)
            for members in groups:                 # shuffled only among the cells of the same stratum
                orders[k, members] = members[rng.permutation(members.size)]
    else:
        # many strata: each permutation sorts the cells by (stratum, a uniform key), a uniformly random order
        # within every stratum drawn in one call (the loop above costs ~1 s at 500 strata x 1,000
        # permutations); other draws than the loop's, the same distribution
        by_stratum = np.argsort(codes, kind="stable")
        for k in range(n_permutations):
            orders[k, by_stratum] = np.lexsort((rng.random(codes.size), codes))
    return orders


#: Most strata whose permutations are drawn stratum by stratum (``rng.permutation`` per stratum, the draws of
#: earlier versions); above, all strata at once (:func:`tau_reversal_correlation`). Assumed: keeps the draws of
#: every population up to ~500 cells at 8 cells per stratum.
MAX_LOOPED_STRATA = 64


#: Firing floor (spikes/s) of :func:`off_floor`: a cell whose mean rate in the response window is below this for
#: some reward size has its negative responses clipped at 0 spikes/s. Assumed: 1 spike/s, about a fifth of the
#: real cells' mean rate at 0.1 µl (measured on the 40 cells of Eshel et al. by ``analyses/dabney2020.py``).
FLOOR_RATE = 1.0


def off_floor(responses: xr.DataArray | list[xr.DataArray], floor_rate: float = FLOOR_RATE) -> xr.DataArray:
    """Cells that stay off the firing floor: every reward size's mean rate in the response window >= ``floor_rate``.

    The raw mean rate of a cell at a reward size is its mean response (window rate minus baseline rate, over its
    trials of that size) plus its mean baseline rate (the ``baseline_rate`` coordinate that
    :func:`neurorl.analysis.responses.compute_responses` writes; exact for plain counts). A cell without a
    known baseline rate (traces, z-scored responses, hand-made arrays) has no floor and is kept.

    Parameters
    ----------
    responses
        ``responses(cell, trial)`` in spikes/s, or a list of them (one per session).
    floor_rate
        Floor, spikes/s.

    Returns
    -------
    xarray.DataArray
        Boolean over ``cell`` (input order), ``attrs["floor_rate"]``.

    Examples
    --------
    >>> import numpy as np, xarray as xr
    >>> r = xr.DataArray([[-4.0, 6.0], [-0.5, 6.0]], dims=("cell", "trial"),
    ...                  coords={"reward_volume": ("trial", [0.1, 20.0]), "baseline_rate": ("cell", [4.5, 4.5])})
    >>> off_floor(r).values.tolist()
    [False, True]
    """
    if not (np.isfinite(floor_rate) and floor_rate >= 0):
        raise InvalidArgumentError(f"floor_rate must be a number >= 0, got {floor_rate}")
    keep = []
    parts = _check_responses(responses)
    for part in parts:
        values = np.asarray(part.to_numpy(), dtype=float)
        baseline = (part["baseline_rate"].to_numpy().astype(float) if "baseline_rate" in part.coords
                    else np.full(values.shape[0], np.nan))
        if int(part.attrs.get("zscore", 0)) or part.attrs.get("signal", "spikes") != "spikes":
            baseline = np.full(values.shape[0], np.nan)
        volume = part["reward_volume"].to_numpy().astype(float)
        lowest = np.full(values.shape[0], np.inf)
        for size in np.unique(volume[np.isfinite(volume)]):
            columns = values[:, volume == size]
            seen = np.isfinite(columns)
            count = seen.sum(axis=1)
            mean = np.where(count > 0, np.where(seen, columns, 0.0).sum(axis=1) / np.maximum(count, 1), np.inf)
            lowest = np.minimum(lowest, mean)
        keep.append(~np.isfinite(baseline) | (lowest + baseline >= floor_rate))
    cells = np.concatenate([part["cell"].to_numpy() for part in parts])
    return xr.DataArray(np.concatenate(keep), dims=("cell",), coords={"cell": cells}, name="off_floor",
                        attrs={"floor_rate": float(floor_rate), "units": "1"})


#: Cells per signal-to-noise stratum of :func:`tau_reversal_test`'s permutations. Assumed: 8 (five strata for
#: the 40 real cells).
CELLS_PER_STRATUM = 8


def _signal_to_noise(prep: _Prepared, utility: np.ndarray) -> np.ndarray:
    """Per cell: t statistic of the least-squares slope of its responses on the utility axis (all trials)."""
    out = np.full(prep.n_cells, np.nan)
    for block in prep.blocks:
        values = block.values
        finite = np.isfinite(values)
        x = np.broadcast_to(utility[block.size_index], values.shape)
        w = finite.astype(float)
        y = np.where(finite, values, 0.0)
        n = w.sum(1)
        with np.errstate(invalid="ignore", divide="ignore"):
            mx, my = (w * x).sum(1) / n, (w * y).sum(1) / n
            dx, dy = np.where(finite, x - mx[:, None], 0.0), np.where(finite, y - my[:, None], 0.0)
            sxx, sxy, syy = (dx * dx).sum(1), (dx * dy).sum(1), (dy * dy).sum(1)
            slope = sxy / sxx
            residual = np.maximum(syy - slope * sxy, 0.0) / np.maximum(n - 2, 1)
            out[block.rows] = slope * np.sqrt(sxx / residual)
    return out


def tau_reversal_test(
    responses: xr.DataArray | list[xr.DataArray],
    *,
    n_splits: int = 200,
    seed: int | np.random.Generator | None = 0,
    method: str = "model",
    axis: str = "utility",
    align_trial_types: bool = True,
    n_permutations: int = 1000,
    permutation_seed: int | np.random.Generator | None = None,
    floor_rate: float | None = FLOOR_RATE,
    slopes: str = "sides",
    stratify: bool = True,
) -> xr.Dataset:
    """The tau-reversal permutation test as neurorl reports it, calibrated for the paper's nulls.

    :func:`tau_reversal_correlation` with four departures from the original analysis, each because the
    original's choices make the test find its signature in populations that have none. Measured with
    ``analyses/dabney2020_power.py`` (40 simulated cells with the real cells' trial counts and firing, 100 runs
    per model, rate of ``p_perm < 0.05``; ``analyses/results/dabney2020/results.md``): the original's
    statistic (counting estimator, slopes through the reversal point, all cells) gives 0.77 for the
    additive-bias null (symmetric cells, diverse reversal points) at the real baseline rates, 0.23 with the
    floor out of reach and 0.10 for classic TD; this test gives 0.02, 0.01 and 0.08 (0.02 for classic TD with
    a concave utility), and finds the expectile code in 0.91 of runs.

    * Only the cells off the firing floor (:func:`off_floor`): a symmetric cell whose negative responses are
      clipped at 0 spikes/s looks optimistic in proportion to its reversal point, in both halves of its trials.
    * ``method="model"``: the reversal point fitted jointly with the slopes rather than counted; the counting
      estimator puts the point on the wrong side of a reward size more often.
    * ``slopes="sides"``: tau from each side's own regression line (with its own intercept) rather than from
      lines through the estimated reversal point. Through the point, an error of the point becomes an error of
      tau -- a point placed too high steepens the upper slope -- and that error depends on where the cell's
      true point falls among the sparse reward sizes, a property of the cell shared by both halves, so it
      correlates tau (half B) with the reversal point (half A) in populations with no asymmetric scaling. A
      side's own line does not move with the point as long as the sizes stay on their side (a side needs
      trials at two sizes at least; cells without are left out of that split).
    * ``stratify=True``: the permutations shuffle reversal points only among cells of similar signal-to-noise
      ratio (the t statistic of each cell's slope on the utility axis, all trials; strata of about
      :data:`CELLS_PER_STRATUM` cells). A cell's noise sets how far its estimates stray and in which
      direction the fits err, the same in both halves; under classic TD (one reversal point for all cells)
      that alone correlated tau with the reversal point in 0.16 of runs (100 runs, without strata).

    Parameters
    ----------
    responses
        ``responses(cell, trial)`` (or one per session), with the ``baseline_rate`` coordinate for the floor.
    n_splits
        Random splits (the statistic is the median r over them; 200 as the power runs above).
    seed, method, axis, align_trial_types, n_permutations, permutation_seed
        As :func:`tau_reversal_correlation`.
    floor_rate
        Floor of :func:`off_floor`, spikes/s; ``None`` tests every cell.
    slopes
        ``"sides"`` (default) or ``"kink"`` (the original's), see :func:`tau_reversal_correlation`.
    stratify
        Permute within signal-to-noise strata (default) or across all tested cells.

    Returns
    -------
    xarray.Dataset
        As :func:`tau_reversal_correlation`, plus ``tested`` (bool over ``cell``: the cells in the test) and
        ``attrs["n_cells_tested"]``, ``attrs["n_strata"]``, ``attrs["floor_rate"]``.
    """
    parts = _check_responses(responses)
    if floor_rate is None:
        keep = np.ones(sum(part.sizes["cell"] for part in parts), dtype=bool)
    else:
        keep = off_floor(parts, floor_rate).to_numpy()
    if keep.sum() < 3:
        raise MissingDataError(f"the tau-reversal test needs at least 3 cells off the firing floor "
                               f"(>= {floor_rate} spikes/s at every reward size), found {int(keep.sum())}")
    subset, offset = [], 0
    for part in parts:
        rows = np.flatnonzero(keep[offset:offset + part.sizes["cell"]])
        offset += part.sizes["cell"]
        if rows.size:
            subset.append(part.isel(cell=rows))
    strata = None
    if stratify:
        prep = _prepare(subset, align_trial_types)
        utility = _utility_from_stats(_all_stats(prep, lambda size_index: np.ones((1, size_index.size))))
        snr = _signal_to_noise(prep, utility)
        n_strata = max(1, int(keep.sum()) // CELLS_PER_STRATUM)
        ranks = np.argsort(np.argsort(np.nan_to_num(snr, nan=-np.inf), kind="stable"), kind="stable")
        strata = ranks * n_strata // ranks.size
    test = tau_reversal_correlation(subset, n_splits=n_splits, seed=seed, method=method, axis=axis,
                                    align_trial_types=align_trial_types, n_permutations=n_permutations,
                                    permutation_seed=permutation_seed, slopes=slopes, strata=strata)
    cells = np.concatenate([part["cell"].to_numpy() for part in parts])
    test["tested"] = xr.DataArray(keep, dims=("cell",), coords={"cell": cells}, attrs={"units": "1"})
    test.attrs.update({"n_cells_tested": int(keep.sum()),
                       "n_strata": int(1 if strata is None else np.unique(strata).size),
                       "floor_rate": float("nan") if floor_rate is None else float(floor_rate),
                       "test": "tau_reversal_test",
                       "p_perm": test.attrs["p_perm"] + f"; {method} estimator, slopes '{slopes}', cells off "
                                                         "the firing floor"})
    return test


def reversal_split_half(
    responses: xr.DataArray | list[xr.DataArray],
    *,
    n_splits: int = 1000,
    seed: int | np.random.Generator | None = 0,
    method: str = "counting",
    axis: str = "utility",
    align_trial_types: bool = True,
) -> xr.Dataset:
    """Split-half reliability of reversal points: Pearson r across cells between halves A and B.

    Same splitting as :func:`tau_reversal_correlation`. Under the classic-TD null every cell has the same
    reversal point, so the halves are uncorrelated; a reliable positive r rejects it.

    Returns
    -------
    xarray.Dataset
        As :func:`tau_reversal_correlation` (``r``, ``p``, ``p_greater`` per split and their medians).
    """
    _check_axis(axis)
    keys = [f"reversal_{axis}"]
    half_a, half_b, _ = _split_estimates(responses, n_splits, seed, method, align_trial_types, keys_a=keys,
                                         keys_b=keys)
    a, b = half_a[f"reversal_{axis}"], half_b[f"reversal_{axis}"]
    valid = np.isfinite(a) & np.isfinite(b)
    r, p_two, p_greater, n = _pearson(a, b, valid)
    attrs = _split_attrs(method, axis, n_splits, seed, align_trial_types,
                         "Pearson r across cells between reversal points of two disjoint halves of trials")
    return _split_dataset(r, p_two, p_greater, n, attrs, "reversal_split_half")


def classic_td_null_test(
    responses: xr.DataArray | list[xr.DataArray],
    *,
    n_splits: int = 1000,
    n_bootstrap: int = 200,
    seed: int | np.random.Generator | None = 0,
    method: str = "counting",
    axis: str = "utility",
    align_trial_types: bool = True,
) -> xr.Dataset:
    """Test the population against classic TD (one reversal point shared by all cells).

    Two statistics:

    * split-half reliability of the reversal points (median over splits of r and of its one-sided p);
    * heterogeneity: ``chi2 = Σ_c (r_c − r̄)² / se_c²`` with bootstrap standard errors and the
      inverse-variance mean ``r̄``, over cells whose point estimate is not censored and whose SE is
      positive; under the null it follows chi² with (cells − 1) degrees of freedom.

    Returns
    -------
    xarray.Dataset
        Scalars ``split_half_r``, ``split_half_p`` (one-sided, median), ``heterogeneity_chi2``,
        ``heterogeneity_df``, ``heterogeneity_p``; ``attrs["rejected"]`` = 1 if both p < 0.05.
    """
    _check_axis(axis)
    rng = np.random.default_rng(seed)
    split = reversal_split_half(responses, n_splits=n_splits, seed=rng, method=method, axis=axis,
                                align_trial_types=align_trial_types)
    fit = fit_cells(responses, method=method, n_bootstrap=n_bootstrap, seed=rng,
                    align_trial_types=align_trial_types, split_half=False)
    key = "reversal_point" if axis == "volume" else "reversal_point_utility"
    value, se = fit[key].to_numpy(), fit[f"{key}_se"].to_numpy()
    ok = np.isfinite(value) & np.isfinite(se) & (se > 0) & (fit["reversal_censored"].to_numpy() == 0)
    weights = 1.0 / se[ok] ** 2
    mean = float(np.sum(weights * value[ok]) / np.sum(weights)) if ok.any() else float("nan")
    chi2 = float(np.sum(weights * (value[ok] - mean) ** 2))
    df = int(ok.sum() - 1)
    p_het = float(_stats.chi2.sf(chi2, df)) if df > 0 else float("nan")
    out = xr.Dataset({
        "split_half_r": ((), float(split["r_median"])),
        "split_half_p": ((), float(split["p_greater_median"])),
        "heterogeneity_chi2": ((), chi2),
        "heterogeneity_df": ((), df),
        "heterogeneity_p": ((), p_het),
        "common_reversal_point": ((), mean),
    }, attrs={"method": method, "axis": axis, "n_splits": int(n_splits), "n_bootstrap": int(n_bootstrap),
              "rejected": int(bool(split["p_greater_median"] < 0.05 and p_het < 0.05))})
    for name in out.data_vars:
        out[name].attrs["units"] = "1"
    out["common_reversal_point"].attrs["units"] = "µl" if axis == "volume" else "spikes/s"
    return out


def same_vs_diverse(
    responses: xr.DataArray | list[xr.DataArray],
    *,
    n_splits: int = 100,
    seed: int | np.random.Generator | None = 0,
    method: str = "counting",
    axis: str = "utility",
    align_trial_types: bool = True,
) -> xr.Dataset:
    """Held-out comparison: do the cells' own (diverse) reversal points predict held-out responses better than
    one reversal point shared by all cells (the classic-TD account)?

    As the paper's model comparison (Dabney et al. 2020, Extended Data Fig. 4c): each model predicts whether a
    held-out trial's response is positive or negative -- positive when the reward lies above the reversal
    point. For each random split (as :func:`tau_reversal_correlation`) the reversal points come from half A
    -- each cell's own (diverse), or the median over cells (same) -- and are scored on half B: the fraction of
    half-B trials with a non-zero response whose sign is predicted (a size exactly at the reversal point
    counts as half right). Accuracies are averaged over splits.

    Returns
    -------
    xarray.Dataset
        Over ``cell``: ``accuracy_same``, ``accuracy_diverse``, ``delta_accuracy`` (diverse − same); scalars
        ``fraction_diverse_better`` (cells with ``delta_accuracy > 0``), ``p_wilcoxon`` (one-sided signed-rank
        test over cells that ``delta_accuracy > 0``), ``mean_accuracy_same``, ``mean_accuracy_diverse``.
    """
    _check_axis(axis)
    half_a, half_b, prep = _split_estimates(responses, n_splits, seed, method, align_trial_types, keep_stats=True,
                                            keys_a=[f"reversal_{axis}"], keys_b=[])
    x = prep.volumes if axis == "volume" else prep.utility
    diverse = half_a[f"reversal_{axis}"]                                          # (C, S)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        shared = np.broadcast_to(np.nanmedian(diverse, axis=0, keepdims=True), diverse.shape)
    positive, negative = half_b["positive"], half_b["negative"]                   # (C, S, J) counts

    def accuracy(r):
        above = (x > r[..., None]).astype(float) + 0.5 * (x == r[..., None])
        correct = (above * positive + (1.0 - above) * negative).sum(-1)
        total = (positive + negative).sum(-1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(np.isfinite(r) & (total > 0), correct / np.where(total > 0, total, 1.0), np.nan)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        same = np.nanmean(accuracy(shared), axis=1)
        div = np.nanmean(accuracy(diverse), axis=1)
    delta = div - same
    ok = np.isfinite(delta)
    p = (float(_stats.wilcoxon(delta[ok], alternative="greater").pvalue)
         if ok.sum() >= 2 and np.any(delta[ok] != 0) else float("nan"))
    nan = float("nan")
    result = xr.Dataset(
        {"accuracy_same": ("cell", same), "accuracy_diverse": ("cell", div), "delta_accuracy": ("cell", delta),
         "fraction_diverse_better": ((), float(np.mean(delta[ok] > 0)) if ok.any() else nan),
         "p_wilcoxon": ((), p),
         "mean_accuracy_same": ((), float(np.mean(same[ok])) if ok.any() else nan),
         "mean_accuracy_diverse": ((), float(np.mean(div[ok])) if ok.any() else nan)},
        coords={"cell": prep.cells},
        attrs={**_split_attrs(method, axis, n_splits, seed, align_trial_types,
                              "fraction of held-out (half B) trials whose response sign is predicted by the "
                              "reward lying above the reversal point: each cell's own (half A) vs the median "
                              "over cells; mean over splits"),
               "test": "same_vs_diverse"})
    for name in result.data_vars:  # accuracies, fractions, p-values: dimensionless
        result[name].attrs["units"] = "1"
    return result


# ------------------------------------------------------------------------------------------- estimator
from sklearn.base import BaseEstimator  # noqa: E402  (only this estimator needs scikit-learn)


class ReversalPointEstimator(BaseEstimator):
    """scikit-learn estimator wrapping :func:`fit_cells`: each cell's reversal point and asymmetry.

    Samples are trials and features are cells: ``X`` is (n_trials, n_cells) responses (spikes/s), ``y`` the
    reward volume of each trial (µl). NaN in ``X`` means the cell was not recorded on that trial. Parameters
    are only stored by ``__init__``; ``fit`` validates them. It follows scikit-learn's estimator contract
    (``get_params``/``set_params``/``clone``, ``n_features_in_``, its input checks) and is tested with
    ``parametrize_with_checks``.

    Parameters
    ----------
    method : {"counting", "model"}
        Reversal-point estimator, as in :func:`fit_cells`.
    n_bootstrap : int
        Bootstrap resamples for the confidence intervals (0: none).
    ci : float
        Confidence level of the bootstrap intervals.
    seed : int or None
        Seed of the resampling.
    align_trial_types : bool
        Shift uncued responses to the cued level (original analysis); only used with a DataArray that has
        a ``trial_type`` coordinate.

    Attributes
    ----------
    results_ : xarray.Dataset
        The full result of :func:`fit_cells` (over ``cell``).
    reversal_point_ : numpy.ndarray
        Reversal point of each cell (µl).
    reversal_point_utility_ : numpy.ndarray
        Reversal point of each cell on the utility axis (spikes/s).
    asymmetry_ : numpy.ndarray
        Asymmetry tau = a+ / (a+ + a-) of each cell (volume axis; dimensionless).
    n_features_in_ : int
        Number of cells.

    Examples
    --------
    Two cells with reversal points at 1 and 5 µl, the second twice as steep above it as below:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> volume = np.repeat([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0], 60)
    >>> reversal, slope_above, slope_below = np.array([1.0, 5.0]), np.array([1.0, 2.0]), 1.0
    >>> above = volume[:, None] > reversal
    >>> X = np.where(above, slope_above, slope_below) * (volume[:, None] - reversal)
    >>> X = X + rng.normal(0.0, 0.5, X.shape)
    >>> est = ReversalPointEstimator(method="model", n_bootstrap=0).fit(X, volume)
    >>> est.n_features_in_, est.reversal_point_.round(1).tolist(), est.asymmetry_.round(2).tolist()
    (2, [1.0, 5.0], [0.49, 0.67])
    """

    def __init__(self, method: str = "counting", n_bootstrap: int = 200, ci: float = 0.95,
                 seed: int | None = 0, align_trial_types: bool = True) -> None:
        self.method = method
        self.n_bootstrap = n_bootstrap
        self.ci = ci
        self.seed = seed
        self.align_trial_types = align_trial_types

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True      # y: the reward volume of each trial
        tags.input_tags.allow_nan = True      # NaN: cell not recorded on that trial
        return tags

    def fit(self, X, y=None) -> ReversalPointEstimator:
        """Fit every cell.

        Parameters
        ----------
        X : array-like of shape (n_trials, n_cells) or xarray.DataArray
            Responses (spikes/s); or ``responses(cell, trial)`` with a ``reward_volume`` coordinate (then
            ``y`` is not used).
        y : array-like of shape (n_trials,)
            Reward volume of each trial (µl); required when ``X`` is a plain array.

        Returns
        -------
        ReversalPointEstimator
            The fitted estimator.
        """
        if isinstance(X, xr.DataArray):
            if set(X.dims) != {"cell", "trial"}:
                raise InvalidArgumentError(f"responses must have dims (cell, trial), got {X.dims}")
            responses = X
            self.n_features_in_ = int(X.sizes["cell"])
        else:
            from sklearn.utils.validation import validate_data

            if y is None:
                raise InvalidArgumentError(f"{type(self).__name__} requires y to be passed, but the target y "
                                           "is None (y: reward volume per trial, µl)")
            X, y = validate_data(self, X, y, dtype=np.float64, ensure_all_finite="allow-nan",
                                 y_numeric=True)
            if np.unique(y).size < 2:
                raise InvalidArgumentError(f"at least two different reward sizes are needed, got {X.shape[0]} "
                                           f"sample(s) with 1 reward size")
            responses = xr.DataArray(X.T, dims=("cell", "trial"),
                                     coords={"cell": np.arange(X.shape[1]), "trial": np.arange(X.shape[0]),
                                             "reward_volume": ("trial", y)})
        self.results_ = fit_cells(responses, method=self.method, n_bootstrap=self.n_bootstrap, ci=self.ci,
                                  seed=self.seed, align_trial_types=self.align_trial_types, split_half=False)
        self.reversal_point_ = self.results_["reversal_point"].to_numpy()
        self.reversal_point_utility_ = self.results_["reversal_point_utility"].to_numpy()
        self.asymmetry_ = self.results_["asymmetry"].to_numpy()
        return self
