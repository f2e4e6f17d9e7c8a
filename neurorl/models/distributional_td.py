"""Distributional temporal-difference learning (Dabney et al., Nature 2020).

A population of value predictors ``V_i``, each with its own learning rates for positive and negative
prediction errors, ``alpha_pos[i]`` (a+) and ``alpha_neg[i]`` (a-). With ``delta_i = r + gamma V_i(s') - V_i(s)``:

``code="expectile"``
    ``V_i += a+ * delta_i`` if ``delta_i > 0`` else ``a- * delta_i``. ``V_i`` converges to the
    ``tau_i``-expectile of the return distribution, ``tau_i = a+ / (a+ + a-)``.
``code="quantile"``
    ``V_i += a+`` if ``delta_i > 0``, ``-a-`` if ``delta_i < 0`` (``a`` in the units of reward). ``V_i`` converges
    to the ``tau_i``-quantile.
``code="classic"``
    Classic TD: one symmetric rate ``(a+ + a-) / 2`` per predictor; converges to the mean. A classic-TD
    *population* (every cell reading out one predictor) is made by :func:`make_population`.

With constant learning rates the values do not settle exactly; they fluctuate around the target with a
standard deviation of order ``sqrt(a)`` (expectile code) or ``a`` (quantile code); see the tests for the
formulas.

Everything is vectorised over cells (the population is a 1-D array); the loop over trials is inherently
sequential.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._random import as_generator
from .._stats import expectile, quantile
from ..errors import InvalidArgumentError

__all__ = [
    "CODES",
    "expectile",
    "quantile",
    "learn_values",
    "make_population",
    "DistributionalTD",
]

#: The learning rules.
CODES: tuple[str, ...] = ("expectile", "quantile", "classic")



def _check_code(code: str) -> str:
    if code not in CODES:
        raise InvalidArgumentError(f"code must be one of {', '.join(CODES)}; got {code!r}")
    return code


# --------------------------------------------------------------------------------------- populations
def make_population(
    n_cells: int,
    code: str = "expectile",
    *,
    tau_range: tuple[float, float] = (0.1, 0.9),
    learning_rate: float = 0.02,
    seed: int | np.random.Generator | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw learning rates for a population of ``n_cells`` predictors.

    Asymmetries ``tau_i`` are uniform on ``tau_range`` (distributional codes) or 0.5 (classic); the rates
    are ``a+ = 2 * learning_rate * tau`` and ``a- = 2 * learning_rate * (1 - tau)``, so that every cell's
    mean rate ``(a+ + a-) / 2`` equals ``learning_rate``.

    Returns
    -------
    alpha_pos, alpha_neg : numpy.ndarray
        Shape ``(n_cells,)``.
    """
    _check_code(code)
    if int(n_cells) < 1:
        raise InvalidArgumentError(f"n_cells must be >= 1, got {n_cells}")
    low, high = map(float, tau_range)
    if not 0.0 < low <= high < 1.0:
        raise InvalidArgumentError(f"tau_range must satisfy 0 < low <= high < 1, got {tau_range}")
    if not learning_rate > 0:
        raise InvalidArgumentError(f"learning_rate must be > 0, got {learning_rate}")
    rng = as_generator(seed)
    if code == "classic":
        tau = np.full(int(n_cells), 0.5)
    else:
        tau = rng.uniform(low, high, size=int(n_cells))
    return 2.0 * learning_rate * tau, 2.0 * learning_rate * (1.0 - tau)


def _rates(alpha_pos, alpha_neg, code: str, n_cells: int | None = None):
    ap = np.atleast_1d(np.asarray(alpha_pos, dtype=float))
    an = np.atleast_1d(np.asarray(alpha_neg, dtype=float))
    ap, an = np.broadcast_arrays(ap, an)
    if ap.ndim != 1:
        raise InvalidArgumentError("alpha_pos and alpha_neg must be scalars or 1-D arrays (one per cell)")
    if np.any(ap < 0) or np.any(an < 0) or not (np.all(np.isfinite(ap)) and np.all(np.isfinite(an))):
        raise InvalidArgumentError("learning rates must be finite and non-negative")
    if np.any(ap + an <= 0):
        raise InvalidArgumentError("alpha_pos + alpha_neg must be positive for every cell")
    if code == "classic":
        ap = an = 0.5 * (ap + an)
    if code != "quantile" and np.any(np.maximum(ap, an) > 1):
        raise InvalidArgumentError("expectile/classic learning rates must not exceed 1")
    return ap.astype(float).copy(), an.astype(float).copy()


def _step(values: np.ndarray, delta: np.ndarray, ap: np.ndarray, an: np.ndarray, code: str) -> None:
    """In-place update of ``values`` by prediction errors ``delta`` (same shape)."""
    if code == "quantile":
        values += np.where(delta > 0, ap, np.where(delta < 0, -an, 0.0))
    else:
        values += np.where(delta > 0, ap, an) * delta


