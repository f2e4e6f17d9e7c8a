"""Property-based fuzzing of the NWB readers: a corrupted file gives a typed error naming it, or a valid result.

Valid dopamine and BCI files are damaged at random (objects and attributes deleted, datasets replaced by ones of
another type or shape, external and soft links added, bytes flipped, the file truncated) and read by
:func:`neurorl.io.nwb.read_dopamine` / :func:`neurorl.io.bci_nwb.read_bci_session` in a worker process (see
``_nwb_fuzz_worker.py``). The property: the reader returns a recording that keeps its contract, or raises a
:class:`~neurorl.errors.NeurorlError` whose path is the file; any other exception, a crash of the worker (libhdf5
can segfault on corrupt files) or a hang past :data:`CASE_TIMEOUT_S` fails the example. A file that only gained
a link leaving it must be refused with :class:`~neurorl.errors.ExternalLinkError`.

The default run is derandomized (the same examples every time, a bounded number); ``-m slow`` runs a larger,
random search.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from _bci_fake import fake_session
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurorl.io.bci_nwb import write_bci_session
from neurorl.io.nwb import write_dopamine

REPO = Path(__file__).resolve().parents[1]
WORKER = Path(__file__).with_name("_nwb_fuzz_worker.py")
#: Seconds one read may take in the worker before the case counts as a hang (a clean read takes < 1 s).
CASE_TIMEOUT_S = 30.0
#: Examples per base file in the default (derandomized) run and in the slow run.
DEFAULT_EXAMPLES = 40
SLOW_EXAMPLES = 400


# ------------------------------------------------------------------------------------------------ worker
class Worker:
    """A long-lived reader process (one interpreter start for many cases); restarted after a crash or hang."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None

    def _start(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
        self.proc = subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True, env=env, cwd=tempfile.gettempdir())
        ready = self._answer(120.0)
        assert ready == {"status": "ready"}, ready

    def _answer(self, timeout: float) -> dict:
        assert self.proc is not None and self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            self.stop()
            return {"status": "hang", "message": f"no answer within {timeout:.0f} s"}
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            self.proc = None
            return {"status": "crash", "message": f"worker died with exit status {code}"}
        return json.loads(line)

    def read(self, path: Path, reader: str, *, allow_external_links: bool = False) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._start()
        assert self.proc is not None and self.proc.stdin is not None
        request = {"path": str(path), "reader": reader, "allow_external_links": allow_external_links}
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._answer(CASE_TIMEOUT_S)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture(scope="module")
def worker():
    w = Worker()
    yield w
    w.stop()


# --------------------------------------------------------------------------------------------- base files
@dataclass
class Base:
    path: Path
    reader: str
    objects: list[str]  # every object reached through hard links, without the root
    attributes: list[tuple[str, str]]  # (object, attribute name)


def _inventory(path: Path) -> tuple[list[str], list[tuple[str, str]]]:
    objects, attributes = [], [("/", key) for key in h5py.File(path, "r").attrs]
    with h5py.File(path, "r") as handle:
        def visit(name, obj):
            if name.startswith("specifications/"):  # the cached schema: half the objects, little of the reader
                return
            objects.append("/" + name)
            attributes.extend(("/" + name, key) for key in obj.attrs)
        handle.visititems(visit)
    return sorted(objects), sorted(attributes)


@pytest.fixture(scope="module")
def bases(tmp_path_factory) -> dict[str, Base]:
    folder = tmp_path_factory.mktemp("fuzz_bases")
    rng = np.random.default_rng(0)
    start = np.arange(12) * 5.0 + 1.0
    trials = pd.DataFrame({"start_time": start, "stop_time": start + 4.0, "reward_time": start + 1.0,
                           "reward_volume": rng.choice([0.1, 1.2, 5.0, 20.0], start.size),
                           "trial_type": rng.choice(["cued", "uncued"], start.size)})
    trials.loc[3, ["reward_time", "reward_volume"]] = np.nan
    spikes = {0: np.sort(rng.uniform(0, 60, 200)), 7: np.sort(rng.uniform(0, 60, 90))}
    paths = {
        "dopamine": (write_dopamine(spikes, trials, folder / "dopamine.nwb", cell_types={0: "dopamine", 7: "x"}),
                     "dopamine"),
        "dopamine_events": (write_dopamine(spikes, trials, folder / "dopamine_events.nwb", reward_events=True),
                            "dopamine"),
        "bci": (write_bci_session(fake_session(n_frames=240, n_p0=3, n_bci=4, baseline_frames=40),
                                  folder / "bci_day01.nwb"), "bci"),
    }
    return {name: Base(path, reader, *_inventory(path)) for name, (path, reader) in paths.items()}


