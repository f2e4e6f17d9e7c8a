"""Speed and memory of the BCI simulation (Francioni et al. 2026 task).

Target: 14 days x 41 min x 300 P0 + 10 BCI neurons, simulated without writing NWB, in under 60 s on 2 cores,
with peak memory bounded by one day (days are yielded one at a time).

Rows
----
* ``bci_experiment``: the full experiment (all arrays of every day built: somata, dendrites, teaching signal,
  spikes), against the time numpy needs just to draw the experiment's random numbers (three float32 normals
  per neuron and frame, a floor no simulation can beat).
* ``bci_experiment_imaging``: the same experiment plus, every day, the raw ``F`` and ``Fneu`` of the soma and
  dendrite planes (:func:`neurorl.models.bci_imaging.raw_fluorescence`) and the ΔF/F computed from them
  (:func:`neurorl.io.bci_suite2p.suite2p_dff`), against the experiment alone (target: under 90 s).
* ``online_dff``: the exact running 10th percentile over 30 s (two-heap kernel), against
  ``numpy.percentile`` on each window.
* ``bci_memory``: peak traced memory (tracemalloc) of a 14-day run against a 1-day run; ratio ~1 means memory
  is bounded by one day.
* ``bci_movie``: seconds to render one minute of the ``--movie`` (310 ROIs, 128 x 128 pixels) and compress it
  as the NWB writer does, against the seconds of simulation per closed-loop minute.
* ``bci_suite2p``: seconds to make and save one day's suite2p plane (310 ROIs, 41 min + baseline).

Run ``python benchmarks/bench_bci.py`` (``--quick`` for 2 days).
"""

from __future__ import annotations

import gc
import resource
import sys
import tracemalloc
from pathlib import Path

import numpy as np
from run import bench_main, median_time

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from neurorl.models.bci_learning import simulate_bci_experiment  # noqa: E402
from neurorl.tasks.bci import BCITask, online_dff  # noqa: E402


def _run_experiment(days: int, session_minutes: float = 41.0, n_p0: int = 300, n_bci: int = 10) -> list[float]:
    accuracies = []
    for session in simulate_bci_experiment("vectorized", days=days, session_minutes=session_minutes, n_p0=n_p0,
                                           n_bci=n_bci, seed=0):
        accuracies.append(session.accuracy)
        del session
    return accuracies


def _run_experiment_imaging(days: int, session_minutes: float = 41.0, n_p0: int = 300, n_bci: int = 10) -> None:
    """The experiment plus, every day, the raw F and Fneu of both planes and the ΔF/F a lab computes from them."""
    from neurorl.io.bci_suite2p import suite2p_dff
    from neurorl.models.bci_imaging import raw_fluorescence

    rng = np.random.default_rng(1)
    for session in simulate_bci_experiment("vectorized", days=days, session_minutes=session_minutes, n_p0=n_p0,
                                           n_bci=n_bci, seed=0):
        for plane in (session.soma_dff, session.dendrite_dff):
            f, fneu, _ = raw_fluorescence(plane, session.frame_rate_hz, seed=rng)
            suite2p_dff(f, fneu, session.frame_rate_hz)
        del session


def _rng_floor(days: int, session_minutes: float = 41.0, n_neurons: int = 310) -> None:
    task = BCITask()
    frames = task.baseline_frames + task.frames(session_minutes * 60)
    rng = np.random.default_rng(0)
    for _ in range(days):
        for _ in range(3):
            rng.standard_normal((frames, n_neurons), dtype=np.float32)


