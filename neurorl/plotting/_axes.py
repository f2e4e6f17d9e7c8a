"""The one way a plotting function gets its Axes: the one it is given, or a new figure's."""

from __future__ import annotations

from matplotlib.axes import Axes


def axes_or_new(ax: Axes | None, figsize: tuple[float, float] = (4.0, 3.2)) -> Axes:
    """Return ``ax``, or the Axes of a new pyplot figure of ``figsize`` (inches, constrained layout).

    A pyplot figure, so that a call without ``ax`` shows in a notebook; the pipelines save it with
    :func:`neurorl.io.results.save_figure`, which closes it.
    """
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    _, ax = plt.subplots(figsize=figsize, layout="constrained")
    return ax
