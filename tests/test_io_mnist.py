"""MNIST loading from the original idx files, with checksum verification."""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest

from neurorl import errors
from neurorl.io import mnist


def test_real_mnist_shapes_labels_and_checksums(mnist_dir: Path) -> None:
    images, labels = mnist.load_mnist("train", directory=mnist_dir, as_float=False)
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels[:5].tolist() == [5, 0, 4, 1, 9]
    assert np.bincount(labels).sum() == 60000 and set(np.unique(labels)) == set(range(10))
    test_images, test_labels = mnist.load_mnist("test", directory=mnist_dir)
    assert test_images.shape == (10000, 28, 28) and test_images.dtype == np.float32
    assert test_images.min() == 0.0 and test_images.max() == 1.0
    assert test_labels[:3].tolist() == [7, 2, 1]
    # the published checksums are those of the shared copy's MD5SUMS file
    published = dict(line.split()[::-1] for line in (mnist_dir / "MD5SUMS").read_text().splitlines() if line.strip())
    assert published == mnist.MNIST_MD5


def test_float_images_are_uint8_over_255(mnist_dir: Path) -> None:
    as_uint8, _ = mnist.load_mnist("test", directory=mnist_dir, as_float=False)
    as_float, _ = mnist.load_mnist("test", directory=mnist_dir)
    np.testing.assert_array_equal(as_float, as_uint8.astype(np.float32) / 255.0)


def test_plain_idx_files_and_env_variable(mnist_dir: Path, tmp_path: Path, monkeypatch) -> None:
    for stem in mnist.MNIST_MD5:
        (tmp_path / stem).write_bytes(gzip.decompress((mnist_dir / f"{stem}.gz").read_bytes()))
    monkeypatch.setenv("NEURORL_MNIST_DIR", str(tmp_path))
    assert mnist.find_mnist_dir() == tmp_path
    images, labels = mnist.load_mnist("test", as_float=False)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)


def test_corrupted_copy_is_refused(mnist_dir: Path, tmp_path: Path) -> None:
    for stem in mnist.MNIST_MD5:
        shutil.copy(mnist_dir / f"{stem}.gz", tmp_path / f"{stem}.gz")
    raw = bytearray(gzip.decompress((tmp_path / "t10k-images-idx3-ubyte.gz").read_bytes()))
    raw[5000] ^= 0xFF  # flip one pixel: same size, valid header, wrong content
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(errors.ChecksumError, match="t10k-images-idx3-ubyte.gz: MD5") as info:
        mnist.load_mnist("test", directory=tmp_path)
    assert hashlib.md5(bytes(raw)).hexdigest() in str(info.value)
    # the train split is untouched and still loads
    assert mnist.load_mnist("train", directory=tmp_path, as_float=False)[0].shape[0] == 60000


def test_truncated_gzip_is_refused(mnist_dir: Path, tmp_path: Path) -> None:
    for stem in mnist.MNIST_MD5:
        shutil.copy(mnist_dir / f"{stem}.gz", tmp_path / f"{stem}.gz")
    target = tmp_path / "t10k-labels-idx1-ubyte.gz"
    target.write_bytes(target.read_bytes()[:1000])
    with pytest.raises(errors.InvalidRecordingError, match="cannot decompress"):
        mnist.load_mnist("test", directory=tmp_path)


def test_no_copy_found_gives_clear_error(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NEURORL_MNIST_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(errors.MissingDataError, match="no copy of MNIST found.*neurorl fetch mnist"):
        mnist.load_mnist()
    with pytest.raises(errors.MissingDataError, match="MNIST files missing"):
        mnist.find_mnist_dir(tmp_path)


def test_idx_parser_checks_header_and_size() -> None:
    header = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    np.testing.assert_array_equal(mnist.read_idx(header + bytes(range(6))), np.arange(6).reshape(2, 3))
    with pytest.raises(errors.InvalidRecordingError, match="header implies"):
        mnist.read_idx(header + bytes(5))
    with pytest.raises(errors.InvalidRecordingError, match="magic"):
        mnist.read_idx(b"\x01\x02\x03\x04")


def test_bad_split_is_an_argument_error() -> None:
    with pytest.raises(errors.InvalidArgumentError):
        mnist.load_mnist("validation")
