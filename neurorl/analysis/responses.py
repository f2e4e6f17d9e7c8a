"""Reward responses of dopamine neurons: baseline-subtracted firing rates per cell and rewarded trial.

:func:`compute_responses` turns recordings (objects with ``session``, ``units`` and ``trials``, e.g.
:class:`neurorl.io.nwb.DopamineRecording`) into a labelled matrix ``responses(cell, trial)`` pooled over
sessions. The defaults follow the analysis of Dabney et al. (2020) on the Eshel / Uchida recordings:

* response = mean firing rate in the window 200–600 ms after ``reward_time``;
* baseline = mean firing rate in the 1 s before the trial's ``start_time`` (for cued trials that is
  before the odour, not before the reward);
* response − baseline, in spikes/s;
* optionally (``smoothing="original"``) each spike is smoothed exactly as the original MATLAB code did
  (1 ms bins, kernel (1 − e^(−t))·e^(−t/20), t = 0..50 ms, normalised; applied once causally per spike
  while counting, and once more as a centred convolution of the baseline-subtracted histogram).

A unit is only used on trials inside the span over which it was observed: the spike train is cut at
silences longer than ``max_silence_s`` (a lost unit stops firing; it does not fall silent for tens of
seconds otherwise) and a trial counts only if its baseline start and its window end lie in one piece.
``NaN`` marks a cell not recorded on a trial (other session, or outside its observed span).

:func:`align_trial_types` applies the original analysis' step of shifting uncued responses by one
population-wide constant so that their grand mean equals that of the cued responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InvalidArgumentError, MissingDataError

__all__ = ["compute_responses", "pool_responses", "skip_cells", "align_trial_types", "original_kernel", "SMOOTHING_OPTIONS",
           "MIN_TRIALS_PER_SIZE"]

#: Accepted values of ``smoothing``.
SMOOTHING_OPTIONS = (None, "original")

_KERNEL_TIME_CONSTANT_MS = 20.0
_KERNEL_LENGTH_MS = 50  # 0..2.5 * time constant, in 1 ms steps


def original_kernel() -> np.ndarray:
    """The original per-spike smoothing kernel on a 1 ms grid.

    Returns
    -------
    numpy.ndarray
        ``k[t] ∝ (1 − exp(−t)) · exp(−t / 20)`` for ``t = 0, 1, ..., 50`` ms, normalised to sum to 1.
        ``k[0] = 0`` (the kernel is causal and starts at zero).
    """
    t = np.arange(_KERNEL_LENGTH_MS + 1, dtype=float)
    kernel = (1.0 - np.exp(-t)) * np.exp(-t / _KERNEL_TIME_CONSTANT_MS)
    return kernel / kernel.sum()


def _composite_kernel() -> tuple[np.ndarray, int]:
    """Causal kernel followed by the centred ('same') convolution: weights and the first offset (ms)."""
    k = original_kernel()
    return np.convolve(k, k), -(_KERNEL_LENGTH_MS // 2)


def _matlab_round(x: np.ndarray) -> np.ndarray:
    """Round half away from zero, as MATLAB's ``round`` does."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def _kernel_mass(offsets: np.ndarray, kernel: np.ndarray, first: int, lo: int, hi: int) -> np.ndarray:
    """Mass of ``kernel`` (placed at integer bin ``offset + first``) that falls in bins ``lo..hi``."""
    cumulative = np.concatenate([[0.0], np.cumsum(kernel)])
    n = kernel.size
    start = np.clip(lo - offsets - first, 0, n)
    stop = np.clip(hi - offsets - first + 1, 0, n)
    return np.where(stop > start, cumulative[stop] - cumulative[np.minimum(start, stop)], 0.0)


