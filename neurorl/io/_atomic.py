"""Write files so that a failure never leaves a half-written file behind.

Every writer in neurorl writes to a temporary file in the target folder and renames it into place only once
the write succeeded (``os.replace`` is atomic on one file system).
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "write_bytes", "write_text", "write_csv", "write_netcdf", "save_figure"]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it to ``target`` when the block succeeds.

    The temporary name starts with a dot and keeps ``target``'s suffix (``.session.x1y2.part.nwb``), so
    libraries that check suffixes are content and folder scans that skip dot-files ignore it.

    On any exception the temporary file is removed and ``target`` is left as it was; an :class:`OSError` (a full
    disk) is raised again naming ``target``.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".part{target.suffix}",
                                      dir=target.parent)
    os.close(handle)
    tmp = Path(tmp_name)
    try:
        yield tmp
        # mkstemp creates the file owner-only (0600); give it the permissions a plain open() would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, target)
    except OSError as error:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if error.filename is None or error.filename == str(tmp):  # name the file being written, not its temporary
            raise OSError(error.errno, error.strerror or str(error), str(target)) from error
        raise
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(target: str | os.PathLike, data: bytes | memoryview) -> Path:
    """Write ``data`` to ``target`` atomically with Python's own file I/O and return the path.

    Files built by C libraries (HDF5 for NWB and netCDF-4) are built in memory first and written here, so that
    a full disk or a vanished folder is an :class:`OSError` naming the file, never a crash inside the library.
    """
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
    return Path(target)


def write_text(target: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_csv(target: str | os.PathLike, table, **kwargs) -> Path:
    """Write a :class:`pandas.DataFrame` as CSV atomically (``index=False`` unless given)."""
    kwargs.setdefault("index", False)
    with atomic_path(target) as tmp:
        table.to_csv(tmp, **kwargs)
    return Path(target)


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


def write_netcdf(target: str | os.PathLike, dataset) -> Path:
    """Write an :class:`xarray.Dataset` as netCDF-4 (h5netcdf engine) atomically.

    Attributes netCDF cannot store (booleans, ``None``, nested containers) are converted, see
    :func:`_netcdf_attrs`; the Dataset passed in is not modified.
    """
    dataset = dataset.copy(deep=False)
    dataset.attrs = _netcdf_attrs(dataset.attrs)
    for name in dataset.variables:
        dataset[name].attrs = _netcdf_attrs(dataset[name].attrs)
    # built in memory, then written by Python: a full disk is an OSError, not an error inside libhdf5
    return write_bytes(target, dataset.to_netcdf(engine="h5netcdf"))


def save_figure(target: str | os.PathLike, figure, **kwargs) -> Path:
    """Save a matplotlib figure atomically; the format follows ``target``'s suffix. A pyplot figure is closed."""
    target = Path(target)
    kwargs.setdefault("dpi", 150)
    kwargs.setdefault("bbox_inches", "tight")
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format=target.suffix.lstrip(".") or "png", **kwargs)
    if "matplotlib.pyplot" in sys.modules:  # a saved pyplot figure is done with: free it (no-op otherwise)
        sys.modules["matplotlib.pyplot"].close(figure)
    return target
