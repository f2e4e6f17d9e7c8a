"""Benchmark: ``neurorl fit dopamine`` on many sessions against only reading their spike times, with peak memory.

A folder of simulated sessions (written one at a time, by a process of its own) is fitted by the command line
(``fit dopamine`` with its defaults: the sessions read and turned into responses by its reader processes, then the
per-cell fits, the population tests, the controls and the decoding, the figures) and, in the same run, only read
(every file's spike times and trials, nothing computed) in one process; fit and read alternate, 3 times each, and
the medians are reported. One more fit is sampled for memory: the peak proportional set size (PSS) of the command
and every process it starts, so that pages a forked process shares with its parent count once. Reading the same
files with the fit's reader processes is timed too.

Targets (issue: "bigger than memory"): fitting takes at most twice the time of only reading the spike times and
stays under 2 GB for 50 sessions x 200 units x 2,000 trials (10,000 cells).

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

import numpy as np

FULL = (50, 200, 2000)
#: Timed runs of the fit and of the reading (alternating; the medians are reported).
REPEATS = 3
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

_READ_PARALLEL = """
import json, multiprocessing, sys, time
from concurrent.futures import ProcessPoolExecutor
from neurorl.io.nwb import dopamine_files, read_dopamine
from neurorl.pipelines.dopamine_sessions import default_jobs
def count(path):
    return int(sum(len(s) for s in read_dopamine(path).units["spike_times"]))
start = time.perf_counter()
files = [str(f) for f in dopamine_files(sys.argv[1])]
with ProcessPoolExecutor(default_jobs(len(files)), mp_context=multiprocessing.get_context("fork")) as pool:
    n = sum(pool.map(count, files))
print(json.dumps({"seconds": time.perf_counter() - start, "spikes": n}))
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


def _tree_pss_mb(pid: int) -> float | None:
    """Proportional set size (MB) of a process and all its descendants (Linux ``/proc``; ``None`` elsewhere).

    PSS shares each page among the processes mapping it, so forked processes that share the parent's pages
    are not counted twice (their ``ru_maxrss`` would be).
    """
    proc = Path("/proc")
    if not (proc / str(pid)).exists():
        return None
    parents = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError, ValueError):
                continue
    tree, frontier = {pid}, [pid]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier and p not in tree]
        tree.update(children)
        frontier = children
    total_kb = 0
    for member in tree:
        try:
            for line in (proc / str(member) / "smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total_kb += int(line.split()[1])
                    break
        except OSError:
            continue
    return total_kb / 1024


def _child(code: str, *args: str, sample_memory: bool = False) -> dict:
    """Run ``code`` in a fresh interpreter; its JSON line, plus ``tree_peak_mb``: with ``sample_memory`` the peak
    PSS of it and its children (sampled every 50 ms; None where /proc is missing). Sampling reads every page
    table of the processes (a large share of a core for gigabytes): a timed run does not sample."""
    process = subprocess.Popen([sys.executable, "-c", code, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    peak = None
    while process.poll() is None:
        sample = _tree_pss_mb(process.pid) if sample_memory else None
        if sample is not None:
            peak = sample if peak is None else max(peak, sample)
        time.sleep(0.05)
    out, err = process.communicate()
    if process.returncode:
        raise RuntimeError(f"benchmark child failed ({process.returncode}): {err[-2000:]}")
    result = json.loads(out.strip().splitlines()[-1])
    result["tree_peak_mb"] = peak
    return result


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
        # in a process of its own: the children below would otherwise start with this process's peak RSS
        # (Linux keeps ru_maxrss across fork and exec)
        subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
                        "from bench_dopamine_sessions import write_sessions; from pathlib import Path; "
                        "write_sessions(Path(sys.argv[2]), *map(int, sys.argv[3:]))",
                        str(Path(__file__).resolve().parent), str(folder), str(n_sessions), str(n_units),
                        str(n_trials)], check=True)
        written_s = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in folder.glob("*.nwb")) / 2**20
        # timed runs, alternating, medians (2 cores, noisy); then one run sampled for its memory
        reads, fits = [], []
        for k in range(REPEATS):
            reads.append(_child(_READ, str(folder)))
            fits.append(_child(_FIT, str(folder), str(Path(tmp) / f"out{k}"), str(n_bootstrap), str(n_splits)))
        read = dict(reads[0], seconds=float(np.median([r["seconds"] for r in reads])))
        fit = dict(fits[0], seconds=float(np.median([f["seconds"] for f in fits])))
        memory = _child(_FIT, str(folder), str(Path(tmp) / "out_memory"), str(n_bootstrap), str(n_splits),
                        sample_memory=True)
        fit["tree_peak_mb"], fit["peak_mb"] = memory["tree_peak_mb"], memory["peak_mb"]
        # the same reading spread over the fit's reader processes (Linux): what reading alone costs with them
        read_parallel = _child(_READ_PARALLEL, str(folder)) if sys.platform.startswith("linux") else None
    ratio = read["seconds"] / fit["seconds"]
    from neurorl.pipelines.dopamine_sessions import default_jobs

    readers = default_jobs(n_sessions)
    # memory of the whole run: the command and the processes it forks (readers, figures, controls), by PSS, so
    # that pages a forked process shares with its parent count once; ru_maxrss of the main process beside it
    total_mb = fit["tree_peak_mb"] if fit["tree_peak_mb"] is not None else float("nan")
    return [{
        "benchmark": (f"fit dopamine (median of {REPEATS}): {n_sessions} sessions x {n_units} units x {n_trials} trials "
                      f"({n_sessions * n_units} cells, {read['spikes']:.2e} spikes, {size_mb:.0f} MB of NWB; "
                      f"{n_bootstrap} bootstraps, {n_splits} splits, {readers} reader processes); peak memory "
                      f"{total_mb:.0f} MB (PSS of the command and its processes; main process RSS "
                      f"{fit['peak_mb']:.0f} MB)"),
        "neurorl_s": fit["seconds"],
        "reference": (f"reading the spike times only, one process (peak RSS {read['peak_mb']:.0f} MB)"
                      + (f"; read by the fit's {readers} reader processes {read_parallel['seconds']:.1f} s, the fit "
                         f"{fit['seconds'] / read_parallel['seconds']:.1f}x that" if read_parallel else "")),
        "reference_s": read["seconds"],
        "ratio": ratio,
        "target": "fit <= 2 x read (one process), peak memory < 2048 MB",
        "meets_target": bool(ratio >= 0.5 and (total_mb < 2048 if total_mb == total_mb else fit["peak_mb"] < 2048)),
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
