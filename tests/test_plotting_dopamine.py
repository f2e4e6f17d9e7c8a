"""Smoke and content tests of the dopamine figures (neurorl.plotting.dopamine)."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.figure import Figure

from neurorl.plotting import dopamine as plots


@pytest.fixture(scope="module")
def results():
    from neurorl.analysis.decoding import decode_distribution
    from neurorl.analysis.responses import compute_responses
    from neurorl.analysis.reversal import fit_cells
    from neurorl.models.dopamine_recording import simulate_recordings

    sessions, _ = simulate_recordings(8, 2, 200, code="expectile", seed=2)
    fit = fit_cells(compute_responses(sessions), n_bootstrap=20, seed=0)
    ok = np.isfinite(fit["reversal_point"].to_numpy()) & np.isfinite(fit["asymmetry"].to_numpy())
    decoded = decode_distribution(fit["reversal_point"].to_numpy()[ok], fit["asymmetry"].to_numpy()[ok],
                                  n_restarts=4, seed=0)
    return fit, decoded


@pytest.mark.parametrize("function, kwargs", [
    (plots.plot_response_curves, {}),
    (plots.plot_reversal_points, {}),
    (plots.plot_reversal_points, {"axis": "utility"}),
    (plots.plot_split_half, {}),
    (plots.plot_asymmetry_vs_reversal, {"model_curves": {"model": ([1, 5, 10], [0.1, 0.5, 0.9])}}),
    (plots.plot_asymmetry_vs_reversal, {"axis": "utility", "halves": True}),
])
def test_fit_figures_draw_into_given_ax(results, function, kwargs):
    fit, _ = results
    fig = Figure()
    ax = fig.add_subplot()
    assert function(fit, ax=ax, **kwargs) is ax
    assert ax.lines or ax.collections
    # and without an ax they make their own figure
    assert function(fit, **kwargs).figure is not fig


def test_one_line_per_cell_in_response_curves(results):
    fit, _ = results
    ax = plots.plot_response_curves(fit)
    assert len(ax.lines) == fit.sizes["cell"] + 1  # + the zero line


def test_decoded_distribution_and_summary(results):
    fit, decoded = results
    ax = plots.plot_decoded_distribution(decoded, task_volumes=[0.1, 5, 20], task_probabilities=[0.2, 0.5, 0.3])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), decoded["density"].to_numpy())
    fig = plots.plot_dopamine_summary(fit, decoded)
    assert isinstance(fig, Figure) and len(fig.axes) >= 6


def test_bad_axis(results):
    with pytest.raises(ValueError):
        plots.plot_reversal_points(results[0], axis="log")
