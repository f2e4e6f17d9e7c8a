"""Load MNIST (LeCun, Cortes & Burges) or Fashion-MNIST (Xiao, Rasul & Vollgraf) from the original idx files.

Both data sets come as the same four idx files (60,000 training and 10,000 test images of 28 x 28 grey levels,
labels 0-9); pass ``dataset="mnist"`` (default) or ``dataset="fashion-mnist"``. Where the files are looked for, in
order:

1. an explicit ``directory`` argument;
2. the environment variable ``NEURORL_MNIST_DIR`` (MNIST) or ``NEURORL_FASHION_MNIST_DIR`` (Fashion-MNIST);
3. the user cache directory, ``$XDG_CACHE_HOME/neurorl/<dataset>`` (``~/.cache/neurorl/mnist`` or
   ``~/.cache/neurorl/fashion-mnist``);
4. for Fashion-MNIST, where Debian's ``dataset-fashion-mnist`` package installs it,
   ``/usr/share/datasets/fashion-mnist``.

Files may be plain idx files or gzipped (``.gz``). The *decompressed* bytes are checked against MD5 checksums
(gzip files of the same data differ byte-wise between copies, e.g. Debian recompresses them; their content does
not). :func:`download_mnist` fetches a copy into the cache for users who have none.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ChecksumError, InvalidArgumentError, InvalidRecordingError, MissingDataError
from ._atomic import atomic_path

__all__ = ["MNIST_MD5", "FASHION_MNIST_MD5", "DATASETS", "load_mnist", "load_fashion_mnist", "find_mnist_dir",
           "download_mnist", "read_idx", "default_cache_dir"]

#: MD5 of the decompressed idx files, as published with the data set.
MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

#: MD5 of the decompressed Fashion-MNIST idx files. The project publishes MD5s of its gzip files only; these are
#: the MD5s of their content (the same for the project's gzip files and Debian's recompressed ones).
FASHION_MNIST_MD5: dict[str, str] = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}

#: Mirrors tried in order by :func:`download_mnist` (gzipped idx files).
MNIST_MIRRORS: tuple[str, ...] = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)

#: Fashion-MNIST's own download location (plain http; the content is checked against its MD5 before use).
FASHION_MNIST_MIRRORS: tuple[str, ...] = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

#: The data sets this module reads: display name, checksums of the decompressed files, environment variable,
#: cache sub-folder, folders where system packages install them, download mirrors.
DATASETS: dict[str, dict] = {
    "mnist": {"name": "MNIST", "md5": MNIST_MD5, "env": "NEURORL_MNIST_DIR", "cache": "mnist",
              "system_dirs": (), "mirrors": MNIST_MIRRORS},
    "fashion-mnist": {"name": "Fashion-MNIST", "md5": FASHION_MNIST_MD5, "env": "NEURORL_FASHION_MNIST_DIR",
                      "cache": "fashion-mnist", "system_dirs": ("/usr/share/datasets/fashion-mnist",),
                      "mirrors": FASHION_MNIST_MIRRORS},
}

_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def _dataset(dataset: str) -> dict:
    if dataset not in DATASETS:
        raise InvalidArgumentError(f"dataset must be one of {sorted(DATASETS)}, not {dataset!r}")
    return DATASETS[dataset]


def default_cache_dir(dataset: str = "mnist") -> Path:
    """The user cache folder of a data set (``$XDG_CACHE_HOME/neurorl/<dataset>``, default ``~/.cache/...``)."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "neurorl" / _dataset(dataset)["cache"]


def _candidates(directory: Path, stem: str) -> list[Path]:
    return [directory / stem, directory / f"{stem}.gz"]


def _has_all(directory: Path) -> bool:
    return all(any(p.is_file() for p in _candidates(directory, stem)) for stem in MNIST_MD5)


def find_mnist_dir(directory: str | os.PathLike | None = None, dataset: str = "mnist") -> Path:
    """Return the folder that holds the four idx files of ``dataset`` (``"mnist"`` or ``"fashion-mnist"``).

    Raises
    ------
    MissingDataError
        If no folder on the search path holds all four files.
    """
    info = _dataset(dataset)
    if directory is not None:
        directory = Path(directory)
        if not directory.is_dir():
            raise MissingDataError(f"{info['name']} folder does not exist", directory)
        if not _has_all(directory):
            missing = [s for s in info["md5"] if not any(p.is_file() for p in _candidates(directory, s))]
            raise MissingDataError(f"{info['name']} files missing: {', '.join(missing)}", directory)
        return directory
    searched = []
    env = os.environ.get(info["env"])
    for folder in ([Path(env)] if env else []) + [default_cache_dir(dataset)] + [Path(d) for d in info["system_dirs"]]:
        searched.append(str(folder))
        if folder.is_dir() and _has_all(folder):
            return folder
    call = "download_mnist()" if dataset == "mnist" else f"download_mnist(dataset={dataset!r})"
    raise MissingDataError(
        f"no copy of {info['name']} found (searched " + ", ".join(searched) + f"); pass a folder, set "
        f"{info['env']}, or call neurorl.io.mnist.{call}"
    )


