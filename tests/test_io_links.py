"""NWB readers refuse HDF5 content that lives outside the file unless told otherwise.

External links (to another recording, to ``/etc/passwd``, to a FIFO that would block whoever opens it), HDF5
external storage, virtual datasets, and soft links that dangle or leave the tree: each gives an
:class:`~neurorl.errors.ExternalLinkError` naming the file, the link and its target; with
``allow_external_links=True`` / ``--allow-external-links`` the linked content is read.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from _bci_fake import fake_session
from _hdf5_tamper import (
    replace_with_external_link,
    replace_with_external_storage,
    replace_with_soft_link,
    replace_with_virtual,
)

from neurorl import errors
from neurorl.cli import main
from neurorl.io._links import find_hdf5_links
from neurorl.io.bci_nwb import read_bci_folder, read_bci_session, write_bci_session
from neurorl.io.nwb import check_nwb_path, open_nwb, read_dopamine, read_dopamine_folder, write_dopamine

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "data" / "dopamine_example"
SOMA_DATA = "/processing/ophys/DfOverF/RoiResponseSeriesSoma/data"


def _recording(seed: int, n_trials: int = 30):
    rng = np.random.default_rng(seed)
    start = np.arange(n_trials) * 6.0 + 2.0
    trials = pd.DataFrame({"start_time": start, "stop_time": start + 4.0, "reward_time": start + 1.5,
                           "reward_volume": rng.choice([0.1, 1.2, 5.0, 20.0], n_trials)})
    spikes = {2: np.sort(rng.uniform(0, 200, 800)), 5: np.sort(rng.uniform(0, 150, 300))}
    return spikes, trials


def _dopamine(path: Path, seed: int) -> Path:
    spikes, trials = _recording(seed)
    return write_dopamine(spikes, trials, path, cell_types={2: "dopamine", 5: "dopamine"})


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """Two different dopamine recordings: ``main.nwb`` and ``other/other.nwb``."""
    (tmp_path / "other").mkdir()
    return _dopamine(tmp_path / "main.nwb", 0), _dopamine(tmp_path / "other" / "other.nwb", 1)


def _assert_names(exc: pytest.ExceptionInfo, *parts: str) -> None:
    text = str(exc.value)
    for part in parts:
        assert part in text, (part, text)


def test_valid_files_have_no_outside_links(tmp_path: Path, pair) -> None:
    bci = write_bci_session(fake_session(), tmp_path / "day01.nwb")
    for path in (pair[0], bci, *EXAMPLE.glob("*.nwb")):
        with h5py.File(path, "r") as handle:
            assert find_hdf5_links(handle) == []
    # pynwb writes in-file soft links (imaging planes, devices): they are not refused
    with h5py.File(bci, "r") as handle:
        link = handle["/processing/ophys/ImageSegmentation/PlaneSegmentationSoma"].get("imaging_plane", getlink=True)
        assert isinstance(link, h5py.SoftLink)
    assert read_bci_session(bci).soma_dff.shape == (600, 10)


def test_external_link_replacing_units_is_refused_and_read_with_opt_in(pair) -> None:
    path, other = pair
    expected = read_dopamine(other).units
    replace_with_external_link(path, "/units", other, "/units")
    with pytest.raises(errors.ExternalLinkError) as exc:
        read_dopamine(path)
    assert isinstance(exc.value, errors.InvalidRecordingError)
    assert exc.value.path == str(path)
    _assert_names(exc, "external link /units", str(other), "object /units", "--allow-external-links")
    with pytest.raises(errors.ExternalLinkError):
        read_dopamine_folder(path.parent)
    with pytest.raises(errors.ExternalLinkError), open_nwb(path):
        pass
    units = read_dopamine(path, allow_external_links=True).units
    assert list(units.index) == list(expected.index)
    for a, b in zip(units["spike_times"], expected["spike_times"], strict=True):
        np.testing.assert_array_equal(a, b)
    assert len(read_dopamine_folder(path, allow_external_links=True)) == 1


def test_external_link_to_passwd_in_unused_group_is_refused(pair) -> None:
    path = pair[0]
    replace_with_external_link(path, "/general/extra/notes", "/etc/passwd", "/anything")
    with pytest.raises(errors.ExternalLinkError) as exc:
        read_dopamine(path)
    _assert_names(exc, "/general/extra/notes", "/etc/passwd", "/anything")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_external_link_target_is_never_opened(pair, tmp_path: Path) -> None:
    # opening a FIFO blocks until someone writes to it: a reader that followed the link would hang
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    path = pair[0]
    replace_with_external_link(path, "/general/extra/notes", fifo, "/x")
    code = textwrap.dedent(f"""
        from neurorl import errors
        from neurorl.io.nwb import read_dopamine
        try:
            read_dopamine({str(path)!r})
        except errors.ExternalLinkError as exc:
            print("refused:", exc)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert f"refused: {path}: external link /general/extra/notes" in done.stdout


@pytest.mark.parametrize("target, why", [("/nowhere/at/all", "does not exist"),
                                         ("/processing/units", "does not exist"),
                                         ("../../etc", "leaves the file's tree"),
                                         ("../units", "leaves the file's tree")])
@pytest.mark.parametrize("where", ["/units", "/general/extra"])
def test_soft_link_dangling_or_leaving_the_tree(pair, where: str, target: str, why: str) -> None:
    path = pair[0]
    replace_with_soft_link(path, where, target)
    for allow in (False, True):  # a link to nowhere is refused even with the opt-in
        with pytest.raises(errors.ExternalLinkError) as exc:
            read_dopamine(path, allow_external_links=allow)
        _assert_names(exc, f"soft link {where}", target, why)