def learn_values(
    rewards,
    alpha_pos,
    alpha_neg,
    *,
    code: str = "expectile",
    initial_value=0.0,
    return_trajectory: bool = False,
) -> np.ndarray:
    """One-step TD learning of the value of a state followed by a random reward.

    Parameters
    ----------
    rewards
        Rewards (µl), shape ``(n_trials,)`` (every cell sees the same sequence) or ``(n_trials, n_cells)``
        (independent sequences).
    alpha_pos, alpha_neg
        Learning rates per cell, shape ``(n_cells,)`` or scalars.
    code
        ``"expectile"``, ``"quantile"`` or ``"classic"`` (see the module docstring).
    initial_value
        Starting value(s) (µl).
    return_trajectory
        Return the values after every trial as well.

    Returns
    -------
    numpy.ndarray
        Final values ``(n_cells,)``, or the trajectory ``(n_trials + 1, n_cells)`` (row 0 = initial values).
    """
    _check_code(code)
    r = np.asarray(rewards, dtype=float)
    if r.ndim not in (1, 2):
        raise InvalidArgumentError("rewards must be 1-D (n_trials,) or 2-D (n_trials, n_cells)")
    ap, an = _rates(alpha_pos, alpha_neg, code)
    n_cells = max(ap.size, r.shape[1] if r.ndim == 2 else 1)
    if ap.size not in (1, n_cells) or (r.ndim == 2 and r.shape[1] not in (1, n_cells)):
        raise InvalidArgumentError(f"rewards {r.shape} and learning rates ({ap.size},) disagree on the number of cells")
    ap = np.broadcast_to(ap, (n_cells,))
    an = np.broadcast_to(an, (n_cells,))
    values = np.array(np.broadcast_to(np.asarray(initial_value, dtype=float), (n_cells,)), dtype=float)
    trajectory = np.empty((r.shape[0] + 1, n_cells)) if return_trajectory else None
    if trajectory is not None:
        trajectory[0] = values
    delta = np.empty(n_cells)
    for t in range(r.shape[0]):
        np.subtract(r[t], values, out=delta)
        _step(values, delta, ap, an, code)
        if trajectory is not None:
            trajectory[t + 1] = values
    return trajectory if trajectory is not None else values


class DistributionalTD:
    """A population of TD predictors over a chain of task states, vectorised over cells.

    Parameters
    ----------
    alpha_pos, alpha_neg
        Learning rates per cell (``(n_cells,)`` arrays or scalars). For ``code="quantile"`` they are step
        sizes in the unit of reward (µl).
    code
        ``"expectile"``, ``"quantile"`` or ``"classic"``.
    n_states
        Number of states with a learned value.
    discount
        Discount factor per time step, in (0, 1].
    initial_value
        Initial value of every state (µl).

    Attributes
    ----------
    values : numpy.ndarray
        ``(n_cells, n_states)`` learned values (µl).

    Examples
    --------
    >>> from neurorl.tasks.variable_reward import VariableRewardTask
    >>> task = VariableRewardTask()
    >>> td = DistributionalTD([0.01, 0.03], [0.03, 0.01], n_states=task.n_delay_steps, discount=task.discount)
    >>> td.train(task, 2000, seed=0).taus
    array([0.25, 0.75])
    """

    def __init__(self, alpha_pos, alpha_neg, *, code: str = "expectile", n_states: int = 1,
                 discount: float = 1.0, initial_value: float = 0.0) -> None:
        self.code = _check_code(code)
        self.alpha_pos, self.alpha_neg = _rates(alpha_pos, alpha_neg, code)
        if int(n_states) < 1:
            raise InvalidArgumentError("n_states must be >= 1")
        if not 0.0 < discount <= 1.0:
            raise InvalidArgumentError(f"discount must be in (0, 1], got {discount}")
        self.discount = float(discount)
        self.values = np.full((self.alpha_pos.size, int(n_states)), float(initial_value))

    @property
    def n_cells(self) -> int:
        """Number of predictors."""
        return self.values.shape[0]

    @property
    def taus(self) -> np.ndarray:
        """Asymmetries ``a+ / (a+ + a-)`` per cell."""
        return self.alpha_pos / (self.alpha_pos + self.alpha_neg)

    def rpe(self, state: int, reward=0.0, next_state: int | None = None) -> np.ndarray:
        """Prediction errors ``r + gamma V(next) - V(state)`` per cell (``next_state=None``: terminal)."""
        future = 0.0 if next_state is None else self.discount * self.values[:, next_state]
        return np.asarray(reward, dtype=float) + future - self.values[:, state]

    def update(self, state: int, reward=0.0, next_state: int | None = None) -> np.ndarray:
        """Apply one TD update for the transition ``state -> next_state`` with ``reward``; return the errors."""
        delta = self.rpe(state, reward, next_state)
        column = self.values[:, state].copy()
        _step(column, delta, self.alpha_pos, self.alpha_neg, self.code)
        self.values[:, state] = column
        return delta

    def run_trial(self, path: Sequence[int], reward: float) -> np.ndarray:
        """Learn from one trial: visit the states of ``path`` in order, then receive ``reward`` (terminal).

        Returns the prediction errors ``(len(path), n_cells)``, the last row being the reward-time error.
        """
        deltas = np.empty((len(path), self.n_cells))
        for j, state in enumerate(path[:-1]):
            deltas[j] = self.update(state, 0.0, path[j + 1])
        deltas[-1] = self.update(path[-1], reward, None)
        return deltas

    def train(self, task, n_trials: int, seed: int | np.random.Generator | None = None):
        """Learn the values of ``task``'s states from ``n_trials`` simulated trials; returns ``self``.

        ``task`` is a :class:`~neurorl.tasks.variable_reward.VariableRewardTask` (anything with
        ``sample_trials`` and ``state_path``).
        """
        trials = task.sample_trials(int(n_trials), seed)
        paths = {kind: task.state_path(kind) for kind in ("cued", "uncued")}
        for kind, reward in zip(trials["trial_type"].to_numpy(), trials["reward_volume"].to_numpy(), strict=True):
            if kind in paths and np.isfinite(reward):          # trials without reward teach nothing here
                self.run_trial(paths[kind], float(reward))
        return self
