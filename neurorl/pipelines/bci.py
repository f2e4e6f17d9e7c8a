"""``neurorl simulate bci``: simulated two-photon BCI experiments (Francioni et al. 2026) as NWB, one file per day.

``neurorl simulate bci --rule vectorized --days 14 --session-minutes 41 --p0 300 --n-bci 10 --seed 0 --out DIR``
writes ``DIR/day01.nwb``, ``DIR/day02.nwb``, ... (somata and apical dendrites, cursor, grating angle, trials,
baseline epoch and the simulation ground truth) and ``DIR/summary.csv`` (one row per day: ``day``,
``accuracy``, ``rewards_per_min``, ``n_trials``, ...). Days are simulated and written one at a time, so memory
stays bounded by one day. The model is :mod:`neurorl.models.bci_learning`; the same arguments give the same
files.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["register", "run_simulate_bci", "simulate_bci_folder"]


def _flat_params(session) -> dict:
    """Scalar settings of a session (task_*, learner_*) for the file's ground-truth metadata."""
    out = {}
    for key, value in session.params.items():
        if isinstance(value, dict):
            out.update({f"{key}_{k}": v for k, v in value.items()})
        elif value is not None:
            out[key] = value
    return out


def simulate_bci_folder(out: str | os.PathLike, *, rule: str = "vectorized", days: int = 14,
                        session_minutes: float = 41.0, n_p0: int = 300, n_bci: int = 10, seed: int = 0,
                        write_nwb: bool = True, params=None) -> list[Path]:
    """Simulate a BCI experiment and write it to ``out``.

    Parameters
    ----------
    out
        Output folder (created). It must not hold NWB files other than the ``dayNN.nwb`` written here.
    rule, days, session_minutes, n_p0, n_bci, seed, params
        Passed to :func:`neurorl.models.bci_learning.simulate_bci_experiment`.
    write_nwb
        Write one NWB file per day (``False``: only ``summary.csv``).

    Returns
    -------
    list of pathlib.Path
        The NWB files written, then ``summary.csv``.
    """
    import pandas as pd

    from .._progress import progress
    from ..errors import InvalidArgumentError
    from ..io._atomic import write_csv
    from ..models.bci_learning import simulate_bci_experiment, summarize_session

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError("--out exists and is not a folder", out)
    names = {f"day{d:02d}.nwb" for d in range(1, int(days) + 1)}
    if out.is_dir():
        stale = sorted(p.name for p in out.glob("*.nwb") if p.name not in names and not p.name.startswith("."))
        if stale:
            raise InvalidArgumentError(
                f"folder already holds other NWB files ({', '.join(stale[:3])}{' ...' if len(stale) > 3 else ''}); "
                "choose an empty folder", out)
    out.mkdir(parents=True, exist_ok=True)
    writer = None
    if write_nwb:
        from ..io.bci_nwb import write_bci_session as writer
    rows, written = [], []
    sessions = simulate_bci_experiment(rule, days=days, session_minutes=session_minutes, n_p0=n_p0,
                                       n_bci=n_bci, seed=seed, params=params)
    for session in progress(sessions, desc=f"simulate bci ({rule})", total=int(days)):
        if writer is not None and len(session.trials) == 0:
            raise InvalidArgumentError(f"--session-minutes {session_minutes:g}: no trial was completed on day "
                                       f"{session.day}, so the day cannot be written as NWB; simulate longer days "
                                       "(a trial lasts up to about 35 s) or pass --no-nwb")
        rows.append(summarize_session(session))
        if writer is not None:
            session.params = _flat_params(session)
            written.append(writer(out / f"day{session.day:02d}.nwb", session))
        del session
    written.append(write_csv(out / "summary.csv", pd.DataFrame(rows)))
    return written


def run_simulate_bci(args: argparse.Namespace) -> int:
    """Run ``neurorl simulate bci`` from parsed arguments."""
    from ..errors import InvalidArgumentError

    if args.days < 1 or args.session_minutes <= 0 or args.p0 < 0 or args.n_bci < 2:
        raise InvalidArgumentError("need --days >= 1, --session-minutes > 0, --p0 >= 0 and --n-bci >= 2")
    from .._memory import check_memory, simulate_bci_bytes
    from ..io.outdir import display_path, foreign_files, staging_of

    check_memory(simulate_bci_bytes(args.p0 + args.n_bci, args.session_minutes), ["--p0", "--session-minutes"],
                 what=f"--p0 {args.p0} --n-bci {args.n_bci} --session-minutes {args.session_minutes:g}")
    foreign_files(args.out, "*.nwb", {f"day{d:02d}.nwb" for d in range(1, int(args.days) + 1)})
    written = simulate_bci_folder(staging_of(args), rule=args.rule, days=args.days, session_minutes=args.session_minutes,
                                  n_p0=args.p0, n_bci=args.n_bci, seed=args.seed, write_nwb=not args.no_nwb)
    import pandas as pd

    summary = pd.read_csv(written[-1])
    n_nwb = len(written) - 1
    if n_nwb:
        print(f"wrote {n_nwb} simulated BCI session{'s' if n_nwb != 1 else ''} ({args.rule} rule, "
              f"{args.n_bci} BCI + {args.p0} P0 neurons) to {Path(args.out)}")
    accuracy = ", ".join(f"day {int(d)} {a:.2f}" for d, a in zip(summary["day"], summary["accuracy"], strict=True))
    print(f"summary: {display_path(args, written[-1])}  (accuracy: {accuracy})")
    return 0


def register(groups: dict, parent: argparse.ArgumentParser) -> None:
    """Add ``simulate bci`` to the command line."""
    from .. import _argtypes as T

    p = groups["simulate"].add_parser(
        "bci", parents=[parent],
        help="simulated two-photon BCI experiment (vectorized / scalar / no instructive signal) -> NWB per day",
        description="Simulate the BCI task of Francioni et al. 2026: P+ and P- layer-5 neurons drive a grating "
                    "to a target; apical dendrites carry the learning rule's instructive signal. Writes "
                    "DIR/day01.nwb ... and DIR/summary.csv (day, accuracy, rewards_per_min, ...).")
    p.add_argument("--rule", choices=("vectorized", "scalar", "none"), default="vectorized",
                   help="instructive signal: per-neuron signed (vectorized), broadcast RPE (scalar) or none "
                        "(silencing control); default vectorized")
    p.add_argument("--days", type=T.positive_int, default=14, help="number of daily sessions (default 14)")
    p.add_argument("--session-minutes", type=T.positive_float, default=41.0,
                   help="closed-loop minutes per day, not counting the ~13-min baseline (default 41)")
    p.add_argument("--p0", type=T.nonnegative_int, default=300, help="non-BCI (P0) neurons in the field of view (default 300)")
    p.add_argument("--n-bci", type=T.int_at_least(2), default=10, help="BCI neurons, split into P+ and P- (default 10)")
    p.add_argument("--seed", type=T.seed, default=0, help="random seed (default 0)")
    p.add_argument("--no-nwb", action="store_true", help="write only summary.csv (fast)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=run_simulate_bci, _out_inputs=lambda args: [])
