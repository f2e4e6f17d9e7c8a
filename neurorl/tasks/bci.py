"""The two-photon brain-computer-interface (BCI) task of Francioni et al. (Nature, 2026), as the rig runs it.

A mouse rotates a visual grating with the activity of a handful of layer-5 neurons: the cursor is the mean
online ΔF/F of the ``P+`` neurons minus the mean online ΔF/F of the ``P-`` neurons; when it reaches a threshold
(the grating reaches the target orientation) the mouse gets a water reward. This module holds the task's
settings, the online ΔF/F and cursor, the day-by-day threshold calibration and the cursor-to-grating mapping.
Learning agents live in :mod:`neurorl.models.bci_learning`.

Sources
-------
The paper's Methods were not available to this project (only its abstract: P+ and P- ensembles of four or five
neurons each). Every default therefore follows the rig's own closed-loop code, ``harnett/CLOOSE``,
``Run_GUI/Run_GUI.m`` at commit ``5579dee`` ("CLOOSE line N" below), or says "assumed". :data:`TASK_SOURCES`
holds the source of each :class:`BCITask` field. The rig counts time in imaging frames, so the task does too.

The rig's task, frame by frame (one trial)
------------------------------------------
* Frames 1-15 of a trial: grey screen (CLOOSE 562-571). The cursor keeps being computed.
* Frames 16 to ``trial_frames`` (750): the grating is shown at the orientation of the cursor's bin
  (CLOOSE 346-350, 555-560): 0° below the baseline minimum, 15°-75° in five equal bins between the minimum and
  the threshold, 90° (the target) at the threshold. The trial's fate is decided on the rotation
  ``round((cursor - minimum) / (threshold - minimum) x 90)`` (CLOOSE 574, MATLAB rounds halves away from 0):
  at >= 90 the target is hit; below 0 the cursor fell under the baseline minimum (the *lower bound*).
* Hit: the grating freezes at the target for 60 frames; the reward is delivered on the 3rd frame of the freeze
  (CLOOSE 588-645); then a 15-frame grey gap (CLOOSE 645, 714-717).
* Lower bound: the grating freezes at 0° for 60 frames with white noise on its first frame, the trial counts
  as a failure; then the 15-frame gap (CLOOSE 665-684).
* Neither by frame ``trial_frames`` (time-out): 90 black frames with white noise on the 30th (CLOOSE 436,
  711-728). The freeze counts against the trial's frames: a hit within 3 frames of the trial's end is not
  rewarded and is followed by the time-out (the rig's code does that too).

Online ΔF/F and cursor: F0 = 10th percentile of the last 4 trial lengths of raw fluorescence, current frame
included (CLOOSE 376, 531-535); cursor = mean ΔF/F(P+) - mean ΔF/F(P-), averaged over the last 3 frames
(CLOOSE 543-550). Percentiles interpolate linearly between ranks (numpy's default); MATLAB's
``prctile`` places them at ranks ``(i - 0.5) / n``, a difference below one rank of a 3000-frame window.

Calibration (CLOOSE 3087-3237): 200 pseudo-trials of 750 frames start at distinct random frames of the passive
baseline (wrapping around its end), with ΔF/F from an F0 over 4 trial lengths of the baseline; the thresholds
tried run from the pseudo-trials' minimum to their maximum in steps of 0.005 (ΔF/F), and the threshold is the
lowest at which no more than half of the pseudo-trials' 3-frame moving mean exceeds it. The 0° value (the
*minimum*) is the pseudo-trials' minimum. A "half-normal" fit (the lower half of the pseudo-trial values
concatenated with its mirror) gives the threshold's z-score. On later days the rig takes the easier of that
day's own 50 % threshold and the reference z-score (day 1's) applied to that day's half-normal fit
(CLOOSE 3216-3237).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import InvalidArgumentError
from ._jitted import running_percentile, window_percentile, window_push  # noqa: F401

__all__ = [
    "BCITask",
    "TASK_SOURCES",
    "Calibration",
    "assign_ensembles",
    "online_dff",
    "cursor_from_dff",
    "pseudo_trial_cursors",
    "half_normal_fit",
    "calibrate_threshold",
    "recalibrate_threshold",
    "grating_angle",
    "grating_rotation",
    "trial_events",
    "ENSEMBLE_LABELS",
]

#: Ensemble labels as stored (ASCII): neurons that must raise (P+), lower (P-) or are not read out (P0).
ENSEMBLE_LABELS: tuple[str, str, str] = ("P+", "P-", "P0")

_CLOOSE = "harnett/CLOOSE Run_GUI/Run_GUI.m @5579dee"

#: Where each default of :class:`BCITask` comes from.
TASK_SOURCES: dict[str, str] = {
    "n_bci": "paper abstract: P+ and P- ensembles of four or five neurons each (4 + 4 to 5 + 5; 10 assumed)",
    "frame_rate_hz": "assumed: 30-Hz resonant scanning over two planes (soma, dendrite), ~15.5 Hz per plane",
    "session_minutes": "assumed (the rig sets the number of trials, CLOOSE 197-199)",
    "days": "assumed: the paper's abstract says learning within a week; two weeks of training",
    "baseline_frames": "assumed (~13 min; CLOOSE records the baseline before calibrating, 2990-3080)",
    "trial_frames": f"assumed 750: the rig's trial length is a GUI field (FramesZ, {_CLOOSE} line 186); its "
                    "calibration's pseudo-trials are hard-coded to 750 frames (lines 3100, 3104)",
    "f0_window_trials": f"{_CLOOSE} lines 376 and 3095: F0 over the last 4 x trial length",
    "f0_percentile": f"{_CLOOSE} lines 535 and 3095: prctile(..., 10)",
    "cursor_smoothing_frames": f"{_CLOOSE} line 549: mean(x(n-2:n))",
    "grey_frames": f"{_CLOOSE} line 562: new_trial_fr <= 15",
    "angle_step_deg": f"{_CLOOSE} line 346: angle_bins = target-90 : 15 : target",
    "angle_max_deg": f"{_CLOOSE} line 346: the target is 90° from the start",
    "pseudo_trials": f"{_CLOOSE} line 3087: randperm(..., 200)",
    "pseudo_trial_frames": f"{_CLOOSE} line 3104: trial_start : trial_start + 749",
    "target_success": f"{_CLOOSE} line 3158: min(find(propp(1,:) <= 0.5))",
    "threshold_step": f"{_CLOOSE} line 3115: threshs = dfmx2 : 0.005 : dfmx1",
    "freeze_frames": f"{_CLOOSE} lines 590 and 657: tt < 60, tt == 60",
    "reward_frame": f"{_CLOOSE} line 602: reward sent at tt == 3",
    "gap_frames": f"{_CLOOSE} lines 645 and 684: ITI_f = 15 after a reward or a lower-bound failure",
    "timeout_frames": f"{_CLOOSE} lines 436 and 739: ITI_f = 90 (black screen) after a time-out",
    "timeout_noise_frame": f"{_CLOOSE} line 725: white noise at FramesZ + 30",
    "lower_bound": f"{_CLOOSE} lines 665-684: rotation < 0 ends the trial with white noise",
    "reward_volume_ul": "assumed (a typical water reward; the rig's valve time is set on its Arduino)",
}


@dataclass(frozen=True)
class BCITask:
    """Settings of the BCI task, in imaging frames as the rig counts them (sources: :data:`TASK_SOURCES`).

    Parameters
    ----------
    n_bci
        Number of BCI neurons (split at random, half ``P+`` and half ``P-``; an odd count gives ``P+`` one more).
    frame_rate_hz
        Imaging rate per plane (Hz).
    session_minutes
        Closed-loop session length (min), not counting the passive baseline.
    days
        Number of daily sessions.
    baseline_frames
        Frames of passive baseline recorded before each closed-loop session (threshold calibration).
    trial_frames
        Frames of one trial from its first grey frame to the end of the response window (the rig's ``FramesZ``).
    f0_window_trials, f0_percentile
        Online F0: this percentile of the raw fluorescence over the last ``f0_window_trials x trial_frames``
        frames.
    cursor_smoothing_frames
        The cursor is the mean over this many most recent frames.
    angle_max_deg, angle_step_deg
        The grating turns from 0° to ``angle_max_deg`` (the target) in steps of ``angle_step_deg``.
    pseudo_trials, pseudo_trial_frames, target_success, threshold_step
        Calibration: this many pseudo-trials of this length drawn from the baseline; the threshold is the lowest
        on a grid of step ``threshold_step`` (ΔF/F) that at most ``target_success`` of them exceed.
    grey_frames, freeze_frames, reward_frame, gap_frames, timeout_frames, timeout_noise_frame
        Trial timing (frames): grey screen at the start of a trial; grating freeze after a hit or a
        lower-bound failure; the freeze frame on which the reward is given; grey gap after a reward or a
        lower-bound failure; black time-out after a miss; the time-out frame with white noise.
    lower_bound
        A cursor below the baseline minimum ends the trial as a failure, with white noise.
    reward_volume_ul
        Water reward per hit (µl).
    """

    n_bci: int = 10
    frame_rate_hz: float = 15.46
    session_minutes: float = 41.0
    days: int = 14
    baseline_frames: int = 12_000
    trial_frames: int = 750
    f0_window_trials: int = 4
    f0_percentile: float = 10.0
    cursor_smoothing_frames: int = 3
    angle_max_deg: float = 90.0
    angle_step_deg: float = 15.0
    pseudo_trials: int = 200
    pseudo_trial_frames: int = 750
    target_success: float = 0.5
    threshold_step: float = 0.005
    grey_frames: int = 15
    freeze_frames: int = 60
    reward_frame: int = 3
    gap_frames: int = 15
    timeout_frames: int = 90
    timeout_noise_frame: int = 30
    lower_bound: bool = True
    reward_volume_ul: float = 4.0

    def __post_init__(self) -> None:
        if int(self.n_bci) < 2:
            raise InvalidArgumentError(f"n_bci must be at least 2 (one P+ and one P-), got {self.n_bci}")
        if not self.frame_rate_hz > 0:
            raise InvalidArgumentError(f"frame_rate_hz must be positive, got {self.frame_rate_hz}")
        if not self.session_minutes > 0:
            raise InvalidArgumentError(f"session_minutes must be positive, got {self.session_minutes}")
        if int(self.days) < 1:
            raise InvalidArgumentError(f"days must be at least 1, got {self.days}")
        if not 0 <= self.grey_frames < self.trial_frames:
            raise InvalidArgumentError(f"need 0 <= grey_frames < trial_frames, got {self.grey_frames}, "
                                       f"{self.trial_frames}")
        if not 1 <= self.reward_frame <= self.freeze_frames:
            raise InvalidArgumentError(f"need 1 <= reward_frame <= freeze_frames, got {self.reward_frame}, "
                                       f"{self.freeze_frames}")
        if self.gap_frames < 1 or not 1 <= self.timeout_noise_frame <= self.timeout_frames:
            raise InvalidArgumentError("need gap_frames >= 1 and 1 <= timeout_noise_frame <= timeout_frames")
        if self.baseline_frames < self.pseudo_trial_frames or self.baseline_frames < self.pseudo_trials:
            raise InvalidArgumentError(
                f"baseline_frames ({self.baseline_frames}) must be at least one pseudo-trial "
                f"({self.pseudo_trial_frames} frames) and {self.pseudo_trials} frames (distinct starts)")
        if not 0 < self.target_success < 1:
            raise InvalidArgumentError(f"target_success must be in (0, 1), got {self.target_success}")
        if not 0 <= self.f0_percentile <= 100:
            raise InvalidArgumentError(f"f0_percentile must be in [0, 100], got {self.f0_percentile}")
        if not self.threshold_step > 0 or self.f0_window_trials < 1:
            raise InvalidArgumentError("threshold_step must be positive and f0_window_trials at least 1")

    # -- derived quantities (frames) ---------------------------------------------------------------------
    def frames(self, seconds: float) -> int:
        """Number of frames in ``seconds`` (rounded, at least 1)."""
        return max(1, int(round(seconds * self.frame_rate_hz)))

    @property
    def dt_s(self) -> float:
        """Frame period (s)."""
        return 1.0 / self.frame_rate_hz

    @property
    def f0_window_frames(self) -> int:
        """Online-F0 window (frames): ``f0_window_trials x trial_frames``."""
        return int(self.f0_window_trials) * int(self.trial_frames)

    @property
    def response_frames(self) -> int:
        """Frames of the response window (grating shown) of a trial."""
        return int(self.trial_frames) - int(self.grey_frames)

    @property
    def session_frames(self) -> int:
        """Closed-loop frames per session."""
        return self.frames(self.session_minutes * 60.0)

    @property
    def n_angle_bins(self) -> int:
        """Number of grating orientations shown (7 with the defaults: 0°, 15°, ..., 90°)."""
        return int(round(self.angle_max_deg / self.angle_step_deg)) + 1

    def as_dict(self) -> dict:
        """Settings as a plain dict (for attrs / file metadata)."""
        return asdict(self)


@dataclass(frozen=True)
class Calibration:
    """Threshold calibration of one day.

    Attributes
    ----------
    threshold
        Cursor value (ΔF/F units) the cursor must reach (90°).
    cursor_min
        Cursor value mapped to 0°, below which the lower bound ends a trial (the pseudo-trials' minimum).
    baseline_mean, baseline_std
        Mean and standard deviation of the half-normal fit to the pseudo-trials' cursor values.
    threshold_z
        ``(threshold - baseline_mean) / baseline_std``: the z-score in force (carried to later days).
    pseudo_success
        Fraction of the pseudo-trials whose 3-frame moving mean exceeds ``threshold``.
    own_threshold, own_z
        This day's own 50 % threshold and its z-score (equal to ``threshold``, ``threshold_z`` on day 1 or
        when the day's own threshold was the easier).
    source
        ``'day'`` (this day's own threshold) or ``'reference'`` (the reference z-score applied to this day).
    """

    threshold: float
    cursor_min: float
    baseline_mean: float
    baseline_std: float
    threshold_z: float
    pseudo_success: float
    own_threshold: float = float("nan")
    own_z: float = float("nan")
    source: str = "day"


def assign_ensembles(n_neurons: int, n_bci: int, seed: int | np.random.Generator | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``n_bci`` of ``n_neurons`` at random and split them into ``P+`` and ``P-``.

    Parameters
    ----------
    n_neurons
        Neurons in the field of view (BCI neurons included).
    n_bci
        BCI neurons; ``ceil(n_bci / 2)`` become ``P+``, the rest ``P-``.
    seed
        Random seed or generator.

    Returns
    -------
    ensemble : numpy.ndarray
        ``(n_neurons,)`` ASCII labels ``'P+'``, ``'P-'``, ``'P0'``.
    bci_weight : numpy.ndarray
        ``(n_neurons,)`` readout weights: ``+1/n_plus`` for P+, ``-1/n_minus`` for P-, 0 for P0, so that the
        cursor is ``sum(bci_weight * dff)``.
    """
    if n_bci < 2 or n_bci > n_neurons:
        raise InvalidArgumentError(f"need 2 <= n_bci <= n_neurons, got n_bci={n_bci}, n_neurons={n_neurons}")
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(n_neurons)[:n_bci]
    n_plus = (n_bci + 1) // 2
    ensemble = np.full(n_neurons, "P0", dtype="<U2")
    ensemble[chosen[:n_plus]] = "P+"
    ensemble[chosen[n_plus:]] = "P-"
    weight = np.zeros(n_neurons)
    weight[ensemble == "P+"] = 1.0 / n_plus
    weight[ensemble == "P-"] = -1.0 / (n_bci - n_plus)
    return ensemble, weight


def online_dff(fluorescence: np.ndarray, frame_rate_hz: float = 15.46, window_s: float | None = None,
               percentile: float = 10.0, *, window_frames: int = 3000) -> np.ndarray:
    """Online ΔF/F as the BCI computes it: F0 = ``percentile`` of the last ``window_frames`` frames (current included).

    Parameters
    ----------
    fluorescence
        ``(frames,)`` or ``(frames, cells)`` raw fluorescence (positive, arbitrary units).
    frame_rate_hz, window_s
        Frame rate (Hz) and, if given, the F0 window in seconds (overrides ``window_frames``).
    percentile
        Percentile (0..100) of the window taken as F0 (10, CLOOSE 535).
    window_frames
        F0 window (frames); default 3000 = 4 trials of 750 frames (CLOOSE 376). Before the window has filled,
        the frames seen so far are used.

    Returns
    -------
    numpy.ndarray
        ΔF/F = (F - F0) / F0, same shape as the input (float64).

    Examples
    --------
    >>> online_dff(np.array([1.0, 1.0, 2.0, 1.0]), percentile=0.0, window_frames=3)
    array([0., 0., 1., 0.])
    """
    fluor = np.asarray(fluorescence, dtype=np.float64)
    squeeze = fluor.ndim == 1
    if squeeze:
        fluor = fluor[:, None]
    if fluor.ndim != 2:
        raise InvalidArgumentError(f"fluorescence must be (frames,) or (frames, cells), got {fluor.shape}")
    if np.any(fluor <= 0):
        raise InvalidArgumentError("raw fluorescence must be positive")
    window = int(window_frames) if window_s is None else max(1, int(round(window_s * frame_rate_hz)))
    fluor = np.ascontiguousarray(fluor)
    f0 = running_percentile(fluor, window, float(percentile))
    out = (fluor - f0) / f0
    return out[:, 0] if squeeze else out


def cursor_from_dff(dff: np.ndarray, bci_weight: np.ndarray, smoothing_frames: int = 3) -> np.ndarray:
    """Cursor = mean ΔF/F(P+) - mean ΔF/F(P-), averaged over the last ``smoothing_frames`` frames.

    Parameters
    ----------
    dff
        ``(frames, neurons)`` online ΔF/F.
    bci_weight
        ``(neurons,)`` readout weights (``+1/n_plus``, ``-1/n_minus``, 0), see :func:`assign_ensembles`.
    smoothing_frames
        Causal boxcar length (frames); the first frames average over the frames available.

    Returns
    -------
    numpy.ndarray
        ``(frames,)`` cursor (ΔF/F units).
    """
    raw = np.asarray(dff, dtype=np.float64) @ np.asarray(bci_weight, dtype=np.float64)
    csum = np.cumsum(np.concatenate([[0.0], raw]))
    k = int(smoothing_frames)
    idx = np.arange(1, raw.size + 1)
    lo = np.maximum(idx - k, 0)
    return (csum[idx] - csum[lo]) / (idx - lo)


def pseudo_trial_cursors(baseline_fluorescence: np.ndarray, bci_weight: np.ndarray, task: BCITask | None = None,
                         seed: int | np.random.Generator | None = None) -> np.ndarray:
    """The calibration's pseudo-trials: cursor traces of ``task.pseudo_trials`` windows of the baseline.

    As the rig (CLOOSE 3087-3110): starts are distinct random frames of the baseline (``randperm``), a window
    that runs past the end wraps around to the start; ΔF/F uses, at baseline frame ``t``, F0 = the
    ``f0_percentile`` of the raw fluorescence over the ``f0_window_frames`` frames starting ``L - 1`` frames
    before ``t`` (``L`` = ``pseudo_trial_frames``; the rig's index arithmetic, wrapped); the cursor is the
    weighted sum of the ΔF/F (mean P+ minus mean P-), not yet smoothed.

    Parameters
    ----------
    baseline_fluorescence
        ``(frames, neurons)`` raw fluorescence (positive) of the BCI neurons during the passive baseline.
    bci_weight
        ``(neurons,)`` cursor weights.
    task, seed
        Task settings; random seed or generator of the starts.

    Returns
    -------
    numpy.ndarray
        ``(pseudo_trials, pseudo_trial_frames)`` cursor values.
    """
    task = task or BCITask()
    fluor = np.asarray(baseline_fluorescence, dtype=np.float64)
    if fluor.ndim == 1:
        fluor = fluor[:, None]
    n, _ = fluor.shape
    length = int(task.pseudo_trial_frames)
    if n < length or n < task.pseudo_trials:
        raise InvalidArgumentError(f"the baseline ({n} frames) is shorter than one pseudo-trial ({length}) or "
                                   f"than the number of pseudo-trials ({task.pseudo_trials})")
    if np.any(~(fluor > 0)):
        raise InvalidArgumentError("raw fluorescence must be positive")
    rng = np.random.default_rng(seed)
    window = int(task.f0_window_frames)
    # F0 over the window starting at frame i (wrapped): trailing percentile over the wrapped series, read at
    # the window's last frame
    reps = (window + n - 1) // n + 1
    wrapped = np.concatenate([fluor] * reps, axis=0)[: n + window - 1]
    f0_start = running_percentile(np.ascontiguousarray(wrapped), window, float(task.f0_percentile))[window - 1:]
    starts = rng.permutation(n)[: task.pseudo_trials]
    frames = (starts[:, None] + np.arange(length)[None, :]) % n
    f0 = f0_start[(frames - (length - 1)) % n]
    dff = (fluor[frames] - f0) / f0
    return dff @ np.asarray(bci_weight, dtype=np.float64)


def _movmean3(cursors: np.ndarray) -> np.ndarray:
    """MATLAB ``movmean(x, 3)`` along the last axis (centred; the end points average the two frames there)."""
    x = np.asarray(cursors, dtype=np.float64)
    out = x.copy()
    if x.shape[-1] < 2:
        return out
    out[..., 1:-1] = (x[..., :-2] + x[..., 1:-1] + x[..., 2:]) / 3.0
    out[..., 0] = (x[..., 0] + x[..., 1]) / 2.0
    out[..., -1] = (x[..., -2] + x[..., -1]) / 2.0
    return out


def half_normal_fit(values: np.ndarray) -> tuple[float, float]:
    """The rig's "half-normal" fit (CLOOSE 3168-3176): mean and sd of the lower half and its mirror.

    ``d`` = the values at or below their median, ``dd = max(d) - d``; the fit is the mean and the sample
    standard deviation (``normfit``) of ``d`` and ``dd`` together. (The code mirrors as ``max(d) - d``, about
    the median's half rather than ``2 x median - d``; reproduced as written.)

    Examples
    --------
    >>> half_normal_fit(np.array([0.0, 1.0, 2.0, 3.0, 4.0]))  # d = 0, 1, 2; dd = 2, 1, 0
    (1.0, 0.8944271909999159)
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if v.size < 3:
        raise InvalidArgumentError("need at least 3 finite values for the half-normal fit")
    d = v[v <= np.median(v)]
    both = np.concatenate([d, d.max() - d])
    return float(both.mean()), float(both.std(ddof=1))


def _own_threshold(cursors: np.ndarray, task: BCITask) -> tuple[float, float, float]:
    """The day's own threshold: lowest grid value that at most ``target_success`` of the pseudo-trials exceed.

    Returns ``(threshold, cursor_min, pseudo_success)``.
    """
    z = np.asarray(cursors, dtype=np.float64)
    lo, hi = float(z.min()), float(z.max())
    maxima = _movmean3(z).max(axis=1)
    n = maxima.size
    allowed = int(math.floor(task.target_success * n + 1e-9))
    # propp(g) = mean(maxima > g) <= target  <=>  g >= the (allowed+1)-th largest maximum
    kth = np.sort(maxima)[::-1][min(allowed, n - 1)]
    step = float(task.threshold_step)
    k = max(0, math.ceil((kth - lo) / step - 1e-9))
    grid_top = math.floor((hi - lo) / step + 1e-9)
    threshold = lo + min(k, grid_top) * step
    return threshold, lo, float(np.mean(maxima > threshold))


def calibrate_threshold(pseudo_cursors: np.ndarray, task: BCITask | None = None) -> Calibration:
    """Day-1 calibration from the pseudo-trials' cursors (CLOOSE 3110-3176).

    Parameters
    ----------
    pseudo_cursors
        ``(pseudo_trials, frames)`` cursor of each pseudo-trial, from :func:`pseudo_trial_cursors`.
    task
        Task settings (defaults if None).

    Returns
    -------
    Calibration
        ``threshold`` = the lowest value on the grid from the pseudo-trials' minimum in steps of
        ``threshold_step`` that no more than ``target_success`` of the pseudo-trials' 3-frame moving means
        exceed; ``cursor_min`` = the pseudo-trials' minimum; ``threshold_z`` = the threshold's z-score in the
        half-normal fit (:func:`half_normal_fit`).
    """
    task = task or BCITask()
    z = np.atleast_2d(np.asarray(pseudo_cursors, dtype=np.float64))
    if z.size < 3 or not np.all(np.isfinite(z)):
        raise InvalidArgumentError("the pseudo-trial cursors must be finite, at least 3 values")
    threshold, cmin, success = _own_threshold(z, task)
    mu, sd = half_normal_fit(z)
    zscore = (threshold - mu) / sd if sd > 0 else 0.0
    return Calibration(threshold=float(threshold), cursor_min=cmin, baseline_mean=mu, baseline_std=sd,
                       threshold_z=float(zscore), pseudo_success=success, own_threshold=float(threshold),
                       own_z=float(zscore), source="day")


def recalibrate_threshold(pseudo_cursors: np.ndarray, reference_z: float, task: BCITask | None = None
                          ) -> Calibration:
    """Later days (CLOOSE 3180-3237): the easier of the day's own threshold and ``reference_z``.

    The day's own 50 % threshold and its z-score ``own_z`` in the day's half-normal fit are computed as on
    day 1. If ``reference_z >= own_z`` the day's own threshold is used; otherwise the threshold is
    ``mean + reference_z x sd`` of the day's half-normal fit. Either way the 0° value is the day's own
    pseudo-trial minimum. The rig loads the reference z-score from a saved file (``uiload``, line 3214); this
    simulation uses day 1's.

    Why this matters (the "day-2 dip"). A z-score alone fixes the threshold relative to the baseline's
    spread, not to the distribution of the trials' maxima, so a later day's calibrated success rate wanders:
    measured with rule ``none`` (no learning; days 2-4 are then exchangeable), 10 BCI neurons, 41-min days,
    seeds 0-23, the pseudo-trial success of days 2-4 spans 0.08-0.92 with the z-score alone and 0.41-0.92 with
    this rule. Per-day accuracy (mean over the 24 seeds, s.e. ~0.03): z-score alone 0.467, 0.438, 0.448,
    0.465 (20 of 72 later days more than 0.1 below their day 1); this rule 0.467, 0.526, 0.562, 0.562 (6 of
    72). The dip that every learning rule showed was a calibration draw, shared by the rules because they
    share the seed's neurons and random numbers; the rig's rule removes it but makes later days easier on
    average (+0.08 accuracy over days 2-4 without any learning), which a learning curve read from the success
    rate must allow for (``--rule none`` measures it).
    """
    task = task or BCITask()
    own = calibrate_threshold(pseudo_cursors, task)
    z = np.atleast_2d(np.asarray(pseudo_cursors, dtype=np.float64))
    ref = float(reference_z)
    if ref >= own.threshold_z:
        return own
    threshold = own.baseline_mean + ref * own.baseline_std
    success = float(np.mean(_movmean3(z).max(axis=1) > threshold))
    return Calibration(threshold=float(threshold), cursor_min=own.cursor_min, baseline_mean=own.baseline_mean,
                       baseline_std=own.baseline_std, threshold_z=ref, pseudo_success=success,
                       own_threshold=own.threshold, own_z=own.threshold_z, source="reference")


def grating_rotation(cursor: np.ndarray | float, cursor_min: float, threshold: float) -> np.ndarray:
    """The rig's rotation (degrees) that decides a trial: ``round((cursor - min) / (threshold - min) x 90)``.

    MATLAB's ``round`` (halves away from zero), CLOOSE 574. A rotation >= 90 is a hit; below 0 the lower
    bound is crossed.

    Examples
    --------
    >>> grating_rotation(np.array([-0.01, -0.005, 0.0, 0.994, 0.995]), 0.0, 1.0).tolist()
    [-1.0, -0.0, 0.0, 89.0, 90.0]
    """
    span = threshold - cursor_min
    r = (np.asarray(cursor, dtype=np.float64) - cursor_min) / (span if span > 0 else 1e-12) * 90.0
    return np.sign(r) * np.floor(np.abs(r) + 0.5)


def grating_angle(cursor: np.ndarray | float, cursor_min: float, threshold: float,
                  task: BCITask | None = None) -> np.ndarray:
    """Map the cursor to the grating orientation shown (degrees), as the rig's bins (CLOOSE 346-350, 555).

    0° below ``cursor_min`` (and for any cursor below it); 15°, 30°, ..., 75° for the five equal bins from
    ``cursor_min`` to ``threshold``; 90° at or above ``threshold``.

    Examples
    --------
    >>> grating_angle(np.array([-1.0, 0.0, 0.19, 0.5, 0.99, 1.0, 2.0]), 0.0, 1.0).tolist()
    [0.0, 15.0, 15.0, 45.0, 75.0, 90.0, 90.0]
    """
    task = task or BCITask()
    steps = task.n_angle_bins - 2  # bins between the minimum and the threshold (5)
    span = threshold - cursor_min
    frac = (np.asarray(cursor, dtype=np.float64) - cursor_min) / (span if span > 0 else 1e-12)
    bins = np.where(frac < 0, 0.0, np.clip(np.floor(frac * steps + 1e-9) + 1, 1, steps + 1))
    return bins * task.angle_step_deg


def trial_events(cursor: np.ndarray, threshold: float, cursor_min: float, task: BCITask | None = None):
    """The rig's trial sequence for a given closed-loop cursor trace (a plain-Python reference of the rules).

    Follows ``new_trial_fr`` of CLOOSE 526-740 frame by frame (see the module docstring): grey frames, the
    grating until a hit (rotation >= 90), a lower-bound failure (rotation < 0, if ``task.lower_bound``) or
    the end of the trial's frames; a freeze; then the gap or the time-out. The simulator's compiled loop
    applies the same rules while the cursor is generated (the tests compare the two).

    Parameters
    ----------
    cursor
        ``(frames,)`` cursor of the closed loop (frame 0 = the first frame of the first trial).
    threshold, cursor_min
        The day's calibration.
    task
        Task settings.

    Returns
    -------
    pandas.DataFrame
        One row per completed trial with frame indices ``start``, ``response_start``, ``hit``, ``lower_bound``,
        ``reward``, ``white_noise``, ``stop`` (exclusive; -1 = did not happen) and the flags ``timed_out``,
        ``rewarded``.
    """
    import pandas as pd

    task = task or BCITask()
    rot = grating_rotation(np.asarray(cursor, dtype=np.float64), cursor_min, threshold)
    rows = []
    cur: dict = {}
    trial_fr = tt = 0
    phase = "grey"
    iti = task.timeout_frames
    delivered = False
    for t in range(rot.size):
        trial_fr += 1
        if trial_fr == 1:
            cur = dict(start=t, response_start=-1, hit=-1, lower_bound=-1, reward=-1, white_noise=-1, stop=-1,
                       timed_out=False, rewarded=False)
        if trial_fr <= task.grey_frames:
            phase = "grey"
        elif trial_fr <= task.trial_frames:
            if trial_fr == task.grey_frames + 1:
                phase = "response"
                cur["response_start"] = t
            if phase == "response":
                if rot[t] >= 90:
                    cur["hit"], phase, tt = t, "freeze_hit", 0
                elif task.lower_bound and rot[t] < 0:
                    cur["lower_bound"], phase, tt = t, "freeze_low", 0
            elif phase == "freeze_hit":
                tt += 1
                if tt == task.reward_frame:
                    cur["reward"], cur["rewarded"], iti, delivered = t, True, task.gap_frames, True
                if tt == task.freeze_frames:
                    trial_fr = task.trial_frames
            elif phase == "freeze_low":
                tt += 1
                if tt == 1:
                    cur["white_noise"], iti, delivered = t, task.gap_frames, True
                if tt == task.freeze_frames:
                    trial_fr = task.trial_frames
        else:
            k = trial_fr - task.trial_frames
            if k == 1 and not delivered:
                iti = task.timeout_frames
                cur["timed_out"] = True
            if cur["timed_out"] and k == task.timeout_noise_frame:
                cur["white_noise"] = t
            if k >= iti:
                cur["stop"] = t + 1
                rows.append(cur)
                trial_fr, tt, iti, delivered, phase = 0, 0, task.timeout_frames, False, "grey"
    columns = ["start", "response_start", "hit", "lower_bound", "reward", "white_noise", "stop", "timed_out",
               "rewarded"]
    return pd.DataFrame(rows, columns=columns)
