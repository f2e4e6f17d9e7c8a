"""``neurorl simulate bci``: simulated two-photon BCI experiments (Francioni et al. 2026) as NWB, one file per day.

``neurorl simulate bci --rule vectorized --days 14 --session-minutes 41 --p0 300 --n-bci 10 --seed 0 --out DIR``
writes ``DIR/day01.nwb``, ``DIR/day02.nwb``, ... (somata and apical dendrites, cursor, grating angle, trials,
lick / reward / white-noise events, baseline epoch, the full parameter set and the simulation ground truth)
and ``DIR/summary.csv`` (one row per day: ``day``, ``accuracy``, ``rewards_per_min``, ``n_trials``, ...). With
``--suite2p`` each day also gets the folders suite2p writes, ``DIR/dayNN/suite2p/plane0`` (somata) and
``plane1`` (distal dendrites), with ``F.npy``, ``Fneu.npy``, ``spks.npy``, ``iscell.npy``, ``stat.npy`` and
``ops.npy`` (see :mod:`neurorl.models.bci_imaging`), the day's ``trials.csv`` and ``cursor.npy``, and
``DIR/rois.toml`` (P+ / P- somata, soma-dendrite pairs), so that ``neurorl analyze bci DIR`` reads the simulation
back as a lab's suite2p data (the NWB files are then analysed by naming them: ``neurorl analyze bci
DIR/day*.nwb``). ``--print-config`` prints every setting with its source as
TOML. Days are simulated and written one at a time, so memory stays bounded by one day. The model is
:mod:`neurorl.models.bci_learning`; the same arguments give the same files.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ["register", "run_simulate_bci", "simulate_bci_folder", "config_toml"]

#: Metadata written to simulated files (a lab passes its own with --experimenter, --institution, --lab).
_DEFAULT_METADATA = {"experimenter": ["Simulation, neurorl"], "institution": "none (simulated data)",
                     "lab": "none (simulated data)"}


def _toml_value(value) -> str:
    import json
    import math

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("nan" if math.isnan(value) else
                                                          ("inf" if value > 0 else "-inf"))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)


def config_toml(**run) -> str:
    """Every setting of ``neurorl simulate bci`` as TOML, each with its source as a comment.

    Top-level keys are the command's options (``rule``, ``days``, ``session_minutes``, ``p0``, ``n_bci``,
    ``seed``, ``threshold_rule``); the tables ``[task]``, ``[learner]`` and ``[imaging]`` hold the model's
    settings (:func:`neurorl.models.bci_learning.simulation_parameters`).
    """
    from ..models.bci_learning import simulation_parameters

    lines = ["# neurorl simulate bci: every setting with its source (a CLOOSE line, a paper, or assumed)",
             "# CLOOSE = harnett/CLOOSE, Run_GUI/Run_GUI.m at commit 5579dee", ""]
    section = None
    for sec, key, value, source in simulation_parameters(**run):
        if sec != section:
            if sec:
                lines += ["", f"[{sec}]"]
            section = sec
        lines.append(f"# {source}")
        lines.append(f"{key} = {_toml_value(value)}")
    return "\n".join(lines) + "\n"


def _flat_params(session) -> dict:
    """Scalar settings of a session (task_*, learner_*) for the file's ground-truth metadata."""
    out = {}
    for key, value in session.params.items():
        if isinstance(value, dict):
            out.update({f"{key}_{k}": v for k, v in value.items()})
        elif value is not None:
            out[key] = value
    return out


def _write_lab_files(out: Path, session) -> list[Path]:
    """What a lab keeps beside suite2p's output, so that ``neurorl analyze bci OUT`` reads the simulation back.

    Per day ``dayNN/trials.csv`` (the trials table, times on the imaging clock) and ``dayNN/cursor.npy`` (the
    rig's online cursor per frame, as CLOOSE logs it); once per animal ``rois.toml``
    (:func:`neurorl.io.bci_suite2p.write_bci_rois`: the P+ / P- somata of ``plane0``, each dendrite of ``plane1``
    paired with its soma, the passive baseline's length).
    """
    import numpy as np

    import io

    from ..io._atomic import write_bytes
    from ..io.bci_suite2p import write_bci_rois
    from ..io.results import write_csv

    day = out / f"day{int(session.day):02d}"
    written = [write_csv(session.trials, day / "trials.csv")]
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(session.cursor, dtype=np.float32))
    written.append(write_bytes(buffer.getbuffer(), day / "cursor.npy"))
    labels = np.asarray(session.ensemble).astype(str)  # the same ROIs every day: rewritten identically
    parent = np.asarray(session.parent_soma, dtype=np.int64)
    written.append(write_bci_rois(
        np.flatnonzero(labels == "P+"), np.flatnonzero(labels == "P-"),
        [(int(s), int(d)) for d, s in enumerate(parent)], out / "rois.toml", soma_plane="plane0",
        dendrite_plane="plane1", baseline_s=int(session.baseline_frames) / float(session.frame_rate_hz)))
    return written


