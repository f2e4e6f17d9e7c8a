"""Numba kernels of the models layer (the BCI simulation's frame loops that cannot be vectorised)."""

from __future__ import annotations

import math

import numba
import numpy as np

from ..tasks._jitted import window_percentile, window_push

# trial phases of the closed loop (CLOOSE Run_GUI.m @5579dee, lines 562-740)
GREY, RESPONSE, FREEZE_HIT, FREEZE_LOW, AFTER = 0, 1, 2, 3, 4
RULE_NONE, RULE_VECTORIZED, RULE_SCALAR = 0, 1, 2

# columns of the integer trial records (frames of the day's closed loop; -1 = did not happen)
T_START, T_RESPONSE, T_HIT, T_DECISION, T_OUTCOME, T_STOP, T_LOWER, T_NOISE, T_REWARD, T_TIMEOUT = range(10)
N_TRIAL_COLUMNS = 10


@numba.njit(cache=True, nogil=True, inline="always")
def _poisson_inverse(u, lam):  # pragma: no cover - compiled
    """Poisson count with mean ``lam`` from one uniform ``u`` (inverse CDF; fine for lam << 10)."""
    p = math.exp(-lam)
    s = p
    k = 0
    while u > s and k < 60:
        k += 1
        p *= lam / k
        s += p
    return k


@numba.njit(cache=True, nogil=True, inline="always")
def _soft_bound(drive, delta, bound):  # pragma: no cover - compiled
    """Add ``delta`` to ``drive`` with soft bounds at +-``bound`` (steps shrink linearly towards the bound)."""
    if delta > 0:
        scale = (bound - drive) / bound
    else:
        scale = (bound + drive) / bound
    if scale < 0.0:
        scale = 0.0
    return drive + delta * scale


@numba.njit(cache=True, nogil=True, inline="always")
def _next_trial(trials, n_trials, t):  # pragma: no cover - compiled
    """Close trial ``n_trials`` after frame ``t``, open the next one (if room) and return its index."""
    trials[n_trials, T_STOP] = t + 1
    n_trials += 1
    if n_trials < trials.shape[0]:
        trials[n_trials, T_START] = t + 1
    return n_trials


