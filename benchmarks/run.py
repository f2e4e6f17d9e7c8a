"""Run every neurorl benchmark and print one table.

Usage::

    python benchmarks/run.py            # full sizes (the sizes the issues set targets for)
    python benchmarks/run.py --quick    # small sizes, for a smoke run
    python benchmarks/run.py --only qagrel dopamine_fit --csv benchmarks/results.csv

Each ``benchmarks/bench_<name>.py`` exposes ``run(quick: bool) -> list[dict]``; every row names what was
timed (median seconds over repeats), the reference measured in the same run, and the ratio
(reference / neurorl: above 1 means neurorl is faster). Machines are noisy: compare ratios, not seconds.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import platform
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
COLUMNS = ["benchmark", "neurorl_s", "reference", "reference_s", "ratio", "target", "meets_target"]


def discover() -> dict[str, Path]:
    """Benchmark modules by name (``bench_<name>.py``)."""
    return {path.stem.removeprefix("bench_"): path for path in sorted(HERE.glob("bench_*.py"))}


def load(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def median_time(function, repeats: int) -> tuple[float, object]:
    """Median wall time (s) of ``repeats`` calls of ``function`` and the last call's result.

    The garbage collector runs before each call, so that one call's garbage is not timed in the next.
    """
    times, result = [], None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def bench_main(run, doc: str, quick_help: str, argv: list[str] | None = None, footer: str | None = None) -> int:
    """The command line of one ``bench_<name>.py``: ``--quick``, then the table of ``run(quick=...)``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    args = parser.parse_args(argv)
    print_table(run(quick=args.quick), quick=args.quick)
    if footer:
        print(footer)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--csv", type=Path, help="also write the table as CSV")
    args = parser.parse_args(argv)
    modules = discover()
    names = args.only or list(modules)
    unknown = sorted(set(names) - set(modules))
    if unknown:
        parser.error(f"unknown benchmarks {unknown}; known: {sorted(modules)}")
    rows = []
    for name in names:
        started = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        for row in load(modules[name]).run(quick=args.quick):
            rows.append({"suite": name, **row})
        print(f"  {name} done in {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    table = print_table(rows, quick=args.quick, extra_columns=False)
    if args.csv:
        table.to_csv(args.csv, index=False)
    return 0


def print_table(rows: list[dict], *, quick: bool, extra_columns: bool = True) -> pd.DataFrame:
    """Print benchmark rows as one table (markdown when tabulate is installed) and return it.

    The ratio is recomputed for every row with one definition, reference time / neurorl time (above 1: neurorl
    is faster), whatever a module computed. Columns a module adds beyond the common ones are kept at the end
    when ``extra_columns`` is true.
    """
    table = pd.DataFrame(rows)
    neurorl_s = pd.to_numeric(table.get("neurorl_s"), errors="coerce")
    reference_s = pd.to_numeric(table.get("reference_s"), errors="coerce")
    table["ratio"] = (reference_s / neurorl_s).round(3)
    for column in COLUMNS:
        if column not in table:
            table[column] = ""
    table["target"] = table["target"].fillna("")
    table["meets_target"] = [("yes" if value else "NO") if isinstance(value, bool | np.bool_) else ""
                             for value in table["meets_target"]]
    leading = ["suite"] if "suite" in table else []
    extra = [c for c in table if c not in COLUMNS and c not in leading] if extra_columns else []
    table = table[[*leading, *COLUMNS, *extra]]
    print(f"# neurorl benchmarks on {platform.machine()}, {platform.python_version()}, "
          f"{'quick' if quick else 'full'} sizes; ratio = reference_s / neurorl_s")
    print(table.to_markdown(index=False, floatfmt=".3g") if _has_tabulate() else table.to_string(index=False))
    return table


def _has_tabulate() -> bool:
    return importlib.util.find_spec("tabulate") is not None


if __name__ == "__main__":
    sys.exit(main())
