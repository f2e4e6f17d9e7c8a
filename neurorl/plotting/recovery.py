"""How well the dopamine fits recover the truth as a function of trials and cells (from ``sweep dopamine``)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from ._axes import axes_or_new

__all__ = ["plot_recovery"]


def plot_recovery(table: pd.DataFrame, *, ax: Axes | None = None, metric: str = "reversal_point_r") -> Axes:
    """Recovery (median and range over seeds) against rewarded trials per cell, one line per number of cells.

    Parameters
    ----------
    table
        One row per run with ``n_cells``, ``n_trials``, ``seed`` and the metric column (see
        :func:`neurorl.pipelines.sweep.dopamine_recovery_sweep`).
    ax
        Axes to draw into; a new figure when omitted.
    metric
        Column to plot, e.g. ``reversal_point_r``, ``asymmetry_r``, ``tau_reversal_r``.
    """
    ax = axes_or_new(ax, figsize=(5.0, 3.5))
    colours = plt.cm.viridis(np.linspace(0.15, 0.85, table["n_cells"].nunique()))
    for colour, (n_cells, group) in zip(colours, table.groupby("n_cells"), strict=True):
        stats = group.groupby("n_trials")[metric].agg(["median", "min", "max"])
        ax.plot(stats.index, stats["median"], "o-", color=colour, label=f"{n_cells} cells")
        ax.fill_between(stats.index, stats["min"], stats["max"], color=colour, alpha=0.2, linewidth=0)
    ax.set_xscale("log")
    trials = np.sort(table["n_trials"].unique())
    ax.set_xticks(trials, [str(t) for t in trials])
    ax.minorticks_off()
    ax.set_xlabel("rewarded trials per cell")
    labels = {"reversal_point_r": "reversal point: r(fit, truth)", "asymmetry_r": "asymmetry: r(fit, truth)",
              "tau_reversal_r": "split-half r(tau, reversal point)", "reversal_point_rmse": "reversal point RMSE (µl)",
              "ci_coverage": "95% CI coverage"}
    ax.set_ylabel(labels.get(metric, metric.replace("_", " ")))
    ax.grid(alpha=0.3)
    ax.legend(frameon=False)
    return ax
