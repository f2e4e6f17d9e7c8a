"""Numba kernels of the tasks: the rig's online ΔF/F (an exact running percentile over a sliding window).

Called by :mod:`neurorl.tasks.bci` (and the BCI simulator's kernels in :mod:`neurorl.models._jitted`).
"""

from __future__ import annotations

import math

import numba
import numpy as np


# --------------------------------------------------------------------------------------------------------
# Online ΔF/F: exact running percentile over a sliding window with two indexed heaps (O(log window) per frame).
# State of one window: ``vals`` (ring of the last ``size`` values), ``lo`` (max-heap of ring slots holding the
# k+1 smallest values), ``hi`` (min-heap of the others), ``where`` (slot -> heap position; >= 0 in ``lo``,
# -(pos+1) in ``hi``) and ``st = [head, count, lo_size, hi_size]``.
# --------------------------------------------------------------------------------------------------------
@numba.njit(cache=True, nogil=True, inline="always")
def _prio(vals, slot, is_lo):  # pragma: no cover - compiled
    return vals[slot] if is_lo else -vals[slot]


@numba.njit(cache=True, nogil=True, inline="always")
def _put(heap, where, pos, slot, is_lo):  # pragma: no cover - compiled
    heap[pos] = slot
    where[slot] = pos if is_lo else -pos - 1


@numba.njit(cache=True, nogil=True)
def _sift_up(heap, where, vals, pos, is_lo):  # pragma: no cover - compiled
    slot = heap[pos]
    key = _prio(vals, slot, is_lo)
    while pos > 0:
        parent = (pos - 1) // 2
        if key > _prio(vals, heap[parent], is_lo):
            _put(heap, where, pos, heap[parent], is_lo)
            pos = parent
        else:
            break
    _put(heap, where, pos, slot, is_lo)


@numba.njit(cache=True, nogil=True)
def _sift_down(heap, where, vals, pos, size, is_lo):  # pragma: no cover - compiled
    slot = heap[pos]
    key = _prio(vals, slot, is_lo)
    while True:
        child = 2 * pos + 1
        if child >= size:
            break
        if child + 1 < size and _prio(vals, heap[child + 1], is_lo) > _prio(vals, heap[child], is_lo):
            child += 1
        if _prio(vals, heap[child], is_lo) > key:
            _put(heap, where, pos, heap[child], is_lo)
            pos = child
        else:
            break
    _put(heap, where, pos, slot, is_lo)


@numba.njit(cache=True, nogil=True)
def _heap_delete(heap, where, vals, pos, size, is_lo):  # pragma: no cover - compiled
    """Remove the entry at ``pos``; return the new size."""
    size -= 1
    if pos != size:
        _put(heap, where, pos, heap[size], is_lo)
        _sift_down(heap, where, vals, pos, size, is_lo)
        _sift_up(heap, where, vals, pos, is_lo)
    return size


@numba.njit(cache=True, nogil=True)
def _heap_insert(heap, where, vals, slot, size, is_lo):  # pragma: no cover - compiled
    _put(heap, where, size, slot, is_lo)
    _sift_up(heap, where, vals, size, is_lo)
    return size + 1


@numba.njit(cache=True, nogil=True)
def window_push(vals, lo, hi, where, st, value, q):  # pragma: no cover - compiled
    """Add ``value`` to a sliding window (dropping the oldest when full), keeping the ``q``-percentile split."""
    size = vals.shape[0]
    head, count, nlo, nhi = st[0], st[1], st[2], st[3]
    if count == size:
        slot = head
        w = where[slot]
        if w >= 0:
            nlo = _heap_delete(lo, where, vals, w, nlo, True)
        else:
            nhi = _heap_delete(hi, where, vals, -w - 1, nhi, False)
        head = (head + 1) % size
        count -= 1
    else:
        slot = (head + count) % size
    vals[slot] = value
    count += 1
    if nlo > 0 and value <= vals[lo[0]]:
        nlo = _heap_insert(lo, where, vals, slot, nlo, True)
    else:
        nhi = _heap_insert(hi, where, vals, slot, nhi, False)
    target = int(math.floor(q / 100.0 * (count - 1))) + 1
    while nlo > target:
        top = lo[0]
        nlo = _heap_delete(lo, where, vals, 0, nlo, True)
        nhi = _heap_insert(hi, where, vals, top, nhi, False)
    while nlo < target:
        top = hi[0]
        nhi = _heap_delete(hi, where, vals, 0, nhi, False)
        nlo = _heap_insert(lo, where, vals, top, nlo, True)
    st[0], st[1], st[2], st[3] = head, count, nlo, nhi


@numba.njit(cache=True, nogil=True)
def window_percentile(vals, lo, hi, st, q):  # pragma: no cover - compiled
    """Linear-interpolated percentile ``q`` (0..100) of the current window (as ``numpy.percentile``)."""
    count = st[1]
    pos = q / 100.0 * (count - 1)
    frac = pos - math.floor(pos)
    below = vals[lo[0]]
    if frac <= 0.0 or st[3] == 0:
        return below
    return below * (1.0 - frac) + vals[hi[0]] * frac


@numba.njit(cache=True)
def running_percentile(fluor, window, q):  # pragma: no cover - compiled
    """Return the ``q``-th percentile of each column over the last ``window`` frames (fewer at the start)."""
    n_frames, n_cells = fluor.shape
    out = np.empty((n_frames, n_cells), dtype=np.float64)
    for c in range(n_cells):
        vals = np.empty(window)
        lo = np.empty(window, dtype=np.int64)
        hi = np.empty(window, dtype=np.int64)
        where = np.empty(window, dtype=np.int64)
        st = np.zeros(4, dtype=np.int64)
        for t in range(n_frames):
            window_push(vals, lo, hi, where, st, fluor[t, c], q)
            out[t, c] = window_percentile(vals, lo, hi, st, q)
    return out
