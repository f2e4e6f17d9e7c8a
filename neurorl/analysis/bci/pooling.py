"""Pooling the days of one animal: :func:`combine_sessions` and the event-rate change against day 1."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
import xarray as xr

from ...errors import InvalidArgumentError
from .decoding import decode_reward, pool_decoding
from .epochs import residuals_by_epoch

__all__ = ["combine_sessions", "event_rate_change"]

#: The three ensembles (BCI cells that raise / lower the cursor, and the others).
_GROUPS = ("P+", "P-", "P0")


def event_rate_change(rates: xr.DataArray, ensemble: np.ndarray, *, reference_day: int | None = None) -> xr.Dataset:
    """Change of event rate relative to day 1 for P+, P- and P0 cells.

    Parameters
    ----------
    rates
        ``(day, cell)`` events per minute.
    ensemble
        ``P+`` / ``P-`` / ``P0`` per cell.
    reference_day
        Day to compare with (default: the first day).

    Returns
    -------
    xarray.Dataset
        Over (``day``, ``ensemble``): ``mean_change`` and ``sem_change`` of the per-cell relative change
        ``(rate - rate_ref) / rate_ref`` (cells silent on the reference day are left out), ``mean_rate``
        (events/min) and ``n_cells`` (cells in the mean); each with ``attrs["units"]``.
    """
    ensemble = np.asarray(ensemble).astype(str)
    days = rates["day"].values
    ref = days[0] if reference_day is None else reference_day
    base = rates.sel(day=ref).values
    values = rates.values
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = np.where(base > 0, (values - base) / base, np.nan)
    shape = (days.size, len(_GROUPS))
    mean, sem, mrate, count = (np.full(shape, np.nan) for _ in range(4))
    for j, group in enumerate(_GROUPS):
        sel = ensemble == group
        r = rel[:, sel]
        valid = np.isfinite(r)
        k = valid.sum(axis=1)
        count[:, j] = k
        with np.errstate(invalid="ignore", divide="ignore"):
            mean[:, j] = np.where(k > 0, np.nansum(r, axis=1) / np.maximum(k, 1), np.nan)
            var = np.nansum((r - mean[:, j:j + 1]) ** 2, axis=1) / np.maximum(k - 1, 1)
            sem[:, j] = np.where(k > 1, np.sqrt(var / np.maximum(k, 1)), np.nan)
            mrate[:, j] = values[:, sel].mean(axis=1) if sel.any() else np.nan
    dims = ("day", "ensemble")
    return xr.Dataset({"mean_change": (dims, mean, {"units": "1", "description": "mean relative change of rate"}),
                       "sem_change": (dims, sem, {"units": "1", "description": "SEM of the relative change"}),
                       "mean_rate": (dims, mrate, {"units": "events/min", "description": "mean event rate"}),
                       "n_cells": (dims, count.astype(np.int64),
                                   {"units": "1", "description": "cells with a rate on the reference day"})},
                      coords={"day": days, "ensemble": list(_GROUPS)},
                      attrs={"reference_day": int(ref), "change": "(rate - rate_reference) / rate_reference"})


def combine_sessions(results: Mapping[int, Mapping[str, xr.Dataset]], *, n_shuffles: int = 1000,
                     seed: int | np.random.Generator | None = 0) -> dict[str, xr.Dataset]:
    """Pool :func:`analyze_session` results of several days of one animal (same cells every day).

    Returns
    -------
    dict of xarray.Dataset
        ``by_epoch_day`` (:func:`residuals_by_epoch` per day, over ``day``), ``by_epoch`` (all days' events
        pooled), ``decoding_day`` (:func:`decode_reward` within each day), ``decoding``
        (:func:`pool_decoding` of the days),
        ``event_rate_change`` (:func:`event_rate_change`) and ``pairing`` (fraction of pairs with r >= min_r
        per day).
    """
    days = sorted(results)
    if not days:
        raise InvalidArgumentError("no sessions to combine")
    ensemble = results[days[0]]["rates"]["ensemble"].values
    by_day = xr.concat([results[d]["by_epoch"] for d in days], dim=pd.Index(days, name="day"))
    pooled_res, pooled_epochs = [], []
    offset = 0.0
    for d in days:
        res = results[d]["residuals"]
        ep = results[d]["epochs"]
        # shift each day past the previous one so that no event falls into another day's epochs
        span = max([0.0] + [float(v.max()) for v in (ep["stop_time"].values, res["time"].values) if v.size]) + 1.0
        pooled_res.append(pd.DataFrame({"time": res["time"].values + offset, "residual": res["residual"].values,
                                        "soma": res["soma"].values}))
        pooled_epochs.append(pd.DataFrame({"start_time": ep["start_time"].values + offset,
                                           "stop_time": ep["stop_time"].values + offset, "label": ep["label"].values}))
        offset += span
    res_df = pd.concat(pooled_res, ignore_index=True)
    ep_df = pd.concat(pooled_epochs, ignore_index=True)
    by_epoch = residuals_by_epoch(
        xr.Dataset({k: ("event", res_df[k].to_numpy()) for k in res_df}),
        xr.Dataset({k: ("epoch", ep_df[k].to_numpy()) for k in ep_df}), ensemble)
    rng = np.random.default_rng(seed)
    decoding_day = xr.concat([decode_reward(results[d]["vectors"]["residual"].values,
                                            results[d]["vectors"]["rewarded"].values, n_shuffles=n_shuffles,
                                            seed=rng) for d in days], dim=pd.Index(days, name="day"))
    decoding = pool_decoding(decoding_day)
    rates = xr.DataArray(np.vstack([results[d]["rates"]["event_rate"].values for d in days]),
                         dims=("day", "cell"), coords={"day": days})
    change = event_rate_change(rates, ensemble)
    pairing = xr.Dataset({"fraction_paired": ("day", [float(results[d]["pairing"]["paired"].mean()) for d in days],
                                              {"units": "1", "description": "fraction of dendrites with r >= min_r"}),
                          "median_r": ("day", [float(results[d]["pairing"]["r"].median()) for d in days],
                                       {"units": "1", "description": "median soma-dendrite Pearson r"})},
                         coords={"day": days})
    return {"by_epoch_day": by_day, "by_epoch": by_epoch, "decoding_day": decoding_day, "decoding": decoding,
            "event_rate_change": change, "pairing": pairing}
