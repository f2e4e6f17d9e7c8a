"""NWB ophys files of BCI sessions: round trip, nwbinspector, parent_soma links, labels, bad files."""

from __future__ import annotations

import dataclasses

import h5py
import numpy as np
import pandas as pd
import pytest
from _bci_fake import fake_session

from neurorl.errors import InvalidArgumentError, InvalidRecordingError, MissingDataError, NeurorlError
from neurorl.io.bci_nwb import (
    ENSEMBLE_LABELS,
    GROUND_TRUTH_MODULE,
    list_bci_files,
    read_bci_session,
    write_bci_session,
)
from neurorl.io.nwb import new_nwbfile, write_nwbfile


@pytest.fixture(scope="module")
def session():
    return fake_session(n_frames=500, n_p0=6, n_bci=4, baseline_frames=120, day=3, seed=1)


@pytest.fixture(scope="module")
def written(session, tmp_path_factory):
    return write_bci_session(session, tmp_path_factory.mktemp("bci") / "day03.nwb")


def test_round_trip_equal(session, written):
    rec = read_bci_session(written)
    assert rec.day == 3 and rec.session == "day03"
    assert rec.frame_rate_hz == pytest.approx(session.frame_rate_hz, abs=1e-12)
    assert rec.baseline_frames == session.baseline_frames
    np.testing.assert_array_equal(rec.soma_dff, session.soma_dff)
    np.testing.assert_array_equal(rec.dendrite_dff, session.dendrite_dff)
    assert rec.soma_dff.dtype == np.float32
    np.testing.assert_array_equal(rec.ensemble, session.ensemble)
    np.testing.assert_array_equal(rec.bci_weight, session.bci_weight)
    np.testing.assert_array_equal(rec.cursor, session.cursor)
    np.testing.assert_array_equal(rec.grating_angle, session.grating_angle)
    np.testing.assert_array_equal(rec.parent_soma, np.arange(session.soma_dff.shape[1]))
    pd.testing.assert_frame_equal(rec.trials, session.trials, check_exact=True)
    gt = rec.ground_truth
    assert gt["rule"] == "vectorized" and gt["seed"] == 1
    np.testing.assert_array_equal(gt["teaching_signal"], session.ground_truth["teaching_signal"])
    np.testing.assert_array_equal(gt["drive"], session.ground_truth["drive"])
    assert rec.rule == "vectorized"
    assert rec.closed_loop_minutes == pytest.approx((500 - 120) / session.frame_rate_hz / 60)


def test_nan_grating_and_extra_trial_columns_round_trip(tmp_path):
    s = fake_session(n_frames=300, baseline_frames=50, seed=2)
    s.grating_angle = s.grating_angle.copy()
    s.grating_angle[:50] = np.nan  # no grating during the baseline
    s.trials = s.trials.assign(reward_volume=np.where(s.trials["rewarded"], 4.0, 0.0),
                               rpe=np.linspace(-1, 1, len(s.trials)))
    rec = read_bci_session(write_bci_session(s, tmp_path / "day01.nwb"))
    np.testing.assert_array_equal(rec.grating_angle, s.grating_angle)  # NaNs in the same places
    np.testing.assert_array_equal(rec.trials["reward_volume"], s.trials["reward_volume"])
    assert "rpe" not in rec.trials  # ground truth lives in the ground-truth module
    np.testing.assert_array_equal(rec.ground_truth["rpe"], s.trials["rpe"])


def test_nwbinspector_clean(written):
    from nwbinspector import Importance, inspect_nwbfile

    messages = list(inspect_nwbfile(nwbfile_path=str(written)))
    bad = [m for m in messages if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
    assert not bad, [f"{m.importance.name} {m.check_function_name}: {m.message}" for m in bad]


def test_layout_and_ground_truth_labelled(written):
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(written), "r") as io:
        nwb = io.read()
        planes = nwb.imaging_planes
        assert set(planes) == {"ImagingPlaneSoma", "ImagingPlaneDendrite"}
        assert all(p.imaging_rate == pytest.approx(15.46) for p in planes.values())
        dff = nwb.processing["ophys"]["DfOverF"]
        assert set(dff.roi_response_series) == {"RoiResponseSeriesSoma", "RoiResponseSeriesDendrite"}
        behavior = nwb.processing["behavior"]["BehavioralTimeSeries"]
        assert set(behavior.time_series) == {"bci_cursor", "grating_angle"}
        assert behavior["grating_angle"].unit == "degrees"
        assert set(nwb.trials.colnames) >= {"target_hit", "rewarded", "time_to_target", "threshold"}
        epochs = nwb.epochs.to_dataframe()
        assert [list(t) for t in epochs["tags"]] == [["baseline"], ["closed_loop"]]
        assert epochs["stop_time"].iloc[0] == pytest.approx(120 / 15.46)
        module = nwb.processing[GROUND_TRUTH_MODULE]
        assert "SIMULATION GROUND TRUTH" in module.description
        assert all("SIMULATION GROUND TRUTH" in getattr(i, "description", "")
                   for i in module.data_interfaces.values())
        assert GROUND_TRUTH_MODULE not in ("ophys", "behavior")


