"""Write the tutorial notebooks from the cell sources below and execute them in place.

Usage: ``python notebooks/build.py [NAME ...]`` (default: every notebook). The tests run the notebooks with
nbmake; this script only (re)creates them with their outputs so that figures show when browsing.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

HERE = Path(__file__).resolve().parent

NOTEBOOKS: dict[str, list[tuple[str, str]]] = {}


def notebook(name: str, cells: list[tuple[str, str]]) -> None:
    NOTEBOOKS[name] = cells


notebook("01_dopamine_own_recording", [
    ("md", """# Analysing your own dopamine recording (NWB)

Dabney et al. (Nature 2020) found that dopamine neurons in the variable-reward task do not all signal the same
reward prediction error: each cell has its own **reversal point** (the reward size at which its response
flips from a dip to a burst) and its own **asymmetry** tau = a+/(a+ + a-) (how much more steeply it responds
to better-than-expected than to worse-than-expected rewards). Under *distributional* TD, cells with larger tau
have larger reversal points, and together the (reversal point, tau) pairs encode the whole reward
distribution, which can be decoded back. Under *classic* TD every cell has the same reversal point.

This tutorial runs that analysis the way a lab would on its own data:

1. a folder of NWB files, one per session (a `Units` table with spike times and a `trials` table with
   `start_time`, `stop_time`, `reward_time` in s and `reward_volume` in µl, NaN where no reward);
2. read them with `neurorl.io.nwb.read_dopamine_folder`;
3. responses -> per-cell reversal points and asymmetries -> the split-half tau-reversal test -> decoding of
   the reward distribution;
4. figures, and what a bad file gives.

So that the tutorial runs anywhere (and so we can check the answers), the "lab's files" are simulated by
neurorl's distributional-TD model and written to a temporary folder. With your own data, set `folder` in step 2
to your folder of `.nwb` files and skip the cells that use the simulation (its ground truth, the bad-file
examples); the shipped example recording is at `../data/dopamine_example` (relative to this notebook)."""),
    ("code", """import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from neurorl.analysis.decoding import decode_fit
from neurorl.analysis.responses import compute_responses
from neurorl.analysis.reversal import fit_cells, reversal_split_half, tau_reversal_correlation
from neurorl.errors import NeurorlError
from neurorl.io.nwb import read_dopamine, read_dopamine_folder, write_dopamine
from neurorl.models.dopamine_recording import simulate_recordings
from neurorl.plotting.dopamine import (
    plot_asymmetry_vs_reversal,
    plot_decoded_distribution,
    plot_dopamine_summary,
    plot_response_curves,
    plot_reversal_points,
)
from neurorl.tasks.variable_reward import VariableRewardTask

SEED = 0
task = VariableRewardTask()   # reward sizes 0.1 ... 20 µl with the frequencies of Dabney et al. 2020
print("reward sizes (µl):", task.volumes)
print("probabilities:    ", task.probs.round(3))"""),
    ("md", """## 1. The lab's files

