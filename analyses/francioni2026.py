"""Reproduce the BCI results of Francioni et al. (2026, Nature) on simulated experiments.

Same as ``neurorl reproduce bci``: simulates 14 days x 41 min x (300 P0 + 10 BCI) neurons under the
``vectorized``, ``scalar`` and ``none`` learning rules, runs the paper's dendritic analyses (soma-dendrite pairing,
coincident events, residuals of the dendrite-on-soma fit in error-fell / error-rose epochs, reward decoding
from residuals with a label-shuffle control, learning curves, event-rate change) and the learning time against
the number of BCI neurons for ``vectorized`` vs ``scalar``. Usage (from the repository root)::

    python analyses/francioni2026.py --quick     # 4 days x 20 min, 100 P0 neurons: about a minute on 2 cores
    python analyses/francioni2026.py             # paper scale: several minutes on 2 cores

Writes figures (PNG), tables (CSV) and ``francioni2026[_quick].md`` to ``analyses/results/francioni2026[_quick]/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from neurorl.io.results import write_text
from neurorl.pipelines.bci_analysis import reproduce, summary_table

RESULTS = Path(__file__).resolve().parent / "results"


def _markdown(table) -> str:
    """A pipe table (no extra dependency), numbers with 3 significant digits."""
    def cell(value) -> str:
        return f"{value:.3g}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(map(str, table.columns)) + " |", "|" + "---|" * len(table.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in table.itertuples(index=False)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scale (4 days x 20 min, 100 P0 neurons)")
    parser.add_argument("--out", default=None, help="output folder (default analyses/results/francioni2026[_quick])")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    stem = "francioni2026_quick" if args.quick else "francioni2026"
    out = Path(args.out) if args.out else RESULTS / stem
    if args.quick:
        scale = dict(days=4, session_minutes=20.0, n_p0=100, n_shuffles=200, n_bci_values=(2, 4, 8, 16),
                     curve_seeds=4, curve_days=4, curve_minutes=20.0)
    else:
        scale = dict(days=14, session_minutes=41.0, n_p0=300, n_shuffles=1000, n_bci_values=(2, 4, 6, 8, 10, 16, 24),
                     curve_seeds=10, curve_days=10)
    started = time.perf_counter()
    groups, written = reproduce(out, seed=args.seed, **scale)
    seconds = time.perf_counter() - started
    table = summary_table(groups, dim="rule")
    command = "python analyses/francioni2026.py" + (" --quick" if args.quick else "")
    settings = ", ".join(f"{k}={v}" for k, v in scale.items())
    text = (f"# Francioni et al. 2026 — simulated BCI experiment ({'quick' if args.quick else 'paper'} scale)\n\n"
            f"Command: `{command}` (seed {args.seed}; {settings}); {seconds:.0f} s.\n\n"
            + _markdown(table) + "\n")
    curve_csv = out / "learning_time_vs_n_bci.csv"
    if curve_csv.exists():
        import pandas as pd

        lt = pd.read_csv(curve_csv)
        times = lt.groupby(["n_bci", "rule"])["days_to_criterion"].median().unstack("rule")
        curve = pd.DataFrame({"n_bci": times.index,
                              "median_days_to_criterion_vectorized": times["vectorized"].to_numpy(),
                              "median_days_to_criterion_scalar": times["scalar"].to_numpy()})
        per_n = lt.groupby("n_bci")[["slowdown", "slowdown_q25", "slowdown_q75"]].first()
        curve["slowdown_median"] = per_n["slowdown"].to_numpy()
        curve["slowdown_q25"] = per_n["slowdown_q25"].to_numpy()
        curve["slowdown_q75"] = per_n["slowdown_q75"].to_numpy()
        text += ("\nLearning time measured from behaviour: days of training until the running hit rate over 200 "
                 f"trials first reaches 0.7 (first {scale['curve_days']} days; NaN: not reached), against the "
                 f"number of BCI neurons, median over {scale['curve_seeds']} seeds; slowdown = median over seeds "
                 "of the paired scalar / vectorized trials to criterion (quartiles; inf: scalar never reached "
                 "it):\n\n" + _markdown(curve) + "\n")
    written.append(write_text(text, out / f"{stem}.md"))
    print(text)
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
