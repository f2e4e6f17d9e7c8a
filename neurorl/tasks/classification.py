"""Trial-and-error classification: an image is shown, the agent picks a class, reward 1 if right, else 0.

Works with any labelled image set (MNIST, Fashion-MNIST, ...): images are flattened to vectors. The task only
knows the stimuli and the reward rule; learning agents live in :mod:`neurorl.models`.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from ..errors import InvalidArgumentError

__all__ = ["ClassificationTask"]


class ClassificationTask:
    """A labelled image set cast as a direct-reward task.

    Parameters
    ----------
    images
        ``(n, ...)`` stimuli (e.g. ``(n, 28, 28)`` pixel intensities in [0, 1]); flattened to ``(n, d)``.
    labels
        ``(n,)`` integer class labels ``0 .. n_classes-1``.
    n_classes
        Number of classes (actions); by default ``labels.max() + 1``.
    dtype
        Floating type of the flattened stimuli (float32 by default).
    reward_correct, reward_wrong
        Reward for a right and a wrong choice (1 and 0 as in Pozzi et al.).

    Examples
    --------
    >>> import numpy as np
    >>> task = ClassificationTask(np.zeros((4, 2, 2)), np.array([0, 1, 2, 1]))
    >>> task.reward(np.array([0, 0, 2, 1]), task.labels)
    array([1., 0., 1., 1.])
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, n_classes: int | None = None,
                 dtype: str | np.dtype = "float32", reward_correct: float = 1.0,
                 reward_wrong: float = 0.0) -> None:
        images = np.asarray(images)
        labels = np.asarray(labels)
        if images.ndim < 2 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise InvalidArgumentError(
                f"images (n, ...) and labels (n,) must have the same n; got {images.shape} and {labels.shape}")
        if images.shape[0] == 0:
            raise InvalidArgumentError("the image set is empty")
        if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
            raise InvalidArgumentError("labels must be non-negative integers")
        self.n_classes = int(labels.max()) + 1 if n_classes is None else int(n_classes)
        if labels.max() >= self.n_classes:
            raise InvalidArgumentError(f"labels go up to {labels.max()} but n_classes is {self.n_classes}")
        self.stimuli = np.ascontiguousarray(images.reshape(images.shape[0], -1), dtype=dtype)
        self.labels = labels.astype(np.int64)
        self.reward_correct = float(reward_correct)
        self.reward_wrong = float(reward_wrong)

    def __len__(self) -> int:
        return self.stimuli.shape[0]

    @property
    def n_inputs(self) -> int:
        """Length of one flattened stimulus."""
        return self.stimuli.shape[1]

    def reward(self, choices: np.ndarray, labels: np.ndarray) -> np.ndarray:
        """Reward per trial: ``reward_correct`` where ``choices == labels``, else ``reward_wrong``."""
        return np.where(np.asarray(choices) == np.asarray(labels), self.reward_correct, self.reward_wrong)

    def batches(self, batch_size: int, rng: np.random.Generator, shuffle: bool = True
                ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """One pass (epoch) over the set in batches of ``(stimuli, labels)``, in a random order."""
        if batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be >= 1, got {batch_size}")
        order = rng.permutation(len(self)) if shuffle else np.arange(len(self))
        for start in range(0, len(self), batch_size):
            index = order[start:start + batch_size]
            yield self.stimuli[index], self.labels[index]

    def subset(self, index: np.ndarray) -> ClassificationTask:
        """The task restricted to the trials ``index`` (same class count and rewards)."""
        return ClassificationTask(self.stimuli[index], self.labels[index], self.n_classes,
                                  self.stimuli.dtype, self.reward_correct, self.reward_wrong)
