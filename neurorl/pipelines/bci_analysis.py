"""``neurorl analyze bci`` and ``neurorl reproduce bci``: the analyses of Francioni et al. (2026).

``analyze bci DIR|FILES --out DIR2``
    Reads BCI sessions (NWB, simulated or real, layout of :mod:`neurorl.io.bci_nwb`), runs
    :func:`neurorl.analysis.bci.analyze_session` on each and pools them per animal (each folder given, or the
    parent folder of each file given, is one animal; its files are its days). Writes tables (CSV) and figures.
``reproduce bci --out DIR``
    Simulates the experiment under the three learning rules (``vectorized``, ``scalar``, ``none``), analyses
    every day in memory (or writes NWB with ``--write-nwb``), and writes the comparison figures and tables,
    with the learning time against the number of BCI neurons for ``vectorized`` vs ``scalar``.

The pipeline owns no maths: it wires io -> analysis -> plotting.
"""

from __future__ import annotations

import argparse
import textwrap
import time
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import xarray as xr

from .._progress import progress
from ..errors import InvalidArgumentError

if TYPE_CHECKING:
    from ..analysis.bci import BCIAnalysisSettings

__all__ = ["register", "analyze_sessions", "run_analyze", "run_reproduce", "reproduce", "write_outputs",
           "summary_table", "learning_time_curve", "lab_traces", "ROI_DRIFT_SD", "RULES"]

#: The three learning rules, in plotting order.
RULES: tuple[str, ...] = ("vectorized", "scalar", "none")


# ----------------------------------------------------------------------------------------------- wiring
def analyze_sessions(sessions: Iterable[Any], *, n_shuffles: int = 1000, seed: int = 0,
                     settings: BCIAnalysisSettings | None = None, **analysis_kwargs) -> dict[str, xr.Dataset]:
    """Analyse the days of one animal (an iterable of :class:`neurorl.recordings.BCIRecording`, one day at a time).

    Only the small per-session results are kept, so memory is bounded by one day. ``settings`` (a
    :class:`neurorl.analysis.bci.BCIAnalysisSettings`) and/or ``analysis_kwargs`` (its fields by name) set the
    analysis options.

    Returns
    -------
    dict of xarray.Dataset
        :func:`neurorl.analysis.bci.combine_sessions` output plus ``learning_curve``.
    """
    from ..analysis.bci import BCIAnalysisSettings, analyze_session, combine_sessions, learning_curves

    settings = (settings if settings is not None else BCIAnalysisSettings()).replace(**analysis_kwargs)
    results, trials, minutes = {}, {}, {}
    for index, session in enumerate(sessions, start=1):
        day = getattr(session, "day", None)
        day = index if day is None else int(day)
        if day in results:
            raise InvalidArgumentError(f"two sessions for day {day}"
                                       + (f" ({getattr(session, 'path', '')})" if getattr(session, "path", None) else ""))
        results[day] = analyze_session(session, settings)
        trials[day] = session.trials
        minutes[day] = (np.shape(session.soma_dff)[0] - int(session.baseline_frames)) / float(session.frame_rate_hz) / 60
    if not results:
        raise InvalidArgumentError("no sessions to analyse")
    combined = combine_sessions(results, n_shuffles=n_shuffles, seed=seed)
    combined["learning_curve"] = learning_curves(trials, minutes)
    return combined


def _concat(groups: dict[str, dict[str, xr.Dataset]], key: str, dim: str) -> xr.Dataset:
    names = list(groups)
    return xr.concat([groups[n][key] for n in names], dim=pd.Index(names, name=dim), join="outer")


def _table(ds: xr.Dataset, variables: Sequence[str]) -> pd.DataFrame:
    return ds[list(variables)].to_dataframe().reset_index()


