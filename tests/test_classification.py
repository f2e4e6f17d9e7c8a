"""Tests of the trial-and-error classification task (neurorl.tasks.classification)."""

from __future__ import annotations

import numpy as np
import pytest

from neurorl.errors import InvalidArgumentError
from neurorl.tasks.classification import ClassificationTask


def test_reward_is_one_for_the_right_class_only():
    task = ClassificationTask(np.zeros((5, 2, 3)), np.array([0, 1, 2, 3, 1]))
    assert task.n_classes == 4 and task.n_inputs == 6 and len(task) == 5
    np.testing.assert_array_equal(task.reward(np.array([0, 0, 2, 1, 1]), task.labels), [1, 0, 1, 0, 1])
    assert task.stimuli.dtype == np.float32


def test_batches_cover_every_trial_once_in_random_order():
    images = np.arange(23, dtype=float)[:, None] * np.ones((1, 4))
    task = ClassificationTask(images, np.arange(23) % 3)
    seen = []
    for stimuli, labels in task.batches(5, np.random.default_rng(0)):
        assert len(stimuli) <= 5
        np.testing.assert_array_equal(stimuli[:, 0].astype(int) % 3, labels)
        seen.extend(stimuli[:, 0].astype(int))
    assert sorted(seen) == list(range(23))
    assert seen != list(range(23))
    again = [s[:, 0].astype(int).tolist() for s, _ in task.batches(5, np.random.default_rng(0))]
    assert sum(again, []) == seen


def test_subset_and_validation():
    task = ClassificationTask(np.ones((4, 2)), np.array([0, 1, 2, 1]), n_classes=5)
    sub = task.subset(np.array([1, 3]))
    assert sub.n_classes == 5 and sub.labels.tolist() == [1, 1]
    with pytest.raises(InvalidArgumentError):
        ClassificationTask(np.ones((3, 2)), np.array([0, 1]))
    with pytest.raises(InvalidArgumentError):
        ClassificationTask(np.ones((2, 2)), np.array([0, 5]), n_classes=3)
    with pytest.raises(InvalidArgumentError):
        ClassificationTask(np.ones((2, 2)), np.array([0.5, 1.0]))
    with pytest.raises(InvalidArgumentError):
        next(task.batches(0, np.random.default_rng(0)))
