"""Error-backpropagation baseline on the same ReLU network as :class:`~neurorl.models.qagrel.QAGREL`.

Supervised learning with the label known on every trial. As in Pozzi, Bohte & Roelfsema, the default loss is
the squared error on *all* outputs against one-hot targets, ``1/2 sum_k (q_k - t_k)^2``; ``loss="cross_entropy"``
uses the softmax cross-entropy instead. Updates are plain stochastic gradient descent, averaged over the batch.

``feedback="fixed"`` is feedback alignment (Lillicrap et al. 2016; the paper's "Feedback alignment" errorBP rows):
the errors travel down through fixed random matrices ``B_l``, drawn like the weights from U(-init_scale,
init_scale), instead of the transposed feedforward weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from ..errors import InvalidArgumentError
from ._mlp import INIT_SCALE, ReluMLP

__all__ = ["BackpropMLP", "LOSSES", "BACKPROP_FEEDBACK_MODES"]

LOSSES: tuple[str, ...] = ("squared_error", "cross_entropy")

#: ``"symmetric"``: exact backpropagation; ``"fixed"``: feedback alignment (fixed random feedback weights).
BACKPROP_FEEDBACK_MODES: tuple[str, ...] = ("symmetric", "fixed")


class BackpropMLP(ReluMLP):
    """ReLU MLP trained by error backpropagation (SGD).

    Parameters
    ----------
    layer_sizes
        Units per layer, input first, one output per class last.
    learning_rate
        SGD step size; the gradient is averaged over the batch.
    loss
        ``"squared_error"`` (default, as in the paper) or ``"cross_entropy"``.
    bias, init_scale, dtype, seed
        As for :class:`~neurorl.models.qagrel.QAGREL`.
    feedback
        ``"symmetric"`` (default: exact gradients) or ``"fixed"`` (feedback alignment: errors are sent down
        through fixed random weights drawn after the feedforward weights from the same generator).

    Examples
    --------
    >>> import numpy as np
    >>> net = BackpropMLP((4, 8, 3), seed=0)
    >>> q = net.forward(np.ones((2, 4), dtype="float32"))
    >>> loss = net.learn(net.select(q), rewards=None, labels=np.array([0, 2]))
    >>> loss.shape
    (2,)
    """

    def __init__(self, layer_sizes: Sequence[int], *, learning_rate: float = 0.5,
                 loss: Literal["squared_error", "cross_entropy"] = "squared_error", bias: bool = True,
                 init_scale: float = INIT_SCALE, dtype: str | np.dtype = "float32",
                 seed: int | np.random.Generator | None = None,
                 feedback: Literal["symmetric", "fixed"] = "symmetric") -> None:
        if feedback not in BACKPROP_FEEDBACK_MODES:
            raise InvalidArgumentError(f"feedback must be one of {BACKPROP_FEEDBACK_MODES}, got {feedback!r}")
        if loss not in LOSSES:
            raise InvalidArgumentError(f"loss must be one of {LOSSES}, got {loss!r}")
        if not learning_rate > 0:
            raise InvalidArgumentError(f"learning_rate must be > 0, got {learning_rate}")
        super().__init__(layer_sizes, bias=bias, init_scale=init_scale, dtype=dtype, seed=seed)
        self.learning_rate = float(learning_rate)
        self.loss = loss
        self.feedback = feedback
        if feedback == "symmetric":
            self.feedback_weights = [None] + self.weights[1:]
        else:
            self.feedback_weights = [None] + [
                self.rng.uniform(-init_scale, init_scale, size=w.shape).astype(self.dtype) for w in self.weights[1:]]

    def select(self, q_values: np.ndarray, rng: np.random.Generator | None = None) -> np.ndarray:
        """Greedy choice (the class with the largest output)."""
        return np.argmax(q_values, axis=1)

    def learn(self, actions: np.ndarray | None, rewards: np.ndarray | None, labels: np.ndarray,
              learning_rate: float | None = None) -> np.ndarray:
        """One SGD step on the last :meth:`forward` batch given the true ``labels``; returns per-trial loss."""
        q = self._last_outputs()
        labels = np.asarray(labels)
        n = q.shape[0]
        rows = np.arange(n)
        if self.loss == "squared_error":
            error = -q  # error = t - q: minus the gradient of 1/2 sum (q - t)^2 w.r.t. q
            error[rows, labels] += 1
            per_trial = 0.5 * np.einsum("ij,ij->i", error, error)
        else:
            shifted = q - q.max(axis=1, keepdims=True)
            probs = np.exp(shifted)
            probs /= probs.sum(axis=1, keepdims=True)
            per_trial = -np.log(np.maximum(probs[rows, labels], np.finfo(q.dtype).tiny))
            error = -probs
            error[rows, labels] += 1
        signals = self._backward(error.astype(self.dtype, copy=False), self.feedback_weights)
        lr = self.learning_rate if learning_rate is None else float(learning_rate)
        self._apply(signals, lr / n, [[w] for w in self.weights])
        return per_trial

    def get_params(self) -> dict:
        params = super().get_params()
        params.update(rule="backprop", loss=self.loss, learning_rate=self.learning_rate, feedback=self.feedback)
        return params