def write_outputs(groups: dict[str, dict[str, xr.Dataset]], out: Path, *, dim: str = "group",
                  formats: Sequence[str] = ("png",), learning_time: xr.Dataset | None = None,
                  warnings: dict[str, str] | None = None) -> list[Path]:
    """Write the tables and figures of several animals/rules (``dim`` names them) into ``out``.

    ``warnings`` (by animal/rule, e.g. :func:`pairing_warnings`) go into ``summary.csv``'s ``warning`` column
    and ``bci_analysis.nc``'s ``warnings`` attribute.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from ..analysis.bci import DECODING_SCOPE
    from ..io.results import save_figure, write_csv, write_netcdf
    from ..plotting.bci import (
        plot_decoding,
        plot_event_rate_change,
        plot_learning_curves,
        plot_learning_time_vs_n_bci,
        plot_residuals_by_epoch,
        plot_signature_by_rule,
    )

    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    curves = _concat(groups, "learning_curve", dim)
    written.append(write_csv(_table(curves, list(curves.data_vars)), out / "learning_curve.csv"))
    by_epoch = _concat(groups, "by_epoch", dim)
    written.append(write_csv(_table(by_epoch, ["mean", "sem", "n", "difference", "p_value", "signature",
                                               "signature_p_value"]), out / "residuals_by_epoch.csv"))
    by_epoch_day = _concat(groups, "by_epoch_day", dim)
    written.append(write_csv(_table(by_epoch_day, ["mean", "sem", "n", "difference", "signature"]), out / "residuals_by_epoch_day.csv"))
    decoding = _concat(groups, "decoding", dim)
    written.append(write_csv(_table(decoding, ["accuracy", "shuffle_mean", "p_value", "n_trials", "n_rewarded"]), out / "decoding.csv"))
    decoding_day = _concat(groups, "decoding_day", dim)
    written.append(write_csv(_table(decoding_day, ["accuracy", "shuffle_mean", "p_value", "n_trials", "n_rewarded"]), out / "decoding_day.csv"))
    change = _concat(groups, "event_rate_change", dim)
    written.append(write_csv(_table(change, list(change.data_vars)), out / "event_rate_change.csv"))
    pairing = _concat(groups, "pairing", dim)
    written.append(write_csv(_table(pairing, list(pairing.data_vars)), out / "pairing.csv"))
    summary = xr.Dataset({"accuracy": curves["accuracy"], "rewards_per_min": curves["rewards_per_min"],
                          "residual_mean": by_epoch["mean"], "signature": by_epoch["signature"],
                          "signature_p_value": by_epoch["signature_p_value"],
                          "decoding_accuracy": decoding["accuracy"], "decoding_p_value": decoding["p_value"],
                          "decoding_shuffle_mean": decoding["shuffle_mean"],
                          "event_rate_change": change["mean_change"]})
    summary.attrs.update(description="BCI analyses (Francioni et al. 2026) computed by neurorl",
                         decoding_scope=DECODING_SCOPE,
                         decoding=str(decoding.attrs), epochs=str(by_epoch.attrs),
                         warnings="; ".join(f"{k}: {v}" for k, v in (warnings or {}).items()))
    written.append(write_netcdf(summary, out / "bci_analysis.nc"))
    written.append(write_csv(summary_table(groups, dim=dim, warnings=warnings), out / "summary.csv"))

    names = list(groups)
    curves_rule = curves.rename({dim: "rule"})
    fig, axes = plt.subplots(1, 2, figsize=(8, 3))
    plot_learning_curves(curves_rule, "accuracy", ax=axes[0])
    plot_learning_curves(curves_rule, "rewards_per_min", ax=axes[1], chance=None)
    fig.tight_layout()
    written += _save(fig, out / "learning_curves", formats, save_figure)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        plot_residuals_by_epoch(by_epoch.sel({dim: name}), ax=ax, title=str(name))
    fig.tight_layout()
    written += _save(fig, out / "residuals_by_epoch", formats, save_figure)
    fig, ax = plt.subplots(figsize=(max(4.5, 1.6 + 1.2 * len(names)), 4.2))
    plot_decoding(decoding.rename({dim: "rule"}), ax=ax)
    fig.text(0.01, 0.01, textwrap.fill(DECODING_SCOPE, 95), fontsize=5.5, va="bottom", ha="left")
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    written += _save(fig, out / "decoding", formats, save_figure)
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 3), squeeze=False, sharey=True)
    for ax, name in zip(axes[0], names, strict=True):
        plot_event_rate_change(change.sel({dim: name}), ax=ax)
        ax.set_title(str(name), fontsize=9)
    fig.tight_layout()
    written += _save(fig, out / "event_rate_change", formats, save_figure)
    if dim == "rule":
        fig, axes = plt.subplots(2, 3, figsize=(12, 6.5))
        plot_learning_curves(curves_rule, "accuracy", ax=axes[0, 0])
        axes[0, 0].set_title("learning (fraction of trials hit)", fontsize=9)
        plot_learning_curves(curves_rule, "rewards_per_min", ax=axes[0, 1], chance=None)
        axes[0, 1].set_title("rewards per minute", fontsize=9)
        plot_signature_by_rule(by_epoch, dim, ax=axes[0, 2])
        axes[0, 2].set_title("dendritic residual: vectorized signature", fontsize=9)
        plot_decoding(decoding.rename({dim: "rule"}), ax=axes[1, 0])
        first = "vectorized" if "vectorized" in names else names[0]
        plot_event_rate_change(change.sel({dim: first}), ax=axes[1, 1])
        axes[1, 1].set_title(f"event rate change ({first})", fontsize=9)
        if learning_time is not None:
            plot_learning_time_vs_n_bci(learning_time, ax=axes[1, 2])
            axes[1, 2].set_title("learning time (from behaviour) vs BCI ensemble size", fontsize=9)
        else:
            axes[1, 2].axis("off")
        fig.tight_layout()
        written += _save(fig, out / "comparison", formats, save_figure)
    if learning_time is not None:
        fig, ax = plt.subplots(figsize=(4, 3))
        plot_learning_time_vs_n_bci(learning_time, ax=ax)
        fig.tight_layout()
        written += _save(fig, out / "learning_time_vs_n_bci", formats, save_figure)
        lt = learning_time.to_dataframe().reset_index()
        written.append(write_csv(lt, out / "learning_time_vs_n_bci.csv"))
    plt.close("all")
    return written


def summary_table(groups: dict[str, dict[str, xr.Dataset]], *, dim: str = "group", last_days: int = 3,
                  warnings: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per animal/rule: accuracy on day 1 and over the last days, rewards per minute, the residual
    signature, reward decoding against its shuffle control, and the last day's event-rate change by group."""
    rows = []
    for name, result in groups.items():
        curve = result["learning_curve"]
        be = result["by_epoch"]
        dec = result["decoding"]
        change = result["event_rate_change"].isel(day=-1)
        rows.append({
            dim: name,
            "days": int(curve.sizes["day"]),
            "accuracy_day1": float(curve["accuracy"][0]),
            f"accuracy_last{last_days}": float(curve["accuracy"][-last_days:].mean()),
            "rewards_per_min_day1": float(curve["rewards_per_min"][0]),
            f"rewards_per_min_last{last_days}": float(curve["rewards_per_min"][-last_days:].mean()),
            "residual_diff_error_fell": float(be["difference"].sel(epoch_type="error_fell")),
            "residual_diff_error_rose": float(be["difference"].sel(epoch_type="error_rose")),
            "signature": float(be["signature"]),
            "signature_p": float(be["signature_p_value"]),
            "decoding_accuracy": float(dec["accuracy"]),
            "decoding_shuffle_mean": float(dec["shuffle_mean"]),
            "decoding_p": float(dec["p_value"]),
            "n_trials": int(dec["n_trials"]),
            **{f"rate_change_last_{g}": float(change["mean_change"].sel(ensemble=g)) for g in ("P+", "P-", "P0")},
            "warning": (warnings or {}).get(name, ""),
        })
    return pd.DataFrame(rows)


