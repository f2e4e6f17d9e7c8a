"""Class discovery in Q-AGREL vs errorBP (Pozzi, Bohte & Roelfsema 2018, Figs. 5-6), with the discovery options.

Per epoch and class: how often the class was chosen on training trials (Fig. 6a, c) and on what fraction of its
own trials it was chosen (Fig. 6b, d). Two sources:

* ``--example`` (default): trains the paper's example networks of Figs. 5-6 — 784-300-100-10, batch 1,000,
  learning rate 0.5 for both rules ("In both cases two hidden layers were used, the batch size was 1,000 and the
  learning rate was alpha = 0.5", Fig. 5 caption), the first 20 epochs, otherwise the paper's protocol — and
  also Q-AGREL with optimistic initial Q-values and with the recency bonus (the options proposed in the paper's
  Discussion; see :mod:`neurorl.models.qagrel`).
* ``--runs DIR ...``: finished run folders of the Table 1 runner (``class_counts.csv``), e.g.
  ``analyses/results/pozzi2018_table1/runs/symmetric_qagrel_300-100_lr0.5/seed0``.

Usage (from the repository root)::

    python analyses/qagrel_class_discovery.py                      # the example networks, seed 0, 20 epochs
    python analyses/qagrel_class_discovery.py --epochs 10 --seed 1
    python analyses/qagrel_class_discovery.py --runs RUN_A RUN_B   # from Table 1 runs

Writes ``analyses/results/qagrel_class_discovery/``: ``class_discovery.png``, ``summary.md``/``.csv`` (per
variant: the epoch at which each class was first chosen correctly on at least half of its trials, and the
training reward per epoch) and each variant's ``class_counts.csv`` / ``history.csv``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

RESULTS = Path(__file__).resolve().parent / "results" / "qagrel_class_discovery"

#: Variants of the example run: (name, rule, extra settings). Option values: optimistic_q 1 = the reward of a
#: correct choice; recency bonus 0.5 reward units after 10 batches (assumed).
VARIANTS = (("Q-AGREL", "qagrel", {}),
            ("errorBP", "backprop", {}),
            ("Q-AGREL, optimistic Q 1.0", "qagrel", {"optimistic_q": 1.0}),
            ("Q-AGREL, recency bonus 0.5", "qagrel", {"recency_bonus": 0.5, "recency_window": 10}))


def discovery_epochs(class_counts: pd.DataFrame, threshold: float = 0.5) -> dict[int, float]:
    """Per class, the first epoch whose trials of that class were chosen correctly at least ``threshold`` of the
    time (NaN if never)."""
    out = {}
    for column in [c for c in class_counts.columns if c.startswith("presented_")]:
        cls = int(column.split("_", 1)[1])
        fraction = class_counts[f"correct_{cls}"] / class_counts[column].where(class_counts[column] > 0)
        hit = class_counts["epoch"][fraction >= threshold]
        out[cls] = float(hit.iloc[0]) if len(hit) else float("nan")
    return out


def _train_example(name: str, rule: str, extra: dict, epochs: int, seed: int, folder: Path) -> dict:
    from neurorl.io.results import write_csv
    from neurorl.pipelines.pozzi2018 import run_paper_training

    config = {"rule": rule, "hidden": [300, 100], "learning_rate": 0.5, "batch_size": 1000, "seed": seed,
              "max_epochs": epochs, "lr_drop_epoch": None, "test_every": 5, **extra}
    run, _ = run_paper_training(config, desc=name)
    write_csv(run.class_counts, folder / "class_counts.csv")
    write_csv(run.history, folder / "history.csv")
    return {"history": run.history, "class_counts": run.class_counts}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", nargs="+", default=None, help="finished run folders (class_counts.csv)")
    parser.add_argument("--epochs", type=int, default=20, help="epochs of the example runs (default 20, Fig. 5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    from matplotlib.figure import Figure

    from neurorl.io.results import write_csv, write_text
    from neurorl.plotting.qagrel import plot_class_counts

    out = Path(args.out)
    results: dict[str, dict] = {}
    if args.runs:
        for folder in map(Path, args.runs):
            path = folder / "class_counts.csv"
            if not path.is_file():
                print(f"neurorl: error: {path}: no class_counts.csv (not a finished run folder)", file=sys.stderr)
                return 1
            results[f"{folder.parent.name}/{folder.name}"] = {
                "class_counts": pd.read_csv(path), "history": pd.read_csv(folder / "history.csv")}
        command = "python analyses/qagrel_class_discovery.py --runs " + " ".join(args.runs)
    else:
        for name, rule, extra in VARIANTS:
            slug = name.lower().replace(",", "").replace(" ", "_").replace(".", "")
            results[name] = _train_example(name, rule, extra, args.epochs, args.seed, out / slug)
        command = f"python analyses/qagrel_class_discovery.py --epochs {args.epochs} --seed {args.seed}"
    figure = Figure(figsize=(10, 3.2 * len(results)), layout="constrained")
    axes = figure.subplots(len(results), 2, squeeze=False)
    rows = []
    for (name, result), (left, right) in zip(results.items(), axes, strict=True):
        counts, history = result["class_counts"], result["history"]
        plot_class_counts(counts, "selected", ax=left, title=f"{name}: class selection")
        plot_class_counts(counts, "correct", ax=right, title=f"{name}: correct choices per class")
        found = discovery_epochs(counts)
        rewards = history["train_reward"].to_numpy()
        rows.append({"variant": name, **{f"class_{c}": e for c, e in found.items()},
                     "all_classes_by_epoch": max(found.values()) if not np.isnan(list(found.values())).any()
                     else float("nan"),
                     **{f"reward_epoch{e}": rewards[e - 1] for e in (1, 2, 5, 10, 20) if e <= len(rewards)},
                     "last_test_accuracy": history["test_accuracy"].dropna().iloc[-1]
                     if history["test_accuracy"].notna().any() else float("nan")})
    out.mkdir(parents=True, exist_ok=True)
    figure.savefig(out / "class_discovery.png", dpi=110)
    table = pd.DataFrame(rows)
    write_csv(table.round(4), out / "summary.csv")
    lines = ["# Class discovery: Q-AGREL vs errorBP (Pozzi et al. 2018, Figs. 5-6)", "",
             f"Made with: `{command}`", "",
             "Epoch at which each class was first chosen correctly on at least half of its training trials; "
             "training reward (fraction rewarded, exploration included; errorBP: greedy choices right) per epoch.",
             "", table.to_markdown(index=False, floatfmt=".3g"), ""]
    write_text("\n".join(lines), out / "summary.md")
    print("\n".join(lines))
    print(f"wrote {out / 'class_discovery.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
