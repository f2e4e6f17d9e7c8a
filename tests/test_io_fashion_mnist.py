"""Fashion-MNIST through neurorl.io.mnist and ``neurorl train ... --dataset fashion-mnist``.

The data are not part of the repository. Tests that need them look, in order, at ``$NEURORL_FASHION_MNIST_DIR``,
``../shared/data/fashion-mnist`` beside the repository and Debian's ``/usr/share/datasets/fashion-mnist``
(package ``dataset-fashion-mnist``), and skip with the reason when none holds the files.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from neurorl import errors
from neurorl.io import mnist

REPO = Path(__file__).resolve().parents[1]
CANDIDATES = [Path(os.environ["NEURORL_FASHION_MNIST_DIR"])] if os.environ.get("NEURORL_FASHION_MNIST_DIR") else []
CANDIDATES += [REPO.parent / "shared" / "data" / "fashion-mnist", Path("/usr/share/datasets/fashion-mnist")]


@pytest.fixture(scope="module")
def fashion_dir() -> Path:
    for folder in CANDIDATES:
        try:
            return mnist.find_mnist_dir(folder, dataset="fashion-mnist")
        except errors.MissingDataError:
            continue
    pytest.skip("Fashion-MNIST not available: set NEURORL_FASHION_MNIST_DIR to a folder with its four idx files "
                "(searched " + ", ".join(map(str, CANDIDATES)) + ")")


def test_fashion_mnist_shapes_labels_and_checksums(fashion_dir: Path) -> None:
    images, labels = mnist.load_fashion_mnist("train", directory=fashion_dir, as_float=False)  # MD5s checked
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels[:10].tolist() == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5]  # ankle boot, T-shirt, T-shirt, dress, ...
    assert np.bincount(labels).tolist() == [6000] * 10  # balanced classes
    test_images, test_labels = mnist.load_mnist("test", directory=fashion_dir, dataset="fashion-mnist")
    assert test_images.shape == (10000, 28, 28) and test_images.dtype == np.float32
    assert test_images.min() == 0.0 and test_images.max() == 1.0
    assert np.bincount(test_labels).tolist() == [1000] * 10
    assert test_labels[:5].tolist() == [9, 2, 1, 1, 6]
    # not MNIST by mistake: the same file names, different content
    with pytest.raises(errors.ChecksumError, match="MD5"):
        mnist.load_mnist("test", directory=fashion_dir, dataset="mnist")


def test_environment_variable_is_searched(fashion_dir: Path, tmp_path: Path, monkeypatch) -> None:
    for stem in mnist.FASHION_MNIST_MD5:
        source = fashion_dir / f"{stem}.gz"
        data = gzip.decompress(source.read_bytes()) if source.exists() else (fashion_dir / stem).read_bytes()
        (tmp_path / stem).write_bytes(data)
    monkeypatch.setenv("NEURORL_FASHION_MNIST_DIR", str(tmp_path))
    assert mnist.find_mnist_dir(dataset="fashion-mnist") == tmp_path
    assert mnist.load_fashion_mnist("test", as_float=False)[1].shape == (10000,)


def test_cli_trains_on_fashion_mnist(fashion_dir: Path, tmp_path: Path) -> None:
    import xarray as xr

    from neurorl.cli import main

    out = tmp_path / "run"
    status = main(["--quiet", "train", "qagrel", "--dataset", "fashion-mnist", "--data-dir", str(fashion_dir),
                   "--hidden", "50", "--epochs", "2", "--lr", "0.2", "--n-train", "6000", "--n-test", "1000",
                   "--out", str(out)])
    assert status == 0
    with xr.open_dataset(out / "history.nc", engine="h5netcdf") as history:
        assert history.attrs["dataset"] == "fashion-mnist"
        assert history["test_accuracy"].values[-1] > 0.3  # measured 0.489; chance is 0.1
    assert main(["--quiet", "train", "backprop", "--dataset", "fashion-mnist", "--data-dir", str(fashion_dir),
                 "--hidden", "20", "--epochs", "1", "--n-train", "1000", "--n-test", "200",
                 "--out", str(tmp_path / "bp")]) == 0


def test_missing_fashion_mnist_names_its_variable(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NEURORL_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setitem(mnist.DATASETS, "fashion-mnist", {**mnist.DATASETS["fashion-mnist"], "system_dirs": ()})
    with pytest.raises(errors.MissingDataError,
                       match="no copy of Fashion-MNIST found.*NEURORL_FASHION_MNIST_DIR.*fashion-mnist"):
        mnist.load_fashion_mnist()
    with pytest.raises(errors.InvalidArgumentError, match="dataset must be one of"):
        mnist.load_mnist("test", dataset="cifar10")
    assert mnist.default_cache_dir("fashion-mnist") == tmp_path / "cache" / "neurorl" / "fashion-mnist"