A small distributional-TD population (expectile code): 40 cells recorded in 4 sessions of 400 trials each
(the real data set has 40 cells too). Each simulated session is written with `neurorl.io.nwb.write_dopamine`,
exactly as a lab would export its spike-sorted units and trial table (metadata such as `subject_id` go to
`pynwb.NWBFile`). The ground truth (each cell's true reversal point and asymmetry) stays in memory to check
the analysis at the end.

Spikes are only simulated from 1.2 s before each trial to 0.3 s after it (`spike_window_s`), which keeps the
files small; the analysis windows lie inside."""),
    ("code", """simulation = simulate_recordings(n_cells=40, n_sessions=4, n_trials=400, code="expectile",
                                 spike_window_s=(1.2, 0.3), seed=SEED)
truth = simulation.ground_truth            # one row per cell: session, cell (= unit id), reversal_point, asymmetry, ...

workdir = tempfile.TemporaryDirectory(prefix="neurorl-dopamine-tutorial-")   # removed at the end
folder = Path(workdir.name) / "my_lab_recordings"
for session in simulation.sessions:
    write_dopamine(session.spike_times, session.trials, folder / f"{session.session}.nwb",
                   cell_types=session.cell_types, subject_id="mouse-1",
                   session_description="SIMULATED dopamine units, variable-reward task (tutorial)")
for path in sorted(folder.iterdir()):
    print(f"{path.name}  {path.stat().st_size / 1e6:.2f} MB")"""),
    ("md", """## 2. Read the folder back

`read_dopamine_folder` reads every `*.nwb` file of a folder (sorted by name) and returns one
`DopamineRecording` per session: `units` (one row per unit with its spike times in s) and `trials`, as
pandas tables. Nothing is computed yet. Each cell is later named `session/unit`."""),
    ("code", """# folder = Path("../data/dopamine_example")     # <- the shipped example, or your own folder
recordings = read_dopamine_folder(folder)
print(len(recordings), "sessions:", [r.session for r in recordings])
print(sum(len(r.units) for r in recordings), "units in all")
recordings[0].trials.head()"""),
    ("md", """## 3. Responses

`compute_responses` turns spikes into `responses(cell, trial)`: the firing rate 200-600 ms after reward minus
the rate in the 1 s before the trial starts (spikes/s), pooled over sessions, as a labelled
`xarray.DataArray` (coordinates `reward_volume`, `trial_type`, `session`, ...; the settings are in `attrs`).
A cell is NaN on trials of other sessions."""),
    ("code", """responses = compute_responses(recordings)
print(dict(responses.sizes), "| window (ms after reward):", responses.attrs["window_ms"])
mean_by_size = responses.groupby("reward_volume").mean("trial")
print("population-mean response by reward size (spikes/s):")
print(mean_by_size.mean("cell").to_series().round(2).to_string())"""),
    ("md", """## 4. Reversal point and asymmetry of each cell

`fit_cells` estimates, per cell, the reversal point (µl; the original counting estimator by default), the
slopes a+ and a- above and below it and tau = a+/(a+ + a-), with 95% bootstrap confidence intervals
(resampling trials within session and reward size). The result is an `xarray.Dataset` over `cell`."""),
    ("code", """fit = fit_cells(responses, n_bootstrap=200, seed=SEED)
table = fit[["reversal_point", "asymmetry", "alpha_pos", "alpha_neg"]].to_dataframe()
ci = fit["reversal_point_ci"].to_pandas()
table["reversal_point_low"], table["reversal_point_high"] = ci["low"], ci["high"]
table = table[["reversal_point", "reversal_point_low", "reversal_point_high", "asymmetry", "alpha_pos", "alpha_neg"]]
table.round(3).head(8)"""),
    ("md", """Because these cells were simulated we can check the estimates against the truth (the unit ids of the
files are the `cell` column of the ground truth). A cell whose responses never turn positive (or negative)
within 0.1-20 µl has its reversal point *censored* at the edge of the range (`reversal_censored` = +1 or -1)
and is left out of the comparison. `method="model"` (a piecewise-linear least-squares fit instead of the
original counting estimator) is also shown."""),
    ("code", """check = truth.set_index("cell").loc[fit["unit"].values]
print(f"censored reversal points: {int((fit['reversal_censored'] != 0).sum())} of {fit.sizes['cell']} cells")
fit_model = fit_cells(responses, method="model", n_bootstrap=0, seed=SEED)
for label, result in (("counting", fit), ("model", fit_model)):
    ok = (result["reversal_censored"].values == 0) & np.isfinite(result["asymmetry"].values)
    for name in ("reversal_point", "asymmetry"):
        estimate, true = result[name].values[ok], check[name].values[ok]
        r = np.corrcoef(estimate, true)[0, 1]
        error = np.median(np.abs(estimate - true))
        print(f"{label:8s} {name:15s} vs truth ({ok.sum()} cells): r = {r:.2f}, median absolute error = {error:.2f}")"""),
    ("md", """## 5. Is the code distributional? The tau-reversal test

Correlating tau with the reversal point estimated from the *same* trials is biased: a noisy trial that
pushes the reversal point up also changes the slopes. The paper's test therefore splits every cell's trials at
random into halves A and B, estimates the reversal point from A and tau from B, and takes Pearson's r across
cells (on the utility axis, as the original), repeated over many random splits (median r and p). A second
split-half test asks whether reversal points are reliable at all (classic TD: halves uncorrelated)."""),
    ("code", """tau_reversal = tau_reversal_correlation(responses, n_splits=500, seed=SEED)
split_half = reversal_split_half(responses, n_splits=500, seed=SEED)
print(f"cells: {fit.sizes['cell']}")
print(f"tau-reversal correlation (split halves): r = {float(tau_reversal['r_median']):.2f}, "
      f"p = {float(tau_reversal['p_median']):.2g}  ({float(tau_reversal['fraction_significant']):.0%} of splits significant)")
print(f"reversal-point reliability (split halves): r = {float(split_half['r_median']):.2f}, "
      f"p = {float(split_half['p_median']):.2g}")
r_true = np.corrcoef(truth["asymmetry"], truth["reversal_point"])[0, 1]
print(f"ground truth: r(tau, reversal point) = {r_true:.2f} over the simulated cells")"""),
    ("md", """## 6. Decode the reward distribution

If the reversal points are the tau-expectiles of the reward distribution, a distribution whose expectiles at
the cells' taus match them can be found by optimisation (expectile imputation). `decode_fit` takes the fit
above, leaves out the cells whose reversal point falls outside the range of reward sizes (censored), and runs
`decode_distribution` from many random starts: it returns the samples, a smoothed density and the loss reached."""),
    ("code", """decoded = decode_fit(fit, seed=SEED)
samples = decoded["samples"].values[decoded["kept"].values].ravel()
print(f"decoded from {decoded.attrs['n_cells']} cells ({decoded.attrs['n_censored']} censored left out): loss = {decoded.attrs['loss']:.2g}, "
      f"RMS misfit = {decoded.attrs['rmse']:.2f} µl")
print(f"mean reward: decoded {samples.mean():.2f} µl, true {task.mean:.2f} µl")"""),
    ("md", """## 7. Figures

Every plotting function takes the result objects above and an optional `ax`. The dashed line is the
distributional-TD prediction (the task's expectiles); classic TD predicts one vertical line at the mean."""),
    ("code", """taus = np.linspace(0.01, 0.99, 99)
curves = {"distributional TD (task expectiles)": (task.expectile(taus), taus),
          "classic TD (task mean)": ([task.mean, task.mean], [0.0, 1.0])}
fig, axes = plt.subplots(2, 2, figsize=(10, 7.5), layout="constrained")
plot_response_curves(fit, ax=axes[0, 0])
plot_reversal_points(fit, ax=axes[0, 1])
plot_asymmetry_vs_reversal(fit, ax=axes[1, 0], model_curves=curves)
plot_decoded_distribution(decoded, ax=axes[1, 1], task_volumes=task.volumes, task_probabilities=task.probs);"""),
    ("md", """`plot_dopamine_summary` draws the six-panel figure that `neurorl fit dopamine` saves as
`summary.png` (it returns a `Figure`)."""),
    ("code", """plot_dopamine_summary(fit, decoded, model_curves=curves, task_volumes=task.volumes,
                      task_probabilities=task.probs, title="simulated lab recording (40 cells)")"""),
    ("md", """### The same test on a classic-TD population

The analyses take any objects with `session`, `units` and `trials`, so simulated sessions can be analysed in
memory, without files. A classic-TD population (one shared value, tau = 0.5 for every cell) should give no
tau-reversal correlation."""),
    ("code", """classic = simulate_recordings(n_cells=40, n_sessions=4, n_trials=400, code="classic",
                              spike_window_s=(1.2, 0.3), seed=SEED + 1)
classic_responses = compute_responses(classic.sessions)
classic_test = tau_reversal_correlation(classic_responses, n_splits=500, seed=SEED)
print(f"classic TD: tau-reversal r = {float(classic_test['r_median']):.2f}, p = {float(classic_test['p_median']):.2g}")"""),
    ("md", """## 8. What a bad file gives

Every problem with an input file raises a `neurorl.errors.NeurorlError` subclass that names the file
(`err.path`) and says what is wrong (`err.message`); `neurorl fit dopamine` prints it as one line. Catch
`NeurorlError` (or the broader `InvalidRecordingError` / `MissingDataError`) to skip bad sessions. Some
typical mistakes:"""),
    ("code", """bad = Path(workdir.name) / "bad_files"
bad.mkdir()
good = simulation.sessions[0]
(bad / "empty.nwb").write_bytes(b"")                                            # export crashed
(bad / "notes.nwb").write_text("reward sizes 0.1 0.3 1.2 2.5 5 10 20 ul")      # not an NWB file
data = (folder / "session_01.nwb").read_bytes()
(bad / "truncated.nwb").write_bytes(data[: len(data) // 2])                     # copy interrupted
in_ms = good.trials.assign(reward_time=good.trials["reward_time"] * 1000)       # reward times in ms, not s
write_dopamine(good.spike_times, in_ms, bad / "reward_in_ms.nwb")
no_reward = good.trials.assign(reward_volume=np.nan)                            # reward sizes never filled in
write_dopamine(good.spike_times, no_reward, bad / "no_reward.nwb")

for path in sorted(bad.glob("*.nwb")) + [bad / "session_99.nwb"]:
    try:
        read_dopamine(path)
    except NeurorlError as err:
        print(f"{type(err).__name__:22s} {Path(err.path).name:17s} {err.message}")"""),
    ("md", """`read_dopamine_folder` stops at the first bad file with the same error, so a bad session is never
silently left out of a pooled analysis:"""),
    ("code", """try:
    read_dopamine_folder(bad)
except NeurorlError as err:
    print(f"{type(err).__name__}: {Path(err.path).name}: {err.message}")
workdir.cleanup()"""),
    ("md", """## Full scale

The command line runs all of the above on a folder and writes tables (CSV), the fit (netCDF) and figures:

```
neurorl fit dopamine MY_FOLDER --out results/     # your recordings (one NWB file per session)
neurorl reproduce dopamine --out results/         # the shipped simulated example, data/dopamine_example
python analyses/dabney2020.py                     # the 40 real cells of Dabney et al. 2020 vs simulated populations
```

with 1,000 random splits and 200 bootstrap resamples by default (this notebook uses 500 splits)."""),
])


