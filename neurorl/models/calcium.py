"""ΔF/F traces from spike trains: a calcium-indicator forward model for simulated two-photon recordings.

Each spike adds a double-exponential transient ``A · (e^(−t/τ_decay) − e^(−t/τ_rise))`` (scaled so its peak
is ``A``) to the cell's ΔF/F; the trace is sampled at the frame rate and independent Gaussian noise is added
per frame. The window mean of such a trace is linear in the cell's firing rate, so a response (window mean
minus baseline mean) crosses zero where the firing-rate response does: reversal points are unchanged, only
the scale of the responses differs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._random import as_generator
from ..errors import InvalidArgumentError

__all__ = ["calcium_kernel", "spikes_to_dff", "GCAMP6F"]

#: GCaMP6f-like transient (assumed from Chen et al. 2013, Nature 499:295: rise ~50 ms, half-decay ~140 ms for
#: one action potential, i.e. a decay time constant ~0.2 s; ~0.1 ΔF/F peak per spike in vivo).
GCAMP6F: dict[str, float] = {"tau_rise_s": 0.05, "tau_decay_s": 0.2, "amplitude": 0.1}


def calcium_kernel(frame_rate_hz: float, *, tau_rise_s: float = GCAMP6F["tau_rise_s"],
                   tau_decay_s: float = GCAMP6F["tau_decay_s"], amplitude: float = GCAMP6F["amplitude"]
                   ) -> np.ndarray:
    """The ΔF/F transient of one spike sampled at ``frame_rate_hz``, over 8 decay time constants.

    Returns
    -------
    numpy.ndarray
        ΔF/F at frames 0, 1, ... after the spike; peak ``amplitude``.
    """
    if not (frame_rate_hz > 0 and 0 < tau_rise_s < tau_decay_s and amplitude > 0):
        raise InvalidArgumentError("need frame_rate_hz > 0, 0 < tau_rise_s < tau_decay_s and amplitude > 0")
    t = np.arange(int(np.ceil(8 * tau_decay_s * frame_rate_hz)) + 1) / frame_rate_hz
    shape = np.exp(-t / tau_decay_s) - np.exp(-t / tau_rise_s)
    t_peak = np.log(tau_decay_s / tau_rise_s) * tau_rise_s * tau_decay_s / (tau_decay_s - tau_rise_s)
    peak = np.exp(-t_peak / tau_decay_s) - np.exp(-t_peak / tau_rise_s)
    return amplitude * shape / peak


def spikes_to_dff(
    spike_times: Sequence[np.ndarray],
    duration_s: float,
    *,
    frame_rate_hz: float = 30.0,
    noise_sd: float = 0.05,
    tau_rise_s: float = GCAMP6F["tau_rise_s"],
    tau_decay_s: float = GCAMP6F["tau_decay_s"],
    amplitude: float = GCAMP6F["amplitude"],
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """ΔF/F traces (frames, cells) of spike trains through a calcium kernel, plus Gaussian noise.

    Parameters
    ----------
    spike_times
        Spike times (s) per cell.
    duration_s
        Length of the recording (s); frames at ``k / frame_rate_hz`` for ``k = 0 .. duration·rate``.
    frame_rate_hz
        Imaging frame rate (Hz). Default 30 Hz (assumed: resonant-scanning two-photon microscopes).
    noise_sd
        Standard deviation of the per-frame noise (ΔF/F). Default 0.05 (assumed).
    tau_rise_s, tau_decay_s, amplitude
        The transient of one spike (see :data:`GCAMP6F`).
    seed
        Seed or Generator of the noise.

    Returns
    -------
    times : numpy.ndarray
        Frame times (s).
    dff : numpy.ndarray
        ΔF/F, shape (frames, cells), float32.
    """
    if not duration_s > 0:
        raise InvalidArgumentError(f"duration_s must be positive, got {duration_s}")
    if noise_sd < 0:
        raise InvalidArgumentError(f"noise_sd must be >= 0, got {noise_sd}")
    rng = as_generator(seed)
    n_frames = int(np.floor(duration_s * frame_rate_hz)) + 1
    times = np.arange(n_frames) / frame_rate_hz
    kernel = calcium_kernel(frame_rate_hz, tau_rise_s=tau_rise_s, tau_decay_s=tau_decay_s, amplitude=amplitude)
    dff = np.empty((n_frames, len(spike_times)), dtype=np.float32)
    for cell, spikes in enumerate(spike_times):
        spikes = np.asarray(spikes, dtype=float)
        # each spike enters the frame at or after it (a causal indicator): counts per frame, then the kernel
        frames = np.ceil(spikes * frame_rate_hz).astype(np.int64)
        counts = np.bincount(frames[(frames >= 0) & (frames < n_frames)], minlength=n_frames).astype(float)
        trace = np.convolve(counts, kernel)[:n_frames]
        dff[:, cell] = trace + noise_sd * rng.standard_normal(n_frames)
    return times, dff
