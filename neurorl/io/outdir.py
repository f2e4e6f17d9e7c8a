"""All-or-nothing output folders: a command's ``--out`` holds either its complete new results or the old ones.

Every command that writes an ``--out`` folder runs inside :func:`output_folder`:

1. it takes a lock beside the folder (``.OUT.neurorl.lock``, the ``filelock`` package); a second run on the
   same folder is refused with one line naming the holder's pid and start time;
2. it clears what killed runs left: hidden staging folders (``.OUT.neurorl-staging-PID``), a half-swapped
   folder (``.OUT.neurorl-old-PID``, put back when ``OUT`` itself is missing) and ``.part`` files;
3. the command writes its files into the staging folder it is given, a hidden sibling of ``OUT`` on the same
   file system;
4. on success ``manifest.json`` (command line, settings, inputs with sizes and SHA-256, outputs, times,
   versions) is written into the staging folder, every other entry of ``OUT`` -- files a user put there, a
   resumable cache -- is hard-linked (copied where links are impossible) into it, and the two folders are
   exchanged by one atomic ``renameat2(RENAME_EXCHANGE)`` (Linux; ``renamex_np(RENAME_SWAP)`` on macOS;
   elsewhere two renames, undone by the next run if it is killed between them);
5. on any exception -- including ``SIGTERM``, turned into :class:`Terminated` -- the staging folder is
   removed and ``OUT`` is left exactly as it was.

Files of the previous run that the new run does not write (a figure format no longer asked for) are dropped:
the previous ``manifest.json`` lists them. What a command writes directly into ``OUT`` while it runs (a
resumable cache such as ``OUT/cache``) is not part of the swap: it survives a failed or killed run.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import datetime as _dt
import errno
import hashlib
import json
import os
import re
import shlex
import shutil
import signal
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidArgumentError, OutputFolderBusyError, OutputFolderError

__all__ = ["output_folder", "Terminated", "MANIFEST_NAME", "read_manifest", "previous_outputs", "sha256_file",
           "input_files", "staging_of", "display_path", "foreign_files"]

#: Name of the manifest every output folder gets.
MANIFEST_NAME = "manifest.json"
#: Version of the manifest's layout (bumped when its keys change meaning).
MANIFEST_VERSION = 1

#: Temporary files of :mod:`neurorl.io._atomic` (``.<stem>.<8 random chars>.part<suffix>``).
_PART_FILE = re.compile(r"^\..*\.[A-Za-z0-9_]{8}\.part(\.[^/]*)?$")


class Terminated(BaseException):
    """The process received ``SIGTERM`` (or ``SIGHUP``) while writing an output folder.

    A ``BaseException`` like :class:`KeyboardInterrupt`, so that ``except Exception`` blocks do not swallow it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = int(signum)
        super().__init__(f"terminated by signal {signal.Signals(self.signum).name}")


