"""Argument types of the ``neurorl`` command line (argparse ``type=`` callables and a list action).

Each type turns the text of one command-line word into a value or raises
:class:`argparse.ArgumentTypeError`, which argparse prints as one line,
``neurorl fit dopamine: error: argument --seed: must be an integer in 0..2**63-1, got '-1'``, with exit status 2.
The same callables check the values of a ``--config`` file (:mod:`neurorl._config`).
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "MAX_SEED",
    "seed",
    "finite_float",
    "positive_float",
    "nonnegative_float",
    "positive_int",
    "nonnegative_int",
    "probability",
    "correlation",
    "workers",
    "int_at_least",
    "cores",
    "float_in",
    "ListAction",
]

#: Largest seed: numpy.random.default_rng takes any non-negative integer; 2**63 - 1 keeps seeds within an int64
#: (netCDF, pandas columns) (assumed).
MAX_SEED: int = 2**63 - 1


def _as_int(text: Any, what: str) -> int:
    if isinstance(text, bool):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    if isinstance(text, int):
        return text
    if isinstance(text, float):
        if text.is_integer():
            return int(text)
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    try:
        return int(str(text).strip().replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None


def _as_float(text: Any, what: str) -> float:
    if isinstance(text, bool):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be {what} (finite), got {text!r}")
    return value


def seed(text: Any) -> int:
    """Parse a random seed: an integer in 0..2**63-1."""
    value = _as_int(text, "an integer in 0..2**63-1")
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer in 0..2**63-1, got {text!r}")
    return value


def finite_float(text: Any) -> float:
    """Parse any finite number (no nan, inf)."""
    return _as_float(text, "a number")


def positive_float(text: Any) -> float:
    """Parse a finite number > 0."""
    value = _as_float(text, "a positive number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def nonnegative_float(text: Any) -> float:
    """Parse a finite number >= 0."""
    value = _as_float(text, "a number >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}")
    return value


def positive_int(text: Any) -> int:
    """Parse an integer >= 1."""
    value = _as_int(text, "a positive integer")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def nonnegative_int(text: Any) -> int:
    """Parse an integer >= 0."""
    value = _as_int(text, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def int_at_least(low: int) -> Callable[[Any], int]:
    """Return a parser of integers >= ``low``."""

    def check(text: Any) -> int:
        value = _as_int(text, f"an integer >= {low}")
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}")
        return value

    check.__name__ = f"int_at_least_{low}"
    return check


def float_in(low: float, high: float, *, what: str | None = None) -> Callable[[Any], float]:
    """Return a parser of finite numbers in the closed interval [``low``, ``high``]."""
    what = what or f"a number in [{low:g}, {high:g}]"

    def check(text: Any) -> float:
        value = _as_float(text, what)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return value

    check.__name__ = f"float_in_{low:g}_{high:g}"
    return check


#: A probability: a number in [0, 1].
probability = float_in(0.0, 1.0, what="a probability in [0, 1]")
probability.__name__ = "probability"

#: A correlation coefficient: a number in [-1, 1].
correlation = float_in(-1.0, 1.0, what="a correlation in [-1, 1]")
correlation.__name__ = "correlation"


def workers(text: Any) -> int:
    """Parse a number of worker processes or threads: an integer >= 1, or -1 for one per CPU core (joblib's convention)."""
    value = _as_int(text, "an integer >= 1, or -1 for all cores")
    if value == -1:
        return value
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, or -1 for all cores, got {text!r}")
    return value


def cores(value: int) -> int:
    """Return the number of workers ``value`` stands for (-1: the CPU cores this process may use)."""
    if value != -1:
        return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ListAction(argparse.Action):
    """``nargs="+"`` list option that also accepts the older comma-separated form.

    ``--format png pdf`` is the way to pass a list. ``--format png,pdf`` (the older form of some commands) is
    split at the commas, with a one-line deprecation note on stderr once the command succeeded (so that a
    failure stays one line). Each item goes through the option's
    ``type`` (given to this action as ``item_type``, so argparse passes the raw words) and ``choices``.
    """

    def __init__(self, option_strings: Sequence[str], dest: str, *, item_type: Callable[[str], Any] | None = None,
                 nargs: str | int | None = "+", **kwargs: Any) -> None:
        self.item_type = item_type
        self.item_choices = kwargs.pop("choices", None)
        if self.item_choices is not None and kwargs.get("metavar") is None:
            kwargs["metavar"] = "{" + ",".join(map(str, self.item_choices)) + "}"
        super().__init__(option_strings, dest, nargs=nargs, **kwargs)

    def convert(self, words: Sequence[Any], *, notes: list[str] | None = None) -> list[Any]:
        """Split comma-separated words, convert each item and check its choices.

        A deprecation note for the comma-separated form is appended to ``notes`` (when given).
        """
        items: list[Any] = []
        for word in words:
            if isinstance(word, str) and "," in word:
                if notes is not None:
                    notes.append(f"{'/'.join(self.option_strings)} takes space-separated values; the "
                                 f"comma-separated form {word!r} is deprecated")
                items.extend(part.strip() for part in word.split(",") if part.strip())
            else:
                items.append(word)
        values = []
        for item in items:
            if self.item_type is not None:
                try:
                    item = self.item_type(item)
                except argparse.ArgumentTypeError as error:
                    raise argparse.ArgumentError(self, str(error)) from None
                except (TypeError, ValueError):
                    raise argparse.ArgumentError(self, f"invalid value: {item!r}") from None
            if self.item_choices is not None and item not in self.item_choices:
                choices = ", ".join(map(repr, self.item_choices))
                raise argparse.ArgumentError(self, f"invalid choice: {item!r} (choose from {choices})")
            values.append(item)
        return values

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        words = values if isinstance(values, list) else [values]
        notes = list(getattr(namespace, "_notes", None) or [])
        setattr(namespace, self.dest, self.convert(words, notes=notes))
        if notes:
            namespace._notes = notes  # printed by the command line once the command succeeded
