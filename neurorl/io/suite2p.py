"""Write a suite2p output folder (``suite2p/planeN/``) without depending on suite2p.

suite2p's documented outputs per plane (suite2p docs, "Outputs"): ``F.npy``, ``Fneu.npy``, ``spks.npy`` (float32,
ROIs x frames), ``iscell.npy`` (ROIs x 2: 0/1 and the classifier's probability), ``stat.npy`` (an object array
of one dict per ROI: ``ypix``, ``xpix``, ``lam``, ``med``, ``npix``, ...) and ``ops.npy`` (a dict saved with
``np.save``; load with ``np.load(..., allow_pickle=True).item()``). Newer suite2p versions call the last
``settings.npy``; this writer uses ``ops.npy``, which every version reads.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InvalidArgumentError
from ._atomic import data_first

__all__ = ["write_suite2p_plane", "SUITE2P_FILES"]

#: The files of one suite2p plane folder.
SUITE2P_FILES: tuple[str, ...] = ("F.npy", "Fneu.npy", "spks.npy", "iscell.npy", "stat.npy", "ops.npy")


@data_first(1, path_name="folder")
def write_suite2p_plane(plane: dict, folder: str | os.PathLike) -> list[Path]:
    """Write one plane's arrays (``F``, ``Fneu``, ``spks``, ``iscell``, ``stat``, ``ops``) as suite2p does.

    Parameters
    ----------
    plane
        Mapping with the six entries; see :func:`neurorl.models.bci_imaging.suite2p_plane`.
    folder
        The plane folder, e.g. ``.../suite2p/plane0`` (created). Data first, path last, as every neurorl
        writer (the old ``(folder, plane)`` order still works, with a :class:`DeprecationWarning`).

    Returns
    -------
    list of pathlib.Path
        The files written.
    """
    folder = Path(folder)
    missing = [k for k in ("F", "Fneu", "spks", "iscell", "stat", "ops") if k not in plane]
    if missing:
        raise InvalidArgumentError(f"suite2p plane lacks {missing}")
    f = np.asarray(plane["F"], dtype=np.float32)
    n_rois, n_frames = f.shape
    for name in ("Fneu", "spks"):
        if np.shape(plane[name]) != (n_rois, n_frames):
            raise InvalidArgumentError(f"{name} has shape {np.shape(plane[name])}, F has {(n_rois, n_frames)}")
    if np.shape(plane["iscell"]) != (n_rois, 2) or len(plane["stat"]) != n_rois:
        raise InvalidArgumentError("iscell must be (n_rois, 2) and stat hold one entry per ROI")
    folder.mkdir(parents=True, exist_ok=True)
    stat = np.empty(n_rois, dtype=object)
    for i, s in enumerate(plane["stat"]):
        stat[i] = s
    arrays = {"F.npy": f, "Fneu.npy": np.asarray(plane["Fneu"], dtype=np.float32),
              "spks.npy": np.asarray(plane["spks"], dtype=np.float32),
              "iscell.npy": np.asarray(plane["iscell"], dtype=np.float64), "stat.npy": stat,
              "ops.npy": np.array(dict(plane["ops"], save_path=str(folder.name)), dtype=object)}
    written = []
    for name, data in arrays.items():
        path = folder / name
        np.save(path, data, allow_pickle=data.dtype == object)
        written.append(path)
    return written
