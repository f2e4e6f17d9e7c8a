"""Reproduce Table 1 of Pozzi, Bohte & Roelfsema (Q-AGREL on MNIST) and write it beside the paper's numbers.

Same as ``neurorl reproduce qagrel``. Usage (from the repository root)::

    python analyses/pozzi2018_table1.py --quick      # 3 seeds x 10 epochs, about 10 minutes on 2 cores
    python analyses/pozzi2018_table1.py              # paper scale: 10 seeds, resumable (about 2 days of CPU)

Writes ``analyses/results/pozzi2018_table1[_quick].{csv,md,png}`` and caches every finished run under
``analyses/results/cache/`` (not committed), so an interrupted sweep resumes where it stopped.
MNIST is read through ``neurorl.io.mnist`` (``NEURORL_MNIST_DIR`` or the user cache).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from neurorl.pipelines.qagrel import reproduce_table1

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="quick scale (3 seeds x 10 epochs, lr 0.5; "
                        "feedback alignment on 784-300-10 also at lr 0.2)")
    parser.add_argument("--out", default=str(RESULTS), help="output folder (default analyses/results)")
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="override the seeds")
    parser.add_argument("--epochs", type=int, default=None, help="override the maximum number of epochs")
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time (1 BLAS thread each)")
    args = parser.parse_args(argv)
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
