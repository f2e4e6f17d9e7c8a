"""Shared machinery of the fully connected ReLU networks used by Q-AGREL and its backprop baseline.

A network with layer sizes ``(n_0, n_1, ..., n_L)`` has weight matrices ``W_l`` of shape ``(n_{l-1}, n_l)``
(row: presynaptic unit, column: postsynaptic unit) and optional biases ``b_l`` of shape ``(n_l,)``.
Hidden units are rectified linear, the ``n_L`` output units are linear (they code Q-values). Batches are
rows: ``h_l = relu(h_{l-1} @ W_l + b_l)``. All arithmetic is BLAS matrix products in the network's ``dtype``
(float32 by default). Two exact shortcuts keep an MNIST epoch fast: weight updates are single in-place ``gemm``
calls (``W += step * h.T @ g`` without temporaries), and when most inputs are zero on every trial of a batch (the
blank border of MNIST digits) the first layer computes with, and updates, only the weight rows of the active
inputs. Both give the same numbers as the plain formulas up to float rounding.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.linalg import blas as _blas

from ..errors import InvalidArgumentError

__all__ = ["ReluMLP", "max_boltzmann", "angle_degrees"]

#: Default half-width of the uniform weight initialisation, U(-0.05, 0.05) as in Pozzi et al.
INIT_SCALE = 0.05

#: The first layer works on the active inputs only when at most this fraction of the inputs is non-zero somewhere
#: in the batch (MNIST: about 0.66 for batches of 100; the gather and scatter of weight rows costs more above).
SPARSE_INPUT_FRACTION = 0.85

_GEMM = {np.dtype(np.float32): _blas.sgemm, np.dtype(np.float64): _blas.dgemm}


def _add_outer_product(target: np.ndarray, pre: np.ndarray, post: np.ndarray, step: float) -> None:
    """``target += step * pre.T @ post`` in place: one BLAS ``gemm`` call with ``beta = 1``, no temporary.

    ``target`` (C-ordered) is handed to BLAS as its Fortran-ordered transpose, ``target.T += step * post.T @ pre``.
    """
    if target.size == 0:
        return
    gemm = _GEMM.get(target.dtype)
    if gemm is None or not target.flags.c_contiguous or pre.dtype != target.dtype or post.dtype != target.dtype:
        target += step * (pre.T @ post)
        return
    result = gemm(step, post.T, pre.T, beta=1.0, c=target.T, trans_b=1, overwrite_c=1)
    if not np.shares_memory(result, target):  # BLAS worked on a copy (not expected for contiguous arrays)
        target[...] = result.T


def angle_degrees(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (degrees) between two weight arrays seen as flat vectors; 0 means parallel."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    norm = np.linalg.norm(a) * np.linalg.norm(b)
    if norm == 0.0:
        return float("nan")
    cosine = np.clip(np.dot(a, b) / norm, -1.0, 1.0)
    return float(np.degrees(np.arccos(cosine)))


def max_boltzmann(q_values: np.ndarray, rng: np.random.Generator, epsilon: float = 0.02,
                  temperature: float = 1.0) -> np.ndarray:
    """Max-Boltzmann action selection, one action per row of ``q_values``.

    With probability ``1 - epsilon`` the action with the largest Q-value is taken; otherwise an action is
    drawn from the Boltzmann (softmax) distribution ``p_k ~ exp(q_k / temperature)``.

    Parameters
    ----------
    q_values
        ``(n_trials, n_actions)`` Q-values (expected reward).
    rng
        Random number generator.
    epsilon
        Exploration probability, in [0, 1].
    temperature
        Softmax temperature (same units as the Q-values), > 0.

    Returns
    -------
    numpy.ndarray
        ``(n_trials,)`` chosen action indices (int64).
    """
    actions = np.argmax(q_values, axis=1)
    if epsilon <= 0.0:
        return actions
    explore = rng.random(actions.shape[0]) < epsilon
    n_explore = int(explore.sum())
    if n_explore:
        logits = q_values[explore].astype(np.float64) / temperature
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        cumulative = np.cumsum(probs, axis=1)
        draws = rng.random(n_explore) * cumulative[:, -1]
        chosen = (cumulative < draws[:, None]).sum(axis=1)
        actions[explore] = np.minimum(chosen, q_values.shape[1] - 1)
    return actions


class ReluMLP:
    """Fully connected network: ReLU hidden layers, linear output layer.

    Parameters
    ----------
    layer_sizes
        Units per layer, input first and output last, e.g. ``(784, 300, 100, 10)``.
    bias
        Whether units have a bias (initialised to zero).
    init_scale
        Weights are drawn uniformly from ``[-init_scale, init_scale]``.
    dtype
        ``"float32"`` (default, fast) or ``"float64"`` (for exact checks).
    seed
        Seed or generator for the initial weights.

    Attributes
    ----------
    sparse_inputs : bool
        Skip inputs that are zero on every trial of a training batch (default True; exact up to rounding).
    """

    def __init__(self, layer_sizes: Sequence[int], *, bias: bool = True, init_scale: float = INIT_SCALE,
                 dtype: str | np.dtype = "float32", seed: int | np.random.Generator | None = None) -> None:
        sizes = tuple(int(n) for n in layer_sizes)
        if len(sizes) < 2 or min(sizes) < 1:
            raise InvalidArgumentError(f"layer_sizes must list at least an input and an output size, all >= 1; "
                                       f"got {tuple(layer_sizes)}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise InvalidArgumentError(f"dtype must be float32 or float64, got {dtype}")
        if not init_scale > 0:
            raise InvalidArgumentError(f"init_scale must be > 0, got {init_scale}")
        self.layer_sizes = sizes
        self.bias = bool(bias)
        self.init_scale = float(init_scale)
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.weights: list[np.ndarray] = [
            rng.uniform(-init_scale, init_scale, size=(n_in, n_out)).astype(self.dtype)
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        ]
        self.biases: list[np.ndarray] | None = (
            [np.zeros(n_out, dtype=self.dtype) for n_out in sizes[1:]] if self.bias else None)
        self.sparse_inputs = True
        #: Learned offset added to every output (``None``: none); Q-AGREL's optimistic initial Q-values.
        self.q_offset: np.ndarray | None = None
        self._activations: list[np.ndarray] = []
        self._first_layer: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def n_layers(self) -> int:
        """Number of weight layers (hidden layers + 1)."""
        return len(self.weights)

    @property
    def n_outputs(self) -> int:
        return self.layer_sizes[-1]

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Q-values ``(n, n_outputs)`` for inputs ``x`` ``(n, n_inputs)``; keeps the activities for learning."""
        x = self._check_inputs(x)
        columns = None
        if self.sparse_inputs:
            active = np.flatnonzero(x.any(axis=0))
            if len(active) <= SPARSE_INPUT_FRACTION * x.shape[1]:
                columns = active
        if columns is None:
            self._first_layer = None
            self._activations = self._propagate(x, self.weights[0])
        else:
            # Inputs that are zero on every trial of the batch add nothing to the first layer's input and get no
            # weight change: work on the weight rows of the active inputs only (same sums, fewer operations).
            gathered = self.weights[0][columns]
            self._first_layer = (columns, gathered)
            self._activations = self._propagate(x[:, columns], gathered)
        return self._activations[-1]

    def _check_inputs(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.layer_sizes[0]:
            raise InvalidArgumentError(f"inputs must have shape (n, {self.layer_sizes[0]}), got {x.shape}")
        return x if x.dtype == self.dtype else x.astype(self.dtype)

    def _propagate(self, x: np.ndarray, first_weights: np.ndarray) -> list[np.ndarray]:
        """Activities of every layer, input first, with ``first_weights`` as the first layer's weights."""
        activations = [x]
        h = x
        last = self.n_layers - 1
        for index in range(self.n_layers):
            z = h @ (first_weights if index == 0 else self.weights[index])
            if self.biases is not None:
                z += self.biases[index]
            if index == last and self.q_offset is not None:
                z += self.q_offset
            if index < last:
                np.maximum(z, 0, out=z)
            activations.append(z)
            h = z
        return activations

    def _last_outputs(self) -> np.ndarray:
        """Outputs of the last :meth:`forward` batch (the state :meth:`learn` works on)."""
        if not self._activations:
            raise InvalidArgumentError("call forward() before learn()")
        return self._activations[-1]

    def q_values(self, x: np.ndarray, chunk: int = 5000) -> np.ndarray:
        """Q-values for many inputs, computed in chunks, without touching the learning state."""
        x = self._check_inputs(x)
        return np.concatenate([self._propagate(x[i:i + chunk], self.weights[0])[-1]
                               for i in range(0, len(x), chunk)], axis=0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Greedy class choice (argmax of the Q-values) for each row of ``x``."""
        return np.argmax(self.q_values(x), axis=1)

    def _backward(self, output_signal: np.ndarray, feedback: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Per-layer postsynaptic signals ``g_l`` given the output-layer signal.

        ``g_L = output_signal``; ``g_{l-1} = (g_l @ F_l.T) * relu'(z_{l-1})`` with ``F_l = feedback[l]``.
        """
        signals = [output_signal]
        g = output_signal
        for index in range(self.n_layers - 1, 0, -1):
            g = g @ feedback[index].T
            g *= self._activations[index] > 0
            signals.append(g)
        signals.reverse()
        return signals

    def _apply(self, signals: Sequence[np.ndarray], step: float, targets: Sequence[Sequence[np.ndarray]]) -> None:
        """Add ``step * h_{l-1}.T @ g_l`` to every array in ``targets[l]`` (weights, then biases).

        ``targets[0]`` must be ``[self.weights[0]]`` (the first layer has no feedback weights).
        """
        for index, g in enumerate(signals):
            pre = self._activations[index]
            arrays = targets[index]
            if index == 0 and self._first_layer is not None:
                columns, gathered = self._first_layer
                _add_outer_product(gathered, pre, g, step)
                arrays[0][columns] = gathered
            elif len(arrays) == 1:
                _add_outer_product(arrays[0], pre, g, step)
            else:  # random feedback: the same increment for the feedforward and the feedback weights
                increment = pre.T @ g
                increment *= step
                for array in arrays:
                    array += increment
        if self.biases is not None:
            for index, g in enumerate(signals):
                self.biases[index] += step * g.sum(axis=0)

    def get_params(self) -> dict:
        return {"layer_sizes": self.layer_sizes, "bias": self.bias, "init_scale": self.init_scale,
                "dtype": self.dtype.name}
