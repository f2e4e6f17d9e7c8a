"""Tests of the paper's training protocol (neurorl.models.paper_training), model files and the Table 1 runner."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from neurorl.errors import InvalidArgumentError, InvalidRecordingError
from neurorl.models.backprop import BackpropMLP
from neurorl.models.paper_training import (
    PAPER_PROTOCOL,
    epoch_split,
    paper_learning_rate,
    stopping_rule_met,
    train_paper,
)
from neurorl.models.qagrel import QAGREL
from neurorl.models.saving import load_model, save_model
from neurorl.pipelines.pozzi2018 import fewest_runs_first, paper_rows, table1_jobs
from neurorl.tasks.classification import ClassificationTask

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "pozzi2018_table1.csv"


def _tagged_task(n: int = 230, n_classes: int = 3, seed: int = 0) -> ClassificationTask:
    """Separable blobs whose first input is the image's index + 1 (exact in float32), so images can be traced."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, n)
    prototypes = rng.random((n_classes, 6))
    images = prototypes[labels] + 0.2 * rng.random((n, 6))
    images = np.column_stack([np.arange(1, n + 1), images]).astype(np.float32)
    return ClassificationTask(images, labels, n_classes)


class _Spy(QAGREL):
    """Q-AGREL that records which images it trained on (forward) and which it was asked to classify (predict)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.trained: list[np.ndarray] = []
        self.classified: list[np.ndarray] = []

    def forward(self, x):
        self.trained.append(np.asarray(x)[:, 0].astype(int))
        return super().forward(x)

    def predict(self, x):
        self.classified.append(np.asarray(x)[:, 0].astype(int))
        return super().predict(x)


def test_validation_images_of_an_epoch_are_never_trained_on_in_that_epoch():
    task = _tagged_task(n=230)
    n_val, batch = 30, 20
    model = _Spy((7, 8, 3), bias=False, seed=1)
    run = train_paper(model, task, None, seed=3, max_epochs=10, batch_size=batch, n_validation=n_val,
                      validate_every=1, n_equal=50)
    batches_per_epoch = (230 - n_val) // batch
    assert len(model.trained) == 10 * batches_per_epoch and len(model.classified) == 10
    ever_trained = set()
    for epoch in range(10):
        trained = np.concatenate(model.trained[epoch * batches_per_epoch:(epoch + 1) * batches_per_epoch])
        validation = model.classified[epoch]
        assert len(trained) == len(set(trained)) == 200  # 59,000 of 60,000 in the paper
        assert len(validation) == len(set(validation)) == n_val
        assert set(trained).isdisjoint(validation)
        assert set(trained) | set(validation) == set(range(1, 231))
        ever_trained |= set(trained)
    # other epochs do train on them (the paper's reason why its criterion is met at all)
    assert set(model.classified[0]) <= ever_trained
    assert run.settings["n_train"] == 200 and run.settings["n_validation"] == n_val
    # the validation draw changes from epoch to epoch
    assert len({tuple(sorted(v)) for v in model.classified}) == 10


def test_epoch_split_is_disjoint_and_complete():
    validation, training = epoch_split(np.random.default_rng(0), 60000, 1000)
    assert len(validation) == 1000 and len(training) == 59000 and len(training) // 100 == 590
    assert np.intersect1d(validation, training).size == 0
    assert np.array_equal(np.sort(np.concatenate([validation, training])), np.arange(60000))


def test_stopping_rule_on_hand_made_sequences():
    assert not stopping_rule_met([97.6] * 4)
    assert stopping_rule_met([90.0, 97.6, 97.6, 97.6, 97.6, 97.6])
    assert not stopping_rule_met([97.6, 97.6, 97.5, 97.6, 97.6, 97.6, 97.6])
    # one decimal: 97.61 and 97.64 both read 97.6, 97.66 reads 97.7
    assert stopping_rule_met([97.61, 97.64, 97.6, 97.58, 97.63])
    assert not stopping_rule_met([97.61, 97.64, 97.6, 97.58, 97.66])
    assert stopping_rule_met([97.0, 97.0, 97.0], n_equal=3)


class _Scripted:
    """A stand-in network whose validation accuracy follows a script (one value per validation, percent)."""

    def __init__(self, task: ClassificationTask, script, n_validation: int, test: ClassificationTask):
        self.task, self.script, self.n_validation, self.test = task, list(script), n_validation, test
        self.layer_sizes = (task.n_inputs, task.n_classes)
        self.learning_rate = 0.5
        self.weights = [np.zeros((1, 1))]
        self.rng = np.random.default_rng(0)
        self.validations = 0
        self.tests = 0

    def forward(self, x):
        return np.zeros((len(x), self.task.n_classes))

    def select(self, q):
        return np.zeros(len(q), dtype=int)

    def learn(self, actions, rewards, labels, learning_rate=None):
        return rewards

    def get_params(self):
        return {"layer_sizes": self.layer_sizes}

    def predict(self, x):
        ids = np.asarray(x)[:, 0].astype(int) - 1
        if len(x) != self.n_validation:  # the test set: all right
            self.tests += 1
            return self.test.labels[ids]
        labels = self.task.labels[ids]
        n_right = int(round(self.script[self.validations] / 100 * len(x)))
        self.validations += 1
        return np.where(np.arange(len(x)) < n_right, labels, (labels + 1) % self.task.n_classes)


def test_stopping_epoch_from_a_scripted_validation_sequence():
    task = _tagged_task(n=400)
    script = [40.0, 60.0, 70.0, 70.0, 70.0, 70.0, 70.0, 80.0]
    test = _tagged_task(n=50, seed=1)
    model = _Scripted(task, script, n_validation=100, test=test)
    run = train_paper(model, task, test, seed=0, max_epochs=1000, batch_size=50,
                      n_validation=100, blas_threads=None)
    # five equal validations (the 3rd to the 7th) -> the 7th validation, at epoch 35
    assert run.converged and run.stopped_epoch == 35 and len(run.history) == 35
    validated = run.history.dropna(subset=["validation_accuracy"])
    assert validated["epoch"].tolist() == [5, 10, 15, 20, 25, 30, 35]
    np.testing.assert_allclose(100 * validated["validation_accuracy"], script[:7])
    # the test set is evaluated once, at the stopping epoch only
    assert model.tests == 1 and run.history["test_accuracy"].notna().tolist() == [False] * 34 + [True]
    assert run.final_test_accuracy == 1.0

    never = [50.0 + (i % 2) for i in range(200)]
    model = _Scripted(task, never, n_validation=100, test=test)
    run = train_paper(model, task, test, seed=0, max_epochs=40, batch_size=50,
                      n_validation=100, blas_threads=None)
    assert not run.converged and run.stopped_epoch == 39 and len(run.history) == 40  # 999 for 1,000 epochs
    assert model.tests == 1 and np.isfinite(run.history["test_accuracy"].iloc[-1])


def test_learning_rate_schedule_drops_tenfold_at_epoch_500():
    assert PAPER_PROTOCOL["lr_drop_epoch"] == 500 and PAPER_PROTOCOL["lr_drop_factor"] == 10.0
    assert PAPER_PROTOCOL["max_epochs"] == 1000 and PAPER_PROTOCOL["validate_every"] == 5
    assert paper_learning_rate(1, 0.5) == 0.5 and paper_learning_rate(499, 0.5) == 0.5
    assert paper_learning_rate(500, 0.5) == pytest.approx(0.05) and paper_learning_rate(1000, 0.5) == pytest.approx(0.05)
    assert paper_learning_rate(900, 0.5, drop_epoch=None) == 0.5
    task = _tagged_task(n=120)
    run = train_paper(QAGREL((7, 5, 3), bias=False, seed=0), task, None, seed=0, max_epochs=6, batch_size=20,
                      n_validation=20, lr_drop_epoch=4)
    np.testing.assert_allclose(run.history["learning_rate"], [0.5, 0.5, 0.5, 0.05, 0.05, 0.05])


def test_per_row_learning_rates_equal_the_reference_table():
    rows = paper_rows()
    assert len(rows) == 16
    assert rows["learning_rate"].tolist() == [0.5, 0.5, 1, 1, 0.05, 0.05, 0.1, 0.1, 0.5, 0.5, 1, 1,
                                              0.1, 0.1, 0.1, 0.1]
    if REFERENCE.is_file():  # the shipped copy is the reference table
        reference = pd.read_csv(REFERENCE)
        reference = reference[reference["section"] != "lecun1998"].reset_index(drop=True)
        np.testing.assert_array_equal(rows["learning_rate"], reference["learning_rate"])
        np.testing.assert_array_equal(rows["accuracy_mean_pct"], reference["accuracy_mean_pct"])
        np.testing.assert_array_equal(rows["epochs_mean"], reference["epochs_mean"])
    assert rows.loc[rows["section"] == "feedback_alignment", "feedback"].unique().tolist() == ["fixed"]
    assert set(rows.loc[rows["rule"] == "backprop", "feedback"]) == {"symmetric", "fixed"}
    from neurorl.pipelines.qagrel import PAPER_TABLE1
    assert len(PAPER_TABLE1) == 16
    assert PAPER_TABLE1[("backprop", "fixed", "784-300-100-10", 0.1)] == pytest.approx(
        {"accuracy_mean": 97.69, "accuracy_sd": 0.09, "epochs_mean": 453, "epochs_sd": 49})
    # every run of a row is built with that row's learning rate
    jobs = table1_jobs(seeds=[0, 3])
    assert len(jobs) == 32
    for row, _ in jobs:
        assert row["learning_rate"] == rows.set_index("row_id").loc[row["row_id"], "learning_rate"]


def test_runner_order_short_rows_first_and_seeds_0_to_2_first():
    jobs = table1_jobs(seeds=range(10))
    seeds = [seed for _, seed in jobs]
    assert all(seed < 3 for seed in seeds[:48]) and all(seed >= 3 for seed in seeds[48:])
    first = [row for row, _ in jobs[:48]]
    kinds = [(row["section"] == "feedback_alignment", row["rule"] == "qagrel") for row in first]
    assert kinds == sorted(kinds)  # errorBP, then Q-AGREL, feedback alignment last
    assert first[0]["row_id"] == "symmetric_errorbp_300-100_lr0.1"
    assert first[-1]["row_id"] == "feedback_alignment_qagrel_300-100_lr0.1"


class _Interrupted(QAGREL):
    """Q-AGREL that is 'killed' after a given number of training batches."""

    def __init__(self, *args, kill_after: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.kill_after = kill_after

    def forward(self, x):
        self.kill_after -= 1
        if self.kill_after < 0:
            raise KeyboardInterrupt
        return super().forward(x)


@pytest.mark.parametrize("feedback", ["symmetric", "random"])
def test_resume_from_checkpoint_gives_the_uninterrupted_history(tmp_path, feedback):
    task, test = _tagged_task(n=300), _tagged_task(n=60, seed=2)
    settings = dict(seed=4, max_epochs=23, batch_size=25, n_validation=50, validate_every=2, n_equal=30,
                    test_every=4)
    reference_model = QAGREL((7, 9, 3), feedback=feedback, bias=False, seed=5, learning_rate=0.3)
    reference = train_paper(reference_model, task, test, **settings)
    checkpoint = tmp_path / "checkpoint.npz"
    killed = _Interrupted((7, 9, 3), feedback=feedback, bias=False, seed=5, learning_rate=0.3, kill_after=10 * 10 + 3)
    with pytest.raises(KeyboardInterrupt):
        train_paper(killed, task, test, checkpoint=checkpoint, **settings)
    assert checkpoint.is_file()
    resumed_model = QAGREL((7, 9, 3), feedback=feedback, bias=False, seed=5, learning_rate=0.3)
    resumed = train_paper(resumed_model, task, test, checkpoint=checkpoint, **settings)
    columns = [c for c in reference.history.columns if c != "seconds"]
    pd.testing.assert_frame_equal(resumed.history[columns], reference.history[columns])
    pd.testing.assert_frame_equal(resumed.class_counts, reference.class_counts)
    assert resumed.stopped_epoch == reference.stopped_epoch
    for a, b in zip(resumed_model.weights + resumed_model.feedback_weights[1:],
                    reference_model.weights + reference_model.feedback_weights[1:], strict=True):
        np.testing.assert_array_equal(a, b)
    # a checkpoint of another run is ignored, not restored
    other = QAGREL((7, 9, 3), feedback=feedback, bias=False, seed=5, learning_rate=0.2)
    with pytest.warns(UserWarning, match="another run"):
        fresh = train_paper(other, task, test, checkpoint=checkpoint, **settings)
    assert fresh.history["epoch"].iloc[0] == 1


@pytest.mark.parametrize("make", [
    lambda: QAGREL((7, 9, 4, 3), feedback="symmetric", bias=False, seed=0),
    lambda: QAGREL((7, 9, 3), feedback="random", seed=1),
    lambda: QAGREL((7, 9, 4, 3), feedback="fixed", bias=False, seed=2, dtype="float64"),
    lambda: BackpropMLP((7, 9, 3), bias=False, seed=3, feedback="fixed", learning_rate=0.1),
    lambda: BackpropMLP((7, 9, 3), seed=4, loss="cross_entropy"),
])
def test_model_file_round_trip_gives_identical_predictions(tmp_path, make):
    task = _tagged_task(n=200)
    model = make()
    train_paper(model, task, None, seed=0, max_epochs=3, batch_size=20, n_validation=20)
    path = save_model(model, tmp_path / "model.npz")
    loaded = load_model(path)
    assert type(loaded) is type(model) and loaded.get_params() == model.get_params()
    np.testing.assert_array_equal(loaded.q_values(task.stimuli), model.q_values(task.stimuli))
    np.testing.assert_array_equal(loaded.predict(task.stimuli), model.predict(task.stimuli))
    if getattr(model, "feedback", "symmetric") == "symmetric":
        assert all(f is w for f, w in zip(loaded.feedback_weights[1:], loaded.weights[1:], strict=True))
    else:
        for f, g in zip(loaded.feedback_weights[1:], model.feedback_weights[1:], strict=True):
            np.testing.assert_array_equal(f, g)
    (tmp_path / "bad.npz").write_bytes(b"not a network")
    with pytest.raises(InvalidRecordingError):
        load_model(tmp_path / "bad.npz")


def test_backprop_feedback_alignment_keeps_its_feedback_fixed():
    x = _tagged_task(n=40).stimuli / 40
    labels = np.arange(40) % 3
    exact = BackpropMLP((7, 9, 3), seed=0, bias=False, learning_rate=0.1)
    aligned = BackpropMLP((7, 9, 3), seed=0, bias=False, learning_rate=0.1, feedback="fixed")
    np.testing.assert_array_equal(exact.weights[0], aligned.weights[0])
    feedback_before = aligned.feedback_weights[1].copy()
    assert not np.allclose(feedback_before, aligned.weights[1])
    for net in (exact, aligned):
        net.forward(x)
        net.learn(None, None, labels)
    np.testing.assert_array_equal(aligned.feedback_weights[1], feedback_before)
    # the output layer gets the same update either way; the hidden layer does not (errors go down through B)
    np.testing.assert_allclose(aligned.weights[1], exact.weights[1], rtol=1e-6)
    assert not np.allclose(aligned.weights[0], exact.weights[0])


def test_cli_train_paper_protocol_and_resumable_runner(tmp_path, mnist_dir, capsys):
    from neurorl.cli import main

    out = tmp_path / "run"
    assert main(["--quiet", "train", "qagrel", "--protocol", "paper", "--hidden", "20", "--epochs", "10",
                 "--n-train", "1500", "--n-test", "300", "--seed", "2", "--out", str(out)]) == 0
    history = pd.read_csv(out / "history.csv")
    assert history.columns.tolist() == ["epoch", "learning_rate", "train_reward", "validation_accuracy",
                                        "test_accuracy", "seconds"]
    assert history["validation_accuracy"].notna().tolist() == [i % 5 == 4 for i in range(10)]
    run = json.loads((out / "run.json").read_text())
    assert run["n_train"] == 500 and run["n_validation"] == 1000 and run["seed"] == 2
    assert run["settings"]["bias"] is False and run["settings"]["validate_every"] == 5
    assert run["stopped_epoch"] == 9 and run["converged"] is False
    counts = pd.read_csv(out / "class_counts.csv")
    assert len(counts) == 10 and (counts.filter(like="presented_").sum(axis=1) == 500).all()
    assert (counts.filter(like="selected_").sum(axis=1) == 500).all()
    assert (counts.filter(like="correct_").to_numpy() <= counts.filter(like="selected_").to_numpy()).all()
    assert not (out / "checkpoint.npz").exists()
    from neurorl.io.mnist import load_mnist
    images, labels = load_mnist("test")
    model = load_model(out / "model.npz")
    accuracy = np.mean(model.predict(images[:300].reshape(300, -1).astype(np.float32)) == labels[:300])
    assert accuracy == pytest.approx(history["test_accuracy"].iloc[-1])
    capsys.readouterr()

    args = ["--quiet", "reproduce", "qagrel", "--rows", "5", "13", "--seeds", "0", "--epochs", "5",
            "--n-train", "1200", "--n-test", "200", "--out", str(tmp_path / "table")]
    assert main(args) == 0
    runs = tmp_path / "table" / "pozzi2018_table1" / "runs"
    finished = sorted(runs.glob("*/seed0/run.json"))
    assert [p.parent.parent.name for p in finished] == ["feedback_alignment_qagrel_300_lr0.1",
                                                        "symmetric_errorbp_300_lr0.05"]
    assert not list(runs.glob("*/seed0/model.npz"))  # networks stay in the cache
    stamps = [p.stat().st_mtime_ns for p in finished]
    assert main(args) == 0  # finished runs are skipped
    assert [p.stat().st_mtime_ns for p in finished] == stamps
    table = pd.read_csv(tmp_path / "table" / "pozzi2018_table1.csv")
    assert len(table) == 16 and table["n_seeds"].tolist() == [0] * 4 + [1] + [0] * 7 + [1] + [0] * 3
    row5 = table.iloc[4]
    assert (row5["paper_accuracy_mean"], row5["paper_accuracy_sd"], row5["paper_epochs_mean"]) == (98.15, 0.06, 146)
    assert row5["accuracy_diff_paper_sd"] == pytest.approx((row5["accuracy_mean"] - 98.15) / 0.06, abs=1e-3)
    assert "arXiv:1811.01768" in (tmp_path / "table" / "pozzi2018_table1.md").read_text()
    # runs made with other settings are neither skipped nor counted
    assert main([*args[:-2], "--rows", "5", "--epochs", "6", "--out", str(tmp_path / "table")]) == 0
    table = pd.read_csv(tmp_path / "table" / "pozzi2018_table1.csv")
    assert table["n_seeds"].sum() == 1 and table.iloc[4]["n_seeds"] == 1
    assert json.loads((runs / "symmetric_errorbp_300_lr0.05" / "seed0" / "run.json").read_text())[
        "settings"]["max_epochs"] == 6


def test_runner_breadth_first_order_gives_every_row_a_seed_before_any_a_second():
    jobs = table1_jobs(seeds=[0, 1, 2], order="seeds")
    assert len(jobs) == 48
    seeds = [seed for _, seed in jobs]
    assert seeds == [0] * 16 + [1] * 16 + [2] * 16
    assert len({row["row_id"] for row, _ in jobs[:16]}) == 16
    # within a seed the rows keep the shortest-first order of the default
    default_rows = list(dict.fromkeys(row["row_id"] for row, _ in table1_jobs(seeds=[0])))
    assert [row["row_id"] for row, _ in jobs[16:32]] == default_rows
    with pytest.raises(InvalidArgumentError):
        table1_jobs(seeds=[0], order="columns")


def test_fewest_runs_first_serves_rows_without_runs_before_rows_with_two():
    a, b, c = ({"row_id": name} for name in "abc")
    pending = [(a, 2), (b, 0), (b, 1), (b, 2), (c, 1), (c, 2)]  # a has seeds 0-1 finished, c has seed 0
    ordered = [(row["row_id"], seed) for row, seed in fewest_runs_first(pending, {"a": 2, "c": 1})]
    assert ordered == [("b", 0), ("b", 1), ("c", 1), ("a", 2), ("b", 2), ("c", 2)]
