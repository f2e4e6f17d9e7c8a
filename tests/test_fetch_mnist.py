"""``neurorl fetch mnist`` / :func:`neurorl.io.mnist.fetch_mnist` against local mirrors (file:// and http on 127.0.0.1).

The mirror is a copy of ``../shared/data/mnist`` made in a temporary folder. A file whose content does not match
its published MD5 is refused and never kept; files already fetched are not fetched again.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pytest

from neurorl import errors
from neurorl.cli import main
from neurorl.io import mnist


@pytest.fixture
def mirror(mnist_dir: Path, tmp_path: Path) -> Path:
    folder = tmp_path / "mirror"
    folder.mkdir()
    for stem in mnist.MNIST_MD5:
        shutil.copyfile(mnist_dir / f"{stem}.gz", folder / f"{stem}.gz")
    return folder


class _Server:
    """``http.server`` on 127.0.0.1 serving a folder, counting the requests it answered."""

    def __init__(self, folder: Path) -> None:
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args) -> None:  # keep pytest's output clean, count instead
                server.requests.append(self.path)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                     functools.partial(Handler, directory=str(folder)))
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(mirror: Path):
    s = _Server(mirror)
    yield s
    s.close()


def _same_as_original(folder: Path, mnist_dir: Path) -> None:
    for split in ("train", "test"):
        images, labels = mnist.load_mnist(split, directory=folder, as_float=False)  # MD5-checked again
        reference = mnist.load_mnist(split, directory=mnist_dir, as_float=False)
        np.testing.assert_array_equal(labels, reference[1])
        np.testing.assert_array_equal(images[::997], reference[0][::997])


def test_fetch_from_file_mirror(mirror: Path, mnist_dir: Path, tmp_path: Path) -> None:
    target = mnist.fetch_mnist(tmp_path / "cache", url=mirror.as_uri() + "/")
    assert sorted(p.name for p in target.iterdir()) == sorted(mnist.MNIST_MD5)
    _same_as_original(target, mnist_dir)
    umask = os.umask(0)
    os.umask(umask)
    for path in target.iterdir():  # the permissions of a new file, not those of pooch's private temporary files
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_cli_fetch_over_http_into_cache_then_train_finds_it(server: _Server, mnist_dir: Path, tmp_path: Path,
                                                             monkeypatch, capsys) -> None:
    monkeypatch.delenv("NEURORL_MNIST_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("NEURORL_MNIST_URL", server.url)
    with pytest.raises(errors.MissingDataError, match=r"run `neurorl fetch mnist`"):
        mnist.find_mnist_dir()
    assert main(["fetch", "mnist", "--quiet"]) == 0
    cache = tmp_path / "xdg" / "neurorl" / "mnist"
    assert f"MNIST: 4 files in {cache}" in capsys.readouterr().out
    assert sorted(server.requests) == sorted(f"/{stem}.gz" for stem in mnist.MNIST_MD5)
    assert mnist.find_mnist_dir() == cache
    _same_as_original(cache, mnist_dir)
    # a second run finds every file with the right checksum: nothing is fetched
    assert main(["fetch", "mnist", "--quiet"]) == 0
    assert len(server.requests) == 4


def test_corrupt_file_is_refused_and_not_kept(server: _Server, mirror: Path, tmp_path: Path, capsys) -> None:
    name = "t10k-labels-idx1-ubyte"
    content = bytearray(gzip.decompress((mirror / f"{name}.gz").read_bytes()))
    content[5000] ^= 0x01  # one label changed: still a valid idx file, only the checksum tells
    (mirror / f"{name}.gz").write_bytes(gzip.compress(bytes(content)))
    target = tmp_path / "target"
    with pytest.raises(errors.ChecksumError, match=f"{name}.gz: MD5 of the content is .* expected "
                                                   f"{mnist.MNIST_MD5[name]}"):
        mnist.fetch_mnist(target, url=server.url)
    assert not (target / name).exists()
    assert main(["fetch", "mnist", "--dir", str(tmp_path / "cli"), "--url", server.url, "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"neurorl: error: {tmp_path / 'cli'}: could not fetch MNIST")
    assert not (tmp_path / "cli" / name).exists()


def test_corrupt_file_in_cache_is_replaced(mirror: Path, mnist_dir: Path, tmp_path: Path) -> None:
    target = mnist.fetch_mnist(tmp_path / "cache", url=mirror.as_uri())
    labels = target / "train-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes()[:-10])  # damaged after download
    with pytest.raises(errors.InvalidRecordingError):
        mnist.load_mnist("train", directory=target)
    mnist.fetch_mnist(target, url=mirror.as_uri())
    _same_as_original(target, mnist_dir)


def test_mirrors_tried_in_order_and_missing_file_named(mirror: Path, tmp_path: Path) -> None:
    good = mirror.as_uri() + "/"
    target = mnist.fetch_mnist(tmp_path / "a", mirrors=((tmp_path / "empty").as_uri() + "/", good))
    assert len(list(target.iterdir())) == 4
    with pytest.raises(errors.MissingDataError, match="could not fetch MNIST train-images-idx3-ubyte.*no such file"):
        mnist.fetch_mnist(tmp_path / "b", url=(tmp_path / "empty").as_uri() + "/")
    # Fashion-MNIST has its own checksums: MNIST's files are refused as Fashion-MNIST
    with pytest.raises(errors.ChecksumError, match="Fashion-MNIST"):
        mnist.fetch_mnist(tmp_path / "c", url=good, dataset="fashion-mnist")
    assert list((tmp_path / "c").iterdir()) == []


def test_unreachable_server_is_one_line(tmp_path: Path, capsys) -> None:
    import socket

    with socket.socket() as sock:  # a port that nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}/"
    assert main(["fetch", "mnist", "--dir", str(tmp_path), "--url", url, "--timeout", "5", "--quiet"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "could not fetch MNIST train-images-idx3-ubyte" in err and url in err


@pytest.mark.parametrize("argv, message", [
    (["--dataset", "all", "--url", "file:///x/"], "--url names one data set's mirror"),
    (["--timeout", "0"], "argument --timeout: must be a positive number"),
    (["--timeout", "nan"], "argument --timeout: must be a positive number"),
])
def test_bad_arguments_exit_2(argv, message: str, tmp_path: Path, capsys) -> None:
    assert main(["fetch", "mnist", "--dir", str(tmp_path), *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err
    assert list(tmp_path.iterdir()) == []
