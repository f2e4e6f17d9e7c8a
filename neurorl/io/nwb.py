"""Read and write NWB files (pynwb) for neurorl.

Shared primitives
    :func:`new_nwbfile` (an ``NWBFile`` with the metadata nwbinspector asks for), :func:`write_nwbfile`
    (atomic write), :func:`open_nwb` (read with typed errors for files that are missing, empty, not HDF5,
    corrupt or not NWB).
Dopamine recordings
    :func:`write_dopamine` and :func:`read_dopamine` / :func:`read_dopamine_folder`, following the data
    contract of the design: a ``Units`` table with ``spike_times`` (s) and optional ``cell_type``; a
    ``trials`` table with ``start_time``, ``stop_time``, ``reward_time`` (s), ``reward_volume`` (µl, NaN
    where no reward) and optional ``trial_type``. Reward events may instead come as an NWB ``EventsTable``
    with a ``reward_volume`` column; each event is then assigned to the trial that contains it.

Nothing is computed here: the reader returns labelled tables that :mod:`neurorl.analysis.responses` turns
into responses.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import uuid
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import (
    CorruptFileError,
    EmptyFileError,
    EmptyTableError,
    InvalidArgumentError,
    InvalidRecordingError,
    MissingColumnError,
    MissingDataError,
    MissingTableError,
    NoRewardError,
    NotHDF5Error,
    NotNWBError,
    RecordingNotFoundError,
    RewardTimesError,
    SpikeTimesError,
)
from ._atomic import atomic_path
from ._links import check_hdf5_links

__all__ = [
    "DopamineRecording",
    "new_nwbfile",
    "write_nwbfile",
    "open_nwb",
    "check_nwb_path",
    "write_dopamine",
    "read_dopamine",
    "read_dopamine_folder",
    "TRIAL_TYPES",
]

#: Allowed values of the optional ``trial_type`` column.
TRIAL_TYPES: tuple[str, ...] = ("uncued", "cued", "other")

_TRIAL_COLUMN_DESCRIPTIONS = {
    "reward_time": "time of reward delivery (s); NaN where no reward was given",
    "reward_volume": "volume of the reward (µl); NaN where no reward was given",
    "trial_type": "'uncued' (unexpected reward), 'cued' (odour-predicted reward) or 'other'",
}

_DEFAULT_START = _dt.datetime(2020, 1, 1, 12, 0, tzinfo=_dt.UTC)


# ----------------------------------------------------------------------------------------------- primitives
def new_nwbfile(
    *,
    session_description: str,
    identifier: str | None = None,
    session_start_time: _dt.datetime | None = None,
    subject_id: str = "unknown",
    species: str = "Mus musculus",
    sex: str = "U",
    age: str = "P90D/",
    subject_description: str | None = None,
    experiment_description: str | None = None,
    session_id: str | None = None,
    institution: str | None = None,
    lab: str | None = None,
    experimenter: Sequence[str] | None = None,
    keywords: Sequence[str] | None = None,
    **nwbfile_kwargs,
):
    """Create a :class:`pynwb.NWBFile` with the metadata that nwbinspector checks.

    Parameters
    ----------
    session_description
        One sentence on what happened in the session.
    identifier
        Globally unique id; a random UUID when omitted.
    session_start_time
        Timezone-aware start time; a fixed placeholder (2020-01-01 12:00 UTC) when omitted, so that
        simulated files are reproducible.
    subject_id, species, sex, age
        Subject metadata. ``age`` is an ISO 8601 duration (``"P90D/"`` = at least 90 days old).

    Returns
    -------
    pynwb.NWBFile
    """
    from pynwb import NWBFile
    from pynwb.file import Subject

    start = session_start_time or _DEFAULT_START
    if start.tzinfo is None:
        raise InvalidArgumentError("session_start_time must be timezone-aware")
    subject = Subject(subject_id=str(subject_id), species=species, sex=sex, age=age,
                      description=subject_description or f"subject {subject_id}")
    return NWBFile(
        session_description=session_description,
        identifier=identifier or str(uuid.uuid4()),
        session_start_time=start,
        subject=subject,
        experiment_description=experiment_description,
        session_id=session_id,
        institution=institution,
        lab=lab,
        experimenter=list(experimenter) if experimenter else None,
        keywords=list(keywords) if keywords else None,
        **nwbfile_kwargs,
    )


def write_nwbfile(nwbfile, path: str | os.PathLike) -> Path:
    """Write ``nwbfile`` to ``path`` atomically (temporary file in the same folder, then renamed)."""
    from pynwb import NWBHDF5IO

    path = Path(path)
    with atomic_path(path) as tmp:
        with NWBHDF5IO(str(tmp), "w") as io:
            io.write(nwbfile)
    return path


def check_nwb_path(path: str | os.PathLike, *, allow_external_links: bool = False) -> Path:
    """Check that ``path`` is an existing, non-empty, readable HDF5 file written as NWB.

    Links to other files are refused unless ``allow_external_links`` (see :mod:`neurorl.io._links`).

    Raises
    ------
    MissingDataError
        If the file does not exist.
    InvalidRecordingError
        If it is empty, not HDF5, truncated/corrupt, or HDF5 but not NWB.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise RecordingNotFoundError("no such file", path)
    if path.is_dir():
        raise NotNWBError("is a folder, expected an NWB file", path)
    if path.stat().st_size == 0:
        raise EmptyFileError("file is empty (0 bytes)", path)
    try:
        is_hdf5 = h5py.is_hdf5(path)
    except OSError as exc:
        raise CorruptFileError(f"cannot read file: {exc.strerror or exc}", path) from None
    if not is_hdf5:
        raise NotHDF5Error("not an HDF5 file (an NWB file is HDF5)", path)
    try:
        with h5py.File(path, "r") as handle:
            neurodata_type = handle.attrs.get("neurodata_type")
            if isinstance(neurodata_type, bytes):
                neurodata_type = neurodata_type.decode()
            if neurodata_type != "NWBFile":
                raise NotNWBError("HDF5 file is not NWB (no NWBFile at its root)", path)
            # touch every group's metadata so that truncation shows up here, not deep inside pynwb
            handle.visit(lambda name: None)
            check_hdf5_links(handle, path, allow_external_links=allow_external_links)
    except InvalidRecordingError:
        raise
    except Exception as exc:  # h5py raises OSError/KeyError/RuntimeError for damaged files
        raise CorruptFileError(f"corrupt or truncated HDF5 file ({_short(exc)})", path) from None
    return path


