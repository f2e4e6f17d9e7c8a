"""pytest settings for running the tutorial notebooks with nbmake (``python -m pytest --nbmake notebooks``).

The notebooks' kernels inherit this process's environment: point the MNIST loader at ``../shared/data/mnist``
beside the repository when it exists (as ``tests/conftest.py`` does), so that the Q-AGREL notebook finds MNIST
without a download.
"""

from __future__ import annotations

import os
from pathlib import Path

MNIST_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"

if "NEURORL_MNIST_DIR" not in os.environ and MNIST_DIR.is_dir():
    os.environ["NEURORL_MNIST_DIR"] = str(MNIST_DIR)
