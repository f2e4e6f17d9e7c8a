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
    """Add ``delta`` to ``drive`` with soft bounds at +-``bound``: steps of either sign shrink by
    ``1 - (drive / bound)^2`` (the same factor for both signs, so zero-mean noisy steps cause no drift)."""
    r = drive / bound
    scale = 1.0 - r * r
    if scale < 0.0:
        scale = 0.0
    return drive + delta * scale


@numba.njit(cache=True, nogil=True, inline="always")
def _plateau_base(k, p_iso, p_spike, p_burst):  # pragma: no cover - compiled
    """Plateau probability per frame without instructive signal, given the frame's spike count ``k``."""
    if k <= 0:
        return p_iso
    if k == 1:
        return p_spike
    return p_burst


@numba.njit(cache=True, nogil=True, inline="always")
def _plateau_prob(base, kappa, teach, s_t):  # pragma: no cover - compiled
    """Plateau probability ``(1 - s_t) * base * (1 + tanh(kappa * teach))``, clipped to [0, 1]."""
    p = (1.0 - s_t) * base * (1.0 + math.tanh(kappa * teach))
    if p > 1.0:
        p = 1.0
    return p


@numba.njit(cache=True, nogil=True, inline="always")
def _plateau_step(plateau, base, s_t, p_iso):  # pragma: no cover - compiled
    """Plasticity signal of one frame: ``(plateau - (1 - s_t) * base) * p_iso / base``.

    The plateau minus its probability without instructive signal, scaled by ``p_iso / base`` (the frame's
    plateau propensity relative to a spike-free frame): its mean, ``(1 - s_t) * p_iso * tanh(kappa * teach)``,
    does not depend on the neuron's spikes.
    """
    return (plateau - (1.0 - s_t) * base) * (p_iso / base)


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
def bci_loop(x, xp, u, up, noise, log_base, amp, decay, weight, sign, drive,
             wvals, wlo, whi, wwhere, wstate, calcium, hist, hstate,
             closed, threshold, cmin, n_steps, step_deg,
             grey, trial_len, freeze, reward_frame, gap, timeout, noise_frame, lower_bound, lag,
             rule, eta_v, gain_v, eta_s, gain_s, trace_decay, rbar, rbar_rate, drive_bound, q,
             p_iso, p_spike, p_burst, kappa, suppression,
             out_spikes, out_dff, out_cursor, out_angle, out_error, out_teach, out_plateau, out_window,
             trials, outcomes, outcome_rpe):  # pragma: no cover - compiled
    """Simulate the BCI neurons frame by frame (passive baseline when ``closed`` is False, else closed loop).

    Arrays ``x``, ``xp``, ``u``, ``noise`` are ``(frames, n)``: log-rate fluctuations (shared + private), their
    private part (the scalar rule's eligibility source), uniforms for the spike counts and imaging noise
    (ΔF/F); ``up`` ``(frames, n)`` uniforms for the dendritic plateaus. Each frame every neuron has a plateau
    (``out_plateau``) with probability ``(1 - s) * base(k) * (1 + tanh(kappa * T))`` (``base``: ``p_iso``,
    ``p_spike``, ``p_burst`` for 0, 1, >= 2 spikes in the frame; ``T`` the instructive signal, ``out_teach``;
    ``s`` = ``suppression`` in the outcome-locked window, else 0) and, in the closed loop, the drive steps by
    ``eta * (plateau - (1 - s) * base(k)) * p_iso / base(k)`` (times the eligibility under the scalar rule) in
    the rule's plasticity window: the response window plus ``lag`` frames (vectorized, none) or ``lag`` frames
    from the outcome (scalar). ``out_window`` flags per frame: 1 = response window + tail, 2 = scalar broadcast,
    4 = outcome-locked suppression window (from the decision to ``lag`` frames after the outcome).
    State arrays (online-F0 windows, calcium, cursor history, ``drive``, ``rbar``) are updated in place
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
    ks = np.zeros(n, dtype=np.int64)
    sup_on = False
    sup_left = 0
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
            ks[i] = k
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
            for i in range(n):
                pb = _plateau_base(ks[i], p_iso, p_spike, p_burst)
                out_plateau[t, i] = 1 if up[t, i] < pb else 0
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
                    sup_on = True
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
                        sup_on = True
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
            sup_on = False
            sup_left = lag
            if rule == RULE_SCALAR:
                bcast_left = lag
                bcast_value = gain_s * delta
        # instructive signal, plateaus and plateau-gated plasticity
        in_sup = sup_on or sup_left > 0
        if sup_left > 0:
            sup_left -= 1
        s_t = suppression if in_sup else 0.0
        bcast = rule == RULE_SCALAR and bcast_left > 0
        if bcast:
            bcast_left -= 1
        out_window[t] = (1 if have_err else 0) + (2 if bcast else 0) + (4 if in_sup else 0)
        for i in range(n):
            teach = 0.0
            if rule == RULE_VECTORIZED and have_err:
                teach = -gain_v * sign[i] * d_err
                out_teach[t, i] = teach
            elif bcast:
                teach = bcast_value
                out_teach[t, i] = teach
            base = _plateau_base(ks[i], p_iso, p_spike, p_burst)
            plateau = 1 if up[t, i] < _plateau_prob(base, kappa, teach, s_t) else 0
            out_plateau[t, i] = plateau
            if bcast:
                drive[i] = _soft_bound(drive[i], eta_s * _plateau_step(plateau, base, s_t, p_iso) * elig[i],
                                       drive_bound)
            elif rule != RULE_SCALAR and have_err:
                drive[i] = _soft_bound(drive[i], eta_v * _plateau_step(plateau, base, s_t, p_iso), drive_bound)
        if n_trials >= trials.shape[0]:
            break
    return n_trials, n_out


@numba.njit(cache=True, nogil=True, inline="always")
def _dendritic_event(k, fail, plateau, amp, coupling, offset, plateau_amp, s_t, event_sd, z):  # pragma: no cover
    """Magnitude (ΔF/F, >= 0) of the frame's dendritic event: a back-propagated one (``coupling * amp * k +
    offset`` unless it fails, ``fail``) plus a plateau (``plateau_amp * (1 - s_t)``) plus ``event_sd * z``;
    0 when neither happened."""
    mag = 0.0
    event = False
    if k > 0 and not fail:
        mag += coupling * amp * k + offset
        event = True
    if plateau:
        mag += plateau_amp * (1.0 - s_t)
        event = True
    if not event:
        return 0.0
    mag += event_sd * z
    return mag if mag > 0.0 else 0.0


@numba.njit(cache=True, nogil=True)
def dendrite_chunk(spikes, plateau, fail_u, fail_p, sup, event_noise, noise, amp, coupling, plateau_amp, event_sd,
                   offset, decay, out):  # pragma: no cover - compiled
    """Apical-dendrite ΔF/F of neurons simulated by :func:`bci_loop`, from their spikes and plateaus.

    Per neuron ``i`` and frame ``t`` (all arrays ``(frames, n)`` unless said): a back-propagated event of
    ``coupling[i] * amp * spikes + offset`` on frames with spikes, failing when ``fail_u < fail_p``; a plateau
    of ``plateau_amp[i] * (1 - sup[t])`` (``sup``: ``(frames,)`` suppression) where ``plateau`` is 1; their sum
    plus ``event_sd * event_noise`` (floored at 0) is filtered by the indicator's ``decay`` per frame, plus
    imaging ``noise`` (ΔF/F). The instructive signal enters only through the plateaus.
    """
    n_frames, n = spikes.shape
    for i in range(n):
        ca = 0.0
        for t in range(n_frames):
            ca = ca * decay + _dendritic_event(spikes[t, i], fail_u[t, i] < fail_p, plateau[t, i] > 0, amp,
                                               coupling[i], offset, plateau_amp[i], sup[t], event_sd,
                                               event_noise[t, i])
            out[t, i] = ca + noise[t, i]


@numba.njit(cache=True, nogil=True)
def population_block(t0, nb, z_private, u, z_soma, z_event, z_dend, u_plateau, u_fail, log_base, loading, shared,
                     private_sd, rho, drive, rule, window, out_frames, dec_frames, eta_v, eta_s, drive_bound,
                     trace_decay, amp, decay, soma_sd, bcast, suppression, p_iso, p_spike, p_burst, kappa,
                     d_coupling, d_offset, fail_p, plateau_amp, d_event_sd, d_decay, d_noise_sd, cols,
                     p, ca, cd, trace, elig, ptr, out_soma, out_dend, out_spikes, out_plateau):  # pragma: no cover
    """Simulate independent (non-BCI) neurons over frames ``t0 .. t0 + len(z_private) - 1`` of a day.

    Per neuron and frame: private AR(1) fluctuation ``p`` (unit variance; ``z_private`` its innovations) ->
    log-rate (+ shared + task drive in the closed loop, frames >= ``nb``) -> Poisson spike count (from ``u``)
    -> somatic calcium ΔF/F + noise; a dendritic plateau (from ``u_plateau``) with probability
    ``(1 - s) * base(k) * (1 + tanh(kappa * T))`` as in :func:`bci_loop` (``T = bcast[t]``, the scalar rule's
    broadcast, else 0; ``s = suppression`` on frames flagged 4 in ``window``); dendritic event (back-propagated,
    failing when ``u_fail < fail_p``, plus plateau; see :func:`dendrite_chunk`) -> dendritic ΔF/F + noise.
    Plasticity as in :func:`bci_loop`, with ``window`` (closed-loop frames, from :func:`bci_loop`'s
    ``out_window``): ``eta_v * step`` on frames flagged 1 (rules vectorized and none; P0 neurons get no
    vectorized signal, so their drives only drift), ``eta_s * step * eligibility`` on frames
    flagged 2 (scalar; eligibility = the private fluctuation low-pass filtered, read at the decision frame).
    State (``p``, ``ca``, ``cd``, ``trace``, ``elig``, ``drive``, ``ptr = [next decision]``) is updated in
    place; results go to columns ``cols``.
    """
    n_block, n = z_private.shape
    sq = math.sqrt(1.0 - rho * rho)
    n_out = out_frames.shape[0]
    scalar = rule == RULE_SCALAR
    for b in range(n_block):
        t = t0 + b
        closed = t >= nb
        s_t = shared[t]
        w = window[t - nb] if closed else 0
        teach = bcast[t] if (scalar and (w & 2)) else 0.0
        sup_t = suppression if (w & 4) else 0.0
        if scalar and ptr[0] < n_out and t == dec_frames[ptr[0]]:
            decided = True
            ptr[0] += 1
        else:
            decided = False
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
            base = _plateau_base(k, p_iso, p_spike, p_burst)
            plateau = 1 if u_plateau[b, j] < _plateau_prob(base, kappa, teach, sup_t) else 0
            out_plateau[t, c] = plateau
            cd[j] = cd[j] * d_decay + _dendritic_event(k, u_fail[b, j] < fail_p, plateau > 0, amp, d_coupling[j],
                                                       d_offset, plateau_amp[j], sup_t, d_event_sd, z_event[b, j])
            out_dend[t, c] = cd[j] + d_noise_sd * z_dend[b, j]
            if decided:
                elig[j] = trace[j]
            if scalar and (w & 2):
                drive[j] = _soft_bound(drive[j], eta_s * _plateau_step(plateau, base, sup_t, p_iso) * elig[j],
                                       drive_bound)
            elif not scalar and (w & 1):
                drive[j] = _soft_bound(drive[j], eta_v * _plateau_step(plateau, base, sup_t, p_iso), drive_bound)
