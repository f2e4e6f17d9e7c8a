"""Numba kernels of the analysis layer, all in one module (imported lazily; callers fall back to numpy without numba).

- :func:`model_fit_rows`: reversal-point fit of the dopamine responses (:mod:`neurorl.analysis.reversal`).
- :func:`expectile_objective`: loss and gradient of expectile imputation (:mod:`neurorl.analysis.decoding`).
- :func:`plain_unit_rates`, :func:`is_sorted`: spike counts in the response and baseline windows
  (:mod:`neurorl.analysis.responses`).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _side_gain(r, s0, s1, n0, n1, n2):
    a = s1 - r * s0
    b = n2 - 2.0 * r * n1 + r * r * n0
    if b > 1e-12:
        return a * a / b
    return 0.0


@numba.njit(cache=True, inline="always")
def _gain(r, c, m):
    return (_side_gain(r, c[0, m], c[1, m], c[2, m], c[3, m], c[4, m])
            + _side_gain(r, c[5, m], c[6, m], c[7, m], c[8, m], c[9, m]))


@numba.njit(cache=True, inline="always")
def _accumulate(sums, s_k, n_k, x_k):
    """Add one reward size's sufficient statistics: Σs, Σs·x, Σn, Σn·x, Σn·x²."""
    sums[0] += s_k
    sums[1] += s_k * x_k
    sums[2] += n_k
    sums[3] += n_k * x_k
    sums[4] += n_k * x_k * x_k