def _save(fig, stem: Path, formats: Sequence[str], save_figure) -> list[Path]:
    return [save_figure(fig, stem.with_suffix(f".{fmt}")) for fmt in formats]


def _formats(formats: str | Sequence[str]) -> list[str]:
    """Return the figure formats (a list, or the older comma-separated text), each once, checked."""
    if isinstance(formats, str):
        formats = formats.split(",")
    formats = list(dict.fromkeys(f.strip().lower() for f in formats if f.strip()))
    bad = [f for f in formats if f not in ("png", "pdf", "svg")]
    if bad or not formats:
        raise InvalidArgumentError(f"--format must list png, pdf or svg (got {' '.join(formats) or 'nothing'})")
    return formats


def pairing_warnings(groups: dict[str, dict[str, xr.Dataset]], min_r: float) -> dict[str, str]:
    """Return a warning per animal/rule whose soma-dendrite pairing found no pair with r >= ``min_r`` on some day.

    Without pairs the dendritic statistics of that day are NaN; the warning says which days and why.
    """
    warnings = {}
    for name, result in groups.items():
        pairing = result.get("pairing")
        if pairing is None or "fraction_paired" not in pairing:
            continue
        fraction = np.asarray(pairing["fraction_paired"].values, dtype=float)
        empty = [int(d) for d, f in zip(pairing["day"].values, fraction, strict=True) if not f > 0]
        if empty:
            days = "every day" if len(empty) == fraction.size else "day" + ("s " if len(empty) > 1 else " ") + \
                ", ".join(map(str, empty))
            warnings[name] = (f"no soma-dendrite pair reaches --min-r {min_r:g} on {days} (median r "
                              f"{float(np.nanmedian(pairing['median_r'].values)):.2f}); the dendritic statistics "
                              "there are NaN: lower --min-r")
    return warnings