@pytest.mark.parametrize("where, target", [("/general/loop", "/"), ("/units/loop", "/units"),
                                           ("/general/subject/loop", "/general")])
def test_soft_link_to_its_own_ancestor_is_refused(pair, where: str, target: str) -> None:
    # hdmf followed it until Python's recursion limit (a RecursionError, after seconds)
    path = pair[0]
    replace_with_soft_link(path, where, target)
    with pytest.raises(errors.ExternalLinkError) as exc:
        read_dopamine(path, allow_external_links=True)
    _assert_names(exc, f"soft link {where}", "contains the link: a loop")


def test_soft_link_loop_is_refused(pair) -> None:
    path = pair[0]
    replace_with_soft_link(path, "/general/a", "/general/b")
    replace_with_soft_link(path, "/general/b", "/general/a")
    with pytest.raises(errors.ExternalLinkError) as exc:
        read_dopamine(path)
    _assert_names(exc, "soft link /general/a", "a loop of soft links")


def test_external_storage_is_refused(pair, tmp_path: Path) -> None:
    path, other = pair
    raw = tmp_path / "raw.bin"
    raw.write_bytes(np.concatenate(list(read_dopamine(path).units["spike_times"])).astype("<f8").tobytes())
    replace_with_external_storage(path, "/units/spike_times", raw)
    with pytest.raises(errors.ExternalLinkError) as exc:
        read_dopamine(path)
    _assert_names(exc, "dataset /units/spike_times", str(raw), "external storage")
    # with the opt-in the check lets it through (hdmf itself then fails on external storage: a typed error)
    assert check_nwb_path(path, allow_external_links=True) == path
    with pytest.raises(errors.NotNWBError):
        read_dopamine(path, allow_external_links=True)


def test_virtual_dataset_is_refused(pair) -> None:
    path, other = pair
    name = "/intervals/trials/reward_volume"
    replace_with_virtual(path, name, other, name)
    with pytest.raises(errors.ExternalLinkError) as exc:
        read_dopamine(path)
    _assert_names(exc, f"virtual dataset {name}", str(other))
    np.testing.assert_array_equal(read_dopamine(path, allow_external_links=True).trials["reward_volume"],
                                  read_dopamine(other).trials["reward_volume"])


# ---------------------------------------------------------------------------------------------------- BCI
@pytest.fixture
def bci_pair(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "a").mkdir()
    return (write_bci_session(fake_session(seed=0), tmp_path / "a" / "day01.nwb"),
            write_bci_session(fake_session(seed=5), tmp_path / "other.nwb"))


def test_bci_external_link_refused_and_read_with_opt_in(bci_pair) -> None:
    path, other = bci_pair
    replace_with_external_link(path, SOMA_DATA, other, SOMA_DATA)
    with pytest.raises(errors.ExternalLinkError) as exc:
        read_bci_session(path)
    _assert_names(exc, f"external link {SOMA_DATA}", str(other))
    with pytest.raises(errors.ExternalLinkError):
        read_bci_folder(path.parent)
    np.testing.assert_array_equal(read_bci_session(path, allow_external_links=True).soma_dff,
                                  read_bci_session(other).soma_dff)
    assert len(read_bci_folder(path.parent, allow_external_links=True)) == 1


def test_bci_passwd_and_dangling_soft_link_refused(bci_pair) -> None:
    path = bci_pair[0]
    copy = path.with_name("day02.nwb")
    shutil.copy(path, copy)
    replace_with_external_link(path, "/general/extra/notes", "/etc/passwd", "/x")
    with pytest.raises(errors.ExternalLinkError) as exc:
        read_bci_session(path)
    _assert_names(exc, "/general/extra/notes", "/etc/passwd")
    replace_with_soft_link(copy, "/processing/behavior/BehavioralTimeSeries/bci_cursor/data", "/nowhere")
    with pytest.raises(errors.ExternalLinkError) as exc:
        read_bci_session(copy, allow_external_links=True)
    _assert_names(exc, "soft link /processing/behavior/BehavioralTimeSeries/bci_cursor/data", "/nowhere")


# ---------------------------------------------------------------------------------------------------- CLI
def test_cli_fit_dopamine_refuses_link_and_opts_in(tmp_path: Path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for name in ("session_01.nwb", "session_02.nwb"):
        shutil.copy(EXAMPLE / name, data / name)
    other = shutil.copy(EXAMPLE / "session_03.nwb", tmp_path / "other.nwb")
    replace_with_external_link(data / "session_01.nwb", "/units", other, "/units")
    fast = ["--bootstrap", "3", "--splits", "5", "--quiet"]
    for argv in (["fit", "dopamine", str(data)], ["reproduce", "dopamine", str(data)]):
        assert main([*argv, "--out", str(tmp_path / "out"), *fast]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith(f"neurorl: error: {data / 'session_01.nwb'}: external link /units")
        assert not (tmp_path / "out").exists()
    assert main(["fit", "dopamine", str(data), "--out", str(tmp_path / "out"), *fast, "--allow-external-links"]) == 0
    assert (tmp_path / "out" / "cells.csv").is_file()


def test_cli_analyze_bci_refuses_link_and_opts_in(bci_pair, tmp_path: Path, capsys) -> None:
    path, other = bci_pair
    replace_with_external_link(path, SOMA_DATA, other, SOMA_DATA)
    argv = ["analyze", "bci", str(path.parent), "--out", str(tmp_path / "out"), "--shuffles", "5", "--quiet"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{path}: external link {SOMA_DATA}" in err
    assert main([*argv, "--allow-external-links"]) == 0
