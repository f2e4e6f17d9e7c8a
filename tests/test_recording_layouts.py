"""Other labs' recordings: NWB layouts, ΔF/F traces, NWBFile / file objects, pynapple and spikeinterface.

One simulated session (ground truth known) is written in each layout; every layout read with its recording
spec must give the same responses as neurorl's own layout, and the reversal points recovered from them must
lie within the noise (bootstrap standard errors) of the truth.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest

from neurorl.analysis.responses import compute_responses, skip_cells
from neurorl.analysis.reversal import fit_cells
from neurorl.cli import main
from neurorl.errors import InvalidArgumentError, MissingDataError, RewardVolumeError
from neurorl.io.nwb import (
    new_nwbfile,
    open_nwb,
    read_dopamine,
    write_dopamine,
    write_dopamine_trace,
    write_nwbfile,
)
from neurorl.io.spec import RecordingSpec
from neurorl.models.calcium import spikes_to_dff
from neurorl.models.dopamine_recording import simulate_recordings

FAST = ["--bootstrap", "20", "--splits", "20", "--quiet"]
N_CELLS = 6


# ----------------------------------------------------------------------------------------- simulated session
@pytest.fixture(scope="module")
def sim():
    """One session of 6 expectile cells, 600 trials, strong responses (baseline 10 spikes/s, gain 2)."""
    simulation = simulate_recordings(N_CELLS, 1, 600, code="expectile", baseline_rate=10.0, baseline_spread=0.2,
                                     gain=2.0, gain_spread=0.2, n_training_trials=3000, seed=5)
    return simulation.sessions[0], simulation.ground_truth


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("layouts")


@pytest.fixture(scope="module")
def standard(sim, folder):
    session, _ = sim
    path = write_dopamine(session.spike_times, session.trials, folder / "standard.nwb",
                          cell_types=session.cell_types, subject_id="m1")
    return path


@pytest.fixture(scope="module")
def reference(standard):
    return compute_responses([read_dopamine(standard)])


def _units_table(spikes: dict, labels: dict[str, list]):
    from pynwb.misc import Units

    units = Units(name="units", description="sorted units")
    for column in labels:
        units.add_column(name=column, description=column)
    for k, (unit_id, times) in enumerate(spikes.items()):
        units.add_unit(spike_times=np.asarray(times), id=int(unit_id), **{c: v[k] for c, v in labels.items()})
    return units


def _lab_trials(nwbfile, trials: pd.DataFrame) -> None:
    """A lab's trials table: reward_size in ml, outcome_time, kind (uncued/cued/other)."""
    nwbfile.add_trial_column(name="reward_size", description="reward (ml)")
    nwbfile.add_trial_column(name="outcome_time", description="reward delivery (s)")
    nwbfile.add_trial_column(name="kind", description="uncued / cued / other")
    for row in trials.itertuples(index=False):
        nwbfile.add_trial(start_time=row.start_time, stop_time=row.stop_time, reward_size=row.reward_volume / 1000.0,
                          outcome_time=row.reward_time, kind=row.trial_type)


@pytest.fixture(scope="module")
def lab_file(sim, folder):
    """Units in processing/ecephys/units (with 2 non-dopamine units), renamed trials columns, ml."""
    session, _ = sim
    rng = np.random.default_rng(0)
    spikes = dict(session.spike_times)
    duration = float(session.trials["stop_time"].max())
    for extra in (100, 101):                           # GABA units: 8 spikes/s, no reward response
        spikes[extra] = np.sort(rng.uniform(0, duration, int(8 * duration)))
    n = len(spikes)
    labels = {"cell_type": ["dopamine"] * N_CELLS + ["gaba"] * 2,
              "unit_name": [f"tt{k}_c{k}" for k in range(n)],
              "location": ["VTA"] * n}
    nwbfile = new_nwbfile(session_description="lab layout", subject_id="m1")
    nwbfile.create_processing_module(name="ecephys", description="sorted units").add(_units_table(spikes, labels))
    _lab_trials(nwbfile, session.trials)
    return write_nwbfile(nwbfile, folder / "lab.nwb")