def simulate_bci_folder(out: str | os.PathLike, *, rule: str = "vectorized", days: int = 14,
                        session_minutes: float = 41.0, n_p0: int = 300, n_bci: int = 10, seed: int = 0,
                        write_nwb: bool = True, params=None, task=None, imaging=None,
                        threshold_rule: str = "rig", write_suite2p: bool = False,
                        metadata: dict | None = None, movie_minutes: float = 0.0, movie_px: int = 128
                        ) -> list[Path]:
    """Simulate a BCI experiment and write it to ``out``.

    Parameters
    ----------
    out
        Output folder (created). It must not hold NWB files other than the ``dayNN.nwb`` written here.
    rule, days, session_minutes, n_p0, n_bci, seed, params, task, threshold_rule
        Passed to :func:`neurorl.models.bci_learning.simulate_bci_experiment`.
    imaging
        :class:`neurorl.models.bci_imaging.ImagingParams` (ROI footprints, raw fluorescence).
    write_nwb
        Write one NWB file per day (``False``: only ``summary.csv``).
    write_suite2p
        Also write ``dayNN/suite2p/plane0`` (somata) and ``plane1`` (dendrites) per day, with
        ``dayNN/trials.csv`` and ``dayNN/cursor.npy``, and ``rois.toml`` naming the P+ / P- somata and the
        soma-dendrite pairs: ``neurorl analyze bci OUT`` then reads the simulation as a lab's suite2p data.
    metadata
        ``experimenter``, ``institution``, ``lab`` for the NWB files (defaults say the data are simulated).
    movie_minutes, movie_px
        If ``movie_minutes > 0``, each NWB file also holds a raw movie of the soma plane: its first
        ``movie_minutes`` (the passive baseline's start), binned to ``movie_px x movie_px`` pixels.

    Returns
    -------
    list of pathlib.Path
        The files written (NWB files, suite2p files), then ``summary.csv``.
    """
    import numpy as np
    import pandas as pd

    from .._progress import progress
    from ..errors import InvalidArgumentError
    from ..io.results import write_csv
    from ..models.bci_imaging import (
        ImagingParams,
        motion_artefacts,
        movie,
        raw_fluorescence,
        roi_footprints,
        suite2p_plane,
    )
    from ..models.bci_learning import simulate_bci_experiment, simulation_parameters, summarize_session

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
    imaging = imaging or ImagingParams()
    writer = None
    if write_nwb:
        from ..io.bci_nwb import write_bci_session as writer
    if write_suite2p:
        from ..io.suite2p import write_suite2p_plane
    rows, written = [], []
    sessions = simulate_bci_experiment(rule, days=days, session_minutes=session_minutes, n_p0=n_p0,
                                       n_bci=n_bci, seed=seed, params=params, task=task,
                                       threshold_rule=threshold_rule)
    run = dict(rule=rule, days=int(days), session_minutes=float(session_minutes), p0=int(n_p0), n_bci=int(n_bci),
               seed=int(seed), threshold_rule=threshold_rule)
    all_parameters: dict = {}
    for sec, key, value, _source in simulation_parameters(task=task, params=params, imaging=imaging, **run):
        all_parameters.setdefault(sec or "run", {})[key] = value
    # the same ROIs every day: footprints and resting fluorescence drawn once from the seed
    geometry_rng = np.random.default_rng([int(seed), 14_003])
    footprints = None
    f0 = {}
    meta = dict(_DEFAULT_METADATA, **{k: v for k, v in (metadata or {}).items() if v})
    geometry = {"um_per_px": imaging.um_per_px, "fov_px": imaging.fov_px,
                "soma_depth_um": imaging.soma_depth_um, "dendrite_depth_um": imaging.dendrite_depth_um}
    for session in progress(sessions, desc=f"simulate bci ({rule})", total=int(days)):
        if writer is not None and len(session.trials) == 0:
            raise InvalidArgumentError(f"--session-minutes {session_minutes:g}: no trial was completed on day "
                                       f"{session.day}, so the day cannot be written as NWB; simulate longer days "
                                       "(a trial lasts up to about 35 s) or pass --no-nwb")
        rows.append(summarize_session(session))
        n = session.soma_dff.shape[1]
        if footprints is None:
            footprints = {"soma": roi_footprints(n, imaging.soma_radius_px, imaging.fov_px, geometry_rng),
                          "dendrite": roi_footprints(session.dendrite_dff.shape[1], imaging.dendrite_radius_px,
                                                     imaging.fov_px, geometry_rng)}
            for plane_name, count in (("soma", n), ("dendrite", session.dendrite_dff.shape[1])):
                f0[plane_name] = imaging.f0_median * np.exp(imaging.f0_log_sd * geometry_rng.standard_normal(count))
        session.roi_footprints = footprints
        motion = motion_artefacts(session.n_frames, session.frame_rate_hz, imaging,
                                  np.random.default_rng([int(seed), session.day, 14_005]))  # shared by both planes
        if write_suite2p:
            for plane, (plane_name, data, depth) in enumerate(
                    (("soma", session.soma_dff, imaging.soma_depth_um),
                     ("dendrite", session.dendrite_dff, imaging.dendrite_depth_um))):
                arrays = suite2p_plane(data, footprints[plane_name], session.frame_rate_hz, params=imaging,
                                       seed=np.random.default_rng([int(seed), session.day, plane]), plane=plane,
                                       depth_um=depth, f0=f0[plane_name], motion=motion)
                written += write_suite2p_plane(arrays, out / f"day{session.day:02d}" / "suite2p" / f"plane{plane}")
                del arrays
            written += _write_lab_files(out, session)
        movie_data = None
        if writer is not None and movie_minutes > 0:
            n_movie = min(session.n_frames, max(1, int(round(movie_minutes * 60 * session.frame_rate_hz))))
            f_raw, _, _ = raw_fluorescence(session.soma_dff[:n_movie], session.frame_rate_hz, imaging,
                                           np.random.default_rng([int(seed), session.day, 7]), f0=f0["soma"],
                                           motion=motion[:n_movie])
            frames, masks = movie(f_raw, footprints["soma"], fov_px=imaging.fov_px, movie_px=int(movie_px),
                                  seed=np.random.default_rng([int(seed), session.day, 8]))
            movie_data = {"data": frames, "masks": masks, "depth_um": imaging.soma_depth_um,
                          "um_per_px": imaging.um_per_px * imaging.fov_px / int(movie_px)}
        if writer is not None:
            session.params = _flat_params(session)
            written.append(writer(session, out / f"day{session.day:02d}.nwb", imaging=geometry,
                                  parameters=all_parameters, movie=movie_data, **meta))
            del movie_data
        del session
    written.append(write_csv(pd.DataFrame(rows), out / "summary.csv"))
    return written


