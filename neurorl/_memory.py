"""Estimate the memory a job needs before it allocates, and refuse one that cannot fit.

A command that would need more memory than the machine has free is refused at once with one line that gives
the estimate and the options to reduce, instead of swapping for hours or being killed by the kernel::

    neurorl: error: --cells 100000000: needs about 42 GB of memory, 15 GB is available; reduce --cells

The estimates are deliberately rough upper bounds of the largest arrays a job holds at once (bytes per
element times the elements; factors for temporaries are stated where used); they only have to tell a job that
fits from one that cannot fit by orders of magnitude.
"""

from __future__ import annotations

import os
import resource
from collections.abc import Sequence

from .errors import InvalidArgumentError

__all__ = ["MemoryEstimateError", "available_memory", "check_memory", "format_bytes",
           "simulate_dopamine_bytes", "simulate_bci_bytes", "train_bytes", "sweep_dopamine_bytes"]


class MemoryEstimateError(InvalidArgumentError):
    """The arguments ask for a job larger than the memory available (exit status 2: change the arguments)."""


def format_bytes(n: float) -> str:
    """``n`` bytes in words: ``512 MB``, ``42 GB``, ``1.2 PB``."""
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB", "EB"):
        if abs(n) < 1000 or unit == "EB":
            return f"{n:.0f} {unit}" if unit == "bytes" or n >= 10 else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.0f} EB"  # pragma: no cover


def available_memory() -> int:
    """Bytes this process can still allocate: MemAvailable of /proc/meminfo, capped by RLIMIT_AS / RLIMIT_DATA.

    ``NEURORL_MEMORY_LIMIT`` (bytes) overrides it (tests, shared machines).
    """
    override = os.environ.get("NEURORL_MEMORY_LIMIT")
    if override:
        return int(float(override))
    free = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        free = None
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
            free = 1 << 62
    for limit in (resource.RLIMIT_AS, getattr(resource, "RLIMIT_DATA", resource.RLIMIT_AS)):
        try:
            soft, _ = resource.getrlimit(limit)
        except (ValueError, OSError):  # pragma: no cover
            continue
        if soft != resource.RLIM_INFINITY and soft > 0:
            free = min(free, soft)
    return int(free)


def check_memory(needed: float, reduce: Sequence[str], *, what: str) -> None:
    """Refuse a job that needs more than :func:`available_memory`.

    Parameters
    ----------
    needed
        Estimated peak memory of the job (bytes).
    reduce
        The options to reduce (``["--cells", "--trials"]``), named in the message.
    what
        What asks for the memory, the start of the message (``"--cells 100000000 --trials 500"``).

    Raises
    ------
    MemoryEstimateError
        ``needed`` exceeds the memory available.
    """
    free = available_memory()
    if needed > free:
        raise MemoryEstimateError(f"{what}: needs about {format_bytes(needed)} of memory, {format_bytes(free)} "
                                  f"is available; reduce {' or '.join(reduce)}")


#: Bytes held per simulated cell over the whole run (population, learner values, ground-truth table with ~15
#: float columns, spike-time lists' objects) (assumed, measured order of magnitude).
_PER_CELL = 400
#: Bytes per trial of a session's trials table (~10 float64 columns, one string column) (assumed).
_PER_TRIAL = 200
#: Bytes per spike while a session is simulated and written: float64 times, the times before the floor/window,
#: and the in-memory NWB image (assumed: 4 copies of 8 bytes).
_PER_SPIKE = 32


def simulate_dopamine_bytes(n_cells: int, n_sessions: int, n_trials: int, *, baseline_rate: float = 5.0,
                            seconds_per_trial: float = 7.5, n_training_trials: int = 10000) -> float:
    """Estimate the peak memory (bytes) of ``simulate dopamine``: every cell's parameters plus one session's spikes.

    ``seconds_per_trial``: the task's mean trial (3.2 s minimum ITI plus 4 s mean extra, plus the trial),
    :class:`neurorl.tasks.variable_reward.VariableRewardTask`. Spikes: the baseline rate (spikes/s) plus
    responses, taken as 1.5 times the baseline (assumed).
    """
    n_cells, n_sessions, n_trials = max(int(n_cells), 0), max(int(n_sessions), 1), max(int(n_trials), 0)
    cells_per_session = -(-n_cells // n_sessions)
    spikes = cells_per_session * n_trials * seconds_per_trial * 1.5 * max(float(baseline_rate), 0.0)
    # the TD training holds one value row per cell; the training trials are drawn in blocks (assumed 8 bytes each)
    return n_cells * _PER_CELL + n_trials * _PER_TRIAL + spikes * _PER_SPIKE + 8.0 * int(n_training_trials)


def simulate_bci_bytes(n_neurons: int, session_minutes: float, *, frame_rate_hz: float = 15.46,
                       baseline_frames: int = 12000) -> float:
    """Estimate the peak memory (bytes) of one simulated BCI day.

    About 10 float32 (frames x neurons) arrays at once: somata, dendrites, teaching signal, noise, the AR(1)
    temporaries and the in-memory NWB image (assumed), plus the dendritic plateau events (1 byte per frame and
    neuron).
    """
    frames = float(session_minutes) * 60.0 * frame_rate_hz + baseline_frames
    return (10 * 4 + 1) * frames * max(int(n_neurons), 1)


def train_bytes(n_train: int, n_test: int, *, n_inputs: int = 784, float64: bool = False) -> float:
    """Estimate the peak memory (bytes) of a training run.

    The images in the compute dtype, the uint8 originals and the labels (the network itself is small).
    """
    item = 8 if float64 else 4
    return (int(n_train) + int(n_test)) * n_inputs * (item + 1) * 1.5


def sweep_dopamine_bytes(cells: Sequence[int], trials: Sequence[int], jobs: int) -> float:
    """Estimate the peak memory (bytes) of ``sweep dopamine``: the largest job times the jobs run at once."""
    largest = max(simulate_dopamine_bytes(c, 1, t) for c in cells for t in trials)
    # the fit holds every cell's responses too (one float per cell-trial) (assumed 3 copies)
    largest += 3 * 8.0 * max(cells) * max(trials)
    return largest * max(int(jobs), 1)
