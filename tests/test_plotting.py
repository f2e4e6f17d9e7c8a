"""Conventions every plotting function keeps: data positional, then keyword-only ``ax=None`` (or ``fig=None``)."""

from __future__ import annotations

import inspect

import matplotlib.pyplot as plt
import pytest

import neurorl.plotting as plotting
from neurorl.plotting._axes import axes_or_new

FUNCTIONS = [name for name in plotting.__all__ if name.startswith("plot_")]


def test_there_are_plotting_functions_to_check():
    assert len(FUNCTIONS) >= 15


@pytest.mark.parametrize("name", FUNCTIONS)
def test_ax_or_fig_is_the_first_keyword_only_parameter(name):
    parameters = inspect.signature(getattr(plotting, name)).parameters.values()
    keyword_only = [p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
    assert keyword_only, f"{name} has no keyword-only parameters"
    first = keyword_only[0]
    assert first.name in ("ax", "fig") and first.default is None, (name, first)
    positional = [p.name for p in parameters if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert "ax" not in positional and "fig" not in positional


def test_axes_or_new_returns_the_given_axes_or_a_new_figure():
    fig, ax = plt.subplots()
    assert axes_or_new(ax) is ax
    new = axes_or_new(None, figsize=(2.0, 1.5))
    assert new is not ax and tuple(new.figure.get_size_inches()) == (2.0, 1.5)
    plt.close("all")
