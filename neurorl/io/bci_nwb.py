"""Read and write brain-computer-interface (BCI) two-photon sessions as NWB ophys files.

One file holds one session (one day) of the BCI task of Francioni et al. (2026), simulated or recorded:

``ophys`` processing module
    ``ImageSegmentation`` with two ``PlaneSegmentation`` tables: ``PlaneSegmentationSoma`` (one row per
    soma / proximal trunk ROI, columns ``ensemble`` = ASCII ``P+`` / ``P-`` / ``P0`` and ``bci_weight``) on
    ``ImagingPlaneSoma``, and ``PlaneSegmentationDendrite`` (distal apical dendrites, column ``parent_soma``, a
    ``DynamicTableRegion`` pointing at the row of the soma each dendrite belongs to) on
    ``ImagingPlaneDendrite``. ``DfOverF`` holds the ΔF/F traces ``RoiResponseSeriesSoma`` and
    ``RoiResponseSeriesDendrite`` (frames x ROIs, both planes at the same frame rate, 15.46 Hz by default).
``behavior`` processing module
    ``BehavioralTimeSeries`` with ``bci_cursor`` (mean ΔF/F of P+ minus mean ΔF/F of P-, smoothed over 3
    frames) and ``grating_angle`` (degrees, 0 = start, 90 = target).
``trials``
    ``start_time``, ``stop_time`` (s), ``target_hit`` (bool), ``rewarded`` (bool), ``time_to_target`` (s,
    NaN on misses), ``threshold`` (cursor units), ``reward_time`` (s, NaN when no reward).
``epochs``
    ``baseline`` (the passive calibration baseline recorded before the closed loop) and ``closed_loop``.
``simulation_ground_truth`` processing module (simulated files only)
    Quantities a real experiment cannot measure (teaching signals, rule, seed, learned drives), clearly
    labelled as simulation ground truth: per-frame arrays as ``TimeSeries``, per-neuron arrays as the columns
    of the ``ground_truth_neurons`` table (rows = soma ROIs), scalars as the one-row ``simulation_settings``
    table.

All times are in seconds from the first frame (frame ``k`` is at ``k / frame_rate_hz``); the baseline occupies
the first ``baseline_frames`` frames. :func:`read_bci_session` also reads real sessions in this layout, for
which the ground-truth module is absent (``ground_truth`` is then ``None``).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidArgumentError, InvalidRecordingError, MissingDataError
from ..recordings import GROUND_TRUTH_FIELDS, BCIRecording
from ._atomic import data_first
from .nwb import _short, new_nwbfile, open_nwb, write_nwbfile

__all__ = [
    "BCIRecording",
    "write_bci_session",
    "read_bci_session",
    "read_bci_folder",
    "list_bci_files",
    "ENSEMBLE_LABELS",
    "GROUND_TRUTH_MODULE",
    "GROUND_TRUTH_FIELDS",
]

#: The ASCII labels of the three ensembles.
ENSEMBLE_LABELS: tuple[str, ...] = ("P+", "P-", "P0")
#: Name of the processing module that holds simulation ground truth.
GROUND_TRUTH_MODULE = "simulation_ground_truth"
_GROUND_TRUTH_DESCRIPTION = (
    "SIMULATION GROUND TRUTH - not measured. Quantities known only because this session was simulated by "
    "neurorl (teaching signals, learning rule, seed, learned drives). A real recording has no such module; "
    "analyses must not use it as data."
)
_TRIAL_COLUMNS = {
    "target_hit": "True if the cursor reached the target (threshold) within the response period",
    "rewarded": "True if a water reward (4 µl) was delivered in this trial",
    "time_to_target": "time from the start of the response period to the hit (s); NaN on misses",
    "threshold": "cursor threshold (target) in force during the trial (cursor units, ΔF/F)",
    "reward_time": "time of reward delivery (s); NaN when no reward was given",
}
#: Descriptions of optional trial columns (written when the session's trials table has them).
_OPTIONAL_TRIAL_COLUMNS = {
    "reward_volume": "reward volume (µl); 0 when no reward",
    "response_start_time": "time the grating appeared after the grey screen (s)",
    "lower_bound_failure": "True if the cursor fell below the baseline minimum (0°), ending the trial as a "
                           "failure with white noise",
    "timed_out": "True if the trial ended with the black time-out (no outcome within the trial's frames)",
    "white_noise_time": "time of the white-noise sound (s); NaN when none",
    "decision_time": "time the trial's fate was decided (s): the hit, the lower-bound crossing, or the last "
                     "frame of the response window (time-out)",
}
_SOMA_PLANE = "ImagingPlaneSoma"
_DENDRITE_PLANE = "ImagingPlaneDendrite"
_SOMA_SEG = "PlaneSegmentationSoma"
_DENDRITE_SEG = "PlaneSegmentationDendrite"
_SOMA_SERIES = "RoiResponseSeriesSoma"
_DENDRITE_SERIES = "RoiResponseSeriesDendrite"
_DEFAULT_START = _dt.datetime(2020, 1, 1, 12, 0, tzinfo=_dt.UTC)


# --------------------------------------------------------------------------------------------------- write
#: Trial columns that are simulation ground truth (stored in the ground-truth module, not in ``trials``).
GROUND_TRUTH_TRIAL_COLUMNS: tuple[str, ...] = ("rpe",)


def _ground_truth_of(session) -> dict[str, Any]:
    gt = getattr(session, "ground_truth", None)
    out: dict[str, Any] = {}
    if isinstance(gt, Mapping):
        out.update(gt)
    for name in GROUND_TRUTH_FIELDS:
        if name not in out and getattr(session, name, None) is not None:
            out[name] = getattr(session, name)
    params = getattr(session, "params", None)
    if isinstance(params, Mapping):
        flat: dict[str, Any] = {}
        for key, value in params.items():
            if isinstance(value, Mapping):  # nested settings, e.g. {"task": {...}, "learner": {...}}
                flat.update({f"{key}_{k}": v for k, v in value.items() if not isinstance(v, Mapping)})
            else:
                flat[key] = value
        for key, value in flat.items():
            if value is not None and np.ndim(value) == 0 and f"param_{key}" not in out:
                out[f"param_{key}"] = value
    return out


def _validate_session(session) -> dict[str, Any]:
    required = ("frame_rate_hz", "soma_dff", "dendrite_dff", "ensemble", "bci_weight", "cursor",
                "grating_angle", "baseline_frames", "trials")
    missing = [n for n in required if getattr(session, n, None) is None]
    if missing:
        raise InvalidArgumentError(f"session lacks fields {missing}")
    soma = np.asarray(session.soma_dff)
    dend = np.asarray(session.dendrite_dff)
    if soma.ndim != 2 or dend.ndim != 2:
        raise InvalidArgumentError("soma_dff and dendrite_dff must be 2-D (frames x neurons)")
    n_frames, n_soma = soma.shape
    parent = getattr(session, "parent_soma", None)
    parent = np.arange(dend.shape[1]) if parent is None else np.asarray(parent, dtype=np.int64)
    if dend.shape[0] != n_frames or parent.shape != (dend.shape[1],):
        raise InvalidArgumentError(
            f"dendrite_dff has shape {dend.shape}; expected ({n_frames}, n_dendrites) with one parent_soma each")
    if parent.size and (parent.min() < 0 or parent.max() >= n_soma):
        raise InvalidArgumentError("parent_soma indices out of range")
    ensemble = np.asarray([str(e) for e in np.asarray(session.ensemble).ravel()])
    bad = sorted(set(ensemble) - set(ENSEMBLE_LABELS))
    if ensemble.shape != (n_soma,) or bad:
        raise InvalidArgumentError(f"ensemble must hold one of {ENSEMBLE_LABELS} per soma (bad: {bad})")
    weight = np.asarray(session.bci_weight, dtype=float)
    cursor = np.asarray(session.cursor, dtype=float)
    angle = np.asarray(session.grating_angle, dtype=float)
    if weight.shape != (n_soma,) or cursor.shape != (n_frames,) or angle.shape != (n_frames,):
        raise InvalidArgumentError("bci_weight must have one value per soma, cursor and grating_angle one per frame")
    rate = float(session.frame_rate_hz)
    baseline = int(session.baseline_frames)
    if not rate > 0 or not 0 <= baseline <= n_frames:
        raise InvalidArgumentError(f"bad frame_rate_hz {rate} or baseline_frames {baseline}")
    trials = pd.DataFrame(session.trials)
    need = ["start_time", "stop_time", "target_hit", "rewarded", "time_to_target", "threshold"]
    lacking = [c for c in need if c not in trials]
    if lacking:
        raise InvalidArgumentError(f"trials table lacks columns {lacking}")
    return dict(soma=soma, dend=dend, parent=parent, ensemble=ensemble, weight=weight, cursor=cursor,
                angle=angle, rate=rate, baseline=baseline, trials=trials, n_frames=n_frames, n_soma=n_soma)


def _compressed(data: np.ndarray):
    from hdmf.backends.hdf5 import H5DataIO

    data = np.ascontiguousarray(data)
    if data.ndim == 2:
        chunks = (int(min(data.shape[0], max(1, 2**18 // max(1, data.shape[1])))), int(data.shape[1]))
    else:
        chunks = (int(min(data.shape[0], 2**16)),)
    if data.size == 0:
        return data
    return H5DataIO(data, compression="gzip", compression_opts=4, shuffle=True, chunks=chunks)


def _roi_masks(n: int, offset: int) -> list[list[tuple[int, int, float]]]:
    """Placeholder 2x2-pixel masks on a 512 x 512 field of view (simulated ROIs have no footprint)."""
    side = 512 // 4
    masks = []
    for i in range(n):
        x, y = 4 * ((i + offset) % side), 4 * (((i + offset) // side) % side)
        masks.append([(x, y, 1.0), (x + 1, y, 1.0), (x, y + 1, 1.0), (x + 1, y + 1, 1.0)])
    return masks


def _masks_of(stats, n: int, offset: int) -> list[list[tuple[int, int, float]]]:
    """Pixel masks (x, y, weight) from suite2p-style footprints, or placeholders when there are none."""
    if stats is None:
        return _roi_masks(n, offset)
    if len(stats) != n:
        raise InvalidArgumentError(f"{len(stats)} ROI footprints for {n} ROIs")
    return [[(int(x), int(y), float(w)) for x, y, w in zip(st["xpix"], st["ypix"], st["lam"], strict=True)]
            for st in stats]


def _add_movie(nwbfile, movie: Mapping[str, Any], segmentation, channel, device, rate: float, location: str,
               n_soma: int) -> None:
    """The raw movie as a TwoPhotonSeries with its own imaging plane and image-mask segmentation."""
    from pynwb.ophys import TwoPhotonSeries

    data = np.asarray(movie["data"])
    masks = np.asarray(movie["masks"], dtype=np.float32)
    if data.ndim != 3 or masks.shape != (n_soma, *data.shape[1:]):
        raise InvalidArgumentError(f"movie data {data.shape} and masks {masks.shape} do not match {n_soma} somata")
    um = float(movie.get("um_per_px", 1.0))
    plane = nwbfile.create_imaging_plane(
        name="ImagingPlaneSomaMovie", optical_channel=channel, imaging_rate=rate, device=device,
        description="the soma plane at the movie's (binned) pixel grid", excitation_lambda=920.0,
        indicator="GCaMP7f", location=location, grid_spacing=[um, um], grid_spacing_unit="micrometers",
        origin_coords=[0.0, 0.0, float(movie.get("depth_um", 0.0))], origin_coords_unit="micrometers",
        reference_frame="origin: top-left pixel of the field of view; z = depth below the pia")
    series = TwoPhotonSeries(name="TwoPhotonSeriesSoma", data=_compressed_movie(data), imaging_plane=plane,
                             rate=rate, starting_time=0.0, unit="n.a.", dimension=[data.shape[2], data.shape[1]],
                             description="raw movie of the soma plane (first frames of the session; "
                                         "simulated photon counts)")
    nwbfile.add_acquisition(series)
    seg = segmentation.create_plane_segmentation(
        name="PlaneSegmentationSomaMovie", imaging_plane=plane, reference_images=series,
        description="soma ROIs as image masks on the movie's pixels; rows in the order of PlaneSegmentationSoma")
    for mask in masks:
        seg.add_roi(image_mask=mask)


def _compressed_movie(data: np.ndarray):
    from hdmf.backends.hdf5 import H5DataIO

    chunks = (int(min(data.shape[0], 64)), int(data.shape[1]), int(data.shape[2]))
    return H5DataIO(np.ascontiguousarray(data), compression="gzip", compression_opts=4, shuffle=True, chunks=chunks)


def _add_events(nwbfile, session, trials: pd.DataFrame, rate: float) -> None:
    """Licks, rewards and white noise as NWB ``EventsTable`` s (one per kind of event)."""
    from hdmf.common import VectorData
    from pynwb.event import EventsTable, TimestampVectorData

    def table(name, description, times, source, **columns):
        times = np.asarray(times, dtype=float)
        keep = np.isfinite(times)
        cols = [TimestampVectorData(name="timestamp", description="event time (s) from the session start",
                                    data=times[keep], resolution=1.0 / rate)]
        for col, (text, values) in columns.items():
            cols.append(VectorData(name=col, description=text, data=np.asarray(values, dtype=float)[keep]))
        if keep.any():
            nwbfile.add_events_table(EventsTable(name=name, description=description, source_description=source,
                                                 columns=cols))

    licks = getattr(session, "lick_times", None)
    if licks is not None:
        table("licks", "frames with a lick (the rig reads its lick counter once per imaging frame)", licks,
              "lick sensor")
    if "reward_time" in trials:
        volume = trials["reward_volume"] if "reward_volume" in trials else np.full(len(trials), np.nan)
        table("rewards", "water reward deliveries", trials["reward_time"], "reward valve command",
              reward_volume=("reward volume (µl)", volume))
    if "white_noise_time" in trials:
        table("white_noise", "white-noise sounds after a lower-bound failure or during a time-out",
              trials["white_noise_time"], "sound card command")


@data_first(1)
def write_bci_session(
    session,
    path: str | os.PathLike,
    *,
    subject_id: str = "simulated-mouse",
    session_start_time: _dt.datetime | None = None,
    session_description: str | None = None,
    include_ground_truth: bool = True,
    soma_location: str = "Retrosplenial area, dorsal part, layer 5",
    dendrite_location: str = "Retrosplenial area, dorsal part, layer 1",
    imaging: Mapping[str, Any] | None = None,
    parameters: Mapping[str, Any] | None = None,
    movie: Mapping[str, Any] | None = None,
    **metadata,
) -> Path:
    """Write one BCI session to an NWB file (atomically).

    Parameters
    ----------
    session
        Any object with the fields of ``BCISession`` / :class:`BCIRecording`: ``day``, ``frame_rate_hz`` (Hz),
        ``soma_dff`` and ``dendrite_dff`` (frames x neurons), ``ensemble`` (``P+``/``P-``/``P0``),
        ``bci_weight``, ``cursor``, ``grating_angle`` (degrees), ``baseline_frames``, ``trials`` (DataFrame),
        optional ``parent_soma`` (default: dendrite ``j`` belongs to soma ``j``) and ground truth (a
        ``ground_truth`` mapping and/or the attributes ``teaching_signal``, ``rule``, ``seed``).
    path
        Target ``.nwb`` file. The data come first and the path last, as in every neurorl writer; the old order
        ``write_bci_session(path, session)`` still works, with a :class:`DeprecationWarning`.
    subject_id, session_start_time, session_description
        NWB metadata; the start time defaults to a fixed date plus ``day - 1`` days (reproducible files).
    include_ground_truth
        Store the simulation ground truth in the ``simulation_ground_truth`` processing module.
    soma_location, dendrite_location
        Locations of the two imaging planes as Allen Mouse Brain CCF terms (nwbinspector checks them).
    imaging
        Imaging-plane geometry: ``um_per_px`` (grid spacing, µm), ``fov_px`` (pixels), ``soma_depth_um`` and
        ``dendrite_depth_um`` (depth below the pia, µm); the ROI masks come from the session's
        ``roi_footprints`` (``{"soma": [...], "dendrite": [...]}`` of suite2p-style ``ypix``/``xpix``/``lam``)
        when it has them, else 2 x 2-pixel placeholders.
    parameters
        The full parameter set of a simulation, stored as JSON text in ``scratch/simulation_parameters``.
    movie
        A short raw movie of the soma plane: ``data`` (frames x height x width, uint16, from frame 0),
        ``masks`` (somata x height x width image masks on the movie's pixels), ``um_per_px`` and ``depth_um``.
        Written as the ``TwoPhotonSeries`` ``TwoPhotonSeriesSoma`` (acquisition) on its own imaging plane
        ``ImagingPlaneSomaMovie``, with the masks in ``PlaneSegmentationSomaMovie`` (rows = somata, in the
        order of ``PlaneSegmentationSoma``).
    **metadata
        Passed on to :func:`neurorl.io.nwb.new_nwbfile` (``experimenter``, ``institution``, ``lab``, ...).

    The session's ``lick_times`` (s) and its trials' ``reward_time`` and ``white_noise_time`` are written as
    the ``EventsTable`` s ``licks``, ``rewards`` (with ``reward_volume``) and ``white_noise``.

    Returns
    -------
    pathlib.Path
        The file written.

    Raises
    ------
    InvalidArgumentError
        If the session's fields are missing or inconsistent.
    """
    from hdmf.common import DynamicTable, VectorData
    from pynwb.base import TimeSeries
    from pynwb.behavior import BehavioralTimeSeries
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel

    v = _validate_session(session)
    day = getattr(session, "day", None)
    day = None if day is None else int(day)
    rate = v["rate"]
    start = session_start_time or (_DEFAULT_START + _dt.timedelta(days=(day or 1) - 1))
    gt = _ground_truth_of(session) if include_ground_truth else {}
    label = f"day {day}" if day is not None else "a session"
    nwbfile = new_nwbfile(
        session_description=session_description or (
            f"BCI task, {label}: {int((v['ensemble'] != 'P0').sum())} layer-5 neurons (P+ raise, P- lower "
            f"their activity) drive a grating to a target; two-photon imaging of somata and apical dendrites"
            + (" (simulated by neurorl)" if gt else "")),
        session_start_time=start,
        subject_id=subject_id,
        session_id=f"day{day:02d}" if day is not None else None,
        experiment_description="Brain-computer-interface learning with vectorized instructive signals "
                               "(after Francioni et al. 2026, Nature)",
        keywords=["BCI", "two-photon", "apical dendrites", "instructive signals"],
        **metadata,
    )
    device = nwbfile.create_device(name="Microscope", description="two-photon microscope",
                                   manufacturer="simulated" if gt else "unknown")
    channel = OpticalChannel(name="GreenChannel", description="GCaMP7f emission", emission_lambda=510.0)
    geometry = dict(imaging or {})
    um = float(geometry.get("um_per_px", 1.0))
    planes = {}
    for name, text, location, depth in (
            (_SOMA_PLANE, "somata and proximal apical trunks of layer-5 neurons", soma_location,
             geometry.get("soma_depth_um")),
            (_DENDRITE_PLANE, "distal apical dendrites of the same neurons", dendrite_location,
             geometry.get("dendrite_depth_um"))):
        extra = {}
        if imaging is not None:
            extra = dict(grid_spacing=[um, um], grid_spacing_unit="micrometers",
                         origin_coords=[0.0, 0.0, float(depth) if depth is not None else 0.0],
                         origin_coords_unit="micrometers",
                         reference_frame="origin: top-left pixel of the field of view; x, y along the scan "
                                         "axes; z = depth below the pia")
        planes[name] = nwbfile.create_imaging_plane(
            name=name, optical_channel=channel, imaging_rate=rate, description=text, device=device,
            excitation_lambda=920.0, indicator="GCaMP7f", location=location, **extra)
    footprints = getattr(session, "roi_footprints", None) or {}

    ophys = nwbfile.create_processing_module(name="ophys", description="segmented ROIs and ΔF/F traces")
    segmentation = ImageSegmentation(name="ImageSegmentation")
    ophys.add(segmentation)
    soma_seg = segmentation.create_plane_segmentation(
        name=_SOMA_SEG, description="soma / proximal trunk ROIs; row order = neuron index",
        imaging_plane=planes[_SOMA_PLANE])
    soma_seg.add_column(name="ensemble", description="BCI ensemble: 'P+' (must raise activity), 'P-' (must "
                                                     "lower it) or 'P0' (not in the decoder)")
    soma_seg.add_column(name="bci_weight", description="weight of the neuron's ΔF/F in the BCI cursor")
    for mask, ens, w in zip(_masks_of(footprints.get("soma"), v["n_soma"], 0), v["ensemble"], v["weight"],
                            strict=True):
        soma_seg.add_roi(pixel_mask=mask, ensemble=str(ens), bci_weight=float(w))
    dend_seg = segmentation.create_plane_segmentation(
        name=_DENDRITE_SEG, description="distal apical dendrite ROIs, each linked to its soma by parent_soma",
        imaging_plane=planes[_DENDRITE_PLANE])
    n_dend = v["dend"].shape[1]
    dend_seg.add_column(name="parent_soma", description="the soma (row of PlaneSegmentationSoma) this dendrite "
                                                        "belongs to", table=soma_seg)
    for mask, parent in zip(_masks_of(footprints.get("dendrite"), n_dend, v["n_soma"]), v["parent"], strict=True):
        dend_seg.add_roi(pixel_mask=mask, parent_soma=int(parent))

    if movie is not None:
        _add_movie(nwbfile, movie, segmentation, channel, device, rate, soma_location, v["n_soma"])

    dff = DfOverF(name="DfOverF")
    ophys.add(dff)
    for series_name, seg, data, what in ((_SOMA_SERIES, soma_seg, v["soma"], "somata"),
                                         (_DENDRITE_SERIES, dend_seg, v["dend"], "distal dendrites")):
        n = data.shape[1]
        region = seg.create_roi_table_region(region=list(range(n)), description=f"all {what}")
        dff.create_roi_response_series(
            name=series_name, data=_compressed(np.asarray(data, dtype=np.float32)), rois=region, unit="n.a.",
            rate=rate, starting_time=0.0, description=f"ΔF/F of the {what} (dimensionless)")

    behavior = nwbfile.create_processing_module(name="behavior", description="BCI cursor and visual feedback")
    series = BehavioralTimeSeries(name="BehavioralTimeSeries")
    behavior.add(series)
    series.create_timeseries(name="bci_cursor", data=_compressed(v["cursor"]), unit="n.a.", rate=rate,
                             starting_time=0.0,
                             description="BCI cursor: mean ΔF/F of P+ minus mean ΔF/F of P-, averaged over the "
                                         "last 3 frames (dimensionless)")
    series.create_timeseries(name="grating_angle", data=_compressed(v["angle"]), unit="degrees", rate=rate,
                             starting_time=0.0,
                             description="orientation of the feedback grating (0 = start, 90 = target)")

    trials = v["trials"]
    for column, text in _TRIAL_COLUMNS.items():
        nwbfile.add_trial_column(name=column, description=text)
    if "reward_time" not in trials:
        trials = trials.assign(reward_time=np.nan)
    extra = [c for c in trials.columns if c not in _TRIAL_COLUMNS and c not in ("start_time", "stop_time")
             and c not in GROUND_TRUTH_TRIAL_COLUMNS and trials[c].dtype.kind in "fiub"]
    for column in extra:
        text = _OPTIONAL_TRIAL_COLUMNS.get(column, f"{column} (simulation output)")
        nwbfile.add_trial_column(name=column, description=text)
    kinds = {c: trials[c].dtype.kind for c in extra}
    for row in trials.to_dict("records"):
        values = dict(start_time=float(row["start_time"]), stop_time=float(row["stop_time"]),
                      target_hit=bool(row["target_hit"]), rewarded=bool(row["rewarded"]),
                      time_to_target=float(row["time_to_target"]), threshold=float(row["threshold"]),
                      reward_time=float(row["reward_time"]))
        for c in extra:
            values[c] = bool(row[c]) if kinds[c] == "b" else float(row[c]) if kinds[c] == "f" else int(row[c])
        nwbfile.add_trial(**values)
    trial_truth = {c: trials[c].to_numpy() for c in GROUND_TRUTH_TRIAL_COLUMNS if c in trials}

    _add_events(nwbfile, session, trials, rate)
    if parameters:
        import json

        nwbfile.add_scratch(json.dumps(parameters, sort_keys=True, default=str), name="simulation_parameters",
                            description="the full parameter set of the simulation that made this file (JSON)")

    t_base = v["baseline"] / rate
    t_end = v["n_frames"] / rate
    if v["baseline"] > 0:
        nwbfile.add_epoch(start_time=0.0, stop_time=t_base, tags=["baseline"])
    if v["n_frames"] > v["baseline"]:
        nwbfile.add_epoch(start_time=t_base, stop_time=t_end, tags=["closed_loop"])

    if gt:
        module = nwbfile.create_processing_module(name=GROUND_TRUTH_MODULE, description=_GROUND_TRUTH_DESCRIPTION)
        settings, per_neuron = {}, {}
        for name, value in gt.items():
            arr = np.asarray(value)
            if arr.ndim == 0:
                item = arr.item()
                if isinstance(item, (bool, np.bool_)):
                    item = bool(item)
                elif item is None:
                    continue
                elif not isinstance(item, (int, float, str)):
                    item = str(item)
                settings[name] = item
            elif arr.ndim in (1, 2) and arr.shape[0] == v["n_frames"] and arr.dtype.kind in "fiub":
                module.add(TimeSeries(name=name, data=_compressed(arr), unit="n.a.", rate=rate, starting_time=0.0,
                                      description=f"SIMULATION GROUND TRUTH: {name} per frame"
                                                  + (" (frames x somata)" if arr.ndim == 2 else "")))
            elif arr.ndim == 1 and arr.shape[0] == v["n_soma"]:
                per_neuron[name] = arr
            else:
                raise InvalidArgumentError(
                    f"ground truth {name!r} has shape {arr.shape}; expected a scalar, one value per soma or "
                    f"one row per frame")
        if per_neuron:
            columns = [VectorData(name=k, description=f"SIMULATION GROUND TRUTH: {k} per soma",
                                  data=[str(x) for x in a] if a.dtype.kind in "OUS" else a)
                       for k, a in per_neuron.items()]
            module.add(DynamicTable(name="ground_truth_neurons", columns=columns,
                                    description="SIMULATION GROUND TRUTH per soma (rows = PlaneSegmentationSoma rows)"))
        if trial_truth and include_ground_truth:
            columns = [VectorData(name=k, description=f"SIMULATION GROUND TRUTH: {k} per trial", data=a)
                       for k, a in trial_truth.items()]
            module.add(DynamicTable(name="ground_truth_trials", columns=columns,
                                    description="SIMULATION GROUND TRUTH per trial (rows = trials table rows)"))
        if settings:
            columns = [VectorData(name=k, description=f"SIMULATION GROUND TRUTH setting {k}", data=[val])
                       for k, val in settings.items()]
            module.add(DynamicTable(name="simulation_settings", columns=columns,
                                    description="SIMULATION GROUND TRUTH: settings of the simulation (one row)"))
    return write_nwbfile(nwbfile, path)


# ---------------------------------------------------------------------------------------------------- read
def _decode(values) -> np.ndarray:
    return np.asarray([x.decode() if isinstance(x, bytes) else str(x) for x in values], dtype=str)


def _find(container, names: tuple[str, ...]):
    """First interface among ``names`` (or any nested one with that name) in a processing module."""
    if container is None:
        return None
    for name in names:
        if name in container.data_interfaces:
            return container.data_interfaces[name]
    for interface in container.data_interfaces.values():
        inner = getattr(interface, "time_series", None) or getattr(interface, "roi_response_series", None) \
            or getattr(interface, "plane_segmentations", None)
        if inner:
            for name in names:
                if name in inner:
                    return inner[name]
    return None


def _series(nwbfile, name: str):
    for module in nwbfile.processing.values():
        found = _find(module, (name,))
        if found is not None:
            return found
    for group in (nwbfile.acquisition, nwbfile.stimulus):
        if name in group:
            return group[name]
    return None


def _series_data(ts, path: Path, n_frames: int | None = None) -> np.ndarray:
    data = np.asarray(ts.data[:])
    if data.ndim != 1:
        raise InvalidRecordingError(f"{ts.name} has shape {data.shape}; expected one value per frame", path)
    if n_frames is not None and data.shape[0] != n_frames:
        raise InvalidRecordingError(f"{ts.name} has {data.shape[0]} frames, the ΔF/F traces {n_frames}", path)
    return data


def _day_of(nwbfile, path: Path) -> int | None:
    for text in (nwbfile.session_id or "", path.stem):
        match = re.search(r"day[\s_-]*0*(\d+)", text, flags=re.IGNORECASE)
        if match:
            return int(match.group(1))
    return None


def read_bci_session(path: str | os.PathLike, *, load_ground_truth: bool = True,
                     allow_external_links: bool = False) -> BCIRecording:
    """Read one BCI session from an NWB file in the layout of this module (simulated or real).

    Parameters
    ----------
    path
        The ``.nwb`` file.
    load_ground_truth
        Read the ``simulation_ground_truth`` module when present.
    allow_external_links
        Read HDF5 external links (and external storage) to other files instead of refusing the file.

    Returns
    -------
    BCIRecording
        ``ground_truth`` is ``None`` for recordings without the ground-truth module (real data).

    Raises
    ------
    MissingDataError
        Missing file, or a required part of the layout (ΔF/F series, ensemble column, trials, cursor) absent.
    InvalidRecordingError
        Empty, non-HDF5, corrupt or non-NWB file; inconsistent shapes; unknown ensemble labels.
    """
    path = Path(path)
    with open_nwb(path, allow_external_links=allow_external_links) as nwbfile:
        try:
            return _read(nwbfile, path, load_ground_truth)
        except (MissingDataError, InvalidRecordingError):
            raise
        except Exception as exc:
            raise InvalidRecordingError(f"cannot be read as a BCI session ({_short(exc)})", path) from None


def _read(nwbfile, path: Path, load_ground_truth: bool) -> BCIRecording:
    soma_ts = _series(nwbfile, _SOMA_SERIES)
    dend_ts = _series(nwbfile, _DENDRITE_SERIES)
    if soma_ts is None or dend_ts is None:
        missing = [n for n, ts in ((_SOMA_SERIES, soma_ts), (_DENDRITE_SERIES, dend_ts)) if ts is None]
        raise MissingDataError(f"no ΔF/F series {missing} (expected in DfOverF of the 'ophys' module)", path)
    soma = np.asarray(soma_ts.data[:], dtype=np.float32)
    dend = np.asarray(dend_ts.data[:], dtype=np.float32)
    if soma.ndim != 2 or dend.ndim != 2 or soma.shape[0] != dend.shape[0]:
        raise InvalidRecordingError(f"ΔF/F shapes {soma.shape} (soma) and {dend.shape} (dendrite) do not match", path)
    n_frames, n_soma = soma.shape
    rate = soma_ts.rate
    if rate is None:
        stamps = np.asarray(soma_ts.timestamps[:])
        rate = 1.0 / float(np.median(np.diff(stamps))) if stamps.size > 1 else np.nan
    rate = float(rate)
    if not np.isfinite(rate) or rate <= 0:
        raise InvalidRecordingError(f"bad frame rate {rate} Hz in {_SOMA_SERIES}", path)

    soma_seg = soma_ts.rois.table
    if "ensemble" not in soma_seg.colnames:
        raise MissingDataError(f"{soma_seg.name} has no 'ensemble' column", path)
    soma_rows = _roi_rows(soma_ts, soma_seg, path)
    ensemble = _decode(soma_seg["ensemble"].data[:])[soma_rows]
    bad = sorted(set(ensemble) - set(ENSEMBLE_LABELS))
    if bad:
        raise InvalidRecordingError(f"unknown ensemble labels {bad}; expected {ENSEMBLE_LABELS}", path)
    if ensemble.shape[0] != n_soma:
        raise InvalidRecordingError(f"{_SOMA_SERIES} has {n_soma} columns but {ensemble.shape[0]} ROIs", path)
    weight = (np.asarray(soma_seg["bci_weight"].data[:], dtype=float)[soma_rows] if "bci_weight" in soma_seg.colnames
              else np.zeros(n_soma))
    if weight.shape != (n_soma,):
        raise InvalidRecordingError(f"bci_weight has shape {weight.shape}; expected one weight per soma", path)

    dend_seg = dend_ts.rois.table
    dend_rows = _roi_rows(dend_ts, dend_seg, path)
    if dend.shape[1] != dend_rows.size:
        raise InvalidRecordingError(f"{_DENDRITE_SERIES} has {dend.shape[1]} columns but {dend_rows.size} ROIs", path)
    if "parent_soma" in dend_seg.colnames:
        parent_rows = np.asarray(dend_seg["parent_soma"].data[:], dtype=np.int64)[dend_rows]
        lookup = {int(r): i for i, r in enumerate(soma_rows)}
        try:
            parent = np.asarray([lookup[int(r)] for r in parent_rows], dtype=np.int64)
        except KeyError:
            raise InvalidRecordingError("parent_soma points at a soma ROI without a ΔF/F trace", path) from None
    elif dend.shape[1] == n_soma:
        parent = np.arange(n_soma)
    else:
        raise MissingDataError(f"{dend_seg.name} has no 'parent_soma' column", path)

    cursor_ts = _series(nwbfile, "bci_cursor")
    if cursor_ts is None:
        raise MissingDataError("no 'bci_cursor' TimeSeries", path)
    cursor = _series_data(cursor_ts, path, n_frames).astype(float)
    angle_ts = _series(nwbfile, "grating_angle")
    angle = _series_data(angle_ts, path, n_frames).astype(float) if angle_ts is not None else np.full(n_frames, np.nan)

    trials = _read_trials(nwbfile, path)
    baseline = 0
    if nwbfile.epochs is not None and len(nwbfile.epochs.id) > 0:
        epochs = nwbfile.epochs.to_dataframe()
        for row in epochs.itertuples():
            if "baseline" in [str(t) for t in row.tags]:
                if not 0 <= row.stop_time * rate <= n_frames + 0.5:  # NaN fails too
                    raise InvalidRecordingError(f"the baseline epoch ends at {row.stop_time} s, outside the "
                                                f"{n_frames / rate:.1f} s of imaging", path)
                baseline = int(round(row.stop_time * rate))
    ground_truth = None
    if load_ground_truth and GROUND_TRUTH_MODULE in nwbfile.processing:
        ground_truth = _read_ground_truth(nwbfile.processing[GROUND_TRUTH_MODULE])
    return BCIRecording(day=_day_of(nwbfile, path), frame_rate_hz=rate, soma_dff=soma, dendrite_dff=dend,
                        ensemble=ensemble, bci_weight=weight, cursor=cursor, grating_angle=angle,
                        baseline_frames=baseline, trials=trials, parent_soma=parent, ground_truth=ground_truth,
                        session=path.stem, path=path, source="nwb")


def _roi_rows(series, table, path: Path) -> np.ndarray:
    """Rows of ``table`` that the columns of ``series`` are (its ``rois`` region), checked to lie in the table."""
    rows = np.asarray(series.rois.data[:], dtype=np.int64)
    n_rows = len(table.id)
    if rows.ndim != 1 or np.any(rows < 0) or np.any(rows >= n_rows):
        raise InvalidRecordingError(f"{series.name}.rois points outside the {n_rows} rows of {table.name}", path)
    return rows


def _read_trials(nwbfile, path: Path) -> pd.DataFrame:
    trials = nwbfile.trials
    if trials is None or len(trials.id) == 0:
        raise MissingDataError("no trials table (nwbfile.trials)", path)
    columns = set(trials.colnames)
    needed = {"target_hit", "rewarded", "threshold"}
    if not needed <= columns:
        raise MissingDataError(f"trials table lacks columns {sorted(needed - columns)}", path)
    table = pd.DataFrame({
        "start_time": np.asarray(trials["start_time"].data[:], dtype=float),
        "stop_time": np.asarray(trials["stop_time"].data[:], dtype=float),
        "target_hit": np.asarray(trials["target_hit"].data[:], dtype=bool),
        "rewarded": np.asarray(trials["rewarded"].data[:], dtype=bool),
    })
    table["time_to_target"] = (np.asarray(trials["time_to_target"].data[:], dtype=float)
                               if "time_to_target" in columns else np.nan)
    table["threshold"] = np.asarray(trials["threshold"].data[:], dtype=float)
    table["reward_time"] = (np.asarray(trials["reward_time"].data[:], dtype=float)
                            if "reward_time" in columns else np.nan)
    for column in trials.colnames:
        if column not in table and column not in ("timeseries", "tags"):
            values = np.asarray(trials[column].data[:])
            if values.ndim == 1 and values.dtype.kind in "fiub":
                table[column] = values
    if np.any(table["stop_time"].to_numpy() < table["start_time"].to_numpy()):
        raise InvalidRecordingError("a trial stops before it starts", path)
    if not np.all(np.isfinite(table[["start_time", "stop_time"]].to_numpy())):
        raise InvalidRecordingError("trial start/stop times are not finite", path)
    return table


def _read_ground_truth(module) -> dict[str, Any]:
    from hdmf.common import DynamicTable

    out: dict[str, Any] = {}
    for name, interface in module.data_interfaces.items():
        if isinstance(interface, DynamicTable):
            for column in interface.colnames:
                values = interface[column].data[:]
                values = np.asarray(values)
                if values.dtype.kind in "OSU":
                    values = _decode(values)
                if name == "simulation_settings":
                    item = values[0]
                    out[column] = item.item() if hasattr(item, "item") else item
                else:
                    out[column] = values
        else:
            out[name] = np.asarray(interface.data[:])
    return out


def list_bci_files(paths) -> list[Path]:
    """Expand folders and files into the sorted list of ``.nwb`` files they name.

    Raises
    ------
    MissingDataError
        If a path does not exist or a folder holds no ``.nwb`` file.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if not p.exists():
            raise MissingDataError("no such file or folder", p)
        if p.is_dir():
            found = sorted(f for f in p.glob("*.nwb") if not f.name.startswith("."))
            if not found:
                raise MissingDataError("folder holds no .nwb files", p)
            files.extend(found)
        else:
            files.append(p)
    return files


def read_bci_folder(paths, *, load_ground_truth: bool = True, allow_external_links: bool = False) -> list[BCIRecording]:
    """Read every session in the given folders/files (all in memory: prefer iterating :func:`list_bci_files`)."""
    return [read_bci_session(f, load_ground_truth=load_ground_truth, allow_external_links=allow_external_links)
            for f in list_bci_files(paths)]