@numba.njit(cache=True, nogil=True, inline="always")
def _round_away(x):  # pragma: no cover - compiled
    """MATLAB ``round``: halves away from zero."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


@numba.njit(cache=True, nogil=True)
def bci_loop(x, xp, u, noise, log_base, amp, decay, weight, sign, drive,
             wvals, wlo, whi, wwhere, wstate, calcium, hist, hstate,
             closed, threshold, cmin, n_steps, step_deg,
             grey, trial_len, freeze, reward_frame, gap, timeout, noise_frame, lower_bound, lag,
             rule, eta_v, gain_v, eta_s, gain_s, trace_decay, rbar, rbar_rate, drive_bound, q,
             out_spikes, out_dff, out_cursor, out_angle, out_error, out_teach,
             trials, outcomes, outcome_rpe):  # pragma: no cover - compiled
    """Simulate the BCI neurons frame by frame (passive baseline when ``closed`` is False, else closed loop).

    Arrays ``x``, ``xp``, ``u``, ``noise`` are ``(frames, n)``: log-rate fluctuations (shared + private), their
    private part (the scalar rule's eligibility source), uniforms for the spike counts and imaging noise
    (ΔF/F). State arrays (online-F0 windows, calcium, cursor history, ``drive``, ``rbar``) are updated in place
    so a baseline call can be followed by a closed-loop call. The trial follows the rig's frame counter
    (``new_trial_fr`` in CLOOSE): ``grey`` grey frames, the grating until frame ``trial_len`` (hit: rotation
    >= 90; lower bound: rotation < 0), a ``freeze``-frame freeze (reward on its ``reward_frame``-th frame, white
    noise on the first after a lower-bound failure), then a ``gap``-frame gap (after a reward or white noise)
    or a ``timeout``-frame time-out with white noise on its ``noise_frame``-th frame. Returns
    ``(n_complete_trials, n_outcomes)``.
    """
    n_frames, n = x.shape
    k_smooth = hist.shape[0]
    trace = np.zeros(n)
    elig = np.zeros(n)
    ebuf = np.zeros(lag)
    epos = 0
    phase = GREY
    trial_fr = 0
    tt = 0
    iti = timeout
    delivered = False
    n_trials = 0
    n_out = 0
    tail = 0
    e_hold = 0.0
    bcast_left = 0
    bcast_value = 0.0
    span = threshold - cmin
    if span <= 0:
        span = 1e-9
    if closed:
        trials[0, T_START] = 0
    for t in range(n_frames):
        raw = 0.0
        for i in range(n):
            lam = math.exp(log_base[i] + x[t, i] + (drive[i] if closed else 0.0))
            k = _poisson_inverse(u[t, i], lam)
            calcium[i] = calcium[i] * decay + amp * k
            out_spikes[t, i] = k
            dff = calcium[i] + noise[t, i]
            out_dff[t, i] = dff
            fl = 1.0 + dff
            if fl < 0.05:
                fl = 0.05
            window_push(wvals[i], wlo[i], whi[i], wwhere[i], wstate[i], fl, q)
            f0 = window_percentile(wvals[i], wlo[i], whi[i], wstate[i], q)
            raw += weight[i] * (fl - f0) / f0
        hist[hstate[0] % k_smooth] = raw
        hstate[0] += 1
        m = hstate[0] if hstate[0] < k_smooth else k_smooth
        c = 0.0
        for j in range(m):
            c += hist[j]
        c /= m
        out_cursor[t] = c
        out_angle[t] = np.nan
        out_error[t] = np.nan
        if not closed:
            continue
        for i in range(n):
            trace[i] = trace_decay * trace[i] + (1.0 - trace_decay) * xp[t, i]
        d_err = 0.0
        have_err = False
        outcome = -1.0
        trial_fr += 1
        if trial_fr <= grey:
            phase = GREY
            if trial_fr == grey:
                trials[n_trials, T_RESPONSE] = t + 1
        elif trial_fr <= trial_len:
            if trial_fr == grey + 1 and grey == 0:
                trials[n_trials, T_RESPONSE] = t
            if trial_fr == grey + 1:
                phase = RESPONSE
            if phase == RESPONSE:
                frac = (c - cmin) / span
                rot = _round_away(frac * 90.0)
                if frac < 0.0:
                    b = 0
                else:
                    b = int(math.floor(frac * n_steps + 1e-9)) + 1
                    if b > n_steps + 1:
                        b = n_steps + 1
                ang = b * step_deg
                err = (threshold - c) / span
                if err > 1.0:
                    err = 1.0
                if err < 0.0:
                    err = 0.0
                out_angle[t] = ang
                out_error[t] = err
                if trial_fr == grey + 1:
                    for j in range(lag):
                        ebuf[j] = err
                    epos = 0
                d_err = err - ebuf[epos]
                ebuf[epos] = err
                epos = (epos + 1) % lag
                have_err = True
                decided = False
                if rot >= 90.0:
                    trials[n_trials, T_HIT] = t
                    phase = FREEZE_HIT
                    decided = True
                    e_hold = 0.0
                elif lower_bound and rot < 0.0:
                    trials[n_trials, T_LOWER] = t
                    phase = FREEZE_LOW
                    decided = True
                    e_hold = err
                elif trial_fr == trial_len:
                    phase = AFTER  # time-out: decided on the last frame of the response window
                    decided = True
                    e_hold = err
                if decided:
                    trials[n_trials, T_DECISION] = t
                    tt = 0
                    tail = lag - 1
                    for i in range(n):
                        elig[i] = trace[i]
            elif phase == FREEZE_HIT:
                tt += 1
                out_angle[t] = n_steps * step_deg + step_deg
                if tt == reward_frame:
                    outcome = 1.0
                    trials[n_trials, T_REWARD] = t
                    iti = gap
                    delivered = True
                if tt == freeze:
                    trial_fr = trial_len
            elif phase == FREEZE_LOW:
                tt += 1
                out_angle[t] = 0.0
                if tt == 1:
                    outcome = 0.0
                    trials[n_trials, T_NOISE] = t
                    iti = gap
                    delivered = True
                if tt == freeze:
                    trial_fr = trial_len
        else:
            k_iti = trial_fr - trial_len
            if k_iti == 1:
                phase = AFTER
                if not delivered:  # time-out, or a hit/lower bound too late in the trial for its outcome
                    outcome = 0.0
                    iti = timeout
                    trials[n_trials, T_TIMEOUT] = 1
                    if trials[n_trials, T_DECISION] < 0:
                        trials[n_trials, T_DECISION] = t
                else:
                    trials[n_trials, T_TIMEOUT] = 0
            if iti == timeout and not delivered and k_iti == noise_frame:
                trials[n_trials, T_NOISE] = t
            if k_iti >= iti:
                n_trials = _next_trial(trials, n_trials, t)
                trial_fr = 0
                tt = 0
                iti = timeout
                delivered = False
                phase = GREY
        if tail > 0 and not have_err:
            d_err = e_hold - ebuf[epos]
            ebuf[epos] = e_hold
            epos = (epos + 1) % lag
            have_err = True
            tail -= 1
        if outcome >= 0.0:
            delta = outcome - rbar[0]
            rbar[0] += rbar_rate * delta
            trials[n_trials, T_OUTCOME] = t
            outcomes[n_out, 0] = t
            outcomes[n_out, 1] = trials[n_trials, T_DECISION]
            outcome_rpe[n_out] = delta
            n_out += 1
            if rule == RULE_SCALAR:
                for i in range(n):
                    drive[i] = _soft_bound(drive[i], eta_s * delta * elig[i], drive_bound)
                bcast_left = lag
                bcast_value = gain_s * delta
        if rule == RULE_VECTORIZED and have_err:
            for i in range(n):
                teach = -gain_v * sign[i] * d_err
                out_teach[t, i] = teach
                drive[i] = _soft_bound(drive[i], eta_v * teach / lag, drive_bound)
        elif rule == RULE_SCALAR and bcast_left > 0:
            for i in range(n):
                out_teach[t, i] = bcast_value
            bcast_left -= 1
        if n_trials >= trials.shape[0]:
            break
    return n_trials, n_out


@numba.njit(cache=True, nogil=True)
def dendrite_chunk(spikes, teach, event_noise, noise, amp, coupling, teach_coupling, event_sd, offset, decay,
                   out):  # pragma: no cover - compiled
    """Apical-dendrite ΔF/F: at each somatic event, a dendritic event of magnitude
    ``coupling * somatic_event + offset + teach_coupling * teaching_signal + event_sd * noise`` (floored at 0),
    filtered by the indicator's decay, plus imaging noise. ``event_noise`` is consumed in column-major order."""
    n_frames, n = spikes.shape
    pos = 0
    for i in range(n):
        ca = 0.0
        for t in range(n_frames):
            k = spikes[t, i]
            ca = ca * decay
            if k > 0:
                mag = coupling * amp * k + offset + teach_coupling * teach[t, i] + event_sd * event_noise[pos]
                pos += 1
                if mag > 0.0:
                    ca += mag
            out[t, i] = ca + noise[t, i]
    return pos


@numba.njit(cache=True, nogil=True)
def population_block(t0, nb, z_private, u, z_soma, z_event, z_dend, log_base, loading, shared, private_sd, rho,
                     drive, scalar, out_frames, dec_frames, rpe, eta_s, drive_bound, trace_decay, amp, decay,
                     soma_sd, bcast, d_coupling, d_offset, d_teach, d_event_sd, d_decay, d_noise_sd, cols,
                     p, ca, cd, trace, elig, ptr, out_soma, out_dend, out_spikes):  # pragma: no cover - compiled
    """Simulate independent (non-BCI) neurons over frames ``t0 .. t0 + len(z_private) - 1`` of a day.

    Per neuron and frame: private AR(1) fluctuation ``p`` (unit variance; ``z_private`` its innovations) ->
    log-rate (+ shared + task drive in the closed loop, frames >= ``nb``) -> Poisson spike count (from ``u``)
    -> somatic calcium ΔF/F + noise -> dendritic event (coupling x somatic event + offset + ``d_teach`` x
    ``bcast[t]`` + noise, floored at 0) -> dendritic ΔF/F + noise. Scalar rule (``scalar``): at each outcome the
    drives step by ``eta_s x rpe x eligibility`` (the private fluctuation low-pass filtered, read at the
    decision frame), as in :func:`bci_loop`. State (``p``, ``ca``, ``cd``, ``trace``, ``elig``, ``drive``,
    ``ptr = [next outcome, next decision]``) is updated in place; results go to columns ``cols``.
    """
    n_block, n = z_private.shape
    sq = math.sqrt(1.0 - rho * rho)
    n_out = out_frames.shape[0]
    for b in range(n_block):
        t = t0 + b
        closed = t >= nb
        s_t = shared[t]
        b_t = bcast[t]
        for j in range(n):
            if t == 0:
                p[j] = z_private[b, j]
            else:
                p[j] = rho * p[j] + sq * z_private[b, j]
            xp = private_sd * p[j]
            lr = log_base[j] + loading[j] * s_t + xp
            if closed:
                lr += drive[j]
                if scalar:
                    trace[j] = trace_decay * trace[j] + (1.0 - trace_decay) * xp
            k = _poisson_inverse(u[b, j], math.exp(lr))
            c = cols[j]
            ca[j] = ca[j] * decay + amp * k
            out_spikes[t, c] = k
            out_soma[t, c] = ca[j] + soma_sd * z_soma[b, j]
            cd[j] = cd[j] * d_decay
            if k > 0:
                mag = d_coupling * amp * k + d_offset + d_teach * b_t + d_event_sd * z_event[b, j]
                if mag > 0.0:
                    cd[j] += mag
            out_dend[t, c] = cd[j] + d_noise_sd * z_dend[b, j]
        if scalar:
            if ptr[1] < n_out and t == dec_frames[ptr[1]]:
                for j in range(n):
                    elig[j] = trace[j]
                ptr[1] += 1
            if ptr[0] < n_out and t == out_frames[ptr[0]]:
                for j in range(n):
                    drive[j] = _soft_bound(drive[j], eta_s * rpe[ptr[0]] * elig[j], drive_bound)
                ptr[0] += 1
