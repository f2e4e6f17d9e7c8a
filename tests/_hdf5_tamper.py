"""Make HDF5 files point outside themselves (external links, soft links, external storage, virtual datasets).

Used by the link tests and the NWB fuzz tests; each function edits ``path`` in place with h5py.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np


def _parent_of(handle: h5py.File, name: str) -> h5py.Group:
    parent = name.rsplit("/", 1)[0] or "/"
    return handle.require_group(parent)


def replace_with_external_link(path: Path, name: str, target_file: str | os.PathLike, target_object: str) -> None:
    """Delete ``name`` and put an external link to ``target_file:target_object`` in its place."""
    with h5py.File(path, "r+") as handle:
        if name in handle:
            del handle[name]
        _parent_of(handle, name)
        handle[name] = h5py.ExternalLink(os.fspath(target_file), target_object)


def replace_with_soft_link(path: Path, name: str, target: str) -> None:
    """Delete ``name`` (if present) and put a soft link to ``target`` in its place."""
    with h5py.File(path, "r+") as handle:
        if name in handle:
            del handle[name]
        _parent_of(handle, name)
        handle[name] = h5py.SoftLink(target)


def replace_with_external_storage(path: Path, name: str, storage_file: str | os.PathLike) -> None:
    """Replace dataset ``name`` by one of the same shape and type whose raw bytes live in ``storage_file``."""
    with h5py.File(path, "r+") as handle:
        old = handle[name]
        shape, dtype = old.shape, old.dtype
        attrs = dict(old.attrs)
        del handle[name]
        size = int(np.prod(shape)) * dtype.itemsize
        new = handle.create_dataset(name, shape=shape, dtype=dtype, external=[(os.fspath(storage_file), 0, size)])
        for key, value in attrs.items():
            new.attrs[key] = value


def replace_with_virtual(path: Path, name: str, source_file: str | os.PathLike, source_name: str) -> None:
    """Replace dataset ``name`` by a virtual dataset mapping ``source_file:source_name`` (same shape)."""
    with h5py.File(path, "r+") as handle:
        old = handle[name]
        shape, dtype = old.shape, old.dtype
        attrs = dict(old.attrs)
        del handle[name]
        layout = h5py.VirtualLayout(shape=shape, dtype=dtype)
        layout[...] = h5py.VirtualSource(os.fspath(source_file), source_name, shape=shape)
        new = handle.create_virtual_dataset(name, layout)
        for key, value in attrs.items():
            new.attrs[key] = value