notebook("02_qagrel_vs_backprop", [
    ("md", """# Q-AGREL vs error-backpropagation on MNIST

Q-AGREL (Pozzi, Bohte & Roelfsema) learns by trial and error: the network picks **one** class, is told only
whether it was right (reward 1 or 0), and an attention-like feedback signal from the chosen output gates local
four-factor updates (pre x post x reward-prediction error x feedback). Error-backpropagation, in contrast, is told
the right answer for every output.

This tutorial trains both on real MNIST (a 10,000-image subset so it runs in a minute), compares their learning
curves, and looks at how Q-AGREL *discovers* classes and how random feedback weights come to align with the
feedforward ones. The full-scale reproduction of the paper's Table 1 is `neurorl reproduce qagrel`."""),
    ("code", """import matplotlib.pyplot as plt

from neurorl.pipelines.qagrel import run_training
from neurorl.plotting.qagrel import plot_alignment, plot_learning_curve, plot_selection_frequency

small = {"hidden": [100], "epochs": 5, "n_train": 10000, "n_test": 2000, "learning_rate": 0.5}
runs = {
    "Q-AGREL, symmetric feedback": run_training({**small, "rule": "qagrel", "feedback": "symmetric", "seed": 0}, desc=None),
    "Q-AGREL, random feedback (learned)": run_training({**small, "rule": "qagrel", "feedback": "random", "seed": 0}, desc=None),
    "error-backprop": run_training({**small, "rule": "backprop", "seed": 0}, desc=None),
}
for name, history in runs.items():
    print(f"{name:38s} test accuracy after {history.sizes['epoch']} epochs: {history['test_accuracy'].values[-1]:.3f}")"""),
    ("md", """Each run is an `xarray.Dataset` over `epoch`: train reward, validation and test accuracy, per-class
selection frequency and accuracy, the feedback/feedforward alignment angle and wall time."""),
    ("code", """runs["Q-AGREL, symmetric feedback"]"""),
    ("code", """fig, axes = plt.subplots(1, 3, figsize=(13, 3.5), sharey=True)
for ax, (name, history) in zip(axes, runs.items(), strict=True):
    plot_learning_curve(history, ax=ax, title=name)
fig.tight_layout()"""),
    ("md", """Early in training Q-AGREL chooses some classes far more often than others and *discovers* the
rest one by one; the selection frequencies converge to the class frequencies (about 10% each)."""),
    ("code", """fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
plot_selection_frequency(runs["Q-AGREL, symmetric feedback"], ax=axes[0])
plot_alignment(runs["Q-AGREL, random feedback (learned)"], ax=axes[1])
fig.tight_layout()"""),
    ("md", """With `random` feedback the feedback weights start unrelated to the feedforward weights (angle near
90 degrees) and, learned with the same local rule, they come to align: the angle falls during training."""),
])


