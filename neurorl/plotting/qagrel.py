"""Figures of Q-AGREL / backprop training runs (histories from :func:`neurorl.models.training.train`)."""

from __future__ import annotations

import warnings

import numpy as np
import xarray as xr
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ._axes import axes_or_new

__all__ = ["plot_learning_curve", "plot_selection_frequency", "plot_alignment", "plot_accuracy_by_row",
           "plot_class_counts"]


def plot_learning_curve(history: xr.Dataset, *, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Train reward, validation and test accuracy (%) per epoch; the convergence epoch is marked."""
    ax = axes_or_new(ax, figsize=(5.0, 3.5))
    epochs = history["epoch"].values
    for name, label, style in (("train_reward", "train reward", "-"),
                               ("validation_accuracy", "validation accuracy", ":"),
                               ("test_accuracy", "test accuracy", "-")):
        if name in history:
            ax.plot(epochs, 100 * history[name].values, style, marker="o" if len(epochs) < 30 else None,
                    markersize=3, label=label)
    converged = history.attrs.get("converged_epoch")
    if converged:
        ax.axvline(converged, color="0.6", linewidth=0.8, linestyle="--", label=f"converged (epoch {converged})")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("% (reward rate / accuracy)")
    ax.set_title(title or _run_title(history))
    ax.legend(loc="lower right", fontsize="small")
    ax.grid(alpha=0.3)
    return ax


def plot_selection_frequency(history: xr.Dataset, *, ax: Axes | None = None, title: str | None = None,
                             by: str = "auto") -> Axes:
    """Fraction of training trials on which each class was chosen (class discovery).

    ``by="epoch"`` plots one point per epoch; ``by="block"`` uses the finer trial blocks
    (``block_selection_frequency``, x axis in epochs of training trials); ``"auto"`` takes blocks when present.
    """
    ax = axes_or_new(ax, figsize=(5.0, 3.5))
    use_blocks = by == "block" or (by == "auto" and "block_selection_frequency" in history)
    if use_blocks:
        frequency = history["block_selection_frequency"]
        x = history["block_end_trial"].values / max(int(history.attrs.get("n_train", 1)), 1)
    else:
        frequency = history["selection_frequency"]
        x = history["epoch"].values
    colours = _class_colours(frequency.sizes["class"])
    for index, cls in enumerate(frequency["class"].values):
        ax.plot(x, frequency.sel({"class": cls}).values, color=colours[index], label=str(cls))
    ax.axhline(1.0 / frequency.sizes["class"], color="0.5", linewidth=0.8, linestyle=":", label="uniform")
    ax.set_xlabel("epoch (training trials / training-set size)" if use_blocks else "epoch")
    if not use_blocks:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("selection frequency")
    ax.set_title(title or "class selection during training")
    ax.legend(title="class", fontsize="x-small", ncol=2, loc="upper right")
    ax.grid(alpha=0.3)
    return ax


def plot_class_counts(class_counts, kind: str = "selected", *, ax: Axes | None = None,
                      title: str | None = None) -> Axes:
    """Per-class training choices per epoch from a paper-protocol run's ``class_counts`` table.

    Parameters
    ----------
    class_counts
        :attr:`neurorl.models.paper_training.PaperRun.class_counts` (a DataFrame with ``epoch`` and
        ``presented_<c>``, ``selected_<c>``, ``correct_<c>`` columns), e.g. read from ``class_counts.csv``.
    kind
        ``"selected"``: fraction of the epoch's trials on which class ``c`` was chosen (the paper's Fig. 6a, c);
        ``"correct"``: fraction of the trials of class ``c`` on which it was chosen (Fig. 6b, d).
    """
    if kind not in ("selected", "correct"):
        raise ValueError(f"kind must be 'selected' or 'correct', got {kind!r}")
    ax = axes_or_new(ax, figsize=(5.0, 3.5))
    classes = sorted(int(c.split("_", 1)[1]) for c in class_counts.columns if c.startswith("presented_"))
    presented = np.column_stack([class_counts[f"presented_{c}"].to_numpy(float) for c in classes])
    values = np.column_stack([class_counts[f"{kind}_{c}"].to_numpy(float) for c in classes])
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = values / (presented.sum(axis=1, keepdims=True) if kind == "selected" else presented)
    epochs = class_counts["epoch"].to_numpy()
    colours = _class_colours(len(classes))
    for index, cls in enumerate(classes):
        ax.plot(epochs, fraction[:, index], color=colours[index], label=str(cls), marker=".", markersize=3)
    if kind == "selected":
        ax.axhline(1.0 / len(classes), color="0.5", linewidth=0.8, linestyle=":")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("selection frequency" if kind == "selected" else "correct choices (fraction of class)")
    ax.set_title(title or ("class selection" if kind == "selected" else "correct choices per class"))
    ax.legend(title="class", fontsize="x-small", ncol=2, loc="best")
    ax.grid(alpha=0.3)
    return ax


def plot_alignment(history: xr.Dataset, *, ax: Axes | None = None) -> Axes:
    """Angle (degrees) between feedback and feedforward weights per layer and epoch."""
    ax = axes_or_new(ax, figsize=(5.0, 3.5))
    if "alignment_angle" in history:
        for layer in history["layer"].values:
            ax.plot(history["epoch"].values, history["alignment_angle"].sel(layer=layer).values,
                    label=f"layer {layer}")
        ax.legend(fontsize="small")
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("feedback / feedforward angle (deg)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    return ax


def plot_accuracy_by_row(curves: xr.DataArray, *, ax: Axes | None = None) -> Axes:
    """Mean test accuracy (%) per epoch for each row of a sweep, shaded +- 1 s.d. over seeds.

    ``curves`` has dims (``row``, ``seed``, ``epoch``).
    """
    ax = axes_or_new(ax, figsize=(7.0, 4.5))
    epochs = curves["epoch"].values
    for row in curves["row"].values:
        values = 100 * curves.sel(row=row).values
        if np.all(np.isnan(values)):
            ax.plot([], [], label=f"{row} (no finite run)")
            continue
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # epochs where every seed had stopped
            mean = np.nanmean(values, axis=0)
            sd = np.nanstd(values, axis=0)
        line, = ax.plot(epochs, mean, label=str(row))
        ax.fill_between(epochs, mean - sd, mean + sd, color=line.get_color(), alpha=0.15)
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize="x-small")
    ax.grid(alpha=0.3)
    return ax


def _class_colours(n: int):
    from matplotlib import colormaps
    cmap = colormaps["tab10" if n <= 10 else "viridis"]
    return [cmap(i if n <= 10 else i / max(n - 1, 1)) for i in range(n)]


def _run_title(history: xr.Dataset) -> str:
    attrs = history.attrs
    sizes = "-".join(str(int(n)) for n in np.atleast_1d(attrs.get("layer_sizes", [])))
    rule = attrs.get("rule", "")
    extra = f", {attrs['feedback']} feedback" if rule == "qagrel" else ""
    return f"{rule} {sizes}{extra}, lr {attrs.get('learning_rate', '')}"


def figure_of(ax: Axes) -> Figure:
    """The Figure an Axes belongs to."""
    return ax.get_figure()