# ----------------------------------------------------------------------------------------------- helpers
def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20, stop: threading.Event | None = None) -> str | None:
    """SHA-256 of a file's content, as hex (``None`` if ``stop`` was set before the end)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            if stop is not None and stop.is_set():
                return None
            digest.update(block)
    return digest.hexdigest()


class _InputHashes:
    """Size and SHA-256 of each input file, computed in a background thread (:meth:`result` waits for them)."""

    def __init__(self, files: Sequence[Path]) -> None:
        self._files = list(files)
        self._rows: list[dict] = []
        self._error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="neurorl-input-hashes", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        if sys.platform.startswith("linux"):
            with contextlib.suppress(AttributeError, OSError):
                # lowest CPU priority for this thread (on Linux a thread has its own nice value), so that the
                # checksums take only the cores the command leaves idle
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        try:
            for f in self._files:
                digest = sha256_file(f, stop=self._stop)
                if digest is None:
                    return
                self._rows.append({"path": os.path.abspath(f), "size": f.stat().st_size, "sha256": digest})
        except BaseException as error:  # re-raised in the caller's thread by result()
            self._error = error

    def result(self) -> list[dict]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._rows

    def cancel(self) -> None:
        self._stop.set()


def input_files(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """Return the regular files behind ``paths``: a file is itself, a folder every non-hidden file below it.

    Paths that do not exist are skipped (the command itself reports them).
    """
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files.extend(Path(root) / name for name in sorted(names) if not name.startswith("."))
    return list(dict.fromkeys(files))


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """Return the ``manifest.json`` of an output folder as a dict (``None`` if absent or unreadable)."""
    try:
        return json.loads((Path(folder) / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def previous_outputs(folder: str | os.PathLike) -> set[str]:
    """Relative paths (``/``-separated) of the files the previous run wrote into ``folder`` (from its manifest)."""
    manifest = read_manifest(folder) or {}
    entries = manifest.get("outputs", [])
    return {str(entry["path"]) for entry in entries if isinstance(entry, dict) and "path" in entry}


def staging_of(args) -> Path:
    """Return the folder a command writes its ``--out`` files into.

    That is the staging folder the command line gives it (``args._staging``), or ``args.out`` itself when a
    run function is called without one.
    """
    return Path(getattr(args, "_staging", None) or args.out)


def display_path(args, path: str | os.PathLike) -> Path:
    """``path`` as the user will find it: a file in the staging folder is shown under ``--out``."""
    path = Path(path)
    staging = getattr(args, "_staging", None)
    if staging is not None:
        with contextlib.suppress(ValueError):
            return Path(args.out) / path.relative_to(staging)
    return path


def foreign_files(out: str | os.PathLike, pattern: str, expected: Iterable[str]) -> None:
    """Refuse an output folder that holds files matching ``pattern`` (e.g. ``*.nwb``) of someone else.

    Files the run writes (``expected`` names) and files the previous run wrote (its manifest) are fine; any
    other: a folder of recordings read as one data set must not mix a user's files with simulated ones.

    Raises
    ------
    InvalidArgumentError
        Naming up to three such files.
    """
    out = Path(out)
    if not out.is_dir():
        return
    keep = set(expected) | previous_outputs(out)
    stale = sorted(p.name for p in out.glob(pattern) if p.name not in keep and not p.name.startswith("."))
    if stale:
        raise InvalidArgumentError(
            f"folder already holds other {pattern.lstrip('*')} files ({', '.join(stale[:3])}"
            f"{' ...' if len(stale) > 3 else ''}); choose an empty folder", out)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_json_safe(v) for v in value]
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, float) and value != value:  # NaN is not JSON
        return None
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if hasattr(value, "item"):  # numpy scalars
        with contextlib.suppress(Exception):
            return _json_safe(value.item())
    return str(value)


def _os_problem(error: OSError) -> str:
    if error.errno == errno.EROFS:
        return "read-only file system"
    if error.errno == errno.ENOSPC:
        return "no space left on the device"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return error.strerror or type(error).__name__


# ------------------------------------------------------------------------------------------------ swap
def _libc():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name, use_errno=True)
    except OSError:
        return None


def _exchange(a: Path, b: Path) -> bool:
    """Atomically exchange two paths on one file system; ``False`` where the system cannot."""
    libc = _libc()
    if libc is None:
        return False
    if sys.platform.startswith("linux") and hasattr(libc, "renameat2"):
        at_fdcwd, rename_exchange = -100, 2
        result = libc.renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    elif sys.platform == "darwin" and hasattr(libc, "renamex_np"):
        rename_swap = 2
        result = libc.renamex_np(os.fsencode(a), os.fsencode(b), rename_swap)
    else:
        return False
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), os.fspath(a))


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` as ``target`` (copy where links are impossible); a symlink is recreated."""
    if source.is_symlink():
        os.symlink(os.readlink(source), target)
        return
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def _carry(old: Path, new: Path, dropped: set[str], prefix: str = "") -> None:
    """Bring every entry of ``old`` into ``new`` that the new run does not write.

    Entries in ``dropped`` (files of the previous run) are left out; folders are merged entry by entry.
    """
    for entry in sorted(old.iterdir(), key=lambda p: p.name):
        rel = prefix + entry.name
        target = new / entry.name
        if rel in dropped or (not prefix and entry.name == MANIFEST_NAME):
            continue
        if entry.is_dir() and not entry.is_symlink():
            if target.is_symlink() or (target.exists() and not target.is_dir()):
                continue  # the new run wrote a file of that name
            target.mkdir(exist_ok=True)
            shutil.copystat(entry, target)
            _carry(entry, target, dropped, rel + "/")
            if not any(target.iterdir()) and any(d.startswith(rel + "/") for d in dropped):
                target.rmdir()  # a folder that held only the previous run's files
        elif not (target.exists() or target.is_symlink()):
            _link_or_copy(entry, target)


