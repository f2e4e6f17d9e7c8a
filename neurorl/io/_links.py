"""Refuse HDF5 files whose content lives outside the file (external links, dangling soft links, external storage).

HDF5 can make an object of one file stand for something elsewhere: an *external link* names an object in another
file (any path on the machine, opened when the link is followed), a *soft link* names a path that may not exist,
a dataset may keep its raw bytes in *external storage* (any file, read as numbers) and a *virtual dataset* maps
other files' datasets into the file. pynwb and h5py follow all of these silently, so a recording could make a
reader read another file (e.g. ``/etc/passwd``, or another recording's units) without a word.

:func:`check_hdf5_links` walks an open file **without following links** (``Group.get(name, getlink=True)``) and
raises :class:`~neurorl.errors.ExternalLinkError` naming the link and its target, unless the caller opts in with
``allow_external_links=True``. Soft links that point at an existing object of the same file (pynwb writes these,
e.g. for a ``DynamicTableRegion``'s table or a linked ``TimeSeries``) are fine.
"""

from __future__ import annotations

import os
import posixpath

from ..errors import ExternalLinkError

__all__ = ["check_hdf5_links", "find_hdf5_links"]


def _join(group: str, name: str) -> str:
    return posixpath.join(group, name) if group != "/" else "/" + name


def find_hdf5_links(handle) -> list[tuple[str, str, str, str]]:
    """Every link or storage in an open :class:`h5py.File` that points outside itself or nowhere.

    The file is walked through hard links only; soft and external links are read as links and never followed,
    so no other file is opened.

    Parameters
    ----------
    handle
        An open :class:`h5py.File`.

    Returns
    -------
    list of (kind, object, target file, target object)
        ``kind`` is ``"external link"``, ``"soft link"`` (dangling or leaving the tree), ``"external storage"``,
        ``"virtual dataset"`` or ``"link"`` (a user-defined link type); ``object`` the path in this file;
        ``target file`` is ``""`` for a target inside this file.
    """
    import h5py

    found: list[tuple[str, str, str, str]] = []
    soft: list[tuple[str, str, str]] = []  # (link path, its group, target)
    seen: set = set()
    stack: list[tuple[str, h5py.Group]] = [("/", handle)]
    while stack:
        group_path, group = stack.pop()
        for name in group:  # link names of the group; iterating does not resolve the links
            path = _join(group_path, name)
            try:
                link = group.get(name, getlink=True)
            except (TypeError, KeyError, ValueError):  # h5py has no class for user-defined link types
                found.append(("link", path, "", "(a user-defined HDF5 link type)"))
                continue
            if isinstance(link, h5py.ExternalLink):
                found.append(("external link", path, link.filename, link.path))
            elif isinstance(link, h5py.SoftLink):
                soft.append((path, group_path, link.path))
            elif isinstance(link, h5py.HardLink):
                obj = group.get(name)
                key = hash(obj.id)  # h5py hashes an object id by (file number, object address)
                if key in seen:
                    continue
                seen.add(key)
                if isinstance(obj, h5py.Group):
                    stack.append((path, obj))
                elif isinstance(obj, h5py.Dataset):
                    found.extend(_dataset_outside(obj, path))
    if not any(kind == "external link" for kind, *_ in found):
        # resolving a soft link could only open another file through an external link, and there is none
        for path, group_path, target in soft:
            absolute = target if target.startswith("/") else _join(group_path, target)
            if ".." in target.split("/"):
                found.append(("soft link", path, "", f"{target} (leaves the file's tree)"))
                continue
            resolved = posixpath.normpath(absolute)
            if resolved == "/" or path.startswith(resolved.rstrip("/") + "/"):
                # a link to a group that holds it: readers that follow links (hdmf) recurse until they fail
                found.append(("soft link", path, "", f"{target} (a group that contains the link: a loop)"))
                continue
            try:
                problem = None if handle.get(absolute) is not None else "does not exist"
            except Exception:  # noqa: BLE001 - HDF5 cannot resolve it: h5py raises several types
                problem = "cannot be resolved: a loop of soft links or a bad path"
            if problem:
                found.append(("soft link", path, "", f"{target} ({problem})"))
    return found


def _dataset_outside(dataset, path: str) -> list[tuple[str, str, str, str]]:
    out = []
    external = dataset.external
    if external:
        for filename, _offset, _size in external:
            name = filename.decode(errors="replace") if isinstance(filename, bytes) else str(filename)
            out.append(("external storage", path, name, "(raw bytes)"))
    if dataset.is_virtual:
        for source in dataset.virtual_sources():
            if source.file_name != ".":
                out.append(("virtual dataset", path, source.file_name, source.dset_name))
    return out


def check_hdf5_links(handle, path: str | os.PathLike, *, allow_external_links: bool = False) -> None:
    """Raise :class:`~neurorl.errors.ExternalLinkError` if ``handle`` points outside itself (see the module).

    Parameters
    ----------
    handle
        An open :class:`h5py.File`.
    path
        The file's path, named in the error.
    allow_external_links
        Accept external links, external storage and virtual datasets (their targets are then read as part of
        the file); soft links that dangle or leave the tree are refused even then, since they lead nowhere.
    """
    for kind, name, target_file, target_object in find_hdf5_links(handle):
        if allow_external_links and kind in ("external link", "external storage", "virtual dataset"):
            continue
        if kind == "external storage":
            problem = f"dataset {name} keeps its data in file {target_file} (HDF5 external storage)"
        elif target_file:
            problem = f"{kind} {name} points to object {target_object} of file {target_file}"
        else:
            problem = f"{kind} {name} points to {target_object}"
        if kind in ("external link", "external storage", "virtual dataset"):
            problem += "; if you trust that file, pass --allow-external-links (Python: allow_external_links=True)"
        raise ExternalLinkError(problem, path)