LAB_OPTIONS = dict(units="processing/ecephys/units", unit_filter="cell_type == 'dopamine'",
                   reward_column="reward_size", reward_scale=1000.0, align_column="outcome_time",
                   trial_type_column="kind")


def _same(responses, reference):
    np.testing.assert_allclose(responses.values, reference.values, rtol=0, atol=1e-9, equal_nan=True)
    np.testing.assert_allclose(responses["reward_volume"].values, reference["reward_volume"].values, rtol=1e-12)
    assert list(responses["unit"].values) == list(reference["unit"].values)


# ------------------------------------------------------------------------------------------- ground truth
def _recovered(responses, truth, *, n_bootstrap=100):
    """Reversal points within 4 bootstrap SEs of the truth (P(|z| > 4) = 6e-5 per cell under normal noise)."""
    fit = fit_cells(responses, method="model", n_bootstrap=n_bootstrap, seed=0, split_half=False,
                    align_trial_types=False)
    truth = truth.set_index("cell").loc[[int(u) for u in responses["unit"].values]]
    z = (fit["reversal_point"].values - truth["reversal_point"].values) / fit["reversal_point_se"].values
    inside = fit["reversal_censored"].values == 0
    assert inside.sum() >= N_CELLS - 1
    assert np.all(np.abs(z[inside]) < 4), z
    return fit


def test_standard_layout_recovers_ground_truth(reference, sim):
    _recovered(reference, sim[1])


def test_recovery_test_fails_on_wrong_truth(reference, sim):
    # the tolerance is tight enough to reject a population whose reversal points are shuffled
    truth = sim[1].copy()
    truth["reversal_point"] = truth["reversal_point"].to_numpy()[::-1]
    with pytest.raises(AssertionError):
        _recovered(reference, truth)


# ------------------------------------------------------------------------------------------------ layouts
def test_units_in_processing_module_renamed_columns_and_filter(lab_file, reference):
    recording = read_dopamine(lab_file, **LAB_OPTIONS)
    assert recording.unit_types == {"dopamine": N_CELLS}
    assert recording.subject_id == "m1"
    assert list(recording.units.columns) == ["spike_times", "cell_type", "unit_name", "location"]
    _same(compute_responses([recording]), reference)


def test_without_filter_every_type_is_analysed_and_counted(lab_file):
    options = {k: v for k, v in LAB_OPTIONS.items() if k != "unit_filter"}
    recording = read_dopamine(lab_file, **options)
    assert recording.unit_types == {"dopamine": N_CELLS, "gaba": 2}


def test_events_table_rewards(sim, folder, reference):
    session, _ = sim
    path = write_dopamine(session.spike_times, session.trials, folder / "events.nwb", reward_events=True)
    _same(compute_responses([read_dopamine(path)]), reference)


def test_open_nwbfile_and_file_object(standard, reference):
    with open_nwb(standard) as nwbfile:
        recording = read_dopamine(nwbfile, session="standard")
        _same(compute_responses([recording]), reference)
    buffer = io.BytesIO(standard.read_bytes())
    recording = read_dopamine(buffer, session="standard")
    assert recording.path is None and recording.subject_id == "m1"
    _same(compute_responses([recording]), reference)
    with open(standard, "rb") as handle:                      # a local file object, as remfile/fsspec give
        _same(compute_responses([read_dopamine(handle)]), reference)


def test_pynapple_objects(sim, reference):
    nap = pytest.importorskip("pynapple")
    from neurorl.io.adapters import from_pynapple

    session, _ = sim
    trials = session.trials
    group = nap.TsGroup({k: nap.Ts(t) for k, t in session.spike_times.items()},
                        metadata={"cell_type": ["dopamine"] * N_CELLS}, time_support=nap.IntervalSet(0, 1e6))
    intervals = nap.IntervalSet(start=trials["start_time"].to_numpy(), end=trials["stop_time"].to_numpy(),
                                metadata={c: trials[c].to_numpy() for c in ("reward_time", "reward_volume",
                                                                            "trial_type")})
    recording = from_pynapple(group, intervals, session="standard", unit_filter="cell_type == 'dopamine'")
    _same(compute_responses([recording]), reference)


