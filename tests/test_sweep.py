"""``neurorl sweep``: the same seeds give the same numbers locally and on a Dask cluster."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neurorl import cli
from neurorl.pipelines.sweep import qagrel_sweep

SMALL = {"hidden": [32], "epochs": 2, "n_train": 6000, "n_test": 1000, "learning_rate": 0.5}


@pytest.fixture(scope="module")
def local_sweep(mnist_dir):
    configs = [{**SMALL, "feedback": "symmetric"}, {**SMALL, "rule": "backprop"}]
    return configs, qagrel_sweep(configs, [0, 1], n_jobs=1, progress=False)


def test_sweep_table_and_histories(local_sweep) -> None:
    configs, (histories, table) = local_sweep
    assert list(table["seed"]) == [0, 1, 0, 1]
    assert set(table.columns) >= {"config", "seed", "test_accuracy", "epochs"}
    assert (table["epochs"] == 2).all()
    # 2 epochs on 6,000 images: far above chance (0.1 +- 0.01 on 1,000 test images), below full-data accuracy;
    # supervised backprop (error on all outputs) is ahead of trial-and-error Q-AGREL this early
    assert table["test_accuracy"].between(0.3, 0.97).all()
    accuracy = table.groupby(table["config"].str.startswith("backprop"))["test_accuracy"].mean()
    assert accuracy[True] > accuracy[False] + 0.1
    assert histories["test_accuracy"].dims == ("config", "seed", "epoch")
    np.testing.assert_allclose(histories["test_accuracy"].sel(epoch=2).values.ravel(), table["test_accuracy"])
    # different seeds give different networks
    assert table["test_accuracy"].iloc[0] != table["test_accuracy"].iloc[1]


def test_dask_cluster_gives_the_same_sweep(local_sweep) -> None:
    distributed = pytest.importorskip("distributed")
    configs, (local_histories, local_table) = local_sweep
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        histories, table = qagrel_sweep(configs, [0, 1], scheduler=cluster.scheduler_address, progress=False)
    pd.testing.assert_frame_equal(table.drop(columns="seconds"), local_table.drop(columns="seconds"))
    keep = ["test_accuracy", "train_reward", "validation_accuracy", "selection_frequency"]
    xr.testing.assert_equal(histories[keep], local_histories[keep])


def test_sweep_cli_writes_results(mnist_dir, tmp_path) -> None:
    code = cli.main(["sweep", "qagrel", "--seeds", "0", "--hidden", "32", "--epochs", "1", "--n-train", "6000",
                     "--n-test", "500", "--jobs", "1", "--quiet", "--out", str(tmp_path)])
    assert code == 0
    table = pd.read_csv(tmp_path / "results.csv")
    assert table.loc[0, "seed"] == 0 and table.loc[0, "epochs"] == 1
    assert 0.3 < table.loc[0, "test_accuracy"] < 1.0
    with xr.open_dataset(tmp_path / "results.nc", engine="h5netcdf") as stored:
        assert float(stored["test_accuracy"].sel(seed=0, epoch=1).item()) == pytest.approx(table.loc[0, "test_accuracy"])


def test_dopamine_recovery_improves_with_trials(tmp_path) -> None:
    from neurorl.pipelines.sweep import dopamine_recovery_sweep

    table = dopamine_recovery_sweep([20], [50, 400], [0, 1, 2], n_jobs=1, progress=False)
    assert len(table) == 6 and set(table.columns) >= {"n_cells", "n_trials", "seed", "reversal_point_rmse"}
    median = table.groupby("n_trials").median(numeric_only=True)
    # estimation error falls like 1/sqrt(trials): 8x the trials should cut the RMSE by ~2.8x; ask for 1.5x
    assert median.loc[400, "reversal_point_rmse"] < median.loc[50, "reversal_point_rmse"] / 1.5
    assert median.loc[400, "reversal_point_r"] > 0.9
    assert median.loc[400, "asymmetry_r"] > median.loc[50, "asymmetry_r"]
    # with 400 trials per cell the distributional code is detected (one-sided split-half test)
    assert median.loc[400, "tau_reversal_p"] < 0.05


def test_sweep_dopamine_cli(tmp_path) -> None:
    code = cli.main(["sweep", "dopamine", "--cells", "8", "--trials", "60", "--seeds", "0", "--jobs", "1",
                     "--quiet", "--out", str(tmp_path)])
    assert code == 0
    table = pd.read_csv(tmp_path / "results.csv")
    assert table[["n_cells", "n_trials", "seed"]].values.tolist() == [[8, 60, 0]]
    assert (tmp_path / "recovery.png").stat().st_size > 10_000
