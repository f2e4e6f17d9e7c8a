"""``--config FILE``: a command's options from a TOML file.

Every ``neurorl`` command takes ``--config FILE``. The file's keys are that command's own long option names,
with dashes or underscores (``n-train`` or ``n_train`` for ``--n-train``); values are TOML values (a list for
an option that takes several values, ``true``/``false`` for a flag)::

    # fit.toml, for: neurorl fit dopamine RECORDING --config fit.toml
    out = "fit"
    bootstrap = 500
    format = ["png", "pdf"]

    [recording]                  # tables group keys; their names are free (one level)
    units = "processing/ecephys/units"
    reward_column = "reward_size"

    [responses]
    window_ms = [200, 600]

Keys may sit at the top level or inside one level of tables; a table's name only groups its keys (a
``recording.toml`` written for :class:`neurorl.io.spec.RecordingSpec`, with ``[recording]`` and ``[responses]``,
is a valid ``--config`` of ``fit dopamine`` and ``reproduce dopamine``). Positional arguments (the recording,
the files) stay on the command line.

Precedence: built-in default < ``--preset`` (where a command has one) < the config file < command-line flags.
A key that is not an option of the command, or a value the option refuses, is an error naming the file and the
key (exit status 2).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import InvalidArgumentError

__all__ = ["add_config_option", "apply_config", "read_config", "config_values"]

#: Options a config file may not set (they select the file itself, or only print).
_NOT_IN_CONFIG = {"config", "help", "version"}


def add_config_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--config FILE`` to a command's parser (once)."""
    if any("--config" in action.option_strings for action in parser._actions):
        return
    parser.add_argument("--config", metavar="FILE", default=None,
                        help="TOML file of this command's options (keys: the long option names, dashes or "
                             "underscores; one level of tables allowed); command-line flags override it "
                             "(default: none)")


def load_toml(path: str | os.PathLike, *, what: str = "") -> dict[str, Any]:
    """Read a TOML file; a missing, unreadable or malformed file is one :class:`InvalidArgumentError` naming it."""
    import tomllib

    path = Path(path)
    note = f" ({what})" if what else ""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise InvalidArgumentError(f"no such file{note}", path) from None
    except IsADirectoryError:
        raise InvalidArgumentError(f"is a folder, not a TOML file{note}", path) from None
    except OSError as error:
        raise InvalidArgumentError(f"cannot read it ({error.strerror or error})", path) from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidArgumentError(f"not valid TOML ({error})", path) from None


def read_config(path: str | os.PathLike, keep_tables: Sequence[str] = ()) -> dict[str, Any]:
    """Read a TOML file and flatten one level of tables into ``{key: value}``.

    Tables named in ``keep_tables`` are not flattened: they come as ``{name: {key: value}}`` (a command's
    settings objects, e.g. ``simulate bci``'s ``[task]``, ``[learner]`` and ``[imaging]``).

    Raises
    ------
    InvalidArgumentError
        The file is missing, not TOML, nests tables deeper than one level, or gives one key twice.
    """
    path = Path(path)
    options = load_toml(path, what="--config")
    flat: dict[str, Any] = {}
    for key, value in options.items():
        if key in keep_tables and isinstance(value, Mapping):
            flat[key] = {inner.replace("-", "_"): inner_value for inner, inner_value in value.items()}
            continue
        items = value.items() if isinstance(value, Mapping) else [(key, value)]
        for inner, inner_value in items:
            if isinstance(inner_value, Mapping):
                raise InvalidArgumentError(f"table [{key}.{inner}] is nested too deep (one level of tables)", path)
            name = inner.replace("-", "_")
            if name in flat:
                raise InvalidArgumentError(f"key {inner!r} is given twice", path)
            flat[name] = inner_value
    return flat


