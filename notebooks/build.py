"""Write the tutorial notebooks from the cell sources below and execute them in place.

Usage: ``python notebooks/build.py [NAME ...]`` (default: every notebook). The tests run the notebooks with
nbmake; this script only (re)creates them with their outputs so that figures show when browsing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}


def notebook(name: str, cells: list[tuple[str, str]]) -> None:
    NOTEBOOKS[name] = cells


notebook("02_qagrel_vs_backprop", [
    ("md", """# Q-AGREL vs error-backpropagation on MNIST

Q-AGREL (Pozzi, Bohte & Roelfsema) learns by trial and error: the network picks **one** class, is told only
whether it was right (reward 1 or 0), and an attention-like feedback signal from the chosen output gates local
four-factor updates (pre x post x reward-prediction error x feedback). Error-backpropagation, in contrast, is told
the right answer for every output.

This tutorial trains both on real MNIST (a 10,000-image subset so it runs in a minute), compares their learning
curves, and looks at how Q-AGREL *discovers* classes and how random feedback weights come to align with the
feedforward ones. The full-scale reproduction of the paper's Table 1 is `neurorl reproduce qagrel`."""),
    ("code", """import matplotlib.pyplot as plt

from neurorl.pipelines.qagrel import run_training
from neurorl.plotting.qagrel import plot_alignment, plot_learning_curve, plot_selection_frequency

small = {"hidden": [100], "epochs": 5, "n_train": 10000, "n_test": 2000, "learning_rate": 0.5}
runs = {
    "Q-AGREL, symmetric feedback": run_training({**small, "rule": "qagrel", "feedback": "symmetric", "seed": 0}, desc=None),
    "Q-AGREL, random feedback (learned)": run_training({**small, "rule": "qagrel", "feedback": "random", "seed": 0}, desc=None),
    "error-backprop": run_training({**small, "rule": "backprop", "seed": 0}, desc=None),
}
for name, history in runs.items():
    print(f"{name:38s} test accuracy after {history.sizes['epoch']} epochs: {history['test_accuracy'].values[-1]:.3f}")"""),
    ("md", """Each run is an `xarray.Dataset` over `epoch`: train reward, validation and test accuracy, per-class
selection frequency and accuracy, the feedback/feedforward alignment angle and wall time."""),
    ("code", """runs["Q-AGREL, symmetric feedback"]"""),
    ("code", """fig, axes = plt.subplots(1, 3, figsize=(13, 3.5), sharey=True)
for ax, (name, history) in zip(axes, runs.items()):
    plot_learning_curve(history, ax=ax, title=name)
fig.tight_layout()"""),
    ("md", """Early in training Q-AGREL chooses some classes far more often than others and *discovers* the
rest one by one; the selection frequencies converge to the class frequencies (about 10% each)."""),
    ("code", """fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
plot_selection_frequency(runs["Q-AGREL, symmetric feedback"], ax=axes[0])
plot_alignment(runs["Q-AGREL, random feedback (learned)"], ax=axes[1])
fig.tight_layout()"""),
    ("md", """With `random` feedback the feedback weights start unrelated to the feedforward weights (angle near
90 degrees) and, learned with the same local rule, they come to align: the angle falls during training."""),
])


def build(name: str, cells: list[tuple[str, str]]) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
                for kind, src in cells]
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    path = HERE / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


if __name__ == "__main__":
    names = sys.argv[1:] or list(NOTEBOOKS)
    for name in names:
        print("wrote", build(name, NOTEBOOKS[name]))
