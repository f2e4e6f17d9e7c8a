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

import numpy as np

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


#: The NDNF-like arm: suppression of the dendritic plateaus from each decision to 1 s after its outcome (assumed
#: 0.6: "partial"; the paper's targeted optogenetic perturbation of these signals disrupted learning).
NDNF_SUPPRESSION = 0.6


def ndnf_runs(seeds=range(6), days: int = 14, session_minutes: float = 41.0,
              suppression: float = NDNF_SUPPRESSION) -> "pd.DataFrame":
    """Vectorized rule with and without the NDNF-like arm, paired seeds (BCI neurons only, behaviour only)."""
    import pandas as pd

    from neurorl.analysis.bci import days_to_criterion
    from neurorl.models.bci_learning import BCILearnerParams, simulate_bci_experiment

    rows = []
    for seed in seeds:
        for s in (0.0, float(suppression)):
            trials, accuracy = {}, []
            for session in simulate_bci_experiment("vectorized", days=days, session_minutes=session_minutes,
                                                   n_p0=0, seed=seed, record=False,
                                                   params=BCILearnerParams(ndnf_suppression=s)):
                trials[int(session.day)] = session.trials
                accuracy.append(session.accuracy)
            crit = days_to_criterion(trials, criterion=0.7, window=200)
            rows.append({"seed": seed, "ndnf_suppression": s, "accuracy_day1": accuracy[0],
                         "accuracy_day7": accuracy[min(6, len(accuracy) - 1)],
                         "accuracy_last3": float(np.mean(accuracy[-3:])),
                         "days_to_criterion": float(crit["day_of_criterion"])})
    return pd.DataFrame(rows)


