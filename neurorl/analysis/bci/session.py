"""One session's dendritic analysis (steps 1-7) and the settings it runs with.

:class:`BCIAnalysisSettings` holds every option of :func:`analyze_session` (formerly twelve keyword arguments,
several of them strings switching between methods); :func:`analyze_session` takes a recording
(:class:`neurorl.recordings.BCIRecording`, whatever made it: the simulator, an NWB file or a suite2p folder) and
a settings object. The old keyword API still works: ``analyze_session(rec, min_r=0.5)`` is
``analyze_session(rec, BCIAnalysisSettings(min_r=0.5))``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import xarray as xr

from ...errors import InvalidArgumentError
from ..events import detect_events, event_rates
from .decoding import trial_residual_vectors, trial_window_residuals
from .dendrites import coincident_events, fit_dendrite_residuals, pair_soma_dendrite, soma_locked_events
from .epochs import error_epochs, residuals_by_epoch, trial_outcome_times, trial_response_start_times

__all__ = ["BCIAnalysisSettings", "analyze_session"]

_CHOICES = {"event_method": ("threshold", "rise"), "decode_neurons": ("bci", "paired", "all"),
            "decode_features": ("window", "events"), "event_pairing": ("soma_locked", "coincident")}


@dataclass(frozen=True)
class BCIAnalysisSettings:
    """Settings of :func:`analyze_session` (the defaults are those of the keyword API it replaces).

    Attributes
    ----------
    min_r
        Soma–dendrite pairing threshold, Pearson r (paper: 0.6). See :func:`pair_soma_dendrite`.
    window_s
        Coincidence window (s) of ``event_pairing="coincident"`` (paper: 500 ms). See :func:`coincident_events`.
    epoch_s
        Length of the error epochs (s; paper: 2 s). See :func:`error_epochs`.
    threshold_sd
        Event threshold in robust SDs (assumed: 3, a common choice). See :func:`detect_events`.
    decode_window_s
        Window (s) around each trial's outcome for the decoding features (assumed: -1 .. 2.5 s, covering the
        outcome and the reward's consumption). See :func:`trial_window_residuals`.
    grey_frames, trial_frames
        The rig's trial timing in frames (grey screen; trial length from its first grey frame to the end of
        the response window), used only for trials whose table lacks ``decision_time`` /
        ``response_start_time``. See :func:`trial_outcome_times`.
    within_trials
        Build the 2 s epochs only inside each trial's response period (grey end to outcome), where the error
        is defined; otherwise tile the whole closed loop.
    event_method
        ``"threshold"`` or ``"rise"``, see :func:`detect_events`.
    decode_neurons
        Neurons forming the residual population vector for reward decoding: ``"bci"`` (P+ and P-, default),
        ``"paired"`` (every soma with a paired dendrite) or ``"all"``. With hundreds of P0 neurons and ~150
        trials a day, the uninformative P0 features drown a signal confined to the BCI neurons (measured at
        paper scale with event-based features: vectorized 0.46 with ``"paired"``), so the default uses the BCI
        neurons.
    decode_features
        ``"window"`` (default): :func:`trial_window_residuals` of the paired dendrites (the dendrite's mean ΔF/F
        in ``decode_window_s`` around the outcome minus its linear prediction from the soma's);
        ``"events"``: :func:`trial_residual_vectors`, the mean residual of the coincident events in the window
        (0 without events; its event counts carry reward information even without an instructive signal,
        see :func:`trial_window_residuals`).
    event_pairing
        ``"soma_locked"`` (default): :func:`soma_locked_events`, the dendrite measured at every somatic event;
        ``"coincident"``: :func:`coincident_events` of separately detected events within ``window_s`` (biased
        by event selection, see :func:`soma_locked_events`).
    """

    min_r: float = 0.6  # paper: pairs with Pearson r >= 0.6
    window_s: float = 0.5  # paper: coincident events within 500 ms
    epoch_s: float = 2.0  # paper: 2 s epochs
    threshold_sd: float = 3.0  # assumed
    decode_window_s: tuple[float, float] = (-1.0, 2.5)  # assumed (see trial_window_residuals)
    grey_frames: int = 15  # harnett/CLOOSE Run_GUI.m @5579dee line 562 (new_trial_fr <= 15); BCITask
    trial_frames: int = 750  # CLOOSE lines 3100, 3104 (750-frame trials, the rig's FramesZ); BCITask
    within_trials: bool = True
    event_method: Literal["threshold", "rise"] = "threshold"
    decode_neurons: Literal["bci", "paired", "all"] = "bci"
    decode_features: Literal["window", "events"] = "window"
    event_pairing: Literal["soma_locked", "coincident"] = "soma_locked"

    def __post_init__(self) -> None:
        for name, allowed in _CHOICES.items():
            if getattr(self, name) not in allowed:
                raise InvalidArgumentError(f"{name} must be one of {', '.join(map(repr, allowed))}, "
                                           f"not {getattr(self, name)!r}")
        for name in ("window_s", "epoch_s", "threshold_sd"):
            if not getattr(self, name) > 0:
                raise InvalidArgumentError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0 <= int(self.grey_frames) < int(self.trial_frames):
            raise InvalidArgumentError(f"need 0 <= grey_frames < trial_frames, got {self.grey_frames}, "
                                       f"{self.trial_frames}")
        if not -1.0 <= self.min_r <= 1.0:
            raise InvalidArgumentError(f"min_r must be in [-1, 1], got {self.min_r}")
        window = tuple(float(v) for v in self.decode_window_s)
        if len(window) != 2 or not window[0] < window[1]:
            raise InvalidArgumentError(f"decode_window_s must be (start, stop) with start < stop, got "
                                       f"{self.decode_window_s}")
        object.__setattr__(self, "decode_window_s", window)

    def replace(self, **changes: Any) -> BCIAnalysisSettings:
        """Return a copy with ``changes`` applied (unknown names: :class:`~neurorl.errors.InvalidArgumentError`)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise InvalidArgumentError(f"unknown BCI analysis setting(s) {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        """Return the settings as a plain dict (for ``attrs`` and reports)."""
        return dataclasses.asdict(self)


def analyze_session(session: Any, settings: BCIAnalysisSettings | None = None, **overrides: Any
                    ) -> dict[str, xr.Dataset]:
    """Run the dendritic analysis on one session (closed-loop frames only).

    Parameters
    ----------
    session
        A :class:`neurorl.recordings.BCIRecording` (simulated, read from NWB or from a suite2p folder), or any
        object with ``soma_dff``, ``dendrite_dff``, ``parent_soma`` (optional), ``ensemble``, ``cursor``,
        ``frame_rate_hz``, ``baseline_frames`` and ``trials``.
    settings
        :class:`BCIAnalysisSettings` (default: its defaults).
    **overrides
        Settings given by name (the former keyword API), applied on top of ``settings``.

    Returns
    -------
    dict of xarray.Dataset
        ``pairing``, ``residuals`` (coincident events with fits), ``epochs``, ``by_epoch``, ``vectors``
        (``(trial, cell)`` residual vectors of the BCI cells with ``rewarded``) and ``rates`` (closed-loop
        soma events per minute per ``cell``, with the coordinate ``ensemble``). Cells are soma ROI indices; every
        data variable carries ``attrs["units"]``.
    """
    s = settings if settings is not None else BCIAnalysisSettings()
    if not isinstance(s, BCIAnalysisSettings):
        raise InvalidArgumentError(f"settings must be a BCIAnalysisSettings, not {type(s).__name__}")
    if overrides:
        s = s.replace(**overrides)
    rate = float(session.frame_rate_hz)
    start = int(session.baseline_frames)
    soma = np.asarray(session.soma_dff)
    dend = np.asarray(session.dendrite_dff)
    parent = getattr(session, "parent_soma", None)
    parent = np.arange(dend.shape[1]) if parent is None else np.asarray(parent, dtype=np.int64)
    ensemble = np.asarray(session.ensemble).astype(str)
    closed = slice(start, None)
    pairing = pair_soma_dendrite(soma[closed], dend[closed], parent, min_r=s.min_r)
    # thresholds from the passive baseline (unaffected by learning) when there is one of >= 30 s
    reference = slice(0, start) if start >= 30 * rate else None
    soma_events = detect_events(soma, rate, method=s.event_method, threshold_sd=s.threshold_sd, start_frame=start,
                                reference_frames=reference)
    paired = np.flatnonzero(pairing["paired"].values)
    if s.event_pairing == "soma_locked":
        coincident = soma_locked_events(soma, dend, soma_events, parent, dendrites=paired, frame_rate_hz=rate)
    else:
        dend_events = detect_events(dend, rate, method=s.event_method, threshold_sd=s.threshold_sd,
                                    start_frame=start, reference_frames=reference)
        coincident = coincident_events(soma_events, dend_events, parent, window_s=s.window_s, dendrites=paired)
    residuals = fit_dendrite_residuals(coincident)
    trials = session.trials
    outcome = trial_outcome_times(trials, frame_rate_hz=rate, grey_frames=s.grey_frames,
                                  trial_frames=s.trial_frames)
    response = trial_response_start_times(trials, frame_rate_hz=rate, grey_frames=s.grey_frames)
    intervals = np.column_stack([response, outcome]) if s.within_trials else None
    epochs = error_epochs(session.cursor, rate, epoch_s=s.epoch_s, start_frame=start, intervals_s=intervals)
    by_epoch = residuals_by_epoch(residuals, epochs, ensemble)
    if s.decode_neurons == "bci":
        use = np.flatnonzero(ensemble != "P0")
    elif s.decode_neurons == "paired":
        use = np.unique(parent[paired])
    else:
        use = np.arange(soma.shape[1])
    if s.decode_features == "window":
        paired_parent = parent[paired]
        dendrite_of = np.array([paired[paired_parent == i][0] if np.any(paired_parent == i) else -1 for i in use],
                               dtype=np.int64)
        vectors = trial_window_residuals(soma, dend, outcome, rate, use, dendrite_of, window_s=s.decode_window_s)
    else:
        vectors = trial_residual_vectors(residuals, outcome, use, window_s=s.decode_window_s)
    vectors_ds = xr.Dataset({"residual": vectors,
                             "rewarded": ("trial", trials["rewarded"].to_numpy(dtype=bool),
                                          {"units": "1", "description": "trial rewarded"})},
                            coords={"ensemble": ("cell", ensemble[use])})
    minutes = (soma.shape[0] - start) / rate / 60.0
    rates = xr.Dataset({"event_rate": ("cell", event_rates(soma_events, soma.shape[1], minutes),
                                       {"units": "events/min", "description": "somatic events per minute of the "
                                                                              "closed loop"})},
                       coords={"cell": np.arange(soma.shape[1]), "ensemble": ("cell", ensemble)})
    return {"pairing": pairing, "residuals": residuals, "epochs": epochs, "by_epoch": by_epoch,
            "vectors": vectors_ds, "rates": rates}
