"""Figures for the BCI analyses (Francioni et al. 2026). Every function takes an optional ``ax`` and returns it."""

from __future__ import annotations

import numpy as np
import xarray as xr
from matplotlib.ticker import MaxNLocator

from ._axes import axes_or_new

__all__ = [
    "plot_learning_curves",
    "plot_residuals_by_epoch",
    "plot_decoding",
    "plot_event_rate_change",
    "plot_learning_time_vs_n_bci",
    "plot_signature_by_rule",
    "RULE_COLORS",
    "DECODING_TITLE",
]

#: Colours of the learning rules.
RULE_COLORS = {"vectorized": "#1b9e77", "scalar": "#d95f02", "none": "#7570b3"}
_GROUP_COLORS = {"P+": "#d62728", "P-": "#1f77b4", "P0": "#7f7f7f"}


def plot_learning_curves(curves: xr.Dataset, variable: str = "accuracy", *, ax=None, chance: float | None = 0.5):
    """Learning curve (``accuracy`` or ``rewards_per_min`` by day), one line per ``rule`` if that dim exists.

    Parameters
    ----------
    curves
        Output of :func:`neurorl.analysis.bci.learning_curves`, optionally concatenated over ``rule``
        (and averaged or with a ``seed`` dim: mean ± SEM across seeds is drawn).
    variable
        Variable to draw.
    chance
        Horizontal reference line (calibrated day-1 accuracy) for ``accuracy``; ``None`` for none.
    """
    ax = axes_or_new(ax, figsize=(4.0, 3.0))
    da = curves[variable]
    rules = list(da["rule"].values) if "rule" in da.dims else [None]
    for rule in rules:
        sub = da.sel(rule=rule) if rule is not None else da
        if "seed" in sub.dims:
            mean = sub.mean("seed")
            sem = sub.std("seed") / np.sqrt(sub.sizes["seed"])
            ax.fill_between(sub["day"].values, (mean - sem).values, (mean + sem).values, alpha=0.25,
                            color=RULE_COLORS.get(str(rule)))
            sub = mean
        ax.plot(sub["day"].values, sub.values, marker="o", ms=3, label=str(rule) if rule is not None else None,
                color=RULE_COLORS.get(str(rule)))
    if chance is not None and variable == "accuracy":
        ax.axhline(chance, color="k", lw=0.8, ls="--")
    ax.set_xlabel("day")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel({"accuracy": "fraction of trials hit", "rewards_per_min": "rewards per minute"}.get(variable, variable))
    if rules != [None]:
        ax.legend(frameon=False, fontsize=8)
    return ax