# ------------------------------------------------------------------------------------------------ mutations
_REPLACEMENTS = ("empty", "scalar", "strings", "nan", "matrix", "negative", "huge_index")
_LINK_TARGETS = ("other", "passwd", "missing", "dangling", "ancestor", "in_tree")

structural = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 10**6)),
    st.tuples(st.just("delete_attr"), st.integers(0, 10**6)),
    st.tuples(st.just("replace"), st.integers(0, 10**6), st.sampled_from(_REPLACEMENTS)),
    st.tuples(st.just("link"), st.integers(0, 10**6), st.sampled_from(_LINK_TARGETS), st.booleans()),
)
byte_level = st.one_of(
    st.tuples(st.just("flip"), st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)),
                                        min_size=1, max_size=8), st.booleans()),
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True)),
)
# structural damage is the more informative kind (byte damage mostly ends at "not HDF5"): three to one
damage = st.one_of(st.tuples(st.lists(structural, min_size=1, max_size=3), st.just([])),
                   st.tuples(st.lists(structural, min_size=1, max_size=3), st.just([])),
                   st.tuples(st.lists(structural, min_size=1, max_size=3), st.just([])),
                   st.tuples(st.lists(structural, max_size=2), st.lists(byte_level, min_size=1, max_size=2)))


def _hard_path(handle: h5py.File, name: str) -> bool:
    """True if every component of ``name`` is a hard link (so touching it follows no link)."""
    group = handle
    parts = [p for p in name.split("/") if p]
    for i, part in enumerate(parts):
        if not isinstance(group, h5py.Group) or not isinstance(group.get(part, getlink=True), h5py.HardLink):
            return False
        if i < len(parts) - 1:
            group = group[part]
    return True


def _replacement(kind: str, old: h5py.Dataset):
    n = int(old.shape[0]) if old.shape else 3
    if kind == "empty":
        return np.zeros((0,), dtype=old.dtype if old.dtype.kind in "fiub" else float)
    if kind == "scalar":
        return np.float64(1.5)
    if kind == "strings":
        return np.array([b"abc"] * max(n, 1))
    if kind == "nan":
        return np.full(max(n, 1), np.nan)
    if kind == "matrix":
        return np.ones((max(n, 1), 3))
    if kind == "negative":
        return -np.arange(1, max(n, 1) + 1, dtype=np.int64)
    return np.full(max(n, 1), 2**40, dtype=np.int64)  # an index far past any data


def apply_damage(base: Base, other: Base, target: Path, steps) -> dict:
    """Write a damaged copy of ``base`` to ``target``; say which kinds of damage were applied."""
    structure, byte_steps = steps
    shutil.copyfile(base.path, target)
    applied = {"links_out": 0, "other": 0}
    with h5py.File(target, "r+") as handle:
        for step in structure:
            if step[0] == "delete":
                name = base.objects[step[1] % len(base.objects)]
                if _hard_path(handle, name):
                    del handle[name]
                    applied["other"] += 1
            elif step[0] == "delete_attr":
                obj, key = base.attributes[step[1] % len(base.attributes)]
                if (obj == "/" or _hard_path(handle, obj)) and key in handle[obj].attrs:
                    del handle[obj].attrs[key]
                    applied["other"] += 1
            elif step[0] == "replace":
                datasets = [n for n in base.objects if n not in ("/",)]
                name = datasets[step[1] % len(datasets)]
                if _hard_path(handle, name) and isinstance(handle[name], h5py.Dataset):
                    old = handle[name]
                    attrs = dict(old.attrs)
                    data = _replacement(step[2], old)
                    del handle[name]
                    new = handle.create_dataset(name, data=data)
                    for key, value in attrs.items():
                        new.attrs[key] = value
                    applied["other"] += 1
            else:
                _, index, kind, replace_existing = step
                name = base.objects[index % len(base.objects)]
                if not replace_existing or not _hard_path(handle, name):
                    parent = name.rsplit("/", 1)[0] or "/"
                    if not (parent == "/" or _hard_path(handle, parent)) or not isinstance(handle[parent], h5py.Group):
                        continue
                    name = f"{parent.rstrip('/')}/fuzz_link"
                    if "fuzz_link" in handle[parent]:
                        continue
                else:
                    del handle[name]
                source_name = base.objects[(index * 7919) % len(base.objects)]
                if kind == "other":
                    link = h5py.ExternalLink(str(other.path), name)
                elif kind == "passwd":
                    link = h5py.ExternalLink("/etc/passwd", "/x")
                elif kind == "missing":
                    link = h5py.ExternalLink(str(target.with_name("no_such_file.nwb")), name)
                elif kind == "dangling":
                    link = h5py.SoftLink("/no/such/object")
                elif kind == "ancestor":
                    link = h5py.SoftLink(name.rsplit("/", 1)[0] or "/")
                else:
                    link = h5py.SoftLink(source_name)
                handle[name] = link
                if kind != "in_tree":
                    applied["links_out"] += 1
                else:
                    applied["other"] += 1
    size = target.stat().st_size
    for step in byte_steps:
        applied["other"] += 1
        if step[0] == "truncate":
            size = int(step[1] * size)
            os.truncate(target, size)
        else:
            _, flips, metadata_only = step
            with open(target, "r+b") as fh:
                for where, xor in flips:
                    # half the flips go to the first 4 kB (superblock, root object headers, B-trees)
                    position = int(where * (min(size, 4096) if metadata_only else size))
                    if position >= size:
                        continue
                    fh.seek(position)
                    byte = fh.read(1)
                    fh.seek(position)
                    fh.write(bytes([byte[0] ^ xor]))
    return applied