notebook("03_bci_simulate_and_analyse", [
    ("md", """# Simulating and analysing a BCI experiment (Francioni et al. 2026)

In the brain-computer-interface (BCI) task of Francioni et al. (Nature 2026) a mouse turns a grating towards a
target with the activity of a handful of layer-5 neurons imaged with two photons: the cursor is the mean
ΔF/F of the **P+** neurons minus that of the **P-** neurons; when it crosses a threshold the target is hit and
water is delivered. The other neurons in the field of view (**P0**) do not move the cursor. Over days the mice
learn to drive P+ up and P- down.

How does each neuron know which way to change? The paper imaged the neurons' distal apical dendrites and found
that, beyond what the soma's own activity explains, dendritic events carry a **vectorized** instructive signal:
a signed, neuron-specific signal (P+ and P- get opposite signs) that tracks whether the error (the distance of
the grating to the target) is falling or rising. A **scalar** signal (one reward prediction error broadcast to
every neuron) cannot do that, and silencing the dendrites (**none**) stops learning.

This tutorial

1. simulates a small experiment under the `vectorized` and the `none` rules with
   `neurorl.models.bci_learning.simulate_bci_experiment`,
2. writes each day as an NWB ophys file (`neurorl.io.bci_nwb.write_bci_session`) and reads it back as an
   analysis would read a real recording (no ground truth),
3. runs the paper's analyses from `neurorl.analysis.bci`: soma-dendrite pairing, residuals of the
   dendrite-on-soma fit by error epoch (the vectorized signature), reward decoding from residuals, learning
   curves and event-rate changes,
4. plots them with `neurorl.plotting.bci`."""),
    ("code", """import tempfile
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from neurorl.analysis.bci import analyze_session, combine_sessions, learning_curves
from neurorl.io.bci_nwb import list_bci_files, read_bci_session, write_bci_session
from neurorl.models.bci_learning import BCILearnerParams, simulate_bci_experiment, summarize_session
from neurorl.plotting.bci import (
    plot_decoding,
    plot_event_rate_change,
    plot_learning_curves,
    plot_residuals_by_epoch,
    plot_signature_by_rule,
)

SEED = 0
RULES = ("vectorized", "none")
DAYS, MINUTES, N_P0, N_BCI = 5, 10.0, 40, 10"""),
    ("md", """## 1. A small experiment

The paper's experiment is 14 days of ~41 closed-loop minutes with hundreds of neurons in view. To run in
seconds, this one has **5 days of 10 minutes, 10 BCI neurons (5 P+, 5 P-) and 40 P0 neurons**, and a 3-minute
passive baseline each day instead of ~13 minutes (the baseline calibrates the day's threshold so that about
half of the trials would be hit by chance). So that learning shows within 50 minutes instead of ~10 hours, the
vectorized rule's learning rate is raised tenfold (`BCILearnerParams(vectorized_rate=...)`); the `none` rule
does not learn at any rate. Both rules use the same seed, hence the same neurons and noise."""),
    ("code", """BASELINE_FRAMES = 3000                                     # 3000 frames at 15.46 Hz: a 3.2-minute baseline
params = BCILearnerParams(vectorized_rate=10 * BCILearnerParams().vectorized_rate)

workdir = tempfile.TemporaryDirectory(prefix="neurorl-bci-tutorial-")   # removed at the end
root = Path(workdir.name)
rows = []
for rule in RULES:
    for session in simulate_bci_experiment(rule, days=DAYS, session_minutes=MINUTES, n_p0=N_P0, n_bci=N_BCI,
                                           seed=SEED, baseline_frames=BASELINE_FRAMES, params=params):
        write_bci_session(session, root / rule / f"day{session.day:02d}.nwb")
        rows.append(summarize_session(session))
simulated = pd.DataFrame(rows)
simulated[["rule", "day", "n_trials", "accuracy", "rewards_per_min", "drive_p_plus", "drive_p_minus",
           "learned_shift_sd"]].round(3)"""),
    ("md", """`summarize_session` reads the simulator's ground truth: `drive_p_plus` / `drive_p_minus` are the
learned task drives (log-rate units) of the P+ and P- neurons at the end of each day and `learned_shift_sd` how
far learning has moved the cursor (in baseline standard deviations). Under `vectorized` P+ drives rise and P-
drives fall; under `none` nothing changes. The accuracy is noisy from day to day at this size (20-40 trials a
day, and each day's threshold is recalibrated from a short baseline), so the learned shift shows learning more
directly than the hit rate; at paper scale the vectorized mice go from about 0.66 to 0.89 of trials hit.

## 2. The NWB files

One file per day and rule: somata and distal dendrites as two imaging planes (`DfOverF` ΔF/F traces,
`ensemble` = `P+`/`P-`/`P0` and `bci_weight` per soma, `parent_soma` per dendrite), the cursor and grating
angle, a trials table (`target_hit`, `rewarded`, `time_to_target`, `threshold`, `reward_time`), the baseline
epoch, and a `simulation_ground_truth` processing module (teaching signals, rule, seed) that a real recording
does not have."""),
    ("code", """files = {rule: list_bci_files(root / rule) for rule in RULES}
for rule, paths in files.items():
    print(rule, [p.name for p in paths], f"{sum(p.stat().st_size for p in paths) / 1e6:.0f} MB")

day1 = read_bci_session(files["vectorized"][0])            # with the ground truth, to look at it
def counts(labels):
    return {str(k): int(v) for k, v in zip(*np.unique(labels, return_counts=True), strict=True)}

print(f"day {day1.day}: {day1.soma_dff.shape[0]} frames at {day1.frame_rate_hz} Hz "
      f"({day1.baseline_frames} baseline), somata {counts(day1.ensemble)}, {day1.dendrite_dff.shape[1]} dendrites")
print("ground truth (simulated files only):", sorted(k for k in day1.ground_truth if not k.startswith("param_")),
      "+ the settings (param_*); rule =", day1.rule)
day1.trials.head()"""),
    ("md", """A minute of the closed loop: the cursor against the day's threshold, a P+ neuron's soma and dendrite, and
the instructive signal the simulator sent to that dendrite (ground truth). Dendritic events follow somatic
ones; the residual the analysis extracts is the part the soma does not explain."""),
    ("code", """rate = day1.frame_rate_hz
frames = slice(day1.baseline_frames, day1.baseline_frames + int(60 * rate))
t = np.arange(frames.start, frames.stop) / rate
neuron = int(np.flatnonzero(day1.ensemble == "P+")[0])
fig, axes = plt.subplots(3, 1, figsize=(10, 5.5), sharex=True, layout="constrained")
axes[0].plot(t, day1.cursor[frames], lw=0.8)
axes[0].axhline(day1.trials["threshold"].iloc[0], color="k", ls="--", lw=0.8, label="threshold")
axes[0].set_ylabel("cursor (ΔF/F)")
axes[0].legend(frameon=False, fontsize=8)
axes[1].plot(t, day1.soma_dff[frames, neuron], lw=0.8, label="soma")
axes[1].plot(t, day1.dendrite_dff[frames, neuron], lw=0.8, label="distal dendrite")
axes[1].set_ylabel(f"P+ neuron {neuron} (ΔF/F)")
axes[1].legend(frameon=False, fontsize=8)
axes[2].plot(t, day1.ground_truth["teaching_signal"][frames, neuron], color="C2", lw=0.8)
axes[2].set_ylabel("instructive signal\\n(ground truth)")
axes[2].set_xlabel("time (s)");"""),
    ("md", """## 3. Analyse one day

`analyze_session` runs the paper's dendritic analysis on one session (an object with ΔF/F, ensemble, cursor,
trials, ... such as the `BCIRecording` read from a file), closed-loop frames only:

1. **pairing**: keep soma-dendrite pairs whose ΔF/F correlate with Pearson r >= 0.6 (the same neuron);
2. **events** in soma and dendrite, and **coincident** pairs of events (onsets within 500 ms);
3. per neuron, a least-squares line *dendritic event magnitude ~ somatic event magnitude*; the **residual** is
   the dendritic signal the soma does not explain (the putative instructive signal);
4. the trials' response periods cut into 2 s **epochs**, labelled `error_fell` (the grating got closer to the
   target) or `error_rose`;
5. mean residual of P+ and P- events in each epoch type.

Files are read **without** ground truth (`load_ground_truth=False`), as a real recording would be."""),
    ("code", """one = analyze_session(read_bci_session(files["vectorized"][-1], load_ground_truth=False))
print(f"pairs with r >= 0.6: {int(one['pairing']['paired'].sum())} of {one['pairing'].sizes['dendrite']}")
print(f"coincident soma-dendrite events: {one['residuals'].sizes['event']}; "
      f"epochs: {counts(one['epochs']['label'].values)}")
one["by_epoch"]"""),
    ("md", """**The vectorized signature.** If the dendrites carry a vectorized signal, P+ residuals exceed P- residuals
when the error falls and fall below them when it rises:

    signature = (P+ - P-) in error_fell epochs  -  (P+ - P-) in error_rose epochs  > 0.

A scalar signal is the same for P+ and P- (signature near 0); with no signal there is nothing to find.

## 4. All days, both rules

For each rule (one animal) every day's file is read and analysed one at a time (memory stays bounded by one
day); `combine_sessions` pools the days: residuals by epoch over all events, reward decoding (rewarded vs
unrewarded trials from the population vector of BCI neurons' residuals around the outcome, a
`RidgeClassifier` with leave-one-out, against label shuffles), the event-rate change from day 1 and the
pairing per day; `learning_curves` gives accuracy (fraction of trials hit) and rewards per minute.
(`neurorl.pipelines.bci_analysis.analyze_sessions` does this loop in one call.)"""),
    ("code", """results = {}
for rule in RULES:
    per_day, trials, minutes = {}, {}, {}
    for path in files[rule]:
        recording = read_bci_session(path, load_ground_truth=False)
        per_day[recording.day] = analyze_session(recording)
        trials[recording.day] = recording.trials
        minutes[recording.day] = recording.closed_loop_minutes
    results[rule] = combine_sessions(per_day, n_shuffles=200, seed=SEED)
    results[rule]["learning_curve"] = learning_curves(trials, minutes)

for rule, res in results.items():
    be, dec, curve = res["by_epoch"], res["decoding"], res["learning_curve"]
    change = res["event_rate_change"]["mean_change"].isel(day=-1)
    print(f"{rule:10s} accuracy by day {np.round(curve.accuracy.values, 2)} | "
          f"signature {float(be.signature):+.3f} (p = {float(be.signature_p_value):.2g}) | "
          f"reward decoding {float(dec.accuracy):.2f} vs shuffle {float(dec.shuffle_mean):.2f} (p = {float(dec.p_value):.2g}) | "
          f"event-rate change P+ {float(change.sel(ensemble='P+')):+.0%}, P- {float(change.sel(ensemble='P-')):+.0%}, "
          f"P0 {float(change.sel(ensemble='P0')):+.0%}")"""),
    ("md", """## 5. Figures

Results of several rules are combined along a `rule` dimension with `xarray.concat`; the plotting functions
draw one line, bar group or marker per rule."""),
    ("code", """def over_rules(key):
    return xr.concat([results[r][key] for r in RULES], dim=pd.Index(list(RULES), name="rule"), join="outer")

curves, by_epoch, decoding = over_rules("learning_curve"), over_rules("by_epoch"), over_rules("decoding")
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
plot_learning_curves(curves, "accuracy", ax=axes[0])
plot_learning_curves(curves, "rewards_per_min", ax=axes[1], chance=None)
plot_signature_by_rule(by_epoch, "rule", ax=axes[2])
axes[0].set_title("learning: fraction of trials hit")
axes[1].set_title("rewards per minute")
axes[2].set_title("residual P+ minus P- by epoch");"""),
    ("code", """fig, axes = plt.subplots(1, 2, figsize=(8, 3.4), layout="constrained", sharey=True)
for ax, rule in zip(axes, RULES, strict=True):
    plot_residuals_by_epoch(results[rule]["by_epoch"], ax=ax, title=rule)"""),
    ("md", """Under `vectorized` the P+ residual is above the P- residual in error-fell epochs and below it in error-rose
epochs (a positive signature with a tiny p-value); under `none` the bars agree. Under `vectorized` learning
also raises the event rate of P+ neurons and lowers that of P- neurons relative to the P0 neurons (whose changes
show the day-to-day fluctuation shared by all neurons). Under `none` nothing pushes P+ and P- apart, so their
changes are only the scatter of a mean over 5 neurons in short sessions (here tens of percent either way; at
paper scale, `analyses/results/francioni2026/event_rate_change.csv`, they stay together while vectorized P+
rises by about 50-80% and P- falls by 30-50%):"""),
    ("code", """fig, axes = plt.subplots(1, 3, figsize=(12, 3.4), layout="constrained")
for ax, rule in zip(axes[:2], RULES, strict=True):
    plot_event_rate_change(results[rule]["event_rate_change"], ax=ax)
    ax.set_title(rule)
plot_decoding(decoding, ax=axes[2])
axes[2].set_title("reward decoding from residuals");"""),
    ("md", """**Reward decoding** (right): the marker is the leave-one-out balanced accuracy of telling rewarded from
unrewarded trials by the BCI neurons' dendritic residuals around the trial's outcome; the grey band is the same
decoder on shuffled labels (5-95%), and p the fraction of shuffles doing at least as well. An instructive signal
that depends on the outcome (vectorized, or scalar) puts reward information into the residuals; with no signal
(`none`) there is none to find and p should be well above 0.05. With only a few hundred trials per rule this is
the noisiest of the analyses; the paper-scale run below has about 2,000 trials per rule.

## Full scale

```
python analyses/francioni2026.py --quick      # 4 days x 20 min, 100 P0 neurons, all three rules: about a minute
python analyses/francioni2026.py              # paper scale (14 days x 41 min, 300 P0): several minutes
neurorl reproduce bci --out results/          # the same from the command line (add --write-nwb to keep the files)
neurorl simulate bci --rule vectorized --out sessions/ && neurorl analyze bci sessions/ --out results/
```

The full reproduction also simulates the `scalar` rule and measures how much more slowly it learns than
`vectorized` as the number of BCI neurons grows (one broadcast signal has to assign credit among more neurons):
the median slowdown over 10 paired seeds goes from about 0.9 with 2 BCI neurons to about 2.3 with 10 and 5 with
24 (`analyses/results/francioni2026/learning_time_vs_n_bci.png`)."""),
    ("code", """workdir.cleanup()"""),
])