def test_spikeinterface_sorting(sim, reference):
    pytest.importorskip("spikeinterface")
    from spikeinterface.core import NumpySorting

    from neurorl.io.adapters import from_spikeinterface

    session, _ = sim
    fs = 30000.0
    # spike times on the 30 kHz sample grid: compare with the same times rounded to samples
    rounded = {k: np.round(np.asarray(t) * fs) / fs for k, t in session.spike_times.items()}
    units = {k: np.round(np.asarray(t) * fs).astype(np.int64) for k, t in session.spike_times.items()}
    sorting = NumpySorting.from_unit_dict([units], sampling_frequency=fs)
    recording = from_spikeinterface(sorting, session.trials, session="standard")
    expected = compute_responses([read_dopamine_like(rounded, session.trials)])
    _same(compute_responses([recording]), expected)


def read_dopamine_like(spikes, trials):
    from types import SimpleNamespace

    units = pd.DataFrame({"spike_times": pd.Series(list(spikes.values()), dtype=object).to_numpy()},
                         index=pd.Index(list(spikes), name="unit"))
    return SimpleNamespace(session="standard", units=units, trials=trials)


# ---------------------------------------------------------------------------------------------- ΔF/F traces
@pytest.fixture(scope="module")
def dff_session(sim):
    session, _ = sim
    ids = list(session.spike_times)
    duration = float(session.trials["stop_time"].max()) + 5.0
    times, dff = spikes_to_dff([session.spike_times[i] for i in ids], duration, frame_rate_hz=30.0,
                               noise_sd=0.05, seed=1)
    return times, dff


def test_roi_response_series_recovers_ground_truth(sim, folder, dff_session):
    session, truth = sim
    _, dff = dff_session
    path = write_dopamine_trace(dff, session.trials, folder / "roi.nwb", rate_hz=30.0,
                                cell_types=["dopamine"] * N_CELLS)
    recording = read_dopamine(path, signal="dff", unit_filter="cell_type == 'dopamine'")
    assert recording.trace.shape == dff.shape
    responses = compute_responses([recording], spec=RecordingSpec(signal="dff"))
    assert responses.attrs["units"] == "ΔF/F"
    _recovered(responses, truth)
    zscored = compute_responses([recording], spec=RecordingSpec(signal="dff", zscore=True))
    # z-scoring divides each cell by one positive number: the sign of every response is unchanged
    assert np.array_equal(np.sign(zscored.values), np.sign(responses.values))


def test_fiber_photometry_series(sim, folder, dff_session):
    pytest.importorskip("ndx_fiber_photometry")
    from ndx_fiber_photometry import FiberPhotometryResponseSeries

    session, truth = sim
    _, dff = dff_session
    nwbfile = new_nwbfile(session_description="fiber photometry")
    nwbfile.add_acquisition(FiberPhotometryResponseSeries(name="dff_fibers", data=dff, unit="n.a.", rate=30.0,
                                                          description="ΔF/F per fiber"))
    _lab_trials(nwbfile, session.trials)
    path = write_nwbfile(nwbfile, folder / "fiber.nwb")
    recording = read_dopamine(path, signal="dff", reward_column="reward_size", reward_scale=1000.0,
                              align_column="outcome_time", trial_type_column="kind")
    _recovered(compute_responses([recording]), truth)