def test_parent_soma_links(tmp_path):
    s = fake_session(n_frames=200, n_p0=4, n_bci=4, baseline_frames=20, seed=3)
    parent = np.array([5, 0, 7, 2, 2])  # 5 dendrites of 8 somata, one soma with two dendrites
    s = dataclasses.replace(s, dendrite_dff=s.soma_dff[:, parent] * 0.5)
    s.parent_soma = parent
    path = write_bci_session(s, tmp_path / "day01.nwb")
    rec = read_bci_session(path)
    np.testing.assert_array_equal(rec.parent_soma, parent)
    np.testing.assert_array_equal(rec.dendrite_dff, s.soma_dff[:, parent] * 0.5)
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        seg = nwb.processing["ophys"]["ImageSegmentation"]
        soma_seg = seg["PlaneSegmentationSoma"]
        dend_seg = seg["PlaneSegmentationDendrite"]
        region = dend_seg["parent_soma"]
        assert region.table is soma_seg  # a DynamicTableRegion into the soma table
        np.testing.assert_array_equal(region.data[:], parent)
        # the linked soma row's ensemble is that soma's label
        assert list(region[1]["ensemble"]) == [s.ensemble[0]]


def test_ensemble_labels_are_ascii(written, session):
    with h5py.File(written, "r") as f:
        raw = f["processing/ophys/ImageSegmentation/PlaneSegmentationSoma/ensemble"][:]
    labels = [v.decode("ascii") if isinstance(v, bytes) else v for v in raw]
    assert all(label.isascii() and label in ENSEMBLE_LABELS for label in labels)
    assert labels == list(session.ensemble)


def test_writer_rejects_bad_labels_and_shapes(tmp_path, session):
    bad = dataclasses.replace(session, ensemble=np.where(session.ensemble == "P-", "P\u2212", session.ensemble))
    with pytest.raises(InvalidArgumentError, match="ensemble"):
        write_bci_session(bad, tmp_path / "bad.nwb")
    with pytest.raises(InvalidArgumentError):
        write_bci_session(dataclasses.replace(session, cursor=session.cursor[:-1]), tmp_path / "bad.nwb")
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_real_session_without_ground_truth(tmp_path, session):
    path = write_bci_session(session, tmp_path / "mouse1_day02.nwb", include_ground_truth=False)
    with h5py.File(path, "r") as f:
        assert GROUND_TRUTH_MODULE not in f["processing"]
    rec = read_bci_session(path)
    assert rec.ground_truth is None and rec.rule is None
    np.testing.assert_array_equal(rec.soma_dff, session.soma_dff)


def test_bad_files_raise_typed_errors(tmp_path, written):
    with pytest.raises(MissingDataError):
        read_bci_session(tmp_path / "absent.nwb")
    empty = tmp_path / "empty.nwb"
    empty.write_bytes(b"")
    with pytest.raises(InvalidRecordingError, match="empty"):
        read_bci_session(empty)
    text = tmp_path / "text.nwb"
    text.write_text("not an nwb file\n")
    with pytest.raises(InvalidRecordingError, match="HDF5"):
        read_bci_session(text)
    truncated = tmp_path / "truncated.nwb"
    truncated.write_bytes(written.read_bytes()[:4000])
    with pytest.raises(InvalidRecordingError):
        read_bci_session(truncated)
    other = write_nwbfile(new_nwbfile(session_description="no ophys here"), tmp_path / "other.nwb")
    with pytest.raises(MissingDataError, match="ΔF/F"):
        read_bci_session(other)
    relabelled = tmp_path / "relabelled.nwb"
    relabelled.write_bytes(written.read_bytes())
    with h5py.File(relabelled, "r+") as f:
        dataset = f["processing/ophys/ImageSegmentation/PlaneSegmentationSoma/ensemble"]
        dataset[0] = "PX"
    with pytest.raises(InvalidRecordingError, match="ensemble"):
        read_bci_session(relabelled)
    for path in (empty, text, truncated, other, relabelled):
        with pytest.raises(NeurorlError) as info:
            read_bci_session(path)
        assert path.name in str(info.value)


def test_list_bci_files(tmp_path, written):
    with pytest.raises(MissingDataError):
        list_bci_files(tmp_path / "nope")
    with pytest.raises(MissingDataError, match="no .nwb"):
        list_bci_files(tmp_path)
    assert list_bci_files([written.parent]) == [written]


def test_simulated_session_round_trip(tmp_path):
    bci_learning = pytest.importorskip("neurorl.models.bci_learning")
    session = next(iter(bci_learning.simulate_bci_experiment("vectorized", days=1, session_minutes=1.0, n_p0=6,
                                                             n_bci=4, seed=0)))
    path = write_bci_session(session, tmp_path / "day01.nwb")
    rec = read_bci_session(path)
    np.testing.assert_array_equal(rec.soma_dff, session.soma_dff)
    np.testing.assert_array_equal(rec.ensemble, session.ensemble)
    np.testing.assert_array_equal(rec.ground_truth["teaching_signal"], session.teaching_signal)
    assert rec.ground_truth["rule"] == "vectorized" and rec.baseline_frames == session.baseline_frames
    from nwbinspector import Importance, inspect_nwbfile

    bad = [m for m in inspect_nwbfile(nwbfile_path=str(path))
           if m.importance in (Importance.CRITICAL, Importance.BEST_PRACTICE_VIOLATION)]
    assert not bad, [m.message for m in bad]
