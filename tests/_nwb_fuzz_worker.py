"""Worker process of the NWB fuzz tests: reads files named on stdin, one JSON line per case on stdout.

Each request is ``{"path": ..., "reader": "dopamine" | "bci", "allow_external_links": bool}``; each answer is
``{"status": "ok" | "typed" | "untyped" | "contract", ...}``. Running the readers here, not in the test process,
lets a crash or hang of libhdf5 on a corrupt file show as a dead or silent worker instead of taking pytest down.
The address space is limited so that a corrupt size field cannot make the machine swap.
"""

from __future__ import annotations

import json
import resource
import sys
import traceback
import warnings

import numpy as np

#: Address-space limit of the worker (bytes): the readers need ~1 GB for the small fuzz files.
MEMORY_LIMIT = 3 * 2**30


def _raw_length(path: str, name: str) -> int | None:
    """Length of dataset ``name`` read with plain h5py (None if it cannot be read that way)."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return int(handle[name].shape[0])
    except Exception:  # noqa: BLE001 - damaged or missing: nothing to compare with
        return None


def _raw_values(path: str, name: str) -> np.ndarray | None:
    """Values of dataset ``name`` read with plain h5py (None if it cannot be read that way)."""
    import h5py

    try:
        with h5py.File(path, "r") as handle:
            return np.asarray(handle[name][()])
    except Exception:  # noqa: BLE001 - damaged or missing: nothing to compare with
        return None


def _check_dopamine(rec) -> str | None:
    """The contract of :func:`neurorl.io.nwb.read_dopamine`; a message if a returned recording breaks it."""
    if len(rec.units) == 0:
        return "no units"
    if not rec.units.index.is_unique:
        return f"unit ids not unique: {list(rec.units.index)}"
    n_spikes = _raw_length(rec.path, "/units/spike_times")
    if n_spikes is not None and sum(len(t) for t in rec.units["spike_times"]) != n_spikes:
        return (f"the units hold {sum(len(t) for t in rec.units['spike_times'])} spikes, the file's spike_times "
                f"{n_spikes}")
    ends = _raw_values(rec.path, "/units/spike_times_index")
    if ends is not None and n_spikes is not None and (
            ends.ndim != 1 or np.any(np.diff(ends.astype(float)) < 0) or (ends.size and ends[-1] != n_spikes)):
        return f"read although the spike_times_index {ends[:4]} does not split {n_spikes} spikes"
    times = rec.trials[["start_time", "stop_time"]].to_numpy(dtype=float)
    if not np.all(np.isfinite(times)) or np.any(times[:, 1] < times[:, 0]):
        return "trial start/stop times not finite or stop before start"
    n_trials = _raw_length(rec.path, "/intervals/trials/id")
    if n_trials is not None and len(rec.trials) != n_trials:
        return f"{len(rec.trials)} trials read, the trials table has {n_trials} rows"
    for unit, times in rec.units["spike_times"].items():
        times = np.asarray(times, dtype=float)
        if times.size and (not np.all(np.isfinite(times)) or times.min() < 0 or np.any(np.diff(times) < 0)):
            return f"unit {unit}: spike times not finite, negative or unsorted"
    trials = rec.trials
    for column in ("start_time", "stop_time", "reward_time", "reward_volume", "trial_type"):
        if column not in trials:
            return f"trials lack {column}"
    volume = trials["reward_volume"].to_numpy(dtype=float)
    reward = trials["reward_time"].to_numpy(dtype=float)
    if not np.any(np.isfinite(volume)):
        return "no rewarded trial"
    rewarded = np.isfinite(volume)
    if np.any(rewarded & ~np.isfinite(reward)):
        return "rewarded trial without reward time"
    inside = (reward >= trials["start_time"].to_numpy()) & (reward <= trials["stop_time"].to_numpy())
    if np.any(np.isfinite(reward) & ~inside):
        return "reward outside its trial"
    return None


def _check_bci(rec) -> str | None:
    """The contract of :func:`neurorl.io.bci_nwb.read_bci_session`."""
    n_frames, n_soma = rec.soma_dff.shape
    if rec.dendrite_dff.ndim != 2 or rec.dendrite_dff.shape[0] != n_frames:
        return f"dendrite shape {rec.dendrite_dff.shape} vs soma {rec.soma_dff.shape}"
    if rec.ensemble.shape != (n_soma,) or not set(rec.ensemble) <= {"P+", "P-", "P0"}:
        return f"ensemble {rec.ensemble!r}"
    if rec.bci_weight.shape != (n_soma,) or rec.cursor.shape != (n_frames,) or rec.grating_angle.shape != (n_frames,):
        return "bci_weight / cursor / grating_angle shapes"
    if rec.parent_soma.shape != (rec.dendrite_dff.shape[1],) or (
            rec.parent_soma.size and (rec.parent_soma.min() < 0 or rec.parent_soma.max() >= n_soma)):
        return "parent_soma out of range"
    if not (np.isfinite(rec.frame_rate_hz) and rec.frame_rate_hz > 0):
        return f"frame rate {rec.frame_rate_hz}"
    for series, table in (("Soma", "Soma"), ("Dendrite", "Dendrite")):
        rows = _raw_values(rec.path, f"/processing/ophys/DfOverF/RoiResponseSeries{series}/rois")
        n_rows = _raw_length(rec.path, f"/processing/ophys/ImageSegmentation/PlaneSegmentation{table}/id")
        if rows is not None and n_rows is not None and rows.dtype.kind in "iu" and (
                rows.ndim != 1 or np.any(rows < 0) or np.any(rows >= n_rows)):
            return f"read although RoiResponseSeries{series}.rois {rows[:4]} points outside {n_rows} ROIs"
    if not 0 <= rec.baseline_frames <= n_frames:
        return f"baseline_frames {rec.baseline_frames} of {n_frames}"
    times = rec.trials[["start_time", "stop_time"]].to_numpy(dtype=float)
    if len(times) == 0 or not np.all(np.isfinite(times)) or np.any(times[:, 1] < times[:, 0]):
        return "trials empty, not finite or stop before start"
    return None


def _run(request: dict) -> dict:
    from neurorl.errors import NeurorlError
    from neurorl.io.bci_nwb import read_bci_session
    from neurorl.io.nwb import read_dopamine

    path = request["path"]
    allow = bool(request.get("allow_external_links", False))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if request["reader"] == "dopamine":
                rec = read_dopamine(path, allow_external_links=allow)
                problem = _check_dopamine(rec)
            else:
                rec = read_bci_session(path, allow_external_links=allow)
                problem = _check_bci(rec)
    except NeurorlError as exc:
        return {"status": "typed", "type": type(exc).__name__, "message": str(exc), "path": exc.path}
    except BaseException as exc:  # noqa: BLE001 - that is what the fuzzer looks for
        return {"status": "untyped", "type": type(exc).__name__, "message": str(exc)[:500],
                "traceback": traceback.format_exc()[-4000:]}
    if problem is not None:
        return {"status": "contract", "message": problem}
    return {"status": "ok"}


def main() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    import neurorl.io.bci_nwb  # noqa: F401 - import before the first request, so its time is not a case's

    print(json.dumps({"status": "ready"}), flush=True)
    for line in sys.stdin:
        if line.strip():
            print(json.dumps(_run(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
