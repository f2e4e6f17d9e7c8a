"""Import the Eshel / Uchida lab "CommonFormat" MATLAB files (variable-reward task) into NWB.

These are the files of the 40 optogenetically identified VTA dopamine neurons analysed by Dabney et al.
(Nature 2020): one MATLAB v5 file per cell, holding a struct ``events`` (trial events, ms) and a struct
``responses`` (the cell's spike times, ms, on the same clock).

What the importer does, per file
    - one NWB trial per entry of ``events.odorOn``; ``start_time`` = the alignment time (s);
    - ``trialType`` 1-7: uncued reward of 0.1, 0.3, 1.2, 2.5, 5, 10, 20 µl, delivered at the alignment
      time; 8-14: odour-cued reward of the same sizes, delivered 1.5 s after odour onset; 15 and NaN:
      ``trial_type = "other"``, no reward (``reward_time`` and ``reward_volume`` NaN; the trials are kept);
      ``events.rewardOn`` is NaN in every file, so reward times are derived from the trial type;
    - ``stop_time`` = ``start_time`` + :data:`TRIAL_DURATION_S` (the trial's reward and every response
      window fit inside; trials of these files may overlap their neighbours);
    - a single unit (id 0, ``cell_type = "dopamine"``) with the spike times in s;
    - subject = the file name's first token when it is a single letter (``D``, ``L``, ``O``), else
      ``"unknown"``.

Several files are cells recorded in the same session (identical ``odorOn``); each file still becomes its own
NWB file, named by its stem, and the shared recording is named in ``session_id``.

Keep one module per lab format: a new importer reads its format into the same arrays and calls
:func:`neurorl.io.nwb.write_dopamine`.
"""

from __future__ import annotations

import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InvalidRecordingError, MissingDataError

__all__ = [
    "COMMONFORMAT_REWARD_VOLUMES_UL",
    "CUED_REWARD_DELAY_S",
    "TRIAL_DURATION_S",
    "CommonFormatCell",
    "read_commonformat",
    "commonformat_to_nwb",
    "convert_commonformat_folder",
    "subject_from_name",
]

#: Reward sizes (µl) of trial types 1-7 (uncued) and 8-14 (cued), in order.
COMMONFORMAT_REWARD_VOLUMES_UL: tuple[float, ...] = (0.1, 0.3, 1.2, 2.5, 5.0, 10.0, 20.0)
#: Delay from odour onset to reward on cued trials (s).
CUED_REWARD_DELAY_S: float = 1.5
#: Duration given to every trial (s): the cued reward (1.5 s) plus the response window (to 2.1 s) fit inside.
TRIAL_DURATION_S: float = 3.0

_MS = 1e-3


@dataclass(frozen=True)
class CommonFormatCell:
    """One cell read from a CommonFormat file.

    Attributes
    ----------
    name
        File stem.
    subject_id
        Animal (``D``, ``L``, ``O``) or ``"unknown"``.
    session_id
        Name of the recording the cell belongs to (the file name without tetrode/cluster part).
    spike_times
        Spike times (s), sorted.
    trials
        ``start_time``, ``stop_time``, ``reward_time`` (s), ``reward_volume`` (µl, NaN = no reward),
        ``trial_type`` and ``original_trial_type`` (the file's 1-15, NaN kept).
    """

    name: str
    subject_id: str
    session_id: str
    spike_times: np.ndarray
    trials: pd.DataFrame


def subject_from_name(name: str) -> str:
    """Animal named by a CommonFormat file name: its first ``_`` token if that is one letter, else ``unknown``.

    Examples
    --------
    >>> subject_from_name("D_05-07_15-42-29_TT1_1_Common")
    'D'
    >>> subject_from_name("02_09_TT2_1_CommonFormat_verified")
    'unknown'
    """
    first = Path(name).stem.split("_", 1)[0]
    return first if len(first) == 1 and first.isalpha() else "unknown"


