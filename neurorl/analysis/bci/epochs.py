"""Interval logic of the BCI task: 2 s error epochs, event-to-epoch assignment, trial outcome times.

Steps 5 and 6 of the paper's dendritic analysis (see :mod:`neurorl.analysis.bci`): :func:`error_epochs`,
:func:`assign_epochs`, :func:`residuals_by_epoch`; and :func:`trial_outcome_times`, the time each trial's fate was
decided (with :func:`trial_response_start_times`, the grating onset).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["EPOCH_TYPES", "error_epochs", "assign_epochs", "residuals_by_epoch", "trial_outcome_times",
           "trial_response_start_times"]

#: Labels of the 2 s epochs.
EPOCH_TYPES: tuple[str, str] = ("error_fell", "error_rose")


# -------------------------------------------------------------------------------------------- 5. epochs
def error_epochs(cursor: np.ndarray, frame_rate_hz: float, *, threshold: float | np.ndarray = 0.0,
                 epoch_s: float = 2.0, start_frame: int = 0, stop_frame: int | None = None,
                 intervals_s: np.ndarray | None = None, edge_frames: int = 3) -> xr.Dataset:
    """Cut the closed loop into consecutive epochs and label each by whether the error fell or rose.

    The error is ``threshold - cursor`` (distance of the cursor from the target). Its change over an epoch
    is the mean error over the last ``edge_frames`` frames minus the mean over the first ``edge_frames``.

    Parameters
    ----------
    cursor
        Cursor per frame.
    frame_rate_hz
        Frame rate (Hz).
    threshold
        Target (scalar or per frame); a constant threshold does not change the labels.
    epoch_s
        Epoch length (s; paper: 2 s), rounded to whole frames.
    start_frame, stop_frame
        The closed-loop frames (baseline excluded).
    intervals_s
        Optional ``(n, 2)`` start/stop times (s) of the periods in which the task was running (e.g. each
        trial's response period); each is tiled with epochs from its start, and epochs never straddle two
        periods. Default: the whole range ``start_frame .. stop_frame``.
    edge_frames
        Frames averaged at each end of an epoch.

    Returns
    -------
    xarray.Dataset
        Over ``epoch`` (sorted by time): ``start_frame``, ``start_time``, ``stop_time`` (s), ``error_change``
        (cursor units: ΔF/F, ``"1"``), each with ``attrs["units"]``, and the coordinate ``label``
        (``error_fell`` / ``error_rose``).
    """
    cursor = np.asarray(cursor, dtype=float)
    stop = cursor.size if stop_frame is None else int(stop_frame)
    error = np.broadcast_to(np.asarray(threshold, dtype=float), cursor.shape) - cursor
    length = max(2, int(round(epoch_s * frame_rate_hz)))
    edge = max(1, min(int(edge_frames), length // 2))
    if intervals_s is None:
        starts = np.arange(int(start_frame), stop - length + 1, length)
    else:
        pieces = []
        for a, b in np.asarray(intervals_s, dtype=float).reshape(-1, 2):
            first = max(int(np.ceil(a * frame_rate_hz - 1e-9)), int(start_frame))
            last = min(int(np.floor(b * frame_rate_hz + 1e-9)), stop)  # exclusive
            pieces.append(np.arange(first, last - length + 1, length))
        starts = np.unique(np.concatenate(pieces)) if pieces else np.zeros(0, dtype=np.int64)
    starts = starts.astype(np.int64)
    idx = starts[:, None] + np.arange(length)[None, :]
    if starts.size:
        seg = error[idx]
        change = seg[:, -edge:].mean(axis=1) - seg[:, :edge].mean(axis=1)
    else:
        change = np.zeros(0)
    label = np.where(change < 0, EPOCH_TYPES[0], EPOCH_TYPES[1])
    return xr.Dataset(
        {"start_frame": ("epoch", starts, {"units": "1", "description": "frame index of the epoch's start"}),
         "start_time": ("epoch", starts / frame_rate_hz, {"units": "s"}),
         "stop_time": ("epoch", (starts + length) / frame_rate_hz, {"units": "s"}),
         "error_change": ("epoch", change, {"units": "1", "description": "change of threshold - cursor (ΔF/F) "
                                                                          "over the epoch"})},
        coords={"epoch": np.arange(starts.size), "label": ("epoch", label.astype(str))},
        attrs={"epoch_s": float(epoch_s), "epoch_frames": int(length), "edge_frames": int(edge),
               "error": "threshold - cursor", "restricted_to_intervals": intervals_s is not None},
    )


def assign_epochs(times_s: np.ndarray, epochs: xr.Dataset) -> np.ndarray:
    """Index of the epoch containing each time (-1 when outside every epoch)."""
    times_s = np.asarray(times_s, dtype=float)
    start = epochs["start_time"].values
    stop = epochs["stop_time"].values
    pos = np.searchsorted(start, times_s, side="right") - 1
    ok = (pos >= 0) & (pos < start.size)
    ok[ok] &= times_s[ok] < stop[pos[ok]]
    return np.where(ok, pos, -1)


def residuals_by_epoch(residuals: xr.Dataset, epochs: xr.Dataset, ensemble: np.ndarray) -> xr.Dataset:
    """Mean dendritic residual of P+ and P- events in error-fell and error-rose epochs.

    Parameters
    ----------
    residuals
        Output of :func:`fit_dendrite_residuals`.
    epochs
        Output of :func:`error_epochs`.
    ensemble
        ``P+`` / ``P-`` / ``P0`` per soma.

    Returns
    -------
    xarray.Dataset
        ``mean``, ``sem``, ``n`` over (``epoch_type``, ``ensemble``); ``difference`` (P+ - P-) and
        ``p_value`` (Welch t-test of P+ vs P-) over ``epoch_type``; scalar ``signature`` =
        difference(error_fell) - difference(error_rose) (> 0 for vectorized instructive signals) and
        ``signature_p_value`` (two-sided permutation-free z-test of the interaction). Residuals are ΔF/F,
        ``attrs["units"]`` ``"1"``; so are counts and p-values.
    """
    from scipy import stats

    ensemble = np.asarray(ensemble).astype(str)
    epoch_index = assign_epochs(residuals["time"].values, epochs)
    resid = residuals["residual"].values
    neuron = residuals["soma"].values.astype(np.int64)
    ok = (epoch_index >= 0) & np.isfinite(resid)
    labels = np.where(ok, epochs["label"].values[np.clip(epoch_index, 0, None)] if epochs.sizes["epoch"] else "", "")
    groups = ensemble[neuron] if neuron.size else np.zeros(0, dtype=str)
    mean = np.full((2, 2), np.nan)
    sem = np.full((2, 2), np.nan)
    count = np.zeros((2, 2), dtype=np.int64)
    p = np.full(2, np.nan)
    samples = {}
    for i, kind in enumerate(EPOCH_TYPES):
        for j, group in enumerate(("P+", "P-")):
            values = resid[ok & (labels == kind) & (groups == group)]
            samples[i, j] = values
            count[i, j] = values.size
            if values.size:
                mean[i, j] = values.mean()
            if values.size > 1:
                sem[i, j] = values.std(ddof=1) / np.sqrt(values.size)
        if count[i, 0] > 1 and count[i, 1] > 1:
            p[i] = stats.ttest_ind(samples[i, 0], samples[i, 1], equal_var=False).pvalue
    difference = mean[:, 0] - mean[:, 1]
    signature = difference[0] - difference[1]
    se = np.sqrt(np.nansum(sem ** 2)) if np.all(count > 1) else np.nan
    sig_p = float(2 * stats.norm.sf(abs(signature) / se)) if np.isfinite(se) and se > 0 else np.nan
    return xr.Dataset(
        {"mean": (("epoch_type", "ensemble"), mean, {"units": "1", "description": "mean dendritic residual (ΔF/F)"}),
         "sem": (("epoch_type", "ensemble"), sem, {"units": "1", "description": "SEM of the residual (ΔF/F)"}),
         "n": (("epoch_type", "ensemble"), count, {"units": "1", "description": "events"}),
         "difference": ("epoch_type", difference, {"units": "1", "description": "P+ minus P- mean residual (ΔF/F)"}),
         "p_value": ("epoch_type", p, {"units": "1", "description": "Welch t-test of P+ vs P-"}),
         "signature": ((), float(signature), {"units": "1", "description": "difference(error_fell) - "
                                                                          "difference(error_rose) (ΔF/F)"}),
         "signature_p_value": ((), sig_p, {"units": "1", "description": "two-sided z-test of the signature"})},
        coords={"epoch_type": list(EPOCH_TYPES), "ensemble": ["P+", "P-"]},
        attrs={"epoch_s": epochs.attrs.get("epoch_s", np.nan),
               "signature": "(P+ - P-)_error_fell - (P+ - P-)_error_rose of the mean dendritic residual"},
    )


# --------------------------------------------------------------------------------------- trial outcomes
#: The rig's trial timing in frames (harnett/CLOOSE Run_GUI/Run_GUI.m @5579dee; :class:`neurorl.tasks.bci.BCITask`):
#: 15 grey frames (line 562: new_trial_fr <= 15) and trials of 750 frames (the calibration's pseudo-trial length,
#: lines 3100 and 3104; the rig's FramesZ), at the simulator's 15.46 Hz per plane (assumed, BCITask).
_GREY_FRAMES, _TRIAL_FRAMES, _FRAME_RATE_HZ = 15, 750, 15.46


def trial_response_start_times(trials: pd.DataFrame, *, frame_rate_hz: float = _FRAME_RATE_HZ,
                               grey_frames: int = _GREY_FRAMES) -> np.ndarray:
    """Grating onset of each trial (s): ``response_start_time`` where given, else ``start_time`` plus the grey frames.

    Parameters
    ----------
    trials
        Trials table with ``start_time`` (s) and optionally ``response_start_time`` (s).
    frame_rate_hz
        Imaging rate (Hz), for the fallback.
    grey_frames
        Grey frames at the start of a trial (CLOOSE line 562: 15).
    """
    start = trials["start_time"].to_numpy(dtype=float)
    fallback = start + int(grey_frames) / float(frame_rate_hz)
    if "response_start_time" in trials:
        given = trials["response_start_time"].to_numpy(dtype=float)
        return np.where(np.isfinite(given), given, fallback)
    return fallback


def trial_outcome_times(trials: pd.DataFrame, *, frame_rate_hz: float = _FRAME_RATE_HZ,
                        grey_frames: int = _GREY_FRAMES, trial_frames: int = _TRIAL_FRAMES) -> np.ndarray:
    """Time each trial's fate was decided (s): the hit, the lower-bound crossing, or the end of the response window.

    Taken from the table's ``decision_time`` (s) where it is given and finite (the simulator and the NWB files
    write it). Otherwise, from the rig's frame-based timing (CLOOSE 526-740, see :class:`neurorl.tasks.bci.BCITask`):

    * hits (``target_hit`` with a finite ``time_to_target``): grating onset + ``time_to_target``, the grating
      onset being ``response_start_time`` or ``start_time + grey_frames / frame_rate_hz``;
    * lower-bound failures (``lower_bound_failure`` with a finite ``white_noise_time``): one frame before the
      white noise (the rig plays it on the first freeze frame after the crossing, CLOOSE 665-684);
    * all other trials (time-outs): the last frame of the response window,
      ``start_time + (trial_frames - 1) / frame_rate_hz`` (the trial's frames run from its first grey frame).

    Every time is clipped to the trial's ``stop_time``.

    Parameters
    ----------
    trials
        Trials table: ``start_time``, ``stop_time`` (s), ``target_hit``; optionally ``decision_time``,
        ``response_start_time``, ``time_to_target``, ``lower_bound_failure``, ``white_noise_time``.
    frame_rate_hz
        Imaging rate (Hz) of the fallback timing (default: the simulator's 15.46 Hz).
    grey_frames, trial_frames
        The rig's grey frames (15) and trial length (750 frames, first grey frame to the end of the response
        window).

    Returns
    -------
    numpy.ndarray
        ``(trials,)`` outcome times (s, file clock).
    """
    n = len(trials)
    fr = float(frame_rate_hz)
    start = trials["start_time"].to_numpy(dtype=float)
    stop = trials["stop_time"].to_numpy(dtype=float)

    def column(name: str, dtype=float, fill=np.nan) -> np.ndarray:
        if name not in trials:
            return np.full(n, fill, dtype=dtype)
        if dtype is bool:
            values = trials[name]
            if pd.api.types.is_bool_dtype(values):
                return values.to_numpy(dtype=bool)
            if pd.api.types.is_numeric_dtype(values):
                return values.fillna(0).to_numpy(dtype=float) != 0
            # text (a CSV read without dtypes): "True" / "true" / "1" / "yes"
            return values.astype(str).str.strip().str.lower().isin(("true", "1", "1.0", "yes")).to_numpy(dtype=bool)
        return trials[name].to_numpy(dtype=float)

    response = trial_response_start_times(trials, frame_rate_hz=fr, grey_frames=grey_frames)
    hit = column("target_hit", bool, False)
    ttt = column("time_to_target")
    lower = column("lower_bound_failure", bool, False)
    noise = column("white_noise_time")
    outcome = start + (int(trial_frames) - 1) / fr  # time-out: the last frame of the response window
    lb = lower & np.isfinite(noise)
    outcome = np.where(lb, noise - 1.0 / fr, outcome)
    hits = hit & np.isfinite(ttt)
    outcome = np.where(hits, response + np.nan_to_num(ttt), outcome)
    decision = column("decision_time")
    outcome = np.where(np.isfinite(decision), decision, outcome)
    return np.minimum(outcome, stop)
