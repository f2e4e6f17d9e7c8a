"""Training loop for trial-and-error classification, with the protocol of Pozzi, Bohte & Roelfsema.

Each epoch the agent sees every training image once in a random order, in batches. On every trial it picks a
class, gets reward 1 (right) or 0 (wrong) and learns; the supervised baseline learns from the label instead.
After each epoch:

* validation accuracy on 1,000 training images drawn at random anew each epoch (greedy choices);
* test accuracy on the whole test set (greedy choices), overall and per class;
* the fraction of training trials on which each class was chosen (the class-discovery steps of Figs. 5-6);
* for Q-AGREL, the angle between feedback and feedforward weights of every layer that has feedback;
* wall-clock seconds.

Early stopping: training ends once the validation accuracy has not exceeded its best value for ``patience``
epochs (``patience=None`` never stops early). The learning rate is divided by ``lr_drop_factor`` from epoch
``lr_drop_epoch`` on (10 and 500 as in the paper). The run "converged" at the epoch of the best validation
accuracy; its final accuracy is the test accuracy at that epoch. A run whose weights overflow (too large a
learning rate) stops at once and is marked ``diverged``.
"""

from __future__ import annotations

import time

import numpy as np
import xarray as xr

from .._progress import progress
from ..errors import InvalidArgumentError
from ..tasks.classification import ClassificationTask

__all__ = ["train", "evaluate", "summarize_run"]


