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
from dataclasses import dataclass, field
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
    RewardVolumeError,
    SpikeTimesError,
)
from ._atomic import atomic_path, data_first
from ._links import check_hdf5_links

__all__ = [
    "DopamineRecording",
    "new_nwbfile",
    "write_nwbfile",
    "open_nwb",
    "check_nwb_path",
    "write_dopamine",
    "write_dopamine_trace",
    "read_dopamine",
    "read_dopamine_folder",
    "iter_dopamine_folder",
    "dopamine_files",
    "nwb_objects",
    "source_name",
    "trials_from_table",
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
    """Write ``nwbfile`` to ``path`` atomically (temporary file in the same folder, then renamed).

    The HDF5 file is built in memory (h5py on an :class:`io.BytesIO`) and then written with Python's file I/O,
    so a full disk or an unwritable folder is an :class:`OSError` naming the file rather than an error (or a
    crash) inside libhdf5.
    """
    import io as _io

    import h5py
    from pynwb import NWBHDF5IO

    from ._atomic import write_bytes

    path = Path(path)
    buffer = _io.BytesIO()
    with h5py.File(buffer, "w") as handle:
        with NWBHDF5IO(file=handle, mode="w") as nwb_io:
            nwb_io.write(nwbfile)
    write_bytes(buffer.getbuffer(), path)
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
def open_nwb(source, *, allow_external_links: bool = False) -> Iterator:
    """Open an NWB recording for reading and yield the :class:`pynwb.NWBFile`.

    Parameters
    ----------
    source
        A path, an already open :class:`pynwb.NWBFile` (yielded as is, not closed), or a binary file-like
        object (``read``/``seek``; what ``remfile`` or ``fsspec`` give for a streamed DANDI asset).
    allow_external_links
        Follow HDF5 links to other files (and external storage) instead of refusing the file
        (see :mod:`neurorl.io._links`). An open ``NWBFile`` is not checked: it was opened by its caller.

    Problems with the file itself (see :func:`check_nwb_path`) and errors pynwb raises while reading
    are turned into :class:`~neurorl.errors.InvalidRecordingError` naming the file.
    """
    from pynwb import NWBHDF5IO, NWBFile

    if isinstance(source, NWBFile):
        yield source
        return
    handle = None  # the h5py file this function opened for a file-like source (closed here too)
    if _is_file_object(source):
        import h5py

        where = source_name(source)
        try:
            handle = h5py.File(source, "r")
        except Exception as exc:
            raise NotHDF5Error(f"not an HDF5 file (an NWB file is HDF5) ({_short(exc)})", where) from None
        try:
            check_hdf5_links(handle, where, allow_external_links=allow_external_links)
        except BaseException:
            handle.close()
            raise

        def reader():
            return NWBHDF5IO(file=handle, mode="r", load_namespaces=True)
    else:
        where = check_nwb_path(source, allow_external_links=allow_external_links)

        def reader():
            return NWBHDF5IO(str(where), "r")
    io = None
    with _warnings_after_success() as caught:
        try:
            io = reader()
            nwbfile = io.read()
        except Exception as exc:
            if handle is not None:
                handle.close()
            elif io is not None:  # close the file, or it stays open (and locked) after the error
                io.close()
            raise NotNWBError(f"cannot be read as NWB ({_short(exc)})", where) from None
    try:
        yield nwbfile
    finally:
        io.close()
        if handle is not None:
            handle.close()
    _replay(caught)


@contextlib.contextmanager
def _warnings_after_success():
    """Hold back the warnings pynwb/hdmf give while reading, so that a refused file gives one line, not warnings
    and then the error; :func:`_replay` shows them once the file was read.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        yield caught


def _replay(caught) -> None:
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _is_file_object(source) -> bool:
    return hasattr(source, "read") and hasattr(source, "seek") and not isinstance(source, (str, os.PathLike))


def source_name(source) -> str:
    """A name for a recording source in messages: the path, a file object's name, or the NWB identifier."""
    from pynwb import NWBFile

    if isinstance(source, NWBFile):
        return str(source.session_id or source.identifier)
    if _is_file_object(source):
        name = getattr(source, "name", None) or getattr(source, "url", None)
        return str(name) if isinstance(name, (str, os.PathLike)) else "<file object>"
    return os.fspath(source)


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

    The same object whatever the file's layout (see :class:`neurorl.io.spec.RecordingSpec`).

    Attributes
    ----------
    session
        Session name (the file's stem).
    units
        One row per unit (or ROI / fiber channel for traces), indexed by unit id (``unit``: the NWB unit id,
        or the ROI id / channel index); ``spike_times`` holds a float64 array of spike times (s) per unit
        (spikes only), ``cell_type`` a string (empty when not given), and ``unit_name`` / ``electrodes`` /
        ``location`` where the file's table has them.
    trials
        One row per trial, indexed by ``trial`` (0, 1, ...), with ``start_time``, ``stop_time``,
        ``reward_time`` (s), ``reward_volume`` (µl, NaN = no reward), ``trial_type``, ``align_time`` (s,
        the event the response window follows) and ``baseline_time`` (s, the event the baseline window is
        relative to).
    path
        The file read, if any.
    subject_id
        The file's ``Subject.subject_id`` (empty when absent): session stems can repeat across animals.
    signal
        ``"spikes"`` or ``"dff"``.
    trace, trace_times
        For ``signal = "dff"``: the trace (time, cell) in ΔF/F and its sample times (s).
    unit_types
        Units analysed per ``cell_type`` (empty when the table has no ``cell_type`` column).
    """

    session: str
    units: pd.DataFrame
    trials: pd.DataFrame
    path: Path | None = None
    subject_id: str = ""
    signal: str = "spikes"
    trace: np.ndarray | None = None
    trace_times: np.ndarray | None = None
    unit_types: dict = field(default_factory=dict)

    @property
    def unit_ids(self) -> np.ndarray:
        """Unit ids, in table order."""
        return self.units.index.to_numpy()

    def spike_times(self, unit_id: int) -> np.ndarray:
        """Spike times (s) of one unit."""
        return self.units.at[unit_id, "spike_times"]


@data_first(2)
def write_dopamine(
    spike_times: Mapping[int, np.ndarray] | Sequence[np.ndarray],
    trials: pd.DataFrame,
    path: str | os.PathLike,
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
    spike_times
        Spike times (s) per unit: a mapping from unit id to array, or a sequence (ids 0, 1, ...).
    trials
        Table with ``start_time``, ``stop_time``, ``reward_time`` (s), ``reward_volume`` (µl, NaN = no
        reward) and optionally ``trial_type`` (``uncued``/``cued``/``other``).
    path
        Target ``.nwb`` file (written atomically). The data come first and the path last, as in every
        neurorl writer; the old order ``write_dopamine(path, spike_times, trials)`` still works, with a
        :class:`DeprecationWarning`.
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
    _add_trials(nwbfile, trials, reward_events)
    return write_nwbfile(nwbfile, path)


def _add_trials(nwbfile, trials: pd.DataFrame, reward_events: bool) -> None:
    """The trials table (and, with ``reward_events``, an EventsTable ``reward``) of a dopamine recording."""
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


@data_first(2)
def write_dopamine_trace(
    dff: np.ndarray,
    trials: pd.DataFrame,
    path: str | os.PathLike,
    *,
    rate_hz: float,
    starting_time: float = 0.0,
    cell_types: Sequence[str] | None = None,
    reward_events: bool = False,
    session_description: str = "Dopamine neurons imaged (ΔF/F) in a variable-reward task",
    **metadata,
) -> Path:
    """Write a two-photon-style ΔF/F recording: ``processing/ophys/DfOverF/RoiResponseSeries`` + trials.

    Parameters
    ----------
    dff
        ΔF/F, shape (frames, ROIs).
    trials
        As for :func:`write_dopamine`.
    path
        Target ``.nwb`` file (written atomically; the old path-first order still works, with a warning).
    rate_hz
        Frame rate (Hz); frame ``k`` is at ``starting_time + k / rate_hz`` s.
    cell_types
        Optional label per ROI, stored as the PlaneSegmentation column ``cell_type``.
    reward_events, session_description, **metadata
        As for :func:`write_dopamine`.
    """
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel, RoiResponseSeries

    dff = np.asarray(dff)
    if dff.ndim != 2 or dff.shape[1] == 0:
        raise InvalidArgumentError(f"dff must have shape (frames, ROIs), got {dff.shape}")
    missing = [c for c in ("start_time", "stop_time", "reward_time", "reward_volume") if c not in trials]
    if missing:
        raise InvalidArgumentError(f"trials table lacks columns {missing}")
    nwbfile = new_nwbfile(session_description=session_description, **metadata)
    device = nwbfile.create_device(name="Microscope", description="two-photon microscope")
    channel = OpticalChannel(name="GreenChannel", description="GCaMP emission", emission_lambda=510.0)
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlane", optical_channel=channel, imaging_rate=float(rate_hz), description="VTA imaging plane",
        device=device, excitation_lambda=920.0, indicator="GCaMP6f", location="VTA")
    segmentation = ImageSegmentation(name="ImageSegmentation")
    rois = segmentation.create_plane_segmentation(name="PlaneSegmentation", description="somatic ROIs",
                                                  imaging_plane=plane)
    if cell_types is not None:
        rois.add_column(name="cell_type", description="cell type of the ROI (e.g. dopamine)")
    side = int(np.ceil(np.sqrt(dff.shape[1])))
    for k in range(dff.shape[1]):
        row = {"pixel_mask": [(4 * (k % side), 4 * (k // side), 1.0)]}
        if cell_types is not None:
            row["cell_type"] = str(cell_types[k])
        rois.add_roi(**row)
    module = nwbfile.create_processing_module(name="ophys", description="optical physiology")
    module.add(segmentation)
    region = rois.create_roi_table_region(region=list(range(dff.shape[1])), description="every ROI")
    from hdmf.backends.hdf5 import H5DataIO

    container = DfOverF(name="DfOverF")
    module.add(container)
    container.add_roi_response_series(RoiResponseSeries(
        name="RoiResponseSeries", data=H5DataIO(dff, compression="gzip", shuffle=True), rois=region, unit="n.a.",
        rate=float(rate_hz), starting_time=float(starting_time), description="ΔF/F per ROI"))
    _add_trials(nwbfile, trials, reward_events)
    return write_nwbfile(nwbfile, path)


def _make_units(spike_times: Mapping[int, np.ndarray], cell_types, resolution: float):
    from hdmf.backends.hdf5 import H5DataIO
    from hdmf.common import VectorData, VectorIndex
    from pynwb.misc import Units

    # built from one flat numpy array and its end offsets: ``Units.add_unit`` would append every spike time to
    # a Python list (about 40 bytes per spike while writing), which dominated the memory of writing big
    # sessions. Spike times are stored gzip-compressed with shuffle (lossless; they dominate the file size).
    ids = [int(unit_id) for unit_id in spike_times]
    trains = [np.asarray(times, dtype=float).ravel() for times in spike_times.values()]
    flat = np.concatenate(trains) if trains else np.empty(0)
    ends = np.cumsum([t.size for t in trains]).astype(np.uint64)
    times = VectorData(name="spike_times", description="the spike times for each unit in seconds",
                       data=H5DataIO(flat, compression="gzip", compression_opts=4, shuffle=True))
    columns = [times, VectorIndex(name="spike_times_index", data=ends, target=times)]
    if cell_types is not None:
        columns.append(VectorData(name="cell_type", description="cell type of the unit (e.g. dopamine)",
                                  data=[str(cell_types[unit_id]) for unit_id in spike_times]))
    return Units(name="units", description="sorted single units", resolution=float(resolution), id=ids,
                 columns=columns)


def read_dopamine(source, spec=None, *, session: str | None = None, allow_external_links: bool = False,
                  **options) -> DopamineRecording:
    """Read a dopamine recording from NWB, in any layout a :class:`~neurorl.io.spec.RecordingSpec` describes.

    Parameters
    ----------
    source
        Path of an NWB file, an open :class:`pynwb.NWBFile`, or a binary file-like object (e.g. from
        ``remfile`` / ``fsspec`` for a streamed DANDI asset).
    spec
        Where the data are (:class:`~neurorl.io.spec.RecordingSpec`); default: neurorl's own layout.
    session
        Session name; default the file's stem (for an open NWBFile its ``session_id`` or identifier).
    allow_external_links
        Read HDF5 external links (and external storage) to other files instead of refusing the file.
    **options
        Spec keys overriding ``spec`` (``units="processing/ecephys/units"``, ``reward_column=...``).

    Returns
    -------
    DopamineRecording
        Units (or trace) and trials as labelled tables; nothing computed.

    Raises
    ------
    MissingDataError
        Missing file, no Units table (or several, none chosen), a named table, column or series absent (the
        message lists what the file has), no units, no trials, no rewarded trial.
    InvalidRecordingError
        Empty, non-HDF5, corrupt or non-NWB file; negative or unsorted spike times; infinite or negative reward
        sizes; reward times outside the trials they belong to; events outside every trial.

    Examples
    --------
    >>> rec = read_dopamine("session.nwb", units="processing/ecephys/units",
    ...                     reward_column="reward_size", align_column="outcome_time")  # doctest: +SKIP
    """
    from pynwb import NWBFile

    from .spec import RecordingSpec

    spec = (spec or RecordingSpec()).replace(**options)
    name = source_name(source)
    path = None if isinstance(source, NWBFile) or _is_file_object(source) else Path(source)
    if session is None:
        if path is not None:
            session = path.stem
        elif isinstance(source, NWBFile):
            session = str(source.session_id or source.identifier)
        else:
            session = Path(name).stem if name != "<file object>" else "recording"
    with open_nwb(source, allow_external_links=allow_external_links) as nwbfile:
        try:
            trials = _read_trials(nwbfile, spec, name)
            if spec.signal == "dff":
                units, trace, trace_times = _read_trace(nwbfile, spec, name)
                unit_types = {}
            else:
                units, unit_types = _read_units(nwbfile, spec, name)
                trace = trace_times = None
            subject = getattr(nwbfile, "subject", None)
            subject_id = str(getattr(subject, "subject_id", "") or "") if subject is not None else ""
        except (MissingDataError, InvalidRecordingError, InvalidArgumentError):
            raise
        except Exception as exc:
            raise NotNWBError(f"cannot be read as a dopamine recording ({_short(exc)})", name) from None
    return DopamineRecording(session=str(session), units=units, trials=trials, path=path, subject_id=subject_id,
                             signal=spec.signal, trace=trace, trace_times=trace_times, unit_types=unit_types)


def dopamine_files(folder: str | os.PathLike) -> list[Path]:
    """The ``*.nwb`` files of ``folder`` (sorted by name); a single file gives itself."""
    folder = Path(folder)
    if not folder.exists():
        raise RecordingNotFoundError("no such file or folder", folder)
    if folder.is_file():
        return [folder]
    files = sorted(f for f in folder.glob("*.nwb") if not f.name.startswith("."))
    if not files:
        raise MissingDataError("folder holds no .nwb files", folder)
    return files


def read_dopamine_folder(folder: str | os.PathLike, spec=None, **options) -> list[DopamineRecording]:
    """Read every ``*.nwb`` file of ``folder`` (sorted by name); a single file is accepted too.

    ``spec`` and ``**options`` as in :func:`read_dopamine`. For data bigger than memory use
    :func:`iter_dopamine_folder`, which reads one session at a time.
    """
    return list(iter_dopamine_folder(folder, spec, **options))


def iter_dopamine_folder(folder: str | os.PathLike, spec=None, **options) -> Iterator[DopamineRecording]:
    """Yield the sessions of ``folder`` one at a time (only one session is in memory at once)."""
    for path in dopamine_files(folder):
        yield read_dopamine(path, spec, **options)


# ----------------------------------------------------------------------------------- finding things by path
_TRACE_TYPES = ("RoiResponseSeries", "FiberPhotometryResponseSeries")


def nwb_objects(nwbfile) -> list[tuple[str, object]]:
    """Every data object of an NWB file with its path (``units``, ``acquisition/X``, ``processing/M/X/Y``)."""
    from hdmf.common import DynamicTable
    from pynwb.base import TimeSeries

    found: list[tuple[str, object]] = []

    def walk(prefix: str, obj) -> None:
        found.append((prefix, obj))
        if isinstance(obj, (DynamicTable, TimeSeries)):
            return
        for child in getattr(obj, "children", ()) or ():
            child_name = getattr(child, "name", None)
            if child_name:
                walk(f"{prefix}/{child_name}", child)

    if nwbfile.units is not None:
        found.append(("units", nwbfile.units))
    if nwbfile.trials is not None:
        found.append(("intervals/trials", nwbfile.trials))
    for name, obj in (getattr(nwbfile, "events", None) or {}).items():
        found.append((f"events/{name}", obj))
    for name, obj in nwbfile.acquisition.items():
        walk(f"acquisition/{name}", obj)
    for module_name, module in nwbfile.processing.items():
        for name, obj in module.data_interfaces.items():
            walk(f"processing/{module_name}/{name}", obj)
    return found


def _type_name(obj) -> str:
    return type(obj).__name__


def _listing(items: Sequence[str], none: str = "none") -> str:
    items = list(items)
    if not items:
        return none
    return ", ".join(items[:12]) + (f" ... ({len(items)} in all)" if len(items) > 12 else "")


def _find(nwbfile, path: str, kind: str, accept, name: str):
    objects = nwb_objects(nwbfile)
    wanted = path.strip("/")
    for object_path, obj in objects:
        if object_path == wanted or (object_path == "units" and wanted in ("units", "Units")):
            if not accept(obj):
                raise MissingTableError(f"'{path}' is a {_type_name(obj)}, not a {kind}", name)
            return obj
    candidates = [p for p, o in objects if accept(o)]
    raise MissingTableError(f"no {kind} at '{path}'; {kind}s in the file: {_listing(candidates)}", name)


def _is_units(obj) -> bool:
    from hdmf.common import DynamicTable

    return isinstance(obj, DynamicTable) and "spike_times" in obj.colnames


def _is_trace(obj) -> bool:
    from pynwb.base import TimeSeries

    return isinstance(obj, TimeSeries)


# ------------------------------------------------------------------------------------------------ units
_RAGGED_SKIP = ("spike_times", "obs_intervals", "waveform_mean", "waveform_sd", "waveforms", "spike_amplitudes")


def _table_columns(table, skip: Sequence[str] = _RAGGED_SKIP) -> dict[str, np.ndarray]:
    """Scalar columns of a DynamicTable as arrays (bytes decoded); ``electrodes`` as ';'-joined indices."""
    from hdmf.common import VectorIndex

    columns: dict[str, np.ndarray] = {}
    for column in table.colnames:
        if column in skip:
            continue
        data = table[column]
        if isinstance(data, VectorIndex):
            if column != "electrodes":
                continue
            ends = np.asarray(data.data[:], dtype=np.int64)
            flat = np.asarray(data.target.data[:])
            starts = np.concatenate([[0], ends[:-1]])
            columns[column] = np.array([";".join(map(str, flat[a:b])) for a, b in zip(starts, ends, strict=True)])
            continue
        values = np.asarray(data.data[:])
        if values.ndim != 1:
            continue
        if values.dtype.kind in "OS":
            values = np.array([v.decode() if isinstance(v, bytes) else v for v in values], dtype=object)
        columns[column] = values
    return columns


def _select(meta: pd.DataFrame, unit_filter: str | None, where: str, what: str) -> np.ndarray:
    """Boolean mask of the rows of ``meta`` kept by ``unit_filter`` (a pandas query)."""
    if unit_filter is None:
        return np.ones(len(meta), dtype=bool)
    try:
        kept = meta.reset_index().query(unit_filter, engine="python")
    except Exception as exc:  # pandas raises UndefinedVariableError, SyntaxError, TypeError, ...
        raise MissingColumnError(
            f"unit_filter {unit_filter!r} does not apply to the {what} ({_short(exc)}); its columns: "
            f"{_listing([meta.index.name or 'unit', *meta.columns])}", where) from None
    mask = np.zeros(len(meta), dtype=bool)
    mask[kept.index.to_numpy()] = True
    return mask


def _read_units(nwbfile, spec, where: str) -> tuple[pd.DataFrame, dict]:
    from pynwb.misc import Units

    if spec.units is not None:
        units = _find(nwbfile, spec.units, "Units table", _is_units, where)
    elif nwbfile.units is not None:
        units = nwbfile.units
    else:
        found = [p for p, o in nwb_objects(nwbfile) if isinstance(o, Units) or _is_units(o)]
        if not found:
            traces = [p for p, o in nwb_objects(nwbfile) if _type_name(o) in _TRACE_TYPES]
            hint = f" (it has the trace {traces[0]}: use signal = 'dff', --signal dff)" if traces else ""
            raise MissingTableError("no Units table in the file (top-level units or in a processing module)"
                                    f"{hint}; objects in the file: {_listing(p for p, _ in nwb_objects(nwbfile))}",
                                    where)
        if len(found) > 1:
            raise MissingTableError(f"several Units tables ({_listing(found)}); choose one with --units / "
                                    "units = \"...\"", where)
        units = _find(nwbfile, found[0], "Units table", _is_units, where)
    if len(units.id) == 0:
        raise EmptyTableError("the Units table has no units", where)
    if "spike_times" not in units.colnames:
        raise MissingColumnError("the Units table has no 'spike_times' column", where)
    ids = np.asarray(units.id.data[:], dtype=np.int64)
    meta = pd.DataFrame(_table_columns(units), index=pd.Index(ids, name="unit"))
    keep = _select(meta, spec.unit_filter, where, "Units table")
    if not keep.any():
        raise EmptyTableError(f"no unit passes unit_filter {spec.unit_filter!r} (of {len(ids)} units)", where)
    spike_index = units["spike_times"]  # VectorIndex into the flat spike_times VectorData
    ends = np.asarray(spike_index.data[:], dtype=np.int64)
    target = spike_index.target.data
    if np.unique(ids).size != ids.size:
        raise InvalidRecordingError("the Units table's ids are not unique", where)
    if len(target.shape) != 1:
        raise SpikeTimesError(f"spike_times has shape {tuple(target.shape)}, expected a vector", where)
    n_spikes = int(target.shape[0])
    if ends.shape != ids.shape or np.any(np.diff(ends) < 0) or (ends.size and (ends[0] < 0 or ends[-1] != n_spikes)):
        raise SpikeTimesError(f"spike_times_index (ends {ends[:4].tolist()}...) does not split the {n_spikes} spike "
                              f"times into {ids.size} units", where)
    starts = np.concatenate([[0], ends[:-1]])
    spikes = []
    for unit_id, start, end, kept in zip(ids, starts, ends, keep, strict=True):
        if not kept:
            continue
        times = np.asarray(target[start:end], dtype=float)
        if times.size and (times[0] < 0 or not np.all(np.isfinite(times))):
            if np.any(times < 0):
                raise SpikeTimesError(f"unit {unit_id} has negative spike times", where)
            raise SpikeTimesError(f"unit {unit_id} has non-finite spike times", where)
        if np.any(np.diff(times) < 0):
            raise SpikeTimesError(f"unit {unit_id} spike times are not sorted", where)
        spikes.append(times)
    meta = meta.loc[keep]
    table = pd.DataFrame({"spike_times": pd.Series(spikes, dtype=object).to_numpy()}, index=meta.index)
    if "cell_type" in meta:
        table["cell_type"] = [str(v) for v in meta["cell_type"]]
    else:
        table["cell_type"] = ""
    for column in ("unit_name", "electrodes", "location"):
        if column in meta:
            table[column] = [str(v) for v in meta[column]]
    unit_types = (dict(pd.Series(table["cell_type"]).value_counts(sort=False).sort_index())
                  if "cell_type" in meta else {})
    return table, {str(k): int(v) for k, v in unit_types.items()}


# ------------------------------------------------------------------------------------------------ traces
def _read_trace(nwbfile, spec, where: str) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    if spec.series is not None:
        series = _find(nwbfile, spec.series, "TimeSeries", _is_trace, where)
    else:
        found = [p for p, o in nwb_objects(nwbfile) if _type_name(o) in _TRACE_TYPES]
        if len(found) != 1:
            others = [p for p, o in nwb_objects(nwbfile) if _is_trace(o)]
            problem = "no RoiResponseSeries or FiberPhotometryResponseSeries" if not found else \
                f"several traces ({_listing(found)})"
            raise MissingTableError(f"{problem}; choose one with --series / series = \"...\" (series in the file: "
                                    f"{_listing(others)})", where)
        series = _find(nwbfile, found[0], "TimeSeries", _is_trace, where)
    data = np.asarray(series.data[:], dtype=float)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[0] < 2:
        raise InvalidRecordingError(f"series '{series.name}' must have shape (time, channels), got {data.shape}",
                                    where)
    if series.timestamps is not None:
        times = np.asarray(series.timestamps[:], dtype=float)
    else:
        rate = float(series.rate)
        times = float(series.starting_time or 0.0) + np.arange(data.shape[0]) / rate
    if times.size != data.shape[0] or np.any(np.diff(times) <= 0):
        raise InvalidRecordingError(f"series '{series.name}' sample times are not increasing", where)
    ids = np.arange(data.shape[1], dtype=np.int64)
    meta = pd.DataFrame(index=pd.Index(ids, name="unit"))
    rois = getattr(series, "rois", None)
    if rois is not None:
        rows = np.asarray(rois.data[:], dtype=np.int64)
        table = rois.table
        ids = np.asarray(table.id.data[:], dtype=np.int64)[rows]
        columns = _table_columns(table, skip=("image_mask", "pixel_mask", "voxel_mask"))
        meta = pd.DataFrame({k: v[rows] for k, v in columns.items()}, index=pd.Index(ids, name="unit"))
    keep = _select(meta, spec.unit_filter, where, f"ROIs/channels of '{series.name}'")
    if not keep.any():
        raise EmptyTableError(f"no ROI/channel passes unit_filter {spec.unit_filter!r}", where)
    meta = meta.loc[keep]
    units = pd.DataFrame({"cell_type": [str(v) for v in meta["cell_type"]] if "cell_type" in meta else ""},
                         index=meta.index)
    if "location" in meta:
        units["location"] = [str(v) for v in meta["location"]]
    return units, data[:, keep], times


# ------------------------------------------------------------------------------------------------ trials
def _read_trials(nwbfile, spec, where: str) -> pd.DataFrame:
    trials = nwbfile.trials
    if trials is None or len(trials.id) == 0:
        raise MissingTableError("no trials table (nwbfile.trials)", where)
    columns = _table_columns(trials, skip=())
    for name in ("start_time", "stop_time"):
        columns.setdefault(name, np.asarray(trials[name].data[:], dtype=float))
    frame = pd.DataFrame(columns)

    def events(column: str):
        found = _reward_events(nwbfile, column)
        if found is None:
            tables = [f"{p} ({_listing(o.colnames)})" for p, o in nwb_objects(nwbfile) if p.startswith("events/")]
            return None, tables
        return found, []

    return trials_from_table(frame, spec, where, events=events)


def trials_from_table(frame: pd.DataFrame, spec=None, where: str | None = None, *, events=None) -> pd.DataFrame:
    """Apply a spec's trials options to a lab's trials table: the trials table of a recording.

    Parameters
    ----------
    frame
        One row per trial with ``start_time``, ``stop_time`` (s) and the columns the spec names.
    spec
        :class:`~neurorl.io.spec.RecordingSpec` (``reward_column``, ``reward_scale``, ``align_column``,
        ``baseline_column``, ``trial_type_column``); default neurorl's names.
    where
        File (or object) named in errors.
    events
        Optional ``events(column) -> ((times, sizes) | None, [descriptions of the event tables])`` giving
        reward events when the trials table lacks the reward column.

    Returns
    -------
    pandas.DataFrame
        ``start_time``, ``stop_time``, ``reward_time``, ``reward_volume`` (µl), ``trial_type``, ``align_time``,
        ``baseline_time``, indexed by ``trial``.
    """
    from .spec import RecordingSpec

    spec = spec or RecordingSpec()
    have = list(dict.fromkeys(["start_time", "stop_time", *frame.columns]))

    def column(name: str, role: str) -> np.ndarray:
        if name not in frame:
            raise MissingColumnError(f"the trials table has no {role} column '{name}'; its columns: "
                                     f"{_listing(have)}", where)
        try:
            return np.asarray(frame[name], dtype=float)
        except (TypeError, ValueError):
            raise InvalidRecordingError(f"trials column '{name}' ({role}) is not numeric", where) from None

    table = pd.DataFrame({"start_time": column("start_time", "start"), "stop_time": column("stop_time", "stop")})
    if not np.all(np.isfinite(table.to_numpy())) or np.any(table["stop_time"] < table["start_time"]):
        raise InvalidRecordingError("trial start/stop times are not finite, or a trial stops before it starts", where)
    reward_column = spec.reward_column
    if reward_column in frame:
        volume = column(reward_column, "reward")
        if spec.align_column == "reward_time" and "reward_time" not in frame:
            raise MissingColumnError(f"the trials table has '{reward_column}' but no 'reward_time' column to align "
                                     f"the responses to (set align_column); its columns: {_listing(have)}", where)
        reward_time = column("reward_time" if "reward_time" in frame else spec.align_column, "reward time")
    else:
        found, tables = events(reward_column) if events is not None else (None, [])
        if found is None:
            raise MissingColumnError(
                f"no reward column '{reward_column}': not in the trials table (its columns: {_listing(have)}) "
                f"nor in an EventsTable{' (' + '; '.join(tables) + ')' if tables else ''}", where)
        reward_time, volume = _assign_events(table, *found, where)
    align_time = reward_time if spec.align_column == "reward_time" else column(spec.align_column, "align")
    baseline_time = column(spec.baseline_column, "baseline")
    volume = volume * spec.reward_scale
    _check_volumes(volume, reward_column, where)
    table["reward_time"] = reward_time
    table["reward_volume"] = volume
    type_column = spec.trial_type_column or ("trial_type" if "trial_type" in frame else None)
    if type_column is not None:
        if type_column not in frame:
            raise MissingColumnError(f"the trials table has no trial type column '{type_column}'; its columns: "
                                     f"{_listing(have)}", where)
        values = [v.decode() if isinstance(v, bytes) else str(v) for v in frame[type_column]]
        unknown = sorted(set(values) - set(TRIAL_TYPES))
        if unknown:
            raise InvalidRecordingError(f"trial types must be {'/'.join(TRIAL_TYPES)}; column '{type_column}' also "
                                        f"has {_listing(map(repr, unknown))}", where)
        table["trial_type"] = values
    else:
        table["trial_type"] = "other"
    table["align_time"] = align_time
    table["baseline_time"] = baseline_time
    table.index = pd.RangeIndex(len(table), name="trial")

    if not np.any(np.isfinite(volume)):
        raise NoRewardError(f"every {reward_column} is NaN: no rewarded trial", where)
    bad = np.isfinite(volume) & ~np.isfinite(align_time)
    if bad.any():
        raise RewardTimesError(f"{bad.sum()} rewarded trials have no {spec.align_column} (first: trial "
                               f"{np.flatnonzero(bad)[0]})", where)
    bad = np.isfinite(volume) & ~np.isfinite(baseline_time)
    if bad.any():
        raise RewardTimesError(f"{bad.sum()} rewarded trials have no {spec.baseline_column} (first: trial "
                               f"{np.flatnonzero(bad)[0]})", where)
    with np.errstate(invalid="ignore"):
        outside = np.isfinite(reward_time) & ((reward_time < table["start_time"].to_numpy())
                                              | (reward_time > table["stop_time"].to_numpy()))
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        raise RewardTimesError(
            f"{outside.sum()} reward times lie outside their trial (first: trial {first}, reward at "
            f"{reward_time[first]:.3f} s, trial {table['start_time'].iat[first]:.3f}-{table['stop_time'].iat[first]:.3f} s)",
            where,
        )
    return table


def _check_volumes(volume: np.ndarray, column: str, where: str) -> None:
    """Refuse infinite or negative reward sizes (NaN means no reward and is allowed)."""
    infinite = np.isinf(volume)
    if infinite.any():
        first = int(np.flatnonzero(infinite)[0])
        raise RewardVolumeError(f"{column} is infinite on {infinite.sum()} trials (first: trial {first}); "
                                "use NaN for a trial without reward", where)
    with np.errstate(invalid="ignore"):
        negative = volume < 0
    if negative.any():
        first = int(np.flatnonzero(negative)[0])
        raise RewardVolumeError(f"{column} is negative on {negative.sum()} trials (first: trial {first}, "
                                f"{volume[first]:g}); reward sizes must be >= 0 µl", where)


def _reward_events(nwbfile, column: str = "reward_volume"):
    """Reward events (times in s, sizes in the column's unit) from an EventsTable with ``column``."""
    tables = list(getattr(nwbfile, "events", {}).values()) if getattr(nwbfile, "events", None) else []
    for table in tables:
        if column in table.colnames:
            return (np.asarray(table["timestamp"].data[:], dtype=float),
                    np.asarray(table[column].data[:], dtype=float))
    return None


def _assign_events(trials: pd.DataFrame, times: np.ndarray, volumes: np.ndarray, where):
    start = trials["start_time"].to_numpy()
    stop = trials["stop_time"].to_numpy()
    reward_time = np.full(len(trials), np.nan)
    reward_volume = np.full(len(trials), np.nan)
    order = np.argsort(start, kind="stable")
    position = np.searchsorted(start[order], times, side="right") - 1
    for event, pos in enumerate(position):
        trial = order[pos] if pos >= 0 else -1
        if trial < 0 or times[event] > stop[trial]:
            raise RewardTimesError(f"reward event at {times[event]:.3f} s lies outside every trial", where)
        if np.isfinite(reward_time[trial]):
            raise RewardTimesError(f"trial {trial} has more than one reward event", where)
        reward_time[trial] = times[event]
        reward_volume[trial] = volumes[event]
    return reward_time, reward_volume
