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
not). :func:`fetch_mnist` (the command ``neurorl fetch mnist``) fetches a copy into the cache for users who have none.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Literal

import numpy as np

from ..errors import ChecksumError, InvalidArgumentError, InvalidRecordingError, MissingDataError

__all__ = ["MNIST_MD5", "FASHION_MNIST_MD5", "DATASETS", "load_mnist", "load_fashion_mnist", "find_mnist_dir",
           "fetch_mnist", "download_mnist", "read_idx", "default_cache_dir"]

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
              "system_dirs": (), "mirrors": MNIST_MIRRORS, "url_env": "NEURORL_MNIST_URL"},
    "fashion-mnist": {"name": "Fashion-MNIST", "md5": FASHION_MNIST_MD5, "env": "NEURORL_FASHION_MNIST_DIR",
                      "cache": "fashion-mnist", "system_dirs": ("/usr/share/datasets/fashion-mnist",),
                      "mirrors": FASHION_MNIST_MIRRORS, "url_env": "NEURORL_FASHION_MNIST_URL"},
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
    command = "neurorl fetch mnist" + ("" if dataset == "mnist" else f" --dataset {dataset}")
    raise MissingDataError(
        f"no copy of {info['name']} found (searched " + ", ".join(searched) + f"); pass a folder (--data-dir), "
        f"set {info['env']}, or run `{command}` to download it into the cache"
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


def _mirrors_of(dataset: str, url: str | None, mirrors: tuple[str, ...] | None) -> tuple[str, ...]:
    """Base URLs to try: ``url``, else ``mirrors``, else the environment variable, else the data set's own list."""
    info = _dataset(dataset)
    if url is not None:
        return (url,)
    if mirrors is not None:
        return tuple(mirrors)
    env = os.environ.get(info["url_env"])
    return (env,) if env else info["mirrors"]


def _gunzip_downloader(timeout_s: float, progressbar: bool):
    """A pooch downloader that fetches ``URL`` (http, https or file) and stores its *decompressed* bytes.

    pooch then checks the MD5 of what was stored, i.e. of the idx content, which is the same for every copy of
    the data set (gzip files differ byte-wise between copies, e.g. recompressed ones).
    """
    import shutil
    import tempfile

    import pooch

    def download(url: str, output_file, pooch_obj) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            raw_path = Path(tmp) / "download"
            parsed = urllib.parse.urlparse(url)
            if parsed.scheme == "file":
                source = Path(urllib.request.url2pathname(parsed.path))
                if not source.is_file():
                    raise FileNotFoundError(f"no such file {source}")
                shutil.copyfile(source, raw_path)
            else:
                pooch.HTTPDownloader(progressbar=progressbar, timeout=timeout_s)(url, str(raw_path), pooch_obj)
            raw = raw_path.read_bytes()
        try:
            data = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
        except (OSError, EOFError) as exc:
            raise ValueError(f"cannot decompress {url}: {exc}") from None
        if hasattr(output_file, "write"):
            output_file.write(data)
        else:
            Path(output_file).write_bytes(data)

    return download


def fetch_mnist(directory: str | os.PathLike | None = None, *, dataset: str = "mnist", url: str | None = None,
                mirrors: tuple[str, ...] | None = None, timeout_s: float = 60.0, progressbar: bool = False) -> Path:
    """Download the four idx files of ``dataset`` into ``directory`` (default: its user cache), checked by MD5.

    ``neurorl fetch mnist`` runs this. The files are fetched with `pooch <https://www.fatiando.org/pooch>`_ from
    ``<base URL><name>.gz`` (a plain idx file at that address is accepted too), decompressed, and kept only if
    the MD5 of their content is the published one (:data:`MNIST_MD5`, :data:`FASHION_MNIST_MD5`); a file already
    present with the right checksum is not downloaded again.

    Parameters
    ----------
    directory
        Target folder; default :func:`default_cache_dir`, where :func:`load_mnist` looks.
    dataset
        ``"mnist"`` or ``"fashion-mnist"``.
    url
        Base URL to fetch from (``https://...``, ``http://...`` or ``file:///...``, ending in ``/``). Default: the
        environment variable ``NEURORL_MNIST_URL`` (``NEURORL_FASHION_MNIST_URL``), else the data set's mirrors.
    mirrors
        Base URLs tried in order when ``url`` is not given.
    timeout_s
        Network timeout per request (s).
    progressbar
        Show a download progress bar (needs tqdm).

    Returns
    -------
    pathlib.Path
        The folder holding the four files.

    Raises
    ------
    ChecksumError
        If every mirror served a file whose content does not match its checksum (nothing is kept).
    MissingDataError
        If a file could not be fetched from any mirror.
    """
    import logging

    import pooch

    info = _dataset(dataset)
    bases = _mirrors_of(dataset, url, mirrors)
    folder = Path(directory) if directory is not None else default_cache_dir(dataset)
    folder.mkdir(parents=True, exist_ok=True)
    downloader = _gunzip_downloader(timeout_s, progressbar)
    logger = pooch.get_logger()
    level = logger.level
    logger.setLevel(logging.WARNING)  # pooch logs every download at INFO
    try:
        for stem, md5 in info["md5"].items():
            errors: list[str] = []
            mismatch = False
            for base in bases:
                address = base if base.endswith("/") else base + "/"
                try:
                    fetched = Path(pooch.retrieve(f"{address}{stem}.gz", known_hash=f"md5:{md5}", fname=stem,
                                                  path=folder, downloader=downloader, progressbar=False))
                    _default_permissions(fetched)
                    break
                except ValueError as exc:  # pooch: the content's hash does not match (or it cannot decompress)
                    found = re.search(r"expected md5:(\w+) but got (\w+)", str(exc))
                    mismatch = mismatch or found is not None
                    text = (f"MD5 of the content is {found.group(2)}, expected {found.group(1)} (not kept)" if found
                            else str(exc).splitlines()[0][:200])
                    errors.append(f"{address}{stem}.gz: {text}")
                except Exception as exc:  # noqa: BLE001 - requests/urllib/OS errors of one mirror: try the next
                    text = str(exc).strip().splitlines()
                    errors.append(f"{address}{stem}.gz: {type(exc).__name__}: {text[0][:200] if text else ''}")
            else:
                error = ChecksumError if mismatch else MissingDataError
                raise error(f"could not fetch {info['name']} {stem}: " + "; ".join(errors), folder)
    finally:
        logger.setLevel(level)
    return folder


def _default_permissions(path: Path) -> None:
    """Give a file the permissions of a newly created one (pooch's temporary files are private, 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(0o666 & ~umask)


def download_mnist(directory: str | os.PathLike | None = None, *, mirrors: tuple[str, ...] | None = None,
                   timeout_s: float = 60.0, dataset: str = "mnist") -> Path:
    """Former name of :func:`fetch_mnist` (kept for existing scripts)."""
    return fetch_mnist(directory, mirrors=mirrors, timeout_s=timeout_s, dataset=dataset)
