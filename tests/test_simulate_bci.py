"""Tests of ``neurorl simulate bci`` (neurorl.pipelines.bci)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neurorl.cli import main


def test_simulate_bci_summary_only(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["simulate", "bci", "--rule", "none", "--days", "2", "--session-minutes", "2", "--p0", "4",
                 "--n-bci", "8", "--seed", "3", "--no-nwb", "--out", str(out), "--quiet"])
    assert code == 0
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["day"]) == [1, 2]
    for col in ("accuracy", "rewards_per_min", "n_trials", "threshold", "learned_shift_sd"):
        assert col in summary
    assert np.all((summary["accuracy"] >= 0) & (summary["accuracy"] <= 1))
    assert not list(out.glob("*.nwb"))
    assert "summary.csv" in capsys.readouterr().out


def test_simulate_bci_writes_one_nwb_per_day(tmp_path, capsys):
    pytest.importorskip("neurorl.io.bci_nwb")
    from neurorl.io.bci_nwb import read_bci_session

    out = tmp_path / "run"
    code = main(["simulate", "bci", "--rule", "vectorized", "--days", "2", "--session-minutes", "1", "--p0", "3",
                 "--n-bci", "4", "--seed", "1", "--out", str(out), "--quiet"])
    assert code == 0
    assert sorted(p.name for p in out.glob("*.nwb")) == ["day01.nwb", "day02.nwb"]
    rec = read_bci_session(out / "day02.nwb")
    assert np.asarray(rec.soma_dff).shape[1] == 7
    assert sorted(set(np.asarray(rec.ensemble).astype(str))) == ["P+", "P-", "P0"]
    summary = pd.read_csv(out / "summary.csv")
    assert len(summary) == 2
    assert "day01.nwb" not in capsys.readouterr().err


def test_simulate_bci_rejects_bad_arguments(tmp_path, capsys):
    assert main(["simulate", "bci", "--n-bci", "1", "--out", str(tmp_path / "x"), "--no-nwb"]) == 2
    assert "error" in capsys.readouterr().err
    (tmp_path / "y").mkdir()
    (tmp_path / "y" / "other.nwb").write_bytes(b"")
    assert main(["simulate", "bci", "--days", "1", "--session-minutes", "1", "--p0", "0", "--out",
                 str(tmp_path / "y"), "--no-nwb"]) != 0
