"""``neurorl fit dopamine`` and ``neurorl reproduce dopamine``: the distributional-TD analyses of dopamine cells.

``neurorl fit dopamine RECORDING.nwb|FOLDER --out DIR`` reads one NWB recording or every ``*.nwb`` of a folder
(pooled, each cell named by file stem and unit id) and writes into ``DIR``:

* ``cells.csv`` — per cell: ``session`` (file stem), ``subject_id``, ``unit_id`` (NWB unit id or ROI/channel
  index), ``cell`` (= unit id), ``unit_name`` / ``electrodes`` / ``location`` where the units table has them,
  ``reversal_point`` (µl), ``reversal_point_low``,
  ``reversal_point_high`` (95% bootstrap CI), ``reversal_point_utility``, ``alpha_pos``, ``alpha_neg``,
  ``asymmetry`` (tau = a+/(a+ + a-));
* ``skipped.csv`` — cells not analysed (no spikes, or too few trials per reward size) with the reason;
* ``decoded_distribution.csv`` — ``reward_volume`` (decoded samples, µl) and ``weight``;
* ``summary.json`` — ``n_cells``, ``n_trials``, ``tau_reversal_r``/``_p`` (split-half, median over splits,
  utility axis as the original; ``_p`` is the median of the per-split p-values, a summary) and
  ``tau_reversal_p_perm`` (the reported test's p: the permutation test on the cells off the firing floor with
  reversal points fitted jointly and tau from each side's own regression line, calibrated for the classic-TD
  and additive-bias nulls; its median r
  ``tau_reversal_test_r`` over ``tau_reversal_test_n_cells`` cells) and ``tau_reversal_p_perm_all_cells``
  (the same permutation test on the original's statistic), ``reversal_split_half_r``/``_p``,
  ``same_vs_diverse_*`` (held-out comparison), ``decode_loss``, the decode's W1 to the task distribution
  ``decode_w1_ul`` and its controls ``control_classic_td_w1_ul``, ``control_shuffled_asymmetry_w1_ul``,
  ``reference_uniform_w1_ul``, ``reference_unimodal_w1_ul`` (µl), and the settings (``--no-controls``
  skips the classic-TD and shuffled-asymmetry decodes and the permutation test: those keys are then null);
* ``fit.nc`` — the per-cell fit, the split statistics and the decoded distribution (netCDF);
* figures (PNG; more formats with ``--format``): ``summary``, ``responses``, ``reversal_points``,
  ``split_half``, ``asymmetry``, ``decoded_distribution``.

``neurorl reproduce dopamine [RECORDING] --out DIR`` does the same; without a RECORDING it runs on the
embedded, simulated example recording ``data/dopamine_example/``.

The pipeline only wires :mod:`neurorl.io.nwb` -> :mod:`neurorl.analysis` -> :mod:`neurorl.plotting`. Inputs
are read and every result is computed before the first file is written, so bad input leaves no output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from ..errors import InvalidArgumentError, MissingDataError

__all__ = ["register", "DopamineResults", "analyze_dopamine", "write_dopamine_results", "default_example_data",
           "run_fit_dopamine", "run_reproduce_dopamine", "CELL_COLUMNS", "FIGURE_NAMES"]

#: Columns of cells.csv, in order (``unit_name``, ``electrodes``, ``location`` follow ``unit_id`` when the units
#: table has them). ``cell`` repeats ``unit_id`` so that cells.csv joins ground_truth.csv on (session, cell).
CELL_COLUMNS: tuple[str, ...] = ("session", "subject_id", "unit_id", "cell", "reversal_point", "reversal_point_low", "reversal_point_high",
                                 "reversal_point_utility", "alpha_pos", "alpha_neg", "asymmetry",
                                 "asymmetry_utility")
#: Optional id columns of cells.csv, taken from the units table where it has them.
CELL_LABEL_COLUMNS: tuple[str, ...] = ("unit_name", "electrodes", "location")
#: Columns of skipped.csv.
SKIPPED_COLUMNS: tuple[str, ...] = ("session", "subject_id", "unit_id", "cell", "reason")
#: Figure file stems written by the pipeline.
FIGURE_NAMES: tuple[str, ...] = ("summary", "responses", "reversal_points", "split_half", "asymmetry",
                                 "decoded_distribution")


@dataclass
class DopamineResults:
    """Everything ``fit dopamine`` computes, before anything is written."""

    fit: xr.Dataset
    tau_reversal: xr.Dataset
    split_half: xr.Dataset
    decoded: xr.Dataset
    summary: dict
    cells: pd.DataFrame
    figures: dict = field(default_factory=dict)
    skipped: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(SKIPPED_COLUMNS)))
    control_tau: xr.Dataset | None = None       # split-half statistics of the simulated classic-TD control
    same_vs_diverse: xr.Dataset | None = None   # held-out same-vs-diverse comparison
    tau_test: xr.Dataset | None = None          # the reported tau-reversal test (tau_reversal_test)


def default_example_data() -> Path:
    """The embedded simulated example recording (``data/dopamine_example``), found beside the package."""
    from .._data import embedded_data_path

    candidate = embedded_data_path("dopamine_example")
    if candidate is not None and candidate.is_dir() and any(candidate.glob("*.nwb")):
        return candidate
    raise MissingDataError("the embedded example recording is not installed; pass a RECORDING (file or folder)",
                           "data/dopamine_example")


def _json_value(value):
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return None if not np.isfinite(value) else float(value)
    return value


def analyze_dopamine(recordings, *, method: str = "counting", n_bootstrap: int = 200, n_splits: int | None = None,
                     seed: int = 0, decode_code: str = "expectile", smoothing: str | None = None,
                     data_name: str = "", make_figures: bool = True, spec=None,
                     responses: xr.DataArray | None = None, unit_types: dict | None = None,
                     decode_support: str = "task", decode_asymmetry: str = "utility", n_permutations: int = 1000,
                     controls: bool = True, n_control_shuffles: int = 10) -> DopamineResults:
    """Run the dopamine analyses on recordings (objects with ``session``, ``units``, ``trials``).

    ``spec`` (:class:`neurorl.io.spec.RecordingSpec`) sets the response preprocessing; without it,
    neurorl's defaults with ``smoothing``. Cells without spikes or with too few trials per reward size are
    listed in ``results.skipped`` (skipped.csv) with the reason. ``responses`` (computed beforehand, e.g. one
    session at a time by :func:`neurorl.pipelines.dopamine_sessions.stream_responses`, with its
    ``unit_types``) replaces reading ``recordings``.

    ``decode_support`` (``"task"``: the task's reward range, as the paper's main-text decoding; ``"wide"``) and
    ``decode_asymmetry`` (``"utility"``, as the original's per-cell asymmetry; ``"volume"``) go to
    :func:`neurorl.analysis.decoding.decode_fit`. ``n_permutations`` sets the permutation test of the
    tau-reversal correlation. With ``controls`` a classic-TD population of the same size (cells, sessions, median
    trials per cell) is simulated and analysed the same way: its decode is a control of the decoding and its
    split-half r's are the null drawn beside the data in the ``asymmetry`` figure; ``n_control_shuffles``
    decodes with shuffled asymmetries are the other control. From :data:`BACKGROUND_CONTROLS_CELLS` cells on
    (counting estimator, Linux) the controls are computed in a forked process while this one runs the
    population tests; the numbers are the same either way.

    Calls :func:`neurorl.analysis.responses.compute_responses`, :func:`neurorl.analysis.reversal.fit_cells`,
    :func:`~neurorl.analysis.reversal.tau_reversal_correlation`,
    :func:`~neurorl.analysis.reversal.reversal_split_half` and
    :func:`neurorl.analysis.decoding.decode_fit`, then draws the figures.
    """
    from ..analysis.responses import compute_responses, skip_cells
    from ..analysis.reversal import reuse_prepared
    from ..io.spec import RecordingSpec

    if method not in ("counting", "model"):
        raise InvalidArgumentError(f"--method must be 'counting' or 'model', not {method!r}")
    if n_bootstrap < 1 or (n_splits is not None and n_splits < 1):
        raise InvalidArgumentError("--bootstrap and --splits must be at least 1")
    if spec is None:
        spec = RecordingSpec(smoothing=smoothing or "none")
    if responses is None:
        recordings = list(recordings)
        responses = compute_responses(recordings, spec=spec)
        unit_types = _unit_types(recordings)
    _check_reward_sizes(responses, data_name)
    responses, skipped = skip_cells(responses)
    n_cells = _n_cells(responses)
    if n_cells < 3:
        raise MissingDataError(f"need at least 3 cells with rewarded trials, found {n_cells}", data_name or None)
    if n_splits is None:
        n_splits = auto_splits(n_cells)
    if n_permutations < 0 or n_control_shuffles < 0:
        raise InvalidArgumentError("--permutations and the control shuffles must be at least 0")
    with reuse_prepared():   # every analysis below reads the same responses: prepared once
        return _analyze(responses, skipped, unit_types, method=method, n_bootstrap=n_bootstrap, n_splits=n_splits,
                        seed=seed, decode_code=decode_code, data_name=data_name, make_figures=make_figures,
                        spec=spec, decode_support=decode_support, decode_asymmetry=decode_asymmetry,
                        n_permutations=n_permutations, controls=controls, n_control_shuffles=n_control_shuffles)


def _analyze(responses, skipped, unit_types, *, method, n_bootstrap, n_splits, seed, decode_code, data_name,
             make_figures, spec, decode_support, decode_asymmetry, n_permutations, controls, n_control_shuffles
             ) -> DopamineResults:
    from .. import __version__
    from .._forked import Background
    from ..analysis.decoding import decode_fit, decoding_controls
    from ..analysis.reversal import (
        FLOOR_RATE,
        fit_cells,
        reversal_split_half,
        same_vs_diverse,
        tau_reversal_correlation,
        tau_reversal_test,
    )
    from ..tasks.variable_reward import VariableRewardTask

    rng = np.random.default_rng(seed)
    fit = fit_cells(responses, method=method, n_bootstrap=n_bootstrap, seed=rng)
    # the permutations draw from their own stream, so the split statistics are those of a run without them
    perm_rng = np.random.default_rng([int(seed), 12])
    tau_reversal = tau_reversal_correlation(responses, n_splits=n_splits, seed=rng, method=method,
                                            n_permutations=n_permutations, permutation_seed=perm_rng)
    split_half = reversal_split_half(responses, n_splits=n_splits, seed=rng, method=method)
    decode_settings = dict(code=decode_code, support=decode_support, asymmetry=decode_asymmetry)
    try:
        decoded = decode_fit(fit, seed=rng, **decode_settings)
    except MissingDataError as error:
        raise MissingDataError(error.message, data_name or None) from None
    task = VariableRewardTask()

    def control_and_decoding():
        control_fit = control_tau = None
        if controls:
            control_fit, control_tau = _classic_control(fit, responses, method=method, n_splits=min(n_splits, 200),
                                                        seed=[int(seed), 13])
        control_stats = decoding_controls(fit, decoded, task.volumes, task.probs, control_fit=control_fit,
                                          n_shuffles=n_control_shuffles if controls else 0,
                                          seed=np.random.default_rng([int(seed), 14]), **decode_settings)
        return control_fit, control_tau, control_stats

    # large populations: the controls run in a forked process beside the reported test and the held-out
    # comparison (Linux; counting estimator only, as the model estimator's kernels use OpenMP, which a forked
    # process may not); every step draws from its own stream, so the numbers are those of one process
    beside = method == "counting" and _n_cells(responses) >= BACKGROUND_CONTROLS_CELLS
    with Background(control_and_decoding, fork=beside) as background:
        # the reported test (calibrated for the nulls: jointly fitted estimator, cells off the firing floor), on
        # its own streams; skipped without permutations
        tau_test = None
        if n_permutations:
            try:
                tau_test = tau_reversal_test(responses, n_splits=min(n_splits, TEST_SPLITS),
                                             seed=np.random.default_rng([int(seed), 16]),
                                             n_permutations=n_permutations,
                                             permutation_seed=np.random.default_rng([int(seed), 17]))
            except MissingDataError:       # fewer than 3 cells off the floor: no test, said in summary.json
                tau_test = None
        # its own stream too: its numbers do not depend on --permutations or --no-controls
        diverse = same_vs_diverse(responses, n_splits=min(n_splits, 100),
                                  seed=np.random.default_rng([int(seed), 15]), method=method)
        control_fit, control_tau, control_stats = background.result()

    ci = fit["reversal_point_ci"].transpose("cell", "bound")
    labels = _cell_labels(responses).loc[fit["cell"].to_numpy()]
    cells = pd.DataFrame({
        "session": fit["session"].to_numpy().astype(str),
        "subject_id": labels["subject_id"].to_numpy().astype(str) if "subject_id" in labels else "",
        "unit_id": fit["unit"].to_numpy(),
        "cell": fit["unit"].to_numpy(),
        "reversal_point": fit["reversal_point"].to_numpy(),
        "reversal_point_low": ci.sel(bound="low").to_numpy(),
        "reversal_point_high": ci.sel(bound="high").to_numpy(),
        "reversal_point_utility": fit["reversal_point_utility"].to_numpy(),
        "alpha_pos": fit["alpha_pos"].to_numpy(),
        "alpha_neg": fit["alpha_neg"].to_numpy(),
        "asymmetry": fit["asymmetry"].to_numpy(),
        "asymmetry_utility": fit["asymmetry_utility"].to_numpy(),
    }, columns=list(CELL_COLUMNS))
    for position, name in enumerate(c for c in CELL_LABEL_COLUMNS if c in labels):
        cells.insert(3 + position, name, labels[name].to_numpy().astype(str))

    summary = {
        "n_cells": int(fit.sizes["cell"]),
        "n_sessions": int(len(np.unique(cells["session"]))),
        "n_trials": int(fit["n_trials"].sum()),
        "tau_reversal_r": _json_value(float(tau_reversal["r_median"])),
        "tau_reversal_p": _json_value(float(tau_reversal["p_median"])),
        "tau_reversal_p_perm": _json_value(float(tau_test["p_perm"]) if tau_test is not None else None),
        "tau_reversal_test_r": _json_value(float(tau_test["r_median"]) if tau_test is not None else None),
        "tau_reversal_test_n_cells": int(tau_test.attrs["n_cells_tested"]) if tau_test is not None else 0,
        "tau_reversal_test_method": "model",
        "tau_reversal_test_slopes": "sides",
        "tau_reversal_test_n_strata": int(tau_test.attrs["n_strata"]) if tau_test is not None else 0,
        "tau_reversal_test_floor_rate": FLOOR_RATE,
        "tau_reversal_p_perm_all_cells": _json_value(float(tau_reversal["p_perm"])),
        "tau_reversal_p_greater": _json_value(float(tau_reversal["p_greater_median"])),
        "tau_reversal_fraction_significant": _json_value(float(tau_reversal["fraction_significant"])),
        "reversal_split_half_r": _json_value(float(split_half["r_median"])),
        "reversal_split_half_p": _json_value(float(split_half["p_median"])),
        "same_vs_diverse_accuracy_same": _json_value(float(diverse["mean_accuracy_same"])),
        "same_vs_diverse_accuracy_diverse": _json_value(float(diverse["mean_accuracy_diverse"])),
        "same_vs_diverse_fraction_diverse_better": _json_value(float(diverse["fraction_diverse_better"])),
        "same_vs_diverse_p": _json_value(float(diverse["p_wilcoxon"])),
        "decode_loss": _json_value(float(decoded.attrs["loss"])),
        **{key: _json_value(value) for key, value in control_stats.items()},
        "control_n_cells": int(control_fit.sizes["cell"]) if control_fit is not None else 0,
        "decode_rmse_ul": _json_value(float(decoded.attrs["rmse"])),
        "decode_n_cells": int(decoded.attrs["n_cells"]),
        "decode_code": decode_code,
        "decode_support": decode_support,
        "decode_support_ul": [float(decoded.attrs["support_low"]), float(decoded.attrs["support_high"])],
        "decode_asymmetry": decode_asymmetry,
        "n_permutations": int(n_permutations),
        "controls": bool(controls),
        "p_values": {
            "tau_reversal_p": "median over the splits of the per-split Pearson p (two-sided): a summary, not a test",
            "tau_reversal_p_perm": "the reported test: permutation test (cells' half-A reversal points shuffled "
                                   "across cells, one shuffle for all splits), one-sided r > 0, on the cells off "
                                   "the firing floor, reversal points fitted jointly with the slopes, tau from "
                                   "each side's own regression line, permutations within signal-to-noise strata "
                                   "(neurorl.analysis.reversal.tau_reversal_test): "
                                   "calibrated for the classic-TD and additive-bias nulls at the real cells' size "
                                   "and firing (analyses/results/dabney2020/results.md)",
            "tau_reversal_p_perm_all_cells": "the same permutation test on the original's statistic (all cells, "
                                             "the --method estimator): not calibrated where cells sit on the "
                                             "firing floor or with the counting estimator (see the docs)",
            "same_vs_diverse_p": "one-sided Wilcoxon signed-rank over cells: own reversal points predict the "
                                 "sign of held-out responses better than one shared point (ED Fig. 4c)",
        },
        "method": method,
        "n_bootstrap": int(n_bootstrap),
        "n_splits": int(n_splits),
        "split_axis": str(tau_reversal.attrs.get("axis", "utility")),
        "seed": int(seed),
        "smoothing": spec.smoothing,
        "recording_spec": spec.to_dict(),
        "signal": spec.signal,
        "n_skipped": int(len(skipped)),
        "unit_types": dict(unit_types or {}),
        "data": data_name,
        "neurorl_version": __version__,
    }
    results = DopamineResults(fit=fit, tau_reversal=tau_reversal, split_half=split_half, decoded=decoded,
                              summary=summary, cells=cells, skipped=skipped)
    results.control_tau = control_tau
    results.same_vs_diverse = diverse
    results.tau_test = tau_test
    if make_figures:
        results.figures = _figures(fit, decoded, task, tau_reversal=tau_reversal, control_tau=control_tau,
                                   controls=control_stats, tau_test=tau_test)
    return results


#: Fewest cells for which ``fit dopamine`` computes its controls in a forked process beside the population tests
#: (Linux). Assumed: below, forking costs about what it saves.
BACKGROUND_CONTROLS_CELLS = 1000
#: Largest classic-TD control population (cells). Assumed: a decode from a classic-TD population is at its
#: floor long before this size, and fitting a Neuropixels-scale control would cost as much as the fit of the data;
#: larger datasets get a control of this many cells (``control_n_cells`` in summary.json).
CONTROL_MAX_CELLS = 1000
#: Default number of random splits (as the original analysis) ...
DEFAULT_SPLITS = 1000
#: ... unless the population is large: at most this many cell-splits (statistics are medians over splits of
#: correlations across cells, whose spread over splits shrinks like 1/sqrt(cells); with 2,000 cells and 100
#: splits the median r's Monte Carlo error is about 0.003), and never fewer than MIN_SPLITS splits. Measured on
#: 10,000 simulated cells (benchmarks/bench_dopamine_sessions.py's sessions, 50 splits): the r's of the splits
#: have SD 0.0023 (tau-reversal), 0.0034 (reversal split-half) and 0.0053 (the reported test), so the median of
#: 20 splits has a Monte Carlo error of at most 0.0015 (1.25 SD / sqrt(20)). Assumed, then measured.
SPLIT_BUDGET = 200_000
MIN_SPLITS = 20


def auto_splits(n_cells: int) -> int:
    """Default number of random splits for ``n_cells`` cells: 1,000 up to 200 cells, fewer above (>= 20).

    >>> auto_splits(40), auto_splits(2000), auto_splits(10_000)
    (1000, 100, 20)
    """
    return int(max(MIN_SPLITS, min(DEFAULT_SPLITS, SPLIT_BUDGET // max(int(n_cells), 1))))


#: Splits of the reported tau-reversal test (at most; as in the power runs of analyses/dabney2020_power.py).
TEST_SPLITS = 200


def _classic_control(fit: xr.Dataset, responses, *, method: str, n_splits: int, seed):
    """A simulated classic-TD population like the data (cells, up to :data:`CONTROL_MAX_CELLS`; sessions; median
    rewarded trials per cell), analysed the same way: its fit (for the decoding control) and its split-half
    tau-reversal statistics."""
    from ..analysis.reversal import fit_cells, tau_reversal_correlation
    from ..io.spec import RecordingSpec
    from ..models.dopamine_recording import simulate_responses
    from ..tasks.variable_reward import VariableRewardTask

    rng = np.random.default_rng(seed)
    n_cells = min(int(fit.sizes["cell"]), CONTROL_MAX_CELLS)
    n_sessions = max(1, min(n_cells, len(np.unique(fit["session"].to_numpy().astype(str)))
                            if "session" in fit.coords else 1))
    n_trials = max(20, int(np.median(fit["n_trials"].to_numpy())))
    volume = _trial_volumes(responses)
    other = float(np.mean(~np.isfinite(volume))) if volume.size else 0.0
    # the default analysis windows' spike counts are drawn from the rate model (no spikes are simulated): the
    # responses of whole-session recordings, in distribution, one session at a time
    spec = RecordingSpec()
    null_responses = simulate_responses(
        n_cells, n_sessions, int(round(n_trials / max(1e-9, 1.0 - other))), code="classic",
        task=VariableRewardTask(other_fraction=min(other, 0.9)), window_ms=spec.window_ms,
        baseline_window_ms=spec.baseline_window_ms, seed=rng).responses
    control_fit = fit_cells(null_responses, method=method, n_bootstrap=0, split_half=False, seed=rng)
    control_tau = tau_reversal_correlation(null_responses, n_splits=n_splits, seed=rng, method=method,
                                           n_permutations=0)
    return control_fit, control_tau


def _blocks(responses) -> list[xr.DataArray]:
    return [responses] if isinstance(responses, xr.DataArray) else list(responses)


def _n_cells(responses) -> int:
    return sum(block.sizes.get("cell", 0) for block in _blocks(responses))


def _trial_volumes(responses) -> np.ndarray:
    """Reward volume (µl) of every trial of every session block."""
    parts = [block["reward_volume"].to_numpy().astype(float) for block in _blocks(responses)]
    return np.concatenate(parts) if parts else np.zeros(0)


def _cell_labels(responses) -> pd.DataFrame:
    """The cells' labels (coordinates over ``cell``), indexed by cell, over every session block."""
    tables = []
    for block in _blocks(responses):
        names = [name for name, coord in block.coords.items() if coord.dims == ("cell",) and name != "cell"]
        tables.append(pd.DataFrame({name: block[name].to_numpy() for name in names},
                                   index=pd.Index(block["cell"].to_numpy(), name="cell")))
    return pd.concat(tables) if len(tables) > 1 else tables[0]


def _check_reward_sizes(responses, data_name: str) -> None:
    """One trial, or a single reward size, cannot place a reversal point: say so naming the data."""
    volume = _trial_volumes(responses)
    sizes = np.unique(volume[np.isfinite(volume)])
    if volume.size < 2:
        raise MissingDataError(f"only {volume.size} rewarded trial; reversal points need trials of at least two "
                               "reward sizes", data_name or None)
    if sizes.size < 2:
        raise MissingDataError(f"every rewarded trial has the same reward size ({sizes[0]:g} µl); reversal points "
                               "need at least two sizes", data_name or None)


def _unit_types(recordings) -> dict:
    """Units analysed per cell_type, over sessions (empty when the files have no cell_type column)."""
    counts: dict[str, int] = {}
    for recording in recordings:
        for kind, n in (getattr(recording, "unit_types", None) or {}).items():
            counts[kind] = counts.get(kind, 0) + int(n)
    return counts


def _figures(fit: xr.Dataset, decoded: xr.Dataset, task, *, tau_reversal: xr.Dataset | None = None,
             control_tau: xr.Dataset | None = None, controls: dict | None = None,
             tau_test: xr.Dataset | None = None) -> dict:
    from matplotlib.figure import Figure

    from ..plotting import dopamine as plots

    taus = np.linspace(0.01, 0.99, 99)
    curves = {"distributional TD (task expectiles)": (task.expectile(taus), taus),
              "classic TD (task mean)": ([task.mean, task.mean], [0.0, 1.0])}
    figures = {"summary": plots.plot_dopamine_summary(fit, decoded, model_curves=curves,
                                                      task_volumes=task.volumes, task_probabilities=task.probs,
                                                      tau_reversal=tau_reversal, control_tau=control_tau,
                                                      controls=controls, tau_test=tau_test)}
    single = {
        "responses": lambda fig: plots.plot_response_curves(fit, ax=fig.add_subplot()),
        "reversal_points": lambda fig: plots.plot_reversal_points(fit, ax=fig.add_subplot()),
        "split_half": lambda fig: plots.plot_split_half(fit, ax=fig.add_subplot()),
        "asymmetry": lambda fig: plots.plot_asymmetry_test(fit, tau_reversal, control_tau, fig=fig,
                                                           tau_test=tau_test),
        "decoded_distribution": lambda fig: plots.plot_decoded_distribution(
            decoded, ax=fig.add_subplot(), task_volumes=task.volumes, task_probabilities=task.probs,
            controls=controls),
    }
    for name, draw in single.items():
        fig = Figure(figsize=(8.4, 3.6) if name == "asymmetry" else (4.8, 3.6), layout="constrained")
        draw(fig)
        figures[name] = fig
    return figures


def cell_column_units(response_units: str = "spikes/s") -> dict[str, str]:
    """The unit (or meaning) of each cells.csv column; ``response_units`` is the responses' unit."""
    return {
        "session": "file stem", "subject_id": "the NWB file's Subject.subject_id",
        "unit_id": "NWB unit id (ROI id or channel index for traces)", "cell": "same as unit_id",
        "unit_name": "units table's unit_name", "electrodes": "rows of the NWB electrodes table, ';'-joined",
        "location": "units table's location",
        "reversal_point": "µl", "reversal_point_low": "µl (95% bootstrap CI)",
        "reversal_point_high": "µl (95% bootstrap CI)",
        "reversal_point_utility": f"{response_units} (utility axis: population-mean response per reward size)",
        "asymmetry_utility": "dimensionless, a+/(a+ + a-) on the utility axis",
        "alpha_pos": f"{response_units} per µl", "alpha_neg": f"{response_units} per µl",
        "asymmetry": "dimensionless, a+/(a+ + a-) on the µl axis",
    }


def _fit_netcdf(results: DopamineResults) -> xr.Dataset:
    """One netCDF-ready Dataset: the fit, the split statistics (dim split) and the decoded distribution."""
    ds = results.fit.copy()
    splits = [("tau_reversal", results.tau_reversal), ("reversal_split_half", results.split_half)]
    if results.tau_test is not None:
        splits.append(("tau_reversal_test", results.tau_test.drop_vars("tested")))
    for prefix, split in splits:
        renamed = split.rename({name: f"{prefix}_{name}" for name in split.data_vars})
        if "split" in renamed.dims:
            renamed = renamed.rename({"split": f"{prefix}_split"})
        ds = ds.merge(renamed.drop_vars([c for c in renamed.coords if c not in renamed.dims]), compat="override")
    decoded = results.decoded.drop_vars([c for c in results.decoded.coords if c not in results.decoded.dims])
    decoded = decoded.rename({name: f"decoded_{name}" for name in decoded.data_vars})
    decoded = decoded.rename({"cell": "decoded_cell", "restart": "decoded_restart", "sample": "decoded_sample",
                              "reward": "decoded_reward"})
    ds = ds.merge(decoded, compat="override", combine_attrs="drop")
    ds.attrs = {**results.fit.attrs,
                **{f"decode_{k}": v for k, v in results.decoded.attrs.items()},
                **{f"summary_{k}": (json.dumps(v) if isinstance(v, dict) else v)
                   for k, v in results.summary.items() if v is not None}}
    response_units = str(results.fit.attrs.get("responses_units", "spikes/s"))
    ds.attrs["cells_csv_units"] = json.dumps({k: v for k, v in cell_column_units(response_units).items()
                                              if k in results.cells.columns}, ensure_ascii=False)
    for key, value in list(ds.attrs.items()):
        if isinstance(value, bool):
            ds.attrs[key] = int(value)
        elif value is None:
            del ds.attrs[key]
    for name in ds.variables:
        if ds[name].dtype == bool:
            ds[name] = ds[name].astype(np.int8)
    return ds


def write_dopamine_results(results: DopamineResults, out: str | os.PathLike, *,
                           formats: tuple[str, ...] = ("png",), jobs: int = 1) -> list[Path]:
    """Write the result files into ``out`` (each file atomically; on failure the files of this call are removed).

    ``jobs`` > 1 saves the figures in that many forked processes (Linux; rendering a PNG is most of the writing
    time), with the same files.
    """
    from .._forked import Forked
    from ..io.results import save_figure, write_csv, write_netcdf, write_text

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InvalidArgumentError("--out exists and is not a folder", out)
    samples = results.decoded["samples"].to_numpy()
    kept = results.decoded["kept"].to_numpy()
    pooled = np.sort(samples[kept].ravel())
    decoded_table = pd.DataFrame({"reward_volume": pooled, "weight": np.full(pooled.size, 1.0 / pooled.size)})
    written: list[Path] = []
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        saves = [partial(save_figure, fig, out / f"{name}.{fmt}") for name, fig in results.figures.items()
                 for fmt in formats]
        planned = [call.args[1] for call in saves]
        # the figures render in forked processes (jobs > 1, Linux) while the tables are written here
        with Forked(saves, jobs) as figures:
            try:
                written.append(write_csv(results.cells, out / "cells.csv"))
                written.append(write_csv(results.skipped.reindex(columns=list(SKIPPED_COLUMNS)),
                                         out / "skipped.csv"))
                written.append(write_csv(decoded_table, out / "decoded_distribution.csv"))
                written.append(write_text(json.dumps(results.summary, indent=2) + "\n", out / "summary.json"))
                written.append(write_netcdf(_fit_netcdf(results), out / "fit.nc"))
                written.extend(figures.results())
            except BaseException:
                figures.close()
                written.extend(planned)     # removed below, whichever were written
                raise
    except BaseException:
        for path in written:
            path.unlink(missing_ok=True)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()
        raise
    return written


def _run(args: argparse.Namespace, source: Path) -> int:
    from ..io.nwb import dopamine_files
    from ..io.outdir import display_path, staging_of
    from ..io.spec import PRESET_ANALYSIS, RecordingSpec
    from .._argtypes import cores
    from .dopamine_sessions import default_jobs, stream_responses

    formats = tuple(dict.fromkeys(args.format))
    for fmt in formats:
        if fmt not in ("png", "pdf", "svg"):
            raise InvalidArgumentError(f"--format must be png, pdf or svg, not {fmt!r}")
    spec = RecordingSpec.from_args(args)
    preset = PRESET_ANALYSIS.get(getattr(args, "preset", None) or "", {})
    method = args.method or preset.get("method", "counting")
    # one session at a time (locally, or on the Dask cluster of --scheduler): one session's spikes in memory
    responses, unit_types = stream_responses(dopamine_files(source), spec, scheduler=getattr(args, "scheduler", None),
                                             allow_external_links=args.allow_external_links, pool=False,
                                             jobs=getattr(args, "jobs", None))
    data_name = str(source) if source.is_file() else source.name
    no_controls = bool(getattr(args, "no_controls", False))
    results = analyze_dopamine([], method=method, n_bootstrap=args.bootstrap, n_splits=args.splits,
                               seed=args.seed, decode_code=args.decode_code, data_name=data_name, spec=spec,
                               responses=responses, unit_types=unit_types,
                               decode_support=getattr(args, "decode_support", "task"),
                               decode_asymmetry=getattr(args, "decode_asymmetry", "utility"),
                               n_permutations=0 if no_controls else getattr(args, "permutations", 1000),
                               controls=not no_controls)
    jobs = getattr(args, "jobs", None)
    written = write_dopamine_results(results, staging_of(args), formats=formats,
                                     jobs=default_jobs(len(results.figures) * len(formats)) if jobs is None
                                     else cores(jobs))
    s = results.summary
    if s["unit_types"] and spec.unit_filter is None:
        kinds = ", ".join(f"{n} {kind or '(no type)'}" for kind, n in s["unit_types"].items())
        print(f"units analysed by cell_type: {kinds}" + (" -- several types pooled; choose with --unit-filter"
                                                        if len(s["unit_types"]) > 1 else ""))
    if s["n_skipped"]:
        print(f"{s['n_skipped']} cells skipped (no spikes or too few trials per reward size): see "
              f"{Path(args.out) / 'skipped.csv'}")
    def number(value, fmt):
        return "n/a" if value is None else format(value, fmt)

    controls_text = ("controls skipped (--no-controls)" if no_controls else
                     f"shuffled-asymmetry control {number(s['control_shuffled_asymmetry_w1_ul'], '.2f')} µl")
    print(f"{s['n_cells']} cells, {s['n_trials']} cell-trials: tau-reversal r = {number(s['tau_reversal_r'], '.2f')} "
          f"(median split p = {number(s['tau_reversal_p'], '.2g')}, a summary; the test: permutation p = "
          f"{number(s['tau_reversal_p_perm'], '.2g')} over {s['tau_reversal_test_n_cells']} cells off the firing "
          f"floor), reversal split-half r = "
          f"{number(s['reversal_split_half_r'], '.2f')}, decode W1 to the task = "
          f"{number(s['decode_w1_ul'], '.2f')} µl ({controls_text})")
    figures = [display_path(args, path) for path in written if path.suffix.lstrip(".") in formats]
    shown = ", ".join(str(path) for path in figures[:len(formats)])
    print(f"wrote {len(written)} files to {Path(args.out)}" + (f" (figures: {shown})" if shown else ""))
    return 0


def run_fit_dopamine(args: argparse.Namespace) -> int:
    """``neurorl fit dopamine RECORDING|FOLDER --out DIR``."""
    return _run(args, Path(args.recording))


def _reproduce_source(args: argparse.Namespace) -> str | None:
    """The recording of ``reproduce dopamine``: the positional RECORDING, else the deprecated ``--data``."""
    recording, data = getattr(args, "recording", None), getattr(args, "data", None)
    if recording is not None and data is not None and recording != data:
        raise InvalidArgumentError(f"give the recording once: RECORDING {recording} or --data {data} (deprecated)")
    return recording if recording is not None else data


def run_reproduce_dopamine(args: argparse.Namespace) -> int:
    """``neurorl reproduce dopamine [RECORDING] --out DIR``."""
    given = _reproduce_source(args)
    source = Path(given) if given is not None else default_example_data()
    if given is None:
        print(f"no RECORDING given: using the embedded SIMULATED example recording {source.name}/ "
              "(see its README.md; ground_truth.csv beside it)")
    status = _run(args, source)
    if getattr(args, "data", None) is not None:  # after the run: a failure stays one line
        print("neurorl: note: --data is deprecated: give the recording as the positional RECORDING "
              "(neurorl reproduce dopamine RECORDING --out DIR)", file=sys.stderr)
    return status


def _common_options(p: argparse.ArgumentParser) -> None:
    from .. import _argtypes as T

    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--method", choices=("counting", "model"), default=None,
                   help="reversal-point estimator (default counting, as the original analysis)")
    p.add_argument("--bootstrap", type=T.positive_int, default=200, help="bootstrap resamples for the CIs (default 200)")
    p.add_argument("--splits", type=T.positive_int, default=None,
                   help="random split-halves for the population tests (default 1000; for more than 200 cells "
                        "200,000 / cells, at least 20)")
    p.add_argument("--seed", type=T.seed, default=0, help="random seed (default 0)")
    p.add_argument("--decode-code", choices=("expectile", "quantile"), default="expectile",
                   help="code assumed when decoding the reward distribution (default expectile)")
    p.add_argument("--decode-support", choices=("task", "wide"), default="task",
                   help="support of the decoded distribution: task (the task's reward range, as the paper's "
                        "main-text decoding; default) or wide (the reversal points' range widened on each side)")
    p.add_argument("--decode-asymmetry", choices=("utility", "volume"), default="utility",
                   help="asymmetry the decoding uses: utility (slopes on the utility axis, as the original's "
                        "per-cell asymmetry; default) or volume (slopes on the µl axis)")
    p.add_argument("--permutations", type=T.positive_int, default=1000, metavar="N",
                   help="permutations of the tau-reversal permutation test (default 1000)")
    p.add_argument("--no-controls", action="store_true",
                   help="skip the decoding controls (the simulated classic-TD population and the shuffled-"
                        "asymmetry decodes) and the permutation test, for speed: their summary.json keys "
                        "(control_classic_td_w1_ul, control_shuffled_asymmetry_w1_ul, tau_reversal_p_perm) are then null and the asymmetry figure has no "
                        "null distribution; the references' W1 and the median split p are still reported")
    p.add_argument("--format", action=T.ListAction, choices=("png", "pdf", "svg"), default=["png"],
                   help="figure formats, space-separated: png (default), pdf, svg")
    p.add_argument("--allow-external-links", action="store_true",
                   help="read HDF5 links to other files (refused by default)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="read and reduce the sessions on a running Dask cluster (e.g. tcp://HOST:PORT); the workers "
                        "must see the files at the same paths (default: here, by the processes of --jobs)")
    p.add_argument("--jobs", type=T.workers, default=None, metavar="N",
                   help="local processes reading the sessions side by side, each holding one session in memory, "
                        "and saving the figures (default: one per core, at most 4 and the number of files; -1: one "
                        "per core); results do not depend on it")
    add_recording_options(p)


def add_recording_options(p: argparse.ArgumentParser) -> None:
    """The reader and response options (:class:`neurorl.io.spec.RecordingSpec`), named as its TOML keys.

    Every default is ``None`` ("not given"), so that a value falls back to the ``--preset``, then to the
    built-in default; a config file (``--config``) fills what the flags leave ``None``.
    """
    from .. import _argtypes as T
    from ..io.spec import PRESETS

    g = p.add_argument_group("recording layout (TOML keys: the flag without dashes, '-' as '_')")
    g.add_argument("--preset", choices=tuple(PRESETS), default=None,
                   help="defaults of a published analysis (dabney2020: the original MATLAB analysis)")
    g.add_argument("--units", default=None, metavar="PATH",
                   help="NWB path of the Units table (default: top-level units, else the only Units table)")
    g.add_argument("--unit-filter", default=None, metavar="QUERY",
                   help="pandas query on the units table's columns, e.g. \"cell_type == 'dopamine'\" (default: every unit)")
    g.add_argument("--reward-column", default=None, metavar="COLUMN",
                   help="trials (or EventsTable) column with the reward size (default reward_volume)")
    g.add_argument("--reward-scale", type=T.positive_float, default=None, metavar="FACTOR",
                   help="multiply the reward column by this to get µl (default 1; 1000 for ml)")
    g.add_argument("--align-column", default=None, metavar="COLUMN",
                   help="trials column with the event the response window follows (default reward_time)")
    g.add_argument("--baseline-column", default=None, metavar="COLUMN",
                   help="trials column the baseline window is relative to (default start_time)")
    g.add_argument("--trial-type-column", default=None, metavar="COLUMN",
                   help="trials column with uncued/cued/other (default trial_type when present)")
    g.add_argument("--signal", choices=("spikes", "dff"), default=None,
                   help="spikes (a Units table; default) or dff (a ΔF/F trace, one cell per ROI/channel)")
    g.add_argument("--series", default=None, metavar="PATH",
                   help="NWB path of the trace when --signal dff (default: the only RoiResponseSeries or "
                        "FiberPhotometryResponseSeries)")
    g.add_argument("--window-ms", type=T.finite_float, nargs=2, default=None, metavar=("START", "END"),
                   help="response window after the align event, ms (default 200 600)")
    g.add_argument("--baseline-window-ms", type=T.finite_float, nargs=2, default=None, metavar=("START", "END"),
                   help="baseline window relative to the baseline event, ms (default -1000 0)")
    g.add_argument("--smoothing", choices=("none", "original"), default=None,
                   help="none (spike counts; default) or original (the original analysis' kernel)")
    g.add_argument("--max-silence-s", default=None, metavar="SECONDS|none",
                   help="drop a unit's trials inside silences longer than this (default 20; none keeps all)")
    g.add_argument("--zscore", action="store_const", const=True, default=None,
                   help="z-score each cell's responses by its baseline SD (cortical recordings)")


def register(groups: dict, parent: argparse.ArgumentParser) -> None:
    """Add ``fit dopamine`` and ``reproduce dopamine`` to the command line."""
    p = groups["fit"].add_parser(
        "dopamine", parents=[parent],
        help="reversal points, asymmetries, population tests and decoding for dopamine recordings (NWB)",
        description="Fit reversal points and asymmetries of dopamine cells in the variable-reward task, run the "
                    "split-half population tests and decode the reward distribution (Dabney et al. 2020).")
    p.add_argument("recording", metavar="RECORDING", help="an NWB file or a folder of NWB files (pooled)")
    _common_options(p)
    p.set_defaults(func=run_fit_dopamine, _out_inputs=lambda args: [args.recording])

    r = groups["reproduce"].add_parser(
        "dopamine", parents=[parent],
        help="Dabney et al. 2020 analyses and figures (default: the embedded simulated example)",
        description="Reproduce the Dabney et al. (2020) dopamine analyses and figures on NWB recordings; without "
                    "a RECORDING, on the embedded simulated example recording.")
    r.add_argument("recording", metavar="RECORDING", nargs="?", default=None,
                   help="an NWB file or a folder of NWB files (default: the embedded simulated example)")
    r.add_argument("--data", metavar="FILE|FOLDER", default=None,
                   help="deprecated alias of RECORDING (default: none)")
    _common_options(r)
    r.set_defaults(func=run_reproduce_dopamine,
                   _out_inputs=lambda args: [_reproduce_source(args) or default_example_data()])
