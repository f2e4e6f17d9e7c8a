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
    # one collection holding one line per cell (each cell's mean response at every reward size), + the zero line
    (collection,) = ax.collections
    segments = collection.get_segments()
    assert len(segments) == fit.sizes["cell"] and len(ax.lines) == 1
    drawn = sorted(tuple(np.round(seg[:, 1], 9)) for seg in segments)
    expected = sorted(tuple(np.round(row, 9)) for row in fit["mean_response"].to_numpy())
    assert drawn == expected


def test_large_populations_draw_a_subset_and_say_so(results):
    fit, _ = results
    n_cells = fit.sizes["cell"]
    # all cells (no note) up to max_cells; a fixed random subset, said in the title, above it
    ax = plots.plot_response_curves(fit, max_cells=n_cells)
    assert len(ax.collections[0].get_segments()) == n_cells and "drawn" not in ax.get_title()
    for _ in range(2):
        ax = plots.plot_response_curves(fit, max_cells=5)
        assert len(ax.collections[0].get_segments()) == 5
        assert ax.get_title().endswith(f"5 of {n_cells} cells drawn (random subset)")
        segments = ax.collections[0].get_segments()
        rows = {tuple(np.round(row, 9)) for row in fit["mean_response"].to_numpy()}
        assert all(tuple(np.round(seg[:, 1], 9)) in rows for seg in segments)
    first = plots.plot_split_half(fit, max_cells=5)
    again = plots.plot_split_half(fit, max_cells=5)
    np.testing.assert_array_equal(first.lines[0].get_xdata(), again.lines[0].get_xdata())   # a fixed subset
    assert len(first.lines[0].get_xdata()) == 5 and "5 of" in first.get_title()
    assert f"n = {int(np.isfinite(fit['reversal_point_half'].to_numpy()).all(axis=1).sum())}" in first.get_title()
    ax = plots.plot_reversal_points(fit, max_cells=5)
    ranks = ax.lines[0].get_xdata()
    assert len(ranks) == 5 and ranks.max() < n_cells and "5 of" in ax.get_title()      # ranks among all cells
    ax = plots.plot_asymmetry_vs_reversal(fit, max_cells=5)
    assert len(ax.lines[0].get_xdata()) <= 5 and "5 of" in ax.get_title()
    fig = plots.plot_dopamine_summary(fit, max_cells=None)
    assert not any("drawn" in a.get_title() for a in fig.axes)


def test_decoded_distribution_and_summary(results):
    fit, decoded = results
    ax = plots.plot_decoded_distribution(decoded, task_volumes=[0.1, 5, 20], task_probabilities=[0.2, 0.5, 0.3])
    np.testing.assert_allclose(ax.lines[0].get_ydata(), decoded["density"].to_numpy())
    fig = plots.plot_dopamine_summary(fit, decoded)
    assert isinstance(fig, Figure) and len(fig.axes) >= 6


def test_bad_axis(results):
    with pytest.raises(ValueError):
        plots.plot_reversal_points(results[0], axis="log")


def test_same_trials_panel_is_labelled_descriptive_and_split_panel_cross_validated(results):
    fit, _ = results
    same = plots.plot_asymmetry_vs_reversal(fit)
    assert "descriptive, not a test" in same.get_title()
    halves = plots.plot_asymmetry_vs_reversal(fit, axis="utility", halves=True)
    assert "cross-validated" in halves.get_title()
    # both axes of a panel name their axis; every drawn line is in the legend
    assert "utility" in halves.get_xlabel() and "utility" in halves.get_ylabel()
    assert "µl" in same.get_xlabel() and "µl" in same.get_ylabel()
    labels = [text.get_text() for text in same.get_legend().get_texts()]
    assert any("tau = 0.5" in label for label in labels) and any("least-squares" in label for label in labels)


def test_fit_line_is_clipped_to_the_data_and_to_tau_in_0_1():
    import xarray as xr

    # a steep relation: the least-squares line leaves [0, 1] inside the data's range
    x = np.array([0.5, 1.0, 2.0, 5.0, 10.0, 20.0])
    fit = xr.Dataset({"reversal_point": ("cell", x), "asymmetry": ("cell", [0.0, 0.0, 0.05, 0.5, 1.0, 1.0])})
    ax = plots.plot_asymmetry_vs_reversal(fit)
    line = next(line for line in ax.lines if "least-squares" in line.get_label())
    assert line.get_xdata().min() >= x.min() and line.get_xdata().max() <= x.max()
    assert 0.0 <= line.get_ydata().min() and line.get_ydata().max() <= 1.0


def test_asymmetry_test_figure_shows_the_nulls_beside_the_data():
    import xarray as xr

    from neurorl.analysis.responses import compute_responses
    from neurorl.analysis.reversal import fit_cells, tau_reversal_correlation
    from neurorl.models.dopamine_recording import simulate_recordings

    sessions, _ = simulate_recordings(8, 2, 150, code="expectile", seed=4, n_training_trials=1000)
    responses = compute_responses(sessions)
    fit = fit_cells(responses, n_bootstrap=0, seed=0)
    tau = tau_reversal_correlation(responses, n_splits=20, n_permutations=19, seed=0)
    null, _ = simulate_recordings(8, 2, 150, code="classic", seed=5, n_training_trials=1000)
    control = tau_reversal_correlation(compute_responses(null), n_splits=20, n_permutations=0, seed=0)
    fig = plots.plot_asymmetry_test(fit, tau, control)
    assert isinstance(fig.axes[0].figure, type(fig)) and len(fig.axes) == 2
    labels = [text.get_text() for text in fig.axes[1].get_legend().get_texts()]
    assert any("classic TD" in label for label in labels) and any("permutation null" in label for label in labels)
    assert "permutation p" in fig.axes[1].get_title() and "median split p" in fig.axes[1].get_title()
    assert isinstance(tau, xr.Dataset)
