"""Recording types shared by every layer (like :mod:`neurorl.errors`, this module imports nothing of neurorl).

:class:`BCIRecording` is one day of the BCI task of Francioni et al. (2026), whatever made it: the simulator
(:func:`neurorl.models.bci_learning.simulate_bci_experiment`), an NWB file
(:func:`neurorl.io.bci_nwb.read_bci_session`) or a lab's suite2p folder
(:func:`neurorl.io.bci_suite2p.read_suite2p_session`). The analyses (:mod:`neurorl.analysis.bci`) take it and
never ask where it came from. It replaces the simulator's former ``BCISession`` and the reader's former
``BCIRecording`` (``neurorl.models.BCISession`` remains as another name for it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BCIRecording", "GROUND_TRUTH_FIELDS"]

#: Attributes that only a simulation knows (not measurable); ``None`` in a real recording.
GROUND_TRUTH_FIELDS: tuple[str, ...] = ("rule", "seed", "threshold_z", "teaching_signal", "error", "spike_counts",
                                        "drive_start", "drive_end")


@dataclass(kw_only=True)
class BCIRecording:
    """One BCI session (day): passive baseline followed by the closed loop, simulated or recorded.

    Times are on the file clock, ``t = frame / frame_rate_hz`` from the first frame; the closed loop starts at
    ``baseline_frames / frame_rate_hz``. All fields are given by keyword.

    Attributes
    ----------
    frame_rate_hz
        Imaging rate per plane (Hz).
    soma_dff, dendrite_dff
        ΔF/F (dimensionless), ``(frames, somata)`` and ``(frames, dendrites)``. Column ``j`` of ``dendrite_dff``
        belongs to soma ``parent_soma[j]``.
    ensemble
        ``(somata,)`` ASCII labels ``'P+'``, ``'P-'``, ``'P0'``.
    cursor
        ``(frames,)`` cursor (online ΔF/F units), defined in the baseline too.
    baseline_frames
        The first ``baseline_frames`` frames are the passive baseline.
    trials
        One row per completed trial: ``start_time``, ``stop_time`` (s), ``target_hit``, ``rewarded``,
        ``time_to_target`` (s; NaN on misses), optionally ``response_start_time`` (grating onset, s),
        ``threshold``, ``reward_time`` (s; NaN on misses), ``reward_volume`` (µl), ...
    day
        Training day (1 = first), or ``None`` if unknown.
    bci_weight
        ``(somata,)`` cursor weights (+1/n+ for P+, -1/n- for P-, 0 for P0); default computed from ``ensemble``.
    grating_angle
        ``(frames,)`` grating orientation (degrees; NaN when no grating is shown); default all NaN.
    parent_soma
        Soma index of each dendrite (default: dendrite ``j`` belongs to soma ``j``).
    threshold, cursor_min
        This day's threshold and 0° cursor value (cursor units), if known.
    session, path, source
        Session name, the file or folder read (if any) and what made the recording (``"simulation"``,
        ``"nwb"``, ``"suite2p"``).
    rule, seed, threshold_z, teaching_signal, error, spike_counts, drive_start, drive_end, params
        Simulation ground truth (:data:`GROUND_TRUTH_FIELDS`; ``None`` in a real recording): the learning rule,
        seed, day 1's threshold z-score, ``(frames, neurons)`` instructive signal, ``(frames,)`` normalised
        error, ``(frames, neurons)`` spike counts, learned drives at the start/end of the day, settings.
    ground_truth
        Ground truth as read from a file (name -> value; ``None`` for real recordings). Names listed in
        :data:`GROUND_TRUTH_FIELDS` also fill the attributes of the same name.
    lick_times
        Times (s, file clock) of the frames with a lick, if known (the simulator's
        :func:`neurorl.models.bci_learning.simulate_licks`; a file's ``licks`` events).
    """

    frame_rate_hz: float
    soma_dff: np.ndarray
    dendrite_dff: np.ndarray
    ensemble: np.ndarray
    cursor: np.ndarray
    baseline_frames: int
    trials: pd.DataFrame
    day: int | None = None
    bci_weight: np.ndarray | None = None
    grating_angle: np.ndarray | None = None
    parent_soma: np.ndarray | None = None
    threshold: float | None = None
    cursor_min: float | None = None
    session: str = ""
    path: Path | None = None
    source: str = ""
    rule: str | None = None
    seed: int | None = None
    threshold_z: float | None = None
    teaching_signal: np.ndarray | None = None
    error: np.ndarray | None = None
    spike_counts: np.ndarray | None = None
    drive_start: np.ndarray | None = None
    drive_end: np.ndarray | None = None
    params: dict = field(default_factory=dict)
    ground_truth: dict[str, Any] | None = None
    lick_times: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.parent_soma is None:
            self.parent_soma = np.arange(np.shape(self.dendrite_dff)[1])
        if self.bci_weight is None:
            labels = np.asarray(self.ensemble).astype(str)
            n_plus, n_minus = max(int((labels == "P+").sum()), 1), max(int((labels == "P-").sum()), 1)
            self.bci_weight = np.where(labels == "P+", 1.0 / n_plus, np.where(labels == "P-", -1.0 / n_minus, 0.0))
        if self.grating_angle is None:
            self.grating_angle = np.full(np.shape(self.cursor)[0], np.nan, dtype=np.float32)
        if isinstance(self.ground_truth, Mapping):
            for name in GROUND_TRUTH_FIELDS:
                if getattr(self, name) is None and name in self.ground_truth:
                    setattr(self, name, self.ground_truth[name])

    @property
    def n_frames(self) -> int:
        """Frames in the recording (baseline + closed loop)."""
        return int(np.shape(self.soma_dff)[0])

    @property
    def n_neurons(self) -> int:
        """Number of somata."""
        return int(np.shape(self.ensemble)[0])

    @property
    def times(self) -> np.ndarray:
        """Frame times (s) on the file clock."""
        return np.arange(self.n_frames) / self.frame_rate_hz

    @property
    def closed_loop_minutes(self) -> float:
        """Closed-loop duration (min)."""
        return (self.n_frames - self.baseline_frames) / self.frame_rate_hz / 60.0

    @property
    def session_minutes(self) -> float:
        """Closed-loop duration (min); the simulator's name for :attr:`closed_loop_minutes`."""
        return self.closed_loop_minutes

    @property
    def accuracy(self) -> float:
        """Fraction of completed trials that reached the target (NaN without trials)."""
        return float(self.trials["target_hit"].mean()) if len(self.trials) else float("nan")

    @property
    def rewards_per_min(self) -> float:
        """Rewards per closed-loop minute."""
        return float(self.trials["rewarded"].sum()) / self.closed_loop_minutes

    @property
    def is_simulated(self) -> bool:
        """True when the recording carries simulation ground truth."""
        return self.ground_truth is not None or self.rule is not None
