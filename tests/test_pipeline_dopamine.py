"""End-to-end tests of ``neurorl fit dopamine`` and ``neurorl reproduce dopamine``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from neurorl.cli import main
from neurorl.pipelines.dopamine import CELL_COLUMNS, FIGURE_NAMES

FAST = ["--bootstrap", "20", "--splits", "40", "--quiet"]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A small simulated expectile population: 12 cells in 2 sessions of 250 trials."""
    folder = tmp_path_factory.mktemp("sim")
    assert main(["simulate", "dopamine", "--cells", "12", "--sessions", "2", "--trials", "250", "--seed", "3",
                 "--spike-window", "1.2", "0.3", "--out", str(folder), "--quiet"]) == 0
    return folder


@pytest.fixture(scope="module")
def fitted(simulated, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "out"
    assert main(["fit", "dopamine", str(simulated), "--out", str(out), *FAST]) == 0
    return simulated, out


def test_fit_writes_the_contract(fitted):
    simulated, out = fitted
    cells = pd.read_csv(out / "cells.csv")
    assert tuple(cells.columns) == CELL_COLUMNS
    assert len(cells) == 12
    assert set(cells["session"]) == {"session_01", "session_02"}
    truth = pd.read_csv(simulated / "ground_truth.csv")
    merged = cells.merge(truth, on=["session", "cell"], suffixes=("", "_true"))
    assert len(merged) == 12
    # reversal points track the truth (the CI is wide for 250 trials, so a loose bound)
    r = np.corrcoef(merged["reversal_point"], merged["reversal_point_true"])[0, 1]
    assert r > 0.6
    ok = cells["reversal_point_low"].notna()
    assert (cells.loc[ok, "reversal_point_low"] <= cells.loc[ok, "reversal_point_high"]).all()

    decoded = pd.read_csv(out / "decoded_distribution.csv")
    assert list(decoded.columns) == ["reward_volume", "weight"]
    assert decoded["weight"].sum() == pytest.approx(1.0)
    assert (decoded["reward_volume"] >= 0).all()

    summary = json.loads((out / "summary.json").read_text())
    for key in ("n_cells", "n_trials", "tau_reversal_r", "tau_reversal_p", "reversal_split_half_r", "decode_loss"):
        assert key in summary
    assert summary["n_cells"] == 12
    # every cell sees every rewarded trial of its session (250 trials, no 'other' trials)
    assert summary["n_trials"] == 12 * 250
    assert -1 <= summary["tau_reversal_r"] <= 1 and 0 <= summary["tau_reversal_p"] <= 1

    with xr.open_dataset(out / "fit.nc", engine="h5netcdf") as ds:
        assert ds.sizes["cell"] == 12
        assert "decoded_density" in ds and "tau_reversal_r" in ds
        np.testing.assert_allclose(ds["reversal_point"].to_numpy(), cells["reversal_point"].to_numpy())
    for name in FIGURE_NAMES:
        assert (out / f"{name}.png").stat().st_size > 1000
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


CONTROL_KEYS = ("decode_w1_ul", "control_classic_td_w1_ul", "control_shuffled_asymmetry_w1_ul",
                "reference_uniform_w1_ul", "reference_unimodal_w1_ul")


def test_summary_reports_the_decoding_controls_and_both_p_values(fitted):
    _, out = fitted
    summary = json.loads((out / "summary.json").read_text())
    for key in CONTROL_KEYS:
        assert isinstance(summary[key], float) and summary[key] > 0, key
    assert 0 < summary["tau_reversal_p_perm"] <= 1 and 0 <= summary["tau_reversal_p"] <= 1
    assert "not a test" in summary["p_values"]["tau_reversal_p"]
    assert "permutation" in summary["p_values"]["tau_reversal_p_perm"]
    # the reported p is the test on the cells off the firing floor with the jointly fitted estimator; the
    # original's statistic keeps its own permutation p beside it
    assert "off the firing floor" in summary["p_values"]["tau_reversal_p_perm"]
    assert summary["tau_reversal_test_method"] == "model" and summary["tau_reversal_test_floor_rate"] == 1.0
    assert summary["tau_reversal_test_slopes"] == "sides"
    assert 3 <= summary["tau_reversal_test_n_cells"] <= summary["n_cells"]
    assert 0 < summary["tau_reversal_p_perm_all_cells"] <= 1
    assert -1 <= summary["tau_reversal_test_r"] <= 1
    assert 0 <= summary["same_vs_diverse_fraction_diverse_better"] <= 1
    # decoded on the task's support with the utility-axis asymmetries (the original's), by default
    assert summary["decode_support"] == "task" and summary["decode_support_ul"] == [0.1, 20.0]
    assert summary["decode_asymmetry"] == "utility"
    decoded = pd.read_csv(out / "decoded_distribution.csv")
    assert decoded["reward_volume"].min() >= 0.1 - 1e-9 and decoded["reward_volume"].max() <= 20.0 + 1e-9
    cells = pd.read_csv(out / "cells.csv")
    assert {"asymmetry", "asymmetry_utility"} <= set(cells.columns)
    assert not np.allclose(cells["asymmetry"], cells["asymmetry_utility"], equal_nan=True)


def test_decode_options_widen_the_support_and_switch_the_axis(simulated, tmp_path):
    out = tmp_path / "wide"
    assert main(["fit", "dopamine", str(simulated), "--out", str(out), *FAST, "--decode-support", "wide",
                 "--decode-asymmetry", "volume", "--permutations", "19"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["decode_support"] == "wide" and summary["decode_asymmetry"] == "volume"
    assert summary["decode_support_ul"] != [0.1, 20.0]
    assert summary["n_permutations"] == 19 and summary["tau_reversal_p_perm"] >= 1 / 20


def test_no_controls_skips_the_controls_and_the_permutations_and_keeps_the_rest(simulated, fitted, tmp_path,
                                                                                capsys):
    _, full = fitted
    out = tmp_path / "fast"
    assert main(["fit", "dopamine", str(simulated), "--out", str(out), "--bootstrap", "20", "--splits", "40",
                 "--no-controls"]) == 0
    assert "controls skipped (--no-controls)" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    reference = json.loads((full / "summary.json").read_text())
    assert summary["controls"] is False and reference["controls"] is True
    assert summary["n_permutations"] == 0
    for key in ("tau_reversal_p_perm", "control_classic_td_w1_ul", "control_shuffled_asymmetry_w1_ul"):
        assert summary[key] is None and reference[key] is not None, key
    # what the controls do not touch is the same number as with them (same seed, same streams)
    for key in ("tau_reversal_r", "tau_reversal_p", "reversal_split_half_r", "decode_w1_ul",
                "reference_uniform_w1_ul", "reference_unimodal_w1_ul", "same_vs_diverse_p"):
        assert summary[key] == pytest.approx(reference[key], rel=1e-12), key
    pd.testing.assert_frame_equal(pd.read_csv(full / "cells.csv"), pd.read_csv(out / "cells.csv"))
    assert all((out / f"{name}.png").exists() for name in FIGURE_NAMES)


def test_fit_single_file_and_formats(simulated, tmp_path):
    out = tmp_path / "one"
    assert main(["fit", "dopamine", str(simulated / "session_01.nwb"), "--out", str(out), *FAST,
                 "--format", "png", "svg"]) == 0
    assert len(pd.read_csv(out / "cells.csv")) == 6
    assert (out / "summary.svg").exists() and (out / "summary.png").exists()


def test_same_seed_same_numbers(simulated, fitted, tmp_path):
    _, first = fitted
    out = tmp_path / "again"
    assert main(["fit", "dopamine", str(simulated), "--out", str(out), *FAST]) == 0
    pd.testing.assert_frame_equal(pd.read_csv(first / "cells.csv"), pd.read_csv(out / "cells.csv"))
    assert json.loads((first / "summary.json").read_text()) == json.loads((out / "summary.json").read_text())


def test_reproduce_default_runs_on_embedded_example(tmp_path, capsys):
    out = tmp_path / "rep"
    assert main(["reproduce", "dopamine", "--out", str(out), *FAST]) == 0
    assert "SIMULATED" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_cells"] == 40 and summary["data"] == "dopamine_example"
    # the example is a distributional (expectile) population: the paper's signature is there
    assert summary["tau_reversal_r"] > 0.3 and summary["tau_reversal_p"] < 0.05
    assert (out / "summary.png").exists()


def _bad_nwb(folder):
    (folder / "broken.nwb").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    return folder / "broken.nwb"


def _text_nwb(folder):
    (folder / "text.nwb").write_text("not an nwb file")
    return folder / "text.nwb"


def _empty_folder(folder):
    (folder / "empty").mkdir()
    return folder / "empty"


@pytest.mark.parametrize("make", [lambda d: d / "missing.nwb", _bad_nwb, _text_nwb, _empty_folder],
                         ids=["missing", "truncated-hdf5", "text", "empty-folder"])
@pytest.mark.parametrize("command", ["fit", "reproduce"])
def test_bad_input_one_line_exit_1_no_outputs(tmp_path, capsys, make, command):
    source = make(tmp_path)
    out = tmp_path / "out"
    argv = (["fit", "dopamine", str(source)] if command == "fit" else ["reproduce", "dopamine", "--data", str(source)])
    assert main([*argv, "--out", str(out), *FAST]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("neurorl: error: ") and source.name in lines[0]
    assert "Traceback" not in captured.err
    assert not out.exists()


def test_bad_file_in_folder_leaves_no_outputs(simulated, tmp_path, capsys):
    import shutil

    folder = tmp_path / "mixed"
    folder.mkdir()
    shutil.copy(simulated / "session_01.nwb", folder)
    _text_nwb(folder)
    out = tmp_path / "out"
    out.mkdir()
    assert main(["fit", "dopamine", str(folder), "--out", str(out), *FAST]) == 1
    assert "text.nwb" in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_cli_subprocess_one_line(tmp_path):
    """The installed entry point (python -m neurorl) prints one line and exits 1, no traceback."""
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run([sys.executable, "-m", "neurorl", "fit", "dopamine", str(tmp_path / "nope.nwb"),
                             "--out", str(tmp_path / "o")], capture_output=True, text=True, cwd=repo)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "nope.nwb" in result.stderr
    assert not (tmp_path / "o").exists()