def _warn(warnings: dict[str, str]) -> None:
    import sys

    for name, text in warnings.items():
        print(f"neurorl: warning: {name}: {text}", file=sys.stderr)


def _analysis_kwargs(args) -> dict[str, Any]:
    return {"min_r": args.min_r, "window_s": args.window_ms / 1000.0, "epoch_s": args.epoch_s}


def _analysis_settings(args):
    from ..analysis.bci import BCIAnalysisSettings

    return BCIAnalysisSettings(**_analysis_kwargs(args))


# ------------------------------------------------------------------------------------------------ analyze
def run_analyze(args: argparse.Namespace) -> int:
    """``neurorl analyze bci``: NWB sessions, or a lab's suite2p folders (one sub-folder per day)."""
    from ..io.bci_nwb import list_bci_files, read_bci_session
    from ..io.bci_suite2p import _default_rois, day_folders, read_bci_rois, read_suite2p_session

    rois = read_bci_rois(args.rois) if args.rois else None
    links = args.allow_external_links
    groups_items: dict[str, list[tuple[Any, Any]]] = {}  # animal -> [(reader, day folder or file)]
    for raw in args.paths:
        path = Path(raw)
        days = day_folders(path) if path.is_dir() else []
        if days:  # a lab's suite2p folders
            animal = path if days != [path] else path.parent
            name = animal.name or "sessions"
            animal_rois = rois if rois is not None else read_bci_rois(_default_rois(animal))
            numbers = _number_days(days)
            groups_items.setdefault(name, []).extend(
                (partial(read_suite2p_session, rois=animal_rois, day=numbers[d], allow_external_links=links), d)
                for d in days)
            continue
        files = list_bci_files([path])
        name = path.name if path.is_dir() else path.parent.name or "sessions"
        groups_items.setdefault(name, []).extend(
            (partial(read_bci_session, load_ground_truth=False, allow_external_links=links), f) for f in files)
    started = time.perf_counter()
    settings = _analysis_settings(args)
    groups = {}
    for name, items in groups_items.items():
        sessions = (read(item) for read, item in progress(items, desc=f"analyse {name}", total=len(items)))
        groups[name] = analyze_sessions(sessions, n_shuffles=args.shuffles, seed=args.seed, settings=settings)
    from ..io.outdir import staging_of

    warnings = pairing_warnings(groups, args.min_r)
    written = write_outputs(groups, staging_of(args), formats=_formats(args.format), warnings=warnings)
    _warn(warnings)
    _report(groups, written, Path(args.out), time.perf_counter() - started)
    return 0


def _number_days(days: Sequence[Path]) -> dict[Path, int]:
    """Day number of each suite2p day folder: from its name (``day03``), else its rank."""
    from ..io.bci_suite2p import _day_number

    named = {d: _day_number(d) for d in days}
    if all(v is not None for v in named.values()) and len(set(named.values())) == len(days):
        return {d: int(v) for d, v in named.items()}
    return {d: i for i, d in enumerate(days, start=1)}


def _report(groups, written, out: Path, seconds: float) -> None:
    for name, result in groups.items():
        curve = result["learning_curve"]
        by_epoch = result["by_epoch"]
        dec = result["decoding"]
        print(f"{name}: days {int(curve.day.min())}-{int(curve.day.max())}, accuracy first/last "
              f"{float(curve.accuracy[0]):.2f}/{float(curve.accuracy[-1]):.2f}; residual signature "
              f"{float(by_epoch.signature):.4f} (p={float(by_epoch.signature_p_value):.2g}); reward decoding "
              f"{float(dec.accuracy):.2f} vs shuffle {float(dec.shuffle_mean):.2f} (p={float(dec.p_value):.2g})")
    print(f"wrote {len(written)} files to {out} in {seconds:.1f} s")


