"""NWB reading and writing of dopamine recordings: round trip, nwbinspector, and every kind of bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from neurorl import errors
from neurorl.io.nwb import (
    new_nwbfile,
    read_dopamine,
    read_dopamine_folder,
    write_dopamine,
    write_nwbfile,
)


def _recording(seed: int = 0, n_trials: int = 30):
    rng = np.random.default_rng(seed)
    start = np.arange(n_trials) * 6.0 + 2.0
    trials = pd.DataFrame({
        "start_time": start,
        "stop_time": start + 4.0,
        "reward_time": start + 1.5,
        "reward_volume": rng.choice([0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0], n_trials),
        "trial_type": rng.choice(["uncued", "cued", "other"], n_trials),
    })
    trials.loc[[4, 9], ["reward_time", "reward_volume"]] = np.nan
    spikes = {2: np.sort(rng.uniform(0, 200, 800)), 5: np.sort(rng.uniform(0, 150, 300))}
    return spikes, trials


@pytest.fixture
def recording_path(tmp_path: Path) -> Path:
    spikes, trials = _recording()
    return write_dopamine(spikes, trials, tmp_path / "session_a.nwb", cell_types={2: "dopamine", 5: "dopamine"},
                          subject_id="M7")


@pytest.mark.parametrize("reward_events", [False, True])
def test_round_trip_is_identical(tmp_path: Path, reward_events: bool) -> None:
    spikes, trials = _recording(seed=3)
    path = write_dopamine(spikes, trials, tmp_path / "s.nwb", cell_types=["dopamine", "gaba"],
                          reward_events=reward_events)
    recording = read_dopamine(path)
    assert recording.session == "s"
    assert recording.unit_ids.tolist() == [2, 5]
    for unit_id, times in spikes.items():
        np.testing.assert_array_equal(recording.spike_times(unit_id), times)  # exact: float64 stored as is
    assert recording.units["cell_type"].tolist() == ["dopamine", "gaba"]
    pd.testing.assert_frame_equal(recording.trials.reset_index(drop=True)[list(trials.columns)], trials, check_dtype=False)


def test_units_resolution_and_metadata(recording_path: Path) -> None:
    with h5py.File(recording_path, "r") as handle:
        assert handle["units/spike_times"].attrs["resolution"] == pytest.approx(1 / 30000)
        assert handle["general/subject/subject_id"][()].decode() == "M7"
        assert handle["general/subject/species"][()].decode() == "Mus musculus"


def test_written_files_pass_nwbinspector(tmp_path: Path) -> None:
    from nwbinspector import Importance, inspect_nwbfile

    spikes, trials = _recording()
    for events in (False, True):
        path = write_dopamine(spikes, trials, tmp_path / f"s{events}.nwb", reward_events=events)
        serious = [m for m in inspect_nwbfile(nwbfile_path=path)
                   if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
        assert serious == [], [m.message for m in serious]


def test_write_is_atomic(tmp_path: Path) -> None:
    spikes, trials = _recording()
    target = tmp_path / "out.nwb"
    with pytest.raises(errors.InvalidArgumentError):
        write_dopamine(spikes, trials.drop(columns="reward_volume"), target)
    with pytest.raises(errors.InvalidArgumentError, match="timezone-aware"):
        write_dopamine({1: np.array([1.0, 2.0])}, trials, target, session_start_time=dt.datetime(2020, 1, 1))
    assert list(tmp_path.iterdir()) == []


def test_folder_reads_every_session(tmp_path: Path) -> None:
    spikes, trials = _recording()
    for name in ("b", "a"):
        write_dopamine(spikes, trials, tmp_path / f"{name}.nwb")
    assert [r.session for r in read_dopamine_folder(tmp_path)] == ["a", "b"]
    assert [r.session for r in read_dopamine_folder(tmp_path / "a.nwb")] == ["a"]
    with pytest.raises(errors.RecordingNotFoundError, match="no such file or folder"):
        read_dopamine_folder(tmp_path / "nothing")


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(errors.MissingDataError, match="holds no .nwb files"):
        read_dopamine_folder(tmp_path)


def test_unit_lost_before_last_trial_is_not_an_error(tmp_path: Path) -> None:
    spikes, trials = _recording()
    spikes[5] = spikes[5][spikes[5] < 50.0]  # unit lost after 50 s; trials go on to ~180 s
    recording = read_dopamine(write_dopamine(spikes, trials, tmp_path / "lost.nwb"))
    assert recording.spike_times(5).max() < 50.0


# ------------------------------------------------------------------------------------------- bad input files
def _nwb_with(path: Path, *, units=True, n_units=1, trials=True, reward_columns=("reward_time", "reward_volume"),
              spikes=(0.5, 1.0, 2.0), volumes=(1.0, 2.5), reward_offsets=(0.5, 0.5)) -> Path:
    """Write an NWB file by hand with pynwb, leaving out or damaging one part."""
    from pynwb.misc import Units

    nwbfile = new_nwbfile(session_description="malformed on purpose")
    if units:
        table = Units(name="units", description="units", resolution=1e-4)
        for unit in range(n_units):
            table.add_unit(spike_times=np.asarray(spikes, dtype=float), id=unit)
        nwbfile.units = table
    if trials:
        for column in reward_columns:
            nwbfile.add_trial_column(name=column, description=column)
        for i, (volume, offset) in enumerate(zip(volumes, reward_offsets, strict=True)):
            row = {"start_time": 10.0 * i, "stop_time": 10.0 * i + 4.0}
            if "reward_time" in reward_columns:
                row["reward_time"] = 10.0 * i + offset
            if "reward_volume" in reward_columns:
                row["reward_volume"] = volume
            nwbfile.add_trial(**row)
    return write_nwbfile(nwbfile, path)


def _truncated(path: Path) -> Path:
    spikes, trials = _recording()
    good = write_dopamine(spikes, trials, path)
    data = good.read_bytes()
    good.write_bytes(data[: len(data) // 2])
    return good


def _not_nwb(path: Path) -> Path:
    with h5py.File(path, "w") as handle:
        handle["data"] = np.arange(10)
    return path


BAD_INPUTS = {
    "missing file": (lambda p: p, errors.RecordingNotFoundError, "no such file"),
    "empty file": (lambda p: (p.write_bytes(b""), p)[1], errors.EmptyFileError, "empty"),
    "not HDF5": (lambda p: (p.write_text("spike_times,unit\n0.1,1\n"), p)[1], errors.NotHDF5Error, "not an HDF5"),
    "truncated HDF5": (_truncated, errors.CorruptFileError, "corrupt or truncated"),
    "HDF5 not NWB": (_not_nwb, errors.NotNWBError, "not NWB"),
    "no Units table": (lambda p: _nwb_with(p, units=False), errors.MissingTableError, "no Units table"),
    "no units": (lambda p: _nwb_with(p, n_units=0), errors.EmptyTableError, "no units"),
    "no trials table": (lambda p: _nwb_with(p, trials=False), errors.MissingTableError, "no trials table"),
    "no reward column": (lambda p: _nwb_with(p, reward_columns=()), errors.MissingColumnError, "no reward"),
    "all rewards NaN": (lambda p: _nwb_with(p, volumes=(np.nan, np.nan)), errors.NoRewardError, "NaN"),
    "unsorted spikes": (lambda p: _nwb_with(p, spikes=(2.0, 1.0, 3.0)), errors.SpikeTimesError, "not sorted"),
    "negative spikes": (lambda p: _nwb_with(p, spikes=(-1.0, 1.0)), errors.SpikeTimesError, "negative"),
    "reward outside trial": (lambda p: _nwb_with(p, reward_offsets=(0.5, 7.5)), errors.RewardTimesError,
                             "outside their trial"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises_typed_error_naming_file(tmp_path: Path, case: str) -> None:
    make, error_type, problem = BAD_INPUTS[case]
    path = make(tmp_path / "bad.nwb")
    with pytest.raises(error_type, match=problem) as info:
        read_dopamine(path)
    assert type(info.value) is error_type
    assert str(info.value).startswith(str(path) + ": ")
    assert info.value.path == str(path)
    assert isinstance(info.value, errors.NeurorlError)


def test_bad_input_error_types_are_distinct() -> None:
    kinds = {(error_type, problem) for _, error_type, problem in BAD_INPUTS.values()}
    assert len(kinds) == len(BAD_INPUTS)


def test_reward_event_outside_every_trial(tmp_path: Path) -> None:
    spikes, trials = _recording()
    trials.loc[0, "reward_time"] = 0.5  # before the first trial starts (2 s)
    with pytest.raises(errors.InvalidArgumentError):
        write_dopamine(spikes, trials.drop(columns="stop_time"), tmp_path / "x.nwb")
    path = write_dopamine(spikes, trials, tmp_path / "events.nwb", reward_events=True)
    with pytest.raises(errors.RewardTimesError, match="outside every trial"):
        read_dopamine(path)


def test_written_files_get_default_permissions(tmp_path: Path) -> None:
    import os

    spikes, trials = _recording()
    path = write_dopamine(spikes, trials, tmp_path / "perm.nwb")
    mask = os.umask(0)
    os.umask(mask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~mask
