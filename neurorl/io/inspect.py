"""What an NWB recording holds, in words: the tables, their columns with a few values, the series with their
shape and rate, so that a user can write the recording spec (``recording.toml``) for a lab's layout.
"""

from __future__ import annotations

import numpy as np

from .nwb import _table_columns, nwb_objects, open_nwb, source_name

__all__ = ["describe_nwb"]

_N_VALUES = 4


def _values(values: np.ndarray) -> str:
    values = np.asarray(values)
    if values.size == 0:
        return "(empty)"
    if values.dtype.kind in "fiu":
        finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
        unique = np.unique(finite)
        head = ", ".join(f"{v:g}" for v in unique[:_N_VALUES])
        more = f", ... ({unique.size} distinct, range {unique.min():g} to {unique.max():g})" if unique.size > _N_VALUES \
            else ""
        nan = f"; {int(np.sum(~np.isfinite(values)))} NaN" if values.dtype.kind == "f" and not np.all(
            np.isfinite(values)) else ""
        return head + more + nan if unique.size else "all NaN"
    unique, counts = np.unique(values.astype(str), return_counts=True)
    shown = ", ".join(f"'{u}' ({c})" for u, c in zip(unique[:_N_VALUES], counts[:_N_VALUES], strict=True))
    return shown + (f", ... ({unique.size} distinct)" if unique.size > _N_VALUES else "")


def _table(lines: list[str], path: str, table, what: str) -> None:
    lines.append(f"{what} {path}: {len(table.id)} rows")
    if "spike_times" in table.colnames:
        ends = np.asarray(table["spike_times"].data[:], dtype=np.int64)
        counts = np.diff(np.concatenate([[0], ends]))
        if counts.size:
            lines.append(f"    spike_times: {int(counts.sum())} spikes, {int(counts.min())} to {int(counts.max())} "
                         "per unit")
    columns = _table_columns(table, skip=("spike_times", "obs_intervals", "waveform_mean", "waveform_sd",
                                          "waveforms", "image_mask", "pixel_mask", "voxel_mask"))
    if "start_time" in getattr(table, "colnames", ()) or what == "trials":
        for name in ("start_time", "stop_time"):
            if name not in columns and name in table:
                columns = {name: np.asarray(table[name].data[:]), **columns}
    for name, values in columns.items():
        lines.append(f"    {name}: {_values(values)}")


def describe_nwb(source) -> str:
    """A text description of an NWB recording (path, open ``NWBFile`` or file object).

    Returns
    -------
    str
        Subject and session, then every table (Units tables, trials, EventsTables, ROI tables) with its columns
        and a few values, and every series with its type, shape (time, channels) and rate, each named by the
        path a recording spec uses (``units = "..."``, ``series = "..."``).
    """
    from hdmf.common import DynamicTable
    from pynwb.base import TimeSeries

    lines: list[str] = []
    with open_nwb(source) as nwbfile:
        subject = getattr(nwbfile, "subject", None)
        lines.append(f"file: {source_name(source)}")
        lines.append(f"session: {nwbfile.session_id or nwbfile.identifier} ({nwbfile.session_description})")
        if subject is not None:
            lines.append(f"subject: {subject.subject_id} ({subject.species or 'species not given'})")
        for path, obj in nwb_objects(nwbfile):
            kind = type(obj).__name__
            if path == "intervals/trials":
                _table(lines, path, obj, "trials")
            elif isinstance(obj, DynamicTable):
                _table(lines, path, obj, "Units table" if "spike_times" in obj.colnames else kind)
            elif isinstance(obj, TimeSeries):
                shape = tuple(obj.data.shape)
                if obj.rate is not None:
                    timing = f"{obj.rate:g} Hz from {obj.starting_time or 0:g} s"
                else:
                    stamps = obj.timestamps
                    timing = (f"timestamps {float(stamps[0]):g} to {float(stamps[-1]):g} s" if len(stamps)
                              else "no timestamps")
                lines.append(f"{kind} {path}: shape {shape} (time, channels), {timing}, unit {obj.unit!r}")
                rois = getattr(obj, "rois", None)
                if rois is not None:
                    lines.append(f"    rois: {len(rois.data)} rows of {rois.table.name}")
            elif kind not in ("ProcessingModule",):
                lines.append(f"{kind} {path}")
    return "\n".join(lines)