def run_simulate_bci(args: argparse.Namespace) -> int:
    """Run ``neurorl simulate bci`` from parsed arguments."""
    from ..errors import InvalidArgumentError

    if args.days < 1 or args.session_minutes <= 0 or args.p0 < 0 or args.n_bci < 2:
        raise InvalidArgumentError("need --days >= 1, --session-minutes > 0, --p0 >= 0 and --n-bci >= 2")
    if args.movie is not None and not args.movie > 0:
        raise InvalidArgumentError("--movie needs a positive number of minutes")
    if args.movie is not None and args.no_nwb:
        raise InvalidArgumentError("--movie is written into the NWB files; drop --no-nwb")
    from .._memory import check_memory, simulate_bci_bytes
    from ..io.outdir import display_path, foreign_files, staging_of

    check_memory(simulate_bci_bytes(args.p0 + args.n_bci, args.session_minutes), ["--p0", "--session-minutes"],
                 what=f"--p0 {args.p0} --n-bci {args.n_bci} --session-minutes {args.session_minutes:g}")
    foreign_files(args.out, "*.nwb", {f"day{d:02d}.nwb" for d in range(1, int(args.days) + 1)})
    from dataclasses import replace

    from ..models.bci_imaging import ImagingParams
    from ..models.bci_learning import BCILearnerParams
    from ..tasks.bci import BCITask

    def settings(cls, name):
        """Build the settings from a config file's [task] / [learner] / [imaging] table, if the loader passed one."""
        table = getattr(args, name, None) or {}
        if not isinstance(table, dict):
            raise InvalidArgumentError(f"[{name}] must be a table of settings")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(table) - known)
        if unknown:
            raise InvalidArgumentError(f"unknown [{name}] settings: {', '.join(unknown)}")
        try:
            return replace(cls(), **table)
        except TypeError as exc:
            raise InvalidArgumentError(f"[{name}]: {exc}") from None

    imaging = settings(ImagingParams, "imaging")
    if args.no_imaging_realism:
        imaging = imaging.without_realism()
    written = simulate_bci_folder(
        staging_of(args), rule=args.rule, days=args.days, session_minutes=args.session_minutes, n_p0=args.p0,
        n_bci=args.n_bci, seed=args.seed, write_nwb=not args.no_nwb, task=settings(BCITask, "task"),
        params=settings(BCILearnerParams, "learner"), imaging=imaging,
        threshold_rule=args.threshold_rule, write_suite2p=args.suite2p, movie_minutes=args.movie or 0.0,
        metadata={"experimenter": args.experimenter, "institution": args.institution, "lab": args.lab})
    import pandas as pd

    summary = pd.read_csv(written[-1])
    n_nwb = sum(1 for path in written if path.suffix == ".nwb")
    if n_nwb:
        print(f"wrote {n_nwb} simulated BCI session{'s' if n_nwb != 1 else ''} ({args.rule} rule, "
              f"{args.n_bci} BCI + {args.p0} P0 neurons) to {Path(args.out)}")
    accuracy = ", ".join(f"day {int(d)} {a:.2f}" for d, a in zip(summary["day"], summary["accuracy"], strict=True))
    print(f"summary: {display_path(args, written[-1])}  (accuracy: {accuracy})")
    return 0


