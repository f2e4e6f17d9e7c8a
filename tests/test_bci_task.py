"""Tests of the BCI task: online ΔF/F, cursor, the rig's calibration, grating mapping and trial rules.

The rules follow the rig's code (harnett/CLOOSE, Run_GUI/Run_GUI.m at commit 5579dee); the tests build
inputs by hand where the expected answer can be worked out on paper.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from neurorl.errors import InvalidArgumentError
from neurorl.tasks.bci import (
    TASK_SOURCES,
    BCITask,
    assign_ensembles,
    calibrate_threshold,
    cursor_from_dff,
    grating_angle,
    grating_rotation,
    half_normal_fit,
    online_dff,
    pseudo_trial_cursors,
    recalibrate_threshold,
    trial_events,
)


def test_rig_defaults_and_their_sources():
    task = BCITask()
    assert task.frame_rate_hz == 15.46 and task.n_bci == 10
    assert task.trial_frames == 750 and task.f0_window_frames == 3000 and task.f0_percentile == 10
    assert (task.pseudo_trials, task.pseudo_trial_frames, task.target_success, task.threshold_step) == \
        (200, 750, 0.5, 0.005)
    assert (task.grey_frames, task.freeze_frames, task.reward_frame, task.gap_frames) == (15, 60, 3, 15)
    assert (task.timeout_frames, task.timeout_noise_frame, task.lower_bound) == (90, 30, True)
    assert task.n_angle_bins == 7 and task.response_frames == 735
    # every setting says where it comes from: a CLOOSE line, the paper, or "assumed"
    fields = {f.name for f in dataclasses.fields(BCITask)}
    assert set(TASK_SOURCES) == fields
    for name, text in TASK_SOURCES.items():
        assert "CLOOSE" in text or "assumed" in text or "paper" in text, name


@pytest.mark.parametrize("kwargs", [dict(n_bci=1), dict(frame_rate_hz=0), dict(session_minutes=-1),
                                    dict(days=0), dict(baseline_frames=100), dict(target_success=1.0),
                                    dict(reward_frame=0), dict(grey_frames=750), dict(threshold_step=0)])
def test_task_rejects_bad_settings(kwargs):
    with pytest.raises(InvalidArgumentError):
        BCITask(**kwargs)


@pytest.mark.parametrize("n_bci", [2, 8, 9, 10])
def test_assign_ensembles(n_bci):
    ensemble, weight = assign_ensembles(50, n_bci, seed=3)
    n_plus = (n_bci + 1) // 2
    assert ensemble.dtype.kind == "U" and set(ensemble) <= {"P+", "P-", "P0"}
    assert (ensemble == "P+").sum() == n_plus and (ensemble == "P-").sum() == n_bci - n_plus
    assert weight[ensemble == "P+"].sum() == pytest.approx(1.0)
    assert weight[ensemble == "P-"].sum() == pytest.approx(-1.0)
    assert np.all(weight[ensemble == "P0"] == 0)
    again, _ = assign_ensembles(50, n_bci, seed=3)
    assert np.array_equal(ensemble, again)
    with pytest.raises(InvalidArgumentError):
        assign_ensembles(5, 6)


@pytest.mark.parametrize(("window", "q"), [(5, 10.0), (7, 0.0), (7, 100.0), (10, 50.0), (40, 10.0)])
def test_online_dff_matches_bruteforce_percentile(window, q):
    rng = np.random.default_rng(0)
    f = 1 + np.abs(rng.standard_normal((400, 3))) * 0.3
    f[100:130] = 1.0  # ties
    got = online_dff(f, percentile=q, window_frames=window)
    expected = np.empty_like(f)
    for t in range(f.shape[0]):
        f0 = np.percentile(f[max(0, t - window + 1):t + 1], q, axis=0)
        expected[t] = (f[t] - f0) / f0
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_online_dff_constant_baseline_and_errors():
    f = np.ones(100)
    f[50] = 1.5
    out = online_dff(f, window_frames=30)
    assert out[50] == pytest.approx(0.5) and np.all(out[:50] == 0) and np.all(out[51:] == 0)
    with pytest.raises(InvalidArgumentError):
        online_dff(np.array([1.0, -1.0]))


def test_cursor_is_mean_p_plus_minus_mean_p_minus_smoothed_over_3_frames():
    ensemble = np.array(["P+", "P+", "P-", "P0"])
    weight = np.array([0.5, 0.5, -1.0, 0.0])
    dff = np.zeros((6, 4))
    dff[:, 0] = [0, 3, 0, 0, 0, 0]
    dff[:, 1] = [0, 3, 0, 0, 0, 0]
    dff[:, 2] = [0, 0, 0, 0, 3, 0]
    dff[:, 3] = 100.0  # P0 is ignored
    raw = dff[:, ensemble == "P+"].mean(1) - dff[:, ensemble == "P-"].mean(1)
    np.testing.assert_allclose(raw, [0, 3, 0, 0, -3, 0])
    np.testing.assert_allclose(cursor_from_dff(dff, weight, 3), [0, 1.5, 1, 1, -1, -1])


# --------------------------------------------------------------------------------------------- calibration
def _matlab_threshold(z: np.ndarray, step: float = 0.005, target: float = 0.5) -> float:
    """CLOOSE 3113-3158 written out literally: grid, movmean(3), any(>), lowest with propp <= 0.5."""
    grid = z.min() + step * np.arange(int(np.floor((z.max() - z.min()) / step + 1e-9)) + 1)
    mv = np.empty_like(z)
    for i, row in enumerate(z):
        for k in range(row.size):
            mv[i, k] = row[max(0, k - 1):k + 2].mean()
    propp = np.array([np.mean([np.any(m > g) for m in mv]) for g in grid])
    return float(grid[np.flatnonzero(propp <= target)[0]])


def test_threshold_on_a_hand_made_baseline():
    """Pseudo-trial j is flat at 0 with a 3-frame plateau at 0.01 j: half of them exceed 0.99, not 0.985."""
    task = BCITask()
    z = np.zeros((200, 50))
    z[:, 20:23] = 0.01 * np.arange(200)[:, None]
    z[0, 40] = -0.3  # the minimum: 0 deg and the lower bound
    cal = calibrate_threshold(z, task)
    # the grid starts at the minimum (-0.3) in steps of 0.005: 0.99 = -0.3 + 258 x 0.005 is on it
    assert cal.threshold == pytest.approx(0.99, abs=1e-9)
    assert cal.pseudo_success == 0.5 and cal.cursor_min == -0.3
    assert cal.threshold == pytest.approx(_matlab_threshold(z), abs=1e-9)
    mu, sd = half_normal_fit(z)
    assert cal.threshold_z == pytest.approx((0.99 - mu) / sd)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_threshold_matches_the_rig_loop_on_noise(seed):
    rng = np.random.default_rng(seed)
    z = np.cumsum(rng.standard_normal((60, 40)) * 0.02, axis=1)
    cal = calibrate_threshold(z, BCITask())
    assert cal.threshold == pytest.approx(_matlab_threshold(z), abs=1e-9)
    assert cal.pseudo_success <= 0.5
    # one grid step lower, more than half would succeed
    mv_max = np.array([max(row[max(0, k - 1):k + 2].mean() for k in range(row.size)) for row in z])
    assert np.mean(mv_max > cal.threshold - 0.005) > 0.5


def test_half_normal_fit_mirrors_the_lower_half():
    v = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    mu, sd = half_normal_fit(v)
    both = np.array([0, 1, 2, 2, 1, 0.0])
    assert (mu, sd) == pytest.approx((both.mean(), both.std(ddof=1)))


def test_later_days_take_the_easier_threshold():
    task = BCITask()
    z = np.zeros((200, 50))
    z[:, 20:23] = 0.01 * np.arange(200)[:, None]
    z[0, 40] = -0.3
    own = calibrate_threshold(z, task)
    # reference z harder than today's own: today's own threshold is used
    harder = recalibrate_threshold(z, own.threshold_z + 1.0, task)
    assert harder.source == "day" and harder.threshold == own.threshold and harder.threshold_z == own.threshold_z
    # reference z easier: today's half-normal fit at the reference z
    easier = recalibrate_threshold(z, own.threshold_z - 0.5, task)
    assert easier.source == "reference"
    assert easier.threshold == pytest.approx(own.baseline_mean + (own.threshold_z - 0.5) * own.baseline_std)
    assert easier.threshold < own.threshold and easier.pseudo_success >= own.pseudo_success
    assert easier.cursor_min == own.cursor_min and easier.own_threshold == own.threshold


def test_pseudo_trials_wrap_and_use_the_rigs_f0_window():
    task = BCITask(baseline_frames=300, trial_frames=20, pseudo_trial_frames=20, pseudo_trials=10,
                   f0_window_trials=2)
    rng = np.random.default_rng(4)
    fluor = 1 + np.abs(rng.standard_normal((300, 3)))
    w = np.array([0.5, 0.5, -1.0])
    got = pseudo_trial_cursors(fluor, w, task, seed=9)
    starts = np.random.default_rng(9).permutation(300)[:10]
    n, L, W = 300, 20, 40
    want = np.empty((10, L))
    for i, s in enumerate(starts):
        for k in range(L):
            t = (s + k) % n
            f0 = np.percentile(fluor[(t - L + 1 + np.arange(W)) % n], 10, axis=0)
            want[i, k] = ((fluor[t] - f0) / f0) @ w
    np.testing.assert_allclose(got, want, atol=1e-12)
    assert np.unique(starts).size == 10
    with pytest.raises(InvalidArgumentError):
        pseudo_trial_cursors(fluor[:10], w, task)


# -------------------------------------------------------------------------------------- grating and trials
def test_grating_bins_and_rotation():
    angles = grating_angle(np.linspace(-0.5, 1.5, 201), 0.0, 1.0)
    assert set(np.unique(angles)) == {0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0}
    assert np.all(np.diff(angles) >= 0)
    # 0 deg below the minimum, 15-75 in five bins of 0.2, 90 at the threshold
    assert grating_angle(-1e-9, 0.0, 1.0) == 0 and grating_angle(0.0, 0.0, 1.0) == 15
    assert grating_angle(0.2, 0.0, 1.0) == 30 and grating_angle(0.999, 0.0, 1.0) == 75
    assert grating_angle(1.0, 0.0, 1.0) == 90
    # the rotation that decides the trial rounds halves away from zero (MATLAB round)
    assert grating_rotation(89.5 / 90, 0.0, 1.0) == 90 and grating_rotation(89.4 / 90, 0.0, 1.0) == 89
    assert grating_rotation(-0.5 / 90, 0.0, 1.0) == -1 and grating_rotation(-0.4 / 90, 0.0, 1.0) == 0


def test_trial_rules_on_a_hand_made_cursor():
    """Hit, lower bound, time-out and a hit too late for its reward, with the rig's frame counts."""
    task = BCITask()
    cursor = np.full(4000, 0.5)  # between the minimum (0) and the threshold (1): nothing happens
    cursor[15 + 100] = 1.0  # trial 1: hit on its 101st response frame
    t2 = 15 + 100 + 1 + 60 + 15  # 191
    cursor[t2 + 15 + 10] = -0.1  # trial 2: lower bound on its 11th response frame
    t3 = t2 + 15 + 10 + 1 + 60 + 15  # 292; trial 3 times out
    t4 = t3 + 750 + 90  # 1132; trial 4: hit on its very last frame, too late for the reward
    cursor[t4 + 749] = 2.0
    ev = trial_events(cursor, 1.0, 0.0, task)
    first = ev.iloc[0]
    assert (first.start, first.response_start, first.hit, first.reward, first.stop) == (0, 15, 115, 118, 191)
    assert first.rewarded and not first.timed_out and first.white_noise == -1 and first.lower_bound == -1
    second = ev.iloc[1]
    assert (second.start, second.lower_bound, second.white_noise, second.stop) == (191, 216, 217, 292)
    assert not second.rewarded and not second.timed_out and second.hit == -1
    third = ev.iloc[2]
    assert (third.start, third.white_noise, third.stop) == (292, 292 + 750 + 29, 292 + 840)
    assert third.timed_out and not third.rewarded and third.hit == -1 and third.lower_bound == -1
    fourth = ev.iloc[3]
    assert fourth.start == t4 and fourth.hit == t4 + 749 and not fourth.rewarded and fourth.timed_out
    assert fourth.white_noise == t4 + 750 + 29 and fourth.stop == t4 + 840
    # without the lower bound the second trial runs to its time-out
    ev2 = trial_events(cursor, 1.0, 0.0, dataclasses.replace(task, lower_bound=False))
    assert ev2.iloc[1].lower_bound == -1 and ev2.iloc[1].timed_out