def _outputs(folder: Path) -> list[dict]:
    rows = []
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = Path(root) / name
            rel = path.relative_to(folder).as_posix()
            if rel == MANIFEST_NAME or path.is_symlink():
                continue
            rows.append({"path": rel, "size": path.stat().st_size, "sha256": sha256_file(path)})
    return rows


# ---------------------------------------------------------------------------------------------- folder
class _Folder:
    """The state of one :func:`output_folder` call."""

    def __init__(self, out: str | os.PathLike) -> None:
        given = Path(out)
        self.given = given
        self.out = Path(os.path.realpath(given))  # a symlinked --out: write where it points
        self.parent = self.out.parent
        name = self.out.name
        self.lock_path = self.parent / f".{name}.neurorl.lock"
        self.owner_path = self.parent / f".{name}.neurorl.owner"
        self.staging = self.parent / f".{name}.neurorl-staging-{os.getpid()}"
        self.old = self.parent / f".{name}.neurorl-old-{os.getpid()}"
        self.lock = None

    # -- checks
    def check(self, inputs: Sequence[str | os.PathLike]) -> None:
        if self.out.exists() and not self.out.is_dir():
            raise OutputFolderError("exists and is not a folder", self.given)
        if not self.out.name or self.out == self.out.parent:
            raise InvalidArgumentError("--out cannot be a file system's root", self.given)
        for raw in inputs:
            path = Path(raw)
            if not path.exists():
                continue
            folder = Path(os.path.realpath(path if path.is_dir() else path.parent))
            # an input folder's whole tree is refused; for an input file only its own folder (a sibling folder
            # such as ``session.nwb --out results`` holds no input and is fine)
            if self.out == folder or (path.is_dir() and folder in self.out.parents):
                what = "the input folder" if path.is_dir() else "the folder of the input file"
                raise InvalidArgumentError(f"is {'' if self.out == folder else 'inside '}{what} {raw}; choose an "
                                           "output folder outside the inputs", self.given)

    # -- lock
    def acquire(self) -> None:
        from filelock import FileLock, Timeout

        try:
            self.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:
            raise OutputFolderError(f"cannot create the folder: {self.parent} is a file", self.given) from None
        except OSError as error:
            raise OutputFolderError(f"cannot create the folder: {_os_problem(error)}", self.given) from None
        try:  # a folder where the lock file cannot be created (read-only, /proc, ...) is not "busy"
            os.close(os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o666))
        except OSError as error:
            raise OutputFolderError(f"cannot write here: {_os_problem(error)}", self.given) from None
        lock = FileLock(os.fspath(self.lock_path), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise OutputFolderBusyError(f"in use by another neurorl run ({self._holder()})", self.given) from None
        except OSError as error:
            raise OutputFolderError(f"cannot write here: {_os_problem(error)}", self.given) from None
        self.lock = lock
        with contextlib.suppress(OSError):
            self.owner_path.write_text(json.dumps({"pid": os.getpid(), "since": _now()}) + "\n", encoding="utf-8")

    def _holder(self) -> str:
        try:
            owner = json.loads(self.owner_path.read_text(encoding="utf-8"))
            return f"pid {int(owner['pid'])}, since {owner['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            return "pid unknown"

    def release(self) -> None:
        if self.lock is not None:
            with contextlib.suppress(OSError):
                self.owner_path.unlink()
            self.lock.release()
            self.lock = None

    # -- debris
    def clear_debris(self) -> None:
        """Undo or remove what killed runs left (we hold the lock: no other run is writing here)."""
        prefix = f".{self.out.name}.neurorl-"
        olds = sorted(p for p in self.parent.glob(f"{glob_escape(prefix)}old-*") if p.is_dir())
        if olds and not self.out.exists():
            os.rename(olds.pop(), self.out)  # a run was killed between its two renames: the old folder is back
        for path in self.parent.glob(f"{glob_escape(prefix)}*"):
            # staging folders of killed runs (their pid is gone; under the lock no run of ours is alive
            # that writes here, so a reused pid does not matter) and an old folder already swapped out
            kind = path.name[len(prefix):].partition("-")[0]
            if kind in ("staging", "old") and path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
        if self.out.is_dir():
            for root, _dirs, names in os.walk(self.out):
                for name in names:
                    if _PART_FILE.match(name):
                        with contextlib.suppress(OSError):
                            (Path(root) / name).unlink()

    # -- commit
    def commit(self, manifest: dict) -> None:
        dropped = previous_outputs(self.out) if self.out.is_dir() else set()
        manifest["outputs"] = _outputs(self.staging)
        manifest["finished"] = _now()
        (self.staging / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n",
                                                  encoding="utf-8")
        if not self.out.exists():
            os.rename(self.staging, self.out)
            return
        _carry(self.out, self.staging, dropped)
        shutil.copystat(self.out, self.staging)
        if _exchange(self.staging, self.out):
            shutil.rmtree(self.staging, ignore_errors=True)  # now the old folder
            return
        os.rename(self.out, self.old)   # a kill here is undone by the next run (clear_debris)
        os.rename(self.staging, self.out)
        shutil.rmtree(self.old, ignore_errors=True)


def glob_escape(text: str) -> str:
    """``text`` with glob wildcards escaped."""
    return re.sub(r"([*?\[])", r"[\1]", text)


@contextlib.contextmanager
def _signals_as_exceptions(deferred: list[int]) -> Iterator[None]:
    """Turn SIGTERM / SIGHUP into :class:`Terminated` (only in the main thread).

    While ``deferred`` holds a ``0`` sentinel, the signal is recorded instead of raised.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):  # noqa: ARG001 - signal API
        if deferred and deferred[0] == 0:
            deferred.append(signum)
            return
        raise Terminated(signum)

    previous = {}
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


@contextlib.contextmanager
def output_folder(out: str | os.PathLike, *, inputs: Sequence[str | os.PathLike] = (),
                  command: Sequence[str] | str | None = None, settings: dict | None = None) -> Iterator[Path]:
    """Write an output folder all-or-nothing; yield the (hidden, sibling) folder to write into.

    Parameters
    ----------
    out
        The output folder (created with its parents if missing).
    inputs
        Files or folders the command reads. ``out`` may not be an input folder (or an input file's folder) or
        lie inside one (:class:`~neurorl.errors.InvalidArgumentError`). Each input file's size and SHA-256 go
        into ``manifest.json``.
    command
        The command line (list of words, or one string), for the manifest.
    settings
        Every setting of the run (e.g. the parsed arguments), for the manifest.

    Raises
    ------
    OutputFolderError
        ``out`` is a file, or cannot be written (read-only file system, permissions).
    OutputFolderBusyError
        Another run holds ``out``'s lock.
    Terminated
        The process got SIGTERM while inside the block (``out`` is left as it was).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     with output_folder(pathlib.Path(tmp) / "out") as stage:
    ...         _ = (stage / "a.txt").write_text("1")
    ...     sorted(p.name for p in (pathlib.Path(tmp) / "out").iterdir())
    ['a.txt', 'manifest.json']
    """
    import numpy

    from .. import __version__

    folder = _Folder(out)
    folder.check(inputs)
    started = _now()
    if isinstance(command, str):
        command_line, argv = command, shlex.split(command)
    else:
        argv = [str(word) for word in (command or [])]
        command_line = shlex.join(argv)
    deferred: list[int] = []
    folder.acquire()
    try:
        with _signals_as_exceptions(deferred):
            try:
                folder.clear_debris()
                if folder.out.exists() and not os.access(folder.out, os.W_OK | os.X_OK):
                    raise OutputFolderError("permission denied", folder.given)
                try:
                    folder.staging.mkdir()
                except OSError as error:
                    raise OutputFolderError(f"cannot write here: {_os_problem(error)}", folder.given) from None
                files = input_files(inputs)
                manifest = {
                    "manifest_version": MANIFEST_VERSION,
                    "command": command_line,
                    "argv": argv,
                    "neurorl_version": __version__,
                    "python_version": sys.version.split()[0],
                    "numpy_version": numpy.__version__,
                    "platform": sys.platform,
                    "settings": _json_safe(dict(settings or {})),
                    "inputs": [],
                    "started": started,
                }
                # the inputs' checksums are computed in a thread while the command runs (hashlib and file reads
                # release the GIL): gigabytes of recordings cost no time of their own
                hashing = _InputHashes(files)
                try:
                    yield folder.staging
                    manifest["inputs"] = hashing.result()
                finally:
                    hashing.cancel()
                deferred.append(0)  # from here on a SIGTERM waits until the swap is done
                try:
                    folder.commit(manifest)
                except OSError as error:
                    raise OutputFolderError(f"cannot write the results: {_os_problem(error)}", folder.given) from None
            except BaseException:
                shutil.rmtree(folder.staging, ignore_errors=True)
                raise
            if len(deferred) > 1:
                raise Terminated(deferred[1])
    finally:
        folder.release()
