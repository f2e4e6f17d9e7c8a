"""Calcium-event detection in ΔF/F traces (any imaging experiment, not only BCI).

:func:`detect_events` finds transients (threshold runs or sharp rises); :func:`event_rates` counts them per
minute. Moved out of ``neurorl.analysis.bci``, which imports them from here.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..errors import InvalidArgumentError

__all__ = ["detect_events", "event_rates"]


def detect_events(dff: np.ndarray, frame_rate_hz: float, *, method: str = "threshold", threshold_sd: float = 3.0,
                  min_frames: int = 2, start_frame: int = 0, stop_frame: int | None = None,
                  reference_frames: slice | None = None) -> xr.Dataset:
    """Detect calcium events in ΔF/F traces.

    ``method="threshold"`` (default)
        An event is a run of at least ``min_frames`` consecutive frames above ``median + threshold_sd * sd``
        (``sd = 1.4826 * MAD`` of the trace); its magnitude is the run's peak minus the median, its time the
        run's first frame.
    ``method="rise"`` (for dense, overlapping transients; noisier magnitudes)
        An event is a frame whose rise ``x[t] - x[t-1]`` is a local maximum above ``threshold_sd`` robust
        standard deviations of the frame-to-frame differences (``sd = 1.4826 * MAD``, i.e. the imaging noise).
        Its magnitude is ``max(x[t], x[t+1]) - mean(x[t-2], x[t-1])`` (ΔF/F), its time frame ``t``.

    Parameters
    ----------
    dff
        ΔF/F, frames x neurons.
    frame_rate_hz
        Imaging rate (Hz), to express times in seconds.
    method
        ``"threshold"`` or ``"rise"``.
    threshold_sd
        Threshold in robust standard deviations.
    min_frames
        Minimum run length (frames) for ``method="threshold"``.
    start_frame, stop_frame
        Only frames ``start_frame <= k < stop_frame`` are searched (times stay relative to frame 0).
    reference_frames
        Frames from which the median and robust SD of ``method="threshold"`` are taken (default: the searched
        frames). Use the passive baseline so that the threshold does not move with learning-related
        changes of activity (otherwise a neuron that fires more raises its own threshold).

    Returns
    -------
    xarray.Dataset
        Over ``event`` (sorted by cell then time): ``cell`` (column of ``dff``), ``onset_frame``, ``time`` (s),
        ``magnitude`` (ΔF/F), ``duration`` (frames; 1 for ``rise``); each variable with ``attrs["units"]``.
    """
    x = np.asarray(dff)
    if x.ndim != 2:
        raise InvalidArgumentError(f"dff must be frames x neurons, got shape {x.shape}")
    if method not in ("rise", "threshold"):
        raise InvalidArgumentError(f"unknown event detection method {method!r}; use 'rise' or 'threshold'")
    stop = x.shape[0] if stop_frame is None else int(stop_frame)
    reference = x[reference_frames] if reference_frames is not None else None
    x = x[int(start_frame):stop]
    n_frames, n_neurons = x.shape
    if reference is None or reference.shape[0] < 2:
        reference = x
    if n_frames < 5 or n_neurons == 0:
        return _events_dataset(*(np.zeros(0, dtype=t) for t in (np.int64, np.int64, float, np.int64)),
                               frame_rate_hz, threshold_sd, min_frames, method)
    if method == "rise":
        return _detect_rises(x, frame_rate_hz, threshold_sd, int(start_frame))
    x = x.astype(float)
    reference = np.asarray(reference, dtype=float)
    median = np.median(reference, axis=0)
    sd = 1.4826 * np.median(np.abs(reference - median), axis=0)
    sd = np.where(sd > 0, sd, np.inf)
    above = (x > median + threshold_sd * sd).T  # neurons x frames
    padded = np.zeros((n_neurons, n_frames + 2), dtype=np.int8)
    padded[:, 1:-1] = above
    edges = np.diff(padded.ravel())
    starts = np.flatnonzero(edges == 1) + 1  # positions in the flattened padded array
    ends = np.flatnonzero(edges == -1) + 1   # exclusive
    values = np.full((n_neurons, n_frames + 2), -np.inf)
    values[:, 1:-1] = (x - median).T
    flat = values.ravel()
    if starts.size:
        bounds = np.empty(2 * starts.size, dtype=np.int64)
        bounds[0::2], bounds[1::2] = starts, ends
        peaks = np.maximum.reduceat(flat, bounds)[0::2]
    else:
        peaks = np.zeros(0)
    width = n_frames + 2
    neuron = starts // width
    onset = starts % width - 1 + int(start_frame)
    duration = ends - starts
    keep = duration >= min_frames
    return _events_dataset(neuron[keep], onset[keep], peaks[keep], duration[keep], frame_rate_hz, threshold_sd,
                           min_frames, method)


def _detect_rises(x: np.ndarray, rate: float, threshold_sd: float, offset: int) -> xr.Dataset:
    x = np.asarray(x, dtype=np.float32)
    rise = np.diff(x, axis=0)  # rise[k] = x[k+1] - x[k]
    sd = 1.4826 * np.median(np.abs(rise - np.median(rise, axis=0)), axis=0)
    sd = np.where(sd > 0, sd, np.inf).astype(np.float32)
    # candidate frames t = 2 .. n-2 (need two frames before and one after)
    r = rise[1:-1]  # rise into frames 2..n-2 : r[j] = x[j+2] - x[j+1]
    core = r[1:-1]  # frames 3..n-3? keep neighbours for the local-maximum test
    is_event = (core > threshold_sd * sd) & (core >= r[:-2]) & (core > r[2:])
    j, neuron = np.nonzero(is_event)
    t = j + 3  # frame index within x: core[j] = x[j+3] - x[j+2]
    order = np.lexsort((t, neuron))
    t, neuron = t[order], neuron[order]
    peak = np.maximum(x[t, neuron], x[np.minimum(t + 1, x.shape[0] - 1), neuron])
    before = 0.5 * (x[t - 1, neuron] + x[t - 2, neuron])
    return _events_dataset(neuron, t + offset, (peak - before).astype(float), np.ones(t.size, dtype=np.int64), rate,
                           threshold_sd, 1, "rise")


def _events_dataset(cell, onset, magnitude, duration, rate, threshold_sd, min_frames, method) -> xr.Dataset:
    return xr.Dataset(
        {"cell": ("event", cell.astype(np.int64), {"units": "1", "description": "cell (column of the ΔF/F)"}),
         "onset_frame": ("event", onset.astype(np.int64), {"units": "1", "description": "frame index of the onset"}),
         "time": ("event", onset / float(rate), {"units": "s", "description": "onset time"}),
         "magnitude": ("event", magnitude.astype(float), {"units": "1", "description": "ΔF/F"}),
         "duration": ("event", duration.astype(np.int64), {"units": "1", "description": "frames above threshold"})},
        coords={"event": np.arange(cell.size)},
        attrs={"threshold_sd": float(threshold_sd), "min_frames": int(min_frames), "frame_rate_hz": float(rate),
               "method": method},
    )


def event_rates(events: xr.Dataset, n_neurons: int, minutes: float) -> np.ndarray:
    """Events per minute of each cell (events from :func:`detect_events`; ``n_neurons`` cells)."""
    return np.bincount(events["cell"].values.astype(np.int64), minlength=n_neurons)[:n_neurons] / float(minutes)
