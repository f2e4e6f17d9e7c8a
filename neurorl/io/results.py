"""Result files, written atomically: text, CSV tables, netCDF datasets, figures.

Every writer here, and every other writer in neurorl (:func:`~neurorl.io.nwb.write_dopamine`,
:func:`~neurorl.io.bci_nwb.write_bci_session`, :func:`~neurorl.io.nwb.write_nwbfile`,
:func:`~neurorl.models.saving.save_model`, ...), takes **the data first and the target path after them**:
``write_csv(table, path)``, as pandas' ``table.to_csv(path)`` and xarray's ``dataset.to_netcdf(path)`` read.

Each writes to a temporary file beside the target (``.<stem>.<random>.part<suffix>``) and renames it into place
only when the write succeeded, so a failure never leaves a half-written file; each returns the path written.

Examples
--------
>>> import tempfile, pandas as pd, xarray as xr
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> write_csv(pd.DataFrame({"cell": ["s1/0"], "reversal_point": [4.2]}), folder / "cells.csv").name
'cells.csv'
>>> print((folder / "cells.csv").read_text().strip())
cell,reversal_point
s1/0,4.2
>>> ds = xr.Dataset({"reversal_point": ("cell", [4.2], {"units": "µl"})}, coords={"cell": ["s1/0"]})
>>> xr.open_dataset(write_netcdf(ds, folder / "fit.nc"))["reversal_point"].attrs["units"]
'µl'
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

from ._atomic import atomic_path, data_first, write_bytes

__all__ = ["write_text", "write_csv", "write_netcdf", "save_figure"]


@data_first(1, path_types=(os.PathLike,))  # the old (path, text) order is detectable only for a Path
def write_text(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@data_first(1)
def write_csv(table, path: str | os.PathLike, **kwargs) -> Path:
    """Write a :class:`pandas.DataFrame` as CSV atomically (``index=False`` unless given).

    ``kwargs`` go to :meth:`pandas.DataFrame.to_csv`.
    """
    kwargs.setdefault("index", False)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, **kwargs)
    return Path(path)


def _netcdf_attrs(attrs: dict) -> dict:
    """Attributes netCDF can hold: booleans as 0/1, None as "", nested containers as their repr."""
    safe = {}
    for key, value in attrs.items():
        if isinstance(value, bool):
            value = int(value)
        elif value is None:
            value = ""
        elif isinstance(value, dict | tuple | list) and not all(isinstance(v, int | float | str) for v in value):
            value = repr(value)
        safe[str(key)] = value
    return safe


@data_first(1)
def write_netcdf(dataset, path: str | os.PathLike) -> Path:
    """Write an :class:`xarray.Dataset` as netCDF-4 (h5netcdf engine) atomically.

    Attributes netCDF cannot store (booleans, ``None``, nested containers) are converted, see
    :func:`_netcdf_attrs`; the Dataset passed in is not modified.
    """
    dataset = dataset.copy(deep=False)
    dataset.attrs = _netcdf_attrs(dataset.attrs)
    for name in dataset.variables:
        dataset[name].attrs = _netcdf_attrs(dataset[name].attrs)
    with warnings.catch_warnings():
        # h5netcdf's note on the '.nc' suffix of files with non-classic features (e.g. string coordinates)
        warnings.filterwarnings("ignore", message="You are writing invalid netcdf features")
        data = dataset.to_netcdf(engine="h5netcdf")
    # built in memory, then written by Python: a full disk is an OSError, not an error inside libhdf5
    write_bytes(data, path)
    return Path(path)


@data_first(1)
def save_figure(figure, path: str | os.PathLike, **kwargs) -> Path:
    """Save a matplotlib figure atomically; the format follows ``path``'s suffix. A pyplot figure is closed.

    ``kwargs`` go to :meth:`matplotlib.figure.Figure.savefig` (defaults: ``dpi=150``, ``bbox_inches="tight"``).
    """
    path = Path(path)
    kwargs.setdefault("dpi", 150)
    kwargs.setdefault("bbox_inches", "tight")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=path.suffix.lstrip(".") or "png", **kwargs)
    if "matplotlib.pyplot" in sys.modules:  # a saved pyplot figure is done with: free it (no-op otherwise)
        sys.modules["matplotlib.pyplot"].close(figure)
    return path