def _session_from_name(name: str) -> str:
    stem = Path(name).stem
    match = re.match(r"(.*?)_TT\d+", stem)
    return match.group(1) if match else stem


def _field(struct, name: str, path: Path):
    if name not in getattr(struct, "_fieldnames", ()):
        raise MissingDataError(f"the MATLAB struct has no field '{name}'", path)
    return getattr(struct, name)


def _vector(value, what: str, path: Path) -> np.ndarray:
    try:
        array = np.atleast_1d(np.asarray(value, dtype=float))
    except (TypeError, ValueError):
        raise InvalidRecordingError(f"{what} is not numeric", path) from None
    if array.ndim != 1:
        raise InvalidRecordingError(f"{what} is not a vector (shape {array.shape})", path)
    return array


def read_commonformat(path: str | os.PathLike) -> CommonFormatCell:
    """Read one CommonFormat MATLAB file.

    Parameters
    ----------
    path
        ``.mat`` file with structs ``events`` (``odorOn``, ``trialType``; ms) and ``responses``
        (``spike``; ms).

    Returns
    -------
    CommonFormatCell
        Spike times and the trials table in seconds (see the module docstring for the trial rules).

    Raises
    ------
    MissingDataError
        Missing file, missing struct or field, no trials.
    InvalidRecordingError
        Not a MATLAB file, corrupt, non-numeric or inconsistent fields (trial types out of 1-15, times not
        finite, odour onsets not increasing), no spikes.
    """
    import scipy.io

    path = Path(path)
    if not path.exists():
        raise MissingDataError("no such file", path)
    if path.is_dir():
        raise InvalidRecordingError("is a folder, expected a MATLAB .mat file", path)
    if path.stat().st_size == 0:
        raise InvalidRecordingError("file is empty", path)
    try:
        content = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    except NotImplementedError:
        raise InvalidRecordingError("MATLAB v7.3 (HDF5) files are not supported; save as v7 or older", path) from None
    except Exception as exc:  # scipy raises ValueError/TypeError/OSError for non-MATLAB or damaged files
        text = str(exc).strip().splitlines()
        raise InvalidRecordingError(f"cannot be read as a MATLAB file ({type(exc).__name__}: "
                                    f"{text[0][:120] if text else ''})", path) from None
    for struct in ("events", "responses"):
        if struct not in content:
            raise MissingDataError(f"no '{struct}' struct in the MATLAB file", path)
    events, responses = content["events"], content["responses"]
    odor_on = _vector(_field(events, "odorOn", path), "events.odorOn", path)
    trial_type = _vector(_field(events, "trialType", path), "events.trialType", path)
    spikes = _vector(_field(responses, "spike", path), "responses.spike", path)

    if odor_on.size == 0:
        raise MissingDataError("events.odorOn is empty: no trials", path)
    if trial_type.size != odor_on.size:
        raise InvalidRecordingError(f"events.trialType has {trial_type.size} entries but events.odorOn has "
                                    f"{odor_on.size}", path)
    if not np.all(np.isfinite(odor_on)):
        raise InvalidRecordingError(f"events.odorOn has {np.sum(~np.isfinite(odor_on))} non-finite entries", path)
    if np.any(np.diff(odor_on) <= 0):
        raise InvalidRecordingError("events.odorOn is not strictly increasing", path)
    known = np.isfinite(trial_type)
    valid = known & (trial_type >= 1) & (trial_type <= 15) & (trial_type == np.round(trial_type))
    if np.any(known & ~valid):
        bad = trial_type[known & ~valid][0]
        raise InvalidRecordingError(f"events.trialType holds {bad:g}; expected 1-15 or NaN", path)
    if spikes.size == 0:
        raise InvalidRecordingError("responses.spike is empty: the cell has no spikes", path)
    if not np.all(np.isfinite(spikes)) or np.any(spikes < 0):
        raise InvalidRecordingError("responses.spike holds negative or non-finite spike times", path)

    start = odor_on * _MS
    kind = np.full(start.size, "other", dtype=object)
    volume = np.full(start.size, np.nan)
    reward_time = np.full(start.size, np.nan)
    code = np.where(known, trial_type, 0).astype(int)
    uncued = (code >= 1) & (code <= 7)
    cued = (code >= 8) & (code <= 14)
    sizes = np.asarray(COMMONFORMAT_REWARD_VOLUMES_UL)
    kind[uncued], kind[cued] = "uncued", "cued"
    volume[uncued] = sizes[code[uncued] - 1]
    volume[cued] = sizes[code[cued] - 8]
    reward_time[uncued] = start[uncued]
    reward_time[cued] = start[cued] + CUED_REWARD_DELAY_S
    trials = pd.DataFrame({
        "start_time": start,
        "stop_time": start + TRIAL_DURATION_S,
        "reward_time": reward_time,
        "reward_volume": volume,
        "trial_type": kind.astype(str),
        "original_trial_type": trial_type,
    })
    return CommonFormatCell(name=path.stem, subject_id=subject_from_name(path.name),
                            session_id=_session_from_name(path.name),
                            spike_times=np.sort(spikes * _MS), trials=trials)


