"""Tests of the error-backpropagation baseline (neurorl.models.backprop)."""

from __future__ import annotations

import numpy as np
import pytest
from _numeric import central_difference

from neurorl.errors import InvalidArgumentError
from neurorl.models.backprop import BackpropMLP
from neurorl.models.training import train
from neurorl.tasks.classification import ClassificationTask


def _loss(x, labels, weights, biases, loss):
    h = x
    for index, (w, b) in enumerate(zip(weights, biases, strict=True)):
        z = h @ w + b
        h = np.maximum(z, 0.0) if index < len(weights) - 1 else z
    targets = np.eye(h.shape[1])[labels]
    if loss == "squared_error":
        return np.mean(0.5 * np.sum((h - targets) ** 2, axis=1))
    log_softmax = h - h.max(axis=1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(axis=1, keepdims=True))
    return -np.mean(log_softmax[np.arange(len(labels)), labels])


@pytest.mark.parametrize("loss", ["squared_error", "cross_entropy"])
def test_update_is_minus_gradient(loss):
    rng = np.random.default_rng(2)
    sizes = (6, 5, 4, 3)
    net = BackpropMLP(sizes, learning_rate=1.0, loss=loss, dtype="float64", seed=1, init_scale=0.5)
    for b in net.biases:
        b[:] = rng.uniform(0.05, 0.2, size=b.shape)
    x = rng.uniform(0, 1, size=(4, sizes[0]))
    labels = np.array([0, 2, 1, 2])
    weights0 = [w.copy() for w in net.weights]
    biases0 = [b.copy() for b in net.biases]
    net.forward(x)
    net.learn(None, None, labels)
    for layer in range(len(sizes) - 1):
        for arrays, after, which in ((weights0, net.weights, "weights"), (biases0, net.biases, "biases")):
            gradient = central_difference(lambda w, b: _loss(x, labels, w, b, loss), weights0, biases0, which,
                                          layer)
            update = after[layer] - arrays[layer]
            assert np.linalg.norm(gradient) > 1e-4
            # squared error is quadratic in one weight (exact central differences); cross-entropy is not
            tolerance = 1e-8 if loss == "squared_error" else 1e-6
            assert np.linalg.norm(update + gradient) / np.linalg.norm(gradient) < tolerance


def test_learns_a_separable_task_and_validates():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 8))
    labels = rng.integers(0, 3, size=300)
    task = ClassificationTask(np.abs(centres[labels] + 0.2 * rng.normal(size=(300, 8))), labels)
    history = train(BackpropMLP((8, 16, 3), seed=0, learning_rate=0.5), task, task, epochs=20, batch_size=10,
                    seed=0, desc=None)
    assert history["test_accuracy"].values[-1] > 0.95
    assert "alignment_angle" not in history
    with pytest.raises(InvalidArgumentError):
        BackpropMLP((4, 2), loss="hinge")


@pytest.mark.slow
def test_mnist_backprop_reaches_98_percent_in_10_epochs(mnist_tasks):
    net = BackpropMLP((784, 300, 100, 10), learning_rate=0.5, seed=0)
    history = train(net, *mnist_tasks, epochs=10, seed=0, desc=None)
    print("test accuracy per epoch:", history["test_accuracy"].values.round(4).tolist(),
          "seconds:", round(float(history["seconds"].sum()), 1))
    assert history["test_accuracy"].max() >= 0.98
