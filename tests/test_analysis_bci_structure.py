"""The BCI analysis package's structure: public names, settings object, one recording type, behaviour criteria."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from _bci_fake import fake_session

import neurorl.analysis as analysis
from neurorl.analysis import bci as A
from neurorl.errors import InvalidArgumentError
from neurorl.recordings import BCIRecording


def test_public_names_importable_from_neurorl_analysis():
    for module in (A, analysis.events if hasattr(analysis, "events") else __import__("neurorl.analysis.events",
                                                                                      fromlist=["x"])):
        for name in module.__all__:
            assert getattr(analysis, name) is getattr(module, name), name
    # the names that moved to neurorl.analysis.events stay importable from neurorl.analysis.bci
    from neurorl.analysis.bci import detect_events, event_rates
    from neurorl.analysis.events import detect_events as d2
    assert detect_events is d2 and callable(event_rates)


def test_settings_replace_keywords_and_validate():
    rec = fake_session(n_frames=1500, seed=2)
    by_keywords = A.analyze_session(rec, min_r=0.5, epoch_s=1.0)
    by_settings = A.analyze_session(rec, A.BCIAnalysisSettings(min_r=0.5, epoch_s=1.0))
    for key in by_keywords:
        assert by_keywords[key].identical(by_settings[key]), key
    default = A.analyze_session(rec)
    assert not default["epochs"].identical(by_settings["epochs"])  # the setting does change the result
    with pytest.raises(InvalidArgumentError, match="event_pairing"):
        A.BCIAnalysisSettings(event_pairing="nearest")
    with pytest.raises(InvalidArgumentError, match="unknown BCI analysis setting"):
        A.analyze_session(rec, min_rr=0.5)
    with pytest.raises(InvalidArgumentError, match="decode_window_s"):
        A.BCIAnalysisSettings(decode_window_s=(1.0, -1.0))
    assert A.BCIAnalysisSettings().as_dict()["min_r"] == 0.6


def test_one_recording_type_for_every_source(tmp_path):
    from neurorl.io.bci_nwb import BCIRecording as FromIO
    from neurorl.io.bci_nwb import read_bci_session, write_bci_session
    from neurorl.models.bci_learning import BCISession, simulate_bci_experiment

    assert FromIO is BCIRecording and BCISession is BCIRecording
    sim = next(iter(simulate_bci_experiment("vectorized", days=1, session_minutes=2.0, n_p0=4, n_bci=4, seed=1)))
    assert isinstance(sim, BCIRecording) and sim.source == "simulation" and sim.is_simulated
    write_bci_session(sim, tmp_path / "day01.nwb")
    read = read_bci_session(tmp_path / "day01.nwb")
    assert isinstance(read, BCIRecording) and read.source == "nwb"
    assert read.rule == "vectorized"  # ground truth read from the file fills the attribute
    np.testing.assert_array_equal(read.teaching_signal, sim.teaching_signal)
    real = read_bci_session(tmp_path / "day01.nwb", load_ground_truth=False)
    assert real.ground_truth is None and real.rule is None and not real.is_simulated
    # the same analysis on the simulated object and on the file read back: identical numbers
    a, b = A.analyze_session(sim), A.analyze_session(real)
    np.testing.assert_allclose(float(a["by_epoch"]["signature"]), float(b["by_epoch"]["signature"]), rtol=1e-6)


def test_recording_defaults():
    rec = BCIRecording(frame_rate_hz=10.0, soma_dff=np.zeros((50, 3)), dendrite_dff=np.zeros((50, 2)),
                       ensemble=np.array(["P+", "P-", "P0"]), cursor=np.zeros(50), baseline_frames=10,
                       trials=pd.DataFrame({"start_time": [], "stop_time": [], "target_hit": [], "rewarded": []}))
    np.testing.assert_array_equal(rec.parent_soma, [0, 1])
    np.testing.assert_allclose(rec.bci_weight, [1.0, -1.0, 0.0])
    assert rec.grating_angle.shape == (50,) and np.isnan(rec.grating_angle).all()
    assert rec.closed_loop_minutes == pytest.approx(40 / 10 / 60)
    with pytest.raises(TypeError):  # keyword-only: field order is not an API
        BCIRecording(10.0, np.zeros((5, 1)))  # type: ignore[misc]
    assert dataclasses.is_dataclass(rec)


def test_trials_to_criterion_counts_trials():
    hits = np.r_[np.zeros(100, bool), np.ones(100, bool)]
    # running mean over 10 trials reaches 0.7 once 7 of the last 10 are hits: trial 107
    assert A.trials_to_criterion(hits, criterion=0.7, window=10) == 107
    assert np.isnan(A.trials_to_criterion(np.zeros(300, bool), criterion=0.7, window=10))
    assert np.isnan(A.trials_to_criterion(np.ones(5, bool), criterion=0.7, window=10))  # too few trials
    with pytest.raises(InvalidArgumentError):
        A.trials_to_criterion(hits, window=0)


def test_days_to_criterion_from_trials_only():
    def day(rate: float, n: int = 100) -> pd.DataFrame:
        k = int(round(rate * n))
        return pd.DataFrame({"target_hit": np.r_[np.ones(k, bool), np.zeros(n - k, bool)][::-1]})

    trials = {1: day(0.3), 2: day(0.5), 3: day(0.8), 4: day(0.9)}
    ds = A.days_to_criterion(trials, criterion=0.7, window=50)
    assert float(ds["first_day_at_criterion"]) == 3
    # hits come last in each day: day 2's 50 hits are trials 151-200, so the 50-trial running rate first
    # reaches 0.7 (35 of 50) at trial 185, 85 % through the second day, although that day's own rate is 0.5
    assert float(ds["trials_to_criterion"]) == 185
    assert float(ds["day_of_criterion"]) == pytest.approx(1.85)
    assert "0.7" in ds.attrs["criterion"] and int(ds["n_trials"]) == 400
    spread = pd.DataFrame({"target_hit": np.arange(100) % 2 == 0})  # hit rate 0.5 in every window
    never = A.days_to_criterion({1: spread, 2: spread}, criterion=0.7, window=50)
    assert np.isnan(float(never["day_of_criterion"])) and np.isnan(float(never["first_day_at_criterion"]))


def test_decoding_figure_says_what_it_does_not_show():
    import matplotlib

    matplotlib.use("Agg")
    from neurorl.plotting.bci import DECODING_TITLE, plot_decoding

    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3))
    y = np.arange(40) % 2 == 0
    ds = A.decode_reward(x, y, n_shuffles=10)
    assert "does not tell vectorized from scalar" in ds.attrs["scope"]
    ax = plot_decoding(ds)
    assert ax.get_title() == DECODING_TITLE and "not tell vectorized from scalar" in ax.get_title()


def test_learning_time_curve_reads_behaviour_only(monkeypatch):
    """The curve is computed from the trials tables: sessions without any ground truth give the stated times."""
    import neurorl.models.bci_learning as M
    from neurorl.pipelines.bci_analysis import learning_time_curve

    def fake_experiment(rule, *, days, session_minutes, n_p0, n_bci, seed, record):
        # hit rate rises by 0.1 per day from 0.4 (vectorized) or 0.05 per day (scalar); 100 trials a day
        step = 0.1 if rule == "vectorized" else 0.05
        for day in range(1, days + 1):
            rate = min(0.4 + step * (day - 1) * n_bci / 4, 1.0)
            hits = (np.arange(100) % 20) < round(rate * 20)  # evenly spread hits
            trials = pd.DataFrame({"target_hit": hits, "rewarded": hits})
            yield BCIRecording(frame_rate_hz=10.0, soma_dff=np.zeros((2, n_bci)), dendrite_dff=np.zeros((2, n_bci)),
                               ensemble=np.array(["P+", "P-"] * (n_bci // 2)), cursor=np.zeros(2),
                               baseline_frames=0, trials=trials, day=day)

    monkeypatch.setattr(M, "simulate_bci_experiment", fake_experiment)
    ds = learning_time_curve((4, 8), seeds=(0, 1), days=6, criterion=0.7, window=100)
    # vectorized n=4: day k's rate 0.4 + 0.1 (k-1) reaches 0.7 on day 4; the 100-trial window straddles days
    hits = np.concatenate([t["target_hit"].to_numpy() for t in
                           (s.trials for s in fake_experiment("vectorized", days=6, session_minutes=1, n_p0=0,
                                                              n_bci=4, seed=0, record=False))])
    expected = A.trials_to_criterion(hits, criterion=0.7, window=100)
    assert 300 < expected <= 400
    assert float(ds["trials_to_criterion"].sel(rule="vectorized", n_bci=4, seed=0)) == expected
    assert float(ds["days_to_criterion"].sel(rule="vectorized", n_bci=4, seed=0)) == pytest.approx(expected / 100)
    assert float(ds["first_day_at_criterion"].sel(rule="vectorized", n_bci=8, seed=1)) == 3  # 0.4 + 0.2 (k-1)
    # scalar n=4: 0.4 + 0.05 (k-1) < 0.7 through day 6 -> never: infinitely slower than vectorized
    assert np.isnan(float(ds["days_to_criterion"].sel(rule="scalar", n_bci=4, seed=0)))
    assert np.isinf(float(ds["slowdown"].sel(n_bci=4)))
    # n=8: vectorized 0.4 + 0.2 (k-1) passes 0.7 during day 3, scalar 0.4 + 0.1 (k-1) on day 4: slowdown > 1.5
    ratio = ds["trials_to_criterion"].sel(rule="scalar", n_bci=8) / ds["trials_to_criterion"].sel(rule="vectorized",
                                                                                                  n_bci=8)
    assert float(ds["slowdown"].sel(n_bci=8)) == pytest.approx(float(ratio[0])) and float(ratio[0]) > 1.5
    assert "running hit rate over 100 trials >= 0.7" in ds.attrs["criterion"]
    assert "no ground truth" in ds.attrs["measured_from"]


def _walk_labels_and_units(name: str, ds) -> list[str]:
    """Problems of one result: a dim or coordinate named ``neuron``, or a data variable without units."""
    import xarray as xr

    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name or "values")
    problems = [f"{name}: dim or coordinate 'neuron'" for label in (*ds.dims, *ds.coords) if label == "neuron"]
    problems += [f"{name}.{var}: no attrs['units']" for var in ds.data_vars if "units" not in ds[var].attrs]
    return problems


def test_results_name_cells_cell_and_carry_units():
    """Every BCI result names recorded cells ``cell`` (never ``neuron``) and gives every variable its units."""
    from neurorl.models.bci_learning import simulate_bci_experiment
    from neurorl.pipelines.bci_analysis import analyze_sessions

    sessions = list(simulate_bci_experiment("vectorized", days=2, session_minutes=3.0, n_p0=6, n_bci=4, seed=3))
    problems = []
    for day, session in enumerate(sessions, start=1):
        for key, ds in A.analyze_session(session).items():
            problems += _walk_labels_and_units(f"day{day}.{key}", ds)
    combined = analyze_sessions(sessions, n_shuffles=5)
    for key, ds in combined.items():
        problems += _walk_labels_and_units(key, ds)
    assert not problems, problems
    # the renamed labels are where the consumers look for them
    one = A.analyze_session(sessions[0])
    assert one["rates"]["event_rate"].dims == ("cell",) and one["rates"]["event_rate"].attrs["units"] == "events/min"
    assert one["vectors"]["residual"].dims == ("trial", "cell") and one["residuals"]["slope"].dims == ("cell",)
    assert "n_cells" in combined["event_rate_change"] and "n_neurons" not in combined["event_rate_change"]
    assert combined["learning_curve"]["median_time_to_target"].attrs["units"] == "s"
    # the check can fail: a variable without units and a neuron dim are both reported
    import xarray as xr

    bad = xr.Dataset({"rate": ("neuron", [1.0])})
    assert len(_walk_labels_and_units("bad", bad)) == 2


def test_behaviour_and_events_results_carry_units():
    trials = {1: pd.DataFrame({"target_hit": [True, False] * 60})}
    for ds in (A.days_to_criterion(trials, window=10),
               A.detect_events(np.random.default_rng(0).standard_normal((300, 3)), 10.0)):
        assert not _walk_labels_and_units("x", ds)
    assert "units" not in A.days_to_criterion(trials, window=10).attrs  # per variable, not per Dataset
