"""Benchmark: ``neurorl fit dopamine`` on many sessions against only reading their spike times, with peak memory.

A folder of simulated sessions (written one at a time) is fitted by the command line (``fit dopamine``: sessions
read and turned into responses one at a time, then the per-cell fits, the population tests and the decoding) and,
in the same run, only read (every file's spike times and trials, nothing computed). Each runs in its own process
so that its peak resident memory (``ru_maxrss``) is its own.

Targets (issue: "bigger than memory"): fitting takes at most twice the reading time and stays under 2 GB peak RSS
for 50 sessions x 200 units x 2,000 trials (10,000 cells).

Run ``python benchmarks/bench_dopamine_sessions.py [--quick] [--sessions N --units N --trials N]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FULL = (50, 200, 2000)
QUICK = (4, 40, 400)

_READ = """
import json, resource, sys, time
from neurorl.io.nwb import dopamine_files, read_dopamine
start = time.perf_counter()
n = 0
for path in dopamine_files(sys.argv[1]):
    recording = read_dopamine(path)
    n += sum(len(s) for s in recording.units["spike_times"])
    del recording
print(json.dumps({"seconds": time.perf_counter() - start, "spikes": n,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_FIT = """
import json, resource, sys, time
from neurorl.cli import main
start = time.perf_counter()
splits = [] if sys.argv[4] == "auto" else ["--splits", sys.argv[4]]
status = main(["fit", "dopamine", sys.argv[1], "--out", sys.argv[2], "--bootstrap", sys.argv[3], *splits, "--quiet"])
assert status == 0, status
print(json.dumps({"seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "child_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def write_sessions(folder: Path, n_sessions: int, n_units: int, n_trials: int, seed: int = 0) -> None:
    """Simulated sessions (distributional TD, expectile code), generated and written one session at a time."""
    from neurorl.io.nwb import write_dopamine
    from neurorl.models.dopamine_recording import simulate_recordings

    for k in range(n_sessions):
        sim = simulate_recordings(n_units, 1, n_trials, n_training_trials=2000, spike_window_s=(1.2, 0.3),
                                  session_names=[f"session_{k + 1:03d}"], seed=[seed, k])
        session = sim.sessions[0]
        write_dopamine(session.spike_times, session.trials, folder / f"{session.session}.nwb",
                       cell_types=session.cell_types, session_description="benchmark session (simulated)")


def _child(code: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False, sizes: tuple[int, int, int] | None = None) -> list[dict]:
    """One row: fit time and peak RSS against read-only time and peak RSS, measured in the same run."""
    n_sessions, n_units, n_trials = sizes or (QUICK if quick else FULL)
    # the command's defaults at full scale: 200 bootstraps, splits "auto" (1,000 up to 200 cells, 200,000 / cells
    # above, at least 20: neurorl.pipelines.dopamine.auto_splits); reader processes: the default (one per core, at
    # most 4)
    n_bootstrap, n_splits = (20, "50") if quick else (200, "auto")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "sessions"
        folder.mkdir()
        start = time.perf_counter()
        write_sessions(folder, n_sessions, n_units, n_trials)
        written_s = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in folder.glob("*.nwb")) / 2**20
        read = _child(_READ, str(folder))
        fit = _child(_FIT, str(folder), str(Path(tmp) / "out"), str(n_bootstrap), str(n_splits))
    ratio = read["seconds"] / fit["seconds"]
    # the reader processes (--jobs, default one per core) each hold one session: the peak of the whole run is
    # at most the main process's peak plus each reader's (the largest child's peak, times the readers)

    from neurorl.pipelines.dopamine_sessions import default_jobs

    readers = default_jobs(n_sessions)
    total_mb = fit["peak_mb"] + (readers * fit["child_peak_mb"] if readers > 1 else 0.0)
    return [{
        "benchmark": (f"fit dopamine: {n_sessions} sessions x {n_units} units x {n_trials} trials "
                      f"({n_sessions * n_units} cells, {read['spikes']:.2e} spikes, {size_mb:.0f} MB of NWB; "
                      f"{n_bootstrap} bootstraps, {n_splits} splits, {readers} reader processes); peak RSS "
                      f"{fit['peak_mb']:.0f} MB + readers {fit['child_peak_mb']:.0f} MB each (<= {total_mb:.0f} MB "
                      f"in all)"),
        "neurorl_s": fit["seconds"],
        "reference": f"reading the spike times only (peak RSS {read['peak_mb']:.0f} MB)",
        "reference_s": read["seconds"],
        "ratio": ratio,
        "target": "fit <= 2 x read, peak RSS < 2048 MB",
        "meets_target": bool(ratio >= 0.5 and total_mb < 2048),
        "simulate_s": written_s,
    }]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK[0]} sessions x {QUICK[1]} units x {QUICK[2]} trials")
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--units", type=int)
    parser.add_argument("--trials", type=int)
    args = parser.parse_args()
    sizes = None
    if args.sessions or args.units or args.trials:
        base = QUICK if args.quick else FULL
        sizes = (args.sessions or base[0], args.units or base[1], args.trials or base[2])
    rows = run(quick=args.quick, sizes=sizes)
    from run import print_table

    print_table(rows, quick=args.quick)


if __name__ == "__main__":
    main()