def check_case(worker: Worker, base: Base, other: Base, folder: Path, steps) -> None:
    target = folder / f"case{base.path.suffix}"
    applied = apply_damage(base, other, target, steps)
    answer = worker.read(target, base.reader)
    assert answer["status"] in ("ok", "typed"), f"{steps}: {answer}"
    if answer["status"] == "typed":
        assert answer["path"] == str(target), f"{steps}: error does not name the file: {answer}"
    if applied["links_out"] and not applied["other"]:
        assert answer.get("type") == "ExternalLinkError", f"{steps}: a link leaving the file was read: {answer}"


def _fuzz(name: str, examples: int, derandomize: bool):
    @settings(max_examples=examples, deadline=None, derandomize=derandomize, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(steps=damage)
    def run(worker, bases, tmp_path, steps):
        others = {"dopamine": "dopamine_events", "dopamine_events": "dopamine", "bci": "bci"}
        check_case(worker, bases[name], bases[others[name]], tmp_path, steps)
    return run


BASE_NAMES = ("dopamine", "dopamine_events", "bci")


@pytest.mark.parametrize("name", BASE_NAMES)
def test_fuzz_readers(worker, bases, tmp_path, name) -> None:
    _fuzz(name, DEFAULT_EXAMPLES, derandomize=True)(worker, bases, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", BASE_NAMES)
def test_fuzz_readers_long(worker, bases, tmp_path, name) -> None:
    _fuzz(name, SLOW_EXAMPLES, derandomize=False)(worker, bases, tmp_path)


def test_worker_reports_crash_and_hang(tmp_path) -> None:
    """The harness itself: a worker that dies or stops answering is reported as such, not as a pass."""
    w = Worker()
    try:
        w._start()
        w.proc.kill()
        w.proc.wait()
        assert w._answer(5.0)["status"] == "crash"
        w._start()
        assert w._answer(0.5)["status"] == "hang"  # nothing was asked: silence
        assert w.proc is None
    finally:
        w.stop()


def test_clean_files_read_ok(worker, bases) -> None:
    for base in bases.values():
        assert worker.read(base.path, base.reader) == {"status": "ok"}


# ------------------------------------------------------------------------ what the fuzzer found, pinned
def _set_dataset(path: Path, name: str, data) -> None:
    with h5py.File(path, "r+") as handle:
        attrs = dict(handle[name].attrs)
        del handle[name]
        new = handle.create_dataset(name, data=data)
        for key, value in attrs.items():
            new.attrs[key] = value


@pytest.mark.parametrize("name, data, expected", [
    # each was read without a word before: units got the wrong spikes, or trials NaN times
    ("/units/spike_times_index", np.array([150, 100], dtype=np.uint64), "does not split the 290 spike times"),
    ("/units/spike_times_index", np.array([100, 150], dtype=np.uint64), "does not split the 290 spike times"),
    ("/units/spike_times_index", np.array([200, 2**40], dtype=np.uint64), "does not split the 290 spike times"),
    ("/units/spike_times", np.zeros(0), "does not split the 0 spike times"),
    ("/units/spike_times", np.ones((290, 2)), "expected a vector"),
    ("/intervals/trials/start_time", np.full(12, np.nan), "trial start/stop times are not finite"),
    ("/units/id", np.array([7, 7]), "the Units table's ids are not unique"),
    # typed before, but the message was the first 200 characters of an hdmf builder's repr
    ("/units/id", np.array([0, 7, 9]), "/units: Could not construct Units object"),
])
def test_found_by_fuzzer(bases, tmp_path: Path, name: str, data, expected: str) -> None:
    from neurorl.errors import InvalidRecordingError
    from neurorl.io.nwb import read_dopamine

    path = tmp_path / "case.nwb"
    shutil.copyfile(bases["dopamine"].path, path)
    _set_dataset(path, name, data)
    with pytest.raises(InvalidRecordingError) as exc:
        read_dopamine(path)
    assert exc.value.path == str(path) and expected in str(exc.value), str(exc.value)
    shutil.copyfile(bases["dopamine"].path, path)  # the file handle was released: it can be replaced
    assert len(read_dopamine(path).units) == 2


@pytest.mark.parametrize("name, data, expected", [
    # negative region indices wrapped around: dendrites were silently given the wrong somata
    ("/processing/ophys/DfOverF/RoiResponseSeriesDendrite/rois", -np.arange(1, 8),
     "RoiResponseSeriesDendrite.rois points outside the 7 rows"),
    ("/processing/ophys/DfOverF/RoiResponseSeriesSoma/rois", np.full(7, 2**40),
     "RoiResponseSeriesSoma.rois points outside the 7 rows"),
    # a baseline longer than the recording was accepted (baseline_frames > frames)
    ("/intervals/epochs/stop_time", np.array([1e12, 1e12]), "the baseline epoch ends at 1000000000000.0 s"),
    ("/intervals/epochs/stop_time", np.array([np.nan, np.nan]), "the baseline epoch ends at nan s"),
    ("/intervals/trials/start_time", np.full(4, np.nan), "trial start/stop times are not finite"),
    # frames x 3 cursor / angle / weights were returned as they were
    ("/processing/behavior/BehavioralTimeSeries/grating_angle/data", np.ones((240, 3)),
     "grating_angle has shape (240, 3); expected one value per frame"),
    ("/processing/behavior/BehavioralTimeSeries/bci_cursor/data", np.ones((240, 3)),
     "bci_cursor has shape (240, 3)"),
    ("/processing/ophys/ImageSegmentation/PlaneSegmentationSoma/bci_weight", np.ones((7, 3)),
     "bci_weight has shape (7, 3)"),
])
def test_bci_found_by_fuzzer(bases, tmp_path: Path, name: str, data, expected: str) -> None:
    from neurorl.errors import InvalidRecordingError
    from neurorl.io.bci_nwb import read_bci_session

    path = tmp_path / "day01.nwb"
    shutil.copyfile(bases["bci"].path, path)
    with h5py.File(path, "r") as handle:
        assert handle[name].shape[0] == np.shape(data)[0]
    _set_dataset(path, name, data)
    with pytest.raises(InvalidRecordingError) as exc:
        read_bci_session(path)
    assert exc.value.path == str(path) and expected in str(exc.value), str(exc.value)


def test_failed_read_releases_the_file(bases, tmp_path: Path) -> None:
    """pynwb failing inside ``read()`` left the file open, so it stayed locked for writers (found by the fuzzer)."""
    from neurorl.errors import NotNWBError
    from neurorl.io.nwb import read_dopamine

    path = tmp_path / "case.nwb"
    shutil.copyfile(bases["dopamine"].path, path)
    _set_dataset(path, "/units/id", np.array([0, 7, 9]))
    with pytest.raises(NotNWBError):
        read_dopamine(path)
    with h5py.File(path, "r+") as handle:  # raises BlockingIOError (file locked) while a reader holds it
        handle.attrs["touched"] = 1


def test_refused_file_is_one_line_on_the_command_line(bases, tmp_path: Path) -> None:
    """hdmf warned about the bad region before the error was printed: the error must be the only line."""
    folder = tmp_path / "animal"
    folder.mkdir()
    path = folder / "day01.nwb"
    shutil.copyfile(bases["bci"].path, path)
    _set_dataset(path, "/processing/ophys/DfOverF/RoiResponseSeriesDendrite/rois", -np.arange(1, 8))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)}
    done = subprocess.run([sys.executable, "-m", "neurorl", "analyze", "bci", str(folder), "--out",
                           str(tmp_path / "out"), "--shuffles", "5", "--quiet"], capture_output=True, text=True,
                          env=env, timeout=300)
    assert done.returncode == 1
    assert done.stderr == (f"neurorl: error: {path}: RoiResponseSeriesDendrite.rois points outside the 7 rows of "
                           "PlaneSegmentationDendrite\n")
