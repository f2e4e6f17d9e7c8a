"""Tests of the Eshel/Uchida CommonFormat importer (neurorl.io.commonformat) on the 40 real cells."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from neurorl.errors import InvalidRecordingError, MissingDataError
from neurorl.io.commonformat import (
    COMMONFORMAT_REWARD_VOLUMES_UL,
    commonformat_to_nwb,
    convert_commonformat_folder,
    read_commonformat,
    subject_from_name,
)
from neurorl.io.nwb import read_dopamine, read_dopamine_folder

# Counts checked by hand against the files (scipy.io.loadmat): trials, and NaN trial types.
KNOWN = {
    "D_05-07_15-42-29_TT1_1_Common": dict(trials=347, nan_type=0, type15=66, uncued=145, cued=136),
    "10_26_TT6_1_CommonFormat_verified": dict(trials=391, nan_type=73, type15=68, uncued=112, cued=138),
    "02_09_TT2_1_CommonFormat_verified": dict(trials=210, nan_type=17, type15=43, uncued=67, cued=83),
}
# Reward-size frequencies (cued + uncued) over all files, as in the data README.
README_FREQUENCIES = (0.0661, 0.0909, 0.1485, 0.1549, 0.3116, 0.1510, 0.0771)


@pytest.fixture(scope="module")
def converted(dabney_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("commonformat")
    written = convert_commonformat_folder(dabney_dir, out, show_progress=False)
    return dabney_dir, out, written


def test_all_40_files_convert(converted):
    source, out, written = converted
    stems = sorted(p.stem for p in source.glob("*.mat"))
    assert len(stems) == 40
    assert sorted(p.stem for p in written) == stems
    assert sorted(p.stem for p in out.glob("*.nwb")) == stems
    recordings = read_dopamine_folder(out)
    assert len(recordings) == 40
    for recording in recordings:
        assert list(recording.units.index) == [0]
        assert recording.units["cell_type"].iat[0] == "dopamine"


@pytest.mark.parametrize("stem", sorted(KNOWN))
def test_trial_counts_and_types(converted, stem):
    source, out, _ = converted
    expected = KNOWN[stem]
    trials = read_dopamine(out / f"{stem}.nwb").trials
    raw = scipy.io.loadmat(source / f"{stem}.mat", squeeze_me=True, struct_as_record=False)["events"]
    assert len(trials) == expected["trials"] == np.size(raw.odorOn)
    counts = trials["trial_type"].value_counts()
    assert counts.get("uncued", 0) == expected["uncued"]
    assert counts.get("cued", 0) == expected["cued"]
    assert counts.get("other", 0) == expected["type15"] + expected["nan_type"]
    # other trials are kept, without reward
    other = trials["trial_type"] == "other"
    assert trials.loc[other, "reward_volume"].isna().all()
    assert trials.loc[other, "reward_time"].isna().all()
    assert trials.loc[~other, "reward_volume"].notna().all()
    # start_time = odorOn in seconds
    np.testing.assert_allclose(trials["start_time"].to_numpy(), np.asarray(raw.odorOn, float) / 1000.0, rtol=0,
                               atol=1e-9)


def test_reward_times_and_volumes(converted):
    source, out, _ = converted
    stem = "D_05-15_14-05-06_TT2_2_Common"
    trials = read_dopamine(out / f"{stem}.nwb").trials
    raw = scipy.io.loadmat(source / f"{stem}.mat", squeeze_me=True, struct_as_record=False)["events"]
    types = np.asarray(raw.trialType, float)
    uncued = (types >= 1) & (types <= 7)
    cued = (types >= 8) & (types <= 14)
    start = trials["start_time"].to_numpy()
    reward = trials["reward_time"].to_numpy()
    np.testing.assert_allclose(reward[uncued], start[uncued], atol=1e-12)
    np.testing.assert_allclose(reward[cued], start[cued] + 1.5, atol=1e-9)
    volumes = np.asarray(COMMONFORMAT_REWARD_VOLUMES_UL)
    np.testing.assert_array_equal(trials["reward_volume"].to_numpy()[uncued], volumes[types[uncued].astype(int) - 1])
    np.testing.assert_array_equal(trials["reward_volume"].to_numpy()[cued], volumes[types[cued].astype(int) - 8])
    assert (trials["stop_time"] >= trials[["start_time", "reward_time"]].max(axis=1)).all()


def test_spike_times_in_seconds(converted):
    source, out, _ = converted
    stem = "03_05_TT6_1_CommonFormat_verified"
    spikes = read_dopamine(out / f"{stem}.nwb").spike_times(0)
    raw = scipy.io.loadmat(source / f"{stem}.mat", squeeze_me=True, struct_as_record=False)["responses"]
    np.testing.assert_allclose(spikes, np.sort(np.asarray(raw.spike, float)) / 1000.0, rtol=0, atol=1e-6)


def test_readme_frequencies(dabney_dir):
    counts = np.zeros(7)
    for path in sorted(dabney_dir.glob("*.mat")):
        trials = read_commonformat(path).trials
        rewarded = trials["reward_volume"].dropna().to_numpy()
        counts += np.array([(rewarded == v).sum() for v in COMMONFORMAT_REWARD_VOLUMES_UL])
    np.testing.assert_allclose(counts / counts.sum(), README_FREQUENCIES, atol=6e-5)


def test_subject_tokens(converted):
    _, out, _ = converted
    from neurorl.io.nwb import open_nwb

    expected = {"D_05-07_15-42-29_TT1_1_Common": "D", "L_08_10_TT2_1_CommonFormat": "L",
                "O_05-13_14-11-48_TT2_3_Common": "O", "02_09_TT2_1_CommonFormat_verified": "unknown"}
    for stem, subject in expected.items():
        with open_nwb(out / f"{stem}.nwb") as nwbfile:
            assert nwbfile.subject.subject_id == subject
    assert subject_from_name("10_26_TT6_1_CommonFormat_verified.mat") == "unknown"
    assert subject_from_name("O_05-04_15-14-56_TT4_1_Common.mat") == "O"


def test_shared_sessions_have_identical_trials(converted):
    _, out, _ = converted
    a = read_dopamine(out / "03_05_TT6_1_CommonFormat_verified.nwb").trials
    b = read_dopamine(out / "03_05_TT8_1_CommonFormat_verified.nwb").trials
    np.testing.assert_array_equal(a["start_time"], b["start_time"])


def test_nwbinspector_clean(converted):
    from nwbinspector import Importance, inspect_nwbfile

    _, out, _ = converted
    for stem in ("D_05-07_15-42-29_TT1_1_Common", "10_26_TT6_1_CommonFormat_verified"):
        messages = list(inspect_nwbfile(nwbfile_path=str(out / f"{stem}.nwb")))
        bad = [m for m in messages
               if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION, Importance.ERROR)]
        assert not bad, [f"{m.check_function_name}: {m.message}" for m in bad]


# --------------------------------------------------------------------------------------- bad files
def _write_mat(path, events=None, responses=None):
    content = {}
    if events is not None:
        content["events"] = events
    if responses is not None:
        content["responses"] = responses
    scipy.io.savemat(path, content)
    return path


def test_good_synthetic_file(tmp_path):
    path = _write_mat(tmp_path / "X_test.mat", {"odorOn": [1000.0, 5000.0, 9000.0], "trialType": [1, 8, 15]},
                      {"spike": [100.0, 1200.0, 6600.0]})
    cell = read_commonformat(path)
    assert cell.subject_id == "X"
    np.testing.assert_allclose(cell.trials["reward_time"], [1.0, 6.5, np.nan])
    np.testing.assert_allclose(cell.trials["reward_volume"], [0.1, 0.1, np.nan])
    written = commonformat_to_nwb(path, tmp_path / "out")
    assert written.name == "X_test.nwb" and written.exists()


@pytest.mark.parametrize("problem, make, error, words", [
    ("missing", lambda d: d / "nope.mat", MissingDataError, "no such file"),
    ("empty", lambda d: (d / "empty.mat").write_bytes(b"") or d / "empty.mat", InvalidRecordingError, "empty"),
    ("not matlab", lambda d: (d / "text.mat").write_text("hello world, not MATLAB" * 20) and d / "text.mat",
     InvalidRecordingError, "MATLAB"),
    ("no events", lambda d: _write_mat(d / "a.mat", None, {"spike": [1.0]}), MissingDataError, "events"),
    ("no spike field", lambda d: _write_mat(d / "b.mat", {"odorOn": [1.0], "trialType": [1]}, {"lick": [1.0]}),
     MissingDataError, "spike"),
    ("bad type", lambda d: _write_mat(d / "c.mat", {"odorOn": [1.0, 2.0], "trialType": [1, 16]}, {"spike": [1.0]}),
     InvalidRecordingError, "trialType"),
    ("length mismatch", lambda d: _write_mat(d / "e.mat", {"odorOn": [1.0, 2.0], "trialType": [1]}, {"spike": [1.0]}),
     InvalidRecordingError, "entries"),
    ("unsorted", lambda d: _write_mat(d / "f.mat", {"odorOn": [5.0, 2.0], "trialType": [1, 2]}, {"spike": [1.0]}),
     InvalidRecordingError, "increasing"),
])
def test_bad_files_raise_typed_errors(tmp_path, problem, make, error, words):
    path = make(tmp_path)
    with pytest.raises(error) as info:
        read_commonformat(path)
    assert str(path) in str(info.value)
    assert words in str(info.value)


def test_folder_with_one_bad_file_writes_nothing(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    _write_mat(source / "A_good.mat", {"odorOn": [1000.0, 5000.0], "trialType": [1, 9]}, {"spike": [10.0, 2000.0]})
    (source / "B_bad.mat").write_text("garbage" * 50)
    out = tmp_path / "out"
    with pytest.raises(InvalidRecordingError, match="B_bad.mat"):
        convert_commonformat_folder(source, out, show_progress=False)
    assert not out.exists() or not any(out.iterdir())


def test_cli_convert(tmp_path, capsys):
    from neurorl.cli import main

    source = tmp_path / "src"
    source.mkdir()
    _write_mat(source / "A_good.mat", {"odorOn": [1000.0, 5000.0], "trialType": [1, 9]}, {"spike": [10.0, 2000.0]})
    assert main(["convert", "commonformat", str(source), "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "A_good.nwb").exists()
    assert main(["convert", "commonformat", str(tmp_path / "missing"), "--out", str(tmp_path / "out2")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("neurorl: error: ") and "missing" in err[0]
    assert not (tmp_path / "out2").exists()
