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


def _check_dopamine(rec) -> str | None:
    """The contract of :func:`neurorl.io.nwb.read_dopamine`; a message if a returned recording breaks it."""
    if len(rec.units) == 0:
        return "no units"
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
    if not 0 <= rec.baseline_frames <= n_frames:
        return f"baseline_frames {rec.baseline_frames} of {n_frames}"
    trials = rec.trials
    if len(trials) == 0 or np.any(trials["stop_time"].to_numpy() < trials["start_time"].to_numpy()):
        return "trials empty or stop before start"
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
