"""A lab's own data in: suite2p folders per day + trials table + ROI file -> ``neurorl analyze bci``.

The fixture is written here from a small simulation: each ROI's fluorescence is ``F0 (1 + ΔF/F) + 0.7 Fneu``
with a neuropil trace ``Fneu`` of its own, so the reader has to undo the neuropil and find the baseline as a
lab would.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurorl.cli import main
from neurorl.io.bci_suite2p import (
    read_bci_rois,
    read_suite2p_folder,
    read_suite2p_session,
    suite2p_dff,
    write_bci_rois,
)
from neurorl.models.bci_learning import simulate_bci_experiment
from neurorl.recordings import BCIRecording

N_JUNK = 3  # non-cell ROIs at the end of the plane


def write_suite2p_day(folder: Path, rec, seed: int, *, trials_format: str = "csv") -> None:
    """suite2p layout for one simulated day: somata are ROIs 0..n-1, dendrites n..2n-1 (same plane)."""
    rng = np.random.default_rng(seed)
    dff = np.hstack([rec.soma_dff, rec.dendrite_dff]).T.astype(np.float64)  # ROIs x frames
    n_rois, n_frames = dff.shape
    f0 = rng.uniform(80, 200, (n_rois, 1))
    t = np.arange(n_frames) / rec.frame_rate_hz
    neuropil = 40 + 5 * np.sin(2 * np.pi * t / 97.0)[None, :] + rng.normal(0, 2, (n_rois, n_frames))
    F = f0 * (1 + dff) + 0.7 * neuropil
    junk = rng.normal(60, 3, (N_JUNK, n_frames))
    F = np.vstack([F, junk]).astype(np.float32)
    Fneu = np.vstack([neuropil, rng.normal(40, 2, (N_JUNK, n_frames))]).astype(np.float32)
    plane = folder / "suite2p" / "plane0"
    plane.mkdir(parents=True)
    total = n_rois + N_JUNK
    np.save(plane / "F.npy", F)
    np.save(plane / "Fneu.npy", Fneu)
    np.save(plane / "spks.npy", np.clip(np.diff(F, prepend=F[:, :1], axis=1), 0, None).astype(np.float32))
    iscell = np.column_stack([np.r_[np.ones(n_rois), np.zeros(N_JUNK)], np.r_[np.full(n_rois, 0.9),
                                                                             np.full(N_JUNK, 0.1)]])
    np.save(plane / "iscell.npy", iscell)
    stat = np.array([{"ypix": np.array([i]), "xpix": np.array([i]), "lam": np.array([1.0]), "med": [i, i]}
                     for i in range(total)], dtype=object)
    np.save(plane / "stat.npy", stat, allow_pickle=True)
    np.save(plane / "ops.npy", np.array({"fs": rec.frame_rate_hz, "neucoeff": 0.7, "nframes": n_frames},
                                        dtype=object), allow_pickle=True)
    columns = ["start_time", "stop_time", "target_hit", "rewarded", "time_to_target", "response_start_time"]
    rec.trials[columns].to_csv(folder / "trials.csv", index=False)


def write_rois(animal: Path, rec, fmt: str = "toml") -> Path:
    n = rec.ensemble.size
    plus = [int(i) for i in np.flatnonzero(rec.ensemble == "P+")]
    minus = [int(i) for i in np.flatnonzero(rec.ensemble == "P-")]
    if fmt == "toml":
        path = write_bci_rois(plus, minus, [(i, n + i) for i in range(n)], animal / "rois.toml",
                              baseline_s=rec.baseline_frames / rec.frame_rate_hz)
    else:
        path = animal / "rois.csv"
        pd.DataFrame({"soma_roi": np.arange(n), "ensemble": rec.ensemble, "dendrite_roi": np.arange(n) + n}
                     ).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def animal(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mouse7")
    # 3 days x 8 min, 8 BCI neurons: the smallest run where the direct analysis finds the signature (0.14, p < 1e-4)
    sessions = list(simulate_bci_experiment("vectorized", days=3, session_minutes=8.0, n_p0=10, n_bci=8, seed=3))
    for rec in sessions:
        write_suite2p_day(folder / f"day{rec.day:02d}", rec, seed=rec.day)
    write_rois(folder, sessions[0])
    return folder, sessions


def test_suite2p_dff_undoes_neuropil_and_baseline():
    rng = np.random.default_rng(0)
    rate, n = 15.0, 9000
    true = np.zeros((2, n))
    true[:, 1000:1010] = 1.0  # one transient of ΔF/F = 1
    neuropil = 40 + rng.normal(0, 1, (2, n))
    F = 150 * (1 + true) + 0.7 * neuropil
    dff = suite2p_dff(F, neuropil, rate)
    assert dff.shape == (n, 2) and dff.dtype == np.float32
    # Fc = 150 exactly off the transient: both baselines (maximin, running 8th percentile) are 150, so ΔF/F is
    # 1 at the transient and ~0 elsewhere
    for baseline in ("maximin", "prctile"):
        dff = suite2p_dff(F, neuropil, rate, baseline=baseline)
        np.testing.assert_allclose(dff[1000:1010], 1.0, atol=0.01)
        assert abs(np.median(dff[2000:])) < 0.01
    with pytest.raises(Exception, match="baseline"):
        suite2p_dff(F, neuropil, rate, baseline="mean")
    # without neuropil correction (coefficient 0) the contamination stays in: the transient reads smaller
    assert suite2p_dff(F, neuropil, rate, neuropil_coefficient=0.0)[1005, 0] < 0.9


def test_read_suite2p_session(animal):
    folder, sessions = animal
    rec = read_suite2p_session(folder / "day01", folder / "rois.toml")
    truth = sessions[0]
    assert isinstance(rec, BCIRecording) and rec.source == "suite2p" and rec.day == 1
    n = truth.ensemble.size
    assert rec.soma_dff.shape == truth.soma_dff.shape and rec.dendrite_dff.shape == truth.dendrite_dff.shape
    np.testing.assert_array_equal(rec.ensemble, truth.ensemble)
    np.testing.assert_array_equal(rec.parent_soma, np.arange(n))
    assert rec.baseline_frames == truth.baseline_frames and rec.frame_rate_hz == truth.frame_rate_hz
    assert rec.ground_truth is None and rec.rule is None and not rec.is_simulated
    # ΔF/F recovered from F/Fneu: same transients (r > 0.95 per ROI), baseline shifts only
    r = [np.corrcoef(rec.soma_dff[:, i], truth.soma_dff[:, i])[0, 1] for i in range(n)]
    assert min(r) > 0.95
    # the cursor is rebuilt from P+ and P- ΔF/F (no cursor.npy): it follows the rig's cursor
    assert np.corrcoef(rec.cursor, truth.cursor)[0, 1] > 0.9
    pd.testing.assert_series_equal(rec.trials["target_hit"], truth.trials["target_hit"].astype(bool),
                                   check_names=False)


def test_rois_csv_equals_toml(animal, tmp_path):
    folder, sessions = animal
    csv = write_rois(tmp_path, sessions[0], fmt="csv")
    a, b = read_bci_rois(csv), read_bci_rois(folder / "rois.toml")
    assert a.p_plus == b.p_plus and a.p_minus == b.p_minus and a.pairs == b.pairs
    days = read_suite2p_folder(folder, csv)
    assert [d.day for d in days] == [1, 2, 3]
    # the CSV lists the somata explicitly; TOML takes every is-cell ROI not used as a dendrite: the same here
    np.testing.assert_array_equal(days[0].ensemble, read_suite2p_session(folder / "day01", b).ensemble)


def test_analyze_bci_on_suite2p_finds_the_signature(animal, tmp_path, capsys):
    """The CLI runs on a lab's folders; the vectorized signature survives F/Fneu -> ΔF/F (direct: 0.144)."""
    folder, sessions = animal
    out = tmp_path / "out"
    assert main(["--quiet", "analyze", "bci", str(folder), "--out", str(out), "--shuffles", "20"]) == 0
    summary = pd.read_csv(out / "summary.csv")
    assert summary["group"].tolist() == [folder.name] and summary["days"].tolist() == [3]
    curve = pd.read_csv(out / "learning_curve.csv")
    np.testing.assert_allclose(curve["accuracy"], [s.accuracy for s in sessions])
    assert summary["signature"].iloc[0] > 0.07 and summary["signature_p"].iloc[0] < 0.01


