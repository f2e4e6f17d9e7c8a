"""The two-photon brain-computer-interface (BCI) task of Francioni et al. (Nature, 2026).

A mouse rotates a visual grating with the activity of a handful of layer-5 neurons: the cursor is the mean
online ΔF/F of the ``P+`` neurons minus the mean online ΔF/F of the ``P-`` neurons; when it crosses a threshold
(the grating reaches the target orientation) the mouse gets a water reward. This module holds the task's
settings (the paper's defaults), the online ΔF/F and cursor, the day-by-day threshold calibration and the
cursor-to-grating mapping. Learning agents live in :mod:`neurorl.models.bci_learning`.

Defaults (from the paper's methods)
-----------------------------------
* 8 or 10 BCI neurons split at random into ``P+`` and ``P-`` (the rest of the field of view is ``P0``);
  imaging at 15.46 Hz per plane; closed-loop sessions of 41 min; 14 days.
* Online ΔF/F with F0 = 10th percentile of the previous 30 s; cursor = mean ΔF/F(P+) - mean ΔF/F(P-),
  averaged over the last 3 frames; grating angle from 0° (minimum of the baseline cursor) to 90° (the
  threshold) in 7 bins of 15°.
* Threshold calibrated on a ~12,000-frame passive baseline recorded before each session so that 50% of 200
  overlapping 435-frame pseudo-trials resampled from it succeed; later days re-use day 1's z-score
  (threshold = mean + z * sd of their own baseline cursor).
* Trial: 0.5 s grey screen, up to 28 s to reach the target; a hit freezes the grating for 2 s with a 4 µl
  reward 1 s after the hit, then 1 s black screen; a miss gives a 3 s timeout.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numba
import numpy as np

from ..errors import InvalidArgumentError

__all__ = [
    "BCITask",
    "Calibration",
    "assign_ensembles",
    "online_dff",
    "cursor_from_dff",
    "calibrate_threshold",
    "recalibrate_threshold",
    "grating_angle",
    "ENSEMBLE_LABELS",
]

#: Ensemble labels as stored (ASCII): neurons that must raise (P+), lower (P-) or are not read out (P0).
ENSEMBLE_LABELS: tuple[str, str, str] = ("P+", "P-", "P0")


@dataclass(frozen=True)
class BCITask:
    """Settings of the BCI task (defaults: Francioni et al. 2026 methods).

    Parameters
    ----------
    n_bci
        Number of BCI neurons (split at random, half ``P+`` and half ``P-``; an odd count gives ``P+`` one more).
    frame_rate_hz
        Imaging rate per plane (Hz).
    session_minutes
        Closed-loop session length (min), not counting the passive baseline.
    days
        Number of daily sessions.
    baseline_frames
        Frames of passive baseline recorded before each closed-loop session (threshold calibration).
    f0_window_s, f0_percentile
        Online F0: this percentile of the raw fluorescence over the previous ``f0_window_s`` seconds.
    cursor_smoothing_frames
        The cursor is the mean over this many most recent frames.
    angle_max_deg, angle_step_deg
        The grating turns from 0° to ``angle_max_deg`` (the target) in steps of ``angle_step_deg`` (7 bins).
    pseudo_trials, pseudo_trial_frames, target_success
        Calibration: this many overlapping pseudo-trials of this length, resampled from the baseline, succeed
        with probability ``target_success``.
    grey_s, response_max_s, freeze_s, reward_delay_s, black_s, timeout_s
        Trial timing (s): grey screen, maximum time to reach the target, grating freeze after a hit, reward
        delay after the hit, black screen after the freeze, timeout after a miss.
    reward_volume_ul
        Water reward per hit (µl).
    """

    n_bci: int = 10
    frame_rate_hz: float = 15.46
    session_minutes: float = 41.0
    days: int = 14
    baseline_frames: int = 12_000
    f0_window_s: float = 30.0
    f0_percentile: float = 10.0
    cursor_smoothing_frames: int = 3
    angle_max_deg: float = 90.0
    angle_step_deg: float = 15.0
    pseudo_trials: int = 200
    pseudo_trial_frames: int = 435
    target_success: float = 0.5
    grey_s: float = 0.5
    response_max_s: float = 28.0
    freeze_s: float = 2.0
    reward_delay_s: float = 1.0
    black_s: float = 1.0
    timeout_s: float = 3.0
    reward_volume_ul: float = 4.0

    def __post_init__(self) -> None:
        if int(self.n_bci) < 2:
            raise InvalidArgumentError(f"n_bci must be at least 2 (one P+ and one P-), got {self.n_bci}")
        if not self.frame_rate_hz > 0:
            raise InvalidArgumentError(f"frame_rate_hz must be positive, got {self.frame_rate_hz}")
        if not self.session_minutes > 0:
            raise InvalidArgumentError(f"session_minutes must be positive, got {self.session_minutes}")
        if int(self.days) < 1:
            raise InvalidArgumentError(f"days must be at least 1, got {self.days}")
        if self.baseline_frames < self.f0_window_frames + self.pseudo_trial_frames + 10:
            raise InvalidArgumentError(
                f"baseline_frames ({self.baseline_frames}) must exceed the F0 window ({self.f0_window_frames}) "
                f"plus one pseudo-trial ({self.pseudo_trial_frames})")
        if not 0 < self.target_success < 1:
            raise InvalidArgumentError(f"target_success must be in (0, 1), got {self.target_success}")
        if not 0 <= self.f0_percentile <= 100:
            raise InvalidArgumentError(f"f0_percentile must be in [0, 100], got {self.f0_percentile}")

    # -- derived quantities (frames) ---------------------------------------------------------------------
    def frames(self, seconds: float) -> int:
        """Number of frames in ``seconds`` (rounded, at least 1)."""
        return max(1, int(round(seconds * self.frame_rate_hz)))

    @property
    def dt_s(self) -> float:
        """Frame period (s)."""
        return 1.0 / self.frame_rate_hz

    @property
    def f0_window_frames(self) -> int:
        """Online-F0 window (frames)."""
        return self.frames(self.f0_window_s)

    @property
    def session_frames(self) -> int:
        """Closed-loop frames per session."""
        return self.frames(self.session_minutes * 60.0)

    @property
    def n_angle_bins(self) -> int:
        """Number of grating orientations shown (7 with the defaults: 0°, 15°, ..., 90°)."""
        return int(round(self.angle_max_deg / self.angle_step_deg)) + 1

    def as_dict(self) -> dict:
        """Settings as a plain dict (for attrs / file metadata)."""
        return asdict(self)


@dataclass(frozen=True)
class Calibration:
    """Threshold calibration of one day.

    Attributes
    ----------
    threshold
        Cursor value (ΔF/F units) the cursor must reach.
    cursor_min
        Cursor value mapped to 0° (minimum of the baseline cursor).
    baseline_mean, baseline_std
        Mean and standard deviation of the baseline cursor (after the F0 warm-up).
    threshold_z
        ``(threshold - baseline_mean) / baseline_std``; day 1's value is re-used on later days.
    pseudo_success
        Fraction of the pseudo-trials that reach ``threshold`` (0.5 by construction on day 1).
    """

    threshold: float
    cursor_min: float
    baseline_mean: float
    baseline_std: float
    threshold_z: float
    pseudo_success: float


def assign_ensembles(n_neurons: int, n_bci: int, seed: int | np.random.Generator | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``n_bci`` of ``n_neurons`` at random and split them into ``P+`` and ``P-``.

    Parameters
    ----------
    n_neurons
        Neurons in the field of view (BCI neurons included).
    n_bci
        BCI neurons; ``ceil(n_bci / 2)`` become ``P+``, the rest ``P-``.
    seed
        Random seed or generator.

    Returns
    -------
    ensemble : numpy.ndarray
        ``(n_neurons,)`` ASCII labels ``'P+'``, ``'P-'``, ``'P0'``.
    bci_weight : numpy.ndarray
        ``(n_neurons,)`` readout weights: ``+1/n_plus`` for P+, ``-1/n_minus`` for P-, 0 for P0, so that the
        cursor is ``sum(bci_weight * dff)``.
    """
    if n_bci < 2 or n_bci > n_neurons:
        raise InvalidArgumentError(f"need 2 <= n_bci <= n_neurons, got n_bci={n_bci}, n_neurons={n_neurons}")
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(n_neurons)[:n_bci]
    n_plus = (n_bci + 1) // 2
    ensemble = np.full(n_neurons, "P0", dtype="<U2")
    ensemble[chosen[:n_plus]] = "P+"
    ensemble[chosen[n_plus:]] = "P-"
    weight = np.zeros(n_neurons)
    weight[ensemble == "P+"] = 1.0 / n_plus
    weight[ensemble == "P-"] = -1.0 / (n_bci - n_plus)
    return ensemble, weight


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
def _online_dff_kernel(fluor, window, q):  # pragma: no cover - compiled
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
            f0 = window_percentile(vals, lo, hi, st, q)
            out[t, c] = (fluor[t, c] - f0) / f0
    return out