def commonformat_to_nwb(path: str | os.PathLike, out: str | os.PathLike) -> Path:
    """Convert one CommonFormat file to NWB (written atomically).

    Parameters
    ----------
    path
        The ``.mat`` file.
    out
        Target ``.nwb`` file, or a folder: then ``<out>/<file stem>.nwb``.

    Returns
    -------
    pathlib.Path
        The NWB file written.
    """
    from .nwb import write_dopamine

    cell = read_commonformat(path)
    out = Path(out)
    target = out / f"{cell.name}.nwb" if out.suffix != ".nwb" else out
    trials = cell.trials.drop(columns="original_trial_type")
    return write_dopamine(
        {0: cell.spike_times}, trials, target,
        cell_types={0: "dopamine"},
        session_description=("Optogenetically identified VTA dopamine neuron, variable-reward task "
                             "(cued and uncued rewards of 0.1-20 µl); converted from the Eshel/Uchida "
                             "CommonFormat file " + Path(path).name),
        experiment_description=("Variable-reward task analysed in Dabney et al., Nature 577:671 (2020). "
                                "Reward times derived from the trial type: uncued at odorOn, cued 1.5 s "
                                "after odour onset (rewardOn is NaN in the source files)."),
        identifier=str(uuid.uuid5(uuid.NAMESPACE_URL, f"neurorl/commonformat/{cell.name}")),
        session_id=cell.session_id,
        subject_id=cell.subject_id,
        lab="Uchida lab",
        institution="Harvard University",
        keywords=["dopamine", "VTA", "reward prediction error", "variable reward"],
        spike_time_resolution=1e-4,
    )


def convert_commonformat_folder(source: str | os.PathLike, out: str | os.PathLike, *,
                                show_progress: bool = True) -> list[Path]:
    """Convert every ``*.mat`` file of ``source`` (or one file) to ``<out>/<stem>.nwb``.

    Every file is read and checked before anything is written, so a bad file leaves ``out`` untouched.

    Returns
    -------
    list of pathlib.Path
        The NWB files written, in file-name order.
    """
    from .._progress import progress

    source = Path(source)
    if not source.exists():
        raise MissingDataError("no such file or folder", source)
    files = [source] if source.is_file() else sorted(f for f in source.glob("*.mat") if not f.name.startswith("."))
    if not files:
        raise MissingDataError("folder holds no .mat files", source)
    for file in files:  # validate all first
        read_commonformat(file)
    out = Path(out)
    written = []
    try:
        for file in progress(files, desc="convert", disable=None if show_progress else True):
            written.append(commonformat_to_nwb(file, out))
    except BaseException:
        for file in written:
            file.unlink(missing_ok=True)
        raise
    return written
