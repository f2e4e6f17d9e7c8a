"""Behaviour over days: accuracy, rewards per minute and the time to reach a learning criterion."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from ...errors import InvalidArgumentError

__all__ = ["learning_curves", "learning_time", "trials_to_criterion", "days_to_criterion"]


# ------------------------------------------------------------------------------------ behaviour over days
def learning_curves(trials_by_day: Mapping[int, pd.DataFrame], closed_loop_minutes: Mapping[int, float]) -> xr.Dataset:
    """Accuracy (fraction of trials hit) and rewards per minute by day.

    Parameters
    ----------
    trials_by_day
        Day -> trials table (``target_hit``, ``rewarded``, ``time_to_target``).
    closed_loop_minutes
        Day -> duration of the closed loop (min).

    Returns
    -------
    xarray.Dataset
        Over ``day``: ``accuracy``, ``rewards_per_min``, ``n_trials``, ``median_time_to_target`` (s); each with
        ``attrs["units"]``.
    """
    days = sorted(trials_by_day)
    acc, rpm, ntr, ttt = [], [], [], []
    for day in days:
        t = trials_by_day[day]
        hit = t["target_hit"].to_numpy(dtype=bool)
        acc.append(hit.mean() if hit.size else np.nan)
        rpm.append(t["rewarded"].to_numpy(dtype=bool).sum() / closed_loop_minutes[day])
        ntr.append(hit.size)
        times = t["time_to_target"].to_numpy(dtype=float) if "time_to_target" in t else np.zeros(0)
        ttt.append(np.nanmedian(times) if np.isfinite(times).any() else np.nan)
    return xr.Dataset({"accuracy": ("day", np.asarray(acc, dtype=float),
                                    {"units": "1", "description": "fraction of trials hit"}),
                       "rewards_per_min": ("day", np.asarray(rpm, dtype=float),
                                           {"units": "rewards/min", "description": "rewards per closed-loop minute"}),
                       "n_trials": ("day", np.asarray(ntr, dtype=np.int64), {"units": "1", "description": "trials"}),
                       "median_time_to_target": ("day", np.asarray(ttt, dtype=float),
                                                 {"units": "s", "description": "median over hit trials"})},
                      coords={"day": np.asarray(days, dtype=np.int64)},
                      attrs={"accuracy": "fraction of trials in which the target was hit"})


def learning_time(accuracy: xr.DataArray | np.ndarray, days: np.ndarray | None = None, *,
                  criterion: float = 0.7, smooth_days: int = 1) -> float:
    """First day on which the (running-mean) accuracy reaches ``criterion``; NaN if never.

    Parameters
    ----------
    accuracy
        Accuracy per day (an ``xarray.DataArray`` over ``day`` or an array with ``days``).
    criterion
        Accuracy to reach (fraction of trials hit).
    smooth_days
        Width of the trailing running mean (days).
    """
    if isinstance(accuracy, xr.DataArray):
        days = accuracy["day"].values if days is None else days
        accuracy = accuracy.values
    acc = np.asarray(accuracy, dtype=float)
    days = np.arange(1, acc.size + 1) if days is None else np.asarray(days)
    if smooth_days > 1:
        acc = pd.Series(acc).rolling(smooth_days, min_periods=1).mean().to_numpy()
    reached = np.flatnonzero(acc >= criterion)
    return float(days[reached[0]]) if reached.size else np.nan


def trials_to_criterion(hits: np.ndarray, *, criterion: float = 0.7, window: int = 200) -> float:
    """Trials until the running hit rate first reaches ``criterion`` (behaviour only); NaN if never.

    The running hit rate at trial ``k`` is the fraction of hits among trials ``k - window + 1 .. k`` (counted
    from 1, across days in order); the answer is the first ``k`` at which it is ``>= criterion``.

    Parameters
    ----------
    hits
        One boolean per completed trial, in the order they were run (days concatenated).
    criterion
        Hit rate to reach (fraction of trials; 0.7 assumed, the value neurorl's learning-time curve used).
    window
        Trials in the running mean (200 assumed: about 1.5 days at 41 min per day).

    Returns
    -------
    float
        Trial number (1-based) at which the criterion is first met; NaN when there are fewer than ``window``
        trials or it is never met.
    """
    h = np.asarray(hits, dtype=float).ravel()
    window = int(window)
    if window < 1:
        raise InvalidArgumentError(f"window must be >= 1 trial, got {window}")
    if h.size < window:
        return float("nan")
    running = np.convolve(h, np.ones(window) / window, mode="valid")
    reached = np.flatnonzero(running >= criterion - 1e-12)
    return float(reached[0] + window) if reached.size else float("nan")


def days_to_criterion(trials_by_day: Mapping[int, pd.DataFrame], *, criterion: float = 0.7,
                      window: int = 200) -> xr.Dataset:
    """Learning time from behaviour: trials and days until the hit rate reaches ``criterion``.

    Two read-outs of the same criterion, both from the trials tables only (``target_hit``):

    * ``trials_to_criterion`` -- :func:`trials_to_criterion` over the days' trials in order (running hit
      rate over ``window`` trials).
    * ``day_of_criterion`` -- when that trial was run, in days of training elapsed: ``k - 1`` plus the fraction
      of the ``k``-th day's trials done (e.g. 1.5 = half-way through the second day; 0 = start of the first).
    * ``first_day_at_criterion`` -- the first day whose own hit rate (fraction of that day's trials hit) is
      ``>= criterion`` (:func:`learning_time`).

    Parameters
    ----------
    trials_by_day
        Day -> trials table with ``target_hit``.
    criterion, window
        See :func:`trials_to_criterion`.

    Returns
    -------
    xarray.Dataset
        Scalars ``trials_to_criterion``, ``day_of_criterion`` (days), ``first_day_at_criterion`` (day number),
        ``n_trials``, each with ``attrs["units"]``; NaN when the criterion is never met. ``attrs["criterion"]``
        states it in words.
    """
    days = sorted(trials_by_day)
    hits, day_of_trial, accuracy = [], [], []
    for index, day in enumerate(days):
        h = trials_by_day[day]["target_hit"].to_numpy(dtype=bool)
        hits.append(h)
        day_of_trial.append(index + (np.arange(h.size) + 1) / max(h.size, 1))
        accuracy.append(h.mean() if h.size else np.nan)
    all_hits = np.concatenate(hits) if hits else np.zeros(0, dtype=bool)
    n = trials_to_criterion(all_hits, criterion=criterion, window=window)
    when = float(np.concatenate(day_of_trial)[int(n) - 1]) if np.isfinite(n) else np.nan
    first_day = learning_time(np.asarray(accuracy, dtype=float), np.asarray(days), criterion=criterion)
    return xr.Dataset({"trials_to_criterion": ((), n, {"units": "1", "description": "trials"}),
                       "day_of_criterion": ((), when, {"units": "days", "description": "days of training elapsed"}),
                       "first_day_at_criterion": ((), first_day, {"units": "1", "description": "day number"}),
                       "n_trials": ((), int(all_hits.size), {"units": "1", "description": "trials"})},
                      attrs={"criterion": f"running hit rate over {int(window)} trials >= {criterion:g} "
                                          f"(day_of_criterion, trials_to_criterion); a day's hit rate >= "
                                          f"{criterion:g} (first_day_at_criterion)",
                             "criterion_hit_rate": float(criterion), "window_trials": int(window)})