@numba.njit(cache=True, parallel=True)
def model_fit_rows(s, n, x, grid_per_interval, iterations):
    """Kink location maximising the piecewise-linear least-squares profile, per row.

    Parameters
    ----------
    s, n
        (rows, J) weighted response sums and weights per reward size, sizes sorted by ``x``.
    x
        (J,) sorted axis values.
    grid_per_interval, iterations
        Coarse grid points per interval between sizes; golden-section iterations per sub-bracket.

    Returns
    -------
    numpy.ndarray
        (rows,) reversal points in ``[x[0], x[-1]]``.
    """
    rows, j = s.shape
    out = np.empty(rows)
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    n_grid = (j - 1) * grid_per_interval + 1
    for row in numba.prange(rows):
        # cumulative coefficients per interval m: − side = sizes <= m, + side = sizes > m
        c = np.zeros((10, j - 1))
        tot = np.zeros(5)
        for k in range(j):
            _accumulate(tot, s[row, k], n[row, k], x[k])
        left = np.zeros(5)
        for m in range(j - 1):
            _accumulate(left, s[row, m], n[row, m], x[m])
            for q in range(5):
                c[q, m] = left[q]
                c[5 + q, m] = tot[q] - left[q]
        # coarse grid
        best_value = x[0]
        best_gain = -1.0
        best_index = 0
        for g in range(n_grid):
            m = min(g // grid_per_interval, j - 2)
            if g == n_grid - 1:
                r = x[j - 1]
            else:
                r = x[m] + (g - m * grid_per_interval) / grid_per_interval * (x[m + 1] - x[m])
            value = _gain(r, c, m)
            if value > best_gain:
                best_gain = value
                best_value = r
                best_index = g
        # golden-section refinement in the grid cells on either side of the best grid point
        for side in range(2):
            k = best_index - 1 if side == 0 else best_index
            if k < 0 or k > n_grid - 2:
                continue
            m = min(k // grid_per_interval, j - 2)
            lo = x[m] + (k - m * grid_per_interval) / grid_per_interval * (x[m + 1] - x[m])
            if k + 1 == n_grid - 1:
                hi = x[j - 1]
            else:
                m1 = min((k + 1) // grid_per_interval, j - 2)
                hi = x[m1] + (k + 1 - m1 * grid_per_interval) / grid_per_interval * (x[m1 + 1] - x[m1])
            p = hi - golden * (hi - lo)
            q = lo + golden * (hi - lo)
            fp = _gain(p, c, m)
            fq = _gain(q, c, m)
            for _ in range(iterations):
                if fp >= fq:
                    hi = q
                    q = p
                    fq = fp
                    p = hi - golden * (hi - lo)
                    fp = _gain(p, c, m)
                else:
                    lo = p
                    p = q
                    fp = fq
                    q = lo + golden * (hi - lo)
                    fq = _gain(q, c, m)
            r = 0.5 * (lo + hi)
            value = _gain(r, c, m)
            if value > best_gain:
                best_gain = value
                best_value = r
        out[row] = best_value
    return out


@numba.njit(cache=True, parallel=True)
def permuted_median_r(tau, reversal, tau_ok, orders):
    """Median over splits of Pearson's r between ``tau`` and ``reversal`` with the cells of ``reversal``
    permuted, for every permutation.

    Parameters
    ----------
    tau, reversal
        (S, C) per split and cell; NaN in ``reversal`` leaves the pair out.
    tau_ok
        (S, C) bool: cells whose ``tau`` counts in that split.
    orders
        (P, C) permutations: cell ``c`` is paired with ``reversal[:, orders[k, c]]``.

    Returns
    -------
    numpy.ndarray
        (P,) the median over splits (NaN splits left out) of r under each permutation; r as
        :func:`neurorl._stats.pearson_r` (two passes, clipped to [-1, 1], NaN with fewer than 3 pairs).
    """
    n_perm, n_cells = orders.shape
    n_splits = tau.shape[0]
    out = np.empty(n_perm)
    for k in numba.prange(n_perm):
        rs = np.empty(n_splits)
        m = 0
        for s in range(n_splits):
            n = 0
            sum_a = 0.0
            sum_b = 0.0
            for c in range(n_cells):
                b = reversal[s, orders[k, c]]
                if tau_ok[s, c] and math.isfinite(b):
                    n += 1
                    sum_a += tau[s, c]
                    sum_b += b
            if n <= 2:
                continue
            mean_a = sum_a / n
            mean_b = sum_b / n
            ab = 0.0
            aa = 0.0
            bb = 0.0
            for c in range(n_cells):
                b = reversal[s, orders[k, c]]
                if tau_ok[s, c] and math.isfinite(b):
                    da = tau[s, c] - mean_a
                    db = b - mean_b
                    ab += da * db
                    aa += da * da
                    bb += db * db
            r = ab / math.sqrt(aa * bb)
            if math.isfinite(r):
                rs[m] = min(1.0, max(-1.0, r))
                m += 1
        if m == 0:
            out[k] = np.nan
        else:
            out[k] = np.median(rs[:m])
    return out


@numba.njit(cache=True, nogil=True)
def expectile_objective(z, targets, taus, delta):  # pragma: no cover - compiled
    """Expectile-imputation loss per restart and its gradient with respect to the samples.

    Parameters
    ----------
    z
        Samples, shape (restart, sample), in scaled reward units.
    targets, taus
        Each cell's reversal point (scaled units) and asymmetry, sorted by ``targets`` ascending.
    delta
        Huber threshold; negative for plain least squares.

    Returns
    -------
    per_restart : (restart,) array
        Mean over cells of the Huber penalty of the expectile balance ``g``.
    grad : (restart, sample) array
        Its gradient; O(N log N + C) per restart via prefix sums.

    Notes
    -----
    The samples at or below each target are counted by one merge pass over the sorted samples and the sorted
    targets (the counts a binary search per target gives); each cell's balance, penalty and slope are then
    computed without branches (a loop the compiler vectorises), and the sums over cells are taken afterwards
    in cell order. Every floating-point operation is the one of the plain per-cell loop, in the same order,
    so the results are the same to the bit.
    """
    n_restarts, n_samples = z.shape
    n_cells = targets.size
    per_restart = np.zeros(n_restarts)
    grad = np.zeros((n_restarts, n_samples))
    slope = np.empty(n_cells)
    penalty = np.empty(n_cells)
    count = np.empty(n_cells, dtype=np.int64)
    prefix = np.empty(n_samples + 1)
    slope_prefix = np.empty(n_cells + 1)
    robust = delta >= 0
    for r in range(n_restarts):
        zs = np.sort(z[r])
        prefix[0] = 0.0
        for j in range(n_samples):
            prefix[j + 1] = prefix[j] + zs[j]
        total = prefix[n_samples]
        k = 0                                               # samples <= e (targets ascending: k never falls)
        for c in range(n_cells):
            while k < n_samples and zs[k] <= targets[c]:
                k += 1
            count[c] = k
        for c in range(n_cells):
            e, t, k = targets[c], taus[c], count[c]
            below = prefix[k] - k * e
            above = (total - prefix[k]) - (n_samples - k) * e
            g = ((1.0 - t) * below + t * above) / n_samples
            inside = not robust or abs(g) <= delta
            penalty[c] = 0.5 * g * g if inside else delta * (abs(g) - 0.5 * delta)
            slope[c] = g if inside else (delta if g > 0 else -delta)
        loss = 0.0
        base = 0.0
        slope_prefix[0] = 0.0
        for c in range(n_cells):
            loss += penalty[c]
            base += slope[c] * (1.0 - taus[c])
            slope_prefix[c + 1] = slope_prefix[c] + slope[c] * (2.0 * taus[c] - 1.0)
        for j in range(n_samples):
            m = np.searchsorted(targets, z[r, j], side="left")  # cells with e < z
            grad[r, j] = (base + slope_prefix[m]) / (n_cells * n_samples)
        per_restart[r] = loss / n_cells
    return per_restart, grad


# ------------------------------------------------------------------------------------ spike counts in windows
@numba.njit(cache=True, nogil=True)
def is_sorted(values):  # pragma: no cover - compiled
    """Whether ``values`` is in non-decreasing order (NaN anywhere: False)."""
    for i in range(values.size):
        if not values[i] == values[i]:
            return False
        if i and values[i] < values[i - 1]:
            return False
    return True


@numba.njit(cache=True, nogil=True, inline="always")
def _search_left(values, x, hint):  # pragma: no cover - compiled
    """First index i with values[i] >= x, as ``np.searchsorted(values, x, side="left")``.

    Galloping from ``hint``: O(log distance) where the queries come in time order, as trials do.
    """
    n = values.size
    if hint > n:
        hint = n
    if hint > 0 and values[hint - 1] >= x:       # answer left of the hint: gallop down
        step = 1
        hi = hint - 1
        lo = hi - step
        while lo > 0 and values[lo] >= x:
            hi = lo
            step *= 2
            lo = hi - step
        if lo < 0:
            lo = 0
        # values[hi] >= x; answer in [lo, hi]
    else:                                        # answer at or right of the hint: gallop up
        lo = hint
        step = 1
        hi = lo + step
        while hi < n and values[hi] < x:
            lo = hi
            step *= 2
            hi = lo + step
        if hi > n:
            hi = n
        # answer in [lo, hi]
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@numba.njit(cache=True, nogil=True)
def plain_unit_rates(spikes, align, base, window_s0, window_s1, baseline_s0, baseline_s1, window_ms, baseline_ms,
                     max_silence_s):  # pragma: no cover - compiled
    """One unit's plain-count responses, as ``responses._rates_plain`` + the silence cut + ``_counts_rate``.

    ``spikes`` sorted (s); ``align`` / ``base`` the trials' align and baseline events (s); windows in s
    (``window_ms`` / ``baseline_ms`` their rounded lengths); ``max_silence_s`` <= 0: no silence cut.
    Returns (rates (spikes/s, NaN where the unit was not observed), baseline-window rates (spikes/s)).
    Every count is the same half-open ``[a, b)`` search as numpy's ``searchsorted(side="left")`` and the
    arithmetic is the numpy code's, operation for operation, so the results are bit-identical.
    """
    n_trials = align.size
    n = spikes.size
    rates = np.empty(n_trials)
    level = np.empty(n_trials)
    # observed pieces: cut at silences longer than max_silence_s, widened by min(5 mean ISI, max_silence_s)
    n_pieces = 1
    if max_silence_s > 0 and n > 0:
        for i in range(1, n):
            if spikes[i] - spikes[i - 1] > max_silence_s:
                n_pieces += 1
    starts = np.empty(n_pieces)
    ends = np.empty(n_pieces)
    if max_silence_s > 0 and n > 0:
        mean_isi = (spikes[n - 1] - spikes[0]) / (n - 1) if n > 1 else np.inf
        pad = min(5.0 * mean_isi, max_silence_s)
        k = 0
        starts[0] = spikes[0]
        for i in range(1, n):
            if spikes[i] - spikes[i - 1] > max_silence_s:
                ends[k] = spikes[i - 1]
                k += 1
                starts[k] = spikes[i]
        ends[k] = spikes[n - 1]
        for k in range(n_pieces):
            starts[k] = starts[k] - pad
            ends[k] = ends[k] + pad
    h0 = h1 = h2 = h3 = 0
    for t in range(n_trials):
        w_lo = align[t] + window_s0
        w_hi = align[t] + window_s1
        b_lo = base[t] + baseline_s0
        b_hi = base[t] + baseline_s1
        h0 = _search_left(spikes, w_lo, h0)
        h1 = _search_left(spikes, w_hi, max(h1, h0) if w_hi >= w_lo else h1)
        h2 = _search_left(spikes, b_lo, h2)
        h3 = _search_left(spikes, b_hi, max(h3, h2) if b_hi >= b_lo else h3)
        rates[t] = (h1 - h0) * 1000.0 / window_ms - (h3 - h2) * 1000.0 / baseline_ms
        level[t] = (h3 - h2) / (b_hi - b_lo)
        if max_silence_s > 0:
            if n == 0:
                rates[t] = np.nan
                continue
            end = max(w_hi, b_hi)
            # the last piece starting at or before b_lo (searchsorted(starts, b_lo, side="right") - 1)
            piece = -1
            lo, hi = 0, n_pieces
            while lo < hi:
                mid = (lo + hi) // 2
                if starts[mid] <= b_lo:
                    lo = mid + 1
                else:
                    hi = mid
            piece = lo - 1
            if piece < 0 or not end <= ends[piece]:
                rates[t] = np.nan
    return rates, level


# ------------------------------------------------------------------------ reversal-point estimators, row-wise
@numba.njit(cache=True, nogil=True, inline="always")
def _numpy_sum(values, n):  # pragma: no cover - compiled
    """``values[:n].sum()`` in numpy's order for a contiguous last-axis reduction (pairwise: sequential below
    8 terms, 8 running sums from 8 to 128 terms), so that the kernels below give numpy's numbers bit for bit;
    ``n`` <= 128 (reward sizes)."""
    if n < 8:
        total = -0.0
        for i in range(n):
            total += values[i]
        return total
    r0, r1, r2, r3 = values[0], values[1], values[2], values[3]
    r4, r5, r6, r7 = values[4], values[5], values[6], values[7]
    i = 8
    end = n - n % 8
    while i < end:
        r0 += values[i]
        r1 += values[i + 1]
        r2 += values[i + 2]
        r3 += values[i + 3]
        r4 += values[i + 4]
        r5 += values[i + 5]
        r6 += values[i + 6]
        r7 += values[i + 7]
        i += 8
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        total += values[i]
        i += 1
    return total


@numba.njit(cache=True, nogil=True)
def counting_rows(positive, negative, n, axes, low_caps, high_caps):  # pragma: no cover - compiled
    """The counting estimator (``reversal._counting``) for rows of per-size counts (rows, J).

    ``axes`` (A, J) the sizes on each axis, ``low_caps`` / ``high_caps`` (A,) the values of a point below the
    smallest / above the largest size. Returns (reversal (A, rows), censored (rows,)), the numpy code's numbers.
    """
    rows, j = positive.shape
    n_axes = axes.shape[0]
    value = np.empty((n_axes, rows))
    censored = np.zeros(rows, dtype=np.int64)
    crit = np.empty(j + 1)
    ties = np.empty(j + 1)
    w_low = np.empty(max(j - 1, 0))
    terms = np.empty(j + 1)
    for row in range(rows):
        running = 0.0
        crit[j] = 0.0
        for k in range(j - 1, -1, -1):          # suffix sums of the positive counts, from the top
            running += positive[row, k]
            crit[k] = running
        running = 0.0
        for k in range(1, j + 1):                # plus prefix sums of the negative counts
            running += negative[row, k - 1]
            crit[k] += running
        best = crit[0]
        for k in range(1, j + 1):
            if crit[k] > best:
                best = crit[k]
        n_ties = 0
        for k in range(j + 1):
            tied = abs(crit[k] - best) <= 1e-9
            ties[k] = 1.0 if tied else 0.0
            n_ties += 1 if tied else 0
        for k in range(1, j):
            d_low = crit[k] - crit[k - 1]
            d_high = crit[k] - crit[k + 1]
            total = d_low + d_high
            w_low[k - 1] = d_high / total if total > 0 else 0.5
        for k in range(j):
            terms[k] = n[row, k]
        empty = _numpy_sum(terms, j) == 0
        for a in range(n_axes):
            if empty:
                value[a, row] = np.nan
                continue
            terms[0] = low_caps[a] * ties[0]
            for k in range(1, j):
                terms[k] = (w_low[k - 1] * axes[a, k - 1] + (1.0 - w_low[k - 1]) * axes[a, k]) * ties[k]
            terms[j] = high_caps[a] * ties[j]
            value[a, row] = _numpy_sum(terms, j + 1) / n_ties
        if not empty and n_ties == 1:
            if ties[0] > 0:
                censored[row] = -1
            elif ties[j] > 0:
                censored[row] = 1
    return value, censored


@numba.njit(cache=True, nogil=True)
def slopes_rows(s, n, x, r):  # pragma: no cover - compiled
    """Slopes through the point (r, 0) above and below it (``reversal._slopes``) for rows (rows, J) of per-size
    sums; the numpy code's numbers. Returns (slope above, slope below), NaN where a side has no weight."""
    rows, j = s.shape
    above_ds = np.empty(j)
    above_nd2 = np.empty(j)
    below_ds = np.empty(j)
    below_nd2 = np.empty(j)
    slope_pos = np.empty(rows)
    slope_neg = np.empty(rows)
    for row in range(rows):
        for k in range(j):
            d = x[k] - r[row]
            ds = d * s[row, k]
            nd2 = n[row, k] * d * d
            up = 1.0 if d > 0 else 0.0
            down = 1.0 if d < 0 else 0.0
            above_ds[k] = ds * up
            above_nd2[k] = nd2 * up
            below_ds[k] = ds * down
            below_nd2[k] = nd2 * down
        a_pos, b_pos = _numpy_sum(above_ds, j), _numpy_sum(above_nd2, j)
        a_neg, b_neg = _numpy_sum(below_ds, j), _numpy_sum(below_nd2, j)
        slope_pos[row] = a_pos / b_pos if b_pos > 0 else np.nan
        slope_neg[row] = a_neg / b_neg if b_neg > 0 else np.nan
    return slope_pos, slope_neg
