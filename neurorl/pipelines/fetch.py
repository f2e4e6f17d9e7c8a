"""``neurorl fetch mnist``: download MNIST and Fashion-MNIST into the user cache, checked by MD5.

``neurorl fetch mnist [--dataset mnist|fashion-mnist|all] [--dir DIR] [--url URL]`` fetches the four idx files
of each data set with pooch (see :func:`neurorl.io.mnist.fetch_mnist`) into ``DIR`` (default: the cache folder
that ``train qagrel`` and :func:`neurorl.io.mnist.load_mnist` search, ``~/.cache/neurorl/<dataset>``). Files
already there with the right checksum are kept; a file whose content does not match is never kept.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InvalidArgumentError

__all__ = ["register", "run_fetch_mnist"]


def run_fetch_mnist(args: argparse.Namespace) -> int:
    """``neurorl fetch mnist``."""
    import sys

    from .. import _progress
    from ..io.mnist import DATASETS, fetch_mnist

    if args.dataset == "all" and args.url is not None:
        raise InvalidArgumentError("--url names one data set's mirror (both use the same file names): "
                                   "fetch them one at a time with --dataset")
    if not args.timeout > 0:
        raise InvalidArgumentError(f"--timeout must be a positive number of seconds, not {args.timeout}")
    names = list(DATASETS) if args.dataset == "all" else [args.dataset]
    for name in names:
        directory = None
        if args.dir is not None:
            directory = Path(args.dir) / name if len(names) > 1 else Path(args.dir)
        folder = fetch_mnist(directory, dataset=name, url=args.url, timeout_s=args.timeout,
                             progressbar=not _progress._quiet and sys.stderr.isatty())
        hint = "" if args.dir is None else f" (use it with --data-dir {folder} or set {DATASETS[name]['env']})"
        print(f"{DATASETS[name]['name']}: 4 files in {folder}, MD5 checksums match{hint}")
    return 0


def register(groups: dict, parent: argparse.ArgumentParser) -> None:
    """Add ``fetch mnist`` to the command line."""
    p = groups["fetch"].add_parser(
        "mnist", parents=[parent], help="download MNIST / Fashion-MNIST into the cache (MD5-checked)",
        description="Download the MNIST (LeCun et al.) or Fashion-MNIST (Xiao et al.) idx files into the user "
                    "cache, where 'neurorl train' finds them, and check their MD5 checksums.")
    p.add_argument("--dataset", choices=("mnist", "fashion-mnist", "all"), default="mnist",
                   help="data set to fetch (default: mnist)")
    p.add_argument("--dir", metavar="DIR", default=None,
                   help="target folder (default: the user cache, ~/.cache/neurorl/<dataset>; with --dataset all, "
                        "one sub-folder per data set)")
    p.add_argument("--url", metavar="URL", default=None,
                   help="base URL of a mirror (https://, http:// or file://) holding <name>.gz files (default: "
                        "$NEURORL_MNIST_URL / $NEURORL_FASHION_MNIST_URL, else the data sets' own mirrors)")
    from .._argtypes import positive_float

    p.add_argument("--timeout", type=positive_float, default=60.0, metavar="S",
                   help="network timeout per request in seconds (default: 60)")
    p.set_defaults(func=run_fetch_mnist)