def evaluate(model, task: ClassificationTask, chunk: int = 5000) -> tuple[float, np.ndarray]:
    """Greedy accuracy (fraction) of ``model`` on ``task``, overall and per class (NaN for absent classes)."""
    choices = model.predict(task.stimuli) if chunk is None else np.concatenate(
        [model.predict(task.stimuli[i:i + chunk]) for i in range(0, len(task), chunk)])
    correct = choices == task.labels
    totals = np.bincount(task.labels, minlength=task.n_classes).astype(float)
    hits = np.bincount(task.labels, weights=correct, minlength=task.n_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(totals > 0, hits / totals, np.nan)
    return float(correct.mean()), per_class


def train(model, train_task: ClassificationTask, test_task: ClassificationTask | None = None, *,
          epochs: int = 10, batch_size: int = 100, lr_drop_epoch: int | None = 500, lr_drop_factor: float = 10.0,
          validation_size: int = 1000, patience: int | None = None, seed: int | np.random.Generator | None = None,
          block_trials: int | None = 6000, blas_threads: int | None = 1,
          desc: str | None = "training") -> xr.Dataset:
    """Train ``model`` on ``train_task`` for up to ``epochs`` epochs and return the per-epoch history.

    Parameters
    ----------
    model
        A :class:`~neurorl.models.qagrel.QAGREL` or :class:`~neurorl.models.backprop.BackpropMLP` (anything with
        ``forward``, ``select``, ``learn``, ``predict`` and ``learning_rate``).
    train_task, test_task
        Training and test sets; the test set is optional (test columns are then NaN).
    epochs
        Maximum number of epochs.
    batch_size
        Trials per update (the update is averaged over the batch); 100 in the paper.
    lr_drop_epoch, lr_drop_factor
        From this epoch (1-based) on, the learning rate is ``learning_rate / lr_drop_factor``; ``None``: no drop.
    validation_size
        Training images drawn anew each epoch to measure validation accuracy.
    patience
        Early stopping: stop after this many epochs without a new best validation accuracy; ``None``: never.
    seed
        Seed or generator for the trial order and the validation draws (exploration uses the model's own).
    block_trials
        Also record the class-selection frequency in blocks of about this many training trials (rounded to
        whole batches), to follow class discovery within the first epoch; ``None``: per epoch only.
    blas_threads
        BLAS threads while training (default 1; ``None`` leaves the library's setting). The matrices are small:
        more threads gain little and slow down several-fold when the cores are shared with other work.
    desc
        Progress-bar label (``None`` hides the bar).

    Returns
    -------
    xarray.Dataset
        Over ``epoch`` (1-based): ``train_reward``, ``validation_accuracy``, ``test_accuracy`` (fractions),
        ``learning_rate``, ``seconds`` (wall time of the epoch, s), ``elapsed_seconds``; over (``epoch``,
        ``class``): ``selection_frequency`` and ``class_accuracy`` (test set); over (``epoch``, ``layer``):
        ``alignment_angle`` (degrees, Q-AGREL only); over (``block``, ``class``): ``block_selection_frequency``
        with coordinate ``block_end_trial`` (training trials seen at the block's end). ``attrs`` hold the model's and the protocol's settings,
        ``converged_epoch``, ``final_test_accuracy``, ``diverged`` (1 if the Q-values or weights overflowed) and
        ``diverged_epoch`` (the epoch it happened in; -1 if not).
    """
    if epochs < 1:
        raise InvalidArgumentError(f"epochs must be >= 1, got {epochs}")
    if patience is not None and patience < 1:
        raise InvalidArgumentError(f"patience must be >= 1 or None, got {patience}")
    if train_task.n_inputs != model.layer_sizes[0] or train_task.n_classes != model.layer_sizes[-1]:
        raise InvalidArgumentError(
            f"network {model.layer_sizes} does not fit a task with {train_task.n_inputs} inputs and "
            f"{train_task.n_classes} classes")
    rng = np.random.default_rng(seed)
    n_classes = train_task.n_classes
    has_angles = hasattr(model, "alignment_angles")
    n_angles = len(model.alignment_angles()) if has_angles else 0
    base_lr = model.learning_rate
    rows: dict[str, list] = {name: [] for name in (
        "train_reward", "validation_accuracy", "test_accuracy", "learning_rate", "seconds",
        "selection_frequency", "class_accuracy", "alignment_angle")}
    if blas_threads is not None:
        from threadpoolctl import threadpool_limits
        with threadpool_limits(limits=int(blas_threads), user_api="blas"):
            return train(model, train_task, test_task, epochs=epochs, batch_size=batch_size,
                         lr_drop_epoch=lr_drop_epoch, lr_drop_factor=lr_drop_factor,
                         validation_size=validation_size, patience=patience, seed=seed,
                         block_trials=block_trials, blas_threads=None, desc=desc)
    if block_trials is not None and block_trials < 1:
        raise InvalidArgumentError(f"block_trials must be >= 1 or None, got {block_trials}")
    block_counts: list[np.ndarray] = []
    block_ends: list[int] = []
    block_count = np.zeros(n_classes, dtype=np.int64)
    trials_seen = 0
    best_val, best_epoch = -np.inf, 0
    stopped_early = diverged = False
    bar = progress(range(1, epochs + 1), desc=desc, total=epochs, disable=True if desc is None else None)
    with np.errstate(over="ignore", invalid="ignore"):  # a diverging run is detected and reported below
        for epoch in bar:
            start = time.perf_counter()
            lr = base_lr / lr_drop_factor if lr_drop_epoch is not None and epoch >= lr_drop_epoch else base_lr
            reward_sum = 0.0
            choices_count = np.zeros(n_classes, dtype=np.int64)
            for stimuli, labels in train_task.batches(batch_size, rng):
                q = model.forward(stimuli)
                if not np.isfinite(q).all():
                    diverged = True  # Q-values overflowed: the weights are about to
                    break
                actions = model.select(q)
                rewards = train_task.reward(actions, labels)
                model.learn(actions, rewards, labels, learning_rate=lr)
                reward_sum += float(rewards.sum())
                chosen = np.bincount(actions, minlength=n_classes)
                choices_count += chosen
                trials_seen += len(actions)
                if block_trials is not None:
                    block_count += chosen
                    if block_count.sum() >= block_trials:
                        block_counts.append(block_count / block_count.sum())
                        block_ends.append(trials_seen)
                        block_count = np.zeros(n_classes, dtype=np.int64)
            n_val = min(validation_size, len(train_task))
            validation = train_task.subset(rng.choice(len(train_task), size=n_val, replace=False))
            val_acc, _ = evaluate(model, validation)
            if test_task is not None:
                test_acc, per_class = evaluate(model, test_task)
            else:
                test_acc, per_class = np.nan, np.full(n_classes, np.nan)
            rows["train_reward"].append(reward_sum / len(train_task))
            rows["validation_accuracy"].append(val_acc)
            rows["test_accuracy"].append(test_acc)
            rows["learning_rate"].append(lr)
            rows["selection_frequency"].append(choices_count / len(train_task))
            rows["class_accuracy"].append(per_class)
            rows["alignment_angle"].append(model.alignment_angles() if has_angles else np.zeros(0))
            rows["seconds"].append(time.perf_counter() - start)
            if hasattr(bar, "set_postfix"):
                bar.set_postfix(reward=f"{rows['train_reward'][-1]:.3f}", val=f"{val_acc:.3f}", test=f"{test_acc:.4f}")
            if diverged or not all(np.isfinite(w).all() for w in model.weights):
                diverged = True  # Q-values or weights overflowed: every later epoch would be the same
                break
            if val_acc > best_val:
                best_val, best_epoch = val_acc, epoch
            elif patience is not None and epoch - best_epoch >= patience:
                stopped_early = True
                break
    n_epochs = len(rows["train_reward"])
    epoch_coord = np.arange(1, n_epochs + 1)
    seconds = np.asarray(rows["seconds"])
    data = {
        "train_reward": ("epoch", np.asarray(rows["train_reward"]),
                         {"long_name": "mean reward per training trial (exploration included)", "units": "1"}),
        "validation_accuracy": ("epoch", np.asarray(rows["validation_accuracy"]),
                                {"long_name": f"greedy accuracy on {validation_size} random training images",
                                 "units": "1"}),
        "test_accuracy": ("epoch", np.asarray(rows["test_accuracy"]),
                          {"long_name": "greedy accuracy on the test set", "units": "1"}),
        "learning_rate": ("epoch", np.asarray(rows["learning_rate"]), {"long_name": "learning rate", "units": "1"}),
        "seconds": ("epoch", seconds, {"long_name": "wall time of the epoch", "units": "s"}),
        "elapsed_seconds": ("epoch", np.cumsum(seconds), {"long_name": "wall time up to the epoch", "units": "s"}),
        "selection_frequency": (("epoch", "class"), np.asarray(rows["selection_frequency"]),
                                {"long_name": "fraction of training trials on which the class was chosen", "units": "1"}),
        "class_accuracy": (("epoch", "class"), np.asarray(rows["class_accuracy"]),
                           {"long_name": "greedy test accuracy per true class", "units": "1"}),
    }
    coords = {"epoch": epoch_coord, "class": np.arange(n_classes)}
    if n_angles:
        data["alignment_angle"] = (("epoch", "layer"), np.asarray(rows["alignment_angle"]),
                                   {"long_name": "angle between feedback and feedforward weights",
                                    "units": "degree"})
        coords["layer"] = np.arange(2, n_angles + 2)
    if block_counts:
        data["block_selection_frequency"] = (
            ("block", "class"), np.asarray(block_counts),
            {"long_name": "fraction of the block's training trials on which the class was chosen", "units": "1"})
        coords["block"] = np.arange(len(block_counts))
        coords["block_end_trial"] = ("block", np.asarray(block_ends, dtype=np.int64))
    params = model.get_params()
    attrs = {key: (int(value) if isinstance(value, bool) else value) for key, value in params.items()}
    attrs["layer_sizes"] = np.asarray(params["layer_sizes"], dtype=np.int64)
    attrs.update(
        batch_size=int(batch_size), max_epochs=int(epochs), validation_size=int(validation_size),
        block_trials=-1 if block_trials is None else int(block_trials),
        lr_drop_epoch=-1 if lr_drop_epoch is None else int(lr_drop_epoch), lr_drop_factor=float(lr_drop_factor),
        patience=-1 if patience is None else int(patience), n_train=len(train_task), diverged=int(diverged),
        diverged_epoch=int(n_epochs) if diverged else -1,
        n_test=0 if test_task is None else len(test_task), stopped_early=int(stopped_early),
        converged_epoch=int(best_epoch),
        final_test_accuracy=float(rows["test_accuracy"][best_epoch - 1]) if best_epoch else float("nan"),
        final_validation_accuracy=float(best_val) if best_epoch else float("nan"),
    )
    return xr.Dataset(data, coords=coords, attrs=attrs)


def summarize_run(history: xr.Dataset) -> dict:
    """Final accuracy and epochs to convergence of one run (see :func:`train`)."""
    return {"final_test_accuracy": float(history.attrs["final_test_accuracy"]),
            "converged_epoch": int(history.attrs["converged_epoch"]),
            "epochs_run": int(history.sizes["epoch"]),
            "diverged": int(history.attrs.get("diverged", 0)),
            "seconds": float(history["seconds"].sum())}