def claims_section(summary: "pd.DataFrame", curve: "pd.DataFrame | None", ndnf: "pd.DataFrame | None") -> str:
    """The paper's claims beside neurorl's numbers, and what is not reproduced."""
    by_rule = summary.set_index("rule")
    vec = by_rule.loc["vectorized"]
    lines = ["## The paper's claims and neurorl's numbers", "",
             "Paper: Francioni et al., Nature 2026 (doi 10.1038/s41586-026-10190-7); its abstract and press "
             "release give the claims below; the numbers of its figures were not available here.", "",
             "| claim (paper) | neurorl (this run) | reproduced |", "|---|---|---|",
             "| two ensembles of four or five neurons drive the cursor | 10 BCI neurons, 5 P+ and 5 P- (default "
             "`n_bci`) | by construction |"]
    if curve is not None and len(curve):
        row = curve.set_index("n_bci").loc[10] if 10 in set(curve["n_bci"]) else curve.iloc[0]
        lines.append(f"| mice learn within a week | days of training to a running hit rate of 0.7 (10 BCI neurons, "
                     f"median of the seeds): vectorized {row['median_days_to_criterion_vectorized']:.1f}, scalar "
                     f"{row['median_days_to_criterion_scalar']:.1f}; vectorized hit rate "
                     f"{vec['accuracy_day1']:.2f} on day 1, {vec['accuracy_last3']:.2f} over the last 3 days | yes |")
    lines.append(f"| apical dendrites carry vectorized (neuron-specific, signed) instructive signals: P+ and P- "
                 f"residuals of opposite sign in error-fell and error-rose epochs | signature "
                 f"{vec['signature']:+.3f} (p {vec['signature_p']:.2g}); scalar {by_rule.loc['scalar', 'signature']:+.3f} "
                 f"(p {by_rule.loc['scalar', 'signature_p']:.2g}), none {by_rule.loc['none', 'signature']:+.3f} (p "
                 f"{by_rule.loc['none', 'signature_p']:.2g}); false-positive and detection rates over 20 seeds in "
                 "`calibration.md` | yes (the signature emerges from plateau-gated plasticity) |")
    if ndnf is not None and len(ndnf):
        control = ndnf[ndnf["ndnf_suppression"] == 0]
        arm = ndnf[ndnf["ndnf_suppression"] > 0]
        paired = (arm["accuracy_last3"].to_numpy() < control["accuracy_last3"].to_numpy()).sum()
        lines.append(f"| suppressing the dendritic signal (targeted perturbation) disrupts learning | NDNF-like arm "
                     f"(plateaus suppressed by {arm['ndnf_suppression'].iloc[0]:.0%} from each decision to 1 s after "
                     f"its outcome), {len(arm)} paired seeds: hit rate on day 7 {arm['accuracy_day7'].mean():.2f} vs "
                     f"{control['accuracy_day7'].mean():.2f} (control), last 3 days "
                     f"{arm['accuracy_last3'].mean():.2f} vs {control['accuracy_last3'].mean():.2f}, lower in "
                     f"{paired} of {len(arm)} seeds; days to criterion {arm['days_to_criterion'].median():.1f} vs "
                     f"{control['days_to_criterion'].median():.1f} (medians) | yes, qualitatively |")
    lines += ["", "Not reproduced: the paper's imaging figures of real neurons (example traces, anatomy, the "
              "optogenetic and NDNF-interneuron experiments themselves), its population statistics across mice, "
              "and any number read off its figures (not available here); the decoding figure separates "
              "`none` from the instructive rules but does not tell `vectorized` from `scalar` (see "
              "`decoding.png`).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small scale (4 days x 20 min, 100 P0 neurons)")
    parser.add_argument("--out", default=None, help="output folder (default analyses/results/francioni2026[_quick])")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--markdown-only", action="store_true",
                        help="rebuild the report from the saved tables (summary.csv, learning_time_vs_n_bci.csv, "
                             "ndnf.csv; the NDNF runs are made if ndnf.csv is missing)")
    args = parser.parse_args(argv)
    stem = "francioni2026_quick" if args.quick else "francioni2026"
    out = Path(args.out) if args.out else RESULTS / stem
    if args.quick:
        scale = dict(days=4, session_minutes=20.0, n_p0=100, n_shuffles=200, n_bci_values=(2, 4, 8, 16),
                     curve_seeds=4, curve_days=4, curve_minutes=20.0)
    else:
        scale = dict(days=14, session_minutes=41.0, n_p0=300, n_shuffles=1000, n_bci_values=(2, 4, 6, 8, 10, 16, 24),
                     curve_seeds=10, curve_days=10)
    import pandas as pd

    started = time.perf_counter()
    if args.markdown_only:
        table, written = pd.read_csv(out / "summary.csv"), []
        previous = (out / f"{stem}.md").read_text(encoding="utf-8") if (out / f"{stem}.md").is_file() else ""
        found = [line for line in previous.splitlines() if line.startswith("Command:")]
        seconds = float(found[0].rsplit(";", 1)[1].strip(" s.")) if found else float("nan")
    else:
        groups, written = reproduce(out, seed=args.seed, **scale)
        table = summary_table(groups, dim="rule")
    ndnf_csv = out / "ndnf.csv"
    if not (args.markdown_only and ndnf_csv.is_file()):
        ndnf = ndnf_runs(range(args.seed, args.seed + (3 if args.quick else 6)), days=scale["days"],
                         session_minutes=scale["session_minutes"])
        from neurorl.io.results import write_csv

        written.append(write_csv(ndnf.round(4), ndnf_csv))
    ndnf = pd.read_csv(ndnf_csv)
    if not args.markdown_only:
        seconds = time.perf_counter() - started
    command = "python analyses/francioni2026.py" + (" --quick" if args.quick else "")
    settings = ", ".join(f"{k}={v}" for k, v in scale.items())
    text = (f"# Francioni et al. 2026 — simulated BCI experiment ({'quick' if args.quick else 'paper'} scale)\n\n"
            f"Command: `{command}` (seed {args.seed}; {settings}); {seconds:.0f} s.\n\n"
            + _markdown(table) + "\n")
    curve_csv = out / "learning_time_vs_n_bci.csv"
    curve = None
    if curve_csv.exists():
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
    text += "\n" + claims_section(table, curve, ndnf)
    written.append(write_text(text, out / f"{stem}.md"))
    print(text)
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