def _observed_pieces(spikes: np.ndarray, max_silence_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Start and end times (s) of the observed pieces of a spike train.

    The train is cut at silences longer than ``max_silence_s``; each piece runs from its first to its last
    spike, widened on both sides by ``min(5 × mean inter-spike interval, max_silence_s)`` (a Poisson unit
    is silent that long with probability e^-5 ≈ 0.7%), so that trials just before the first or after the
    last spike of a piece still count.
    """
    if spikes.size == 0:
        return np.empty(0), np.empty(0)
    cut = np.flatnonzero(np.diff(spikes) > max_silence_s)
    starts = np.concatenate([spikes[:1], spikes[cut + 1]])
    ends = np.concatenate([spikes[cut], spikes[-1:]])
    mean_isi = (spikes[-1] - spikes[0]) / (spikes.size - 1) if spikes.size > 1 else np.inf
    pad = min(5.0 * mean_isi, max_silence_s)
    return starts - pad, ends + pad


def _in_one_piece(begin: np.ndarray, end: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Whether each interval [begin, end] lies within one observed piece [starts_k, ends_k]."""
    if starts.size == 0:
        return np.zeros(begin.shape, dtype=bool)
    piece = np.searchsorted(starts, begin, side="right") - 1
    valid = piece >= 0
    piece = np.clip(piece, 0, starts.size - 1)
    return valid & (end <= ends[piece])


def _rates_plain(spikes: np.ndarray, reward_time: np.ndarray, start_time: np.ndarray,
                 window_s: tuple[float, float], baseline_s: tuple[float, float]) -> np.ndarray:
    """Window rate minus baseline rate (spikes/s) from spike counts in half-open intervals [a, b)."""
    lo = np.searchsorted(spikes, reward_time + window_s[0], side="left")
    hi = np.searchsorted(spikes, reward_time + window_s[1], side="left")
    b_lo = np.searchsorted(spikes, start_time + baseline_s[0], side="left")
    b_hi = np.searchsorted(spikes, start_time + baseline_s[1], side="left")
    # counts x 1000 / duration in ms: exact for whole-ms windows (3 spikes / 400 ms = 7.5 spikes/s)
    window_ms = round((window_s[1] - window_s[0]) * 1000.0, 9)
    baseline_ms = round((baseline_s[1] - baseline_s[0]) * 1000.0, 9)
    return (hi - lo) * 1000.0 / window_ms - (b_hi - b_lo) * 1000.0 / baseline_ms


def _rates_original(spikes: np.ndarray, reward_time: np.ndarray, start_time: np.ndarray,
                    window_ms: tuple[int, int], baseline_ms: int) -> np.ndarray:
    """Rates as the original MATLAB pipeline computed them (1 ms bins, double smoothing), spikes/s."""
    causal = original_kernel()
    composite, composite_first = _composite_kernel()
    out = np.empty(reward_time.size)
    reach = (_KERNEL_LENGTH_MS * 2 + 2) / 1000.0
    w_lo, w_hi = window_ms[0], window_ms[1] - 1          # window bins (ms, inclusive)
    for i in range(reward_time.size):
        # response: spikes near the window, both smoothing passes (composite kernel, offset -25 ms)
        a = np.searchsorted(spikes, reward_time[i] + window_ms[0] / 1000.0 - reach)
        b = np.searchsorted(spikes, reward_time[i] + window_ms[1] / 1000.0 + reach)
        offsets = _matlab_round((spikes[a:b] - reward_time[i]) * 1000.0).astype(np.int64)
        response = _kernel_mass(offsets, composite, composite_first, w_lo, w_hi).sum()
        # baseline: causal smoothing only; spikes strictly after start - baseline (as the original window)
        a = np.searchsorted(spikes, start_time[i] - baseline_ms / 1000.0, side="right")
        b = np.searchsorted(spikes, start_time[i], side="left")
        offsets = _matlab_round((spikes[a:b] - start_time[i]) * 1000.0).astype(np.int64)
        baseline = _kernel_mass(offsets, causal, 0, -baseline_ms, -1).sum()
        out[i] = 1000.0 * (response / (w_hi - w_lo + 1) - baseline / baseline_ms)
    return out


def _window_means(cumulative: np.ndarray, times: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Mean of a sampled trace over [begin, end) per trial: (trials, channels); NaN where no sample falls inside."""
    lo = np.searchsorted(times, begin, side="left")
    hi = np.searchsorted(times, end, side="left")
    count = (hi - lo).astype(float)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, (cumulative[hi] - cumulative[lo]) / count, np.nan)


def compute_responses(
    recordings: Sequence[Any],
    *,
    window_ms: tuple[float, float] = (200.0, 600.0),
    baseline_ms: float = 1000.0,
    baseline_window_ms: tuple[float, float] | None = None,
    smoothing: str | None = None,
    trial_types: Sequence[str] | None = None,
    max_silence_s: float | None = 20.0,
    zscore: bool = False,
    spec: Any = None,
) -> xr.DataArray:
    """Baseline-subtracted reward responses per cell and rewarded trial, pooled over sessions.

    Parameters
    ----------
    recordings
        Sessions; each has ``session`` (str), ``units`` (DataFrame indexed by unit id with a
        ``spike_times`` column of arrays in s) and ``trials`` (DataFrame with ``start_time``,
        ``reward_time`` (s), ``reward_volume`` (µl, NaN = no reward), optionally ``trial_type``,
        ``align_time`` and ``baseline_time`` (s; default ``reward_time`` and ``start_time``)), e.g.
        :class:`neurorl.io.nwb.DopamineRecording`. A recording with ``signal == "dff"`` carries ``trace``
        (time, cell) and ``trace_times`` (s) instead of spike times.
    window_ms
        Response window (ms after the align event), half-open ``[start, stop)``. Default 200–600 ms.
    baseline_ms
        Baseline length (ms) immediately before the baseline event (``start_time``). Default 1000 ms.
    baseline_window_ms
        Baseline window (ms relative to the baseline event), half-open; overrides ``baseline_ms``
        (default ``(-baseline_ms, 0)``).
    smoothing
        ``None`` / ``"none"`` (spike counts in the windows) or ``"original"`` (the original analysis' spike
        smoothing; windows are then whole 1 ms bins, so they are rounded to integers, and the baseline window
        must end at the baseline event).
    trial_types
        Keep only trials whose ``trial_type`` is in this list (e.g. ``["cued", "uncued"]``); default all
        rewarded trials.
    max_silence_s
        A unit counts as observed on a trial only if the trial (baseline start to window end) lies in one
        piece of its spike train between silences longer than this (s), each piece widened by
        ``min(5 × mean inter-spike interval, max_silence_s)``; this drops trials after a unit was lost.
        ``None``: use every trial. Not used for traces.
    zscore
        Divide each cell's responses by the standard deviation over its trials of its baseline-window level
        (spikes/s or ΔF/F), so the responses are in baseline SDs and the zero crossing is unchanged.
    spec
        A :class:`neurorl.io.spec.RecordingSpec`; when given, its ``window_ms``, ``baseline_window_ms``,
        ``smoothing``, ``max_silence_s`` and ``zscore`` replace the arguments above.

    Returns
    -------
    xarray.DataArray
        ``responses(cell, trial)`` in spikes/s (ΔF/F for traces, baseline SDs when z-scored); NaN where the
        cell was not recorded on that trial. Coords: ``cell`` (``"session/unit"``), ``session``/``unit``/
        ``subject_id``/``n_spikes`` (over cell; ``n_spikes`` is -1 for traces), ``baseline_rate`` (spikes/s:
        the cell's mean rate in the baseline window over its trials, plain counts whatever the smoothing; NaN for
        traces) and any of ``unit_name``,
        ``electrodes``, ``location``, ``cell_type`` the units table has; ``trial`` (0..n-1 over the pooled
        rewarded trials), ``trial_session``, ``trial_id`` (index in its session's trials table),
        ``reward_volume`` (µl), ``trial_type``, ``reward_time`` (s, the align event). ``attrs`` hold the
        settings.

    Raises
    ------
    InvalidArgumentError
        Bad window, baseline or smoothing option.
    MissingDataError
        No recording, or no rewarded trial left after selection.

    Examples
    --------
    >>> import pandas as pd, numpy as np
    >>> from types import SimpleNamespace
    >>> units = pd.DataFrame({"spike_times": [np.array([0.5, 10.3, 10.4, 10.5])]}, index=[7])
    >>> trials = pd.DataFrame({"start_time": [10.0], "stop_time": [13.0], "reward_time": [10.0],
    ...                        "reward_volume": [2.5], "trial_type": ["uncued"]})
    >>> r = compute_responses([SimpleNamespace(session="s1", units=units, trials=trials)], max_silence_s=None)
    >>> float(r.sel(cell="s1/7").item())
    7.5
    """
    if spec is not None:
        window_ms, baseline_window_ms = spec.window_ms, spec.baseline_window_ms
        smoothing, max_silence_s, zscore = spec.smoothing, spec.max_silence_s, spec.zscore
    if smoothing == "none":
        smoothing = None
    window_ms = (float(window_ms[0]), float(window_ms[1]))
    if baseline_window_ms is None:
        baseline_ms = float(baseline_ms)
        if not baseline_ms > 0:
            raise InvalidArgumentError(f"baseline_ms must be positive, got {baseline_ms}")
        baseline_window_ms = (-baseline_ms, 0.0)
    baseline_window_ms = (float(baseline_window_ms[0]), float(baseline_window_ms[1]))
    if not window_ms[1] > window_ms[0]:
        raise InvalidArgumentError(f"window_ms must be (start, stop) with stop > start, got {window_ms}")
    if not baseline_window_ms[1] > baseline_window_ms[0]:
        raise InvalidArgumentError(f"baseline_window_ms must be (start, stop) with stop > start, got "
                                   f"{baseline_window_ms}")
    if smoothing not in SMOOTHING_OPTIONS:
        raise InvalidArgumentError(f"smoothing must be one of {SMOOTHING_OPTIONS}, got {smoothing!r}")
    if max_silence_s is not None and not max_silence_s > 0:
        raise InvalidArgumentError(f"max_silence_s must be positive or None, got {max_silence_s}")
    recordings = list(recordings)
    if not recordings:
        raise MissingDataError("no recordings given")
    if smoothing == "original":
        window_ms = (float(round(window_ms[0])), float(round(window_ms[1])))
        baseline_window_ms = (float(round(baseline_window_ms[0])), float(round(baseline_window_ms[1])))
        if baseline_window_ms[1] != 0:
            raise InvalidArgumentError("smoothing 'original' needs a baseline window ending at the baseline event "
                                       f"(end 0 ms), got {baseline_window_ms}")
    baseline_ms = baseline_window_ms[1] - baseline_window_ms[0]
    window_s = (window_ms[0] / 1000.0, window_ms[1] / 1000.0)
    baseline_s = (baseline_window_ms[0] / 1000.0, baseline_window_ms[1] / 1000.0)

    blocks, cell_names, cell_session, cell_unit, cell_subject, cell_spikes = [], [], [], [], [], []
    cell_baseline: list[float] = []
    cell_extra: dict[str, list] = {name: [] for name in _UNIT_LABELS}
    signals = set()
    trial_tables = []
    offset = 0
    for recording in recordings:
        session = str(recording.session)
        signal = str(getattr(recording, "signal", "spikes") or "spikes")
        signals.add(signal)
        trials = recording.trials
        volume = trials["reward_volume"].to_numpy(dtype=float)
        reward_time = trials["reward_time"].to_numpy(dtype=float)
        align_all = trials["align_time"].to_numpy(dtype=float) if "align_time" in trials else reward_time
        base_all = (trials["baseline_time"].to_numpy(dtype=float) if "baseline_time" in trials
                    else trials["start_time"].to_numpy(dtype=float))
        keep = np.isfinite(volume) & np.isfinite(align_all) & np.isfinite(base_all)
        types = (trials["trial_type"].astype(str).to_numpy() if "trial_type" in trials
                 else np.full(len(trials), "other"))
        if trial_types is not None:
            keep &= np.isin(types, [str(t) for t in trial_types])
        table = pd.DataFrame({
            "trial_session": session,
            "trial_id": np.flatnonzero(keep),
            "reward_volume": volume[keep],
            "trial_type": types[keep],
            "reward_time": align_all[keep],
        })
        trial_tables.append(table)
        n = len(table)
        align = align_all[keep]
        base = base_all[keep]
        units = recording.units
        if signal == "dff":
            trace = np.asarray(recording.trace, dtype=float)
            times = np.asarray(recording.trace_times, dtype=float)
            cumulative = np.concatenate([np.zeros((1, trace.shape[1])), np.cumsum(trace, axis=0)])
            level = _window_means(cumulative, times, base + baseline_s[0], base + baseline_s[1])
            response = _window_means(cumulative, times, align + window_s[0], align + window_s[1]) - level
            per_cell = [(response[:, k], level[:, k], -1, np.nan) for k in range(trace.shape[1])]
        else:
            per_cell = []
            kernel = _plain_kernel() if smoothing is None else None
            for spikes in units["spike_times"]:
                spikes = _sorted_spikes(spikes)
                if kernel is not None:
                    # compiled: one galloping pass over the train for every window and the silence cut, the
                    # same numbers as the numpy code below (tests/test_responses.py compares them); ~5x faster
                    rates, level = kernel(spikes, align, base, window_s[0], window_s[1], baseline_s[0],
                                          baseline_s[1], round((window_s[1] - window_s[0]) * 1000.0, 9),
                                          round((baseline_s[1] - baseline_s[0]) * 1000.0, 9),
                                          -1.0 if max_silence_s is None else float(max_silence_s))
                else:
                    if smoothing == "original":
                        rates = _rates_original(spikes, align, base, (int(window_ms[0]), int(window_ms[1])),
                                                int(baseline_ms))
                    else:
                        rates = _rates_plain(spikes, align, base, window_s, baseline_s)
                    if max_silence_s is not None:
                        observed = _in_one_piece(base + baseline_s[0],
                                                 np.maximum(align + window_s[1], base + baseline_s[1]),
                                                 *_observed_pieces(spikes, float(max_silence_s)))
                        rates = np.where(observed, rates, np.nan)
                    level = _counts_rate(spikes, base + baseline_s[0], base + baseline_s[1])
                seen = np.isfinite(rates)
                # the cell's mean baseline rate over the trials it was observed on (plain counts, spikes/s): with
                # the mean response it gives the raw rate per reward size (the firing floor, reversal.off_floor)
                baseline_rate = float(level[seen].mean()) if seen.any() else np.nan
                per_cell.append((rates, level, spikes.size, baseline_rate))
        for unit_id, (rates, level, n_spikes, baseline_rate) in zip(units.index, per_cell, strict=True):
            if zscore:
                with _quiet_nan_warnings():
                    sd = float(np.nanstd(level[np.isfinite(rates)], ddof=1)) if np.isfinite(rates).sum() > 1 else np.nan
                rates = rates / sd if sd > 0 else np.full_like(rates, np.nan)
            blocks.append((offset, rates))
            cell_names.append(f"{session}/{unit_id}")
            cell_session.append(session)
            cell_unit.append(unit_id)
            cell_subject.append(str(getattr(recording, "subject_id", "") or ""))
            cell_spikes.append(int(n_spikes))
            cell_baseline.append(baseline_rate)
            for name in _UNIT_LABELS:
                cell_extra[name].append(str(units.at[unit_id, name]) if name in units else "")
        offset += n

    n_trials = offset
    if n_trials == 0:
        raise MissingDataError("no rewarded trials (finite reward_volume and reward_time)"
                               + (f" of types {list(trial_types)}" if trial_types is not None else ""))
    if len(signals) > 1:
        raise InvalidArgumentError(f"cannot pool spikes and traces in one analysis (signals {sorted(signals)})")
    signal = signals.pop()
    values = np.full((len(cell_names), n_trials), np.nan)
    for row, (start_col, rates) in enumerate(blocks):
        values[row, start_col:start_col + rates.size] = rates
    trials_all = pd.concat(trial_tables, ignore_index=True)
    cell_coords = {
        "cell": np.array(cell_names, dtype=object).astype(str),
        "session": ("cell", np.array(cell_session).astype(str)),
        "unit": ("cell", np.asarray(cell_unit)),
        "subject_id": ("cell", np.array(cell_subject, dtype=object).astype(str)),
        "n_spikes": ("cell", np.asarray(cell_spikes, dtype=np.int64)),
        "baseline_rate": ("cell", np.asarray(cell_baseline, dtype=float)),
    }
    for name, labels in cell_extra.items():
        if any(labels):
            cell_coords[name] = ("cell", np.array(labels, dtype=object).astype(str))
    units_label = ("baseline SD" if zscore else "ΔF/F" if signal == "dff" else "spikes/s")
    return xr.DataArray(
        values,
        dims=("cell", "trial"),
        coords={
            **cell_coords,
            "trial": np.arange(n_trials),
            "trial_session": ("trial", trials_all["trial_session"].to_numpy().astype(str)),
            "trial_id": ("trial", trials_all["trial_id"].to_numpy(dtype=np.int64)),
            "reward_volume": ("trial", trials_all["reward_volume"].to_numpy(dtype=float)),
            "trial_type": ("trial", trials_all["trial_type"].to_numpy().astype(str)),
            "reward_time": ("trial", trials_all["reward_time"].to_numpy(dtype=float)),
        },
        name="responses",
        attrs={
            "units": units_label,
            "description": ("mean ΔF/F in the response window after the align event minus its mean in the baseline "
                            "window" if signal == "dff" else
                            "firing rate in the response window after the align event minus the baseline rate"),
            "signal": signal,
            "window_ms": list(window_ms),
            "window_reference": "align_time (default reward_time)",
            "baseline_ms": baseline_ms,
            "baseline_window_ms": list(baseline_window_ms),
            "baseline_reference": "baseline_time (default start_time)",
            "smoothing": "none" if smoothing is None else smoothing,
            "trial_types": "all" if trial_types is None else ",".join(map(str, trial_types)),
            "max_silence_s": float("nan") if max_silence_s is None or signal == "dff" else float(max_silence_s),
            "zscore": int(bool(zscore)),
        },
    )


def pool_responses(blocks: Sequence[xr.DataArray]) -> xr.DataArray:
    """Pool per-session responses into one ``responses(cell, trial)``, as :func:`compute_responses` does.

    Each block holds its own sessions' cells and trials (e.g. ``compute_responses([recording])``, computed one
    session at a time, possibly on other machines); a cell is NaN on the other blocks' trials. Pooling the
    blocks of each session gives exactly what :func:`compute_responses` gives for all sessions at once.

    Parameters
    ----------
    blocks
        Responses of disjoint sets of sessions, all computed with the same settings.

    Returns
    -------
    xarray.DataArray
    """
    blocks = [b.transpose("cell", "trial") for b in blocks]
    if not blocks:
        raise MissingDataError("no responses to pool")
    settings = {k: v for k, v in blocks[0].attrs.items()}
    for block in blocks[1:]:
        if {k: str(v) for k, v in block.attrs.items()} != {k: str(v) for k, v in settings.items()}:
            raise InvalidArgumentError("responses computed with different settings cannot be pooled")
    if len(blocks) == 1:
        return blocks[0]
    n_cells = sum(b.sizes["cell"] for b in blocks)
    n_trials = sum(b.sizes["trial"] for b in blocks)
    values = np.full((n_cells, n_trials), np.nan)
    row = col = 0
    for block in blocks:
        c, t = block.shape
        values[row:row + c, col:col + t] = block.to_numpy()
        row, col = row + c, col + t
    cell_names = [name for name, coord in blocks[0].coords.items() if coord.dims == ("cell",) and name != "cell"]
    trial_names = [name for name, coord in blocks[0].coords.items() if coord.dims == ("trial",) and name != "trial"]
    coords = {"cell": np.concatenate([b["cell"].to_numpy() for b in blocks]),
              "trial": np.arange(n_trials)}
    for name in dict.fromkeys(cell_names + [n for b in blocks for n, c in b.coords.items() if c.dims == ("cell",)
                                            and n != "cell"]):
        parts = [b[name].to_numpy() if name in b.coords else np.full(b.sizes["cell"], "") for b in blocks]
        coords[name] = ("cell", np.concatenate(parts))
    for name in trial_names:
        coords[name] = ("trial", np.concatenate([b[name].to_numpy() for b in blocks]))
    return xr.DataArray(values, dims=("cell", "trial"), coords=coords, name=blocks[0].name, attrs=settings)


#: Unit labels carried from the units table to the responses' ``cell`` coordinates when present.
_UNIT_LABELS: tuple[str, ...] = ("unit_name", "electrodes", "location", "cell_type")


def _plain_kernel():
    """The compiled plain-count kernel (:func:`._jitted.plain_unit_rates`), or ``None`` without numba."""
    try:
        from ._jitted import plain_unit_rates
    except ImportError:  # pragma: no cover - numba missing: the numpy code
        return None
    return plain_unit_rates


def _sorted_spikes(spikes) -> np.ndarray:
    """A unit's spike times as sorted float64 (s), copied only when they are not sorted already."""
    spikes = np.asarray(spikes, dtype=float)
    try:
        from ._jitted import is_sorted
    except ImportError:  # pragma: no cover - numba missing
        return np.sort(spikes)
    return spikes if is_sorted(spikes) else np.sort(spikes)


def _counts_rate(spikes: np.ndarray, begin: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Spike count in [begin, end) divided by its duration (spikes/s)."""
    counts = np.searchsorted(spikes, end, side="left") - np.searchsorted(spikes, begin, side="left")
    return counts / (end - begin)


#: Default least number of responses a cell needs at each reward size of its session (assumed: two, so that
#: a split into halves can give each half one response per size).
MIN_TRIALS_PER_SIZE = 2


def skip_cells(responses, *, min_trials_per_size: int = MIN_TRIALS_PER_SIZE):
    """Set aside the cells that cannot be analysed, with the reason.

    A cell is skipped when its unit has no spike at all, or when it has fewer than ``min_trials_per_size``
    responses at some reward size of its own session's rewarded trials.

    Parameters
    ----------
    responses
        ``responses(cell, trial)`` from :func:`compute_responses`, or a list of them (one per session).
    min_trials_per_size
        Least number of finite responses per reward size.

    Returns
    -------
    kept : xarray.DataArray or list of xarray.DataArray
        The responses of the cells analysed (a list for a list: blocks left without a cell are dropped).
    skipped : pandas.DataFrame
        One row per skipped cell: ``session``, ``subject_id``, ``unit_id``, ``cell``, ``reason``.
    """
    if not isinstance(responses, xr.DataArray):
        parts = [skip_cells(block, min_trials_per_size=min_trials_per_size) for block in responses]
        kept = [block for block, _ in parts if block.sizes["cell"]]
        skipped = pd.concat([table for _, table in parts], ignore_index=True) if parts else pd.DataFrame(
            columns=["session", "subject_id", "unit_id", "cell", "reason"])
        return kept, skipped
    values = responses.transpose("cell", "trial").to_numpy()
    volume = responses["reward_volume"].to_numpy().astype(float)
    trial_session = (responses["trial_session"].to_numpy().astype(str) if "trial_session" in responses.coords
                     else np.full(volume.size, ""))
    cell_session = (responses["session"].to_numpy().astype(str) if "session" in responses.coords
                    else np.full(values.shape[0], ""))
    n_spikes = (responses["n_spikes"].to_numpy() if "n_spikes" in responses.coords
                else np.full(values.shape[0], -1))
    reasons: list[str | None] = [None] * values.shape[0]
    finite = np.isfinite(values)
    has_sessions = "trial_session" in responses.coords
    # the finite responses of each cell per reward size of its own session's trials: one matrix product per
    # session (cells x own trials) @ (own trials x sizes)
    for session in np.unique(cell_session):
        rows = np.flatnonzero(cell_session == session)
        own = trial_session == session if has_sessions else np.ones(volume.size, bool)
        own &= np.isfinite(volume)
        sizes, size_index = np.unique(volume[own], return_inverse=True)
        one_hot = np.zeros((int(own.sum()), sizes.size))
        one_hot[np.arange(one_hot.shape[0]), size_index] = 1.0
        counts = np.rint(finite[np.ix_(rows, np.flatnonzero(own))].astype(float) @ one_hot).astype(np.int64)
        for position, row in enumerate(rows):
            if n_spikes[row] == 0:
                reasons[row] = "no spikes"
                continue
            few = np.flatnonzero(counts[position] < min_trials_per_size)
            if few.size:
                short = ", ".join(f"{int(counts[position, k])} at {sizes[k]:g} µl" for k in few)
                reasons[row] = f"too few trials per reward size ({short}; need {min_trials_per_size})"
    skip = np.array([r is not None for r in reasons])
    unit = responses["unit"].to_numpy() if "unit" in responses.coords else np.full(values.shape[0], "")
    subject = (responses["subject_id"].to_numpy().astype(str) if "subject_id" in responses.coords
               else np.full(values.shape[0], ""))
    skipped = pd.DataFrame({
        "session": cell_session[skip],
        "subject_id": subject[skip],
        "unit_id": unit[skip],
        "cell": responses["cell"].to_numpy().astype(str)[skip],
        "reason": [r for r in reasons if r is not None],
    }, columns=["session", "subject_id", "unit_id", "cell", "reason"])
    return responses.isel(cell=np.flatnonzero(~skip)), skipped


def align_trial_types(responses, *, reference: str = "cued"):
    """Shift each trial type's responses by one population-wide constant to match the reference type.

    The original analysis pooled cued and uncued reward responses after adding to every uncued response
    the constant ``grand_mean(cued) − grand_mean(uncued)``, where a type's grand mean is the mean over cells
    and reward sizes of each cell's mean response to that size. This applies the same to every type other
    than ``reference``. Types without responses, or a missing reference type, leave the data unchanged.

    Parameters
    ----------
    responses
        ``responses(cell, trial)`` with ``trial_type`` and ``reward_volume`` coordinates, or a list of them
        (one per session: the constants are computed over all of them, as for the pooled array).
    reference
        The trial type whose level the others are moved to.

    Returns
    -------
    xarray.DataArray or list of xarray.DataArray
        A shifted copy (a list for a list); ``attrs["type_offsets"]`` holds ``{type: offset (spikes/s)}``.
    """
    as_list = not isinstance(responses, xr.DataArray)
    blocks = [b.transpose("cell", "trial") for b in (responses if as_list else [responses])]
    if not blocks or not all("trial_type" in b.coords for b in blocks):
        return list(blocks) if as_list else responses
    types = [b["trial_type"].to_numpy().astype(str) for b in blocks]
    volumes = [b["reward_volume"].to_numpy().astype(float) for b in blocks]
    values = [b.to_numpy() for b in blocks]
    rows = np.cumsum([0] + [b.sizes["cell"] for b in blocks])

    def grand_mean(kind: str) -> float:
        # each cell's mean response per size -> a (sizes, cells) table over every block, then its mean
        sizes = np.unique(np.concatenate([v[t == kind] for v, t in zip(volumes, types)]))
        if sizes.size == 0:
            return float("nan")
        table = np.full((sizes.size, rows[-1]), np.nan)
        for k, (v, t, y) in enumerate(zip(volumes, types, values)):
            for j, volume in enumerate(sizes):
                cols = (t == kind) & (v == volume)
                if cols.any():
                    with np.errstate(all="ignore"), _quiet_nan_warnings():
                        table[j, rows[k]:rows[k + 1]] = np.nanmean(y[:, cols], axis=1)
        with _quiet_nan_warnings():
            return float(np.nanmean(table))

    ref_level = grand_mean(reference)
    out = [b.copy() for b in blocks]
    offsets = {}
    if not np.isfinite(ref_level):
        for b in out:
            b.attrs["type_offsets"] = "{}"
        return out if as_list else out[0]
    for kind in np.unique(np.concatenate(types)):
        if kind == reference:
            continue
        level = grand_mean(kind)
        if np.isfinite(level):
            offsets[str(kind)] = ref_level - level
            for b, t in zip(out, types):
                shifted = b.to_numpy()              # the copy's own array: shifted in place
                shifted[:, t == kind] += ref_level - level
                if shifted is not b.data:           # (setting .values costs xarray an import of dask.array)
                    b.values = shifted
    for b in out:
        b.attrs["type_offsets"] = repr({k: round(v, 6) for k, v in offsets.items()})
        b.attrs["aligned_to"] = reference
    return out if as_list else out[0]


class _quiet_nan_warnings:
    """Silence numpy's 'mean of empty slice' warnings (all-NaN columns are expected here)."""

    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("ignore", category=RuntimeWarning)
        return self

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
