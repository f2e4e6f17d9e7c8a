"""Simulated recordings of dopamine neurons in the variable-reward task.

Each simulated cell is one predictor of a distributional (or classic) TD population trained on the task
(:class:`~neurorl.models.distributional_td.DistributionalTD`). After training its values are frozen (a
well-trained animal) and the cell is "recorded" in one of several sessions:

* reward response: during ``[reward_time + 0.1 s, reward_time + 0.7 s]`` (``response_window_s``) the cell fires
  at ``max(0, b_i + g_i * s_i(delta))`` spikes/s, with ``delta = r - V_i`` (``V_i`` = the cell's learned value of
  the state just before reward, µl) and the asymmetric scaling
  ``s_i(delta) = (a+_i / abar_i) * delta`` if ``delta > 0`` else ``(a-_i / abar_i) * delta``,
  ``abar_i = (a+_i + a-_i) / 2``;
* cue response (cued trials): the same form after odour onset, with the cue prediction error
  ``delta_cue = gamma * V_i(cue)`` (the value before odour onset is 0) and the cue gain;
* otherwise (also on trials without reward, ``trial_type="other"``, when the task has them) the cell fires at
  its baseline rate ``b_i``.

Spikes are an inhomogeneous Poisson process with this piecewise-constant rate, generated at once for all
cells and trials of a session (Poisson counts per (cell, segment), uniform times within a segment).

**Ground truth.** The expected baseline-subtracted rate in any window inside ``response_window_s`` after reward
(e.g. the analysis' 200-600 ms) is exactly ``max(g_i * s_i(r - V_i), -b_i)``: zero at ``r = V_i``, with slopes
``g_i * a+_i / abar_i`` above and ``g_i * a-_i / abar_i`` below (until the floor). So the reversal point an
analysis should recover is ``V_i`` — the cell's *learned* expectile (quantile, mean) in µl, listed in
``ground_truth.reversal_point`` — and the asymmetry ``slope_pos / (slope_pos + slope_neg) = a+_i / (a+_i + a-_i)``.
``V_i`` differs from the exact expectile of the reward distribution (column ``exact_statistic``) by the
learning noise of a constant-step TD estimator (sd about ``sqrt(abar * Var(R) / 2)`` for the expectile code).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import xarray as xr

from .._random import as_generator
from ..errors import InvalidArgumentError
from ..tasks.variable_reward import VariableRewardTask
from .distributional_td import CODES, DistributionalTD, expectile, make_population, quantile

__all__ = ["SimulatedSession", "Simulation", "simulate_recordings", "SimulatedResponses", "simulate_responses",
           "expected_reward_response",
           "GROUND_TRUTH_COLUMNS", "SIMULATION_CODES", "NULL_CODES"]

#: Population models of :func:`simulate_recordings`: the TD learning rules, plus ``"additive_bias"`` (the
#: Extended Data null of Dabney et al. 2020: classic TD, cells that differ only by an additive offset of their
#: prediction error, symmetric slopes).
SIMULATION_CODES: tuple[str, ...] = (*CODES, "additive_bias")
#: The models without asymmetric learning (every cell's true asymmetry is 0.5): the nulls of the tau-reversal test.
NULL_CODES: tuple[str, ...] = ("classic", "additive_bias")

#: Columns of the ground-truth table, in order.
GROUND_TRUTH_COLUMNS: tuple[str, ...] = (
    "session", "cell", "reversal_point", "asymmetry", "alpha_pos", "alpha_neg", "baseline_rate", "gain",
    "slope_pos", "slope_neg", "cue_gain", "cue_rpe", "exact_statistic",
)


@dataclass
class SimulatedSession:
    """One simulated session; it has the attributes of :class:`neurorl.io.nwb.DopamineRecording` that the
    analyses use (``session``, ``units``, ``trials``).

    Attributes
    ----------
    session
        Session name (``session_01`` ...).
    spike_times
        Spike times (s, sorted) per unit id.
    trials
        ``start_time``, ``stop_time``, ``reward_time`` (s), ``reward_volume`` (µl), ``trial_type``; index ``trial``.
    cell_types
        Cell type per unit id (``"dopamine"``).
    """

    session: str
    spike_times: dict[int, np.ndarray]
    trials: pd.DataFrame
    cell_types: dict[int, str] = field(default_factory=dict)

    @property
    def units(self) -> pd.DataFrame:
        """Units table like :attr:`neurorl.io.nwb.DopamineRecording.units` (index ``unit``)."""
        ids = list(self.spike_times)
        return pd.DataFrame(
            {"spike_times": pd.Series([self.spike_times[i] for i in ids], dtype=object).to_numpy(),
             "cell_type": [self.cell_types.get(i, "") for i in ids]},
            index=pd.Index(np.asarray(ids, dtype=np.int64), name="unit"),
        )

    @property
    def unit_ids(self) -> np.ndarray:
        """Unit ids in table order."""
        return np.asarray(list(self.spike_times), dtype=np.int64)


class Simulation(NamedTuple):
    """Result of :func:`simulate_recordings`: ``sessions, ground_truth = simulate_recordings(...)``."""

    sessions: list[SimulatedSession]
    ground_truth: pd.DataFrame



def _scaled(delta: np.ndarray, up: np.ndarray, down: np.ndarray) -> np.ndarray:
    """Asymmetrically scaled prediction error; ``up``/``down`` broadcast against ``delta``."""
    return np.where(delta > 0, up, down) * delta


def simulate_recordings(
    n_cells: int = 40,
    n_sessions: int = 4,
    n_trials: int = 500,
    *,
    code: str = "expectile",
    task: VariableRewardTask | None = None,
    tau_range: tuple[float, float] = (0.1, 0.9),
    learning_rate: float = 0.02,
    n_training_trials: int = 10000,
    baseline_rate: float = 5.0,
    baseline_spread: float = 0.45,
    gain: float = 1.0,
    gain_spread: float = 0.3,
    cue_gain: float | None = None,
    response_window_s: tuple[float, float] = (0.1, 0.7),
    spike_window_s: tuple[float, float] | None = None,
    session_names: Sequence[str] | None = None,
    seed: int | np.random.Generator | None = None,
    on_session: Callable[[SimulatedSession], None] | None = None,
    utility_exponent: float = 1.0,
) -> Simulation:
    """Simulate spike recordings of a TD population in the variable-reward task.

    Parameters
    ----------
    n_cells
        Number of cells in all (spread over the sessions in contiguous blocks, as evenly as possible).
    n_sessions
        Number of sessions (each its own trial sequence; ``n_sessions <= n_cells``).
    n_trials
        Trials per session.
    code
        ``"expectile"``, ``"quantile"`` (distributional TD) or ``"classic"`` (one symmetric predictor that
        every cell reads out: all reversal points equal and tau = 0.5) or ``"additive_bias"`` (the additive-bias
        null: one classic-TD predictor, and each cell's prediction error is ``r - V - o_i`` with a cell-specific
        offset ``o_i``, slopes symmetric, so reversal points differ between cells as under distributional TD --
        ``o_i = e(tau'_i) - mean`` with ``e`` the task's expectiles and ``tau'_i`` uniform on ``tau_range`` --
        while every true asymmetry is 0.5). ``code`` sets the learning rule, hence
        which statistic the values converge to; for every code the firing is linear in the (asymmetrically
        scaled) prediction error ``u(r) - V_i``.
    task
        The task; :class:`~neurorl.tasks.variable_reward.VariableRewardTask` defaults when omitted.
    tau_range
        Asymmetries ``tau = a+/(a+ + a-)`` are uniform on this range (distributional codes).
    learning_rate
        Mean learning rate ``(a+ + a-)/2`` (a step in µl for the quantile code).
    n_training_trials
        Trials of TD learning before recording (values are then held fixed).
    baseline_rate, baseline_spread
        Baseline firing rates are log-normal with median ``baseline_rate`` (spikes/s) and log-sd
        ``baseline_spread`` (real cells: median ~5 spikes/s, range 1-17).
    gain, gain_spread
        Response gain (spikes/s per µl of scaled prediction error), log-normal across cells with median
        ``gain`` and log-sd ``gain_spread``. With ``gain = 1`` a 20 µl reward raises the rate 200-600 ms after
        reward by about 13 spikes/s on average over cells (about 2-30 across cells); in the same window the
        40 real cells respond by 9 spikes/s on average (up to 19).
    cue_gain
        Median gain of the cue response (default: ``gain``); each cell's cue gain is its reward gain
        times ``cue_gain / gain``.
    response_window_s
        Start and end of the phasic response after the event (s); must contain the analysis window.
    spike_window_s
        ``None``: spikes over the whole session. ``(pre, post)``: spikes only from ``pre`` s before each
        trial's ``start_time`` to ``post`` s after its ``stop_time`` (keeps files small; the analysis' 1 s
        baseline and response windows are inside with ``pre >= 1``).
    session_names
        Names of the sessions; ``session_01``, ``session_02`` ... by default.
    seed
        Random seed or generator; the same seed gives the same recordings.
    on_session
        Called with each session as soon as it is simulated (e.g. to write it); the session is then not kept
        (``sessions`` is empty), so memory holds one session at a time. The recordings are the same.
    utility_exponent
        Utility nonlinearity: the cells learn from, and respond to, ``u(r) = r_max (r / r_max) ** k`` instead of
        ``r`` (``k = utility_exponent``; concave for ``k < 1``, as real cells' responses to reward size are;
        ``u(r_max) = r_max``). 1 (default): linear. The ground truth's ``reversal_point`` and
        ``exact_statistic`` are then ``u⁻¹`` of the learned / exact value (µl), its slopes are per unit of
        ``u`` (and :func:`expected_reward_response` takes ``u(r)``).

    Returns
    -------
    Simulation
        ``sessions`` (list of :class:`SimulatedSession`) and ``ground_truth`` (one row per cell, columns
        :data:`GROUND_TRUTH_COLUMNS`: ``session``, ``cell`` (unit id, unique over sessions),
        ``reversal_point`` (µl, the learned value ``V_i``), ``asymmetry`` (``a+/(a+ + a-)``), ``alpha_pos``,
        ``alpha_neg`` (learning rates), ``baseline_rate`` (spikes/s), ``gain``, ``slope_pos``, ``slope_neg``
        (spikes/s per µl above/below the reversal point, before the floor), ``cue_gain``, ``cue_rpe``
        (µl), ``exact_statistic`` (the task's exact tau-expectile / tau-quantile / mean, µl)).

    Examples
    --------
    >>> sessions, truth = simulate_recordings(6, 2, 50, seed=0)
    >>> [s.session for s in sessions], len(sessions[0].trials), list(sessions[1].spike_times)
    (['session_01', 'session_02'], 50, [3, 4, 5])
    """
    if spike_window_s is not None:
        pre, post = map(float, spike_window_s)
        if pre < 0 or post < 0:
            raise InvalidArgumentError("spike_window_s must be two non-negative numbers (s)")
    population = _population(
        n_cells, n_sessions, n_trials, code=code, task=task, tau_range=tau_range, learning_rate=learning_rate,
        n_training_trials=n_training_trials, baseline_rate=baseline_rate, baseline_spread=baseline_spread,
        gain=gain, gain_spread=gain_spread, cue_gain=cue_gain, response_window_s=response_window_s,
        session_names=session_names, seed=seed, utility_exponent=utility_exponent)
    sessions: list[SimulatedSession] = []
    for name, cells, trials, rate_trials in population.sessions():
        spikes = _session_spikes(rate_trials, cells, *population.rate_parameters, population.response_window,
                                 spike_window_s, population.rng)
        simulated = SimulatedSession(
            session=name, spike_times={int(c): s for c, s in zip(cells, spikes, strict=True)}, trials=trials,
            cell_types={int(c): "dopamine" for c in cells})
        if on_session is None:
            sessions.append(simulated)
        else:
            on_session(simulated)
    return Simulation(sessions, population.ground_truth)


class SimulatedResponses(NamedTuple):
    """Result of :func:`simulate_responses`: ``responses, ground_truth = simulate_responses(...)``."""

    responses: list[xr.DataArray]
    ground_truth: pd.DataFrame


#: ``max_silence_s`` recorded in the attrs of :func:`simulate_responses` (that of the default
#: :class:`neurorl.io.spec.RecordingSpec`, whose responses these are).
_MAX_SILENCE_S = 20.0
#: Poisson counts drawn per chunk of cells in :func:`simulate_responses` (bounds its temporaries to ~100 MB).
_COUNTS_PER_CHUNK = 4_000_000


def simulate_responses(
    n_cells: int = 40,
    n_sessions: int = 4,
    n_trials: int = 500,
    *,
    code: str = "expectile",
    task: VariableRewardTask | None = None,
    tau_range: tuple[float, float] = (0.1, 0.9),
    learning_rate: float = 0.02,
    n_training_trials: int = 10000,
    baseline_rate: float = 5.0,
    baseline_spread: float = 0.45,
    gain: float = 1.0,
    gain_spread: float = 0.3,
    cue_gain: float | None = None,
    response_window_s: tuple[float, float] = (0.1, 0.7),
    window_ms: tuple[float, float] = (200.0, 600.0),
    baseline_window_ms: tuple[float, float] = (-1000.0, 0.0),
    session_names: Sequence[str] | None = None,
    seed: int | np.random.Generator | None = None,
    on_session: Callable[[xr.DataArray], None] | None = None,
    utility_exponent: float = 1.0,
) -> SimulatedResponses:
    """Reward responses of a simulated TD population, drawn without simulating its spikes.

    The population, its values and firing parameters are those of :func:`simulate_recordings` with the same
    arguments and seed (the same ``ground_truth``). Instead of every spike of the session, only the spike counts
    in the two analysis windows of each rewarded trial are drawn: Poisson with mean the integral of the cell's
    piecewise-constant rate over the window (baseline rate, and the rates of any reward or cue response window
    that overlaps it). Where analysis windows overlap (e.g. a baseline window and the previous trial's response
    window) the counts are drawn per common piece, so that every count has the distribution, jointly, of the
    spike count of whole-session recordings (``spike_window_s=None``). The result is what
    ``compute_responses([session], spec=RecordingSpec(window_ms=window_ms, baseline_window_ms=baseline_window_ms))``
    of :mod:`neurorl.analysis.responses` gives for such a session, in distribution: its silence cut
    (``max_silence_s = 20`` s) drops no trial here, since a cell firing at >= 1 spike/s between responses is
    silent for 20 s with probability below e^-20.

    Parameters
    ----------
    n_cells, n_sessions, n_trials, code, task, tau_range, learning_rate, n_training_trials, baseline_rate, \
baseline_spread, gain, gain_spread, cue_gain, response_window_s, session_names, utility_exponent
        As for :func:`simulate_recordings`.
    window_ms
        Response window (ms after ``reward_time``), half-open ``[start, stop)``.
    baseline_window_ms
        Baseline window (ms relative to ``start_time``), half-open ``[start, stop)``.
    seed
        Random seed or generator; the same seed gives the same responses (and the same population as
        :func:`simulate_recordings`; the trial sequences of the sessions after the first differ, since the two
        draw different numbers of random variables per session).
    on_session
        Called with each session's responses as soon as they are drawn; they are then not kept (``responses``
        is empty), so memory holds one session at a time.

    Returns
    -------
    SimulatedResponses
        ``responses``: one ``responses(cell, trial)`` :class:`xarray.DataArray` per session (spikes/s: the
        count in the response window × 1000 / its length in ms minus the count in the baseline window × 1000 /
        its length in ms), with the coordinates and attrs of :func:`~neurorl.analysis.responses.compute_responses`:
        ``cell`` (``"session/unit"``), ``session``, ``unit``, ``subject_id`` (``""``), ``n_spikes`` (the
        *expected* number of spikes of the cell over the whole session, rounded to an integer), ``baseline_rate``
        (spikes/s, the mean over trials of the baseline-window count divided by its length), ``cell_type``
        (``"dopamine"``); ``trial``, ``trial_session``, ``trial_id``, ``reward_volume`` (µl), ``trial_type``,
        ``reward_time`` (s). ``ground_truth`` as for :func:`simulate_recordings`.

    Examples
    --------
    >>> responses, truth = simulate_responses(6, 2, 50, n_training_trials=500, seed=0)
    >>> [r.sizes["cell"] for r in responses], responses[1]["cell"].values.tolist()
    ([3, 3], ['session_02/3', 'session_02/4', 'session_02/5'])
    """
    window_ms = (float(window_ms[0]), float(window_ms[1]))
    baseline_window_ms = (float(baseline_window_ms[0]), float(baseline_window_ms[1]))
    if not (window_ms[1] > window_ms[0] and baseline_window_ms[1] > baseline_window_ms[0]):
        raise InvalidArgumentError(f"window_ms and baseline_window_ms must be (start, stop) with stop > start, got "
                                   f"{window_ms} and {baseline_window_ms}")
    population = _population(
        n_cells, n_sessions, n_trials, code=code, task=task, tau_range=tau_range, learning_rate=learning_rate,
        n_training_trials=n_training_trials, baseline_rate=baseline_rate, baseline_spread=baseline_spread,
        gain=gain, gain_spread=gain_spread, cue_gain=cue_gain, response_window_s=response_window_s,
        session_names=session_names, seed=seed, utility_exponent=utility_exponent)
    blocks: list[xr.DataArray] = []
    for name, cells, trials, rate_trials in population.sessions():
        block = _session_responses(name, cells, trials, rate_trials, population, window_ms, baseline_window_ms)
        if on_session is None:
            blocks.append(block)
        else:
            on_session(block)
    return SimulatedResponses(blocks, population.ground_truth)


def _session_responses(name: str, cells: np.ndarray, trials: pd.DataFrame, rate_trials: pd.DataFrame,
                       population: _Population, window_ms: tuple[float, float],
                       baseline_window_ms: tuple[float, float]) -> xr.DataArray:
    """Window counts of one session drawn from the rate model, as ``responses(cell, trial)``."""
    rng = population.rng
    baseline = population.rate_parameters[2]
    b = baseline[cells][:, None]
    event_start, event_stop, event_rate = _event_windows(rate_trials, cells, *population.rate_parameters,
                                                         population.response_window)
    session_end = _session_end(trials["stop_time"].to_numpy(), event_stop)

    volume = trials["reward_volume"].to_numpy(dtype=float)
    align = trials["reward_time"].to_numpy(dtype=float)
    base = trials["start_time"].to_numpy(dtype=float)
    keep = np.isfinite(volume) & np.isfinite(align) & np.isfinite(base)
    trial_id = np.flatnonzero(keep)
    align, base = align[keep], base[keep]
    window_s = (window_ms[0] / 1000.0, window_ms[1] / 1000.0)
    baseline_s = (baseline_window_ms[0] / 1000.0, baseline_window_ms[1] / 1000.0)
    lo = np.concatenate([align + window_s[0], base + baseline_s[0]])          # analysis windows [lo, hi), s
    hi = np.concatenate([align + window_s[1], base + baseline_s[1]])

    # pieces between every edge of an analysis or response window; counts are drawn for the pieces inside an
    # analysis window and summed per window (exact also where windows overlap)
    edges = np.unique(np.concatenate([lo, hi, event_start, event_stop, [0.0, session_end]]))
    lo_edge, hi_edge = np.searchsorted(edges, lo), np.searchsorted(edges, hi)
    cover = np.zeros(edges.size + 1, dtype=np.int64)
    np.add.at(cover, lo_edge, 1)
    np.add.at(cover, hi_edge, -1)
    inside = np.cumsum(cover)[:edges.size - 1] > 0
    piece_start, piece_stop = edges[:-1][inside], edges[1:][inside]
    mid = 0.5 * (piece_start + piece_stop)
    recorded = (mid > 0.0) & (mid < session_end)                                # no spikes outside the session
    k_event = np.searchsorted(event_start, mid, side="right") - 1
    in_event = (k_event >= 0) & (mid < event_stop[np.maximum(k_event, 0)])
    before = np.concatenate([[0], np.cumsum(inside)])                           # pieces before each edge
    first, last = before[lo_edge], before[hi_edge]

    duration = np.where(recorded, piece_stop - piece_start, 0.0)
    counts = np.empty((cells.size, lo.size), dtype=np.int64)
    step = max(1, _COUNTS_PER_CHUNK // max(1, mid.size))
    for c0 in range(0, cells.size, step):
        rate = np.broadcast_to(b[c0:c0 + step], (min(step, cells.size - c0), mid.size)).copy()
        rate[:, in_event] = event_rate[c0:c0 + step, k_event[in_event]]
        cumulative = np.zeros((rate.shape[0], mid.size + 1), dtype=np.int64)
        np.cumsum(rng.poisson(rate * duration[None, :]), axis=1, out=cumulative[:, 1:])
        counts[c0:c0 + step] = cumulative[:, last] - cumulative[:, first]
        del rate, cumulative
    n = align.size
    response_count, baseline_count = counts[:, :n], counts[:, n:]

    # as compute_responses (analysis.responses._rates_plain and _counts_rate)
    window_len_ms = round((window_s[1] - window_s[0]) * 1000.0, 9)
    baseline_len_ms = round((baseline_s[1] - baseline_s[0]) * 1000.0, 9)
    rates = response_count * 1000.0 / window_len_ms - baseline_count * 1000.0 / baseline_len_ms
    level = baseline_count / ((base + baseline_s[1]) - (base + baseline_s[0]))[None, :]
    baseline_rate = level.mean(axis=1) if n else np.full(cells.size, np.nan)
    # expected spikes over the whole session: baseline throughout, plus the excess inside the response windows
    in_session = np.clip(np.minimum(event_stop, session_end) - np.maximum(event_start, 0.0), 0.0, None)
    expected = baseline[cells] * session_end + ((event_rate - b) * in_session[None, :]).sum(axis=1)

    units = cells.astype(np.int64)
    return xr.DataArray(
        rates.astype(float),
        dims=("cell", "trial"),
        coords={
            "cell": np.array([f"{name}/{unit}" for unit in units], dtype=object).astype(str),
            "session": ("cell", np.full(cells.size, name, dtype=object).astype(str)),
            "unit": ("cell", units),
            "subject_id": ("cell", np.full(cells.size, "", dtype=object).astype(str)),
            "n_spikes": ("cell", np.rint(expected).astype(np.int64)),
            "baseline_rate": ("cell", np.asarray(baseline_rate, dtype=float)),
            "cell_type": ("cell", np.full(cells.size, "dopamine", dtype=object).astype(str)),
            "trial": np.arange(n),
            "trial_session": ("trial", np.full(n, name, dtype=object).astype(str)),
            "trial_id": ("trial", trial_id.astype(np.int64)),
            "reward_volume": ("trial", volume[keep]),
            "trial_type": ("trial", trials["trial_type"].astype(str).to_numpy()[keep].astype(str)),
            "reward_time": ("trial", align),
        },
        name="responses",
        attrs={
            "units": "spikes/s",
            "description": "firing rate in the response window after the align event minus the baseline rate",
            "signal": "spikes",
            "window_ms": list(window_ms),
            "window_reference": "align_time (default reward_time)",
            "baseline_ms": baseline_window_ms[1] - baseline_window_ms[0],
            "baseline_window_ms": list(baseline_window_ms),
            "baseline_reference": "baseline_time (default start_time)",
            "smoothing": "none",
            "trial_types": "all",
            "max_silence_s": _MAX_SILENCE_S,
            "zscore": 0,
        },
    )


class _Population(NamedTuple):
    """A trained population with its firing parameters (shared by :func:`simulate_recordings` and
    :func:`simulate_responses`).
    """

    task: VariableRewardTask
    n_trials: int
    names: list[str]
    blocks: list[np.ndarray]
    utility: Callable | None
    #: ``(reward_value, cue_rpe, baseline, gains, cue_gains, up, down)``, one entry per cell (utility units).
    rate_parameters: tuple[np.ndarray, ...]
    response_window: tuple[float, float]
    ground_truth: pd.DataFrame
    rng: np.random.Generator

    def sessions(self) -> Iterator[tuple[str, np.ndarray, pd.DataFrame, pd.DataFrame]]:
        """Yield ``(name, cells, trials, rate_trials)`` per session, drawing each trial sequence from ``rng``
        in turn; ``rate_trials`` has the rewards in utility units (what the cells respond to).
        """
        for name, cells in zip(self.names, self.blocks, strict=True):
            trials = self.task.sample_session(self.n_trials, self.rng)
            rate_trials = (trials if self.utility is None
                           else trials.assign(reward_volume=self.utility(trials["reward_volume"].to_numpy())))
            yield name, cells, trials, rate_trials


def _population(n_cells: int, n_sessions: int, n_trials: int, *, code: str, task: VariableRewardTask | None,
                tau_range: tuple[float, float], learning_rate: float, n_training_trials: int, baseline_rate: float,
                baseline_spread: float, gain: float, gain_spread: float, cue_gain: float | None,
                response_window_s: tuple[float, float], session_names: Sequence[str] | None,
                seed: int | np.random.Generator | None, utility_exponent: float) -> _Population:
    """Check the arguments of :func:`simulate_recordings`, train the population and draw its firing parameters."""
    if code not in SIMULATION_CODES:
        raise InvalidArgumentError(f"code must be one of {', '.join(SIMULATION_CODES)}; got {code!r}")
    if not 0 < utility_exponent <= 1e3 or not np.isfinite(utility_exponent):
        raise InvalidArgumentError(f"utility_exponent must be a positive number, got {utility_exponent}")
    n_cells, n_sessions, n_trials = int(n_cells), int(n_sessions), int(n_trials)
    if n_cells < 1 or n_sessions < 1 or n_trials < 1:
        raise InvalidArgumentError("n_cells, n_sessions and n_trials must all be >= 1")
    if n_sessions > n_cells:
        raise InvalidArgumentError(f"more sessions ({n_sessions}) than cells ({n_cells})")
    if baseline_rate <= 0 or gain < 0 or baseline_spread < 0 or gain_spread < 0:
        raise InvalidArgumentError("baseline_rate must be > 0; gain and the spreads >= 0")
    if cue_gain is not None and cue_gain < 0:
        raise InvalidArgumentError("cue_gain must be >= 0")
    resp0, resp1 = map(float, response_window_s)
    if not 0 <= resp0 < resp1:
        raise InvalidArgumentError(f"response_window_s must satisfy 0 <= start < end, got {response_window_s}")
    task = task or VariableRewardTask()
    if task.cued_fraction > 0 and resp1 - resp0 > task.cue_reward_delay_s:
        raise InvalidArgumentError("the cue and reward response windows overlap: shorten response_window_s")
    if task.cue_reward_delay_s + resp1 > task.iti_min_s + resp0:
        raise InvalidArgumentError("response_window_s reaches into the next trial: lengthen task.iti_min_s")
    names = list(session_names) if session_names is not None else [f"session_{k + 1:02d}" for k in range(n_sessions)]
    if len(names) != n_sessions or len(set(names)) != n_sessions:
        raise InvalidArgumentError("session_names must be n_sessions distinct names")

    rng = as_generator(seed)
    r_max = float(task.volumes.max())
    k_util = float(utility_exponent)

    def u(r):                                                                # utility (µl-equivalent)
        return r if k_util == 1.0 else r_max * (np.asarray(r, float) / r_max) ** k_util

    def u_inverse(v):
        return v if k_util == 1.0 else r_max * (np.clip(np.asarray(v, float), 0.0, None) / r_max) ** (1.0 / k_util)

    # ---- the population and its learning
    rule = "classic" if code == "additive_bias" else code
    alpha_pos, alpha_neg = make_population(n_cells, rule, tau_range=tau_range, learning_rate=learning_rate,
                                           seed=rng)
    n_learners = 1 if rule == "classic" else n_cells
    learner = DistributionalTD(alpha_pos[:n_learners], alpha_neg[:n_learners], code=rule,
                               n_states=task.n_delay_steps, discount=task.discount)
    learner.train(task if k_util == 1.0 else _UtilityTask(task, u), n_training_trials, rng)
    values = np.broadcast_to(learner.values, (n_cells, task.n_delay_steps))
    reward_value = values[:, task.reward_state].copy()                       # V_i (utility units; µl if linear)
    cue_rpe = task.discount * values[:, 0]                                   # gamma * V_i(cue)
    tau = alpha_pos / (alpha_pos + alpha_neg)
    abar = 0.5 * (alpha_pos + alpha_neg)
    up, down = alpha_pos / abar, alpha_neg / abar                            # 2 tau, 2 (1 - tau)
    utilities = u(task.volumes)
    if rule == "expectile":
        exact = expectile(utilities, tau, weights=task.probs)
    elif rule == "quantile":
        exact = quantile(utilities, tau, weights=task.probs)
    else:
        exact = np.full(n_cells, float(utilities @ task.probs))
    if code == "additive_bias":
        spread = rng.uniform(*map(float, tau_range), size=n_cells)
        offset = expectile(utilities, spread, weights=task.probs) - float(utilities @ task.probs)
        reward_value = reward_value + offset                                 # r - V - o_i: kink at V + o_i
        cue_rpe = cue_rpe - offset
        exact = exact + offset
    reward_value_ul, exact = u_inverse(reward_value), u_inverse(exact)

    # ---- per-cell firing parameters
    baseline = baseline_rate * np.exp(baseline_spread * rng.standard_normal(n_cells))
    gains = gain * np.exp(gain_spread * rng.standard_normal(n_cells))
    cue_gains = gains * ((gain if cue_gain is None else cue_gain) / gain if gain > 0 else 0.0)

    blocks = np.array_split(np.arange(n_cells), n_sessions)
    session_of_cell = np.empty(n_cells, dtype=object)
    for name, cells in zip(names, blocks, strict=True):
        session_of_cell[cells] = name
    truth = pd.DataFrame({
        "session": session_of_cell.astype(str),
        "cell": np.arange(n_cells, dtype=np.int64),
        "reversal_point": reward_value_ul,
        "asymmetry": tau,
        "alpha_pos": alpha_pos,
        "alpha_neg": alpha_neg,
        "baseline_rate": baseline,
        "gain": gains,
        "slope_pos": gains * up,
        "slope_neg": gains * down,
        "cue_gain": cue_gains,
        "cue_rpe": cue_rpe,
        "exact_statistic": exact,
    }, columns=list(GROUND_TRUTH_COLUMNS))
    truth.attrs.update({
        "code": code, "learning_rate": learning_rate, "n_training_trials": n_training_trials,
        "tau_range": tuple(tau_range), "response_window_s": (resp0, resp1), "utility_exponent": k_util,
    })
    return _Population(task, n_trials, names, blocks, None if k_util == 1.0 else u,
                       (reward_value, cue_rpe, baseline, gains, cue_gains, up, down), (resp0, resp1), truth, rng)


class _UtilityTask:
    """A task whose rewards pass through a utility function ``u`` (what the learner sees)."""

    def __init__(self, task: VariableRewardTask, u: Callable) -> None:
        self._task, self._u = task, u

    def sample_trials(self, n_trials: int, seed=None) -> pd.DataFrame:
        trials = self._task.sample_trials(n_trials, seed)
        return trials.assign(reward_volume=self._u(trials["reward_volume"].to_numpy(dtype=float)))

    def state_path(self, trial_type: str):
        return self._task.state_path(trial_type)


def expected_reward_response(ground_truth: pd.DataFrame, reward_ul) -> np.ndarray:
    """Noise-free baseline-subtracted reward response (spikes/s) of simulated cells.

    Parameters
    ----------
    ground_truth
        Table from :func:`simulate_recordings` (columns ``reversal_point``, ``slope_pos``, ``slope_neg``,
        ``baseline_rate``), one row per cell.
    reward_ul
        Reward sizes (µl).

    Returns
    -------
    numpy.ndarray
        ``(n_cells, n_rewards)``: ``max(slope * (r - reversal_point), -baseline_rate)`` with ``slope_pos``
        above and ``slope_neg`` below the reversal point — the expected rate minus baseline in any window
        inside the response box (e.g. 200-600 ms after reward).

    Examples
    --------
    >>> truth = pd.DataFrame({"reversal_point": [5.0], "slope_pos": [2.0], "slope_neg": [1.0],
    ...                       "baseline_rate": [4.0]})
    >>> expected_reward_response(truth, [0.1, 4.0, 5.0, 10.0])
    array([[-4., -1.,  0., 10.]])
    """
    reward = np.asarray(reward_ul, dtype=float).ravel()[None, :]
    rp = ground_truth["reversal_point"].to_numpy(dtype=float)[:, None]
    delta = reward - rp
    slope = np.where(delta > 0, ground_truth["slope_pos"].to_numpy(dtype=float)[:, None],
                     ground_truth["slope_neg"].to_numpy(dtype=float)[:, None])
    return np.maximum(slope * delta, -ground_truth["baseline_rate"].to_numpy(dtype=float)[:, None])


def _event_windows(trials: pd.DataFrame, cells: np.ndarray, reward_value, cue_rpe, baseline, gains, cue_gains,
                   up, down, response_window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Phasic response windows of one session: start and stop times (s, sorted by start) of the reward response
    of every rewarded trial and the cue response of every cued trial, and the rate inside (spikes/s,
    ``(cells, events)``).
    """
    resp0, resp1 = response_window
    start = trials["start_time"].to_numpy()
    reward_time = trials["reward_time"].to_numpy()
    volume = trials["reward_volume"].to_numpy()
    cued = (trials["trial_type"].to_numpy() == "cued") & np.isfinite(volume)
    rewarded = np.isfinite(volume) & np.isfinite(reward_time)

    b = baseline[cells][:, None]
    # event windows: rewards of every rewarded trial, cues of cued trials; rate inside (cells, events)
    delta = volume[None, rewarded] - reward_value[cells][:, None]                       # (cells, rewards)
    reward_rate = np.maximum(0.0, b + gains[cells][:, None] * _scaled(delta, up[cells][:, None],
                                                                      down[cells][:, None]))
    cue_delta = np.broadcast_to(cue_rpe[cells][:, None], (cells.size, int(cued.sum())))
    cue_rate = np.maximum(0.0, b + cue_gains[cells][:, None] * _scaled(cue_delta, up[cells][:, None],
                                                                        down[cells][:, None]))
    event_start = np.concatenate([reward_time[rewarded], start[cued]]) + resp0
    event_rate = np.concatenate([reward_rate, cue_rate], axis=1)
    order = np.argsort(event_start, kind="stable")
    event_start, event_rate = event_start[order], event_rate[:, order]
    event_stop = event_start + (resp1 - resp0)
    return event_start, event_stop, event_rate


def _session_end(stop: np.ndarray, event_stop: np.ndarray) -> float:
    """End of a whole-session recording (s): 2 s after the last trial or response window."""
    return max(stop.max(), event_stop.max() if event_stop.size else 0.0) + 2.0


def _session_spikes(trials: pd.DataFrame, cells: np.ndarray, reward_value, cue_rpe, baseline, gains, cue_gains,
                    up, down, response_window, spike_window, rng: np.random.Generator) -> list[np.ndarray]:
    """Poisson spikes of ``cells`` in one session, vectorised over cells and trials."""
    start = trials["start_time"].to_numpy()
    stop = trials["stop_time"].to_numpy()
    b = baseline[cells][:, None]
    event_start, event_stop, event_rate = _event_windows(trials, cells, reward_value, cue_rpe, baseline, gains,
                                                         cue_gains, up, down, response_window)

    # observed intervals: the whole session, or windows around trials (merged where they overlap)
    if spike_window is None:
        obs_start = np.array([0.0])
        obs_stop = np.array([_session_end(stop, event_stop)])
    else:
        pre, post = spike_window
        obs_start, obs_stop = _merge(np.maximum(start - pre, 0.0), stop + post)

    # piecewise-constant segments: every boundary of an event or observation window
    edges = np.unique(np.concatenate([obs_start, obs_stop, event_start, event_stop]))
    seg_start, seg_stop = edges[:-1], edges[1:]
    mid = 0.5 * (seg_start + seg_stop)
    k_obs = np.searchsorted(obs_start, mid, side="right") - 1
    observed = (k_obs >= 0) & (mid < obs_stop[np.maximum(k_obs, 0)])
    seg_start, seg_stop, mid = seg_start[observed], seg_stop[observed], mid[observed]
    k_event = np.searchsorted(event_start, mid, side="right") - 1
    in_event = (k_event >= 0) & (mid < event_stop[np.maximum(k_event, 0)])

    rate = np.broadcast_to(b, (cells.size, mid.size)).copy()                            # (cells, segments)
    rate[:, in_event] = event_rate[:, k_event[in_event]]
    duration = seg_stop - seg_start
    counts = rng.poisson(rate * duration[None, :])                                      # (cells, segments)
    per_cell = counts.sum(axis=1)
    # spike times for a few cells at a time (about _SPIKES_PER_CHUNK spikes), so that the temporaries stay
    # small for long sessions of many cells; the draws follow one another as in a single call
    trains: list[np.ndarray] = []
    first = 0
    while first < cells.size:
        last = first + max(1, int(np.searchsorted(np.cumsum(per_cell[first:]), _SPIKES_PER_CHUNK, side="right")))
        chunk = counts[first:last]
        segment = np.repeat(np.tile(np.arange(mid.size), last - first), chunk.ravel())
        times = seg_start[segment] + duration[segment] * _sorted_uniforms(chunk.ravel(), rng)
        del segment
        # cell-major, segments in time order, sorted within each segment: every cell's train is sorted
        trains.extend(np.split(times, np.cumsum(per_cell[first:last])[:-1]))
        first = last
    return trains


#: Spike times generated per chunk of cells in :func:`_session_spikes` (bounds its temporaries to ~100 MB).
_SPIKES_PER_CHUNK = 2_000_000


def _sorted_uniforms(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uniform(0, 1) variables, ``counts[g]`` per group, sorted within each group, in O(total).

    The order statistics of ``n`` uniforms are ``S_k / S_{n+1}`` with ``S_k`` partial sums of ``n + 1``
    standard exponentials; all groups share one running sum (no sort needed).
    """
    counts = np.asarray(counts, dtype=np.int64)
    n_groups, total = counts.size, int(counts.sum())
    running = np.cumsum(rng.standard_exponential(total + n_groups))
    closing = np.cumsum(counts + 1) - 1                 # slot of each group's (n+1)-th spacing
    first = closing - counts
    before = np.where(first > 0, running[np.maximum(first - 1, 0)], 0.0)
    span = running[closing] - before
    keep = np.ones(total + n_groups, dtype=bool)
    keep[closing] = False
    group = np.repeat(np.arange(n_groups), counts)
    return (running[keep] - before[group]) / span[group]


def _merge(starts: np.ndarray, stops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals ``[starts, stops]`` as sorted, disjoint intervals."""
    order = np.argsort(starts, kind="stable")
    starts, stops = starts[order], stops[order]
    running = np.maximum.accumulate(stops)
    new = np.concatenate([[True], starts[1:] > running[:-1]])
    group = np.cumsum(new) - 1
    merged_start = starts[new]
    merged_stop = np.zeros(merged_start.size)
    np.maximum.at(merged_stop, group, stops)
    return merged_start, merged_stop
