"""``neurorl convert ...``: turn lab formats into NWB.

``neurorl convert commonformat SRC --out DIR`` converts the Eshel / Uchida lab MATLAB files (one per cell)
to ``DIR/<file stem>.nwb`` (see :mod:`neurorl.io.commonformat`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

__all__ = ["register", "run_commonformat"]


def run_commonformat(args: argparse.Namespace) -> int:
    """Convert ``args.source`` (a .mat file or a folder of them) into ``args.out``."""
    from ..io.commonformat import convert_commonformat_folder
    from ..io.outdir import staging_of

    written = convert_commonformat_folder(args.source, staging_of(args))
    print(f"wrote {len(written)} NWB file{'s' if len(written) != 1 else ''} to {Path(args.out)}")
    return 0


def register(groups: dict, parent: argparse.ArgumentParser) -> None:
    """Add ``convert commonformat`` to the command line."""
    p = groups["convert"].add_parser(
        "commonformat", parents=[parent],
        help="Eshel/Uchida CommonFormat .mat files (variable-reward task) -> NWB",
        description="Convert Eshel/Uchida lab CommonFormat MATLAB files (one dopamine cell per file, "
                    "variable-reward task) to one NWB file each, named by the file stem.")
    p.add_argument("source", metavar="SRC", help="a .mat file or a folder of .mat files")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder for the .nwb files")
    p.set_defaults(func=run_commonformat, _out_inputs=lambda args: [args.source])
