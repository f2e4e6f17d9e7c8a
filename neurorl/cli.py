"""neurorl: fit, simulate and reproduce models of reward learning in the brain.

Distributional TD and dopamine recordings (Dabney et al. 2020), Q-AGREL on MNIST (Pozzi, Bohte & Roelfsema
2018), vectorized feedback in a BCI task (Francioni et al. 2026). Every command writes its results into an
``--out DIR`` folder; ``neurorl GROUP COMMAND --help`` lists a command's options with their defaults, and
``--config FILE`` reads them from a TOML file.

Thin by design: it parses arguments and hands them to a pipeline. Each pipeline module in
``neurorl.pipelines`` registers its own subcommands through a ``register(groups)`` function, where
``groups`` maps a group name (``fit``, ``simulate``, ...) to that group's ``add_subparsers`` object and the
shared parent parser; a subcommand sets ``func`` to a callable ``func(args) -> int``.

Errors a user can cause are printed as one line, ``neurorl: error: FILE: problem``, with exit status 2 for
bad arguments and 1 for bad input data; no traceback is printed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from . import __version__
from ._progress import set_quiet
from .errors import NeurorlError
from .io.outdir import Terminated

__all__ = ["main", "build_parser"]

#: Subcommand groups, in the order ``neurorl --help`` lists them.
GROUPS: dict[str, str] = {
    "fit": "fit models to recordings (NWB)",
    "simulate": "simulate recordings and experiments",
    "train": "train learning models",
    "reproduce": "reproduce a paper's results and figures",
    "analyze": "run a paper's analyses on recordings",
    "convert": "convert lab formats to NWB",
    "sweep": "run a model over many seeds and settings (locally or on a Dask cluster)",
    "fetch": "download public data sets into the cache (checksummed)",
}

#: Pipeline modules that register subcommands.
COMMAND_MODULES: tuple[str, ...] = (
    "neurorl.pipelines.sweep",
    "neurorl.pipelines.qagrel",
    "neurorl.pipelines.convert",
    "neurorl.pipelines.dopamine",
    "neurorl.pipelines.simulate_dopamine",
    "neurorl.pipelines.bci_analysis",
    "neurorl.pipelines.bci",
    "neurorl.pipelines.fetch",
)

#: Pipeline modules that add top-level commands (``neurorl inspect FILE``) through ``register_top``.
TOP_COMMAND_MODULES: tuple[str, ...] = ("neurorl.pipelines.inspect",)


#: What ``neurorl --help`` says about the program (for a user, not a developer).
DESCRIPTION = ("Fit, simulate and reproduce models of reward learning in the brain: distributional TD and "
               "dopamine recordings (Dabney et al. 2020), Q-AGREL on MNIST (Pozzi, Bohte & Roelfsema 2018), "
               "vectorized feedback in a BCI task (Francioni et al. 2026). Every command writes its results into "
               "an --out DIR folder (all-or-nothing, with a manifest.json); 'neurorl GROUP COMMAND --help' lists "
               "a command's options with their defaults, and --config FILE reads them from a TOML file.")


class HelpFormatter(argparse.HelpFormatter):
    """Help that shows every option's default.

    ``(default: X)`` is added to an option's help unless the help already says its default in words, or the
    option is a flag (``store_true``) or has no default (``None``: the help says what happens instead).
    """

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "default" in text.lower() or "%(default)" in text:
            return text
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS \
                or not action.option_strings:
            return text
        if isinstance(action, (argparse._StoreTrueAction, argparse._StoreConstAction, argparse._VersionAction,
                               argparse._HelpAction)):
            return text
        default = action.default
        if isinstance(default, (list, tuple)):
            default = " ".join(map(str, default))
        return f"{text} (default: {str(default).replace('%', '%%')})"


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line with exit status 2, and whose help shows defaults."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(2, f"{self.prog}: error: {message}\n")


def common_parent() -> argparse.ArgumentParser:
    """Options every subcommand accepts (``--quiet``)."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument("--quiet", action="store_true", default=argparse.SUPPRESS,
                        help="no progress bars")
    return parent


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser with every registered subcommand."""
    parser = _Parser(prog="neurorl", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"neurorl {__version__}")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    groups_parsers = parser.add_subparsers(dest="group", metavar="GROUP", parser_class=_Parser)
    parent = common_parent()
    groups: dict[str, argparse._SubParsersAction] = {}
    for name, help_text in GROUPS.items():
        group = groups_parsers.add_parser(name, help=help_text, description=help_text)
        groups[name] = group.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
        group.set_defaults(_group_parser=group)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(groups, parent)
    for module_name in TOP_COMMAND_MODULES:
        importlib.import_module(module_name).register_top(groups_parsers, parent)
    from ._config import add_config_option

    for command_parser in command_parsers(parser).values():
        add_config_option(command_parser)
        command_parser.set_defaults(_parser=command_parser)
    return parser


def command_parsers(parser: argparse.ArgumentParser) -> dict[tuple[str, ...], argparse.ArgumentParser]:
    """Every command's parser, by its words: ``("fit", "dopamine")``, ``("inspect",)``."""
    found: dict[tuple[str, ...], argparse.ArgumentParser] = {}

    def subparsers_of(p: argparse.ArgumentParser):
        return [a for a in p._actions if isinstance(a, argparse._SubParsersAction)]

    for top in subparsers_of(parser):
        for name, group in top.choices.items():
            inner = subparsers_of(group)
            if not inner:
                found[(name,)] = group
                continue
            for sub in inner:
                for command, command_parser in sub.choices.items():
                    found[(name, command)] = command_parser
    return found


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``neurorl`` command; return its exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        from ._config import apply_config

        apply_config(parser, argv)
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse: --help, --version (0) or a usage error (2), already printed
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
    except NeurorlError as exc:  # a --config file that cannot be used
        print(f"neurorl: error: {exc}", file=sys.stderr)
        return exc.exit_code
    if args.group is None:
        parser.print_help()
        return 2
    if getattr(args, "func", None) is None:
        args._group_parser.print_usage(sys.stderr)
        print(f"neurorl {args.group}: error: choose a command", file=sys.stderr)
        return 2
    set_quiet(args.quiet)
    try:
        if getattr(args, "_out_inputs", None) is None:
            status = int(args.func(args) or 0)
        else:
            status = _run_with_out(args, argv)
        if status == 0:
            for note in getattr(args, "_notes", None) or []:
                print(f"neurorl: note: {note}", file=sys.stderr)
        return status
    except NeurorlError as exc:
        print(f"neurorl: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except MemoryError:
        print("neurorl: error: out of memory; use fewer cells, trials, sessions or images"
              + _left_as_it_was(args), file=sys.stderr)
        return 1
    except OSError as exc:  # a full disk, a read-only or vanished --out, ...: one line naming the path
        print(f"neurorl: error: {_os_error_line(exc, args)}" + _left_as_it_was(args), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("neurorl: interrupted" + _left_as_it_was(args), file=sys.stderr)
        return 130
    except Terminated as exc:
        print(f"neurorl: {exc}" + _left_as_it_was(args), file=sys.stderr)
        return 128 + exc.signum
    except SystemError as exc:
        # a signal's exception raised while a compiled (numba) function was being called comes back wrapped
        # ("returned a result with an exception set"): it is still the interruption
        cause = _interruption(exc)
        if isinstance(cause, Terminated):
            print(f"neurorl: {cause}" + _left_as_it_was(args), file=sys.stderr)
            return 128 + cause.signum
        if isinstance(cause, KeyboardInterrupt):
            print("neurorl: interrupted" + _left_as_it_was(args), file=sys.stderr)
            return 130
        raise


def _interruption(exc: BaseException) -> BaseException | None:
    """The ``Terminated`` or ``KeyboardInterrupt`` among the causes and contexts of ``exc``, if any."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, (Terminated, KeyboardInterrupt)):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


class _Failed(Exception):
    """A command returned a non-zero status: its output folder is not committed."""

    def __init__(self, status: int) -> None:
        self.status = status


def _settings(args: argparse.Namespace) -> dict:
    """Return the parsed arguments a run was made with (what ``manifest.json`` records)."""
    return {key: value for key, value in sorted(vars(args).items())
            if not key.startswith("_") and key not in ("func", "group", "command") and not callable(value)}


def _run_with_out(args: argparse.Namespace, argv: list[str]) -> int:
    """Run a command that writes an ``--out`` folder inside :func:`neurorl.io.outdir.output_folder`.

    The command writes into a hidden staging folder that replaces ``--out``'s results only when the whole
    command succeeded, or when a failed command sets ``args._commit_on_failure`` because what it wrote is the
    record of the failure (a diverged training run).
    """
    from .io.outdir import output_folder

    inputs = [str(path) for path in args._out_inputs(args)]
    if getattr(args, "config", None):
        inputs.append(str(args.config))  # the --config file is an input: its checksum goes into manifest.json
    try:
        with output_folder(args.out, inputs=inputs, command=["neurorl", *argv], settings=_settings(args)) as staging:
            args._staging = staging
            status = int(args.func(args) or 0)
            if status and not getattr(args, "_commit_on_failure", False):
                raise _Failed(status)
    except _Failed as failed:
        return failed.status
    return status


def _os_error_line(error: OSError, args: argparse.Namespace) -> str:
    """``PATH: problem`` for an operating-system error (the path the error names, else ``--out``)."""
    from .io.outdir import _os_problem

    path = error.filename or getattr(args, "out", None)
    if path is not None:
        path = display_path_of(args, path)
    problem = _os_problem(error) if error.errno is not None else (str(error).splitlines() or ["OSError"])[0]
    return f"{path}: {problem}" if path is not None else problem


def display_path_of(args: argparse.Namespace, path) -> str:
    """Show a path in the staging folder under ``--out`` (where the user looks for it)."""
    from .io.outdir import display_path

    return str(display_path(args, path))


def _left_as_it_was(args: argparse.Namespace) -> str:
    if getattr(args, "_out_inputs", None) is None:
        return ""
    return f"; {args.out} is left as it was"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
