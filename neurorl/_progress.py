"""Progress bars: tqdm, shown only on a terminal and never with ``--quiet``."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

_quiet = False


def set_quiet(quiet: bool) -> None:
    """Turn every progress bar of this process off (``True``) or back to automatic (``False``)."""
    global _quiet
    _quiet = bool(quiet)


def progress(iterable: Iterable[T], *, desc: str | None = None, total: int | None = None,
             disable: bool | None = None, **kwargs) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar unless quiet or stderr is not a terminal."""
    if disable is None:
        disable = _quiet or not sys.stderr.isatty()
    return tqdm(iterable, desc=desc, total=total, disable=disable, leave=False, **kwargs)