@contextlib.contextmanager
def open_nwb(path: str | os.PathLike, *, allow_external_links: bool = False) -> Iterator:
    """Open an NWB file for reading and yield the :class:`pynwb.NWBFile`.

    Problems with the file itself (see :func:`check_nwb_path`) and errors pynwb raises while reading
    are turned into :class:`~neurorl.errors.InvalidRecordingError` naming the file.
    """
    from pynwb import NWBHDF5IO

    path = check_nwb_path(path, allow_external_links=allow_external_links)
    io = None
    # pynwb/hdmf warn about what they find odd while reading; shown only if the file is then read without an
    # error, so that a refused file gives one line, not warnings and then the error
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        try:
            io = NWBHDF5IO(str(path), "r")
            nwbfile = io.read()
        except Exception as exc:
            if io is not None:  # close the file, or it stays open (and locked) after the error
                io.close()
            raise NotNWBError(f"cannot be read as NWB ({_short(exc)})", path) from None
    try:
        yield nwbfile
    finally:
        io.close()
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _short(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    if len(args) == 2 and hasattr(args[0], "path") and isinstance(args[1], str):
        # hdmf's ConstructError(builder, reason): name the object and the reason, not the builder's whole repr
        text = [f"/{str(args[0].path).removeprefix('root').lstrip('/')}: {args[1]}"]
    else:
        text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


# ----------------------------------------------------------------------------------------- dopamine files
@dataclass(frozen=True)
class DopamineRecording:
    """One session of a dopamine recording in the variable-reward task, as read from NWB.

    Attributes
    ----------
    session
        Session name (the file's stem).
    units
        One row per unit, indexed by unit id (``unit``); column ``spike_times`` holds a float64 array of
        spike times (s) per unit, ``cell_type`` a string (empty when not given).
    trials
        One row per trial, indexed by ``trial`` (0, 1, ...), with ``start_time``, ``stop_time``,
        ``reward_time`` (s), ``reward_volume`` (µl, NaN = no reward) and ``trial_type``.
    path
        The file read, if any.
    """

    session: str
    units: pd.DataFrame
    trials: pd.DataFrame
    path: Path | None = None

    @property
    def unit_ids(self) -> np.ndarray:
        """Unit ids, in table order."""
        return self.units.index.to_numpy()

    def spike_times(self, unit_id: int) -> np.ndarray:
        """Spike times (s) of one unit."""
        return self.units.at[unit_id, "spike_times"]


def write_dopamine(
    path: str | os.PathLike,
    spike_times: Mapping[int, np.ndarray] | Sequence[np.ndarray],
    trials: pd.DataFrame,
    *,
    cell_types: Mapping[int, str] | Sequence[str] | None = None,
    reward_events: bool = False,
    spike_time_resolution: float = 1.0 / 30000.0,
    session_description: str = "Dopamine neurons recorded in a variable-reward task",
    **metadata,
) -> Path:
    """Write a dopamine recording to NWB.

    Parameters
    ----------
    path
        Target ``.nwb`` file (written atomically).
    spike_times
        Spike times (s) per unit: a mapping from unit id to array, or a sequence (ids 0, 1, ...).
    trials
        Table with ``start_time``, ``stop_time``, ``reward_time`` (s), ``reward_volume`` (µl, NaN = no
        reward) and optionally ``trial_type`` (``uncued``/``cued``/``other``).
    cell_types
        Optional cell type label per unit (e.g. ``"dopamine"``).
    reward_events
        Store rewards as an NWB ``EventsTable`` named ``reward`` (columns ``timestamp`` and
        ``reward_volume``) instead of trial columns.
    spike_time_resolution
        Smallest possible difference between two spike times (s), stored as ``Units.resolution``.
    **metadata
        Passed to :func:`new_nwbfile` (``subject_id``, ``session_start_time``, ``identifier``, ...).

    Returns
    -------
    pathlib.Path
    """
    if not isinstance(spike_times, Mapping):
        spike_times = dict(enumerate(spike_times))
    if cell_types is not None and not isinstance(cell_types, Mapping):
        cell_types = dict(zip(spike_times, cell_types, strict=True))
    missing = [c for c in ("start_time", "stop_time", "reward_time", "reward_volume") if c not in trials]
    if missing:
        raise InvalidArgumentError(f"trials table lacks columns {missing}")
    if len(spike_times) == 0:
        raise InvalidArgumentError("no units to write")

    nwbfile = new_nwbfile(session_description=session_description, **metadata)
    nwbfile.units = _make_units(spike_times, cell_types, spike_time_resolution)

    extra = ["trial_type"] if "trial_type" in trials else []
    if not reward_events:
        extra = ["reward_time", "reward_volume"] + extra
    for column in extra:
        nwbfile.add_trial_column(name=column, description=_TRIAL_COLUMN_DESCRIPTIONS[column])
    for row in trials.itertuples(index=False):
        values = {"start_time": float(row.start_time), "stop_time": float(row.stop_time)}
        for column in extra:
            value = getattr(row, column)
            values[column] = str(value) if column == "trial_type" else float(value)
        nwbfile.add_trial(**values)

    if reward_events:
        from pynwb.event import EventsTable

        rewarded = trials[np.isfinite(trials["reward_volume"].to_numpy(dtype=float))]
        table = EventsTable(name="reward", description="reward deliveries; reward_volume in µl")
        table.add_column(name="reward_volume", description=_TRIAL_COLUMN_DESCRIPTIONS["reward_volume"])
        for row in rewarded.itertuples(index=False):
            table.add_event(timestamp=float(row.reward_time), reward_volume=float(row.reward_volume))
        nwbfile.add_events_table(table)
    return write_nwbfile(nwbfile, path)


def _make_units(spike_times: Mapping[int, np.ndarray], cell_types, resolution: float):
    from pynwb.misc import Units

    units = Units(name="units", description="sorted single units", resolution=float(resolution))
    if cell_types is not None:
        units.add_column(name="cell_type", description="cell type of the unit (e.g. dopamine)")
    for unit_id, times in spike_times.items():
        row = {"spike_times": np.asarray(times, dtype=float), "id": int(unit_id)}
        if cell_types is not None:
            row["cell_type"] = str(cell_types[unit_id])
        units.add_unit(**row)
    from hdmf.backends.hdf5 import H5DataIO

    # add_unit keeps the ragged column as Python lists, which hdmf would convert one spike at a time; hand it
    # numpy arrays instead, and store spike times gzip-compressed with shuffle (lossless, any HDF5 reader opens
    # them; spike times dominate the file size)
    spike_index = units["spike_times"]
    spike_index.transform(lambda data: np.asarray(data, dtype=np.uint64))
    spike_index.target.transform(lambda data: np.asarray(data, dtype=float))
    spike_index.target.set_data_io(H5DataIO, {"compression": "gzip", "compression_opts": 4, "shuffle": True})
    return units


def read_dopamine(path: str | os.PathLike, *, allow_external_links: bool = False) -> DopamineRecording:
    """Read a dopamine recording from an NWB file.

    Parameters
    ----------
    path
        NWB file with a ``Units`` table and a ``trials`` table (see the module docstring).
    allow_external_links
        Read HDF5 external links (and external storage) to other files instead of refusing the file.

    Returns
    -------
    DopamineRecording
        Units and trials as labelled pandas tables; the session is named by the file's stem.

    Raises
    ------
    MissingDataError
        Missing file, no Units table, no units, no trials, no reward information, no rewarded trial.
    InvalidRecordingError
        Empty, non-HDF5, corrupt or non-NWB file; negative or unsorted spike times; reward times outside
        the trials they belong to; events outside every trial.
    """
    path = Path(path)
    with open_nwb(path, allow_external_links=allow_external_links) as nwbfile:
        try:
            units = _read_units(nwbfile, path)
            trials = _read_trials(nwbfile, path)
        except (MissingDataError, InvalidRecordingError):
            raise
        except Exception as exc:
            raise NotNWBError(f"cannot be read as a dopamine recording ({_short(exc)})", path) from None
    return DopamineRecording(session=path.stem, units=units, trials=trials, path=path)


def read_dopamine_folder(folder: str | os.PathLike, *, allow_external_links: bool = False) -> list[DopamineRecording]:
    """Read every ``*.nwb`` file of ``folder`` (sorted by name); a single file is accepted too."""
    folder = Path(folder)
    if not folder.exists():
        raise RecordingNotFoundError("no such file or folder", folder)
    if folder.is_file():
        return [read_dopamine(folder, allow_external_links=allow_external_links)]
    files = sorted(f for f in folder.glob("*.nwb") if not f.name.startswith("."))
    if not files:
        raise MissingDataError("folder holds no .nwb files", folder)
    return [read_dopamine(f, allow_external_links=allow_external_links) for f in files]


def _read_units(nwbfile, path: Path) -> pd.DataFrame:
    units = nwbfile.units
    if units is None:
        raise MissingTableError("no Units table (nwbfile.units)", path)
    if len(units.id) == 0:
        raise EmptyTableError("the Units table has no units", path)
    if "spike_times" not in units.colnames:
        raise MissingColumnError("the Units table has no 'spike_times' column", path)
    ids = np.asarray(units.id.data[:], dtype=np.int64)
    spike_index = units["spike_times"]  # VectorIndex into the flat spike_times VectorData
    flat = np.asarray(spike_index.target.data[:], dtype=float)
    ends = np.asarray(spike_index.data[:], dtype=np.int64)
    if np.unique(ids).size != ids.size:
        raise InvalidRecordingError("the Units table's ids are not unique", path)
    if flat.ndim != 1:
        raise SpikeTimesError(f"spike_times has shape {flat.shape}, expected a vector", path)
    if ends.shape != ids.shape or np.any(np.diff(ends) < 0) or (ends.size and (ends[0] < 0 or ends[-1] != flat.size)):
        raise SpikeTimesError(f"spike_times_index (ends {ends[:4].tolist()}...) does not split the {flat.size} spike "
                              f"times into {ids.size} units", path)
    starts = np.concatenate([[0], ends[:-1]])
    spikes = []
    for unit_id, start, end in zip(ids, starts, ends, strict=True):
        times = flat[start:end]
        if times.size and (times[0] < 0 or not np.all(np.isfinite(times))):
            if np.any(times < 0):
                raise SpikeTimesError(f"unit {unit_id} has negative spike times", path)
            raise SpikeTimesError(f"unit {unit_id} has non-finite spike times", path)
        if np.any(np.diff(times) < 0):
            raise SpikeTimesError(f"unit {unit_id} spike times are not sorted", path)
        spikes.append(times)
    if "cell_type" in units.colnames:
        cell_type = [str(v.decode() if isinstance(v, bytes) else v) for v in units["cell_type"].data[:]]
    else:
        cell_type = [""] * len(ids)
    table = pd.DataFrame({"spike_times": pd.Series(spikes, dtype=object).to_numpy(), "cell_type": cell_type},
                         index=pd.Index(ids, name="unit"))
    return table


def _read_trials(nwbfile, path: Path) -> pd.DataFrame:
    trials = nwbfile.trials
    if trials is None or len(trials.id) == 0:
        raise MissingTableError("no trials table (nwbfile.trials)", path)
    columns = set(trials.colnames)
    table = pd.DataFrame({
        "start_time": np.asarray(trials["start_time"].data[:], dtype=float),
        "stop_time": np.asarray(trials["stop_time"].data[:], dtype=float),
    })
    if not np.all(np.isfinite(table.to_numpy())) or np.any(table["stop_time"] < table["start_time"]):
        raise InvalidRecordingError("trial start/stop times are not finite, or a trial stops before it starts", path)
    if {"reward_time", "reward_volume"} <= columns:
        table["reward_time"] = np.asarray(trials["reward_time"].data[:], dtype=float)
        table["reward_volume"] = np.asarray(trials["reward_volume"].data[:], dtype=float)
    else:
        events = _reward_events(nwbfile)
        if events is None:
            have = "reward_time" if "reward_time" in columns else "reward_volume" if "reward_volume" in columns else None
            problem = (f"the trials table has '{have}' but not both 'reward_time' and 'reward_volume'" if have
                       else "no reward information: the trials table has no 'reward_volume' column and no "
                            "EventsTable with a 'reward_volume' column")
            raise MissingColumnError(problem, path)
        table["reward_time"], table["reward_volume"] = _assign_events(table, *events, path)
    if "trial_type" in columns:
        values = [v.decode() if isinstance(v, bytes) else str(v) for v in trials["trial_type"].data[:]]
        table["trial_type"] = values
    else:
        table["trial_type"] = "other"
    table.index = pd.RangeIndex(len(table), name="trial")

    if not np.any(np.isfinite(table["reward_volume"].to_numpy())):
        raise NoRewardError("every reward_volume is NaN: no rewarded trial", path)
    reward_time = table["reward_time"].to_numpy()
    volume = table["reward_volume"].to_numpy()
    bad = np.isfinite(volume) & ~np.isfinite(reward_time)
    if bad.any():
        raise RewardTimesError(f"{bad.sum()} rewarded trials have no reward_time (first: trial {np.flatnonzero(bad)[0]})", path)
    with np.errstate(invalid="ignore"):
        outside = np.isfinite(reward_time) & ((reward_time < table["start_time"].to_numpy())
                                              | (reward_time > table["stop_time"].to_numpy()))
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise RewardTimesError(
            f"{outside.sum()} reward times lie outside their trial (first: trial {first}, reward at "
            f"{reward_time[first]:.3f} s, trial {table['start_time'].iat[first]:.3f}-{table['stop_time'].iat[first]:.3f} s)",
            path,
        )
    return table


def _reward_events(nwbfile):
    """Reward events (times in s, volumes in µl) from an EventsTable with a ``reward_volume`` column."""
    tables = list(getattr(nwbfile, "events", {}).values()) if getattr(nwbfile, "events", None) else []
    for table in tables:
        if "reward_volume" in table.colnames:
            return (np.asarray(table["timestamp"].data[:], dtype=float),
                    np.asarray(table["reward_volume"].data[:], dtype=float))
    return None


def _assign_events(trials: pd.DataFrame, times: np.ndarray, volumes: np.ndarray, path: Path):
    start = trials["start_time"].to_numpy()
    stop = trials["stop_time"].to_numpy()
    reward_time = np.full(len(trials), np.nan)
    reward_volume = np.full(len(trials), np.nan)
    order = np.argsort(start, kind="stable")
    position = np.searchsorted(start[order], times, side="right") - 1
    for event, pos in enumerate(position):
        trial = order[pos] if pos >= 0 else -1
        if trial < 0 or times[event] > stop[trial]:
            raise RewardTimesError(f"reward event at {times[event]:.3f} s lies outside every trial", path)
        if np.isfinite(reward_time[trial]):
            raise RewardTimesError(f"trial {trial} has more than one reward event", path)
        reward_time[trial] = times[event]
        reward_volume[trial] = volumes[event]
    return reward_time, reward_volume
