"""Write files so that a failure never leaves a half-written file behind.

Every writer in neurorl writes to a temporary file in the target folder and renames it into place only once
the write succeeded (``os.replace`` is atomic on one file system). The public writers of result files are in
:mod:`neurorl.io.results`; their old names here still work.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["atomic_path", "data_first", "write_bytes"]


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


def data_first(n_data: int, path_types: tuple[type, ...] = (str, os.PathLike),
               path_name: str = "path") -> Callable:
    """Accept the old path-first order of a writer for a while, with a :class:`DeprecationWarning`.

    Every neurorl writer takes its data first and the target path after them (``write_x(data, path)``, as
    ``DataFrame.to_csv(path)`` and ``Dataset.to_netcdf(path)`` read). A call whose first positional argument is
    one of ``path_types`` (a path, where the data never are one) is the old order ``write_x(path, data...)``:
    the path is moved behind the ``n_data`` data arguments (or passed as ``path_name=`` when some of the data
    came as keywords) and the call warns.
    """

    def decorate(writer: Callable) -> Callable:
        @functools.wraps(writer)
        def wrapper(*args, **kwargs):
            old = (args and isinstance(args[0], path_types) and path_name not in kwargs
                   and not (len(args) > n_data and isinstance(args[n_data], path_types)))
            if old:
                warnings.warn(f"{writer.__name__}(path, ...) is deprecated: the data come first, then the path "
                              f"({writer.__name__}(data, path))", DeprecationWarning, stacklevel=2)
                if len(args) > n_data:
                    args = (*args[1:n_data + 1], args[0], *args[n_data + 1:])
                else:
                    kwargs[path_name] = args[0]
                    args = args[1:]
            return writer(*args, **kwargs)

        return wrapper

    return decorate


def write_bytes(data: bytes | memoryview, target: str | os.PathLike) -> Path:
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


_MOVED = ("write_text", "write_csv", "write_netcdf", "save_figure")


def __getattr__(name: str):
    # the writers moved to neurorl.io.results (data first, path second); old imports keep working
    if name in _MOVED:
        from . import results

        return getattr(results, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