# ---------------------------------------------------------------------------------------------- reproduce
def reproduce(out: Path, *, rules: Sequence[str] = RULES, days: int = 14, session_minutes: float = 41.0,
              n_p0: int = 300, n_bci: int = 10, seed: int = 0, n_shuffles: int = 1000,
              n_bci_values: Sequence[int] | None = (2, 4, 6, 8, 10, 16, 24), curve_seeds: int = 10,
              curve_days: int | None = None, curve_minutes: float | None = None,
              write_nwb: bool = False, formats: Sequence[str] = ("png",),
              analysis_kwargs: dict[str, Any] | None = None, criterion: float = 0.7,
              criterion_trials: int = 200, traces: str = "lab") -> tuple[dict[str, dict[str, xr.Dataset]], list[Path]]:
    """Simulate the three rules, analyse them and write the comparison tables and figures into ``out``.

    ``traces="lab"`` (default) analyses the ΔF/F a lab computes from each day's raw F and Fneu
    (:func:`lab_traces`); ``"model"`` the simulated ΔF/F itself.

    The learning-time curve (``n_bci_values``, ``vectorized`` vs ``scalar``, ``curve_seeds`` seeds from
    ``seed``) is measured from behaviour by :func:`learning_time_curve`: days (and trials) until the running hit
    rate over ``criterion_trials`` trials first reaches ``criterion``, over ``curve_days`` days of
    ``curve_minutes`` minutes (default 10 days x 41 min: over 4 days most runs never reach the criterion; measured
    over 10 days with seeds 0-3, median days to criterion vectorized 3.6 / 3.8, scalar 5.0 / never (2 of 4
    seeds) for 4 / 16 BCI neurons). Returns the
    per-rule analysis results and the files written.
    """
    from ..models.bci_learning import simulate_bci_experiment

    analysis_kwargs = analysis_kwargs or {}
    groups = {}
    for rule in rules:
        sessions = simulate_bci_experiment(rule, days=days, session_minutes=session_minutes, n_p0=n_p0,
                                           n_bci=n_bci, seed=seed)
        if write_nwb:
            sessions = _writing(sessions, out / rule)
        if traces == "lab":
            sessions = lab_traces(sessions, seed=[seed, 21])
        elif traces != "model":
            raise InvalidArgumentError(f"traces must be 'lab' or 'model', got {traces!r}")
        groups[rule] = analyze_sessions(progress(sessions, desc=f"simulate+analyse {rule}", total=days),
                                        n_shuffles=n_shuffles, seed=seed, **analysis_kwargs)
    learning_time = None
    if n_bci_values:
        learning_time = learning_time_curve(
            tuple(int(n) for n in n_bci_values), ("vectorized", "scalar"), tuple(range(seed, seed + curve_seeds)),
            days=curve_days if curve_days is not None else 10, criterion=criterion, window=criterion_trials,
            session_minutes=curve_minutes if curve_minutes is not None else 41.0)
    min_r = float(analysis_kwargs.get("min_r", 0.6))
    warnings = pairing_warnings(groups, min_r)
    written = write_outputs(groups, out, dim="rule", formats=formats, learning_time=learning_time, warnings=warnings)
    _warn(warnings)
    return groups, written


#: Day-to-day change of each ROI's resting fluorescence in :func:`lab_traces` (log-normal sd): the ROI drawn on a
#: slightly different patch of the cell each day. Assumed: 10 %.
ROI_DRIFT_SD = 0.1


