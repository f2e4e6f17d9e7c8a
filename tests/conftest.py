"""Shared fixtures. Real data is read from ``../shared/data`` beside the repository (never copied in)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
MNIST_DIR = SHARED_DATA / "mnist"
DABNEY_DIR = SHARED_DATA / "dabney2020" / "variable-reward"

if "NEURORL_MNIST_DIR" not in os.environ and MNIST_DIR.is_dir():
    os.environ["NEURORL_MNIST_DIR"] = str(MNIST_DIR)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Folder with the original MNIST idx files (skips only when ../shared is absent)."""
    if not MNIST_DIR.is_dir():
        pytest.skip(f"real MNIST not available: {MNIST_DIR} is absent (CI always has it)")
    return MNIST_DIR


@pytest.fixture(scope="session")
def mnist_tasks():
    """Real MNIST as a ``(train, test)`` pair of ``ClassificationTask`` objects, loaded once per session."""
    from neurorl.errors import MissingDataError
    from neurorl.io.mnist import load_mnist
    from neurorl.tasks.classification import ClassificationTask

    try:
        return (ClassificationTask(*load_mnist("train"), n_classes=10),
                ClassificationTask(*load_mnist("test"), n_classes=10))
    except MissingDataError as exc:
        pytest.skip(f"MNIST not available: {exc}")


@pytest.fixture(scope="session")
def dabney_dir() -> Path:
    """Folder with the 40 real dopamine cells of Dabney et al. 2020 (skips only when ../shared is absent)."""
    if not DABNEY_DIR.is_dir():
        pytest.skip(f"real dopamine cells not available: {DABNEY_DIR} is absent (CI always has it)")
    return DABNEY_DIR
