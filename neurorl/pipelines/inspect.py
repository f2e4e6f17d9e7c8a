"""``neurorl inspect FILE``: what an NWB recording holds (tables, columns with a few values, series with shape
and rate), to write the recording spec (``recording.toml``) of a lab's layout.
"""

from __future__ import annotations

import argparse

__all__ = ["register_top", "run_inspect"]


def run_inspect(args: argparse.Namespace) -> int:
    """Print :func:`neurorl.io.inspect.describe_nwb` of each file."""
    from ..io.inspect import describe_nwb

    for k, path in enumerate(args.files):
        if k:
            print()
        print(describe_nwb(path))
    return 0


def register_top(subparsers, parent: argparse.ArgumentParser) -> None:
    """Add the top-level ``inspect`` command."""
    p = subparsers.add_parser(
        "inspect", parents=[parent], help="show what an NWB recording holds (to write its recording.toml)",
        description="Print what an NWB recording holds: Units tables, the trials table and EventsTables with "
                    "their columns and a few values, and every series with its shape and rate, each named by the "
                    "path that --units / --series (units = / series = in recording.toml) take.")
    p.add_argument("files", nargs="+", metavar="FILE", help="NWB file(s)")
    p.set_defaults(func=run_inspect)
