"""Beyond the paper: do optimistic initial Q-values or a recency bonus make Q-AGREL discover classes faster?

Pozzi, Bohte & Roelfsema (2018) end their Discussion with two proposals: "it is possible to initialize the
Q-values of all actions at higher values" and "the action selection mechanism could be modified to increase the
probability of selecting actions that have not been sampled for a while" (options ``optimistic_q`` and
``recency_bonus`` of :class:`neurorl.models.qagrel.QAGREL`). This runs, by the paper's protocol on
784-300-100-10, plain Q-AGREL (Table 1 row 2, lr 0.5), the two options, and errorBP (row 8, lr 0.1), each in its
own run folder (resumable as the Table 1 runner), and compares epochs to the stopping criterion, test accuracy,
and how early the classes are found.

Usage (from the repository root)::

    python analyses/qagrel_discovery_options.py                  # the paper's protocol (up to 1,000 epochs)
    python analyses/qagrel_discovery_options.py --epochs 30      # a reduced protocol: the first 30 epochs only

Writes ``analyses/results/qagrel_discovery_options[_<epochs>ep].{md,csv}`` and the runs under
``analyses/results/qagrel_discovery_options[_<epochs>ep]/<variant>/runs/``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results"

#: name -> (Table 1 row, settings). optimistic_q 1 = the reward of a correct choice; recency bonus 0.5 reward
#: units reached after 10 batches without a choice (both assumed: the paper gives no values).
VARIANTS = {"Q-AGREL": (2, {}),
            "Q-AGREL + optimistic Q 1.0": (2, {"optimistic_q": 1.0}),
            "Q-AGREL + recency bonus 0.5": (2, {"recency_bonus": 0.5, "recency_window": 10}),
            "errorBP": (8, {})}


def _slug(name: str) -> str:
    return name.lower().replace("+", "").replace(".", "").replace("-", "").replace(" ", "_").replace("__", "_")


def summarize_run(folder: Path) -> dict:
    """Epochs and accuracies of one finished run folder."""
    run = json.loads((folder / "run.json").read_text(encoding="utf-8"))
    history = pd.read_csv(folder / "history.csv")
    counts = pd.read_csv(folder / "class_counts.csv")
    validation = history.dropna(subset=["validation_accuracy"])

    def first(threshold):
        hit = validation["epoch"][validation["validation_accuracy"] >= threshold]
        return float(hit.iloc[0]) if len(hit) else float("nan")

    classes = [c.split("_", 1)[1] for c in counts.columns if c.startswith("presented_")]
    correct = np.column_stack([counts[f"correct_{c}"] / counts[f"presented_{c}"] for c in classes])
    found = np.flatnonzero((correct >= 0.5).all(axis=1))
    return {"seed": run["seed"], "stopped_epoch": run["stopped_epoch"], "converged": run["converged"],
            "test_accuracy_pct": 100 * run["final_test_accuracy"],
            "epoch_all_classes_found": float(counts["epoch"].iloc[found[0]]) if len(found) else float("nan"),
            "epoch_validation_97": first(0.97), "epoch_validation_98": first(0.98),
            "reward_epoch1": float(history["train_reward"].iloc[0])}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=None, help="maximum epochs (default: the paper's 1,000)")
    parser.add_argument("--variants", nargs="+", default=None, help=f"subset of: {', '.join(VARIANTS)}")
    parser.add_argument("--summary-only", action="store_true", help="only summarize the finished runs")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    from neurorl.io.results import write_csv, write_text
    from neurorl.pipelines.pozzi2018 import reproduce_paper_table1

    stem = "qagrel_discovery_options" + ("" if args.epochs is None else f"_{args.epochs}ep")
    base = Path(args.out) / stem
    names = args.variants or list(VARIANTS)
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        print(f"neurorl: error: unknown variants {unknown}", file=sys.stderr)
        return 2
    records = []
    for name in names:
        row, settings = VARIANTS[name]
        overrides = {**settings, **({} if args.epochs is None else {"max_epochs": args.epochs})}
        runs_dir = base / _slug(name) / "runs"
        row_folder = None
        if not settings and args.epochs is None:
            # the plain rows are Table 1's own runs (same protocol, same settings): read them, train nothing here
            from neurorl.pipelines.pozzi2018 import paper_rows
            runs_dir = RESULTS / "pozzi2018_table1" / "runs"
            row_folder = str(paper_rows().iloc[row - 1]["row_id"])
        elif not args.summary_only:
            reproduce_paper_table1(base / _slug(name), rows=[row], seeds=args.seeds, runs_dir=runs_dir,
                                   cache_dir=Path(args.out) / "cache" / stem / _slug(name), stem="table",
                                   show_progress=False, command="python analyses/qagrel_discovery_options.py",
                                   **overrides)
        for folder in sorted(runs_dir.glob(f"{row_folder or '*'}/seed*")):
            if (folder / "run.json").is_file() and int(folder.name[4:]) in args.seeds:
                records.append({"variant": name, "row": row, **summarize_run(folder)})
    per_seed = pd.DataFrame.from_records(records)
    if per_seed.empty:
        print("no finished runs yet")
        return 0
    numeric = [c for c in per_seed.columns if c not in ("variant", "row", "seed")]
    per_seed[numeric] = per_seed[numeric].astype(float)
    summary = per_seed.groupby("variant", sort=False)[numeric].agg(["mean", "std"])
    summary.columns = [f"{a}_{b}" for a, b in summary.columns]
    summary.insert(0, "n_seeds", per_seed.groupby("variant", sort=False).size())
    write_csv(per_seed.round(4), base.with_suffix(".csv"))
    command = "python analyses/qagrel_discovery_options.py" + ("" if args.epochs is None else f" --epochs {args.epochs}")
    protocol = ("the paper's protocol (up to 1,000 epochs)" if args.epochs is None else
                f"a reduced protocol: the paper's, stopped after {args.epochs} epochs at the latest "
                f"(stopped_epoch {args.epochs - 1} = criterion not met by then)")
    lines = [f"# Q-AGREL class-discovery options vs plain Q-AGREL and errorBP ({protocol})", "",
             f"Made with: `{command}`. Network 784-300-100-10; Q-AGREL lr 0.5 (Table 1 row 2), errorBP lr 0.1 "
             "(row 8); binary inputs; seeds " + " ".join(map(str, args.seeds)) + ".", "",
             "Per seed:", "", per_seed.to_markdown(index=False, floatfmt=".4g"), "",
             "Mean and SD over seeds:", "", summary.reset_index().to_markdown(index=False, floatfmt=".4g"), "",
             "- `epoch_all_classes_found`: first epoch on which every class was chosen correctly on at least half "
             "of its training trials; `epoch_validation_97/98`: first validation (every 5 epochs) at or above "
             "97 % / 98 %.", ""]
    write_text("\n".join(lines), base.with_suffix(".md"))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
