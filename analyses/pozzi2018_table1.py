"""Reproduce Table 1 of Pozzi, Bohte & Roelfsema (Q-AGREL on MNIST) and write it beside the paper's numbers.

Same as ``neurorl reproduce qagrel``. Usage (from the repository root)::

    python analyses/pozzi2018_table1.py --seeds 0 1 2 --jobs 2   # the paper's protocol, all 16 rows
    python analyses/pozzi2018_table1.py                          # all 10 seeds (seeds 0-2 of every row first)
    python analyses/pozzi2018_table1.py --rows 5 6 --seeds 0     # some rows only
    python analyses/pozzi2018_table1.py --seeds 0 1 2 --breadth-first   # one seed of every row first
    python analyses/pozzi2018_table1.py --seeds 0 1 2 --table-only      # rebuild the table from finished runs
    python analyses/pozzi2018_table1.py --quick                  # the earlier fast protocol, 3 seeds x 10 epochs
    python analyses/pozzi2018_table1.py --rows 2 --seeds 0 1 2 --set optimistic_q=1 --stem pozzi2018_optimistic
                                                                 # a Q-AGREL option, in its own table and folders

Paper protocol: each finished run's ``history.csv``, ``class_counts.csv`` and ``run.json`` go to
``analyses/results/pozzi2018_table1/runs/<row>/seed<k>/`` (committed; runs found there are skipped), unfinished
runs checkpoint every 5 epochs under ``analyses/results/cache/`` (not committed), and
``analyses/results/pozzi2018_table1.{csv,md}`` is rebuilt from whatever runs are finished. MNIST is read
through ``neurorl.io.mnist`` (``NEURORL_MNIST_DIR`` or the user cache).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from neurorl.errors import InvalidArgumentError
from neurorl.pipelines.pozzi2018 import reproduce_paper_table1
from neurorl.pipelines.qagrel import reproduce_table1

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the earlier fast protocol at quick scale (3 seeds x "
                        "10 epochs, lr 0.5; feedback alignment on 784-300-10 also at lr 0.2)")
    parser.add_argument("--rows", nargs="+", default=None, help="Table 1 rows (1-16 or row ids; default all)")
    parser.add_argument("--out", default=str(RESULTS), help="output folder (default analyses/results)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="override the seeds")
    parser.add_argument("--epochs", type=int, default=None, help="override the maximum number of epochs")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (1 BLAS thread each)")
    parser.add_argument("--scheduler", default=None, help="address of a running Dask scheduler")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="settings",
                        help="further run settings (neurorl.pipelines.pozzi2018.PAPER_CONFIG keys; values as JSON), "
                        "e.g. optimistic_q=1 recency_bonus=0.5 binarize=0.5")
    parser.add_argument("--breadth-first", action="store_true",
                        help="one seed of every row before a second seed of any (counting finished runs)")
    parser.add_argument("--table-only", action="store_true",
                        help="only rebuild the table from the finished runs (train nothing)")
    parser.add_argument("--stem", default="pozzi2018_table1",
                        help="name of the table and of its run folder (default pozzi2018_table1)")
    args = parser.parse_args(argv)
    settings = {}
    for item in args.settings:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--set expects KEY=VALUE, got {item!r}")
        try:
            settings[key] = json.loads(value)
        except json.JSONDecodeError:
            settings[key] = value
    if not args.quick:
        command = "python analyses/pozzi2018_table1.py"
        for flag, values in (("--rows", args.rows), ("--seeds", args.seeds), ("--set", args.settings or None)):
            if values is not None:
                command += f" {flag} " + " ".join(map(str, values))
        if args.stem != "pozzi2018_table1":
            command += f" --stem {args.stem}"
        if args.breadth_first:
            command += " --breadth-first"
        overrides = {**settings, **({} if args.epochs is None else {"max_epochs": args.epochs})}
        try:
            paths = reproduce_paper_table1(args.out, rows=args.rows, seeds=args.seeds, jobs=args.jobs,
                                           scheduler=args.scheduler, command=command, stem=args.stem,
                                           order="seeds" if args.breadth_first else "rows",
                                           run_pending=not args.table_only, **overrides)
        except InvalidArgumentError as exc:
            print(f"neurorl: error: {exc}", file=sys.stderr)
            return 2
        print(Path(paths["md"]).read_text(encoding="utf-8"))
        for path in paths.values():
            print(f"wrote {path}")
        return 0
    stem = "pozzi2018_table1_quick" if args.quick else "pozzi2018_table1"
    command = "python analyses/pozzi2018_table1.py" + (" --quick" if args.quick else "")
    if args.seeds is not None:
        command += " --seeds " + " ".join(map(str, args.seeds))
    if args.epochs is not None:
        command += f" --epochs {args.epochs}"
    paths = reproduce_table1(args.out, quick=args.quick, seeds=args.seeds, epochs=args.epochs,
                             cache_dir=Path(args.out) / "cache" / stem, stem=stem, command=command,
                             jobs=args.jobs)
    print(Path(paths["md"]).read_text(encoding="utf-8"))
    for path in paths.values():
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