def _read_bytes(directory: Path, stem: str) -> tuple[bytes, Path]:
    for path in _candidates(directory, stem):
        if path.is_file():
            try:
                raw = path.read_bytes()
                data = gzip.decompress(raw) if path.suffix == ".gz" else raw
            except (OSError, EOFError, gzip.BadGzipFile) as exc:
                raise InvalidRecordingError(f"cannot decompress: {exc}", path) from None
            return data, path
    raise MissingDataError(f"{stem} not found", directory)


def read_idx(data: bytes, path: str | os.PathLike = "<bytes>") -> np.ndarray:
    """Parse the bytes of an idx file into an array of its declared type and shape."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise InvalidRecordingError("not an idx file (bad magic number)", path)
    ndim = data[3]
    header = 4 + 4 * ndim
    shape = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = header + int(np.prod(shape)) * dtype.itemsize
    if len(data) != expected:
        raise InvalidRecordingError(f"idx file has {len(data)} bytes, its header implies {expected}", path)
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def load_mnist(
    split: Literal["train", "test"] = "train",
    *,
    directory: str | os.PathLike | None = None,
    as_float: bool = True,
    verify: bool = True,
    dataset: str = "mnist",
) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of MNIST (or of Fashion-MNIST with ``dataset="fashion-mnist"``).

    Parameters
    ----------
    split
        ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
    directory
        Folder with the idx files (plain or ``.gz``); default: see the module docstring.
    as_float
        Return images as float32 scaled to [0, 1] (default) instead of uint8 grey levels 0-255.
    verify
        Check the MD5 of the decompressed bytes against :data:`MNIST_MD5` (:data:`FASHION_MNIST_MD5`).
    dataset
        ``"mnist"`` (default) or ``"fashion-mnist"`` (labels: 0 T-shirt/top, 1 trouser, 2 pullover, 3 dress,
        4 coat, 5 sandal, 6 shirt, 7 sneaker, 8 bag, 9 ankle boot).

    Returns
    -------
    images : numpy.ndarray
        Shape (n, 28, 28); float32 in [0, 1] or uint8.
    labels : numpy.ndarray
        Shape (n,), uint8 classes 0-9.

    Raises
    ------
    ChecksumError
        If a file's content does not match its published checksum.
    MissingDataError
        If no copy is found.

    Examples
    --------
    >>> images, labels = load_mnist("train")  # doctest: +SKIP
    >>> images.shape, labels[:5]  # doctest: +SKIP
    ((60000, 28, 28), array([5, 0, 4, 1, 9], dtype=uint8))
    """
    if split not in _SPLIT_FILES:
        raise InvalidArgumentError(f"split must be 'train' or 'test', not {split!r}")
    checksums = _dataset(dataset)["md5"]
    folder = find_mnist_dir(directory, dataset)
    arrays = []
    for stem in _SPLIT_FILES[split]:
        data, path = _read_bytes(folder, stem)
        if verify:
            digest = hashlib.md5(data).hexdigest()
            if digest != checksums[stem]:
                raise ChecksumError(
                    f"MD5 of the decompressed content is {digest}, expected {checksums[stem]}", path
                )
        arrays.append(read_idx(data, path))
    images, labels = arrays
    if images.shape[0] != labels.shape[0]:
        raise InvalidRecordingError(f"{images.shape[0]} images but {labels.shape[0]} labels", folder)
    if as_float:
        images = images.astype(np.float32) / np.float32(255.0)
    return images, labels


def load_fashion_mnist(split: Literal["train", "test"] = "train", *, directory: str | os.PathLike | None = None,
                       as_float: bool = True, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of Fashion-MNIST; the same as ``load_mnist(split, dataset="fashion-mnist", ...)``."""
    return load_mnist(split, directory=directory, as_float=as_float, verify=verify, dataset="fashion-mnist")


def download_mnist(directory: str | os.PathLike | None = None, *, mirrors: tuple[str, ...] | None = None,
                   timeout_s: float = 60.0, dataset: str = "mnist") -> Path:
    """Download the four gzipped files of ``dataset`` into ``directory`` (default: its user cache) and verify them.

    A file already present with the right checksum is not downloaded again. Each file is written
    atomically and only after its decompressed MD5 matched. ``mirrors`` default to the data set's own list.
    """
    info = _dataset(dataset)
    mirrors = info["mirrors"] if mirrors is None else mirrors
    folder = Path(directory) if directory is not None else default_cache_dir(dataset)
    folder.mkdir(parents=True, exist_ok=True)
    for stem, md5 in info["md5"].items():
        target = folder / f"{stem}.gz"
        if target.is_file() and hashlib.md5(gzip.decompress(target.read_bytes())).hexdigest() == md5:
            continue
        errors = []
        for mirror in mirrors:
            url = f"{mirror}{stem}.gz"
            try:
                with urllib.request.urlopen(url, timeout=timeout_s) as response:  # noqa: S310 - https mirrors
                    raw = response.read()
                if hashlib.md5(gzip.decompress(raw)).hexdigest() != md5:
                    errors.append(f"{url}: checksum mismatch")
                    continue
            except OSError as exc:
                errors.append(f"{url}: {exc}")
                continue
            with atomic_path(target) as tmp:
                tmp.write_bytes(raw)
            break
        else:
            raise MissingDataError(f"could not download {info['name']}: " + "; ".join(errors), target)
    return folder