class _PrintConfig(argparse.Action):
    """``--print-config``: print the defaults as TOML and exit (before ``--out`` is required)."""

    def __call__(self, parser, namespace, values, option_string=None):
        import sys

        sys.stdout.write(config_toml())
        parser.exit(0)


def register(groups: dict, parent: argparse.ArgumentParser) -> None:
    """Add ``simulate bci`` to the command line."""
    from .. import _argtypes as T

    p = groups["simulate"].add_parser(
        "bci", parents=[parent],
        help="simulated two-photon BCI experiment (vectorized / scalar / no instructive signal) -> NWB per day",
        description="Simulate the BCI task of Francioni et al. 2026: P+ and P- layer-5 neurons drive a grating "
                    "to a target; apical dendrites carry the learning rule's instructive signal. Writes one NWB file "
                    "per day (DIR/day01.nwb, DIR/day02.nwb and so on) and DIR/summary.csv (day, accuracy, "
                    "rewards_per_min and more).")
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
    p.add_argument("--threshold-rule", choices=("rig", "z_only"), default="rig",
                   help="later-day threshold: the rig's (easier of the day's own 50%% threshold and day 1's "
                        "z-score; default) or day 1's z-score alone (the rule used before)")
    p.add_argument("--suite2p", action="store_true",
                   help="also write DIR/dayNN/suite2p/plane0 (somata) and plane1 (dendrites) as suite2p does: "
                        "F, Fneu, spks, iscell, stat, ops (.npy); with DIR/dayNN/trials.csv, cursor.npy and "
                        "DIR/rois.toml, so that 'neurorl analyze bci DIR' reads them back")
    p.add_argument("--no-imaging-realism", action="store_true",
                   help="suite2p and movie output without indicator rise, saturation, bleaching, motion artefacts and "
                        "shot noise (F = F0 (1 + dF/F) + 0.7 Fneu exactly)")
    p.add_argument("--movie", nargs="?", type=float, const=1.0, default=None, metavar="MINUTES",
                   help="also write a raw movie of the soma plane into each NWB file (TwoPhotonSeries, 128 x 128 "
                        "pixels, with the ROI image masks): its first MINUTES (default 1)")
    p.add_argument("--experimenter", action="append", metavar="'LAST, FIRST'",
                   help="experimenter for the NWB files (repeatable; default: marks the data as simulated)")
    p.add_argument("--institution", metavar="TEXT",
                   help="institution for the NWB files (default: 'none (simulated data)')")
    p.add_argument("--lab", metavar="TEXT", help="lab for the NWB files (default: 'none (simulated data)')")
    p.add_argument("--print-config", action=_PrintConfig, nargs=0,
                   help="print every setting (defaults) with its source as TOML and exit")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.set_defaults(func=run_simulate_bci, _out_inputs=lambda args: [], _config_tables=("task", "learner", "imaging"))