def _bad(animal_folder: Path, tmp_path: Path, name: str) -> Path:
    import shutil

    copy = tmp_path / name
    shutil.copytree(animal_folder, copy)
    return copy


@pytest.mark.parametrize("problem", ["missing_fneu", "shape", "roi_range", "trials_column", "no_rois", "no_trials"])
def test_analyze_bci_suite2p_bad_inputs(animal, tmp_path, capsys, problem):
    folder, _ = animal
    bad = _bad(folder, tmp_path, "mouse_bad")
    plane = bad / "day01" / "suite2p" / "plane0"
    if problem == "missing_fneu":
        (plane / "Fneu.npy").unlink()
        named = plane / "Fneu.npy"
    elif problem == "shape":
        np.save(plane / "Fneu.npy", np.load(plane / "Fneu.npy")[:, :-5])
        named = plane / "Fneu.npy"
    elif problem == "roi_range":
        (bad / "rois.toml").write_text("p_plus = [0, 999]\np_minus = [1]\npairs = [[0, 40]]\n")
        named = bad / "rois.toml"
    elif problem == "trials_column":
        t = pd.read_csv(bad / "day01" / "trials.csv").drop(columns="rewarded")
        t.to_csv(bad / "day01" / "trials.csv", index=False)
        named = bad / "day01" / "trials.csv"
    elif problem == "no_rois":
        (bad / "rois.toml").unlink()
        named = bad
    else:
        (bad / "day01" / "trials.csv").unlink()
        named = bad / "day01"
    assert main(["--quiet", "analyze", "bci", str(bad), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and err.startswith("neurorl: error: ")
    assert str(named) in err, err


def test_two_planes_and_settings_npy(animal, tmp_path):
    """Somata in plane0 and dendrites in plane1 (the simulator's --suite2p layout); newer suite2p's settings.npy."""
    import shutil

    folder, sessions = animal
    rec = sessions[0]
    n = rec.ensemble.size
    day = tmp_path / "day01"
    shutil.copytree(folder / "day01", day)
    plane0, plane1 = day / "suite2p" / "plane0", day / "suite2p" / "plane1"
    plane1.mkdir()
    for name in ("F.npy", "Fneu.npy", "spks.npy", "iscell.npy"):
        full = np.load(plane0 / name)
        np.save(plane1 / name, full[n:2 * n])
        np.save(plane0 / name, full[:n])
    stat = np.load(plane0 / "stat.npy", allow_pickle=True)
    np.save(plane1 / "stat.npy", stat[n:2 * n], allow_pickle=True)
    np.save(plane0 / "stat.npy", stat[:n], allow_pickle=True)
    shutil.copy(plane0 / "ops.npy", plane1 / "ops.npy")
    (plane0 / "ops.npy").rename(plane0 / "settings.npy")
    rois = write_bci_rois(np.flatnonzero(rec.ensemble == "P+"), np.flatnonzero(rec.ensemble == "P-"),
                          [(i, i) for i in range(n)], tmp_path / "rois.toml", dendrite_plane="plane1",
                          baseline_s=rec.baseline_frames / rec.frame_rate_hz)
    two = read_suite2p_session(day, rois)
    one = read_suite2p_session(folder / "day01", folder / "rois.toml")
    np.testing.assert_array_equal(two.soma_dff, one.soma_dff)
    np.testing.assert_array_equal(two.dendrite_dff, one.dendrite_dff)
    np.testing.assert_array_equal(two.parent_soma, one.parent_soma)


def test_no_signature_through_suite2p_without_instructive_signal(tmp_path):
    """Same scale, rule ``none``: the suite2p path does not invent the signature (direct analysis: p = 0.21)."""
    from neurorl.pipelines.bci_analysis import analyze_sessions

    sessions = list(simulate_bci_experiment("none", days=3, session_minutes=8.0, n_p0=10, n_bci=8, seed=3))
    for rec in sessions:
        write_suite2p_day(tmp_path / f"day{rec.day:02d}", rec, seed=rec.day)
    write_rois(tmp_path, sessions[0])
    result = analyze_sessions(read_suite2p_folder(tmp_path), n_shuffles=10)
    assert float(result["by_epoch"]["signature_p_value"]) > 0.05
    assert abs(float(result["by_epoch"]["signature"])) < 0.07
