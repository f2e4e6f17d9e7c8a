"""Figures of the distributional-TD / dopamine analyses (Dabney et al., Nature 2020).

Every function takes the result objects of :mod:`neurorl.analysis` (the ``fit_cells`` Dataset, the
``decode_distribution`` Dataset), draws into ``ax`` (a new figure when omitted) and returns the Axes;
:func:`plot_dopamine_summary` returns a whole Figure. Nothing here computes a fit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import xarray as xr

from .._stats import pearson_r
from ._axes import axes_or_new

__all__ = [
    "plot_response_curves",
    "plot_reversal_points",
    "plot_split_half",
    "plot_asymmetry_vs_reversal",
    "plot_asymmetry_test",
    "plot_decoded_distribution",
    "plot_dopamine_summary",
    "MAX_DRAWN_CELLS",
]

#: Most cells whose own marks (a line, a dot, an error bar per cell) a panel draws. Assumed: a few thousand
#: overlapping marks already fill a panel, so a random subset of this size shows what all of them would, while
#: drawing and saving grow with every cell. Larger populations are drawn from a random subset (the same cells in
#: every panel: :data:`DRAWN_CELLS_SEED`), the panel says so ("2,000 of 10,000 cells drawn"), and everything
#: computed (r, n, fitted lines, colour scales, sort order) still uses all cells. ``max_cells=None`` draws all.
MAX_DRAWN_CELLS = 2000
#: Seed of the random subset of cells drawn above :data:`MAX_DRAWN_CELLS`.
DRAWN_CELLS_SEED = 0
#: Marks of more cells than this are rasterized in vector formats (PDF, SVG), whose files otherwise hold one
#: object per cell; PNG output is the same either way. Assumed.
RASTERIZE_ABOVE = 500


def _drawn_cells(n_cells: int, max_cells: int | None) -> np.ndarray:
    """Indices (ascending) of the cells whose marks are drawn.

    All ``n_cells``, or a random subset of ``max_cells`` of them (seed :data:`DRAWN_CELLS_SEED`) when there are
    more.
    """
    if max_cells is None or n_cells <= max_cells:
        return np.arange(n_cells)
    if max_cells < 1:
        from ..errors import InvalidArgumentError

        raise InvalidArgumentError(f"max_cells must be at least 1 or None, not {max_cells}")
    return np.sort(np.random.default_rng(DRAWN_CELLS_SEED).choice(n_cells, size=int(max_cells), replace=False))


def _say_drawn(ax, n_drawn: int, n_cells: int) -> None:
    """Add "n of N cells drawn" to the title of a panel that draws a subset of the cells."""
    if n_drawn < n_cells:
        note = f"{n_drawn:,} of {n_cells:,} cells drawn (random subset)"
        title = ax.get_title()
        ax.title.set_text(f"{title}\n{note}" if title else note)


def _axis_names(axis: str) -> tuple[str, str, str]:
    if axis == "volume":
        return "reversal_point", "asymmetry", "reversal point (µl)"
    if axis == "utility":
        return "reversal_point_utility", "asymmetry_utility", "reversal point (utility axis, spikes/s)"
    from ..errors import InvalidArgumentError

    raise InvalidArgumentError(f"axis must be 'volume' or 'utility', not {axis!r}")


def plot_response_curves(fit: xr.Dataset, *, ax=None, cmap: str = "viridis", log_x: bool = True,
                         max_cells: int | None = MAX_DRAWN_CELLS):
    """Mean baseline-subtracted response vs reward size, one line per cell coloured by its reversal point.

    Parameters
    ----------
    fit
        ``fit_cells`` result with ``mean_response(cell, reward_volume)`` (spikes/s) and ``reversal_point`` (µl).
    ax
        Axes to draw into; a new figure when omitted.
    cmap
        Colormap for the reversal points.
    log_x
        Reward axis on a log scale (the sizes span 0.1-20 µl).
    max_cells
        Draw the lines of at most this many cells (a random subset, said in the title; the colour scale
        still spans all cells); ``None`` draws every cell. See :data:`MAX_DRAWN_CELLS`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    import matplotlib as mpl

    ax = axes_or_new(ax)
    volumes = fit["reward_volume"].to_numpy()
    mean = fit["mean_response"].to_numpy()
    reversal = fit["reversal_point"].to_numpy()
    finite = reversal[np.isfinite(reversal)]
    low, high = (finite.min(), finite.max()) if finite.size else (0.0, 1.0)
    norm = mpl.colors.Normalize(vmin=low, vmax=high if high > low else low + 1)
    colormap = mpl.colormaps[cmap]
    from matplotlib.collections import LineCollection

    # one collection for all cells (the same lines, drawn in one artist: fast for thousands of cells), in
    # order of reversal point so that the highest are on top; cells without a reversal point in grey
    drawn = _drawn_cells(reversal.size, max_cells)
    order = drawn[np.argsort(np.nan_to_num(reversal[drawn], nan=-np.inf))]
    segments = np.stack([np.broadcast_to(volumes, mean.shape), mean], axis=-1)[order]
    colours = colormap(norm(reversal[order]))
    colours[~np.isfinite(reversal[order])] = (0.6, 0.6, 0.6, 1.0)
    ax.add_collection(LineCollection(list(segments), colors=colours, linewidths=1.0, alpha=0.85,
                                     rasterized=order.size > RASTERIZE_ABOVE))
    ax.autoscale_view()
    ax.axhline(0, color="k", lw=0.6, ls=":")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("reward (µl)")
    ax.set_ylabel("response (spikes/s, baseline-subtracted)")
    ax.set_title("responses by reward size")
    _say_drawn(ax, order.size, reversal.size)
    mappable = mpl.cm.ScalarMappable(norm=norm, cmap=colormap)
    ax.figure.colorbar(mappable, ax=ax, label="reversal point (µl)")
    return ax