def lab_traces(sessions: Iterable[Any], imaging=None, seed: int | np.random.Generator | None = 0, *,
               roi_drift_sd: float = ROI_DRIFT_SD):
    """Each simulated day with its ΔF/F replaced by what a lab computes from the raw fluorescence.

    Per day and plane (somata, dendrites): ``F`` and ``Fneu`` from the simulated ΔF/F
    (:func:`neurorl.models.bci_imaging.raw_fluorescence`: indicator kinetics, saturation, neuropil, bleaching,
    motion shared by both planes, shot noise), each ROI's resting fluorescence fixed for the animal and drifting
    from day to day by ``roi_drift_sd`` (log-normal), then the ΔF/F a suite2p user computes
    (:func:`neurorl.io.bci_suite2p.suite2p_dff`: ``F - 0.7 Fneu`` over suite2p's default baseline). The analyses
    then see the traces a rig records, not the model's variables.
    """
    import copy

    from ..io.bci_suite2p import suite2p_dff
    from ..models.bci_imaging import ImagingParams, motion_artefacts, raw_fluorescence

    params = imaging or ImagingParams()
    rng = np.random.default_rng(seed)
    resting: dict[str, np.ndarray] = {}
    for session in sessions:
        rate = float(session.frame_rate_hz)
        n_frames = int(np.shape(session.soma_dff)[0])
        motion = motion_artefacts(n_frames, rate, params, rng) if params.realism else None
        traces = {}
        for name in ("soma_dff", "dendrite_dff"):
            dff = np.asarray(getattr(session, name))
            if name not in resting:
                resting[name] = params.f0_median * np.exp(params.f0_log_sd * rng.standard_normal(dff.shape[1]))
            day_f0 = resting[name] * np.exp(float(roi_drift_sd) * rng.standard_normal(dff.shape[1]))
            f, fneu, _ = raw_fluorescence(dff, rate, params, rng, f0=day_f0, motion=motion)
            traces[name] = suite2p_dff(f, fneu, rate, neuropil_coefficient=params.neuropil_coefficient)
        day = copy.copy(session)
        day.soma_dff, day.dendrite_dff = traces["soma_dff"], traces["dendrite_dff"]
        yield day


def learning_time_curve(n_bci_values: Sequence[int] = (2, 4, 8, 16),
                        rules: Sequence[str] = ("vectorized", "scalar"), seeds: Sequence[int] = tuple(range(10)), *,
                        days: int = 10, session_minutes: float = 41.0, criterion: float = 0.7,
                        window: int = 200) -> xr.Dataset:
    """Learning time against the number of BCI neurons, measured from behaviour (the trials tables only).

    Each (rule, n_bci, seed) simulates ``days`` days with only the BCI neurons
    (:func:`neurorl.models.bci_learning.simulate_bci_experiment`, ``record=False``) and reads the learning time
    from its trials with :func:`neurorl.analysis.bci.days_to_criterion`: the criterion is a running hit rate
    over ``window`` trials of at least ``criterion``. Nothing of the simulation's ground truth (drives,
    teaching signals) is used.

    Returns
    -------
    xarray.Dataset
        Over (``rule``, ``n_bci``, ``seed``): ``days_to_criterion`` (days of training elapsed when the criterion
        was met; NaN: not within ``days``), ``trials_to_criterion``, ``first_day_at_criterion`` (first day whose
        own hit rate >= ``criterion``), ``final_accuracy`` (last day's hit rate); when both rules ran,
        ``slowdown_per_seed`` (scalar / vectorized trials to criterion of the same seed; a run that never met
        the criterion counts as infinitely slow) and its median ``slowdown`` and quartiles over ``n_bci``.
        ``attrs["criterion"]`` states the criterion.
    """
    from ..analysis.bci import days_to_criterion
    from ..models.bci_learning import simulate_bci_experiment

    rules = list(rules)
    n_values = [int(n) for n in n_bci_values]
    seeds = [int(s) for s in seeds]
    shape = (len(rules), len(n_values), len(seeds))
    names = ("days_to_criterion", "trials_to_criterion", "first_day_at_criterion", "final_accuracy")
    values = {name: np.full(shape, np.nan) for name in names}
    attrs: dict[str, Any] = {}
    for a, rule in enumerate(rules):
        for b, n in enumerate(n_values):
            for c, seed in enumerate(seeds):
                trials = {}
                for session in simulate_bci_experiment(rule, days=days, session_minutes=session_minutes, n_p0=0,
                                                       n_bci=n, seed=seed, record=False):
                    trials[int(session.day)] = session.trials
                result = days_to_criterion(trials, criterion=criterion, window=window)
                attrs = dict(result.attrs)
                values["days_to_criterion"][a, b, c] = float(result["day_of_criterion"])
                values["trials_to_criterion"][a, b, c] = float(result["trials_to_criterion"])
                values["first_day_at_criterion"][a, b, c] = float(result["first_day_at_criterion"])
                last = trials[max(trials)]["target_hit"].to_numpy(dtype=bool) if trials else np.zeros(0)
                values["final_accuracy"][a, b, c] = last.mean() if last.size else np.nan
    dims = ("rule", "n_bci", "seed")
    ds = xr.Dataset({name: (dims, v) for name, v in values.items()},
                    coords={"rule": rules, "n_bci": n_values, "seed": seeds},
                    attrs={**attrs, "days": int(days), "session_minutes": float(session_minutes),
                           "measured_from": "behaviour: the trials tables' target_hit only (no ground truth)"})
    ds["days_to_criterion"].attrs.update(units="days", description="days of training elapsed when the running "
                                                                   "hit rate first met the criterion")
    ds["trials_to_criterion"].attrs.update(units="1", description="trials until the running hit rate met the "
                                                                  "criterion")
    ds["first_day_at_criterion"].attrs.update(units="1", description="day number")
    ds["final_accuracy"].attrs.update(units="1", description="fraction of the last day's trials hit")
    if "vectorized" in rules and "scalar" in rules:
        times = ds["trials_to_criterion"].fillna(np.inf)
        with np.errstate(invalid="ignore"):
            per_seed = times.sel(rule="scalar") / times.sel(rule="vectorized")
            ds["slowdown_per_seed"] = per_seed
            ds["slowdown"] = per_seed.median("seed")
            ds["slowdown_q25"] = per_seed.quantile(0.25, "seed", skipna=False).drop_vars("quantile")
            ds["slowdown_q75"] = per_seed.quantile(0.75, "seed", skipna=False).drop_vars("quantile")
        for name in ("slowdown_per_seed", "slowdown", "slowdown_q25", "slowdown_q75"):
            ds[name].attrs["units"] = "1"
        ds["slowdown"].attrs["description"] = "median over seeds of scalar / vectorized trials to criterion"
    return ds


