"""``neurorl simulate dopamine``: simulated dopamine recordings in the variable-reward task, as NWB.

``neurorl simulate dopamine --cells 40 --sessions 4 --trials 500 --code expectile --seed 0 --out DIR`` writes
``DIR/session_01.nwb`` ... (cells spread over the sessions, ``--trials`` per session) and
``DIR/ground_truth.csv`` (one row per cell: ``session``, ``cell`` (unit id), ``reversal_point`` (µl),
``asymmetry``, ``alpha_pos``, ``alpha_neg`` and the firing parameters). The model is
:func:`neurorl.models.dopamine_recording.simulate_recordings`; the same arguments give the same files.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import uuid
from pathlib import Path

__all__ = ["register", "run_simulate_dopamine", "simulate_dopamine_folder"]


def simulate_dopamine_folder(
    out: str | os.PathLike,
    *,
    n_cells: int = 40,
    n_sessions: int = 4,
    n_trials: int = 500,
    code: str = "expectile",
    seed: int = 0,
    other_fraction: float = 0.0,
    modality: str = "spikes",
    frame_rate_hz: float = 30.0,
    dff_noise_sd: float = 0.05,
    **simulation_kwargs,
) -> list[Path]:
    """Simulate recordings and write them to ``out`` (NWB per session + ``ground_truth.csv``).

    Parameters
    ----------
    out
        Output folder (created). It must not hold other ``.nwb`` files than the ones written here, so that a
        folder fit never pools stale sessions.
    n_cells, n_sessions, n_trials, code, seed, **simulation_kwargs
        Passed to :func:`neurorl.models.dopamine_recording.simulate_recordings`.
    other_fraction
        Fraction of trials without reward (``trial_type="other"``, NaN reward), as in the real data.
    modality
        ``"spikes"`` (a Units table) or ``"dff"`` (a two-photon-style recording: each cell's spikes through a
        GCaMP6f-like calcium kernel plus per-frame noise, :func:`neurorl.models.calcium.spikes_to_dff`, stored
        as ``processing/ophys/DfOverF/RoiResponseSeries``; ROI k is cell k of the session's ground truth).
    frame_rate_hz, dff_noise_sd
        Frame rate (Hz) and per-frame noise SD (ΔF/F) of the ``dff`` modality.

    Returns
    -------
    list of pathlib.Path
        The files written: the NWB sessions, then ``ground_truth.csv``.
    """
    import numpy as np

    from .. import __version__
    from ..errors import InvalidArgumentError
    from ..io.nwb import write_dopamine, write_dopamine_trace
    from ..io.results import write_csv
    from ..models.calcium import spikes_to_dff
    from ..models.dopamine_recording import simulate_recordings
    from ..tasks.variable_reward import VariableRewardTask

    if modality not in ("spikes", "dff"):
        raise InvalidArgumentError(f"modality must be 'spikes' or 'dff', got {modality!r}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError("--out exists and is not a folder", out)
    names = [f"session_{k + 1:02d}" for k in range(int(n_sessions))]
    if out.is_dir():
        stale = sorted(p.name for p in out.glob("*.nwb") if p.stem not in names and not p.name.startswith("."))
        if stale:
            raise InvalidArgumentError(
                f"folder already holds other NWB files ({', '.join(stale[:3])}{' ...' if len(stale) > 3 else ''}); "
                "choose an empty folder", out)

    task = VariableRewardTask(other_fraction=other_fraction)
    settings = (f"code={code}, cells={n_cells}, sessions={n_sessions}, trials per session={n_trials}, "
                f"seed={seed}" + (f", other_fraction={other_fraction}" if other_fraction else "")
                + "".join(f", {k}={v}" for k, v in sorted(simulation_kwargs.items()))
                + (f", modality=dff, frame_rate_hz={frame_rate_hz}, dff_noise_sd={dff_noise_sd}"
                   if modality == "dff" else ""))
    written: list[Path] = []
    noise_rng = np.random.default_rng([int(seed), 1])   # the ΔF/F noise; the spikes keep their own stream

    def write_session(session) -> None:
        """Write one session as soon as it is simulated (only one session's spikes are in memory)."""
        k = len(written)
        identifier = uuid.uuid5(uuid.NAMESPACE_URL, f"neurorl/simulate/dopamine/{settings}/{session.session}")
        metadata = dict(
            identifier=str(identifier),
            session_id=session.session,
            session_start_time=_dt.datetime(2020, 1, 1 + k % 28, 12, 0, tzinfo=_dt.UTC),
            subject_id="simulated-mouse",
            subject_description="simulated animal (no real subject)",
            experiment_description=(
                f"Simulated with neurorl {__version__} (neurorl simulate dopamine; {settings}). "
                "Reward sizes 0.1-20 µl with the frequencies of Dabney et al. 2020; the ground truth per cell "
                "(reversal point = learned value in µl, asymmetry) is in ground_truth.csv beside this file."),
            keywords=["simulation", "dopamine", "distributional TD", "variable reward"],
        )
        if modality == "dff":
            ids = list(session.spike_times)
            duration = float(session.trials["stop_time"].max()) + 5.0
            _, dff = spikes_to_dff([session.spike_times[i] for i in ids], duration, frame_rate_hz=frame_rate_hz,
                                   noise_sd=dff_noise_sd, seed=noise_rng)
            path = write_dopamine_trace(
                dff, session.trials, out / f"{session.session}.nwb", rate_hz=frame_rate_hz,
                cell_types=[session.cell_types[i] for i in ids],
                session_description=(f"SIMULATED two-photon ΔF/F of dopamine neurons (neurorl {code} TD model) in "
                                     "the variable-reward task; not a real recording"),
                **metadata)
        else:
            path = write_dopamine(
                session.spike_times, session.trials, out / f"{session.session}.nwb",
                cell_types=session.cell_types,
                session_description=(f"SIMULATED dopamine neurons (neurorl {code} TD model) in the variable-reward "
                                     "task; not a real recording"),
                **metadata,
            )
        written.append(path)

    simulation = simulate_recordings(n_cells, n_sessions, n_trials, code=code, seed=seed, task=task,
                                     session_names=names, on_session=write_session, **simulation_kwargs)
    truth = simulation.ground_truth
    if modality == "dff":
        # ROI k of a session is its k-th cell: the ground truth names cells by that ROI index
        truth = truth.copy()
        truth["cell"] = truth.groupby("session").cumcount().to_numpy()
    written.append(write_csv(truth, out / "ground_truth.csv"))
    return written


def run_simulate_dopamine(args: argparse.Namespace) -> int:
    """Run ``neurorl simulate dopamine`` from parsed arguments."""
    kwargs = {}
    for name in ("learning_rate", "n_training_trials", "baseline_rate", "gain", "cue_gain", "utility_exponent"):
        value = getattr(args, name)
        if value is not None:
            kwargs[name] = value
    if args.tau_range is not None:
        kwargs["tau_range"] = tuple(args.tau_range)
    if args.spike_window is not None:
        kwargs["spike_window_s"] = tuple(args.spike_window)
    from .._memory import check_memory, simulate_dopamine_bytes
    from ..io.outdir import display_path, foreign_files, staging_of

    if args.sessions > args.cells:
        from ..errors import InvalidArgumentError

        raise InvalidArgumentError(f"--sessions {args.sessions} is more than --cells {args.cells}: every session "
                                   "needs at least one cell")
    check_memory(simulate_dopamine_bytes(args.cells, args.sessions, args.trials,
                                         baseline_rate=args.baseline_rate or 5.0,
                                         n_training_trials=args.n_training_trials or 10000),
                 ["--cells", "--trials"],
                 what=f"--cells {args.cells} --sessions {args.sessions} --trials {args.trials}")
    foreign_files(args.out, "*.nwb", {f"session_{k + 1:02d}.nwb" for k in range(int(args.sessions))})
    written = simulate_dopamine_folder(staging_of(args), n_cells=args.cells, n_sessions=args.sessions,
                                       n_trials=args.trials, code=args.code, seed=args.seed,
                                       other_fraction=args.other_fraction, modality=args.modality,
                                       frame_rate_hz=args.frame_rate, dff_noise_sd=args.dff_noise, **kwargs)
    n_nwb = len(written) - 1
    print(f"wrote {n_nwb} simulated session{'s' if n_nwb != 1 else ''} ({args.cells} cells, {args.code} code) "
          f"to {Path(args.out)}")
    print(f"ground truth: {display_path(args, written[-1])}")
    return 0


def register(groups: dict, parent: argparse.ArgumentParser) -> None:
    """Add ``simulate dopamine`` to the command line."""
    from .. import _argtypes as T

    p = groups["simulate"].add_parser(
        "dopamine", parents=[parent],
        help="simulated dopamine recordings (distributional/classic TD) in the variable-reward task -> NWB",
        description="Simulate dopamine neurons whose reward responses are baseline + gain x their own "
                    "asymmetrically scaled TD prediction error (floored at 0 spikes/s, Poisson spikes) in the "
                    "variable-reward task; write one NWB file per session and ground_truth.csv.")
    p.add_argument("--cells", type=T.positive_int, default=40, metavar="N", help="number of cells in all (default 40)")
    p.add_argument("--sessions", type=T.positive_int, default=4, metavar="N", help="number of sessions (default 4)")
    p.add_argument("--trials", type=T.positive_int, default=500, metavar="N", help="trials per session (default 500)")
    p.add_argument("--code", choices=("expectile", "quantile", "classic", "additive_bias"), default="expectile",
                   help="TD learning rule of the population (default expectile); additive_bias: the Extended Data "
                        "null (classic TD, cells differing only by an additive offset of their prediction error)")
    p.add_argument("--utility-exponent", type=T.positive_float, default=None, metavar="K",
                   help="cells learn from and respond to u(r) = r_max (r / r_max)^K, r_max the largest reward "
                        "(K < 1: concave, as real cells; default 1: linear)")
    p.add_argument("--seed", type=T.seed, default=0, metavar="SEED", help="random seed (default 0)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--tau-range", type=T.probability, nargs=2, metavar=("LOW", "HIGH"), default=None,
                   help="range of the cells' asymmetries a+/(a+ + a-) (default 0.1 0.9)")
    p.add_argument("--learning-rate", type=T.float_in(0.0, 1.0, what="a learning rate in (0, 1]"), default=None, metavar="RATE", help="mean TD learning rate (default 0.02)")
    p.add_argument("--training-trials", dest="n_training_trials", type=T.nonnegative_int, default=None, metavar="N",
                   help="TD learning trials before recording (default 10000)")
    p.add_argument("--baseline-rate", type=T.positive_float, default=None, metavar="HZ",
                   help="median baseline firing rate, spikes/s (default 5)")
    p.add_argument("--gain", type=T.nonnegative_float, default=None, metavar="GAIN",
                   help="median response gain, spikes/s per µl of prediction error (default 1)")
    p.add_argument("--cue-gain", type=T.nonnegative_float, default=None, metavar="GAIN", help="median cue-response gain (default = gain)")
    p.add_argument("--other-fraction", type=T.float_in(0.0, 0.99, what="a fraction in [0, 0.99]"), default=0.0, metavar="FRACTION",
                   help="fraction of trials without reward (trial_type 'other'; about 0.2 in the real data; default 0)")
    p.add_argument("--spike-window", type=T.nonnegative_float, nargs=2, metavar=("PRE", "POST"), default=None,
                   help="store spikes only from PRE s before each trial start to POST s after its stop "
                        "(default: the whole session)")
    p.add_argument("--modality", choices=("spikes", "dff"), default="spikes",
                   help="spikes (a Units table; default) or dff (two-photon ΔF/F: the cells' spikes through a "
                        "calcium kernel plus noise, in processing/ophys/DfOverF/RoiResponseSeries)")
    p.add_argument("--frame-rate", type=T.positive_float, default=30.0, metavar="HZ",
                   help="frame rate of --modality dff (default 30 Hz)")
    p.add_argument("--dff-noise", type=T.nonnegative_float, default=0.05, metavar="SD",
                   help="per-frame noise SD of --modality dff, ΔF/F (default 0.05)")
    p.set_defaults(func=run_simulate_dopamine, _out_inputs=lambda args: [])