def online_dff(fluorescence: np.ndarray, frame_rate_hz: float = 15.46, window_s: float = 30.0,
               percentile: float = 10.0) -> np.ndarray:
    """Online ΔF/F as the BCI computes it: F0 = ``percentile`` of the last ``window_s`` seconds (current frame included).

    Parameters
    ----------
    fluorescence
        ``(frames,)`` or ``(frames, cells)`` raw fluorescence (positive, arbitrary units).
    frame_rate_hz, window_s, percentile
        Frame rate (Hz), F0 window (s) and percentile (0..100). Before the window has filled, the frames seen so
        far are used.

    Returns
    -------
    numpy.ndarray
        ΔF/F = (F - F0) / F0, same shape as the input (float64).

    Examples
    --------
    >>> online_dff(np.array([1.0, 1.0, 2.0, 1.0]), frame_rate_hz=1.0, window_s=3.0, percentile=0.0)
    array([0., 0., 1., 0.])
    """
    fluor = np.asarray(fluorescence, dtype=np.float64)
    squeeze = fluor.ndim == 1
    if squeeze:
        fluor = fluor[:, None]
    if fluor.ndim != 2:
        raise InvalidArgumentError(f"fluorescence must be (frames,) or (frames, cells), got {fluor.shape}")
    if np.any(fluor <= 0):
        raise InvalidArgumentError("raw fluorescence must be positive")
    window = max(1, int(round(window_s * frame_rate_hz)))
    out = _online_dff_kernel(np.ascontiguousarray(fluor), window, float(percentile))
    return out[:, 0] if squeeze else out