def _writing(sessions, folder: Path):
    from ..io.bci_nwb import write_bci_session

    for session in sessions:
        write_bci_session(session, folder / f"day{int(session.day):02d}.nwb")
        yield session


def run_reproduce(args: argparse.Namespace) -> int:
    """``neurorl reproduce bci``."""
    started = time.perf_counter()
    from .._memory import check_memory, simulate_bci_bytes

    check_memory(simulate_bci_bytes(args.p0 + args.n_bci, args.session_minutes), ["--p0", "--session-minutes"],
                 what=f"--p0 {args.p0} --n-bci {args.n_bci} --session-minutes {args.session_minutes:g}")
    if not 0 < args.criterion <= 1:
        raise InvalidArgumentError("--criterion must be a hit rate in (0, 1]")
    rules = list(dict.fromkeys(args.rules))
    n_bci_values = [] if args.no_curve else [int(v) for v in args.n_bci_values]
    from ..io.outdir import staging_of

    groups, written = reproduce(
        staging_of(args), rules=rules, days=args.days, session_minutes=args.session_minutes, n_p0=args.p0,
        n_bci=args.n_bci, seed=args.seed, n_shuffles=args.shuffles, n_bci_values=n_bci_values,
        curve_seeds=args.curve_seeds, curve_days=args.curve_days, curve_minutes=args.curve_minutes,
        write_nwb=args.write_nwb, formats=_formats(args.format),
        analysis_kwargs=_analysis_kwargs(args), criterion=args.criterion, criterion_trials=args.criterion_trials,
        traces=getattr(args, "traces", "lab"))
    _report(groups, written, Path(args.out), time.perf_counter() - started)
    return 0


# ------------------------------------------------------------------------------------------------ register
def _add_analysis_options(p: argparse.ArgumentParser) -> None:
    from .. import _argtypes as T

    p.add_argument("--out", required=True, metavar="DIR", help="output folder (tables, figures)")
    # 0.6: the default of neurorl.analysis.bci.pair_soma_dendrite / analyze_session
    p.add_argument("--min-r", type=T.correlation, default=0.6,
                   help="soma-dendrite pairing threshold, Pearson r in [-1, 1]")
    p.add_argument("--window-ms", type=T.positive_float, default=500.0, help="coincidence window for events (ms)")
    p.add_argument("--epoch-s", type=T.positive_float, default=2.0, help="length of the error epochs (s)")
    p.add_argument("--shuffles", type=T.positive_int, default=1000,
                   help="label shuffles for the decoding control (>= 1)")
    p.add_argument("--seed", type=T.seed, default=0, help="random seed")
    p.add_argument("--format", action=T.ListAction, choices=("png", "pdf", "svg"), default=["png"],
                   help="figure formats, space-separated (png pdf svg; the older comma-separated form is "
                        "accepted)")