def plot_residuals_by_epoch(by_epoch: xr.Dataset, *, ax=None, title: str | None = None):
    """Mean ± SEM dendritic residual of P+ and P- events in error-fell and error-rose epochs.

    Parameters
    ----------
    by_epoch
        Output of :func:`neurorl.analysis.bci.residuals_by_epoch`.
    """
    ax = axes_or_new(ax, figsize=(4.0, 3.0))
    types = list(by_epoch["epoch_type"].values)
    x = np.arange(len(types))
    width = 0.35
    for k, group in enumerate(by_epoch["ensemble"].values):
        mean = by_epoch["mean"].sel(ensemble=group).values
        sem = by_epoch["sem"].sel(ensemble=group).values
        ax.bar(x + (k - 0.5) * width, mean, width, yerr=sem, label=str(group), color=_GROUP_COLORS.get(str(group)),
               capsize=2)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [t.replace("_", " ") for t in types])
    ax.set_ylabel("dendritic residual (ΔF/F)")
    signature = float(by_epoch["signature"])
    p = float(by_epoch["signature_p_value"])
    ax.set_title((title + "\n" if title else "") + f"signature {signature:.3g} (p={p:.2g})", fontsize=9)
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_decoding(decoding: xr.Dataset, *, ax=None, title: bool = True):
    """Leave-one-out reward decoding accuracy against the label-shuffle distribution.

    The title says what the figure does and does not show: reward information in the dendritic residuals,
    not which instructive signal (scalar feedback decodes reward as well as or better than vectorized; see
    ``neurorl.analysis.bci.DECODING_SCOPE``).

    Parameters
    ----------
    decoding
        Output of :func:`neurorl.analysis.bci.decode_reward`, optionally concatenated over ``rule``: one
        marker (accuracy) and a box (shuffles, 5-95%) per rule.
    title
        Write that title (False: leave the title to the caller).
    """
    ax = axes_or_new(ax, figsize=(4.0, 3.0))
    if title:
        ax.set_title(DECODING_TITLE, fontsize=8)
    rules = list(decoding["rule"].values) if "rule" in decoding.dims else [None]
    for i, rule in enumerate(rules):
        sub = decoding.sel(rule=rule) if rule is not None else decoding
        shuffled = sub["shuffle_accuracy"].values
        shuffled = shuffled[np.isfinite(shuffled)]
        if shuffled.size:
            lo, hi = np.percentile(shuffled, [5, 95])
            ax.fill_between([i - 0.3, i + 0.3], [lo, lo], [hi, hi], color="0.8",
                            label="shuffled labels (5-95%)" if i == 0 else None)
            ax.plot([i - 0.3, i + 0.3], [np.median(shuffled)] * 2, color="0.4")
        ax.plot(i, float(sub["accuracy"]), "o", color=RULE_COLORS.get(str(rule), "k"),
                label="data" if i == 0 else None)
        ax.annotate(f"p={float(sub['p_value']):.2g}", (i, float(sub["accuracy"])), textcoords="offset points",
                    xytext=(6, 4), fontsize=7)
    ax.axhline(0.5, color="k", lw=0.8, ls="--")
    ax.set_xticks(range(len(rules)), [str(r) if r is not None else "" for r in rules])
    ax.set_ylabel("reward decoding (balanced accuracy)")
    ax.legend(frameon=False, fontsize=7, loc="best")
    return ax


#: Title of :func:`plot_decoding`: what reward decoding shows and what it does not.
DECODING_TITLE = ("reward information in dendritic residuals\n"
                  "(does not tell vectorized from scalar: scalar decodes reward too)")


