"""Per-session responses are never pooled: the analyses take a list of session blocks and give exactly the
numbers of the pooled matrix, one block at a time (bounded memory for many sessions)."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr

from neurorl.analysis import reversal as rev
from neurorl.analysis.responses import align_trial_types, compute_responses, pool_responses, skip_cells
from neurorl.models.dopamine_recording import simulate_recordings


@pytest.fixture(scope="module")
def blocks():
    sim = simulate_recordings(8, 3, 160, n_training_trials=500, spike_window_s=(1.2, 0.3), seed=5)
    return [compute_responses([session]) for session in sim.sessions]


def _assert_same(a: xr.Dataset, b: xr.Dataset) -> None:
    assert list(a.data_vars) == list(b.data_vars)
    for name in a.data_vars:
        np.testing.assert_array_equal(a[name].to_numpy(), b[name].to_numpy(), err_msg=name)
    if "cell" in a.coords:
        np.testing.assert_array_equal(a["cell"].to_numpy(), b["cell"].to_numpy())


@pytest.mark.parametrize("method", ["counting", "model"])
def test_blocks_give_the_pooled_numbers_exactly(blocks, method):
    pooled = pool_responses(blocks)
    _assert_same(rev.fit_cells(blocks, method=method, n_bootstrap=25, seed=1),
                 rev.fit_cells(pooled, method=method, n_bootstrap=25, seed=1))
    _assert_same(rev.tau_reversal_correlation(blocks, n_splits=30, seed=2, method=method, n_permutations=40),
                 rev.tau_reversal_correlation(pooled, n_splits=30, seed=2, method=method, n_permutations=40))
    _assert_same(rev.reversal_split_half(blocks, n_splits=20, seed=3, method=method),
                 rev.reversal_split_half(pooled, n_splits=20, seed=3, method=method))
    _assert_same(rev.same_vs_diverse(blocks, n_splits=10, seed=4, method=method),
                 rev.same_vs_diverse(pooled, n_splits=10, seed=4, method=method))


def test_block_order_does_not_change_the_draws(blocks):
    """Resampling follows the sorted session order, so a list in any order gives the same cell's numbers."""
    forward = rev.fit_cells(blocks, n_bootstrap=20, seed=7)
    backward = rev.fit_cells(blocks[::-1], n_bootstrap=20, seed=7)
    for name in ("reversal_point", "reversal_point_ci", "asymmetry_half"):
        np.testing.assert_array_equal(forward[name].sel(cell=backward["cell"]).to_numpy(),
                                      backward[name].to_numpy())


def test_alignment_constants_are_those_of_the_pooled_matrix(blocks):
    pooled = align_trial_types(pool_responses(blocks))
    aligned = align_trial_types(blocks)
    assert isinstance(aligned, list) and len(aligned) == len(blocks)
    assert aligned[0].attrs["type_offsets"] == pooled.attrs["type_offsets"]
    assert pooled.attrs["type_offsets"] != "{}"
    np.testing.assert_allclose(pool_responses(aligned).to_numpy(), pooled.to_numpy(), rtol=0, atol=1e-12)


def test_skip_cells_on_blocks_lists_the_same_cells(blocks):
    silent = blocks[1].copy()
    silent[0] = np.nan
    kept_blocks, skipped_blocks = skip_cells([blocks[0], silent, blocks[2]])
    kept, skipped = skip_cells(pool_responses([blocks[0], silent, blocks[2]]))
    assert isinstance(kept_blocks, list)
    assert np.concatenate([b["cell"].to_numpy() for b in kept_blocks]).tolist() == kept["cell"].to_numpy().tolist()
    assert skipped_blocks.to_dict("list") == skipped.to_dict("list")
    assert len(skipped) == 1
