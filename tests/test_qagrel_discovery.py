"""Tests of Q-AGREL's class-discovery options (optimistic initial Q-values, recency bonus) and binary inputs."""

from __future__ import annotations

import numpy as np
import pytest

from neurorl.errors import InvalidArgumentError
from neurorl.models.paper_training import train_paper
from neurorl.models.qagrel import QAGREL
from neurorl.models.saving import load_model, save_model
from neurorl.pipelines.pozzi2018 import binarized
from neurorl.tasks.classification import ClassificationTask


def _blobs(n: int = 300, n_classes: int = 4, seed: int = 0) -> ClassificationTask:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    images = rng.random((n_classes, 8))[labels] + 0.1 * rng.random((n, 8))
    return ClassificationTask(images.astype(np.float32), labels, n_classes)


def test_defaults_are_the_papers_network():
    net = QAGREL((8, 5, 3), bias=False, seed=0)
    assert net.q_offset is None and net.action_age is None
    x = np.random.default_rng(1).random((4, 8), dtype=np.float32)
    h = np.maximum(x @ net.weights[0], 0)
    np.testing.assert_allclose(net.q_values(x), h @ net.weights[1], rtol=1e-6)


def test_optimistic_offset_starts_high_and_is_learned_on_the_chosen_action_only():
    net = QAGREL((8, 5, 3), bias=False, optimistic_q=1.0, learning_rate=0.5, seed=0, dtype="float64")
    x = np.random.default_rng(1).random((10, 8))
    plain = np.maximum(x @ net.weights[0], 0) @ net.weights[1]
    q = net.forward(x)
    np.testing.assert_allclose(q, plain + 1.0, rtol=1e-12)
    actions = np.array([2] * 10)
    delta = net.learn(actions, np.zeros(10))
    # Delta b_a = lr * sum(delta over trials choosing a) / n; other actions untouched
    np.testing.assert_allclose(net.q_offset, [1.0, 1.0, 1.0 + 0.5 * delta.mean()], rtol=1e-12)


def test_optimistic_values_make_the_greedy_choice_try_every_action_at_once():
    task = _blobs()
    net = QAGREL((8, 6, 4), bias=False, optimistic_q=1.0, epsilon=0.0, learning_rate=0.5, seed=3)
    tried = set()
    for begin in range(0, 40, 10):  # 4 batches of 10, greedy choices only
        x = task.stimuli[begin:begin + 10]
        actions = net.select(net.forward(x))
        net.learn(actions, task.reward(actions, task.labels[begin:begin + 10]))
        tried.update(actions.tolist())
    # a wrong choice lowers its action's offset below the untried ones (which stay at 1 + O(0.05 * |h|))
    assert tried == {0, 1, 2, 3}


def test_recency_bonus_picks_actions_not_chosen_for_a_while():
    net = QAGREL((2, 3, 3), bias=False, epsilon=0.0, recency_bonus=1.0, recency_window=2, seed=0)
    q = np.array([[0.6, 0.0, 0.0]])
    net.action_age[:] = 0  # everything just chosen: no bonus
    assert net.select(q).tolist() == [0]
    assert net.action_age.tolist() == [0, 1, 1]
    # action 0 has no bonus, actions 1 and 2 have 1 * 1/2 = 0.5 < 0.6: still 0
    assert net.select(q).tolist() == [0]
    # ages now [0, 2, 2]: bonus 1.0 > 0.6 for actions 1 and 2 (ties go to the first)
    assert net.select(q).tolist() == [1]
    assert net.action_age.tolist() == [1, 0, 3]


def test_options_survive_saving_and_checkpoints(tmp_path):
    task = _blobs()
    net = QAGREL((8, 6, 4), bias=False, optimistic_q=0.8, recency_bonus=0.3, recency_window=4, seed=1)
    train_paper(net, task, None, seed=0, max_epochs=2, batch_size=20, n_validation=40, blas_threads=None)
    loaded = load_model(save_model(net, tmp_path / "m.npz"))
    assert (loaded.optimistic_q, loaded.recency_bonus, loaded.recency_window) == (0.8, 0.3, 4)
    np.testing.assert_array_equal(loaded.q_offset, net.q_offset)
    np.testing.assert_array_equal(loaded.action_age, net.action_age)
    np.testing.assert_array_equal(loaded.q_values(task.stimuli), net.q_values(task.stimuli))
    # resuming from a checkpoint gives the uninterrupted run (offset and ages are part of the state)
    options = dict(bias=False, optimistic_q=0.8, recency_bonus=0.3, recency_window=4, seed=1)
    settings = dict(seed=0, max_epochs=6, batch_size=20, n_validation=40, validate_every=1, n_equal=99,
                    blas_threads=None)
    whole = train_paper(QAGREL((8, 6, 4), **options), task, None, **settings)

    class Interrupted(QAGREL):
        calls = 0

        def forward(self, x):
            Interrupted.calls += 1
            if Interrupted.calls > 3 * 13 + 5:  # 13 batches per epoch: dies in epoch 4
                raise KeyboardInterrupt
            return super().forward(x)

    with pytest.raises(KeyboardInterrupt):
        train_paper(Interrupted((8, 6, 4), **options), task, None, checkpoint=tmp_path / "c.npz", **settings)
    resumed = train_paper(QAGREL((8, 6, 4), **options), task, None, checkpoint=tmp_path / "c.npz", **settings)
    cols = ["epoch", "train_reward", "validation_accuracy"]
    assert resumed.history[cols].equals(whole.history[cols])
    assert resumed.class_counts.equals(whole.class_counts)


@pytest.mark.parametrize("kwargs", [{"recency_bonus": -1.0}, {"recency_window": 0}, {"optimistic_q": np.nan}])
def test_bad_options_are_refused(kwargs):
    with pytest.raises(InvalidArgumentError):
        QAGREL((4, 3, 2), **kwargs)


def test_binarized_images_are_zero_or_one_at_the_threshold():
    task = ClassificationTask(np.array([[0.0, 0.5, 0.51, 1.0]], dtype=np.float32), np.array([1]), 2)
    out = binarized(task, 0.5)
    assert out.stimuli.tolist() == [[0.0, 0.0, 1.0, 1.0]]
    assert out.labels.tolist() == [1] and out.n_classes == 2


def test_plot_class_counts_draws_the_fractions():
    import pandas as pd

    from neurorl.plotting.qagrel import plot_class_counts
    counts = pd.DataFrame({"epoch": [1, 2], "presented_0": [10, 10], "presented_1": [30, 30],
                           "selected_0": [0, 12], "selected_1": [40, 28], "correct_0": [0, 9],
                           "correct_1": [30, 27]})
    ax = plot_class_counts(counts, "selected")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [0.0, 0.3])   # 12 of 40 trials chose class 0
    ax = plot_class_counts(counts, "correct")
    np.testing.assert_allclose(ax.lines[1].get_ydata(), [1.0, 0.9])   # 27 of 30 class-1 trials right
    with pytest.raises(ValueError):
        plot_class_counts(counts, "other")