def cursor_from_dff(dff: np.ndarray, bci_weight: np.ndarray, smoothing_frames: int = 3) -> np.ndarray:
    """Cursor = mean ΔF/F(P+) - mean ΔF/F(P-), averaged over the last ``smoothing_frames`` frames.

    Parameters
    ----------
    dff
        ``(frames, neurons)`` online ΔF/F.
    bci_weight
        ``(neurons,)`` readout weights (``+1/n_plus``, ``-1/n_minus``, 0), see :func:`assign_ensembles`.
    smoothing_frames
        Causal boxcar length (frames); the first frames average over the frames available.

    Returns
    -------
    numpy.ndarray
        ``(frames,)`` cursor (ΔF/F units).
    """
    raw = np.asarray(dff, dtype=np.float64) @ np.asarray(bci_weight, dtype=np.float64)
    csum = np.cumsum(np.concatenate([[0.0], raw]))
    k = int(smoothing_frames)
    idx = np.arange(1, raw.size + 1)
    lo = np.maximum(idx - k, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


def _baseline_stats(cursor: np.ndarray, warmup: int) -> tuple[np.ndarray, float, float, float]:
    usable = np.asarray(cursor, dtype=np.float64)[warmup:]
    usable = usable[np.isfinite(usable)]
    if usable.size < 10:
        raise InvalidArgumentError("the baseline is too short to calibrate the threshold")
    return usable, float(usable.mean()), float(usable.std()), float(usable.min())


def calibrate_threshold(baseline_cursor: np.ndarray, task: BCITask | None = None,
                        seed: int | np.random.Generator | None = None) -> Calibration:
    """Day-1 calibration: the threshold at which ``target_success`` of the pseudo-trials succeed.

    ``task.pseudo_trials`` windows of ``task.pseudo_trial_frames`` frames start at random positions in the
    baseline (after the first F0 window, while the online F0 warms up; windows overlap). A pseudo-trial succeeds
    when its cursor reaches the threshold at any frame, so the threshold is the window maximum that the
    closest to ``target_success`` of the windows reach (the ``1 - target_success`` quantile of the maxima,
    up to ties between overlapping windows).

    Parameters
    ----------
    baseline_cursor
        ``(frames,)`` cursor during the passive baseline.
    task
        Task settings (defaults if None).
    seed
        Random seed or generator for the pseudo-trial positions.

    Returns
    -------
    Calibration
    """
    task = task or BCITask()
    rng = np.random.default_rng(seed)
    cursor = np.asarray(baseline_cursor, dtype=np.float64)
    warmup = min(task.f0_window_frames, max(0, cursor.size - task.pseudo_trial_frames - 1))
    usable, mean, std, cmin = _baseline_stats(cursor, warmup)
    length = min(task.pseudo_trial_frames, usable.size)
    starts = rng.integers(0, usable.size - length + 1, size=task.pseudo_trials)
    windows = np.lib.stride_tricks.sliding_window_view(usable, length)
    maxima = windows[starts].max(axis=1)
    # overlapping windows share maxima (ties), so pick the window maximum whose success rate is closest
    candidates = np.unique(maxima)
    rates = 1.0 - np.searchsorted(np.sort(maxima), candidates, side="left") / maxima.size
    best = int(np.argmin(np.abs(rates - task.target_success)))
    threshold = float(candidates[best])
    success = float(np.mean(maxima >= threshold))
    z = (threshold - mean) / std if std > 0 else 0.0
    return Calibration(threshold=threshold, cursor_min=cmin, baseline_mean=mean, baseline_std=std,
                       threshold_z=float(z), pseudo_success=success)


def recalibrate_threshold(baseline_cursor: np.ndarray, threshold_z: float, task: BCITask | None = None,
                          seed: int | np.random.Generator | None = None) -> Calibration:
    """Later days: threshold = mean + ``threshold_z`` x sd of this day's own baseline cursor (day 1's z-score).

    ``pseudo_success`` reports how many of this day's pseudo-trials would reach that threshold. It is 0.5 on
    average but not on each day: a z-score fixes the threshold relative to the baseline's mean and sd, not
    to the distribution of 28-s window maxima, so the day's calibrated success rate varies around 0.5
    (measured with the simulator, rule ``none``, 10 BCI neurons, seeds 0-7, days 2-4: 0.32-0.68, mean 0.49).
    A day-to-day dip of accuracy that every rule shows under one seed (the rules share the population and
    the day's random numbers) is such a draw, by design: seed 0's day 2 has pseudo_success 0.455 and accuracy
    0.39 under ``none``, while over seeds 0-11 (300 P0 + 10 BCI neurons) the mean accuracy of days 1, 2, 3 is
    0.491, 0.484, 0.477.
    """
    task = task or BCITask()
    rng = np.random.default_rng(seed)
    cursor = np.asarray(baseline_cursor, dtype=np.float64)
    warmup = min(task.f0_window_frames, max(0, cursor.size - task.pseudo_trial_frames - 1))
    usable, mean, std, cmin = _baseline_stats(cursor, warmup)
    threshold = mean + float(threshold_z) * std
    length = min(task.pseudo_trial_frames, usable.size)
    starts = rng.integers(0, usable.size - length + 1, size=task.pseudo_trials)
    maxima = np.lib.stride_tricks.sliding_window_view(usable, length)[starts].max(axis=1)
    return Calibration(threshold=float(threshold), cursor_min=cmin, baseline_mean=mean, baseline_std=std,
                       threshold_z=float(threshold_z), pseudo_success=float(np.mean(maxima >= threshold)))


def grating_angle(cursor: np.ndarray | float, cursor_min: float, threshold: float,
                  task: BCITask | None = None) -> np.ndarray:
    """Map the cursor to the grating orientation (degrees): 0° at ``cursor_min``, 90° at ``threshold``.

    The orientation moves in ``task.angle_step_deg`` steps (7 orientations, 0°..90°): the fraction of the way
    from ``cursor_min`` to ``threshold`` is floored to a sixth, so 90° is shown only at (or past) the threshold.

    Examples
    --------
    >>> grating_angle(np.array([-1.0, 0.0, 0.5, 0.99, 1.0, 2.0]), 0.0, 1.0)
    array([ 0.,  0., 45., 75., 90., 90.])
    """
    task = task or BCITask()
    steps = task.n_angle_bins - 1
    span = threshold - cursor_min
    frac = (np.asarray(cursor, dtype=np.float64) - cursor_min) / (span if span > 0 else 1.0)
    bins = np.clip(np.floor(frac * steps + 1e-9), 0, steps)
    return bins * task.angle_step_deg
