"""Recordings from other packages' objects: pynapple and spikeinterface.

Each adapter returns the same :class:`~neurorl.io.nwb.DopamineRecording` that the NWB reader returns, so
everything downstream (responses, reversal points, decoding, figures) is unchanged. pynapple and
spikeinterface are optional (``pip install neurorl[pynapple]`` / ``neurorl[spikeinterface]``); they are
imported only when an adapter is called.

The trials table may be a :class:`pandas.DataFrame` (``start_time``, ``stop_time`` and the columns the
spec names) or a pynapple ``IntervalSet`` with metadata columns (``start``/``end`` become
``start_time``/``stop_time``). Column names follow the :class:`~neurorl.io.spec.RecordingSpec`
(``reward_column``, ``align_column``, ...), exactly as for NWB files.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..errors import EmptyTableError, InvalidArgumentError, SpikeTimesError
from .nwb import DopamineRecording, _select, trials_from_table
from .spec import RecordingSpec

__all__ = ["from_pynapple", "from_spikeinterface", "trials_frame"]


def trials_frame(trials: Any) -> pd.DataFrame:
    """A trials table as a DataFrame with ``start_time``/``stop_time`` (from a DataFrame or an IntervalSet)."""
    if isinstance(trials, pd.DataFrame):
        frame = trials.copy()
    elif hasattr(trials, "as_dataframe"):          # pynapple IntervalSet (with metadata columns)
        frame = trials.as_dataframe()
    else:
        raise InvalidArgumentError(f"trials must be a pandas DataFrame or a pynapple IntervalSet, got "
                                   f"{type(trials).__name__}")
    frame = frame.rename(columns={"start": "start_time", "end": "stop_time"})
    return frame.reset_index(drop=True)


def _recording(session: str, subject_id: str, spikes: list[np.ndarray], ids: np.ndarray, meta: pd.DataFrame,
               trials: Any, spec: RecordingSpec, where: str) -> DopamineRecording:
    meta = meta.copy()
    meta.index = pd.Index(ids, name="unit")
    keep = _select(meta, spec.unit_filter, where, "units")
    if not keep.any():
        raise EmptyTableError(f"no unit passes unit_filter {spec.unit_filter!r} (of {len(ids)} units)", where)
    checked = []
    for unit_id, times in zip(ids, spikes, strict=True):
        times = np.asarray(times, dtype=float)
        if times.size and (not np.all(np.isfinite(times)) or times.min() < 0):
            raise SpikeTimesError(f"unit {unit_id} has negative or non-finite spike times", where)
        checked.append(np.sort(times))
    meta = meta.loc[keep]
    units = pd.DataFrame({"spike_times": pd.Series([s for s, k in zip(checked, keep, strict=True) if k],
                                                   dtype=object).to_numpy()}, index=meta.index)
    units["cell_type"] = [str(v) for v in meta["cell_type"]] if "cell_type" in meta else ""
    for column in ("unit_name", "electrodes", "location"):
        if column in meta:
            units[column] = [str(v) for v in meta[column]]
    unit_types = ({str(k): int(v) for k, v in units["cell_type"].value_counts().sort_index().items()}
                  if "cell_type" in meta else {})
    table = trials_from_table(trials_frame(trials), spec, where)
    return DopamineRecording(session=session, units=units, trials=table, subject_id=subject_id,
                             unit_types=unit_types)


def from_pynapple(units: Any, trials: Any, *, session: str = "pynapple", subject_id: str = "",
                  spec: RecordingSpec | None = None, **options) -> DopamineRecording:
    """A recording from a pynapple ``TsGroup`` of units and a trials table.

    Parameters
    ----------
    units
        ``pynapple.TsGroup``; its keys are the unit ids, its metadata columns (e.g. ``cell_type``) can be
        used in ``unit_filter``.
    trials
        ``pynapple.IntervalSet`` with metadata columns, or a DataFrame (see the module docstring).
    session, subject_id
        Labels of the cells (cells.csv).
    spec, **options
        :class:`~neurorl.io.spec.RecordingSpec` and keys overriding it (``reward_column=...``).

    Returns
    -------
    DopamineRecording
    """
    import pynapple  # noqa: F401  (optional dependency: fail here with ImportError when absent)

    spec = (spec or RecordingSpec()).replace(**options)
    if spec.signal != "spikes":
        raise InvalidArgumentError("from_pynapple reads spike times (a TsGroup); signal must be 'spikes'")
    ids = np.asarray(list(units.keys()))
    spikes = [np.asarray(units[k].t, dtype=float) for k in ids]
    meta = getattr(units, "metadata", None)
    meta = pd.DataFrame(meta if meta is not None else units._metadata).drop(columns=["rate"], errors="ignore")
    return _recording(session, subject_id, spikes, ids.astype(np.int64) if ids.dtype.kind in "iu" else ids,
                      meta.reset_index(drop=True), trials, spec, f"pynapple:{session}")


def from_spikeinterface(sorting: Any, trials: Any, *, segment_index: int = 0, session: str = "sorting",
                        subject_id: str = "", spec: RecordingSpec | None = None, **options) -> DopamineRecording:
    """A recording from a spikeinterface ``BaseSorting`` and a trials table.

    Parameters
    ----------
    sorting
        ``spikeinterface.BaseSorting``; spike times are its sample indices divided by its sampling frequency
        (or its registered times). Integer unit ids are kept; other ids become ``unit_name`` with ids 0, 1, ...
        Its unit properties (e.g. ``cell_type``) can be used in ``unit_filter``.
    trials
        DataFrame or pynapple IntervalSet on the sorting's clock (s).
    segment_index
        The segment to read (one session).
    session, subject_id, spec, **options
        As for :func:`from_pynapple`.

    Returns
    -------
    DopamineRecording
    """
    spec = (spec or RecordingSpec()).replace(**options)
    if spec.signal != "spikes":
        raise InvalidArgumentError("from_spikeinterface reads spike times; signal must be 'spikes'")
    unit_ids = list(sorting.get_unit_ids())
    spikes = [np.asarray(sorting.get_unit_spike_train(u, segment_index=segment_index, return_times=True),
                         dtype=float) for u in unit_ids]
    meta = {}
    for key in sorting.get_property_keys():
        values = np.asarray(sorting.get_property(key))
        if values.ndim == 1:
            meta[key] = values
    meta = pd.DataFrame(meta, index=range(len(unit_ids)))
    if all(isinstance(u, (int, np.integer)) for u in unit_ids):
        ids = np.asarray(unit_ids, dtype=np.int64)
    else:
        ids = np.arange(len(unit_ids), dtype=np.int64)
        meta["unit_name"] = [str(u) for u in unit_ids]
    return _recording(session, subject_id, spikes, ids, meta, trials, spec, f"spikeinterface:{session}")