def plot_reversal_points(fit: xr.Dataset, *, ax=None, axis: str = "volume",
                         max_cells: int | None = MAX_DRAWN_CELLS):
    """Reversal points of all cells, sorted, with their bootstrap confidence intervals.

    Parameters
    ----------
    fit
        ``fit_cells`` result (``reversal_point[_utility]`` and, if present, ``..._ci`` over ``bound``).
    axis
        ``"volume"`` (µl) or ``"utility"``.
    max_cells
        Draw at most this many cells (a random subset, each at its rank among all cells, said in the title);
        ``None`` draws every cell. See :data:`MAX_DRAWN_CELLS`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = axes_or_new(ax)
    name, _, label = _axis_names(axis)
    value = fit[name].to_numpy()
    order = np.argsort(np.nan_to_num(value, nan=np.inf))
    rank = np.arange(value.size)
    # the drawn cells at their ranks among all cells
    drawn = np.zeros(value.size, bool)
    drawn[_drawn_cells(value.size, max_cells)] = True
    keep = drawn[order]
    order, rank = order[keep], rank[keep]
    rasterized = order.size > RASTERIZE_ABOVE
    if f"{name}_ci" in fit:
        ci = fit[f"{name}_ci"].transpose("cell", "bound").to_numpy()[order]
        low = np.clip(value[order] - ci[:, 0], 0, None)
        high = np.clip(ci[:, 1] - value[order], 0, None)
        _, _, bars = ax.errorbar(rank, value[order], yerr=np.vstack([np.nan_to_num(low), np.nan_to_num(high)]),
                                 fmt="o", ms=3, color="C0", ecolor="0.6", elinewidth=0.8, capsize=0,
                                 rasterized=rasterized)
        for artist in bars:
            artist.set_rasterized(rasterized)
    else:
        ax.plot(rank, value[order], "o", ms=3, color="C0", rasterized=rasterized)
    if axis == "volume":
        for volume in fit["reward_volume"].to_numpy():
            ax.axhline(volume, color="0.85", lw=0.5, zorder=0)
    ax.set_xlabel("cell (sorted)")
    ax.set_ylabel(label)
    ax.set_title("reversal points\n(bars: 95% bootstrap percentile CI over trials)", fontsize=9)
    _say_drawn(ax, order.size, value.size)
    return ax


def plot_split_half(fit: xr.Dataset, *, ax=None, axis: str = "volume", max_cells: int | None = MAX_DRAWN_CELLS):
    """Reversal point from one half of the trials vs the other half, one dot per cell, with Pearson r.

    Needs ``reversal_point[_utility]_half`` over ``half`` (``fit_cells(..., split_half=True)``). Dots of at
    most ``max_cells`` cells are drawn (a random subset, said in the title; r, n and the axes' range use all
    cells); ``None`` draws every cell. See :data:`MAX_DRAWN_CELLS`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = axes_or_new(ax)
    name, _, label = _axis_names(axis)
    halves = fit[f"{name}_half"].transpose("cell", "half").to_numpy()
    a, b = halves[:, 0], halves[:, 1]
    drawn = _drawn_cells(a.size, max_cells)
    ax.plot(a[drawn], b[drawn], "o", ms=4, color="C1", alpha=0.8, label="cells (one random split)",
            rasterized=drawn.size > RASTERIZE_ABOVE)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.any():
        low, high = min(a[ok].min(), b[ok].min()), max(a[ok].max(), b[ok].max())
        ax.plot([low, high], [low, high], "k:", lw=0.8, label="identity (y = x)")
        ax.legend(fontsize=6, frameon=False, loc="upper left")
    r, n = pearson_r(a, b)
    ax.set_xlabel(f"{label}, half A")
    ax.set_ylabel(f"{label}, half B")
    ax.set_title(f"split-half reliability (r = {r:.2f}, n = {n})")
    _say_drawn(ax, drawn.size, a.size)
    return ax