def register(groups: dict[str, argparse._SubParsersAction], parent: argparse.ArgumentParser) -> None:
    """Add ``analyze bci`` and ``reproduce bci``."""
    p = groups["analyze"].add_parser(
        "bci", parents=[parent], help="BCI dendritic analyses on NWB sessions or suite2p folders (real or simulated)",
        description="Run the analyses of Francioni et al. 2026 on BCI sessions. Each folder (or each file's "
                    "folder) is one animal: its .nwb files (neurorl's NWB layout) are its days, or its "
                    "sub-folders holding suite2p output (DAY/suite2p/plane0/F.npy ...) with the day's trials "
                    "table (DAY/trials.csv, or an NWB file in DAY) are its days; then --rois (or ANIMAL/rois.toml) names "
                    "the P+/P- ROIs and the soma-dendrite pairs.")
    p.add_argument("paths", nargs="+", metavar="DIR|FILE",
                   help="folders of .nwb sessions or of suite2p day folders, or .nwb files")
    _add_analysis_options(p)
    p.add_argument("--rois", metavar="FILE", default=None,
                   help="suite2p input: TOML or CSV naming the P+/P- ROIs and the [soma, dendrite] ROI pairs "
                        "(default: rois.toml or rois.csv in each animal folder)")
    p.add_argument("--allow-external-links", action="store_true",
                   help="read HDF5 links to other files (refused by default)")
    p.set_defaults(func=run_analyze, _out_inputs=lambda args: list(args.paths))

    p = groups["reproduce"].add_parser(
        "bci", parents=[parent], help="simulate the BCI experiment under three rules and compare them",
        description="Simulate Francioni et al. 2026's BCI experiment under vectorized, scalar and no "
                    "instructive signals, analyse it and write the comparison figures.")
    from .. import _argtypes as T

    _add_analysis_options(p)
    p.add_argument("--rules", action=T.ListAction, choices=RULES, default=list(RULES),
                   help="rules to simulate, space-separated (the older comma-separated form is accepted)")
    p.add_argument("--days", type=T.positive_int, default=14, help="days per experiment")
    p.add_argument("--session-minutes", type=T.positive_float, default=41.0, help="closed-loop minutes per day")
    p.add_argument("--p0", type=T.nonnegative_int, default=300, help="number of P0 (non-BCI) neurons")
    p.add_argument("--n-bci", type=T.int_at_least(2), default=10, help="number of BCI neurons (P+ and P-)")
    p.add_argument("--n-bci-values", action=T.ListAction, item_type=T.int_at_least(2), default=[2, 4, 6, 8, 10, 16, 24],
                   metavar="N", help="BCI ensemble sizes of the learning-time curve (vectorized vs scalar), "
                                     "space-separated")
    p.add_argument("--curve-seeds", type=T.positive_int, default=10, help="seeds per point of the learning-time curve")
    p.add_argument("--curve-days", type=T.positive_int, default=None,
                   help="days simulated per run of the curve (default 10)")
    p.add_argument("--curve-minutes", type=T.positive_float, default=None,
                   help="minutes per day for the curve runs (default 41)")
    p.add_argument("--no-curve", action="store_true", help="skip the learning-time vs n-bci curve")
    p.add_argument("--traces", choices=("lab", "model"), default="lab",
                   help="analyse the ΔF/F a lab computes from each day's raw F and Fneu (lab) or the simulated "
                        "ΔF/F (model) (default lab)")
    p.add_argument("--criterion", type=T.float_in(0.0, 1.0), default=0.7,
                   help="learning criterion of the curve: running hit rate to reach (default 0.7)")
    p.add_argument("--criterion-trials", type=T.positive_int, default=200,
                   help="trials in the running hit rate of the criterion (default 200)")
    p.add_argument("--write-nwb", action="store_true", help="also write every simulated day as NWB (OUT/RULE/dayNN.nwb)")
    p.set_defaults(func=run_reproduce, _out_inputs=lambda args: [])
