"""All-or-nothing ``--out`` folders: failed and killed runs keep the old results, user files and caches stay,
a second writer is refused, every folder gets a manifest, the sweep cache key covers every setting."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neurorl import cli, parallel
from neurorl.io import outdir

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "data" / "dopamine_example"
# tiny settings: a few seconds each
SIM_DOPAMINE = ["simulate", "dopamine", "--cells", "3", "--sessions", "1", "--trials", "30", "--quiet"]
FIT = ["fit", "dopamine", str(EXAMPLE / "session_01.nwb"), "--bootstrap", "2", "--splits", "2", "--quiet"]
SIM_BCI = ["simulate", "bci", "--days", "2", "--session-minutes", "1", "--p0", "5", "--n-bci", "2", "--quiet"]


def _digest(folder: Path) -> dict[str, str]:
    """Relative path -> SHA-256 of every file below ``folder`` (hidden files included)."""
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _debris(parent: Path) -> list[str]:
    names = [p.name for p in parent.iterdir() if "neurorl-staging" in p.name or "neurorl-old" in p.name]
    return names + [p.name for p in parent.rglob("*") if ".part" in p.name]


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("neurorl: error:"), err
    return lines[0]


# ------------------------------------------------------------------------------------------- failed reruns
def test_failed_rerun_keeps_the_old_complete_set(tmp_path, monkeypatch, capsys) -> None:
    """The issue's case: a rerun of fit dopamine that fails at fit.nc (full disk) leaves the old set intact."""
    from neurorl.io import results

    out = tmp_path / "out"
    assert cli.main([*FIT, "--out", str(out)]) == 0
    (out / "notes.txt").write_text("mine")
    before = _digest(out)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(results, "write_netcdf", full_disk)
    capsys.readouterr()
    assert cli.main([*FIT, "--seed", "1", "--out", str(out)]) == 1   # one line, no traceback
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"{out}: no space left on the device" in err[0]
    assert _digest(out) == before
    assert _debris(tmp_path) == []


def test_failed_simulation_rerun_keeps_the_old_sessions(tmp_path, monkeypatch) -> None:
    from neurorl.io import results

    out = tmp_path / "sim"
    assert cli.main([*SIM_DOPAMINE, "--out", str(out)]) == 0
    before = _digest(out)

    def failing(*args, **kwargs):
        raise RuntimeError("injected failure after the NWB files were written")

    monkeypatch.setattr(results, "write_csv", failing)
    with pytest.raises(RuntimeError):
        cli.main([*SIM_DOPAMINE, "--seed", "1", "--out", str(out)])
    assert _digest(out) == before
    assert _debris(tmp_path) == []


def test_user_files_stay_and_outputs_of_the_previous_run_go(tmp_path) -> None:
    """A rerun replaces only what the command writes: the user's files (and folders) stay; a file the previous
    run wrote and this one does not (session_02 of a 2-session run) is dropped, not left to mix two runs."""
    out = tmp_path / "sim"
    two = [a if a != "1" else "2" for a in SIM_DOPAMINE]  # --sessions 2
    assert cli.main([*two, "--out", str(out)]) == 0
    assert (out / "session_02.nwb").is_file()
    (out / "notes.txt").write_text("mine")
    (out / "mine").mkdir()
    (out / "mine" / "a.txt").write_text("a")
    assert cli.main([*SIM_DOPAMINE, "--seed", "3", "--out", str(out)]) == 0
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*"))
    assert names == ["ground_truth.csv", "manifest.json", "mine", "mine/a.txt", "notes.txt", "session_01.nwb"]
    assert (out / "notes.txt").read_text() == "mine" and (out / "mine" / "a.txt").read_text() == "a"


def test_cache_survives_a_failed_sweep(tmp_path, monkeypatch) -> None:
    """The resumable cache is outside the swap: a sweep that fails at its figure keeps the finished runs (and
    the previous results are untouched); the rerun reads them back."""
    from neurorl.io import results

    sweep_args = ["sweep", "dopamine", "--cells", "4", "--trials", "20", "--jobs", "1", "--quiet"]
    out = tmp_path / "S"
    assert cli.main([*sweep_args, "--seeds", "0", "--out", str(out)]) == 0
    before = {k: v for k, v in _digest(out).items() if not k.startswith("cache/")}

    def failing(*args, **kwargs):
        raise RuntimeError("injected failure at the figure")

    monkeypatch.setattr(results, "save_figure", failing)
    with pytest.raises(RuntimeError):
        cli.main([*sweep_args, "--seeds", "0", "1", "--out", str(out)])
    after = _digest(out)
    assert {k: v for k, v in after.items() if not k.startswith("cache/")} == before
    assert len([k for k in after if k.startswith("cache/")]) == 2  # both finished runs cached
    monkeypatch.undo()

    calls = []
    call = parallel._call
    monkeypatch.setattr(parallel, "_call", lambda job: calls.append(job) or call(job))
    assert cli.main([*sweep_args, "--seeds", "0", "1", "--out", str(out)]) == 0
    assert calls == []  # everything came from the cache
    assert (out / "recovery.png").is_file() and len(list((out / "cache").glob("*.nc"))) == 2