def _peak_traced(fn) -> float:
    gc.collect()
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def _output_rows(sim_s_per_minute: float) -> list[dict]:
    import tempfile

    import h5py

    from neurorl.io.suite2p import write_suite2p_plane
    from neurorl.models.bci_imaging import movie, raw_fluorescence, roi_footprints, suite2p_plane

    rng = np.random.default_rng(0)
    task = BCITask()
    stats = roi_footprints(310, 6.0, 512, rng)
    one_min = task.frames(60.0)
    dff = (0.3 * rng.random((one_min, 310)) ** 8).astype(np.float32)

    def render():
        f, _, _ = raw_fluorescence(dff, task.frame_rate_hz, seed=1)
        frames, _ = movie(f, stats, seed=2)
        with tempfile.TemporaryDirectory() as tmp, h5py.File(f"{tmp}/m.h5", "w") as h5:
            h5.create_dataset("data", data=frames, compression="gzip", compression_opts=4, shuffle=True,
                              chunks=(64, 128, 128))

    movie_s = median_time(render, 1)[0]
    day = np.tile(dff, (task.baseline_frames // one_min + 42, 1))[: task.baseline_frames + task.session_frames]

    def plane():
        arrays = suite2p_plane(day, stats, task.frame_rate_hz, seed=3)
        with tempfile.TemporaryDirectory() as tmp:
            write_suite2p_plane(arrays, tmp)

    suite2p_s = median_time(plane, 1)[0]
    return [{"benchmark": "bci_movie: s per movie minute (310 ROIs, 128 x 128 px)", "neurorl_s": movie_s,
             "reference": "simulation s per closed-loop minute", "reference_s": sim_s_per_minute,
             "ratio": movie_s / sim_s_per_minute},
            {"benchmark": "bci_suite2p: s per day and plane (310 ROIs)", "neurorl_s": suite2p_s,
             "reference": "simulation s per day", "reference_s": sim_s_per_minute * 41.0,
             "ratio": suite2p_s / (sim_s_per_minute * 41.0)}]


def run(quick: bool = False) -> list[dict]:
    """Benchmark rows ``{"benchmark", "neurorl_s", "reference", "reference_s", "ratio"}``."""
    days = 2 if quick else 14
    repeats = 1 if quick else 3
    _run_experiment(1, session_minutes=1.0, n_p0=5)  # compile the numba kernels (cached on disk)
    online_dff(np.ones((10, 1)))
    rows = []
    sim_s = median_time(lambda: _run_experiment(days), repeats)[0]
    floor_s = median_time(lambda: _rng_floor(days), repeats)[0]
    rows.append({"benchmark": f"bci_experiment ({days} d x 41 min x 310 neurons)", "neurorl_s": sim_s,
                 "reference": "numpy: draw 3 float32 normals per neuron-frame", "reference_s": floor_s,
                 "ratio": sim_s / floor_s, "target": "< 60 s (14 days)" if not quick else "",
                 "meets_target": bool(sim_s < 60.0) if not quick else ""})

    imaging_s = median_time(lambda: _run_experiment_imaging(days), 1)[0]
    rows.append({"benchmark": f"bci_experiment_imaging ({days} d x 41 min x 310 neurons, + F/Fneu of both planes "
                              "and their ΔF/F)", "neurorl_s": imaging_s,
                 "reference": "the same experiment without F/Fneu (row above)", "reference_s": sim_s,
                 "ratio": imaging_s / sim_s, "target": "< 90 s (14 days)" if not quick else "",
                 "meets_target": bool(imaging_s < 90.0) if not quick else ""})

    fluor = 1 + 0.1 * np.abs(np.random.default_rng(1).standard_normal((20_000, 10)))
    window = BCITask().f0_window_frames
    kernel_s = median_time(lambda: online_dff(fluor), 3)[0]

    def brute():
        f0 = np.empty_like(fluor)
        for t in range(fluor.shape[0]):
            f0[t] = np.percentile(fluor[max(0, t - window + 1):t + 1], 10.0, axis=0)
        return (fluor - f0) / f0

    brute_s = median_time(brute, 1)[0]
    rows.append({"benchmark": "online_dff (20,000 frames x 10 cells)", "neurorl_s": kernel_s,
                 "reference": "numpy.percentile per window", "reference_s": brute_s, "ratio": kernel_s / brute_s})

    rows += _output_rows(sim_s / (days * 41.0))

    mem_days = 2 if quick else 14
    peak_one = _peak_traced(lambda: _run_experiment(1))
    peak_all = _peak_traced(lambda: _run_experiment(mem_days))
    rows.append({"benchmark": f"bci_memory: peak MiB, {mem_days} days (tracemalloc)", "neurorl_s": peak_all,
                 "reference": "peak MiB, 1 day", "reference_s": peak_one, "ratio": peak_all / peak_one,
                 "target": "bounded by one day (<= 1.1x)", "meets_target": bool(peak_all <= 1.1 * peak_one)})
    return rows


def main(argv: list[str] | None = None) -> int:
    bench_main(run, __doc__, "2 days instead of 14, one repeat", argv)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"(memory rows in MiB; process max RSS {rss:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