def test_any_timeseries_by_path(sim, folder, dff_session):
    from pynwb import TimeSeries

    session, truth = sim
    times, dff = dff_session
    nwbfile = new_nwbfile(session_description="photometry as a plain TimeSeries")
    module = nwbfile.create_processing_module(name="photometry", description="traces")
    module.add(TimeSeries(name="dff", data=dff, unit="n.a.", timestamps=times))
    _lab_trials(nwbfile, session.trials)
    path = write_nwbfile(nwbfile, folder / "timeseries.nwb")
    with pytest.raises(MissingDataError, match="processing/photometry/dff"):   # no ROI/fiber series: listed
        read_dopamine(path, signal="dff", reward_column="reward_size", align_column="outcome_time")
    recording = read_dopamine(path, signal="dff", series="processing/photometry/dff", reward_column="reward_size",
                              reward_scale=1000.0, align_column="outcome_time", trial_type_column="kind")
    _recovered(compute_responses([recording]), truth)


# --------------------------------------------------------------------------------------- wrong names, errors
def test_wrong_names_list_what_the_file_has(lab_file):
    with pytest.raises(MissingDataError, match="Units tables in the file: processing/ecephys/units"):
        read_dopamine(lab_file, units="processing/ephys/units", reward_column="reward_size",
                      align_column="outcome_time")
    with pytest.raises(MissingDataError, match=r"its columns: .*reward_size.*outcome_time"):
        read_dopamine(lab_file, units="processing/ecephys/units", reward_column="volume")
    with pytest.raises(MissingDataError, match=r"unit_filter .*its columns: .*cell_type"):
        read_dopamine(lab_file, units="processing/ecephys/units", unit_filter="celltype == 'x'",
                      reward_column="reward_size", align_column="outcome_time")


def test_several_units_tables_must_be_chosen(sim, folder):
    session, _ = sim
    nwbfile = new_nwbfile(session_description="two sortings")
    for name in ("kilosort", "manual"):
        nwbfile.create_processing_module(name=name, description=name).add(
            _units_table(dict(list(session.spike_times.items())[:2]), {}))
    _lab_trials(nwbfile, session.trials)
    path = write_nwbfile(nwbfile, folder / "two.nwb")
    with pytest.raises(MissingDataError, match="several Units tables.*processing/kilosort/units.*processing/manual"):
        read_dopamine(path, reward_column="reward_size", align_column="outcome_time")
    recording = read_dopamine(path, units="processing/manual/units", reward_column="reward_size",
                              align_column="outcome_time")
    assert len(recording.units) == 2