# ---------------------------------------------------------------------------------------- refused folders
def test_out_inside_the_input_is_refused(tmp_path, capsys) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "session_01.nwb").write_bytes((EXAMPLE / "session_01.nwb").read_bytes())
    for out in (data, data / "results"):
        assert cli.main(["fit", "dopamine", str(data), "--quiet", "--out", str(out)]) == 2
        assert "choose an output folder outside the inputs" in _one_line_error(capsys.readouterr().err)
    assert cli.main(["fit", "dopamine", str(data / "session_01.nwb"), "--quiet", "--out", str(data)]) == 2
    _one_line_error(capsys.readouterr().err)
    assert sorted(p.name for p in data.iterdir()) == ["session_01.nwb"]


@pytest.mark.parametrize("command", [SIM_DOPAMINE, ["train", "qagrel", "--epochs", "1", "--quiet"],
                                     ["analyze", "bci", str(EXAMPLE), "--quiet"]])
def test_out_that_is_a_file_is_one_line_exit_1(tmp_path, capsys, command) -> None:
    afile = tmp_path / "afile"
    afile.write_text("x")
    assert cli.main([*command, "--out", str(afile)]) == 1
    assert _one_line_error(capsys.readouterr().err) == f"neurorl: error: {afile}: exists and is not a folder"
    assert cli.main([*command, "--out", str(afile / "sub")]) == 1
    assert "cannot create the folder" in _one_line_error(capsys.readouterr().err)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_out_is_one_line_exit_1(tmp_path, capsys) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert cli.main([*SIM_DOPAMINE, "--out", str(locked / "out")]) == 1
        _one_line_error(capsys.readouterr().err)
    finally:
        locked.chmod(0o700)


