"""Analyses of brain-computer-interface (BCI) sessions (after Francioni et al. 2026, Nature).

The functions take arrays (or a :class:`neurorl.recordings.BCIRecording`, whatever made it: the simulator,
an NWB file or a lab's suite2p folder) and return labelled :class:`xarray.Dataset` objects whose ``attrs``
hold the settings used. The package is split by concept:

:mod:`~neurorl.analysis.events` (generic ΔF/F event detection, re-exported here),
:mod:`.dendrites` (pairing, soma-locked/coincident events, residual fits), :mod:`.epochs` (error epochs and
trial intervals), :mod:`.decoding` (reward decoding), :mod:`.behaviour` (learning curves, time to a
criterion), :mod:`.session` (:class:`BCIAnalysisSettings`, :func:`analyze_session`) and :mod:`.pooling`
(:func:`combine_sessions`, event-rate change over days).

Pipeline of the paper's dendritic analysis
    1. :func:`pair_soma_dendrite` — keep soma–dendrite pairs whose ΔF/F traces correlate (Pearson r >= 0.6).
    2. :func:`detect_events` — calcium events: runs above ``median + threshold_sd * robust SD``; the event
       magnitude is the peak ΔF/F above the median.
    3. :func:`soma_locked_events` (default) — every somatic event of a paired neuron, with the somatic and the
       dendritic magnitude measured over the same frames (peak minus the pre-event level); or
       :func:`coincident_events` (the paper's wording) — a somatic event and a separately detected dendritic
       event whose onsets lie within 500 ms of each other. See :func:`soma_locked_events` for why the
       second biases the residuals.
    4. :func:`fit_dendrite_residuals` — per neuron, the least-squares line
       ``dendrite_magnitude = intercept + slope * soma_magnitude``; the residual is what the soma does not
       explain (the putative instructive signal).
    5. :func:`error_epochs` — the closed loop cut into 2 s epochs, labelled ``error_fell`` if the error
       (threshold - cursor) was lower at the end of the epoch than at its start, else ``error_rose``.
    6. :func:`residuals_by_epoch` — mean residual of P+ and P- events in each epoch type. The vectorized
       signature is ``P+ > P-`` when the error fell and ``P+ < P-`` when it rose, i.e. a positive
       ``signature = (P+ - P-)_fell - (P+ - P-)_rose``.
    7. :func:`trial_window_residuals` + :func:`decode_reward` — decode rewarded vs unrewarded trials from the
       population vector of dendritic residuals around each trial's outcome (the dendrite's mean ΔF/F in a
       window minus its per-neuron linear prediction from the soma's, fitted over the day's trials) with a
       scikit-learn linear classifier (``RidgeClassifier``, exact leave-one-out), against a label-shuffle
       control. :func:`trial_residual_vectors` (the mean event residual in the window) is the older,
       event-based alternative; see :func:`trial_window_residuals` for why it is not the default. Decoding
       shows reward information in the residuals, not which instructive signal: scalar feedback decodes
       reward too (:data:`DECODING_SCOPE`); step 6 is the test that separates the rules.
Behaviour and activity over days
    :func:`learning_curves` (accuracy = fraction of trials hit, rewards per minute), :func:`learning_time`
    (first day at a hit-rate criterion), :func:`trials_to_criterion` / :func:`days_to_criterion` (learning time
    from the trials alone, criterion stated), :func:`event_rates` and :func:`event_rate_change` (P+, P-, P0
    relative to day 1).
:func:`analyze_session` runs steps 1-7 on one session with a :class:`BCIAnalysisSettings`;
:func:`combine_sessions` pools sessions.
"""

from __future__ import annotations

from ..events import detect_events, event_rates
from .behaviour import days_to_criterion, learning_curves, learning_time, trials_to_criterion
from .decoding import (
    DECODING_SCOPE,
    _balanced_accuracy,
    _balanced_weights,
    _loo_ridge_predictions,
    decode_reward,
    pool_decoding,
    trial_residual_vectors,
    trial_window_residuals,
)
from .dendrites import coincident_events, fit_dendrite_residuals, pair_soma_dendrite, soma_locked_events
from .epochs import EPOCH_TYPES, assign_epochs, error_epochs, residuals_by_epoch, trial_outcome_times
from .pooling import combine_sessions, event_rate_change
from .session import BCIAnalysisSettings, analyze_session

# detect_events and event_rates live in neurorl.analysis.events (listed there); importable from here too.
__all__ = [
    "pair_soma_dendrite",
    "coincident_events",
    "soma_locked_events",
    "fit_dendrite_residuals",
    "error_epochs",
    "assign_epochs",
    "residuals_by_epoch",
    "trial_outcome_times",
    "trial_residual_vectors",
    "trial_window_residuals",
    "decode_reward",
    "pool_decoding",
    "DECODING_SCOPE",
    "learning_curves",
    "learning_time",
    "trials_to_criterion",
    "days_to_criterion",
    "event_rate_change",
    "BCIAnalysisSettings",
    "analyze_session",
    "combine_sessions",
    "EPOCH_TYPES",
]

_reexported = (detect_events, event_rates, _balanced_accuracy, _balanced_weights, _loo_ridge_predictions)