def _options(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Return the command's long options by key (``n_train`` for ``--n-train``; every alias of an option)."""
    found: dict[str, argparse.Action] = {}
    for action in parser._actions:
        for option in action.option_strings:
            if option.startswith("--"):
                key = option[2:].replace("-", "_")
                if key not in _NOT_IN_CONFIG:
                    found[key] = action
    return found


def _convert(action: argparse.Action, key: str, value: Any, path: Path) -> Any:
    from ._argtypes import ListAction

    def fail(problem: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"{key}: {problem}", path)

    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction | argparse._StoreConstAction):
        if not isinstance(value, bool):
            raise fail(f"must be true or false, got {value!r}")
        if isinstance(action, argparse._StoreFalseAction):
            return not value
        return action.const if value else action.default
    if not isinstance(action, argparse._StoreAction | ListAction):
        raise fail("cannot be set in a config file")
    many = action.nargs not in (None, "?")
    if isinstance(value, list) and not many:
        raise fail(f"takes one value, got a list {value!r}")
    values = value if isinstance(value, list) else [value]
    if isinstance(action, ListAction):
        try:
            return action.convert(list(values))
        except argparse.ArgumentError as error:
            raise fail(error.message) from None
    if isinstance(action.nargs, int) and len(values) != action.nargs:
        raise fail(f"takes {action.nargs} values, got {value!r}")
    converted = []
    for item in values:
        if isinstance(item, Mapping | list):
            raise fail(f"invalid value {item!r}")
        if action.type is not None:
            try:
                item = action.type(item if isinstance(item, str | int | float) and not isinstance(item, bool)
                                    else str(item))
            except argparse.ArgumentTypeError as error:
                raise fail(str(error)) from None
            except (TypeError, ValueError):
                raise fail(f"invalid value {item!r}") from None
        elif not isinstance(item, str):
            item = str(item) if not isinstance(item, bool) else item
        if action.choices is not None and item not in action.choices:
            raise fail(f"must be one of {', '.join(map(str, action.choices))}, got {item!r}")
        converted.append(item)
    return converted if many else converted[0]


def config_values(parser: argparse.ArgumentParser, path: str | os.PathLike) -> dict[str, Any]:
    """Return the option values (by ``dest``) a config file gives for the command of ``parser``.

    Raises
    ------
    InvalidArgumentError
        An unknown key (naming the file and the key) or a value the option refuses.
    """
    path = Path(path)
    tables = tuple(parser.get_default("_config_tables") or ())
    flat = read_config(path, keep_tables=tables)
    options = _options(parser)
    values: dict[str, Any] = {}
    for key, value in flat.items():
        if key in tables:
            values[key] = value  # checked by the command (unknown keys are refused there)
            continue
        action = options.get(key)
        if action is None:
            if key in _NOT_IN_CONFIG:
                raise InvalidArgumentError(f"key {key!r} cannot be set in a config file", path)
            raise InvalidArgumentError(f"unknown key {key!r} for this command (known: {', '.join(sorted(options))})",
                                       path)
        values[action.dest] = _convert(action, key, value, path)
    return values


def _command_words(argv: Sequence[str]) -> list[str]:
    """Return the group and command words of a command line (the first words not starting with ``-``)."""
    return [word for word in argv if not word.startswith("-")][:2]


def _config_path(argv: Sequence[str]) -> str | None:
    path = None
    for index, word in enumerate(argv):
        if word == "--":
            break
        if word == "--config" and index + 1 < len(argv):
            path = argv[index + 1]
        elif word.startswith("--config="):
            path = word.split("=", 1)[1]
    return path


def apply_config(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Make the values of ``--config FILE`` in ``argv`` the defaults of its command's parser.

    Flags on the command line then override them when ``argv`` is parsed; an option the file sets is no longer
    required on the command line.
    """
    path = _config_path(argv)
    if path is None:
        return
    from .cli import command_parsers

    parsers = command_parsers(parser)
    words = _command_words(argv)
    command = parsers.get(tuple(words)) or parsers.get(tuple(words[:1]))
    if command is None:
        return  # argparse will say what is wrong with the command line
    values = config_values(command, path)
    for action in command._actions:
        if action.dest in values:
            action.required = False
    command.set_defaults(**values)