def test_a_second_writer_is_refused(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom neurorl.io.outdir import output_folder\n"
         "with output_folder(sys.argv[1]):\n    print('holding', flush=True)\n    time.sleep(60)\n", str(out)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        assert holder.stdout.readline().strip() == "holding"
        assert cli.main([*SIM_DOPAMINE, "--out", str(out)]) == 1
        line = _one_line_error(capsys.readouterr().err)
        assert line.startswith(f"neurorl: error: {out}: in use by another neurorl run (pid {holder.pid}, since 20")
    finally:
        holder.kill()
        holder.wait()
    assert not out.exists()
    assert cli.main([*SIM_DOPAMINE, "--out", str(out)]) == 0  # the lock died with its holder


# ------------------------------------------------------------------------------------------------ manifest
def test_manifest_records_command_settings_inputs_and_times(tmp_path) -> None:
    out = tmp_path / "sim"
    assert cli.main([*SIM_DOPAMINE, "--seed", "4", "--out", str(out)]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    import neurorl

    assert manifest["command"].startswith("neurorl simulate dopamine --cells 3")
    assert manifest["neurorl_version"] == neurorl.__version__
    assert manifest["numpy_version"] == np.__version__
    assert manifest["python_version"] == sys.version.split()[0]
    assert manifest["settings"]["seed"] == 4 and manifest["settings"]["cells"] == 3
    assert manifest["settings"]["code"] == "expectile" and manifest["settings"]["out"] == str(out)
    started = dt.datetime.fromisoformat(manifest["started"])
    finished = dt.datetime.fromisoformat(manifest["finished"])
    assert started.utcoffset() == dt.timedelta(0) and started <= finished
    outputs = {entry["path"]: entry for entry in manifest["outputs"]}
    assert sorted(outputs) == ["ground_truth.csv", "session_01.nwb"]
    for name, entry in outputs.items():
        data = (out / name).read_bytes()
        assert entry["size"] == len(data) and entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_manifest_lists_inputs_with_sizes_and_checksums(tmp_path) -> None:
    data = tmp_path / "in"
    data.mkdir()
    (data / "a.nwb").write_bytes(b"abc")
    (data / "sub").mkdir()
    (data / "sub" / "b.nwb").write_bytes(b"")
    with outdir.output_folder(tmp_path / "out", inputs=[data], command=["neurorl", "x"],
                              settings={"path": data, "n": np.int64(3)}) as stage:
        (stage / "r.txt").write_text("r")
    manifest = outdir.read_manifest(tmp_path / "out")
    assert manifest["inputs"] == [
        {"path": str(data / "a.nwb"), "size": 3, "sha256": hashlib.sha256(b"abc").hexdigest()},
        {"path": str(data / "sub" / "b.nwb"), "size": 0, "sha256": hashlib.sha256(b"").hexdigest()}]
    assert manifest["settings"] == {"path": str(data), "n": 3}


def test_every_out_command_runs_in_an_output_folder() -> None:
    """Each subcommand with --out declares its inputs, so that the command line wraps it in output_folder."""
    parser = cli.build_parser()
    missing = []
    for group_action in parser._subparsers._group_actions:
        for group, group_parser in group_action.choices.items():
            for sub in group_parser._subparsers._group_actions if group_parser._subparsers else []:
                for name, command in sub.choices.items():
                    has_out = any("--out" in action.option_strings for action in command._actions)
                    if has_out and command.get_default("_out_inputs") is None:
                        missing.append(f"{group} {name}")
    assert missing == []


# ------------------------------------------------------------------------------------------ sweep cache key
def test_sweep_cache_key_covers_code_and_computation_version(monkeypatch) -> None:
    from neurorl.pipelines import qagrel, sweep

    def job(code: str):
        return parallel.Job(sweep.dopamine_recovery_job, {"n_cells": 10, "n_trials": 50, "code": code,
                                                           "method": "model"}, seed=0, config="cells=10,trials=50")

    assert job("expectile").cache_name() != job("classic").cache_name()
    name = job("expectile").cache_name()
    monkeypatch.setattr(sweep, "COMPUTATION_VERSION", sweep.COMPUTATION_VERSION + 1)
    assert job("expectile").cache_name() != name
    table1 = parallel.Job(qagrel.table1_job, {"config": {"rule": "qagrel"}}, seed=0, config="row")
    name = table1.cache_name()
    monkeypatch.setattr(qagrel, "COMPUTATION_VERSION", qagrel.COMPUTATION_VERSION + 1)
    assert table1.cache_name() != name


# ----------------------------------------------------------------------------------------- fault injection
def _start(args: list[str], out: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO), "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-m", "neurorl", *args, "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _complete(folder: Path) -> bool:
    """The folder holds exactly the files its manifest lists, with their checksums (and maybe nothing else)."""
    manifest = outdir.read_manifest(folder)
    if manifest is None:
        return False
    listed = {entry["path"]: entry["sha256"] for entry in manifest["outputs"]}
    return {k: v for k, v in _digest(folder).items() if k != "manifest.json"} == listed


def _state(folder: Path) -> tuple[dict[str, str], bool]:
    """The files of ``folder`` with their checksums, and whether they are exactly the set its manifest lists."""
    return _digest(folder), _complete(folder)


@pytest.mark.parametrize("args, n_kills, sigterm", [(FIT, 2, False), (SIM_BCI, 2, True)],
                         ids=["fit-dopamine", "simulate-bci"])
def test_killed_runs_leave_the_old_or_the_new_complete_set(tmp_path, args, n_kills, sigterm) -> None:
    """SIGKILL a rerun at seeded random moments: --out always holds either the old complete set or the new one;
    the next run clears the debris. SIGTERM: exit 143, one line, the old set kept."""
    out = tmp_path / "out"
    started = time.perf_counter()
    first = _start([*args, "--seed", "0"], out)
    assert first.wait(timeout=300) == 0, first.stderr.read()
    duration = time.perf_counter() - started
    old = _digest(out)
    assert _complete(out)
    rng = np.random.default_rng(10)
    states = []
    for delay in rng.uniform(0.4, 1.1, n_kills) * duration:
        run = _start([*args, "--seed", "1"], out)
        try:
            run.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            run.send_signal(signal.SIGKILL)
            run.wait()
        states.append(_state(out))
    if sigterm:
        term = _start([*args, "--seed", "2"], out)
        time.sleep(0.5 * duration)
        term.send_signal(signal.SIGTERM)
        status = term.wait(timeout=300)
        if status != 0:  # it was stopped before it finished
            assert status == 128 + signal.SIGTERM
            assert term.stderr.read().strip().splitlines() == [f"neurorl: terminated by signal SIGTERM; {out} is "
                                                               "left as it was"]
            states.append(_state(out))
    final = _start([*args, "--seed", "1"], out)
    assert final.wait(timeout=300) == 0, final.stderr.read()
    assert _complete(out)
    new_names = sorted(_digest(out))
    for files, complete in states:
        # NWB files carry their creation time: a finished new set is recognised by its names and its manifest
        assert files == old or (complete and sorted(files) == new_names), f"a mixed folder after a kill: {files}"
    assert _debris(tmp_path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [".out.neurorl.lock", "out"]
