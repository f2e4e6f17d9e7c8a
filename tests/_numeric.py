"""Central-difference gradients for the tests of the networks' learning rules."""

from __future__ import annotations

import numpy as np


def central_difference(loss, weights, biases, which: str, layer: int, step: float = 1e-5) -> np.ndarray:
    """Gradient of ``loss(weights, biases)`` with respect to ``weights[layer]`` or ``biases[layer]``.

    ``which`` is ``"weights"`` or ``"biases"``; each entry is perturbed by ``±step`` on a copy.
    """
    arrays = weights if which == "weights" else biases
    gradient = np.zeros_like(arrays[layer])
    for index in np.ndindex(gradient.shape):
        plus = [a.copy() for a in arrays]
        minus = [a.copy() for a in arrays]
        plus[layer][index] += step
        minus[layer][index] -= step
        if which == "weights":
            gradient[index] = (loss(plus, biases) - loss(minus, biases)) / (2 * step)
        else:
            gradient[index] = (loss(weights, plus) - loss(weights, minus)) / (2 * step)
    return gradient
