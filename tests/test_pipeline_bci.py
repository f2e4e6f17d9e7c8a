"""``neurorl analyze bci`` and ``neurorl reproduce bci`` end to end, on small inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from _bci_fake import fake_session

from neurorl.cli import main
from neurorl.io.bci_nwb import write_bci_session

FIGURES = ("learning_curves.png", "residuals_by_epoch.png", "decoding.png", "event_rate_change.png")
TABLES = ("learning_curve.csv", "residuals_by_epoch.csv", "residuals_by_epoch_day.csv", "decoding.csv",
          "decoding_day.csv", "event_rate_change.csv", "pairing.csv")


@pytest.fixture(scope="module")
def session_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mouse1")
    for day in (1, 2, 3):
        write_bci_session(fake_session(n_frames=1500, day=day, seed=day), folder / f"day{day:02d}.nwb",
                          include_ground_truth=day != 2)  # a mix of simulated and "real" files
    return folder


def test_analyze_folder(session_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--quiet", "analyze", "bci", str(session_dir), "--out", str(out), "--shuffles", "20"]) == 0
    printed = capsys.readouterr().out
    assert session_dir.name in printed and str(out) in printed
    for name in FIGURES + TABLES + ("bci_analysis.nc",):
        assert (out / name).stat().st_size > 0, name
    curve = pd.read_csv(out / "learning_curve.csv")
    assert curve["day"].tolist() == [1, 2, 3]
    assert set(curve["group"]) == {session_dir.name}
    expected = [fake_session(n_frames=1500, day=d, seed=d).trials["target_hit"].mean() for d in (1, 2, 3)]
    np.testing.assert_allclose(curve["accuracy"], expected)
    decoding = pd.read_csv(out / "decoding.csv")
    assert decoding["n_trials"].iloc[0] == sum(len(fake_session(n_frames=1500, day=d, seed=d).trials) for d in (1, 2, 3))
    with xr.open_dataset(out / "bci_analysis.nc", engine="h5netcdf") as ds:
        assert "signature" in ds and "decoding_accuracy" in ds
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_analyze_files_and_formats(session_dir, tmp_path):
    files = [str(p) for p in sorted(session_dir.glob("*.nwb"))[:2]]
    out = tmp_path / "out"
    assert main(["--quiet", "analyze", "bci", *files, "--out", str(out), "--shuffles", "5",
                 "--format", "png,svg"]) == 0
    assert (out / "decoding.svg").exists() and (out / "decoding.png").exists()
    assert pd.read_csv(out / "learning_curve.csv")["day"].tolist() == [1, 2]


def test_analyze_bad_inputs(tmp_path, capsys):
    assert main(["analyze", "bci", str(tmp_path / "missing"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing" in err and "Traceback" not in err
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "day01.nwb").write_text("garbage")
    assert main(["analyze", "bci", str(bad), "--out", str(tmp_path / "o")]) == 1
    assert "day01.nwb" in capsys.readouterr().err
    assert main(["analyze", "bci", str(bad), "--out", str(tmp_path / "o"), "--format", "gif"]) in (1, 2)
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_reproduce_small(tmp_path, capsys):
    pytest.importorskip("neurorl.models.bci_learning")
    out = tmp_path / "repro"
    args = ["--quiet", "reproduce", "bci", "--out", str(out), "--days", "2", "--session-minutes", "2", "--p0", "6",
            "--n-bci", "4", "--shuffles", "20", "--n-bci-values", "2,4", "--curve-seeds", "1", "--curve-days", "2",
            "--curve-minutes", "2", "--write-nwb"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    for rule in ("vectorized", "scalar", "none"):
        assert rule in printed
        assert sorted(p.name for p in (out / rule).glob("*.nwb")) == ["day01.nwb", "day02.nwb"]
    for name in FIGURES + TABLES + ("learning_time_vs_n_bci.png", "learning_time_vs_n_bci.csv"):
        assert (out / name).stat().st_size > 0, name
    curve = pd.read_csv(out / "learning_curve.csv")
    assert set(curve["rule"]) == {"vectorized", "scalar", "none"} and len(curve) == 6
    lt = pd.read_csv(out / "learning_time_vs_n_bci.csv")
    assert set(lt["n_bci"]) == {2, 4} and set(lt["rule"]) == {"vectorized", "scalar"}
    # the NWB files written by reproduce are analysable by `analyze bci`
    assert main(["--quiet", "analyze", "bci", str(out / "vectorized"), "--out", str(tmp_path / "a"),
                 "--shuffles", "5"]) == 0


def test_reproduce_bad_rule(tmp_path, capsys):
    assert main(["reproduce", "bci", "--out", str(tmp_path), "--rules", "vectorised"]) == 2
    assert "--rules" in capsys.readouterr().err


def test_lab_traces_come_from_raw_fluorescence_and_keep_the_signature():
    import numpy as np

    from neurorl.models.bci_learning import simulate_bci_experiment
    from neurorl.pipelines.bci_analysis import analyze_sessions, lab_traces

    model = list(simulate_bci_experiment("vectorized", days=2, session_minutes=20, n_p0=0, seed=3))
    lab = list(lab_traces(model, seed=1))
    for model_day, lab_day in zip(model, lab, strict=True):
        assert lab_day.soma_dff.shape == model_day.soma_dff.shape
        assert lab_day.dendrite_dff.shape == model_day.dendrite_dff.shape
        assert lab_day.trials is model_day.trials and lab_day.day == model_day.day
        # the same cells seen through the indicator, neuropil and noise: related, not equal
        r = np.corrcoef(lab_day.soma_dff[:, 0], model_day.soma_dff[:, 0])[0, 1]
        assert 0.3 < r < 0.999, r
    result = analyze_sessions(lab, n_shuffles=10)
    assert float(result["by_epoch"]["signature"]) > 0 and float(result["by_epoch"]["signature_p_value"]) < 0.01