def plot_asymmetry_vs_reversal(fit: xr.Dataset, *, ax=None, axis: str = "volume",
                               model_curves: dict[str, tuple[Sequence[float], Sequence[float]]] | None = None,
                               halves: bool = False, max_cells: int | None = MAX_DRAWN_CELLS):
    """Asymmetry tau = a+/(a+ + a-) vs reversal point per cell, with a least-squares line and model curves.

    Parameters
    ----------
    fit
        ``fit_cells`` result.
    axis
        ``"volume"`` (reversal point in µl, tau from the µl-axis slopes) or ``"utility"`` (both on the utility
        axis). Both coordinates of a panel always come from the same axis.
    model_curves
        Label -> ``(reversal_points µl, taus)`` of model populations, e.g. the expectiles of the task's reward
        distribution (the distributional-TD prediction) drawn as lines; drawn only on the µl axis.
    halves
        Plot the asymmetry of half B of the trials against the reversal point of half A (``*_half``
        variables of ``fit_cells``), as the paper's test does. Without ``halves`` both come from the same
        trials, where noise alone correlates them even under classic TD: the panel is titled
        "descriptive, not a test".
    max_cells
        Dots of at most this many cells are drawn (a random subset, said in the title; r, n and the line use
        all cells); ``None`` draws every cell. See :data:`MAX_DRAWN_CELLS`.

    Returns
    -------
    matplotlib.axes.Axes
    """
    ax = axes_or_new(ax)
    name, tau_name, label = _axis_names(axis)
    if halves:
        x = fit[f"{name}_half"].sel(half="a").to_numpy()
        y = fit[f"{tau_name}_half"].sel(half="b").to_numpy()
        label = f"{label}, half A"
    else:
        x, y = fit[name].to_numpy(), fit[tau_name].to_numpy()
    ok = np.isfinite(x) & np.isfinite(y)
    drawn = np.zeros(x.size, bool)
    drawn[_drawn_cells(x.size, max_cells)] = True
    ax.plot(x[ok & drawn], y[ok & drawn], "o", ms=4, color="C0", alpha=0.85, label="cells",
            rasterized=int(drawn.sum()) > RASTERIZE_ABOVE)
    r, n = pearson_r(x, y)
    if ok.sum() >= 3 and np.ptp(x[ok]) > 0:
        slope, intercept = np.polyfit(x[ok], y[ok], 1)
        grid = np.linspace(x[ok].min(), x[ok].max(), 200)     # only over the data's range
        line = intercept + slope * grid
        inside = (line >= 0) & (line <= 1)                    # tau is never drawn outside [0, 1]
        ax.plot(grid[inside], line[inside], "-", color="C0", lw=1.2,
                label=f"least-squares line (r = {r:.2f}, n = {n})")
    if axis == "volume":
        for index, (curve_label, (cx, cy)) in enumerate((model_curves or {}).items()):
            ax.plot(np.asarray(cx, float), np.asarray(cy, float), "--", color=f"C{index + 2}", lw=1.4,
                    label=curve_label)
    ax.axhline(0.5, color="0.7", lw=0.6, ls=":", label="tau = 0.5 (symmetric)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_xlabel(label)
    axis_word = "µl axis" if axis == "volume" else "utility axis"
    ax.set_ylabel(f"asymmetry a+/(a+ + a-) ({axis_word})" + (", half B" if halves else ""))
    ax.set_title("asymmetry vs reversal point: split halves (cross-validated)" if halves else
                 "asymmetry vs reversal point, same trials:\ndescriptive, not a test", fontsize=9)
    _say_drawn(ax, int(drawn.sum()), x.size)
    ax.legend(fontsize=6, frameon=False, loc="lower right")
    return ax


def plot_asymmetry_test(fit: xr.Dataset, tau_reversal: xr.Dataset | None = None,
                        control_tau: xr.Dataset | None = None, *, fig=None, axis: str = "utility",
                        tau_test: xr.Dataset | None = None, max_cells: int | None = MAX_DRAWN_CELLS):
    """The tau-reversal test as the original ran it, with its nulls beside the data (two panels).

    Left: asymmetry from half B of the trials against the reversal point from half A (one split, utility
    axis). Right: the distribution over random splits of Pearson r for the data, for a simulated classic-TD
    population of the same size (``control_tau``) and, as a line, the permutation null of the median r
    (``tau_reversal["r_median_null"]``), with the data's median r, its median split p and its permutation p.

    Parameters
    ----------
    fit
        ``fit_cells`` result (with ``*_half``).
    tau_reversal
        :func:`neurorl.analysis.reversal.tau_reversal_correlation` on the data.
    control_tau
        The same on a simulated classic-TD population (optional).
    fig
        Figure to draw into (two subplots are added); a new one when omitted.
    tau_test
        :func:`neurorl.analysis.reversal.tau_reversal_test` on the data (the reported, calibrated test): its
        permutation p goes in the title beside the all-cells one.
    max_cells
        Most cells drawn in the left panel (:data:`MAX_DRAWN_CELLS`; ``None``: all).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(8.4, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    plot_asymmetry_vs_reversal(fit, ax=left, axis=axis, halves=True, max_cells=max_cells)
    _plot_split_r(right, tau_reversal, control_tau, tau_test)
    return fig


def _plot_split_r(ax, tau_reversal: xr.Dataset | None, control_tau: xr.Dataset | None,
                  tau_test: xr.Dataset | None = None) -> None:
    bins = np.linspace(-1, 1, 41)
    if tau_reversal is not None:
        ax.hist(tau_reversal["r"].to_numpy(), bins=bins, density=True, color="C0", alpha=0.6,
                label=f"data: r over {tau_reversal.sizes['split']} splits")
        ax.axvline(float(tau_reversal["r_median"]), color="C0", lw=1.5,
                   label=f"data median r = {float(tau_reversal['r_median']):.2f}")
        if "r_median_null" in tau_reversal and tau_reversal.sizes.get("permutation", 0):
            ax.hist(tau_reversal["r_median_null"].to_numpy(), bins=bins, density=True, histtype="step",
                    color="k", lw=1.0, label="permutation null of the median r")
    if control_tau is not None:
        ax.hist(control_tau["r"].to_numpy(), bins=bins, density=True, color="C3", alpha=0.45,
                label=f"simulated classic TD (null): r over {control_tau.sizes['split']} splits")
    title = "Pearson r, tau (half B) vs reversal point (half A)"
    if tau_reversal is not None:
        p_perm = float(tau_reversal["p_perm"]) if "p_perm" in tau_reversal else float("nan")
        title += (f"\nmedian split p = {float(tau_reversal['p_median']):.2g} (summary); "
                  f"permutation p, all cells = {p_perm:.2g}")
    if tau_test is not None:
        title += (f"\nreported test (model estimator, {tau_test.attrs.get('n_cells_tested', '?')} cells off the "
                  f"floor): r = {float(tau_test['r_median']):.2f}, permutation p = {float(tau_test['p_perm']):.2g}")
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("Pearson r across cells (dimensionless)")
    ax.set_ylabel("density (per unit r)")
    ax.legend(fontsize=6, frameon=False, loc="upper left")


def plot_decoded_distribution(decoded: xr.Dataset, *, ax=None, task_volumes: Sequence[float] | None = None,
                              task_probabilities: Sequence[float] | None = None, log_x: bool = False,
                              controls: dict | None = None):
    """Decoded reward density (``decode_distribution``) against the task's reward distribution.

    The task distribution is drawn as stems (probabilities, right axis); the decoded density as a line with a
    histogram of the pooled samples (left axis, per µl). ``controls``
    (:func:`neurorl.analysis.decoding.decoding_controls`) adds the W1 distances (µl) of the decode and of its
    controls in a box, so that one sees whether the decode is closer to the task than chance.

    Returns
    -------
    matplotlib.axes.Axes
        The density axes (the stems live on ``ax.right_ax``-like twin created here).
    """
    ax = axes_or_new(ax)
    grid = decoded["reward"].to_numpy()
    density = decoded["density"].to_numpy()
    samples = decoded["samples"].to_numpy()
    kept = decoded["kept"].to_numpy() if "kept" in decoded else np.ones(samples.shape[0], bool)
    pooled = samples[kept].ravel()
    ax.hist(pooled, bins=40, range=(grid.min(), grid.max()), density=True, color="C0", alpha=0.25,
            label="decoded samples")
    ax.plot(grid, density, color="C0", lw=1.5, label="decoded density")
    ax.set_xlabel("reward (µl)")
    ax.set_ylabel("density (1/µl)")
    loss = decoded.attrs.get("loss", np.nan)
    support = (decoded.attrs.get("support_low", np.nan), decoded.attrs.get("support_high", np.nan))
    ax.set_title(f"decoded distribution ({decoded.attrs.get('code', 'expectile')} code, loss {loss:.2g})\n"
                 f"support {support[0]:g}-{support[1]:g} µl", fontsize=9)
    if controls:
        lines = ["W1 (µl), lower = closer:",
                 f"decode vs task: {controls.get('decode_w1_ul', np.nan):.2f}",
                 f"classic-TD decode vs task: {controls.get('control_classic_td_w1_ul', np.nan):.2f}",
                 f"shuffled-tau decode vs task: {controls.get('control_shuffled_asymmetry_w1_ul', np.nan):.2f}",
                 f"decode vs uniform: {controls.get('reference_uniform_w1_ul', np.nan):.2f}",
                 f"decode vs unimodal: {controls.get('reference_unimodal_w1_ul', np.nan):.2f}"]
        ax.text(0.98, 0.62, "\n".join(lines), transform=ax.transAxes, ha="right", va="top", fontsize=6,
                bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "0.8"})
    if task_volumes is not None and task_probabilities is not None:
        twin = ax.twinx()
        volumes = np.asarray(task_volumes, float)
        probabilities = np.asarray(task_probabilities, float)
        twin.vlines(volumes, 0, probabilities, color="C3", lw=2)
        twin.plot(volumes, probabilities, "o", color="C3", ms=4, label="task distribution")
        twin.set_ylim(0, probabilities.max() * 1.15)
        twin.set_ylabel("task probability", color="C3")
        handles = ax.get_legend_handles_labels()
        twin_handles = twin.get_legend_handles_labels()
        ax.legend(handles[0] + twin_handles[0], handles[1] + twin_handles[1], fontsize=7, frameon=False)
    else:
        ax.legend(fontsize=7, frameon=False)
    if log_x:
        ax.set_xscale("symlog", linthresh=0.1)
    return ax


def plot_dopamine_summary(fit: xr.Dataset, decoded: xr.Dataset | None = None, *, fig=None,
                          model_curves: dict | None = None, task_volumes=None, task_probabilities=None,
                          title: str | None = None, tau_reversal: xr.Dataset | None = None,
                          control_tau: xr.Dataset | None = None, controls: dict | None = None,
                          tau_test: xr.Dataset | None = None, max_cells: int | None = MAX_DRAWN_CELLS):
    """The main-job figure: response curves, sorted reversal points, split-half scatter, asymmetry vs
    reversal point (split halves, utility axis; with ``tau_reversal`` / ``control_tau`` the distribution of r
    over splits beside the classic-TD null replaces the same-trials panel), and the decoded distribution
    (2 x 3 panels).

    Parameters
    ----------
    fit
        ``fit_cells`` result.
    decoded
        ``decode_fit`` result (optional; without it the decoded-distribution panel stays empty).
    fig
        Figure to draw into (six subplots are added); a new 13 x 7.5 inch one when omitted.
    model_curves, task_volumes, task_probabilities, title, tau_reversal, control_tau, controls
        Passed on to the panels (model curves over the asymmetry panel, the task's distribution over the
        decoded one, the population tests beside their nulls).
    max_cells
        Most cells whose marks each panel draws (:data:`MAX_DRAWN_CELLS`; ``None``: all).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if fig is None:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(13, 7.5), layout="constrained")
    axes = fig.subplots(2, 3)
    plot_response_curves(fit, ax=axes[0, 0], max_cells=max_cells)
    plot_reversal_points(fit, ax=axes[0, 1], max_cells=max_cells)
    if "reversal_point_half" in fit:
        plot_split_half(fit, ax=axes[0, 2], max_cells=max_cells)
    else:
        axes[0, 2].set_axis_off()
    if tau_reversal is not None:
        _plot_split_r(axes[1, 0], tau_reversal, control_tau, tau_test)
    else:
        plot_asymmetry_vs_reversal(fit, ax=axes[1, 0], model_curves=model_curves, max_cells=max_cells)
    if "reversal_point_utility_half" in fit and "asymmetry_utility_half" in fit:
        plot_asymmetry_vs_reversal(fit, ax=axes[1, 1], axis="utility", halves=True, max_cells=max_cells)
    elif "reversal_point_utility" in fit:
        plot_asymmetry_vs_reversal(fit, ax=axes[1, 1], axis="utility", max_cells=max_cells)
    else:
        axes[1, 1].set_axis_off()
    if decoded is not None:
        plot_decoded_distribution(decoded, ax=axes[1, 2], task_volumes=task_volumes,
                                  task_probabilities=task_probabilities, controls=controls)
    else:
        axes[1, 2].set_axis_off()
    if title:
        fig.suptitle(title)
    return fig