@pytest.mark.parametrize(("value", "match"), [(np.inf, "infinite"), (-0.5, "negative")])
def test_bad_reward_sizes_are_refused_naming_the_file(sim, folder, value, match, capsys):
    session, _ = sim
    trials = session.trials.copy()
    trials.loc[3, "reward_volume"] = value
    path = write_dopamine(session.spike_times, trials, folder / f"bad_{match}.nwb")
    with pytest.raises(RewardVolumeError, match=f"reward_volume is {match} on 1 trials .first: trial 3"):
        read_dopamine(path)
    assert main(["fit", "dopamine", str(path), "--out", str(folder / f"out_{match}"), *FAST]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and match in err[0]


def test_single_reward_size_is_one_line_naming_the_file(sim, folder, capsys):
    session, _ = sim
    trials = session.trials.copy()
    trials["reward_volume"] = np.where(np.isfinite(trials["reward_volume"]), 2.5, np.nan)
    path = write_dopamine(session.spike_times, trials, folder / "one_size.nwb")
    assert main(["fit", "dopamine", str(path), "--out", str(folder / "out_one"), *FAST]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "same reward size" in err[0]
    one = trials.iloc[:1]
    path = write_dopamine(session.spike_times, one, folder / "one_trial.nwb")
    assert main(["fit", "dopamine", str(path), "--out", str(folder / "out_one_trial"), *FAST]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(path) in err[0] and "only 1 rewarded trial" in err[0]


def test_silent_unit_and_short_cell_go_to_skipped_csv(sim, folder):
    session, _ = sim
    spikes = dict(session.spike_times)
    spikes[50] = np.array([])                                         # a unit with no spike
    first = float(session.trials["start_time"].iloc[40])
    spikes[51] = spikes[0][spikes[0] < first]                         # lost after 40 trials
    path = write_dopamine(spikes, session.trials, folder / "skips.nwb")
    out = folder / "out_skips"
    assert main(["fit", "dopamine", str(path), "--out", str(out), *FAST]) == 0
    skipped = pd.read_csv(out / "skipped.csv")
    assert list(skipped.columns) == ["session", "subject_id", "unit_id", "cell", "reason"]
    reasons = dict(zip(skipped["unit_id"], skipped["reason"], strict=True))
    assert reasons[50] == "no spikes"
    assert reasons[51].startswith("too few trials per reward size")
    cells = pd.read_csv(out / "cells.csv")
    assert set(cells["unit_id"]) == set(session.spike_times)         # no NaN rows for the skipped ones
    assert cells["reversal_point"].notna().all()


def test_skip_cells_keeps_cells_with_enough_trials(reference):
    kept, skipped = skip_cells(reference)
    assert kept.sizes["cell"] == N_CELLS and skipped.empty


# ----------------------------------------------------------------------------------- spec, TOML and the CLI
def test_toml_spec_and_unknown_keys(tmp_path):
    config = tmp_path / "recording.toml"
    config.write_text('[recording]\nunits = "processing/ecephys/units"\nreward_column = "reward_size"\n'
                      'reward_scale = 1000\n[responses]\nwindow_ms = [150, 650]\nmax_silence_s = "none"\n')
    spec = RecordingSpec.from_toml(config)
    assert spec.units == "processing/ecephys/units" and spec.reward_scale == 1000.0
    assert spec.window_ms == (150.0, 650.0) and spec.max_silence_s is None
    config.write_text('[recording]\nreward_colum = "x"\n')
    with pytest.raises(InvalidArgumentError, match=r"unknown recording option.*reward_colum.*known: units"):
        RecordingSpec.from_toml(config)
    preset = RecordingSpec.from_mapping({"preset": "dabney2020", "responses": {"max_silence_s": 30}})
    assert preset.smoothing == "original" and preset.max_silence_s == 30.0


def test_precedence_default_preset_flags():
    from types import SimpleNamespace

    args = SimpleNamespace(preset="dabney2020", smoothing=None, max_silence_s=None, window_ms=None)
    spec = RecordingSpec.from_args(args)
    assert spec.smoothing == "original" and spec.max_silence_s is None      # the preset
    spec = RecordingSpec.from_args(SimpleNamespace(preset="dabney2020", smoothing="none", max_silence_s="20"))
    assert spec.smoothing == "none" and spec.max_silence_s == 20.0          # flags win
    assert RecordingSpec.from_args(SimpleNamespace(preset=None, smoothing=None)).smoothing == "none"


def test_cli_fit_on_lab_layout_with_flags(lab_file, folder, capsys):
    out = folder / "out_lab"
    flags = ["--units", "processing/ecephys/units", "--reward-column", "reward_size", "--reward-scale", "1000",
             "--align-column", "outcome_time", "--trial-type-column", "kind"]
    assert main(["fit", "dopamine", str(lab_file), "--out", str(out), *flags, *FAST]) == 0
    printed = capsys.readouterr().out
    assert "6 dopamine, 2 gaba" in printed and "several types pooled" in printed
    cells = pd.read_csv(out / "cells.csv")
    assert list(cells.columns[:6]) == ["session", "subject_id", "unit_id", "unit_name", "location", "cell"]
    assert set(cells["subject_id"]) == {"m1"} and set(cells["unit_id"]) == {0, 1, 2, 3, 4, 5, 100, 101}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["unit_types"] == {"dopamine": 6, "gaba": 2}
    assert summary["recording_spec"]["reward_column"] == "reward_size"
    out2 = folder / "out_lab_filtered"
    assert main(["fit", "dopamine", str(lab_file), "--out", str(out2), *flags,
                 "--unit-filter", "cell_type == 'dopamine'", *FAST]) == 0
    assert set(pd.read_csv(out2 / "cells.csv")["unit_id"]) == set(range(N_CELLS))


def test_cli_simulate_dff_then_fit(tmp_path):
    sim_dir = tmp_path / "dff"
    assert main(["simulate", "dopamine", "--modality", "dff", "--cells", "6", "--sessions", "1", "--trials", "400",
                 "--baseline-rate", "10", "--gain", "2", "--seed", "2", "--out", str(sim_dir), "--quiet"]) == 0
    out = tmp_path / "fit"
    assert main(["fit", "dopamine", str(sim_dir), "--signal", "dff", "--method", "model", "--out", str(out),
                 *FAST]) == 0
    cells = pd.read_csv(out / "cells.csv")
    truth = pd.read_csv(sim_dir / "ground_truth.csv")
    merged = cells.merge(truth, on=["session", "cell"], suffixes=("", "_true"))
    assert len(merged) == 6
    assert np.corrcoef(merged["reversal_point"], merged["reversal_point_true"])[0, 1] > 0.8


def test_inspect_lists_tables_columns_and_series(lab_file, folder, sim, dff_session, capsys):
    assert main(["inspect", str(lab_file)]) == 0
    text = capsys.readouterr().out
    assert "Units table processing/ecephys/units: 8 rows" in text
    assert "cell_type: 'dopamine' (6), 'gaba' (2)" in text
    assert "reward_size: 0.0001, 0.0003, 0.0012, 0.0025, ... (7 distinct" in text
    assert "kind: 'cued'" in text and "subject: m1" in text
    session, _ = sim
    path = write_dopamine_trace(dff_session[1], session.trials, folder / "inspect_roi.nwb", rate_hz=30.0)
    assert main(["inspect", str(path)]) == 0
    text = capsys.readouterr().out
    assert f"RoiResponseSeries processing/ophys/DfOverF/RoiResponseSeries: shape {dff_session[1].shape}" in text
    assert "30 Hz" in text
    assert main(["inspect", str(folder / "absent.nwb")]) == 1
    assert capsys.readouterr().err.strip().endswith("absent.nwb: no such file")


def test_fit_nc_states_each_cells_csv_column_unit(folder):
    import xarray as xr

    out = folder / "out_lab"                     # written by test_cli_fit_on_lab_layout_with_flags
    if not out.is_dir():
        pytest.skip("runs after test_cli_fit_on_lab_layout_with_flags")
    cells = pd.read_csv(out / "cells.csv")
    with xr.open_dataset(out / "fit.nc") as ds:
        units = json.loads(ds.attrs["cells_csv_units"])
    assert set(cells.columns) <= set(units)
    assert units["reversal_point"] == "µl" and units["alpha_pos"] == "spikes/s per µl"


def test_electrodes_column_is_carried_to_cells(sim, folder):
    from pynwb.misc import Units

    session, _ = sim
    nwbfile = new_nwbfile(session_description="units with electrodes", subject_id="m2")
    device = nwbfile.create_device(name="probe", description="silicon probe")
    group = nwbfile.create_electrode_group(name="shank0", description="shank 0", location="VTA", device=device)
    for _ in range(4):
        nwbfile.add_electrode(group=group, location="VTA")
    units = Units(name="units", description="sorted", electrode_table=nwbfile.electrodes)
    for k, (unit_id, times) in enumerate(list(session.spike_times.items())[:3]):
        units.add_unit(id=unit_id, spike_times=times, electrodes=[k, k + 1])
    nwbfile.units = units
    _lab_trials(nwbfile, session.trials)
    path = write_nwbfile(nwbfile, folder / "electrodes.nwb")
    recording = read_dopamine(path, reward_column="reward_size", reward_scale=1000.0, align_column="outcome_time")
    assert list(recording.units["electrodes"]) == ["0;1", "1;2", "2;3"]
    responses = compute_responses([recording])
    assert list(responses["electrodes"].values) == ["0;1", "1;2", "2;3"]
    assert set(responses["subject_id"].values) == {"m2"}
