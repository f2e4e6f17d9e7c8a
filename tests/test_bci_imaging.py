"""Imaging realism of the simulated raw fluorescence: each part measured, each off-switchable."""

from __future__ import annotations

import numpy as np
import pytest

from neurorl.errors import InvalidArgumentError
from neurorl.io.bci_suite2p import suite2p_dff
from neurorl.models.bci_imaging import ImagingParams, motion_artefacts, raw_fluorescence

FR = 15.46


def _off(**on):
    """Realism on, but every part off except those given."""
    base = dict(rise_tau_s=0.0, saturation_dff=0.0, bleach_per_hour=0.0, motion_events_per_min=0.0,
                photons_per_unit=0.0)
    base.update(on)
    return ImagingParams(**base)


def _corrected(F, Fneu, p):
    return (F - p.neuropil_coefficient * Fneu).astype(np.float64)


def test_without_realism_f_is_exactly_affine_in_dff():
    rng = np.random.default_rng(0)
    dff = rng.gamma(0.5, 0.3, size=(2000, 4)).astype(np.float32)
    p = ImagingParams().without_realism()
    F, Fneu, f0 = raw_fluorescence(dff, FR, p, seed=1)
    np.testing.assert_allclose(_corrected(F, Fneu, p), f0[:, None] * (1 + dff.T), rtol=1e-5)
    # every part at 0 with realism on gives the same arrays
    F2, Fneu2, _ = raw_fluorescence(dff, FR, _off(), seed=1)
    np.testing.assert_allclose(F2, F, rtol=1e-6)


def test_rise_delays_a_step_by_the_time_constant():
    dff = np.zeros((60, 1), dtype=np.float32)
    dff[10:] = 1.0
    p = _off(rise_tau_s=0.05)
    F, Fneu, f0 = raw_fluorescence(dff, FR, p, seed=0)
    x = _corrected(F, Fneu, p)[0] / f0[0] - 1
    rho = np.exp(-1 / (0.05 * FR))
    np.testing.assert_allclose(x[10:14], 1 - rho ** np.arange(1, 5), atol=1e-5)  # first-order rise


def test_saturation_is_linear_when_small_and_bounded():
    dff = np.array([[0.01], [0.1], [1.0], [10.0], [100.0]], dtype=np.float32)
    p = _off(saturation_dff=4.0, saturation_exponent=2.5)
    F, Fneu, f0 = raw_fluorescence(dff, FR, p, seed=0)
    x = _corrected(F, Fneu, p)[0] / f0[0] - 1
    assert x[0] == pytest.approx(0.01, rel=1e-3) and x[1] == pytest.approx(0.1, rel=1e-2)
    assert np.all(np.diff(x) > 0) and x[-1] < 4.0 and x[-1] > 3.9


def test_bleaching_loses_the_stated_fraction_per_hour():
    n = int(FR * 3600)
    dff = np.zeros((n, 1), dtype=np.float32)
    p = _off(bleach_per_hour=0.1)
    F, Fneu, f0 = raw_fluorescence(dff, FR, p, seed=0)
    c = _corrected(F, Fneu, p)[0]
    assert c[-1] / c[0] == pytest.approx(0.9, rel=1e-3)
    # suite2p's running baseline removes it: the lab's ΔF/F stays near 0 throughout
    assert np.abs(suite2p_dff(F, Fneu, FR)[:, 0]).max() < 0.01


def test_motion_artefacts_are_brief_shared_drops():
    m = motion_artefacts(int(FR * 600), FR, ImagingParams(), seed=3)
    drops = np.flatnonzero(np.diff((m < 1).astype(int)) == 1)
    assert 5 <= drops.size <= 20  # ~10 expected in 10 min at 1 per minute (Poisson: 10 +- 3.2)
    np.testing.assert_allclose(np.unique(m), [0.85, 1.0], rtol=1e-6)
    assert np.all(motion_artefacts(1000, FR, ImagingParams().without_realism(), seed=3) == 1)
    dff = np.zeros((m.size, 3), dtype=np.float32)
    p = _off()
    F, Fneu, f0 = raw_fluorescence(dff, FR, p, seed=0, motion=m)
    c = _corrected(F, Fneu, p) / f0[:, None]
    np.testing.assert_allclose(c, np.broadcast_to(m, c.shape), rtol=1e-5)  # every ROI at once
    with pytest.raises(InvalidArgumentError, match="motion"):
        raw_fluorescence(dff, FR, p, seed=0, motion=m[:-1])


def test_shot_noise_variance_grows_with_f():
    dff = np.zeros((20000, 2), dtype=np.float32)
    p = _off(photons_per_unit=2.0)
    F, Fneu, f0 = raw_fluorescence(dff, FR, p, seed=0, f0=np.array([100.0, 900.0]))
    resid = _corrected(F, Fneu, p) - f0[:, None]
    expected = np.sqrt(F.mean(axis=1) / 2.0)
    np.testing.assert_allclose(resid.std(axis=1), expected, rtol=0.03)  # sd of a 20000-sample sd: ~0.5 %


def test_bad_realism_settings_are_refused():
    with pytest.raises(InvalidArgumentError):
        ImagingParams(bleach_per_hour=1.5)
    with pytest.raises(InvalidArgumentError):
        ImagingParams(photons_per_unit=-1)
