"""Tests of the BCI task: online ΔF/F, cursor, calibration, grating mapping (neurorl.tasks.bci)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from neurorl.errors import InvalidArgumentError
from neurorl.tasks.bci import (
    BCITask,
    assign_ensembles,
    calibrate_threshold,
    cursor_from_dff,
    grating_angle,
    online_dff,
    recalibrate_threshold,
)


def test_paper_defaults():
    task = BCITask()
    assert task.frame_rate_hz == 15.46
    assert task.session_minutes == 41 and task.days == 14 and task.n_bci == 10
    assert task.session_frames == round(41 * 60 * 15.46)
    assert task.f0_window_frames == round(30 * 15.46)
    assert task.n_angle_bins == 7
    assert task.baseline_frames == 12_000
    assert (task.pseudo_trials, task.pseudo_trial_frames, task.target_success) == (200, 435, 0.5)
    assert task.frames(task.response_max_s) == round(28 * 15.46)
    assert (task.grey_s, task.freeze_s, task.reward_delay_s, task.black_s, task.timeout_s) == (0.5, 2, 1, 1, 3)
    assert task.reward_volume_ul == 4.0


@pytest.mark.parametrize("kwargs", [dict(n_bci=1), dict(frame_rate_hz=0), dict(session_minutes=-1),
                                    dict(days=0), dict(baseline_frames=100), dict(target_success=1.0)])
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
    got = online_dff(f, frame_rate_hz=1.0, window_s=window, percentile=q)
    expected = np.empty_like(f)
    for t in range(f.shape[0]):
        f0 = np.percentile(f[max(0, t - window + 1):t + 1], q, axis=0)
        expected[t] = (f[t] - f0) / f0
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_online_dff_constant_baseline_and_errors():
    f = np.ones(100)
    f[50] = 1.5
    out = online_dff(f, frame_rate_hz=1.0, window_s=30)
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


def test_calibration_hits_half_of_pseudo_trials_and_the_true_probability():
    """White-noise baseline: P(max of 435 iid N(0,1) >= theta) = 1 - Phi(theta)^435 must be ~0.5."""
    task = BCITask()
    rng = np.random.default_rng(1)
    cursor = rng.standard_normal(task.baseline_frames)
    cal = calibrate_threshold(cursor, task, seed=2)
    assert cal.pseudo_success == pytest.approx(0.5, abs=0.03)
    true_success = 1 - norm.cdf(cal.threshold) ** task.pseudo_trial_frames
    # 200 overlapping windows from ~26 independent ones: sd of the success fraction ~ sqrt(.25/26) ~ 0.1
    assert abs(true_success - 0.5) < 0.25
    theta_star = norm.ppf(0.5 ** (1 / task.pseudo_trial_frames))
    assert abs(cal.threshold - theta_star) < 0.3
    assert cal.threshold_z == pytest.approx((cal.threshold - cal.baseline_mean) / cal.baseline_std)
    assert cal.cursor_min == pytest.approx(cursor[task.f0_window_frames:].min())


def test_recalibration_reuses_day1_z_score():
    task = BCITask()
    rng = np.random.default_rng(5)
    day1 = rng.standard_normal(task.baseline_frames)
    cal1 = calibrate_threshold(day1, task, seed=0)
    day2 = 0.3 + 2.0 * rng.standard_normal(task.baseline_frames)  # brighter, more variable imaging
    cal2 = recalibrate_threshold(day2, cal1.threshold_z, task, seed=0)
    usable = day2[task.f0_window_frames:]
    assert cal2.threshold == pytest.approx(usable.mean() + cal1.threshold_z * usable.std())
    assert cal2.threshold_z == cal1.threshold_z
    assert abs(cal2.pseudo_success - 0.5) < 0.3


def test_grating_angle_bins():
    angles = grating_angle(np.linspace(-0.5, 1.5, 201), 0.0, 1.0)
    assert set(np.unique(angles)) == {0.0, 15.0, 30.0, 45.0, 60.0, 75.0, 90.0}
    assert np.all(np.diff(angles) >= 0)
    assert grating_angle(0.999, 0.0, 1.0) == 75.0 and grating_angle(1.0, 0.0, 1.0) == 90.0
    assert math.isclose(float(grating_angle(0.5, 0.0, 1.0)), 45.0)