def plot_event_rate_change(change: xr.Dataset, *, ax=None):
    """Relative change of event rate from day 1 for P+, P- and P0 neurons (mean ± SEM).

    Parameters
    ----------
    change
        Output of :func:`neurorl.analysis.bci.event_rate_change`.
    """
    ax = axes_or_new(ax, figsize=(4.0, 3.0))
    days = change["day"].values
    for group in change["ensemble"].values:
        mean = change["mean_change"].sel(ensemble=group).values
        sem = change["sem_change"].sel(ensemble=group).values
        ax.errorbar(days, mean, yerr=np.nan_to_num(sem), marker="o", ms=3, capsize=2, label=str(group),
                    color=_GROUP_COLORS.get(str(group)))
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("day")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"event rate change vs day {change.attrs.get('reference_day', 1)}")
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_learning_time_vs_n_bci(times: xr.Dataset | xr.DataArray, variable: str | None = None, *, ax=None):
    """Learning time against the number of BCI neurons, one line per rule (median and interquartile range over
    seeds; learning times are ratios of a noisy rate, so the median is the robust summary).

    Parameters
    ----------
    times
        Dataset/DataArray over (``rule``, ``n_bci``[, ``seed``]), e.g. from
        ``neurorl.models.bci_learning.learning_time_vs_n_bci``. Runs that never reached the criterion (NaN or
        inf) are drawn at the top as open markers. A Dataset's ``slowdown`` (scalar / vectorized, per n) is
        written above the points.
    variable
        Variable of a Dataset (default: ``learning_time_days`` if present, else the first variable).
    """
    ax = axes_or_new(ax, figsize=(4.0, 3.0))
    slowdown = None
    label = None
    if isinstance(times, xr.Dataset):
        variable = variable or ("learning_time_days" if "learning_time_days" in times else list(times.data_vars)[0])
        da = times[variable]
        if "criterion_hit_rate" in times.attrs and "window_trials" in times.attrs and "criterion" in variable:
            label = (f"{variable.replace('_', ' ')}\n(running hit rate over {int(times.attrs['window_trials'])} "
                     f"trials >= {float(times.attrs['criterion_hit_rate']):g})")
        if "slowdown" in times and "n_bci" in times["slowdown"].dims:
            slowdown = times["slowdown"]
    else:
        da = times
        variable = da.name or "learning time"
    label = label or str(variable).replace("_", " ")
    n_bci = da["n_bci"].values
    top_all = 0.0
    for rule in da["rule"].values:
        sub = da.sel(rule=rule)
        values = np.asarray(sub.values, dtype=float)
        if "seed" in sub.dims:
            values = np.moveaxis(values, sub.dims.index("seed"), -1)
        else:
            values = values[:, None]
        finite = np.where(np.isfinite(values), values, np.nan)
        count = np.isfinite(finite).sum(axis=1)
        med = np.full(n_bci.size, np.nan)
        q25 = np.full(n_bci.size, np.nan)
        q75 = np.full(n_bci.size, np.nan)
        for k in np.flatnonzero(count > 0):
            q25[k], med[k], q75[k] = np.nanpercentile(finite[k], [25, 50, 75])
        color = RULE_COLORS.get(str(rule))
        ax.errorbar(n_bci, med, yerr=np.nan_to_num(np.vstack([med - q25, q75 - med])), marker="o", ms=4, capsize=2,
                    color=color, label=str(rule))
        if np.isfinite(q75).any():
            top_all = max(top_all, float(np.nanmax(q75)))
        never = count < values.shape[1]
        if never.any():
            finite_all = np.asarray(da.values, dtype=float)
            finite_all = finite_all[np.isfinite(finite_all)]
            top = finite_all.max() * 1.1 if finite_all.size else 1.0
            ax.plot(n_bci[never], np.full(never.sum(), top), "o", mfc="none", color=color,
                    label=f"{rule}: not reached (some seeds)")
    if slowdown is not None and top_all > 0:
        for n, value in zip(slowdown["n_bci"].values, np.asarray(slowdown.values, dtype=float), strict=True):
            if np.isfinite(value):
                ax.annotate(f"x{value:.1f}", (n, top_all * 1.05), ha="center", fontsize=7, color="0.3")
        ax.set_ylim(top=max(ax.get_ylim()[1], top_all * 1.15))
    ax.set_xlabel("number of BCI neurons")
    ax.set_ylabel(label, fontsize=8 if "\n" in label else None)
    ax.legend(frameon=False, fontsize=8)
    return ax


def plot_signature_by_rule(by_epoch: xr.Dataset, dim: str = "rule", *, ax=None):
    """P+ minus P- dendritic residual in error-fell and error-rose epochs, side by side for each rule.

    Parameters
    ----------
    by_epoch
        :func:`neurorl.analysis.bci.residuals_by_epoch` results concatenated over ``dim``.
    """
    ax = axes_or_new(ax, figsize=(4.0, 3.0))
    names = list(by_epoch[dim].values)
    x = np.arange(len(names))
    width = 0.35
    hatches = {"error_fell": "", "error_rose": "//"}
    for k, kind in enumerate(by_epoch["epoch_type"].values):
        sub = by_epoch.sel(epoch_type=kind)
        diff = sub["difference"].values
        sem = np.sqrt((sub["sem"] ** 2).sum("ensemble")).values
        ax.bar(x + (k - 0.5) * width, diff, width, yerr=np.nan_to_num(sem), capsize=2,
               color=[RULE_COLORS.get(str(n), "0.5") for n in names], hatch=hatches.get(str(kind), ""),
               edgecolor="k", linewidth=0.5, label=str(kind).replace("_", " "))
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(x, [str(n) for n in names])
    ax.set_ylabel("residual P+ minus P- (ΔF/F)")
    ax.legend(frameon=False, fontsize=7)
    return ax