notebook("04_your_own_recording", [
    ("md", """# Your own recording, in your lab's layout

Labs do not store recordings alike: the units may sit in a processing module, the reward may be a column
called `reward_size` in ml, the response may follow an `outcome_time`, and the table may hold other cell types
than dopamine neurons. neurorl does not ask you to convert the file: you **describe** its layout in a small
TOML file (`recording.toml`), and every command and function reads it through that description.

The steps:

1. look at what the file holds with `neurorl inspect FILE`;
2. write `recording.toml` (the names in it are the command's flags without the dashes);
3. fit: per-cell reversal points and asymmetries, population tests, decoding, figures; `cells.csv` joins back to
   your tables by `session`, `subject_id` and `unit_id`, and `skipped.csv` says which units were not analysed.

So that the notebook runs anywhere (and so that we can check the answer), the "lab's file" is written here from
neurorl's distributional-TD simulation, in a layout unlike neurorl's own. With your own data, skip step 0 and
set `path` to your file."""),
    ("code", """import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from pynwb.misc import Units

from neurorl.cli import main
from neurorl.io.nwb import new_nwbfile, read_dopamine, write_nwbfile
from neurorl.io.spec import RecordingSpec
from neurorl.models.dopamine_recording import simulate_recordings
from neurorl.pipelines.dopamine import analyze_dopamine, write_dopamine_results

workdir = tempfile.TemporaryDirectory()
start_dir = Path.cwd()
os.chdir(workdir.name)          # work in a scratch folder; file names below are relative to it
folder = Path(".")"""),
    ("md", """## 0. A lab's file (simulated)

24 dopamine neurons of a distributional-TD population (expectile code) and 4 GABA neurons that do not respond
to reward, recorded in one session of 600 trials. The lab's export puts the sorted units in
`processing/ecephys/units` with a `cell_type`, a `unit_name` and a `location` column; its trials table has
`reward_size` in **ml**, the reward time as `outcome_time`, and `kind` (uncued / cued / other)."""),
    ("code", """simulation = simulate_recordings(24, 1, 600, code="expectile", baseline_rate=8.0, gain=1.5, seed=0)
session, truth = simulation.sessions[0], simulation.ground_truth
rng = np.random.default_rng(1)
duration = float(session.trials["stop_time"].max())
spikes = dict(session.spike_times)
for unit_id in (900, 901, 902, 903):                      # GABA neurons: 10 spikes/s, no reward response
    spikes[unit_id] = np.sort(rng.uniform(0, duration, int(10 * duration)))

nwbfile = new_nwbfile(session_description="VTA recording in the variable-reward task", subject_id="VR-17",
                      session_id="2024-03-05", identifier="VR-17-2024-03-05")
units = Units(name="units", description="Kilosort units, curated")
for column in ("cell_type", "unit_name", "location"):
    units.add_column(name=column, description=column)
for unit_id, times in spikes.items():
    units.add_unit(id=unit_id, spike_times=times, cell_type="gaba" if unit_id >= 900 else "dopamine",
                   unit_name=f"shank1_clu{unit_id}", location="VTA")
nwbfile.create_processing_module(name="ecephys", description="spike sorting").add(units)
for column in ("reward_size", "outcome_time", "kind"):
    nwbfile.add_trial_column(name=column, description=column)
for row in session.trials.itertuples():
    nwbfile.add_trial(start_time=row.start_time, stop_time=row.stop_time, reward_size=row.reward_volume / 1000,
                      outcome_time=row.reward_time, kind=row.trial_type)
path = write_nwbfile(nwbfile, folder / "VR-17_2024-03-05.nwb")
print("wrote", path.name)"""),
    ("md", """## 1. What does the file hold?

`neurorl inspect FILE` lists every table with its columns and a few values, and every series with its shape
and rate, each by the path that the recording spec takes. (In a terminal: `neurorl inspect VR-17_2024-03-05.nwb`;
here the same command is called from Python.)"""),
    ("code", """status = main(["inspect", str(path)])"""),
    ("md", """Reading it as neurorl's own layout fails, with one line that lists what the file has:"""),
    ("code", """try:
    read_dopamine(path)
except Exception as error:
    print(f"{type(error).__name__}: {error}")"""),
    ("md", """## 2. Describe the layout: `recording.toml`

From the listing: the Units table is at `processing/ecephys/units`; keep the `dopamine` units; the reward size is
`reward_size` in ml (× 1000 for µl); the response window follows `outcome_time`; the trial types are in `kind`.
The `[responses]` table sets how responses are computed (here neurorl's defaults, written out). On the command
line each key is a flag (`--reward-column reward_size`), and `--preset dabney2020` sets every choice of the
original analysis."""),
    ("code", """toml_text = \"\"\"[recording]
units = "processing/ecephys/units"
unit_filter = "cell_type == 'dopamine'"
reward_column = "reward_size"
reward_scale = 1000          # ml -> µl
align_column = "outcome_time"
baseline_column = "start_time"
trial_type_column = "kind"

[responses]
signal = "spikes"
window_ms = [200, 600]
baseline_window_ms = [-1000, 0]
smoothing = "none"
max_silence_s = 20
\"\"\"
config = folder / "recording.toml"
config.write_text(toml_text)
spec = RecordingSpec.from_toml(config)
recording = read_dopamine(path, spec)
print(f"session {recording.session}, subject {recording.subject_id}: {len(recording.units)} units "
      f"{recording.unit_types}, {len(recording.trials)} trials")
recording.trials.head()"""),
    ("md", """## 3. Fit, and the figures

`analyze_dopamine` runs the same analyses as `neurorl fit dopamine FILE --out DIR` (with the flags above, or
with the TOML file): responses, per-cell reversal points and asymmetries with bootstrap CIs, the split-half
tau-reversal test, and the decoded reward distribution."""),
    ("code", """results = analyze_dopamine([recording], spec=spec, n_bootstrap=50, n_splits=100, seed=0, data_name=path.name)
written = write_dopamine_results(results, folder / "fit")
print(sorted(p.name for p in written))
s = results.summary
print(f"{s['n_cells']} cells; tau-reversal r = {s['tau_reversal_r']:.2f} (p = {s['tau_reversal_p']:.2g}); "
      f"reversal split-half r = {s['reversal_split_half_r']:.2f}")
results.cells.head()"""),
    ("code", """results.figures["summary"]"""),
    ("md", """`cells.csv` carries `session` (the file stem), `subject_id` (from the file's Subject), `unit_id` (the NWB unit
id) and the units table's `unit_name` and `location`, so it joins back to the lab's own tables. Here we join it
to the simulation's ground truth:"""),
    ("code", """merged = results.cells.merge(truth, left_on="unit_id", right_on="cell", suffixes=("", "_true"))
r = np.corrcoef(merged["reversal_point"], merged["reversal_point_true"])[0, 1]
print(f"reversal points, estimated vs true: r = {r:.2f} over {len(merged)} cells")
assert r > 0.8"""),
    ("md", """Units that cannot be analysed (no spikes, or fewer than two trials at some reward size) are not silently
dropped: they are listed with the reason in `skipped.csv` (empty here)."""),
    ("code", """pd.read_csv(folder / "fit" / "skipped.csv")"""),
    ("code", """os.chdir(start_dir)
workdir.cleanup()"""),
])


def build(name: str, cells: list[tuple[str, str]]) -> Path:
    # the kernel inherits the environment: keep figures inline even where MPLBACKEND=Agg is exported (as in CI)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell(src) if kind == "md" else nbformat.v4.new_code_cell(src)
                for kind, src in cells]
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(HERE)}}).execute()
    path = HERE / f"{name}.ipynb"
    nbformat.write(nb, path)
    return path


if __name__ == "__main__":
    names = sys.argv[1:] or list(NOTEBOOKS)
    for name in names:
        print("wrote", build(name, NOTEBOOKS[name]))
