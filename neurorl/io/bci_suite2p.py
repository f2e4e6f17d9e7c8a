"""Read a lab's own BCI experiment: a suite2p folder per day, a trials table and a file naming the ROIs.

A day folder holds suite2p's output for one session, in suite2p's documented layout
(``suite2p/plane0/F.npy``, ``Fneu.npy``, ``spks.npy``, ``iscell.npy``, ``stat.npy``, ``ops.npy``; F/Fneu/spks
are ROIs x frames, ``iscell`` ROIs x 2 (is-cell flag, probability), ``stat`` an object array of per-ROI dicts,
``ops`` a pickled dict with the frame rate ``fs``; see https://suite2p.readthedocs.io/en/latest/outputs.html),
and the day's trials table: ``trials.csv`` or a ``.nwb`` file whose ``trials`` table has the columns below.
suite2p itself is not needed (the files are numpy arrays).

Trials table (one row per completed trial; times in s on the imaging clock, frame ``k`` at ``k / fs``)
    ``start_time``, ``stop_time``, ``target_hit`` (bool), ``rewarded`` (bool); optional ``time_to_target``
    (s from grating onset to the hit; NaN on misses), ``response_start_time`` (grating onset, s),
    ``decision_time`` (s: the hit, the lower-bound crossing or the end of the response window),
    ``lower_bound_failure``, ``timed_out``, ``white_noise_time``, ``threshold``, ``reward_time``. Without
    ``decision_time`` the outcome times follow the rig's frame-based timing
    (:func:`neurorl.analysis.bci.trial_outcome_times`).
ROI file (one per animal; TOML or CSV), ROI numbers are suite2p's (rows of ``F.npy``, from 0)
    TOML::

        p_plus = [3, 7]              # P+ somata (the ROIs that raise the cursor)
        p_minus = [12, 15]           # P- somata
        pairs = [[3, 40], [7, 41]]   # [soma ROI, dendrite ROI]: the dendrite belongs to that soma
        # optional:
        somata = [3, 7, 12, 15, 20]  # somata to analyse (default: every is-cell ROI not used as a dendrite)
        soma_plane = "plane0"        # suite2p plane of the somata (default plane0)
        dendrite_plane = "plane1"    # plane of the dendrite ROIs (default: the somata's plane)
        baseline_s = 600             # passive baseline at the start (default: up to the first trial)

    CSV: columns ``soma_roi``, ``ensemble`` (``P+`` / ``P-`` / ``P0``) and ``dendrite_roi`` (blank when the
    soma has none); every soma listed is analysed.

ΔF/F is computed from F and Fneu the way suite2p users commonly do (:func:`suite2p_dff`): neuropil-corrected
fluorescence ``F - 0.7 Fneu`` (0.7 = suite2p's default ``neucoeff``), baseline ``F0`` by suite2p's default
``maximin`` (Gaussian smoothing of 10 frames, running minimum then maximum over 60 s: ``sig_baseline``,
``win_baseline``; a running 8th percentile, ``prctile_baseline``, on request), ``ΔF/F = (Fc - F0) / F0``.
The cursor is read from ``cursor.npy`` (one value per frame) in the day folder when the rig saved it;
otherwise it is rebuilt as the rig computes it: mean ΔF/F of P+ minus mean ΔF/F of P-, averaged over 3 frames.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..errors import InvalidArgumentError, InvalidRecordingError, MissingDataError
from ..recordings import BCIRecording
from ._atomic import data_first

__all__ = ["BCIRoiMap", "read_bci_rois", "write_bci_rois", "read_suite2p_session", "read_suite2p_folder",
           "is_suite2p_day", "suite2p_dff", "day_folders", "NEUROPIL_COEFFICIENT", "BASELINES"]

# Files of a suite2p plane folder, as suite2p writes them (newer versions name ops.npy settings.npy).
_SUITE2P_FILES: tuple[str, ...] = ("F.npy", "Fneu.npy", "spks.npy", "iscell.npy", "stat.npy", "ops.npy")
#: suite2p's default neuropil coefficient (``ops["neucoeff"] = 0.7``; Pachitariu et al. 2017, suite2p docs).
NEUROPIL_COEFFICIENT = 0.7
_TRIAL_COLUMNS = ("start_time", "stop_time", "target_hit", "rewarded")


@dataclass(frozen=True)
class BCIRoiMap:
    """Which suite2p ROIs are the P+ / P- somata and which dendrite belongs to which soma (one animal)."""

    p_plus: tuple[int, ...]
    p_minus: tuple[int, ...]
    pairs: tuple[tuple[int, int], ...]
    somata: tuple[int, ...] | None = None
    soma_plane: str = "plane0"
    dendrite_plane: str | None = None
    baseline_s: float | None = None
    path: Path | None = None


def read_bci_rois(path: str | os.PathLike) -> BCIRoiMap:
    """Read the ROI file (TOML or CSV, layout in the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise MissingDataError("ROI file not found", path)
    if path.suffix.lower() == ".toml":
        import tomllib

        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise InvalidRecordingError(f"not a valid TOML file ({exc})", path) from None
        known = {"p_plus", "p_minus", "pairs", "somata", "soma_plane", "dendrite_plane", "baseline_s"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InvalidRecordingError(f"unknown key(s) {', '.join(unknown)}; expected {', '.join(sorted(known))}",
                                        path)
        try:
            p_plus = tuple(int(v) for v in data.get("p_plus", ()))
            p_minus = tuple(int(v) for v in data.get("p_minus", ()))
            pairs = tuple((int(a), int(b)) for a, b in data.get("pairs", ()))
            somata = tuple(int(v) for v in data["somata"]) if "somata" in data else None
            baseline = float(data["baseline_s"]) if "baseline_s" in data else None
        except (TypeError, ValueError):
            raise InvalidRecordingError("p_plus, p_minus, somata must be lists of ROI numbers and pairs a list "
                                        "of [soma, dendrite] ROI numbers", path) from None
        rois = BCIRoiMap(p_plus, p_minus, pairs, somata, str(data.get("soma_plane", "plane0")),
                         data.get("dendrite_plane"), baseline, path)
    elif path.suffix.lower() == ".csv":
        try:
            table = pd.read_csv(path)
        except Exception as exc:  # pandas raises many types for unreadable text
            raise InvalidRecordingError(f"not a readable CSV table ({type(exc).__name__})", path) from None
        missing = [c for c in ("soma_roi", "ensemble") if c not in table]
        if missing:
            raise MissingDataError(f"missing column(s) {', '.join(missing)} (need soma_roi, ensemble, "
                                   "dendrite_roi)", path)
        labels = table["ensemble"].astype(str).str.strip()
        bad = sorted(set(labels) - {"P+", "P-", "P0"})
        if bad:
            raise InvalidRecordingError(f"unknown ensemble label(s) {bad}; use P+, P-, P0", path)
        try:
            soma = table["soma_roi"].to_numpy(dtype=np.int64)
            dend = (pd.to_numeric(table["dendrite_roi"], errors="raise").to_numpy(dtype=float)
                    if "dendrite_roi" in table else np.full(soma.size, np.nan))
        except (TypeError, ValueError):
            raise InvalidRecordingError("soma_roi and dendrite_roi must be ROI numbers", path) from None
        rois = BCIRoiMap(tuple(int(s) for s in soma[labels == "P+"]), tuple(int(s) for s in soma[labels == "P-"]),
                         tuple((int(s), int(d)) for s, d in zip(soma, dend, strict=True) if np.isfinite(d)),
                         tuple(int(s) for s in soma), path=path)
    else:
        raise InvalidRecordingError("ROI file must be .toml or .csv", path)
    if not rois.p_plus or not rois.p_minus:
        raise InvalidRecordingError("the ROI file must name at least one P+ and one P- ROI", path)
    if set(rois.p_plus) & set(rois.p_minus):
        raise InvalidRecordingError("a ROI is both P+ and P-", path)
    return rois


@data_first(3)
def write_bci_rois(p_plus: Sequence[int], p_minus: Sequence[int], pairs: Sequence[tuple[int, int]],
                   path: str | os.PathLike, *, somata: Sequence[int] | None = None,
                   soma_plane: str = "plane0", dendrite_plane: str | None = None,
                   baseline_s: float | None = None) -> Path:
    """Write the ROI file (TOML) that :func:`read_bci_rois` reads, e.g. beside simulated suite2p folders.

    The data first and the path last, as every neurorl writer (the old path-first order still works, with a
    :class:`DeprecationWarning`).
    """
    def ints(values) -> str:
        return "[" + ", ".join(str(int(v)) for v in values) + "]"

    lines = [f"p_plus = {ints(p_plus)}", f"p_minus = {ints(p_minus)}",
             "pairs = [" + ", ".join(f"[{int(a)}, {int(b)}]" for a, b in pairs) + "]",
             f'soma_plane = "{soma_plane}"']
    if somata is not None:
        lines.append(f"somata = {ints(somata)}")
    if dendrite_plane is not None:
        lines.append(f'dendrite_plane = "{dendrite_plane}"')
    if baseline_s is not None:
        lines.append(f"baseline_s = {float(baseline_s)!r}")
    from .results import write_text

    return write_text("\n".join(lines) + "\n", Path(path))


#: Baseline methods of :func:`suite2p_dff`.
BASELINES = ("maximin", "prctile")


def suite2p_dff(F: np.ndarray, Fneu: np.ndarray, frame_rate_hz: float, *,
                neuropil_coefficient: float = NEUROPIL_COEFFICIENT, baseline: str = "maximin",
                window_s: float = 60.0, sigma_frames: float = 10.0, percentile: float = 8.0,
                step_s: float = 1.0) -> np.ndarray:
    """ΔF/F from suite2p's F and Fneu (ROIs x frames), returned frames x ROIs (float32).

    ``Fc = F - neuropil_coefficient * Fneu``; the baseline ``F0`` of each ROI is

    * ``"maximin"`` (default; suite2p's own default ``baseline``): ``Fc`` smoothed by a Gaussian of
      ``sigma_frames`` frames (suite2p ``sig_baseline`` 10), then a running minimum and a running maximum over
      ``window_s`` (suite2p ``win_baseline`` 60 s); linear time, about 0.3 s per 310 ROIs x 50,000 frames;
    * ``"prctile"``: the ``percentile``-th percentile of ``Fc`` (suite2p ``prctile_baseline`` 8) in a window of
      ``window_s`` centred on each frame, evaluated every ``step_s`` (1 s, assumed) and interpolated linearly in
      between (about 20 s for the same traces);

    ``ΔF/F = (Fc - F0) / F0``, with ``F0`` floored at 1 % of the ROI's median ``|Fc|`` so that a baseline near zero
    does not explode. Defaults: neuropil coefficient 0.7 (suite2p ``neucoeff``).
    """
    if baseline not in BASELINES:
        raise InvalidArgumentError(f"baseline must be one of {BASELINES}, got {baseline!r}")
    F = np.asarray(F, dtype=np.float64)
    Fneu = np.asarray(Fneu, dtype=np.float64)
    corrected = F - float(neuropil_coefficient) * Fneu  # ROIs x frames
    n_rois, n_frames = corrected.shape
    if n_frames == 0:
        return np.zeros((0, n_rois), dtype=np.float32)
    if baseline == "maximin":
        from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d

        # as suite2p's preprocessing (dcnv.preprocess, baseline 'maximin'): smooth, running min, running max
        window = max(1, int(round(window_s * frame_rate_hz)))
        smooth = gaussian_filter1d(corrected, float(sigma_frames), axis=1) if sigma_frames > 0 else corrected
        f0 = maximum_filter1d(minimum_filter1d(smooth, window, axis=1), window, axis=1)
    else:
        half = max(1, int(round(window_s * frame_rate_hz / 2)))
        step = max(1, int(round(step_s * frame_rate_hz)))
        centres = np.unique(np.append(np.arange(0, n_frames, step), n_frames - 1))
        f0_at = np.empty((n_rois, centres.size))
        for k, c in enumerate(centres):
            f0_at[:, k] = np.percentile(corrected[:, max(0, c - half):min(n_frames, c + half + 1)], percentile,
                                        axis=1)
        frames = np.arange(n_frames)
        f0 = np.vstack([np.interp(frames, centres, row) for row in f0_at]) if n_rois else corrected
    floor = 0.01 * np.median(np.abs(corrected), axis=1, keepdims=True)
    f0 = np.maximum(f0, np.maximum(floor, 1e-12))
    return ((corrected - f0) / f0).T.astype(np.float32)


def is_suite2p_day(folder: str | os.PathLike) -> bool:
    """Tell whether ``folder`` holds ``suite2p/plane*/F.npy`` (or is itself a suite2p or plane folder)."""
    return _plane_root(Path(folder)) is not None


def _plane_root(folder: Path) -> Path | None:
    for root in (folder / "suite2p", folder):
        if root.is_dir() and any((p / "F.npy").is_file() for p in root.glob("plane*")):
            return root
    if (folder / "F.npy").is_file():
        return folder.parent
    return None


def _load_plane(root: Path, plane: str) -> dict[str, Any]:
    folder = root / plane
    if not folder.is_dir():
        raise MissingDataError(f"no suite2p plane folder {plane}", folder)
    out: dict[str, Any] = {}
    for name in _SUITE2P_FILES:
        path = folder / name
        if name == "ops.npy" and not path.is_file() and (folder / "settings.npy").is_file():
            path = folder / "settings.npy"
        if not path.is_file():
            raise MissingDataError("suite2p file missing", path)
        try:
            value = np.load(path, allow_pickle=name in ("stat.npy", "ops.npy"))
        except Exception as exc:  # numpy raises ValueError/OSError/UnpicklingError for bad files
            raise InvalidRecordingError(f"not a readable .npy file ({type(exc).__name__})", path) from None
        if name == "ops.npy":
            value = value.item() if value.dtype == object and value.ndim == 0 else value
            if not isinstance(value, dict):
                raise InvalidRecordingError(f"{path.name} must hold suite2p's ops dict", path)
        out[name[:-4]] = value
    n = out["F"].shape[0] if out["F"].ndim == 2 else -1
    if out["F"].ndim != 2:
        raise InvalidRecordingError(f"F.npy must be ROIs x frames, got shape {out['F'].shape}", folder / "F.npy")
    for name in ("Fneu", "spks"):
        if out[name].shape != out["F"].shape:
            raise InvalidRecordingError(f"{name}.npy has shape {out[name].shape}, F.npy {out['F'].shape}",
                                        folder / f"{name}.npy")
    if out["iscell"].shape[0] != n:
        raise InvalidRecordingError(f"iscell.npy has {out['iscell'].shape[0]} rows, F.npy {n} ROIs",
                                    folder / "iscell.npy")
    if len(out["stat"]) != n:
        raise InvalidRecordingError(f"stat.npy has {len(out['stat'])} entries, F.npy {n} ROIs", folder / "stat.npy")
    out["folder"] = folder
    return out


def _read_trials(day: Path, trials: str | os.PathLike | None, allow_external_links: bool) -> pd.DataFrame:
    if trials is None:
        candidates = [day / "trials.csv"] + sorted(day.glob("*.nwb"))
        found = [c for c in candidates if c.is_file()]
        if not found:
            raise MissingDataError("no trials table (trials.csv or a .nwb file with a trials table)", day)
        path = found[0]
    else:
        path = Path(trials)
        if not path.is_file():
            raise MissingDataError("trials table not found", path)
    if path.suffix.lower() == ".nwb":
        from .nwb import open_nwb

        with open_nwb(path, allow_external_links=allow_external_links) as nwbfile:
            if nwbfile.trials is None:
                raise MissingDataError("the NWB file has no trials table", path)
            table = nwbfile.trials.to_dataframe().reset_index(drop=True)
    else:
        try:
            table = pd.read_csv(path)
        except Exception as exc:  # pandas raises many types for unreadable text
            raise InvalidRecordingError(f"not a readable CSV table ({type(exc).__name__})", path) from None
    missing = [c for c in _TRIAL_COLUMNS if c not in table]
    if missing:
        raise MissingDataError(f"trials table lacks column(s) {', '.join(missing)}", path)
    if "time_to_target" not in table:
        table["time_to_target"] = np.nan
    for column in ("target_hit", "rewarded"):
        table[column] = table[column].astype(str).str.strip().str.lower().isin(("true", "1", "1.0", "yes"))
    table.attrs["path"] = str(path)
    return table


def read_suite2p_session(day_folder: str | os.PathLike, rois: BCIRoiMap | str | os.PathLike, *,
                         trials: str | os.PathLike | None = None, day: int | None = None,
                         neuropil_coefficient: float = NEUROPIL_COEFFICIENT, allow_external_links: bool = False
                         ) -> BCIRecording:
    """Read one day of a lab's BCI experiment from its suite2p folder into a :class:`BCIRecording`.

    Parameters
    ----------
    day_folder
        The day's folder (holding ``suite2p/plane0/...``), or the ``suite2p`` folder itself.
    rois
        The animal's ROI map (:func:`read_bci_rois`) or the path of its ROI file.
    trials
        The trials table (CSV or NWB); default ``trials.csv`` or the first ``.nwb`` file in ``day_folder``.
    day
        Training day; default the number in the folder's name (``day03`` -> 3), else ``None``.
    neuropil_coefficient
        See :func:`suite2p_dff` (suite2p's default 0.7).

    Raises
    ------
    MissingDataError, InvalidRecordingError
        Missing files or columns, shapes that do not match, ROI numbers out of range; the message names the file.
    """
    folder = Path(day_folder)
    if not folder.is_dir():
        raise MissingDataError("day folder not found", folder)
    rois = rois if isinstance(rois, BCIRoiMap) else read_bci_rois(rois)
    root = _plane_root(folder)
    if root is None:
        raise MissingDataError("no suite2p output (suite2p/plane0/F.npy)", folder)
    day_path = root.parent if root.name == "suite2p" else folder
    soma_plane = _load_plane(root, rois.soma_plane)
    dend_plane = (soma_plane if rois.dendrite_plane in (None, rois.soma_plane)
                  else _load_plane(root, str(rois.dendrite_plane)))
    ops = soma_plane["ops"]
    if "fs" not in ops:
        raise MissingDataError("ops.npy has no frame rate 'fs'", soma_plane["folder"] / "ops.npy")
    rate = float(ops["fs"])
    n_frames = soma_plane["F"].shape[1]
    if dend_plane["F"].shape[1] != n_frames:
        raise InvalidRecordingError(f"the dendrite plane has {dend_plane['F'].shape[1]} frames, the soma plane "
                                    f"{n_frames}", dend_plane["folder"] / "F.npy")
    same_plane = dend_plane is soma_plane
    dendrite_rois = [d for _, d in rois.pairs]
    if rois.somata is not None:
        somata = list(dict.fromkeys(rois.somata))
    else:
        is_cell = np.asarray(soma_plane["iscell"])[:, 0] > 0.5
        used = set(dendrite_rois) if same_plane else set()
        somata = [int(i) for i in np.flatnonzero(is_cell) if int(i) not in used]
    somata = sorted(set(somata) | set(rois.p_plus) | set(rois.p_minus))
    where = rois.path if rois.path is not None else soma_plane["folder"] / "F.npy"
    for name, values, n in (("soma", somata, soma_plane["F"].shape[0]), ("dendrite", dendrite_rois,
                                                                         dend_plane["F"].shape[0])):
        bad = [v for v in values if not 0 <= v < n]
        if bad:
            raise InvalidRecordingError(f"{name} ROI(s) {bad} out of range: the suite2p {name} plane has {n} ROIs "
                                        f"({soma_plane['folder'] if name == 'soma' else dend_plane['folder']})",
                                        where)
    column = {roi: k for k, roi in enumerate(somata)}
    missing_soma = [s for s, _ in rois.pairs if s not in column]
    if missing_soma:
        raise InvalidRecordingError(f"pairs name soma ROI(s) {missing_soma} that are not among the somata", where)
    soma_dff = suite2p_dff(soma_plane["F"][somata], soma_plane["Fneu"][somata], rate,
                           neuropil_coefficient=neuropil_coefficient)
    dend_dff = suite2p_dff(dend_plane["F"][dendrite_rois], dend_plane["Fneu"][dendrite_rois], rate,
                           neuropil_coefficient=neuropil_coefficient)
    ensemble = np.array(["P+" if s in rois.p_plus else "P-" if s in rois.p_minus else "P0" for s in somata])
    table = _read_trials(day_path, trials, allow_external_links)
    if len(table) and float(table["stop_time"].max()) > n_frames / rate + 1.0:
        raise InvalidRecordingError(f"trials end at {float(table['stop_time'].max()):.1f} s but the imaging lasts "
                                    f"{n_frames / rate:.1f} s", table.attrs["path"])
    first = float(table["start_time"].min()) if len(table) else 0.0
    baseline_s = rois.baseline_s if rois.baseline_s is not None else first
    baseline_frames = int(np.clip(np.floor(baseline_s * rate + 1e-9), 0, n_frames))
    recording = BCIRecording(frame_rate_hz=rate, soma_dff=soma_dff, dendrite_dff=dend_dff, ensemble=ensemble,
                             cursor=np.zeros(n_frames, dtype=np.float32), baseline_frames=baseline_frames,
                             trials=table, parent_soma=np.array([column[s] for s, _ in rois.pairs], dtype=np.int64),
                             day=day if day is not None else _day_number(day_path), session=day_path.name,
                             path=day_path, source="suite2p",
                             params={"soma_rois": somata, "dendrite_rois": dendrite_rois,
                                     "neuropil_coefficient": float(neuropil_coefficient)})
    cursor_file = day_path / "cursor.npy"
    if cursor_file.is_file():
        cursor = np.load(cursor_file).astype(np.float32).ravel()
        if cursor.size != n_frames:
            raise InvalidRecordingError(f"cursor.npy has {cursor.size} values, the imaging {n_frames} frames",
                                        cursor_file)
    else:  # the rig's decoder: mean ΔF/F of P+ minus mean ΔF/F of P-, averaged over 3 frames
        raw = soma_dff @ np.asarray(recording.bci_weight, dtype=np.float32)
        cursor = np.convolve(raw, np.ones(3, dtype=np.float32) / 3, mode="full")[:n_frames].astype(np.float32)
    recording.cursor = cursor
    return recording


def _day_number(folder: Path) -> int | None:
    match = re.search(r"(?:day|d)[\s_-]*0*(\d+)", folder.name, flags=re.IGNORECASE)
    return int(match.group(1)) if match else None


def read_suite2p_folder(animal_folder: str | os.PathLike, rois: BCIRoiMap | str | os.PathLike | None = None,
                        **kwargs) -> list[BCIRecording]:
    """Read every day of one animal: the sub-folders of ``animal_folder`` that hold suite2p output.

    ``rois`` defaults to ``rois.toml`` or ``rois.csv`` in ``animal_folder``. Days are numbered from the folder
    names (``day01``, ``d3``) or, failing that, in sorted order from 1.
    """
    folder = Path(animal_folder)
    days = day_folders(folder)
    if not days:
        raise MissingDataError("no day folders with suite2p output (DAY/suite2p/plane0/F.npy)", folder)
    rois = _default_rois(folder) if rois is None else rois
    rois = rois if isinstance(rois, BCIRoiMap) else read_bci_rois(rois)
    out = []
    for index, day in enumerate(days, start=1):
        number = _day_number(day)
        out.append(read_suite2p_session(day, rois, day=number if number is not None else index, **kwargs))
    return out


def day_folders(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` holding suite2p output, sorted by name (``folder`` itself if it is one)."""
    if is_suite2p_day(folder) and not any(is_suite2p_day(p) for p in folder.iterdir() if p.is_dir()
                                          and p.name != "suite2p"):
        return [folder]
    return sorted((p for p in folder.iterdir() if p.is_dir() and p.name != "suite2p" and is_suite2p_day(p)),
                  key=lambda p: p.name)


def _default_rois(folder: Path) -> Path:
    for name in ("rois.toml", "rois.csv"):
        if (folder / name).is_file():
            return folder / name
    raise MissingDataError("no ROI file (rois.toml or rois.csv naming the P+/P- ROIs and soma-dendrite pairs); "
                           "give one with --rois", folder)
