"""The variable-reward task of Eshel et al. (2015) / Dabney et al. (Nature 2020).

A mouse receives one of seven reward sizes (0.1 ... 20 µl). On *uncued* trials the reward arrives without
warning; on *cued* trials an odour is presented and the reward follows 1.5 s later. The odour predicts that a
reward will come, not its size, so the reward-time prediction error is the same function of the reward size on
both kinds of trial, and cued trials add a prediction error at odour onset.

For temporal-difference learning the task is a chain of states (see :meth:`VariableRewardTask.state_names`)::

    cued:    cue -> delay_1 -> ... -> delay_{n-1} -> reward_pending --(reward r)--> end
    uncued:                                          reward_pending --(reward r)--> end

``reward_pending`` is shared by both trial types (it is the state "a reward is about to be delivered"); the
value before odour onset is fixed at zero because the odour comes at unpredictable times. With a per-step
discount ``gamma``, every cell's value of ``cue`` converges to ``gamma ** (n_delay_steps - 1)`` times its value of
``reward_pending`` (transitions are deterministic until the reward).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._random import as_generator
from .._stats import expectile, quantile
from ..errors import InvalidArgumentError

__all__ = [
    "REWARD_VOLUMES_UL",
    "REWARD_FREQUENCIES_DATA",
    "REWARD_PROBABILITIES",
    "VariableRewardTask",
]

#: Reward sizes of the task (µl).
REWARD_VOLUMES_UL: tuple[float, ...] = (0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0)

#: Relative frequency of each reward size (cued + uncued trials) in the 40 cells analysed by Dabney et al.
#: (2020), as counted from their trial types (1-7 and 8-14); they sum to 1.0001 because of rounding.
REWARD_FREQUENCIES_DATA: tuple[float, ...] = (0.0661, 0.0909, 0.1485, 0.1549, 0.3116, 0.1510, 0.0771)

#: :data:`REWARD_FREQUENCIES_DATA` normalised to sum to one: the task's reward distribution.
REWARD_PROBABILITIES: tuple[float, ...] = tuple(
    float(p) for p in np.asarray(REWARD_FREQUENCIES_DATA) / np.sum(REWARD_FREQUENCIES_DATA)
)

TRIAL_COLUMNS: tuple[str, ...] = ("start_time", "stop_time", "reward_time", "reward_volume", "trial_type")



@dataclass(frozen=True)
class VariableRewardTask:
    """The variable-reward task: reward distribution, trial structure and trial timing.

    Parameters
    ----------
    volumes_ul
        Reward sizes (µl).
    probabilities
        Probability of each reward size (normalised here).
    cued_fraction
        Fraction of rewarded trials that are odour-cued (0.513 in the real data).
    other_fraction
        Fraction of trials without reward (``trial_type="other"``, ``reward_volume`` and ``reward_time`` NaN),
        like the trials of type 15 (about 20%) in the real data, which the analyses skip. Default 0.
    cue_reward_delay_s
        Time from odour onset to reward on cued trials (s).
    n_delay_steps
        Number of TD time steps from odour onset to reward (>= 1): the chain ``cue -> delay_1 -> ... ->
        reward_pending`` has ``n_delay_steps`` states.
    discount
        TD discount factor per time step, in (0, 1].
    iti_min_s, iti_mean_extra_s
        Trial onsets are separated by ``iti_min_s`` plus an exponential variable with mean
        ``iti_mean_extra_s`` (s); the real sessions have median 6-8 s, minimum 1.5-3.2 s.
    trial_duration_s
        ``stop_time - start_time`` of every trial (s); 3 s, as the converter of the real data uses.

    Examples
    --------
    >>> task = VariableRewardTask()
    >>> round(task.mean, 3)
    5.209
    >>> task.expectile([0.1, 0.5, 0.9]).round(3)
    array([ 2.005,  5.209, 10.851])
    >>> task.quantile([0.1, 0.5, 0.9])
    array([ 0.3,  5. , 10. ])
    """

    volumes_ul: tuple[float, ...] = REWARD_VOLUMES_UL
    probabilities: tuple[float, ...] = REWARD_PROBABILITIES
    cued_fraction: float = 0.5
    other_fraction: float = 0.0
    cue_reward_delay_s: float = 1.5
    n_delay_steps: int = 3
    discount: float = 0.9
    iti_min_s: float = 3.2
    iti_mean_extra_s: float = 4.0
    trial_duration_s: float = 3.0

    def __post_init__(self) -> None:
        volumes = np.asarray(self.volumes_ul, dtype=float)
        probs = np.asarray(self.probabilities, dtype=float)
        if volumes.ndim != 1 or volumes.size == 0 or volumes.shape != probs.shape:
            raise InvalidArgumentError("volumes_ul and probabilities must be 1-D and of equal length")
        if np.any(probs < 0) or probs.sum() <= 0 or not np.all(np.isfinite(probs)):
            raise InvalidArgumentError("probabilities must be non-negative with a positive sum")
        if np.any(volumes < 0) or not np.all(np.isfinite(volumes)):
            raise InvalidArgumentError("reward volumes must be finite and non-negative (µl)")
        if not 0.0 <= self.cued_fraction <= 1.0:
            raise InvalidArgumentError(f"cued_fraction must be in [0, 1], got {self.cued_fraction}")
        if not 0.0 <= self.other_fraction < 1.0:
            raise InvalidArgumentError(f"other_fraction must be in [0, 1), got {self.other_fraction}")
        if int(self.n_delay_steps) < 1:
            raise InvalidArgumentError("n_delay_steps must be at least 1")
        if not 0.0 < self.discount <= 1.0:
            raise InvalidArgumentError(f"discount must be in (0, 1], got {self.discount}")
        if self.cue_reward_delay_s < 0 or self.iti_min_s <= 0 or self.iti_mean_extra_s < 0:
            raise InvalidArgumentError("task times must be non-negative (s)")
        if self.trial_duration_s <= self.cue_reward_delay_s or self.trial_duration_s > self.iti_min_s:
            raise InvalidArgumentError(
                "trial_duration_s must exceed cue_reward_delay_s and not exceed iti_min_s (trials must not overlap)")
        object.__setattr__(self, "volumes_ul", tuple(float(v) for v in volumes))
        object.__setattr__(self, "probabilities", tuple(float(p) for p in probs / probs.sum()))

    # ------------------------------------------------------------------------------- reward distribution
    @property
    def volumes(self) -> np.ndarray:
        """Reward sizes (µl) as an array."""
        return np.asarray(self.volumes_ul, dtype=float)

    @property
    def probs(self) -> np.ndarray:
        """Reward probabilities as an array (sum 1)."""
        return np.asarray(self.probabilities, dtype=float)

    @property
    def mean(self) -> float:
        """Mean reward (µl): what classic TD converges to."""
        return float(self.volumes @ self.probs)

    @property
    def variance(self) -> float:
        """Variance of the reward (µl²)."""
        return float(((self.volumes - self.mean) ** 2) @ self.probs)

    def expectile(self, tau) -> np.ndarray:
        """Exact ``tau``-expectiles of the reward distribution (µl), vectorised over ``tau``."""
        return expectile(self.volumes, tau, weights=self.probs)

    def quantile(self, tau) -> np.ndarray:
        """``tau``-quantiles (µl): the smallest reward size whose CDF reaches ``tau``."""
        return quantile(self.volumes, tau, weights=self.probs)

    def cdf(self, reward_ul) -> np.ndarray:
        """P(R <= reward) for each value of ``reward_ul`` (µl)."""
        reward_ul = np.asarray(reward_ul, dtype=float)
        return (self.volumes[None, :] <= reward_ul.reshape(-1, 1)).astype(float) @ self.probs

    # ----------------------------------------------------------------------------------------- sampling
    def sample_rewards(self, n: int, seed: int | np.random.Generator | None = None) -> np.ndarray:
        """Draw ``n`` reward sizes (µl) independently from the task distribution."""
        rng = as_generator(seed)
        return self.volumes[rng.choice(self.volumes.size, size=int(n), p=self.probs)]

    def sample_trials(self, n_trials: int, seed: int | np.random.Generator | None = None) -> pd.DataFrame:
        """Draw ``n_trials`` trials: ``reward_volume`` (µl; NaN on ``other`` trials) and ``trial_type``
        (``cued``/``uncued``/``other``), no times."""
        if int(n_trials) < 0:
            raise InvalidArgumentError(f"n_trials must be >= 0, got {n_trials}")
        rng = as_generator(seed)
        reward = self.sample_rewards(n_trials, rng)
        cued = rng.random(int(n_trials)) < self.cued_fraction
        trial_type = np.where(cued, "cued", "uncued").astype(object)
        if self.other_fraction > 0:
            other = rng.random(int(n_trials)) < self.other_fraction
            reward = np.where(other, np.nan, reward)
            trial_type[other] = "other"
        return pd.DataFrame({"reward_volume": reward, "trial_type": trial_type.astype(str)})

    def sample_session(self, n_trials: int, seed: int | np.random.Generator | None = None, *,
                       start_s: float = 5.0) -> pd.DataFrame:
        """Draw a session: ``n_trials`` trials with jittered onsets.

        Parameters
        ----------
        n_trials
            Number of trials.
        seed
            Random seed or generator.
        start_s
            Onset of the first trial (s after the session start).

        Returns
        -------
        pandas.DataFrame
            Columns ``start_time`` (odour onset for cued trials, reward time for uncued trials; s),
            ``stop_time`` (``start_time + trial_duration_s``), ``reward_time`` (s), ``reward_volume`` (µl) and
            ``trial_type``; index ``trial``. ``other`` trials have NaN ``reward_time`` and ``reward_volume``.
        """
        rng = as_generator(seed)
        trials = self.sample_trials(n_trials, rng)
        gaps = self.iti_min_s + rng.exponential(self.iti_mean_extra_s, size=int(n_trials))
        start = float(start_s) + np.concatenate([[0.0], np.cumsum(gaps[:-1])]) if n_trials else np.zeros(0)
        cued = trials["trial_type"].to_numpy() == "cued"
        table = pd.DataFrame({
            "start_time": start,
            "stop_time": start + self.trial_duration_s,
            "reward_time": np.where(np.isfinite(trials["reward_volume"].to_numpy()),
                                    start + np.where(cued, self.cue_reward_delay_s, 0.0), np.nan),
            "reward_volume": trials["reward_volume"].to_numpy(),
            "trial_type": trials["trial_type"].to_numpy(),
        })
        table.index = pd.RangeIndex(len(table), name="trial")
        return table

    # ------------------------------------------------------------------------------------ state chain
    @property
    def state_names(self) -> tuple[str, ...]:
        """TD states: ``cue``, ``delay_1`` ... ``delay_{n-1}``, ``reward_pending`` (the last one)."""
        n = int(self.n_delay_steps)
        if n == 1:
            return ("reward_pending",)
        return ("cue",) + tuple(f"delay_{k}" for k in range(1, n - 1)) + ("reward_pending",)

    @property
    def reward_state(self) -> int:
        """Index of ``reward_pending`` in :attr:`state_names`."""
        return int(self.n_delay_steps) - 1

    def state_path(self, trial_type: str) -> tuple[int, ...]:
        """State indices visited on a trial of ``trial_type`` before the reward (none for ``other``)."""
        if trial_type == "cued":
            return tuple(range(int(self.n_delay_steps)))
        if trial_type == "other":
            return ()
        return (self.reward_state,)
