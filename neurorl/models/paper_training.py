"""The training protocol of Pozzi, Bohte & Roelfsema (2018), Methods ("3 Experiments"), as written.

* **Validation held out of one epoch only.** At every epoch 1,000 of the 60,000 training images are drawn at random
  as that epoch's validation set; the epoch trains on the other 59,000 (590 batches of 100, in a random order).
  Other epochs may train on them: "By randomly choosing the validation set in every epoch, the convergence
  criterion was met more quickly, because the networks train effectively on the whole training dataset".
* **Validation every five epochs** (epochs 5, 10, 15, ...), greedy choices on that epoch's held-out images.
* **Stopping rule.** "if for five consecutive times the validation accuracy was the same with one decimal
  precision, learning was stopped". Our reading: the validation accuracy in percent, rounded to 0.1, is equal at
  five validations in a row (so over 20 epochs); training stops at the epoch of the fifth, the *stopping epoch*,
  which is the epoch reported (Table 1's "epochs"). With 1,000 validation images every accuracy is already a
  multiple of 0.1 %, so the rounding only matters for other validation sizes.
* **At most 1,000 epochs**, the learning rate divided by 10 from epoch 500 on ("at the 500-th epoch the learning
  rate was decreased"; "10 times smaller from the 500-th epoch", Table 1 caption). A run that never meets the
  criterion is reported at epoch 999, the paper's ``999*`` (its epochs count from 0; in general
  ``max_epochs - 1``), with ``converged = False``; its accuracy is the test accuracy after the last epoch.
* No biases (the paper's equations have none); weights U(-0.05, 0.05) — set on the network, not here.

Only what the protocol needs is evaluated: the 1,000 validation images every fifth epoch and the 10,000 test
images at the stopping epoch (optionally every ``test_every`` epochs for a learning curve).

Per epoch the training trials are also counted per class: how often each class was presented, chosen and chosen
correctly (the class-discovery analysis of the paper's Figs. 5-6).

A run can checkpoint its whole state (weights, both random generators, the rows so far) at every validation and
resume from it; a resumed run gives exactly the rows of an uninterrupted one (up to the ``seconds`` column).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._progress import progress
from ..errors import InvalidArgumentError
from ..io._atomic import atomic_path
from ..tasks.classification import ClassificationTask
from .saving import model_arrays, set_model_arrays
from .training import evaluate

__all__ = ["PAPER_PROTOCOL", "PaperRun", "paper_learning_rate", "epoch_split", "stopping_rule_met",
           "train_paper", "HISTORY_COLUMNS"]

#: The protocol's settings (Pozzi, Bohte & Roelfsema 2018, section 3 "Experiments").
PAPER_PROTOCOL: dict = {
    "max_epochs": 1000,       # "we trained the networks for 1,000 epochs in total"
    "batch_size": 100,        # "100 samples were given as an input"
    "n_validation": 1000,     # "1,000 were randomly chosen for validation at every epoch"
    "validate_every": 5,      # "Once every five epochs, a validation accuracy was calculated"
    "n_equal": 5,             # "if for five consecutive times the validation accuracy was the same ..."
    "decimals": 1,            # "... with one decimal precision" (accuracy in percent)
    "lr_drop_epoch": 500,     # "at the 500-th epoch the learning rate was decreased"
    "lr_drop_factor": 10.0,   # "the learning rate was 10 times smaller from the 500-th epoch" (Table 1 caption)
}

#: Columns of :attr:`PaperRun.history`, one row per epoch.
HISTORY_COLUMNS: tuple[str, ...] = ("epoch", "learning_rate", "train_reward", "validation_accuracy",
                                    "test_accuracy", "seconds")

_CHECKPOINT_FORMAT = 1


def paper_learning_rate(epoch: int, base_learning_rate: float, drop_epoch: int | None = 500,
                        drop_factor: float = 10.0) -> float:
    """Learning rate of ``epoch`` (1-based): ``base`` before ``drop_epoch``, ``base / drop_factor`` from it on."""
    if drop_epoch is not None and epoch >= drop_epoch:
        return float(base_learning_rate) / float(drop_factor)
    return float(base_learning_rate)


def epoch_split(rng: np.random.Generator, n_images: int, n_validation: int) -> tuple[np.ndarray, np.ndarray]:
    """One epoch's random validation draw and the random order of the remaining training images.

    Returns
    -------
    validation, training : numpy.ndarray
        Disjoint image indices: ``n_validation`` held out of this epoch, and the other ``n_images -
        n_validation`` in the order they are trained on.
    """
    if not 0 <= n_validation < n_images:
        raise InvalidArgumentError(f"n_validation must be in [0, {n_images}), got {n_validation}")
    order = rng.permutation(n_images)
    return order[:n_validation], order[n_validation:]


def stopping_rule_met(validation_accuracies_percent: Sequence[float], n_equal: int = 5, decimals: int = 1) -> bool:
    """Whether the last ``n_equal`` validation accuracies (percent) are equal once rounded to ``decimals``.

    Examples
    --------
    >>> stopping_rule_met([97.1, 97.6, 97.6, 97.6, 97.6, 97.6])
    True
    >>> stopping_rule_met([97.6, 97.6, 97.5, 97.6, 97.6])
    False
    """
    values = [float(v) for v in validation_accuracies_percent]
    if len(values) < n_equal:
        return False
    last = {round(v, decimals) for v in values[-n_equal:]}
    return len(last) == 1


@dataclass
class PaperRun:
    """Result of :func:`train_paper`.

    Attributes
    ----------
    history
        One row per epoch: ``epoch``, ``learning_rate``, ``train_reward`` (mean reward per training trial,
        exploration included; for backprop the fraction of greedy choices that were right), ``validation_accuracy``
        (fraction; NaN on epochs without validation), ``test_accuracy`` (fraction; NaN where no test was run),
        ``seconds`` (wall time of the epoch, s).
    class_counts
        One row per epoch: ``presented_<c>``, ``selected_<c>`` and ``correct_<c>`` training trials of class ``c``
        (presented: label ``c``; selected: choice ``c``; correct: label and choice ``c``).
    stopped_epoch
        The stopping epoch, or ``max_epochs - 1`` (999, the paper's ``999*``) when the criterion was never met.
    converged
        Whether the stopping criterion was met.
    final_test_accuracy
        Test accuracy (fraction) after the last epoch trained.
    diverged
        Whether the weights overflowed (the run stops there).
    settings
        The protocol's settings and the seed.
    """

    history: pd.DataFrame
    class_counts: pd.DataFrame
    stopped_epoch: int
    converged: bool
    final_test_accuracy: float
    diverged: bool
    settings: dict = field(default_factory=dict)

    @property
    def epochs_run(self) -> int:
        return len(self.history)


def _model_settings(model) -> dict:
    params = model.get_params()
    return {k: ([int(n) for n in v] if k == "layer_sizes" else v) for k, v in params.items()}


def _save_checkpoint(path: Path, model, rng: np.random.Generator, state: dict) -> None:
    header = json.dumps({"format": _CHECKPOINT_FORMAT, "rng": rng.bit_generator.state,
                         "model_rng": model.rng.bit_generator.state, **state})
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, header=np.array(header), **model_arrays(model))


def _load_checkpoint(path: Path, model, rng: np.random.Generator, identity: dict) -> dict | None:
    """Restore the state saved at ``path`` into ``model`` and ``rng``; ``None`` (nothing restored) when the file
    is missing, unreadable or belongs to another run."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            header = json.loads(str(stored["header"]))
            arrays = {name: stored[name] for name in stored.files if name != "header"}
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        warnings.warn(f"{path}: unreadable checkpoint ignored ({exc})", stacklevel=3)
        return None
    if header.get("format") != _CHECKPOINT_FORMAT or header.get("identity") != identity:
        warnings.warn(f"{path}: checkpoint of another run ignored", stacklevel=3)
        return None
    set_model_arrays(model, arrays)
    model.rng.bit_generator.state = header["model_rng"]
    rng.bit_generator.state = header["rng"]
    return header


def train_paper(model, train_task: ClassificationTask, test_task: ClassificationTask | None = None, *,
                seed: int, max_epochs: int = 1000, batch_size: int = 100,
                n_validation: int = 1000, validate_every: int = 5, n_equal: int = 5, decimals: int = 1,
                lr_drop_epoch: int | None = 500, lr_drop_factor: float = 10.0, test_every: int | None = None,
                checkpoint: str | os.PathLike | None = None, blas_threads: int | None = 1,
                desc: str | None = None) -> PaperRun:
    """Train ``model`` by the protocol of Pozzi, Bohte & Roelfsema (see the module docstring).

    Parameters
    ----------
    model
        A :class:`~neurorl.models.qagrel.QAGREL` or :class:`~neurorl.models.backprop.BackpropMLP`; its
        ``learning_rate`` is the rate before the drop. Its own generator draws the exploratory actions.
    train_task, test_task
        The training images (all 60,000 for MNIST: each epoch holds out its own validation draw) and the test set.
    seed
        Seed of the validation draws and the trial order (drawn from ``numpy.random.default_rng([seed, 1])``).
    max_epochs, batch_size, n_validation, validate_every, n_equal, decimals, lr_drop_epoch, lr_drop_factor
        The protocol (defaults: :data:`PAPER_PROTOCOL`).
    test_every
        Also test every this many epochs (a learning curve); ``None``: only after the last epoch.
    checkpoint
        File (``.npz``) to save the run's state to at every validation and to resume from when present.
    blas_threads
        BLAS threads while training (default 1; ``None``: the library's setting).
    desc
        Progress-bar label (``None``: no bar).

    Returns
    -------
    PaperRun
    """
    if blas_threads is not None:
        from threadpoolctl import threadpool_limits
        with threadpool_limits(limits=int(blas_threads), user_api="blas"):
            return train_paper(model, train_task, test_task, seed=seed, max_epochs=max_epochs,
                               batch_size=batch_size, n_validation=n_validation, validate_every=validate_every,
                               n_equal=n_equal, decimals=decimals, lr_drop_epoch=lr_drop_epoch,
                               lr_drop_factor=lr_drop_factor, test_every=test_every, checkpoint=checkpoint,
                               blas_threads=None, desc=desc)
    for name, value in (("max_epochs", max_epochs), ("batch_size", batch_size), ("validate_every", validate_every),
                        ("n_equal", n_equal)):
        if value < 1:
            raise InvalidArgumentError(f"{name} must be >= 1, got {value}")
    if test_every is not None and test_every < 1:
        raise InvalidArgumentError(f"test_every must be >= 1 or None, got {test_every}")
    if train_task.n_inputs != model.layer_sizes[0] or train_task.n_classes != model.layer_sizes[-1]:
        raise InvalidArgumentError(f"network {model.layer_sizes} does not fit a task with {train_task.n_inputs} "
                                   f"inputs and {train_task.n_classes} classes")
    n_images, n_classes = len(train_task), train_task.n_classes
    if not 0 < n_validation < n_images:
        raise InvalidArgumentError(f"n_validation must be in (0, {n_images}), got {n_validation}")
    settings = {"max_epochs": int(max_epochs), "batch_size": int(batch_size), "n_validation": int(n_validation),
                "n_train": int(n_images - n_validation), "validate_every": int(validate_every),
                "n_equal": int(n_equal), "decimals": int(decimals),
                "lr_drop_epoch": None if lr_drop_epoch is None else int(lr_drop_epoch),
                "lr_drop_factor": float(lr_drop_factor), "test_every": test_every,
                "seed": int(seed)}
    # the draws of validation sets and trial orders get their own stream, apart from the network's generator
    rng = np.random.default_rng([int(seed), 1])
    identity = {"protocol": settings, "model": _model_settings(model), "n_images": int(n_images),
                "n_test": 0 if test_task is None else len(test_task)}
    checkpoint = None if checkpoint is None else Path(checkpoint)
    rows: list[dict] = []
    counts: list[list[int]] = []
    validations: list[float] = []
    start_epoch = 1
    if checkpoint is not None:
        restored = _load_checkpoint(checkpoint, model, rng, identity)
        if restored is not None:
            rows, counts, validations = restored["rows"], restored["counts"], restored["validations"]
            start_epoch = int(restored["epoch"]) + 1
    base_lr = float(model.learning_rate)
    stimuli, labels = train_task.stimuli, train_task.labels
    stopped = diverged = False
    epoch = start_epoch - 1
    bar = progress(range(start_epoch, max_epochs + 1), desc=desc, total=max_epochs - start_epoch + 1,
                   disable=True if desc is None else None)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is detected and reported below
        for epoch in bar:
            started = time.perf_counter()
            lr = paper_learning_rate(epoch, base_lr, lr_drop_epoch, lr_drop_factor)
            validation, training = epoch_split(rng, n_images, n_validation)
            presented = np.bincount(labels[training], minlength=n_classes)
            selected = np.zeros(n_classes, dtype=np.int64)
            correct = np.zeros(n_classes, dtype=np.int64)
            reward_sum = 0.0
            for begin in range(0, len(training), batch_size):
                index = training[begin:begin + batch_size]
                batch_labels = labels[index]
                q = model.forward(stimuli[index])
                actions = model.select(q)
                rewards = train_task.reward(actions, batch_labels)
                model.learn(actions, rewards, batch_labels, learning_rate=lr)
                reward_sum += float(rewards.sum())
                selected += np.bincount(actions, minlength=n_classes)
                correct += np.bincount(actions[actions == batch_labels], minlength=n_classes)
            diverged = not all(np.isfinite(w).all() for w in model.weights)
            validated = epoch % validate_every == 0 and not diverged
            validation_accuracy = float("nan")
            if validated:
                validation_accuracy = float(np.mean(model.predict(stimuli[validation]) == labels[validation]))
                validations.append(100.0 * validation_accuracy)
                stopped = stopping_rule_met(validations, n_equal, decimals)
            last = stopped or diverged or epoch == max_epochs
            test_accuracy = float("nan")
            if test_task is not None and (last or (test_every is not None and epoch % test_every == 0)):
                test_accuracy = evaluate(model, test_task)[0]
            rows.append({"epoch": epoch, "learning_rate": lr, "train_reward": reward_sum / len(training),
                         "validation_accuracy": validation_accuracy, "test_accuracy": test_accuracy,
                         "seconds": time.perf_counter() - started})
            counts.append([epoch, *presented.tolist(), *selected.tolist(), *correct.tolist()])
            if hasattr(bar, "set_postfix") and validated:
                bar.set_postfix(reward=f"{rows[-1]['train_reward']:.3f}", val=f"{validation_accuracy:.3f}")
            if last:
                break
            if validated and checkpoint is not None:
                _save_checkpoint(checkpoint, model, rng, {"identity": identity, "epoch": epoch, "rows": rows,
                                                           "counts": counts, "validations": validations})
    if hasattr(bar, "close"):
        bar.close()
    history = pd.DataFrame.from_records(rows, columns=list(HISTORY_COLUMNS))
    class_columns = ["epoch"] + [f"{kind}_{c}" for kind in ("presented", "selected", "correct")
                                 for c in range(n_classes)]
    class_counts = pd.DataFrame(counts, columns=class_columns)
    final = history["test_accuracy"].iloc[-1] if len(history) else float("nan")
    return PaperRun(history=history, class_counts=class_counts,
                    stopped_epoch=int(epoch) if (stopped or diverged) else int(max_epochs) - 1,
                    converged=bool(stopped), final_test_accuracy=float(final), diverged=bool(diverged),
                    settings=settings)
