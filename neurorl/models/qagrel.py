"""Q-AGREL: attention-gated reinforcement learning in deep networks (Pozzi, Bohte & Roelfsema).

The network sees a stimulus, computes one Q-value (expected reward) per action, chooses one action by
max-Boltzmann selection and receives a reward ``r``. Learning uses four factors that are all locally available
at a synapse from unit ``i`` (layer ``l-1``) to unit ``j`` (layer ``l``):

* presynaptic activity ``h_{l-1, i}``;
* postsynaptic "attention" (feedback) activity ``g_{l, j}``: the chosen output unit is set to 1 and all others to
  0 (``g_L = onehot(a)``); this activity travels down through a separate feedback network with weights ``F_l``
  and is gated by each unit's ReLU, ``g_{l-1} = (F_l g_l) * relu'(z_{l-1})``;
* the global reward-prediction error ``delta = r - q_a`` (a neuromodulator such as dopamine);
* the learning rate.

``Delta W_l[i, j] = lr * mean_over_batch(delta * h_{l-1, i} * g_{l, j})`` and the same for the biases
(presynaptic activity 1). The feedback synapse carrying ``g_{l,j}`` back to unit ``i`` sees the same four
factors and, unless feedback is ``fixed``, changes by the same amount. With ``symmetric`` feedback (``F_l =
W_l``) the update is exactly minus the gradient of ``1/2 delta^2`` for the chosen action with respect to every
weight, i.e. error backpropagation restricted to the one output that was chosen.

Feedback modes
--------------
``"symmetric"``
    The feedback weights are the feedforward weights (one shared array).
``"random"``
    Feedback weights drawn independently from the same distribution and learned with the same local rule; the
    common increments make them align with the feedforward weights during learning.
``"fixed"``
    Feedback alignment: random feedback weights that never change.

Stability of feedback alignment
-------------------------------
With ``fixed`` feedback the hidden-layer updates are not gradient steps until the feedforward weights have come to
align with the feedback weights, and they let the hidden activity grow. The output layer learns by the delta rule
on the chosen unit, which is stable only while ``lr * lambda_max < 2``, where ``lambda_max`` is the largest
eigenvalue of ``(1/n) sum_{trials choosing a} h h^T`` (``h``: last hidden layer plus the bias input). On
784-300-10 this quantity starts at 0.83 for lr 0.5 (``|h|^2`` about 9); under feedback alignment ``|h|^2`` grows
(9 -> 19 -> 60 over the first 55 batches, seed 0) while one class takes most choices, ``lr * lambda_max`` exceeds 2
on most batches from about batch 20 and reaches 9 at batch 50; from batch 57 the Q-values exceed 500 and the
weights soon overflow. With symmetric feedback the same quantity falls to 0.5-0.7 by batch 40 as the hidden
layer learns. On 784-300-100-10 the last hidden layer starts with ``|h|^2`` about 0.4 and feedback alignment is
stable at lr 0.5. Measured on MNIST (seed 0, 10 epochs, batch 100; test accuracy at the epoch of the best
validation accuracy):

==================  ========  ========  ========  =============================================
network             lr 0.05   lr 0.1    lr 0.2    lr 0.5
==================  ========  ========  ========  =============================================
784-300-10          93.2 %    94.9 %    95.2 %    diverges in epoch 1 (seeds 0-2; also at lr 0.4,
                                                  while lr 0.3 learns: 94.0-94.5 % after 3 epochs)
784-300-100-10      86.8 %    91.5 %    93.5 %    95.0 %
==================  ========  ========  ========  =============================================

A diverging run is stopped and reported by :func:`neurorl.models.training.train` (``diverged = 1``).
An independent per-trial implementation of the same rule gives the same updates (to rounding) and the same
divergence, so this is a property of feedback alignment at that step size, not a defect of the code.

Defaults for what the paper leaves open: exploration probability ``epsilon = 0.02`` and Boltzmann temperature
``1`` (in units of reward).

Faster class discovery (options beyond the paper)
-------------------------------------------------
The paper's discussion: "First, it is possible to initialize the Q-values of all actions at higher values, which
should increase the network's tendency to sample all actions from the start. Second, the action selection
mechanism could be modified to increase the probability of selecting actions that have not been sampled for a
while." Both are options here, off by default (the paper's network):

``optimistic_q``
    A learned offset ``b`` added to every Q-value, ``q = W h + b``, starting at ``optimistic_q`` for every action
    (reward units; 1 is the reward of a correct choice) and learned like a bias of the chosen output only
    (``Delta b_a = lr * mean(delta)`` over the trials that chose ``a``). Wrong choices pull their action's value
    down, so the greedy choice moves on to actions not yet tried, as in optimistic initialisation of tabular
    Q-learning. The offset is the output bias when the network has biases.
``recency_bonus``, ``recency_window``
    Selection (not learning) adds ``recency_bonus * min(age_a / recency_window, 1)`` to ``q_a``, where ``age_a``
    counts the batches (calls of :meth:`QAGREL.select`) since action ``a`` was last chosen on any trial; the
    reward-prediction error still uses the unbonused ``q_a``. An action left alone for ``recency_window``
    batches gets the full bonus.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from ..errors import InvalidArgumentError
from ._mlp import INIT_SCALE, ReluMLP, angle_degrees, max_boltzmann

__all__ = ["QAGREL", "FEEDBACK_MODES"]

FEEDBACK_MODES: tuple[str, ...] = ("symmetric", "random", "fixed")

Feedback = Literal["symmetric", "random", "fixed"]


class QAGREL(ReluMLP):
    """Q-AGREL network: ReLU MLP with a linear Q-value output trained by reward alone.

    Parameters
    ----------
    layer_sizes
        Units per layer, input first and output (one unit per action) last, e.g. ``(784, 300, 100, 10)``.
    feedback
        ``"symmetric"``, ``"random"`` or ``"fixed"`` (see the module docstring).
    learning_rate
        Step size of the four-factor rule; the update is averaged over the batch.
    epsilon
        Probability of exploring (Boltzmann draw instead of the greedy action); default 0.02.
    temperature
        Boltzmann temperature of exploratory draws (reward units); default 1.
    bias
        Whether units have biases (learned with presynaptic activity 1).
    init_scale
        Initial feedforward and feedback weights are uniform in ``[-init_scale, init_scale]`` (default 0.05).
    dtype
        ``"float32"`` (default) or ``"float64"``.
    seed
        Seed or generator; it draws the initial weights and later the exploratory actions.
    optimistic_q
        Initial value of a learned offset added to every Q-value (reward units; default 0: none, the paper's
        network). See "Faster class discovery" in the module docstring.
    recency_bonus
        Bonus (reward units) added at selection to actions not chosen for ``recency_window`` batches, in
        proportion to the batches since they were last chosen (default 0: none, the paper's selection).
    recency_window
        Batches after which an unchosen action gets the full bonus (default 10; assumed).

    Attributes
    ----------
    weights : list of numpy.ndarray
        Feedforward weights, ``weights[l]`` of shape ``(n_l, n_{l+1})``.
    feedback_weights : list of numpy.ndarray or None
        ``feedback_weights[l]`` carries attention from layer ``l+1`` back to layer ``l`` (same shape as
        ``weights[l]``); ``None`` for the first layer, whose inputs need no feedback. In ``symmetric`` mode these
        are the very same arrays as ``weights``.

    Examples
    --------
    >>> import numpy as np
    >>> net = QAGREL((4, 8, 3), seed=0)
    >>> q = net.forward(np.ones((2, 4), dtype="float32"))
    >>> actions = net.select(q)
    >>> delta = net.learn(actions, rewards=np.array([1.0, 0.0]))  # reward-prediction errors r - q_a
    >>> q.shape, delta.shape
    ((2, 3), (2,))
    """

    def __init__(self, layer_sizes: Sequence[int], *, feedback: Feedback = "symmetric",
                 learning_rate: float = 0.5, epsilon: float = 0.02, temperature: float = 1.0,
                 bias: bool = True, init_scale: float = INIT_SCALE, dtype: str | np.dtype = "float32",
                 seed: int | np.random.Generator | None = None, optimistic_q: float = 0.0,
                 recency_bonus: float = 0.0, recency_window: int = 10) -> None:
        if feedback not in FEEDBACK_MODES:
            raise InvalidArgumentError(f"feedback must be one of {FEEDBACK_MODES}, got {feedback!r}")
        if not 0.0 <= epsilon <= 1.0:
            raise InvalidArgumentError(f"epsilon must be in [0, 1], got {epsilon}")
        if not temperature > 0:
            raise InvalidArgumentError(f"temperature must be > 0, got {temperature}")
        if not learning_rate > 0:
            raise InvalidArgumentError(f"learning_rate must be > 0, got {learning_rate}")
        if not np.isfinite(optimistic_q):
            raise InvalidArgumentError(f"optimistic_q must be finite, got {optimistic_q}")
        if not (np.isfinite(recency_bonus) and recency_bonus >= 0):
            raise InvalidArgumentError(f"recency_bonus must be >= 0, got {recency_bonus}")
        if int(recency_window) != recency_window or recency_window < 1:
            raise InvalidArgumentError(f"recency_window must be an integer >= 1, got {recency_window}")
        super().__init__(layer_sizes, bias=bias, init_scale=init_scale, dtype=dtype, seed=seed)
        self.feedback = feedback
        self.learning_rate = float(learning_rate)
        self.epsilon = float(epsilon)
        self.temperature = float(temperature)
        if feedback == "symmetric":
            self.feedback_weights = [None] + self.weights[1:]
        else:
            self.feedback_weights = [None] + [
                self.rng.uniform(-init_scale, init_scale, size=w.shape).astype(self.dtype)
                for w in self.weights[1:]]
        self.optimistic_q = float(optimistic_q)
        self.recency_bonus = float(recency_bonus)
        self.recency_window = int(recency_window)
        if self.optimistic_q != 0.0:
            if self.biases is not None:
                self.biases[-1][:] = self.optimistic_q
            else:
                self.q_offset = np.full(self.layer_sizes[-1], self.optimistic_q, dtype=self.dtype)
        #: Batches since each action was last chosen (only with a recency bonus); starts at the full window.
        self.action_age: np.ndarray | None = (
            np.full(self.layer_sizes[-1], self.recency_window, dtype=np.int64) if self.recency_bonus > 0 else None)
        if feedback == "random":
            self._targets = [[self.weights[0]]] + [[w, f] for w, f in
                                                    zip(self.weights[1:], self.feedback_weights[1:], strict=True)]
        else:
            self._targets = [[w] for w in self.weights]

    def select(self, q_values: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Max-Boltzmann choice of one action per row of ``q_values`` (uses the network's generator).

        With a recency bonus the choice is made on the bonused values and the actions' ages are updated.
        """
        if self.action_age is None:
            return max_boltzmann(q_values, self.rng if rng is None else rng, self.epsilon, self.temperature)
        bonus = self.recency_bonus * np.minimum(self.action_age / self.recency_window, 1.0)
        actions = max_boltzmann(np.asarray(q_values) + bonus.astype(self.dtype), self.rng if rng is None else rng,
                                self.epsilon, self.temperature)
        self.action_age += 1
        self.action_age[actions] = 0
        return actions

    def learn(self, actions: np.ndarray, rewards: np.ndarray, labels: np.ndarray | None = None,
              learning_rate: float | None = None) -> np.ndarray:
        """Apply the four-factor update for the trials of the last :meth:`forward` call.

        Parameters
        ----------
        actions
            ``(n,)`` chosen actions.
        rewards
            ``(n,)`` rewards received.
        labels
            Ignored (Q-AGREL learns from reward only); accepted so that training loops can treat Q-AGREL and
            the supervised baseline alike.
        learning_rate
            Overrides the network's learning rate for this update (used for the learning-rate drop).

        Returns
        -------
        numpy.ndarray
            ``(n,)`` reward-prediction errors ``delta = r - q_a``.
        """
        q = self._last_outputs()
        actions = np.asarray(actions)
        n = q.shape[0]
        rows = np.arange(n)
        delta = np.asarray(rewards, dtype=self.dtype) - q[rows, actions]
        # Output attention: the chosen unit only; the RPE is folded in here (it is a scalar per trial).
        signal = np.zeros_like(q)
        signal[rows, actions] = delta
        signals = self._backward(signal, self.feedback_weights)
        lr = self.learning_rate if learning_rate is None else float(learning_rate)
        self._apply(signals, lr / n, self._targets)
        if self.q_offset is not None:
            self.q_offset += (lr / n) * signal.sum(axis=0)
        return delta

    def alignment_angles(self) -> np.ndarray:
        """Angle (degrees) between feedback and feedforward weights of layers 2..L (0 when symmetric)."""
        return np.array([angle_degrees(w, f) for w, f in zip(self.weights[1:], self.feedback_weights[1:], strict=True)])

    def get_params(self) -> dict:
        params = super().get_params()
        params.update(rule="qagrel", feedback=self.feedback, learning_rate=self.learning_rate,
                      epsilon=self.epsilon, temperature=self.temperature, optimistic_q=self.optimistic_q,
                      recency_bonus=self.recency_bonus, recency_window=self.recency_window)
        return params
