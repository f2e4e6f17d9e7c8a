r"""Simulated two-photon BCI experiments: neurons, calcium imaging, apical dendrites and three learning rules.

The model (one field of view, ``n_p0 + n_bci`` layer-5 neurons, each with a soma and a distal apical dendrite)
-----------------------------------------------------------------------------------------------------------
**Rates.** Neuron :math:`i` fires with rate

.. math:: r_i(t) = r_{0,i} \exp\big(a_i s(t) + \sigma_p p_i(t) + c(t)\, d_i - v_i/2\big)

where :math:`s` is a shared (network) fluctuation and :math:`p_i` a private one (unit-variance AR(1) processes
with time constants ``shared_tau_s`` and ``private_tau_s``), :math:`a_i` the neuron's loading on the shared
fluctuation, :math:`v_i = a_i^2 + \sigma_p^2` (so the mean rate is :math:`r_{0,i}` when :math:`d_i = 0`),
:math:`d_i` the *learned task drive* and :math:`c(t)` the task context (1 during the closed-loop session,
0 during the passive baseline: what the mouse learns is how to drive these neurons while it does the task,
so the daily passive baseline -- and hence the daily threshold calibration -- is unaffected by learning).

**Spikes and calcium.** Spike counts per frame are Poisson with mean :math:`r_i \Delta t`; each spike adds
``spike_amplitude_dff`` to a GCaMP7f-like calcium ΔF/F that decays with ``calcium_tau_s`` (the rise, < 50 ms,
is within one 65-ms frame). Somatic ΔF/F = calcium + Gaussian imaging noise (``soma_noise_sd``). The raw
fluorescence the BCI sees is :math:`F = F_{rest}(1 + \Delta F/F)`; the online ΔF/F and cursor are computed from
it as in :mod:`neurorl.tasks.bci`.

**Apical dendrites: back-propagated events and plateaus.** Two kinds of dendritic (tuft) calcium events:

* *back-propagated*: each frame with somatic spikes (magnitude :math:`m^s = A\,n_{spikes}`) sends an event of
  :math:`\alpha_i m^s_i + \beta_0` into the dendrite, except on a back-propagation failure (probability
  ``bap_failure_prob``); the coupling :math:`\alpha_i` varies across neurons (log-normal, median
  ``dendrite_coupling``, log-sd ``dendrite_coupling_sd``);
* *plateaus*: on every frame neuron :math:`i` has a plateau, :math:`P_i(t) \in \{0, 1\}`, with probability

  .. math:: p_i(t) = \min\big(1,\ (1 - s(t))\,\pi(k_i(t))\,\big[1 + \tanh(\kappa\, T_i(t))\big]\big)

  where :math:`k_i(t)` is the frame's spike count and :math:`\pi(0) = \pi_0`, :math:`\pi(1)`, :math:`\pi(\ge 2)`
  the plateau probabilities per frame without instructive signal (``plateau_rate_hz``, ``plateau_rate_spike_hz``,
  ``plateau_rate_burst_hz``: bursts drive plateaus nonlinearly; plateaus on frames without spikes are isolated
  dendritic events), :math:`T_i` the instructive signal (below), :math:`\kappa` = ``plateau_gain`` and
  :math:`s(t)` the NDNF-like suppression (``ndnf_suppression`` from each trial's decision until :math:`L` frames
  after its outcome, else 0). A plateau adds :math:`(1 - s(t))\,B_i` (:math:`B_i` log-normal across neurons,
  median ``plateau_amplitude_dff``).

A frame's dendritic event is the sum of what happened (floored at 0, plus ``dendrite_event_sd`` noise), filtered
by the indicator (``dendrite_tau_s``) plus imaging noise (``dendrite_noise_sd``). The instructive signal never
enters the trace directly: it shows in the dendrite only as a change of plateau probability, so the residual
of a fit of dendritic on somatic event magnitude carries it through the plateaus' statistics (``teaching_signal``
and the plateaus, ``ground_truth["plateau"]``, are stored as ground truth).

Learning rules: plateau-gated plasticity
----------------------------------------
Let :math:`E(t) = \mathrm{clip}\big((\theta - c(t)) / (\theta - c_{min}), 0, 1\big)` be the error the mouse
sees (the grating's distance to the target, 1 at 0°, 0 at 90°), :math:`\Delta E(t) = E(t) - E(t - L)` its change
over ``error_lag_s`` (:math:`L` frames), :math:`\sigma_i = +1, -1, 0` the neuron's ensemble sign (P+, P-, P0).
Plasticity is gated by the plateaus: in the rule's plasticity window the drive steps by the plateau minus the
plateau probability the neuron has without instructive signal, :math:`\bar\pi_i(t) = (1 - s(t))\,\pi(k_i(t))`,
scaled by the frame's plateau propensity relative to a spike-free frame,

.. math:: \Delta d_i = \eta\,\big(P_i(t) - \bar\pi_i(t)\big)\,\frac{\pi_0}{\pi(k_i(t))}\,[e_i], \qquad
          E[\Delta d_i] = \eta\,(1 - s)\,\pi_0 \tanh(\kappa T_i)\,[e_i]

(below the clip at 1, which the defaults never reach: :math:`2\pi(\ge 2) = 0.95`), so the expected step
follows the instructive signal whatever the neuron's own spiking (a neuron's spikes change its own
:math:`\Delta E`, and an unscaled step would add a Hebbian bias that potentiates P- neurons too), and each step
also carries the Bernoulli noise of the plateaus: with :math:`T = 0` the drive is a zero-mean random walk.
The suppression lowers the expected step by :math:`(1 - s)` in its window.

``vectorized``
    A per-neuron signed signal, minus the gain times the neuron's ensemble sign times the change in error,
    :math:`T_i(t) = -g\, \sigma_i\, \Delta E(t)`, delivered during the response window and for :math:`L`
    frames after it ends (the plasticity window; :math:`\eta = \eta_v`, no eligibility factor). In expectation
    and for small :math:`\kappa T` this is the earlier linear rule :math:`\Delta d_i \propto T_i`, whose sum over
    a trial telescopes to :math:`\propto \sigma_i (E_{start} - E_{end})`: P+ neurons are potentiated and P-
    depressed in proportion to the progress made.

``scalar``
    One broadcast signal for all neurons, :math:`T_i(t) = g_s\, \delta_k` for :math:`L` frames from the reward
    (hit) or the timeout (miss), with :math:`\delta_k = R_k - \bar R` the reward prediction error
    (:math:`R_k = 1` hit, 0 miss; :math:`\bar R \leftarrow \bar R + \rho\, \delta_k`). The plasticity window is
    those :math:`L` frames, :math:`\eta = \eta_s`, and the eligibility factor :math:`e_i` is the neuron's own
    private (exploratory) log-rate fluctuation :math:`\sigma_p p_i` low-pass filtered with ``eligibility_tau_s``
    and read at the decision (node perturbation: each neuron correlates the shared outcome with its own noise),
    so :math:`E[\Delta d_i] \propto \tanh(\kappa g_s \delta_k)\, e_i`.

``none``
    No instructive signal (:math:`T_i = 0`): plasticity runs in the vectorized rule's window at
    :math:`\eta_v`, and the drives drift (zero-mean random walk, no systematic learning).

Drives are soft-bounded at :math:`\pm` ``drive_bound``: every step is scaled by :math:`1 - (d_i/\text{bound})^2`,
the same factor for both signs, so the plateaus' zero-mean noise causes no drift (a factor that shrinks only
steps towards the nearer bound would pull noisy drives back to 0).

Why the scalar rule slows down with more BCI neurons (credit assignment)
-------------------------------------------------------------------------
Write the cursor in units of its baseline standard deviation as :math:`z = \sum_i u_i x_i` with :math:`x_i` the
neurons' (independent) fluctuations and :math:`u_i \approx \sigma_i/\sqrt{n}` (the cursor averages n neurons, so
:math:`\sum_i u_i^2 \approx 1`). Learning must move :math:`\sum_i u_i d_i` by a fixed amount :math:`\Delta z`.

* ``vectorized``: every neuron steps in its own correct direction, :math:`\Delta d_i = \eta_v g \sigma_i G` (G the
  progress per trial, in the mouse's normalised error units, independent of n), so
  :math:`\sum_i u_i \Delta d_i = \eta_v g G \sqrt{n}`: the steps add coherently and learning time falls like
  :math:`1/\sqrt n`.
* ``scalar``: one number summarises all n neurons. Neuron i's fluctuation explains only :math:`u_i^2 = 1/n` of
  the variance of the outcome, so the correlation of its update with the direction it should move is
  :math:`\propto 1/\sqrt n` (the broadcast signal's variance is mostly other neurons' contributions):
  :math:`E[\Delta d_i] = \eta_s f' u_i \mathrm{Var}(e)` and :math:`\sum_i u_i E[\Delta d_i] = \eta_s f' \mathrm{Var}(e)`,
  independent of n, while the rest of each step (variance :math:`\eta_s^2 \mathrm{Var}(\delta)\mathrm{Var}(e)`
  per neuron) is a random walk orthogonal to the task.

With steps of comparable size per neuron, the scalar rule's learning time relative to the vectorized rule's
therefore grows like :math:`\sqrt n` (:func:`learning_time_vs_n_bci` measures it).

Defaults and measured learning. The plateau rates (0.6, 3 and 10 Hz on frames with 0, 1 and >= 2 spikes)
and amplitudes are assumed; :math:`\kappa = 20` makes the instructive modulation of the plateau probability
strong (:math:`\tanh(\kappa T)` is about :math:`\pm 0.96` for a typical :math:`|\Delta E| = 0.1` over 1 s) and
:math:`\eta_v = 0.0007`, :math:`\eta_s = 0.004` were chosen so that, with 10 BCI neurons and 41-min days
(``simulate_bci_experiment(rule, days=14, n_p0=0, record=False)``, seeds 0-3, mean over seeds), the learned cursor
shift (:func:`learned_cursor_shift`, baseline SD) after days 1, 4, 8, 14 is

* ``vectorized`` 0.07, 0.30, 0.76, 1.93 (the former linear rule, ``teaching_coupling`` and
  :math:`\Delta d_i = (\eta_v / L) T_i` with :math:`\eta_v = 0.004`: 0.08, 0.29, 0.49, 0.74); fraction of trials
  hit 0.62, 0.79, 0.92, 1.00 (former 0.61, 0.80, 0.89, 0.93);
* ``scalar`` 0.05, 0.16, 0.35, 0.64 (former 0.04, 0.12, 0.22, 0.35); hit 0.58, 0.73, 0.85, 0.96 (former 0.58,
  0.72, 0.79, 0.86);
* ``none`` 0.00, -0.01, -0.00, -0.01 (per seed -0.03 to 0.00 on day 14: drift, not learning); hit 0.56, 0.64,
  0.59, 0.66 (former 0.55, 0.63, 0.57, 0.65).

Learning is faster than before late in training because the former soft bound (steps towards the nearer bound
shrinking linearly) slowed the drives down earlier. The NDNF-like arm (``ndnf_suppression = 0.6``, vectorized,
seeds 0-5) reaches a learned shift of 0.17 on day 4 and 0.40 (0.18-0.67) on day 8 against 0.32 and 0.84
(0.54-1.34) for the control, lower in every seed; hit rate on day 8 0.80 against 0.89.
With :func:`learning_time_vs_n_bci` (4 days, seeds 0-11) the median learning rates (baseline SD per day) are
vectorized 0.038, 0.046, 0.069, 0.095 and scalar 0.055, 0.044, 0.042, 0.037 for n = 2, 4, 8, 16; median paired
slowdowns 0.68, 1.04, 1.56, 3.01 (log-log slope 0.70). The plateaus' noise is a random walk of every drive that
the former deterministic rule did not have (former rule, seeds 0-19: vectorized 0.059, 0.084, 0.118, 0.205,
scalar 0.054-0.058, slowdowns 0.92, 1.56, 2.24, 3.32); it slows the vectorized rule at small n the most and
makes the scalar rate fall slightly with n.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from ..errors import InvalidArgumentError
from ..recordings import BCIRecording
from ..tasks.bci import (
    BCITask,
    Calibration,
    _movmean3,
    assign_ensembles,
    calibrate_threshold,
    pseudo_trial_cursors,
    recalibrate_threshold,
)
from . import _jitted as K

__all__ = [
    "RULES",
    "BCILearnerParams",
    "BCISession",
    "simulate_bci_experiment",
    "simulate_bci_day",
    "summarize_session",
    "learned_cursor_shift",
    "learning_time_vs_n_bci",
    "simulate_licks",
    "THRESHOLD_RULES",
    "LEARNER_SOURCES",
    "RUN_SOURCES",
    "simulation_parameters",
]

#: Later-day threshold rules: the rig's (easier of the day's own and day 1's z) and the z-score alone (before).
THRESHOLD_RULES: tuple[str, str] = ("rig", "z_only")

#: The learning rules.
RULES: tuple[str, str, str] = ("vectorized", "scalar", "none")
_RULE_CODE = {"none": K.RULE_NONE, "vectorized": K.RULE_VECTORIZED, "scalar": K.RULE_SCALAR}


@dataclass(frozen=True)
class BCILearnerParams:
    """Settings of the simulated neurons, imaging and learning rules (see the module docstring for equations).

    Parameters
    ----------
    rate_median_hz, rate_log_sd
        Resting rates :math:`r_0` are log-normal with this median (Hz) and log-sd.
    shared_sd_mean, shared_sd_spread, shared_tau_s
        Loadings :math:`a_i \\sim N(mean, spread)` on the shared fluctuation (log-rate units) and its time constant (s).
    private_sd, private_tau_s
        Private fluctuation :math:`\\sigma_p` (log-rate units) and time constant (s).
    spike_amplitude_dff, calcium_tau_s
        GCaMP7f-like ΔF/F per spike and decay time constant (s).
    soma_noise_sd, dendrite_noise_sd
        Imaging noise (ΔF/F sd per frame) in the soma and distal-dendrite planes.
    dendrite_coupling, dendrite_coupling_sd, dendrite_offset, bap_failure_prob
        Back-propagated dendritic event = :math:`\\alpha_i` x somatic event (ΔF/F) + ``dendrite_offset`` (ΔF/F);
        :math:`\\alpha_i` is log-normal across neurons (median ``dendrite_coupling``, log-sd
        ``dendrite_coupling_sd``); a frame's back-propagation fails (no dendritic event) with probability
        ``bap_failure_prob``.
    dendrite_distance_um, bap_length_constant_um
        The coupling falls with the imaged dendrite's distance from its soma:
        :math:`\alpha_i = c\, e^{-(d_i - \bar d)/\lambda}`, with :math:`d_i` (µm, stored as ground truth
        ``dendrite_distance_um``) normal around ``dendrite_distance_um`` with sd :math:`\lambda` x
        ``dendrite_coupling_sd`` and :math:`\lambda` = ``bap_length_constant_um`` (µm).
    plateau_rate_hz, plateau_rate_spike_hz, plateau_rate_burst_hz
        Rate (Hz) of dendritic plateaus without instructive signal on frames with no, one and >= 2 somatic spikes
        (bursts drive plateaus nonlinearly; plateaus without spikes are isolated dendritic events).
    plateau_gain
        :math:`\\kappa` (per unit of instructive signal): the plateau probability is multiplied by
        :math:`1 + \\tanh(\\kappa T_i)`.
    plateau_amplitude_dff, plateau_amplitude_sd
        Plateau amplitude (ΔF/F): log-normal across neurons with this median and log-sd.
    dendrite_event_sd, dendrite_tau_s
        Event-to-event noise of a dendritic event (ΔF/F sd) and the dendritic indicator's decay (s).
    ndnf_suppression
        NDNF-like inhibition of the tuft: fraction :math:`s` by which plateau probability and amplitude are
        reduced from the trial's decision until ``error_lag_s`` after its outcome (0: control arm).
    error_lag_s
        :math:`L`: the change in error is taken over this lag (s).
    vectorized_gain, vectorized_rate
        :math:`g` of the vectorized rule and :math:`\\eta_v`, the drive step per plateau (log-rate units) of the
        vectorized rule and of ``none``.
    scalar_gain, scalar_rate, eligibility_tau_s, reward_average_rate
        :math:`g_s`, :math:`\\eta_s` (drive step per plateau and unit eligibility), the eligibility time
        constant (s) and the reward average's update rate :math:`\\rho` of the scalar rule.
    drive_bound
        Soft bound on the learned drive (log-rate units).
    """

    rate_median_hz: float = 2.0
    rate_log_sd: float = 0.4
    shared_sd_mean: float = 0.5
    shared_sd_spread: float = 0.1
    shared_tau_s: float = 2.0
    private_sd: float = 0.7
    private_tau_s: float = 1.0
    spike_amplitude_dff: float = 0.3
    calcium_tau_s: float = 0.5
    soma_noise_sd: float = 0.08
    dendrite_noise_sd: float = 0.12
    dendrite_coupling: float = 0.8
    dendrite_coupling_sd: float = 0.25
    dendrite_distance_um: float = 400.0
    bap_length_constant_um: float = 400.0
    dendrite_offset: float = 0.05
    bap_failure_prob: float = 0.1
    plateau_rate_hz: float = 0.6
    plateau_rate_spike_hz: float = 3.0
    plateau_rate_burst_hz: float = 10.0
    plateau_gain: float = 20.0
    plateau_amplitude_dff: float = 0.6
    plateau_amplitude_sd: float = 0.3
    dendrite_event_sd: float = 0.05
    dendrite_tau_s: float = 0.4
    ndnf_suppression: float = 0.0
    error_lag_s: float = 1.0
    vectorized_gain: float = 1.0
    vectorized_rate: float = 0.0007
    scalar_gain: float = 1.0
    scalar_rate: float = 0.004
    eligibility_tau_s: float = 2.0
    reward_average_rate: float = 0.05
    drive_bound: float = 2.0

    def __post_init__(self) -> None:
        for name in ("rate_median_hz", "shared_tau_s", "private_tau_s", "calcium_tau_s", "dendrite_tau_s",
                     "error_lag_s", "eligibility_tau_s", "drive_bound", "spike_amplitude_dff",
                     "bap_length_constant_um"):
            if not getattr(self, name) > 0:
                raise InvalidArgumentError(f"{name} must be positive, got {getattr(self, name)}")
        for name in ("rate_log_sd", "shared_sd_spread", "private_sd", "soma_noise_sd", "dendrite_noise_sd",
                     "dendrite_event_sd", "vectorized_rate", "scalar_rate", "dendrite_coupling_sd",
                     "plateau_rate_hz", "plateau_rate_spike_hz", "plateau_rate_burst_hz", "plateau_gain",
                     "plateau_amplitude_dff", "plateau_amplitude_sd"):
            if getattr(self, name) < 0:
                raise InvalidArgumentError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("bap_failure_prob", "ndnf_suppression"):
            if not 0 <= getattr(self, name) <= 1:
                raise InvalidArgumentError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.reward_average_rate <= 1:
            raise InvalidArgumentError(f"reward_average_rate must be in [0, 1], got {self.reward_average_rate}")

    def as_dict(self) -> dict:
        """Settings as a plain dict."""
        return asdict(self)


_MODEL = "assumed (model choice; see the module docstring)"
#: Where each default of :class:`BCILearnerParams` comes from.
LEARNER_SOURCES: dict[str, str] = {
    "rate_median_hz": "assumed: layer-5 pyramidal neurons fire a few spikes/s at rest",
    "rate_log_sd": "assumed: log-normal spread of resting rates",
    "shared_sd_mean": _MODEL, "shared_sd_spread": _MODEL, "shared_tau_s": _MODEL,
    "private_sd": _MODEL, "private_tau_s": _MODEL,
    "spike_amplitude_dff": "assumed: GCaMP7f-like ΔF/F per spike",
    "calcium_tau_s": "assumed: GCaMP7f-like decay",
    "soma_noise_sd": "assumed: imaging noise (ΔF/F sd per frame)",
    "dendrite_noise_sd": "assumed: imaging noise of thin dendrites (ΔF/F sd per frame)",
    "dendrite_coupling": _MODEL, "dendrite_offset": _MODEL,
    "dendrite_coupling_sd": "assumed: soma-dendrite coupling varies across neurons",
    "dendrite_distance_um": "assumed: imaged tuft dendrites a few hundred µm from the soma (median)",
    "bap_length_constant_um": "assumed: back-propagating spikes attenuate over a few hundred µm of apical trunk",
    "bap_failure_prob": "assumed: occasional back-propagation failures",
    "plateau_rate_hz": "assumed: isolated dendritic events without somatic spikes, well below 1 Hz",
    "plateau_rate_spike_hz": "assumed: plateaus more likely with a somatic spike",
    "plateau_rate_burst_hz": "assumed: bursts (>= 2 spikes per frame) drive plateaus nonlinearly",
    "plateau_gain": "calibrated: vectorized learning about as fast as with the former linear rule (module docstring)",
    "plateau_amplitude_dff": "assumed: plateaus are large dendritic calcium events (ΔF/F)",
    "plateau_amplitude_sd": "assumed: plateau amplitude varies across neurons",
    "dendrite_event_sd": _MODEL, "dendrite_tau_s": "assumed: GCaMP-like decay in dendrites",
    "ndnf_suppression": "assumed: 0 = control arm (no NDNF-like perturbation of the dendritic signal)",
    "error_lag_s": _MODEL, "vectorized_gain": _MODEL,
    "vectorized_rate": "calibrated: vectorized learning about as fast as with the former linear rule "
                       "(module docstring)",
    "scalar_gain": _MODEL, "scalar_rate": "calibrated: scalar learning slower than vectorized with 10 BCI "
                                          "neurons (module docstring)",
    "eligibility_tau_s": _MODEL, "reward_average_rate": _MODEL, "drive_bound": _MODEL,
}

#: Where each run-level setting (the options of ``neurorl simulate bci``) comes from.
RUN_SOURCES: dict[str, tuple[object, str]] = {
    "rule": ("vectorized", "the paper's hypothesis (vectorized instructive signals)"),
    "days": (14, "assumed: two weeks of training (the paper's abstract: learning within a week)"),
    "session_minutes": (41.0, "assumed: closed-loop minutes per day"),
    "p0": (300, "assumed: other neurons in the field of view"),
    "n_bci": (10, "paper abstract: two ensembles of four or five neurons each"),
    "seed": (0, "assumed"),
    "threshold_rule": ("rig", "harnett/CLOOSE Run_GUI/Run_GUI.m @5579dee lines 3216-3237"),
}


def simulation_parameters(task: BCITask | None = None, params: BCILearnerParams | None = None,
                          imaging=None, **run) -> list[tuple[str, str, object, str]]:
    """Every setting of a BCI simulation with its source: rows ``(section, key, value, source)``.

    ``section`` is ``''`` for the run options of ``neurorl simulate bci`` (``rule``, ``days``, ...; overridden
    by ``run``), ``'task'`` (:class:`~neurorl.tasks.bci.BCITask`), ``'learner'`` (:class:`BCILearnerParams`) and
    ``'imaging'`` (:class:`~neurorl.models.bci_imaging.ImagingParams`). The task's ``days``,
    ``session_minutes`` and ``n_bci`` are set by the run options and not repeated.
    """
    from ..tasks.bci import TASK_SOURCES
    from .bci_imaging import IMAGING_SOURCES, ImagingParams

    rows: list[tuple[str, str, object, str]] = []
    for key, (default, source) in RUN_SOURCES.items():
        rows.append(("", key, run.get(key, default), source))
    for key, value in (task or BCITask()).as_dict().items():
        if key not in ("days", "session_minutes", "n_bci"):
            rows.append(("task", key, value, TASK_SOURCES[key]))
    for key, value in (params or BCILearnerParams()).as_dict().items():
        rows.append(("learner", key, value, LEARNER_SOURCES[key]))
    for key, value in (imaging or ImagingParams()).as_dict().items():
        rows.append(("imaging", key, value, IMAGING_SOURCES[key]))
    return rows


#: One simulated day: the shared recording type (the simulator fills its ground-truth fields). Kept under its
#: former name; see :class:`neurorl.recordings.BCIRecording`.
BCISession = BCIRecording


# --------------------------------------------------------------------------------------------------------
def _ar1(rng: np.random.Generator, n_frames: int, n: int, tau_frames: float) -> np.ndarray:
    """Unit-variance stationary AR(1) processes, ``(n_frames, n)`` float32."""
    rho = math.exp(-1.0 / tau_frames)
    eps = rng.standard_normal((n_frames, n), dtype=np.float32)
    eps[0] /= np.float32(math.sqrt(1 - rho * rho))
    return lfilter([np.float32(math.sqrt(1 - rho * rho))], [1.0, -rho], eps, axis=0).astype(np.float32, copy=False)


def _check_rule(rule: str) -> str:
    if rule not in _RULE_CODE:
        raise InvalidArgumentError(f"rule must be one of {', '.join(RULES)}; got {rule!r}")
    return rule


@dataclass
class _Population:
    """Fixed properties of the simulated neurons (drawn once per experiment)."""

    ensemble: np.ndarray
    weight: np.ndarray
    sign: np.ndarray
    log_r0dt: np.ndarray
    loading: np.ndarray
    var: np.ndarray
    bci_idx: np.ndarray
    p0_idx: np.ndarray
    coupling: np.ndarray
    plateau_amp: np.ndarray
    distance: np.ndarray


def _make_population(n_p0: int, n_bci: int, task: BCITask, params: BCILearnerParams,
                     rng: np.random.Generator) -> _Population:
    n = n_p0 + n_bci
    ensemble, weight = assign_ensembles(n, n_bci, rng)
    sign = np.where(ensemble == "P+", 1.0, np.where(ensemble == "P-", -1.0, 0.0))
    r0 = params.rate_median_hz * np.exp(params.rate_log_sd * rng.standard_normal(n))
    loading = params.shared_sd_mean + params.shared_sd_spread * rng.standard_normal(n)
    var = loading ** 2 + params.private_sd ** 2
    bci_idx = np.flatnonzero(ensemble != "P0")
    p0_idx = np.flatnonzero(ensemble == "P0")
    # each imaged dendrite's distance from its soma (µm) sets how much of a back-propagating spike reaches it,
    # coupling = c exp(-(d - d_median) / lambda); the distances are normal with sd lambda x dendrite_coupling_sd
    # (so the coupling is log-normal with log-sd dendrite_coupling_sd, as before)
    distance = params.dendrite_distance_um - (params.bap_length_constant_um * params.dendrite_coupling_sd
                                              * rng.standard_normal(n))
    coupling = params.dendrite_coupling * np.exp(-(distance - params.dendrite_distance_um)
                                                 / params.bap_length_constant_um)
    plateau_amp = params.plateau_amplitude_dff * np.exp(params.plateau_amplitude_sd * rng.standard_normal(n))
    return _Population(ensemble=ensemble, weight=weight, sign=sign, log_r0dt=np.log(r0 / task.frame_rate_hz),
                       loading=loading, var=var, bci_idx=bci_idx, p0_idx=p0_idx, coupling=coupling,
                       plateau_amp=plateau_amp, distance=distance)


def simulate_licks(trials: pd.DataFrame, n_frames: int, frame_rate_hz: float,
                   seed: int | np.random.Generator | None = None, *, first_frame: int = 0,
                   rate_hz: float = 0.3, bout_rate_hz: float = 6.5, bout_s: float = 2.0) -> np.ndarray:
    """Lick times (s): per-frame licks at a low spontaneous rate and a consummatory bout after each reward.

    The rig reads a lick counter once per imaging frame (CLOOSE 743-760), so a lick is a frame with a lick.
    Rates are assumed: spontaneous ``rate_hz`` = 0.3 Hz; ``bout_rate_hz`` = 6.5 Hz for ``bout_s`` = 2 s
    from each reward (mice lick at 6-8 Hz during consummatory bouts). Licks carry no information the
    simulated learning uses.

    Parameters
    ----------
    trials
        Trials table with ``reward_time`` (s; NaN without reward).
    n_frames, frame_rate_hz
        Frames in the file and imaging rate (Hz).
    seed
        Random seed or generator.
    first_frame
        First frame of the closed loop (licks before it, in the passive baseline, are spontaneous).

    Returns
    -------
    numpy.ndarray
        Sorted lick times (s, frame times).
    """
    rng = np.random.default_rng(seed)
    dt = 1.0 / float(frame_rate_hz)
    rate = np.full(int(n_frames), float(rate_hz))
    rewards = np.asarray(trials["reward_time"], dtype=float) if "reward_time" in trials else np.empty(0)
    for t in rewards[np.isfinite(rewards)]:
        f0 = int(round(t * frame_rate_hz))
        rate[f0:f0 + int(round(bout_s * frame_rate_hz))] = bout_rate_hz
    lick = rng.random(int(n_frames)) < -np.expm1(-rate * dt)
    return np.flatnonzero(lick) * dt


def _z_only_calibration(pseudo: np.ndarray, reference_z: float, task: BCITask) -> Calibration:
    """The later-day rule used before: threshold = mean + day 1's z x sd of the day's half-normal fit."""
    own = calibrate_threshold(pseudo, task)
    threshold = own.baseline_mean + float(reference_z) * own.baseline_std
    success = float(np.mean(_movmean3(pseudo).max(axis=1) > threshold))
    return Calibration(threshold=float(threshold), cursor_min=own.cursor_min, baseline_mean=own.baseline_mean,
                       baseline_std=own.baseline_std, threshold_z=float(reference_z), pseudo_success=success,
                       own_threshold=own.threshold, own_z=own.threshold_z, source="reference")


def simulate_bci_experiment(rule: str = "vectorized", days: int = 14, session_minutes: float = 41.0,
                            n_p0: int = 300, n_bci: int = 10,
                            seed: int | np.random.Generator | None = None, *,
                            task: BCITask | None = None, params: BCILearnerParams | None = None,
                            baseline_frames: int | None = None, record: bool = True,
                            threshold_rule: str = "rig") -> Iterator[BCISession]:
    """Simulate a BCI experiment, yielding one :class:`BCISession` per day (memory bounded by one day).

    Parameters
    ----------
    rule
        Learning rule: ``'vectorized'``, ``'scalar'`` or ``'none'`` (see the module docstring).
    days, session_minutes, n_bci
        Number of days, closed-loop minutes per day and BCI neurons (override ``task``'s values).
    n_p0
        Non-BCI (``P0``) neurons in the field of view.
    seed
        Seed or Generator; the same seed gives the same experiment.
    task, params
        Task and learner settings (defaults: :class:`~neurorl.tasks.bci.BCITask`, :class:`BCILearnerParams`).
    baseline_frames
        Frames of the passive baseline recorded before each day's closed loop (overrides ``task``'s value;
        default 12,000, about 13 min at 15.46 Hz). It must exceed the F0 window plus one pseudo-trial.
    threshold_rule
        Later-day threshold: ``'rig'`` (the easier of the day's own 50 % threshold and day 1's z-score,
        CLOOSE 3216-3237) or ``'z_only'`` (day 1's z-score alone, the rule used before; for comparison).
    record
        If False, only the BCI neurons are simulated and ``soma_dff``, ``dendrite_dff``, ``teaching_signal``,
        ``spike_counts`` hold just those columns (``P0`` neurons are skipped; fast learning-curve sweeps).

    Yields
    ------
    BCISession
        Day 1, 2, ... in order.

    Examples
    --------
    >>> days = list(simulate_bci_experiment("none", days=1, session_minutes=2, n_p0=5, seed=0))
    >>> days[0].soma_dff.shape[1], sorted(set(days[0].ensemble.tolist()))
    (15, ['P+', 'P-', 'P0'])
    """
    rule = _check_rule(rule)
    if n_p0 < 0:
        raise InvalidArgumentError(f"n_p0 must be >= 0, got {n_p0}")
    task = replace(task or BCITask(), days=int(days), session_minutes=float(session_minutes), n_bci=int(n_bci))
    if baseline_frames is not None:
        task = replace(task, baseline_frames=int(baseline_frames))
    params = params or BCILearnerParams()
    seed_value = seed if isinstance(seed, (int, np.integer)) else None
    root = np.random.default_rng(seed)
    pop = _make_population(int(n_p0), task.n_bci, task, params, root)
    day_seeds = root.bit_generator.seed_seq.spawn(task.days) if hasattr(root.bit_generator, "seed_seq") \
        else [np.random.SeedSequence(root.integers(2**63)) for _ in range(task.days)]
    if threshold_rule not in THRESHOLD_RULES:
        raise InvalidArgumentError(f"threshold_rule must be one of {THRESHOLD_RULES}, got {threshold_rule!r}")
    state = {"drive": np.zeros(pop.ensemble.size), "rbar": np.array([task.target_success]), "calibration": None,
             "threshold_rule": threshold_rule}
    for day in range(1, task.days + 1):
        yield _simulate_day(day, rule, seed_value, pop, task, params, np.random.default_rng(day_seeds[day - 1]),
                            state, record)


def simulate_bci_day(day: int, rule: str, population: _Population, task: BCITask, params: BCILearnerParams,
                     rng: np.random.Generator, state: dict, record: bool = True,
                     seed: int | None = None) -> BCISession:
    """Simulate one day (advanced use; :func:`simulate_bci_experiment` drives it).

    ``state`` carries ``drive`` (learned drives), ``rbar`` (reward average) and ``calibration`` (day 1's) from
    day to day and is updated in place.
    """
    return _simulate_day(day, _check_rule(rule), seed, population, task, params, rng, state, record)


def _simulate_day(day: int, rule: str, seed: int | None, pop: _Population, task: BCITask,
                  params: BCILearnerParams, rng: np.random.Generator, state: dict, record: bool) -> BCISession:
    fr = task.frame_rate_hz
    nb = task.baseline_frames
    ns = task.session_frames
    nf = nb + ns
    n_all = pop.ensemble.size
    bci = pop.bci_idx
    nbci = bci.size
    lag = task.frames(params.error_lag_s)
    decay = math.exp(-1.0 / (params.calcium_tau_s * fr))
    decay_d = math.exp(-1.0 / (params.dendrite_tau_s * fr))
    trace_decay = math.exp(-1.0 / (params.eligibility_tau_s * fr))
    drive = state["drive"]
    drive_start = drive.copy()

    shared = _ar1(rng, nf, 1, params.shared_tau_s * fr)[:, 0]

    # ---- BCI neurons, frame by frame -----------------------------------------------------------------
    xp_b = _ar1(rng, nf, nbci, params.private_tau_s * fr)
    xp_b *= np.float32(params.private_sd)
    x_b = xp_b + shared[:, None] * pop.loading[bci].astype(np.float32)
    u_b = rng.random((nf, nbci), dtype=np.float32)
    # plateau uniforms from a child stream, so the passive baseline and the calibration draw what they drew before
    up_b = rng.spawn(1)[0].random((nf, nbci), dtype=np.float32)
    noise_b = rng.standard_normal((nf, nbci), dtype=np.float32) * np.float32(params.soma_noise_sd)
    log_base_b = pop.log_r0dt[bci] - pop.var[bci] / 2
    window = task.f0_window_frames
    wvals = np.zeros((nbci, window))
    wlo = np.zeros((nbci, window), dtype=np.int64)
    whi = np.zeros((nbci, window), dtype=np.int64)
    wwhere = np.zeros((nbci, window), dtype=np.int64)
    wstate = np.zeros((nbci, 4), dtype=np.int64)
    calcium = np.zeros(nbci)
    hist = np.zeros(task.cursor_smoothing_frames)
    hstate = np.zeros(1, dtype=np.int64)
    spikes_b = np.zeros((nf, nbci), dtype=np.uint8)
    dff_b = np.zeros((nf, nbci), dtype=np.float32)
    cursor = np.zeros(nf, dtype=np.float32)
    angle = np.full(nf, np.nan, dtype=np.float32)
    error = np.full(nf, np.nan, dtype=np.float32)
    teach_b = np.zeros((nf, nbci), dtype=np.float32)
    plateau_b = np.zeros((nf, nbci), dtype=np.uint8)
    window = np.zeros(ns, dtype=np.uint8)  # per closed-loop frame: plasticity / suppression windows (bci_loop)
    p_iso, p_spike, p_burst = (-math.expm1(-rate / fr) for rate in (
        params.plateau_rate_hz, params.plateau_rate_spike_hz, params.plateau_rate_burst_hz))
    shortest = task.grey_frames + 1 + task.freeze_frames + task.gap_frames  # a trial decided at once
    max_trials = ns // shortest + 2
    trials = np.full((max_trials, K.N_TRIAL_COLUMNS), -1, dtype=np.int64)
    outcomes = np.full((max_trials, 2), -1, dtype=np.int64)
    outcome_rpe = np.zeros(max_trials)
    drive_b = np.ascontiguousarray(drive[bci])
    weight_b = pop.weight[bci]
    sign_b = pop.sign[bci]
    code = _RULE_CODE[rule]
    steps = task.n_angle_bins - 2  # grating bins between the minimum and the threshold (5)

    def loop(sl, closed, threshold=0.0, cmin=0.0):
        return K.bci_loop(
            x_b[sl], xp_b[sl], u_b[sl], up_b[sl], noise_b[sl], log_base_b, params.spike_amplitude_dff, decay, weight_b, sign_b, drive_b,
            wvals, wlo, whi, wwhere, wstate, calcium, hist, hstate,
            closed, threshold, cmin, steps, task.angle_step_deg,
            task.grey_frames, task.trial_frames, task.freeze_frames, task.reward_frame, task.gap_frames,
            task.timeout_frames, task.timeout_noise_frame, bool(task.lower_bound), lag,
            code, params.vectorized_rate, params.vectorized_gain, params.scalar_rate, params.scalar_gain,
            trace_decay, state["rbar"], params.reward_average_rate, params.drive_bound, task.f0_percentile,
            p_iso, p_spike, p_burst, params.plateau_gain, params.ndnf_suppression,
            spikes_b[sl], dff_b[sl], cursor[sl], angle[sl], error[sl], teach_b[sl], plateau_b[sl],
            window[sl.start - nb:sl.stop - nb] if closed else window[:0],
            trials, outcomes, outcome_rpe)

    loop(slice(0, nb), False)
    # calibration as the rig (CLOOSE 3087-3237): pseudo-trials of the baseline's raw fluorescence
    baseline_f = np.maximum(1.0 + dff_b[:nb].astype(np.float64), 0.05)
    pseudo = pseudo_trial_cursors(baseline_f, weight_b, task, rng)
    if state["calibration"] is None:
        cal = calibrate_threshold(pseudo, task)
        state["calibration"] = cal
    elif state.get("threshold_rule", "rig") == "z_only":  # the rule used before (for comparison only)
        cal = _z_only_calibration(pseudo, state["calibration"].threshold_z, task)
    else:
        cal = recalibrate_threshold(pseudo, state["calibration"].threshold_z, task)
    n_trials, n_out = loop(slice(nb, nf), True, cal.threshold, cal.cursor_min)
    drive[bci] = drive_b

    # ---- P0 neurons (independent given the closed loop's outcomes), one frame-major kernel ------------
    out_frames = outcomes[:n_out, 0] + nb
    decision_frames = outcomes[:n_out, 1] + nb
    rpe = outcome_rpe[:n_out]
    sup = np.zeros(nf, dtype=np.float32)  # NDNF-like suppression per frame (outcome-locked window)
    sup[nb:][(window & 4) > 0] = params.ndnf_suppression
    if record:
        soma = np.empty((nf, n_all), dtype=np.float32)
        dend = np.empty((nf, n_all), dtype=np.float32)
        spikes = np.empty((nf, n_all), dtype=np.uint8)
        plateau = np.zeros((nf, n_all), dtype=np.uint8)
        teach = np.zeros((nf, n_all), dtype=np.float32)
        soma[:, bci] = dff_b
        spikes[:, bci] = spikes_b
        teach[:, bci] = teach_b
        plateau[:, bci] = plateau_b
        bcast = np.zeros(nf, dtype=np.float32)
        if rule == "scalar":
            # the broadcast RPE reaches every dendrite for `lag` frames from the outcome
            for f, d in zip(out_frames, rpe, strict=True):
                bcast[f:f + lag] = params.scalar_gain * d
            teach[nb:, pop.p0_idx] = np.where((window & 2) > 0, bcast[nb:], np.float32(0))[:, None]
        idx = pop.p0_idx
        n0 = idx.size
        p0_drive = np.ascontiguousarray(drive[idx])
        state_arrays = [np.zeros(n0) for _ in range(5)]
        ptr = np.zeros(1, dtype=np.int64)
        log_base_0 = pop.log_r0dt[idx] - pop.var[idx] / 2
        rho_p = math.exp(-1.0 / (params.private_tau_s * fr))
        block = 2048
        for t0 in range(0, nf if n0 else 0, block):
            size = min(block, nf - t0)
            z = rng.standard_normal((4, size, n0), dtype=np.float32)
            u = rng.random((3, size, n0), dtype=np.float32)
            K.population_block(
                t0, nb, z[0], u[0], z[1], z[2], z[3], u[1], u[2], log_base_0, pop.loading[idx], shared,
                params.private_sd, rho_p, p0_drive, code, window, out_frames, decision_frames,
                params.vectorized_rate, params.scalar_rate, params.drive_bound, trace_decay,
                params.spike_amplitude_dff, decay, params.soma_noise_sd, bcast, params.ndnf_suppression,
                p_iso, p_spike, p_burst, params.plateau_gain, pop.coupling[idx], params.dendrite_offset,
                params.bap_failure_prob, pop.plateau_amp[idx], params.dendrite_event_sd, decay_d,
                params.dendrite_noise_sd, idx.astype(np.int64), *state_arrays, ptr, soma, dend, spikes, plateau)
        drive[idx] = p0_drive
        cols = np.arange(n_all)
    else:
        soma, spikes, teach, plateau = dff_b, spikes_b, teach_b, plateau_b
        dend = np.empty(soma.shape, dtype=np.float32)
        cols = bci

    # ---- dendrites of the BCI neurons: back-propagated events and the plateaus drawn in the loop ----------
    sp = np.ascontiguousarray(spikes_b)
    fail_u = rng.random(sp.shape, dtype=np.float32)
    event_noise = rng.standard_normal(sp.shape, dtype=np.float32)
    noise = rng.standard_normal(sp.shape, dtype=np.float32) * np.float32(params.dendrite_noise_sd)
    out = np.empty(sp.shape, dtype=np.float32)
    K.dendrite_chunk(sp, plateau_b, fail_u, params.bap_failure_prob, sup, event_noise, noise,
                     params.spike_amplitude_dff, pop.coupling[bci], pop.plateau_amp[bci], params.dendrite_event_sd,
                     params.dendrite_offset, decay_d, out)
    if record:
        dend[:, bci] = out
    else:
        dend = out

    # ---- trials table -----------------------------------------------------------------------------------
    tr = trials[:n_trials]
    hit = tr[:, K.T_HIT] >= 0
    rewarded = tr[:, K.T_REWARD] >= 0
    off = nb

    def seconds(col):
        return np.where(tr[:, col] >= 0, (tr[:, col] + off) / fr, np.nan)

    rpe_by_frame = dict(zip(outcomes[:n_out, 0].tolist(), rpe.tolist(), strict=True))
    table = pd.DataFrame({
        "start_time": (tr[:, K.T_START] + off) / fr,
        "stop_time": (tr[:, K.T_STOP] + off) / fr,
        "response_start_time": (tr[:, K.T_RESPONSE] + off) / fr,
        "target_hit": hit,
        "rewarded": rewarded,
        "time_to_target": np.where(hit, (tr[:, K.T_HIT] - tr[:, K.T_RESPONSE]) / fr, np.nan),
        "threshold": np.full(n_trials, cal.threshold),
        "reward_time": seconds(K.T_REWARD),
        "reward_volume": np.where(rewarded, task.reward_volume_ul, 0.0),
        "lower_bound_failure": tr[:, K.T_LOWER] >= 0,
        "timed_out": tr[:, K.T_TIMEOUT] == 1,
        "white_noise_time": seconds(K.T_NOISE),
        "decision_time": seconds(K.T_DECISION),
        "rpe": [rpe_by_frame.get(int(f), np.nan) for f in tr[:, K.T_OUTCOME]],
    })
    licks = simulate_licks(table, nf, fr, rng, first_frame=nb)
    ensemble = pop.ensemble[cols]
    return BCISession(
        source="simulation", day=day, rule=rule, seed=seed, frame_rate_hz=fr, baseline_frames=nb,
        soma_dff=soma, dendrite_dff=dend, ensemble=ensemble, bci_weight=pop.weight[cols],
        cursor=cursor, grating_angle=angle, trials=table, threshold=cal.threshold, cursor_min=cal.cursor_min,
        threshold_z=cal.threshold_z, teaching_signal=teach, error=error, spike_counts=spikes,
        ground_truth={"plateau": plateau, "dendrite_distance_um": pop.distance[cols],
                      "bap_coupling": pop.coupling[cols]},
        drive_start=drive_start[cols], drive_end=drive[cols].copy(),
        params={"rule": rule, "seed": seed, "task": task.as_dict(), "learner": params.as_dict(),
                "pseudo_success": cal.pseudo_success, "baseline_cursor_mean": cal.baseline_mean,
                "baseline_cursor_std": cal.baseline_std, "threshold_source": cal.source,
                "own_threshold": cal.own_threshold, "own_threshold_z": cal.own_z,
                "threshold_rule": state.get("threshold_rule", "rig")},
        lick_times=licks)


def learned_cursor_shift(session: BCISession) -> float:
    """Ground truth: how far the learned drives move the cursor's mean, in baseline standard deviations.

    With drives :math:`d_i` at the end of the day, neuron i's mean ΔF/F scales by :math:`e^{d_i}` (ΔF/F is
    proportional to the rate), so the cursor mean moves by :math:`\\sum_i w_i m_i (e^{d_i} - 1)` with
    :math:`m_i` the neuron's mean baseline ΔF/F; divided by the day's baseline cursor sd. Unlike the hit rate
    it carries no calibration or trial-sampling noise, which makes it the better read-out of learning speed.
    """
    w = np.asarray(session.bci_weight, dtype=float)
    sel = w != 0
    base = np.asarray(session.soma_dff[:session.baseline_frames], dtype=np.float64)
    cols = np.flatnonzero(sel) if base.shape[1] == w.size else np.arange(base.shape[1])
    m = base[:, cols].mean(axis=0)
    shift = float(np.sum(w[sel] * m * np.expm1(np.asarray(session.drive_end, dtype=float)[sel])))
    sd = float(session.params.get("baseline_cursor_std", float("nan")))
    return shift / sd if sd > 0 else float("nan")


def summarize_session(session: BCISession) -> dict:
    """One row of the per-day summary table.

    Returns
    -------
    dict
        ``day``, ``rule``, ``accuracy`` (fraction of trials hit), ``rewards_per_min``, ``n_trials``,
        ``median_time_to_target`` (s), ``threshold``, ``threshold_z``, ``pseudo_success``, the mean learned
        drive of P+, P- and P0 neurons at the end of the day and ``learned_shift_sd`` (ground truth; see
        :func:`learned_cursor_shift`).
    """
    trials = session.trials
    drive = session.drive_end
    ens = session.ensemble

    def mean_of(label):
        sel = ens == label
        return float(drive[sel].mean()) if sel.any() else float("nan")

    return {
        "day": session.day,
        "rule": session.rule,
        "learned_shift_sd": learned_cursor_shift(session),
        "accuracy": session.accuracy,
        "rewards_per_min": session.rewards_per_min,
        "n_trials": int(len(trials)),
        "median_time_to_target": float(trials["time_to_target"].median()) if trials["target_hit"].any()
        else float("nan"),
        "threshold": session.threshold,
        "threshold_z": session.threshold_z,
        "pseudo_success": float(session.params.get("pseudo_success", float("nan"))),
        "drive_p_plus": mean_of("P+"),
        "drive_p_minus": mean_of("P-"),
        "drive_p0": mean_of("P0"),
    }


def _trials_to_criterion(hits: np.ndarray, criterion: float, window: int) -> float:
    if hits.size < window:
        return float("nan")
    running = np.convolve(hits.astype(float), np.ones(window) / window, mode="valid")
    reached = np.flatnonzero(running >= criterion)
    return float(reached[0] + window) if reached.size else float("nan")


def learning_time_vs_n_bci(n_bci_values: Sequence[int] = (2, 4, 8, 16),
                           rules: Sequence[str] = ("vectorized", "scalar"),
                           seeds: Sequence[int] = tuple(range(10)), days: int = 4, session_minutes: float = 41.0,
                           shift_target_sd: float = 0.7, criterion: float = 0.7, window: int = 200,
                           task: BCITask | None = None, params: BCILearnerParams | None = None):
    """Learning time as a function of the number of BCI neurons, for each rule.

    Each (rule, n_bci, seed) runs :func:`simulate_bci_experiment` with only the BCI neurons (``record=False``).
    Read-outs (days):

    * ``learning_time_days`` -- ``shift_target_sd`` divided by the learning rate, the least-squares slope
      (through the origin) of the learned cursor shift (:func:`learned_cursor_shift`, ground truth, in baseline
      sd) against day. It is defined even when the target is not reached within ``days`` (then it
      extrapolates; ``reached_days`` is NaN), which keeps slow learners comparable.
    * ``reached_days`` -- the (interpolated) day at which the learned shift first reaches ``shift_target_sd``.
    * ``behaviour_time_days`` -- the day at which the running hit rate over ``window`` trials first reaches
      ``criterion`` (noisier: the daily threshold calibration adds day-to-day variance; the hit rate saturates).

    Returns
    -------
    xarray.Dataset
        ``learning_time_days``, ``learning_rate_sd_per_day``, ``reached_days``, ``behaviour_time_days``,
        ``final_accuracy``, ``final_shift_sd`` over dims ``rule``, ``n_bci``, ``seed``; when both rules ran,
        ``slowdown_per_seed`` (scalar / vectorized learning time of the same seed, i.e. the same neurons) and
        its median ``slowdown`` and quartiles ``slowdown_q25`` / ``slowdown_q75`` over ``n_bci``; settings in
        ``attrs``.

    Notes
    -----
    The learning time is read from the first days, where learning is linear in time (4 days with the defaults
    of the reproduction; over 14 days the vectorized rule approaches the drive bound at large n and the
    through-origin slope underestimates its initial rate). Measured with the plateau-gated rules (module
    docstring), 4 days x 41 min and seeds 0-11: median rates (baseline sd per day) vectorized 0.038, 0.046,
    0.069, 0.095 and scalar 0.055, 0.044, 0.042, 0.037 for n = 2, 4, 8, 16; median paired slowdowns 0.68, 1.04,
    1.56, 3.01 (log-log slope 0.70; the theory above gives 0.5); seeds 0-9: 0.68, 1.05, 1.56, 2.81, scalar
    rates' max / min 1.36. (The former linear rule, seeds 0-19: vectorized 0.059, 0.084, 0.118, 0.205, scalar
    0.054-0.058, slowdowns 0.92, 1.56, 2.24, 3.32.)
    """
    import xarray as xr

    rules = [_check_rule(r) for r in rules]
    n_values = [int(n) for n in n_bci_values]
    shape = (len(rules), len(n_values), len(seeds))
    t_shift = np.full(shape, np.nan)
    rate = np.full(shape, np.nan)
    t_behav = np.full(shape, np.nan)
    final_acc = np.full(shape, np.nan)
    final_shift = np.full(shape, np.nan)
    for a, rule in enumerate(rules):
        for b, n in enumerate(n_values):
            for c, s in enumerate(seeds):
                hits, day_of_trial, shifts = [], [], [0.0]
                acc = float("nan")
                for sess in simulate_bci_experiment(rule, days=days, session_minutes=session_minutes, n_p0=0,
                                                    n_bci=n, seed=int(s), task=task, params=params, record=False):
                    h = sess.trials["target_hit"].to_numpy()
                    hits.append(h)
                    day_of_trial.append(sess.day - 1 + (np.arange(h.size) + 1) / max(h.size, 1))
                    shifts.append(learned_cursor_shift(sess))
                    acc = sess.accuracy
                shifts_arr = np.asarray(shifts)
                day_axis = np.arange(shifts_arr.size, dtype=float)
                rate[a, b, c] = float(day_axis @ shifts_arr / (day_axis @ day_axis))
                above = np.flatnonzero(shifts_arr >= shift_target_sd)
                if above.size:
                    k = above[0]
                    lo, hi = shifts_arr[k - 1], shifts_arr[k]
                    t_shift[a, b, c] = (k - 1) + (shift_target_sd - lo) / (hi - lo) if hi > lo else float(k)
                t_needed = _trials_to_criterion(np.concatenate(hits), criterion, window)
                if np.isfinite(t_needed):
                    t_behav[a, b, c] = np.concatenate(day_of_trial)[int(t_needed) - 1]
                final_acc[a, b, c] = acc
                final_shift[a, b, c] = shifts_arr[-1]
    dims = ("rule", "n_bci", "seed")
    ds = xr.Dataset(
        {"learning_time_days": (dims, shift_target_sd / np.where(rate > 0, rate, np.nan), {"units": "day"}),
         "learning_rate_sd_per_day": (dims, rate, {"units": "baseline SD/day"}),
         "reached_days": (dims, t_shift, {"units": "day"}),
         "behaviour_time_days": (dims, t_behav, {"units": "day"}),
         "final_accuracy": (dims, final_acc, {"long_name": "fraction of trials hit on the last day", "units": "1"}),
         "final_shift_sd": (dims, final_shift, {"units": "baseline SD"})},
        coords={"rule": list(rules), "n_bci": n_values, "seed": [int(s) for s in seeds]},
        attrs={"shift_target_sd": shift_target_sd, "criterion": criterion, "window_trials": window,
               "days": days, "session_minutes": session_minutes,
               "description": "learning_time_days = shift_target_sd / learning rate of the learned cursor "
                              "shift (baseline sd per day); reached_days / behaviour_time_days: first day "
                              "the shift / the running hit rate reaches its target (NaN: not within days)"})
    if "vectorized" in rules and "scalar" in rules:
        # paired by seed: the same seed draws the same neurons for both rules, so the per-seed ratio removes
        # the population's own spread (rates, loadings), the largest source of run-to-run variance.
        # A rate <= 0 (no learning) is an infinitely long learning time.
        times = ds["learning_time_days"].fillna(np.inf)
        with np.errstate(invalid="ignore"):
            per_seed = times.sel(rule="scalar") / times.sel(rule="vectorized")
        ds["slowdown_per_seed"] = per_seed
        ds["slowdown_per_seed"].attrs = {"description": "scalar / vectorized learning_time_days of the same seed",
                                         "units": "1"}
        ds["slowdown"] = per_seed.median("seed")
        ds["slowdown"].attrs = {"description": "median over seeds of the per-seed scalar / vectorized "
                                               "learning_time_days", "units": "1"}
        with np.errstate(invalid="ignore"):  # inf / inf (neither rule learned) is NaN
            ds["slowdown_q25"] = per_seed.quantile(0.25, "seed", skipna=False).drop_vars("quantile")
            ds["slowdown_q75"] = per_seed.quantile(0.75, "seed", skipna=False).drop_vars("quantile")
        for name in ("slowdown_q25", "slowdown_q75"):
            ds[name].attrs["units"] = "1"
    return ds
