"""Sessions read one at a time, locally or on a Dask cluster: the same responses and results as all at once."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import xarray as xr

from neurorl.analysis.responses import compute_responses, pool_responses
from neurorl.cli import main
from neurorl.errors import InvalidArgumentError
from neurorl.io.nwb import dopamine_files, read_dopamine_folder
from neurorl.pipelines.dopamine_sessions import stream_responses

FAST = ["--bootstrap", "20", "--splits", "20", "--quiet"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("sessions")
    assert main(["simulate", "dopamine", "--cells", "9", "--sessions", "3", "--trials", "150", "--seed", "4",
                 "--spike-window", "1.2", "0.3", "--out", str(out), "--quiet"]) == 0
    return out


def test_pooling_sessions_equals_computing_them_together(folder):
    recordings = read_dopamine_folder(folder)
    together = compute_responses(recordings)
    pooled = pool_responses([compute_responses([r]) for r in recordings])
    xr.testing.assert_identical(together, pooled)
    streamed, unit_types = stream_responses(dopamine_files(folder))
    xr.testing.assert_identical(together, streamed)
    assert unit_types == {"dopamine": 9}


def test_pooling_refuses_different_settings(folder):
    recordings = read_dopamine_folder(folder)
    with pytest.raises(InvalidArgumentError, match="different settings"):
        pool_responses([compute_responses(recordings[:1]), compute_responses(recordings[1:], window_ms=(100, 500))])


def test_dask_cluster_gives_the_local_results(folder, tmp_path):
    distributed = pytest.importorskip("distributed")
    from neurorl.io.spec import RecordingSpec
    from neurorl.pipelines.dopamine import analyze_dopamine

    files = dopamine_files(folder)
    local, local_types = stream_responses(files)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote, remote_types = stream_responses(files, scheduler=cluster.scheduler_address)
        xr.testing.assert_identical(local, remote)
        assert local_types == remote_types
        out = tmp_path / "remote"
        assert main(["fit", "dopamine", str(folder), "--scheduler", cluster.scheduler_address, "--out", str(out),
                     *FAST]) == 0
    # the command's results on the cluster are those of the same analysis run here
    here = analyze_dopamine([], n_bootstrap=20, n_splits=20, seed=0, data_name=folder.name, make_figures=False,
                            spec=RecordingSpec(), responses=local, unit_types=local_types)
    pd.testing.assert_frame_equal(pd.read_csv(out / "cells.csv"), here.cells, check_dtype=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tau_reversal_r"] == pytest.approx(here.summary["tau_reversal_r"], rel=1e-12)
    assert summary["decode_loss"] == pytest.approx(here.summary["decode_loss"], rel=1e-12)


def test_fit_never_pools_the_sessions(folder, tmp_path, monkeypatch):
    """`fit dopamine` keeps one block per session from reading to the estimates (memory bounded by the largest
    session): pooling is not called, and the results are those of the pooled matrix."""
    from neurorl.analysis import responses as responses_module
    from neurorl.io.spec import RecordingSpec
    from neurorl.pipelines.dopamine import analyze_dopamine

    blocks, unit_types = stream_responses(dopamine_files(folder), pool=False)
    assert isinstance(blocks, list) and len(blocks) == 3
    assert [b.sizes["cell"] for b in blocks] == [3, 3, 3]
    pooled_results = analyze_dopamine([], n_bootstrap=20, n_splits=20, seed=0, make_figures=False,
                                      spec=RecordingSpec(), responses=pool_responses(blocks), unit_types=unit_types)

    def refuse(*args, **kwargs):
        raise AssertionError("the sessions were pooled into one dense matrix")

    monkeypatch.setattr(responses_module, "pool_responses", refuse)
    out = tmp_path / "fit"
    assert main(["fit", "dopamine", str(folder), "--out", str(out), *FAST]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(out / "cells.csv"), pooled_results.cells, check_dtype=False)
    summary = json.loads((out / "summary.json").read_text())
    for key in ("tau_reversal_r", "tau_reversal_p_perm", "reversal_split_half_r", "decode_loss"):
        assert summary[key] == pytest.approx(pooled_results.summary[key], rel=1e-12), key


def test_reader_processes_give_the_serial_results(folder):
    serial, serial_types = stream_responses(dopamine_files(folder), jobs=1)
    parallel, parallel_types = stream_responses(dopamine_files(folder), jobs=2)
    xr.testing.assert_identical(serial, parallel)
    assert serial_types == parallel_types
    blocks, _ = stream_responses(dopamine_files(folder), jobs=3, pool=False)
    xr.testing.assert_identical(serial, pool_responses(blocks))
    with pytest.raises(InvalidArgumentError, match="jobs"):
        stream_responses(dopamine_files(folder), jobs=0)


def test_a_bad_session_read_in_a_reader_process_is_one_line(folder, tmp_path, capsys):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(folder, bad)
    (bad / "zz_broken.nwb").write_bytes(b"not an HDF5 file")
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.txt").write_text("kept")
    status = main(["fit", "dopamine", str(bad), "--out", str(out), "--jobs", "2", *FAST])
    err = capsys.readouterr().err
    assert status != 0
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "zz_broken.nwb" in lines[0] and "Traceback" not in err
    assert sorted(p.name for p in out.iterdir()) == ["earlier.txt"]


def test_controls_in_a_forked_process_give_the_same_results(folder, monkeypatch):
    """The controls computed beside the population tests (large populations, Linux) are those computed in line,
    also after this process used the OpenMP kernels (a forked process may not use them: it does not)."""
    import numpy as np

    from neurorl._forked import fork_available
    from neurorl.analysis._jitted import model_fit_rows
    from neurorl.io.spec import RecordingSpec
    from neurorl.pipelines import dopamine as pipeline

    rows = np.ones((4, 3))
    model_fit_rows(rows, rows, np.array([0.0, 1.0, 2.0]), 8, 10)        # OpenMP used here before any fork
    blocks, unit_types = stream_responses(dopamine_files(folder), pool=False, jobs=2)
    settings = dict(n_bootstrap=20, n_splits=20, seed=0, make_figures=False, spec=RecordingSpec(),
                    responses=blocks, unit_types=unit_types, n_permutations=50)
    monkeypatch.setattr(pipeline, "BACKGROUND_CONTROLS_CELLS", 10**9)
    in_line = pipeline.analyze_dopamine([], **settings)
    monkeypatch.setattr(pipeline, "BACKGROUND_CONTROLS_CELLS", 0)
    calls = []
    real_background = __import__("neurorl._forked", fromlist=["Background"]).Background
    monkeypatch.setattr("neurorl._forked.Background",
                        lambda task, fork=True: calls.append(fork) or real_background(task, fork=fork))
    beside = pipeline.analyze_dopamine([], **settings)
    assert calls == [True] and fork_available() in (True, False)
    for key, value in in_line.summary.items():
        if key.startswith(("control_", "reference_", "decode_", "tau_reversal", "same_vs")):
            assert beside.summary[key] == value, key
    xr.testing.assert_identical(in_line.control_tau, beside.control_tau)
