"""The command line refuses bad arguments in one line, estimates memory first, reports failures in one line.

One regression test per case of the "one-line errors everywhere" and "the command line, consistently" lists:
each failed before (a traceback, a silent NaN result, a wrong file name printed, a missing option).
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from neurorl import cli
from neurorl._argtypes import MAX_SEED, ListAction, probability, seed, workers
from neurorl._config import config_values, read_config
from neurorl._memory import available_memory, check_memory, format_bytes, simulate_dopamine_bytes
from neurorl.errors import InvalidArgumentError

REPO = Path(__file__).resolve().parents[1]
FAST = ["--bootstrap", "5", "--splits", "5", "--permutations", "5"]


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


# ------------------------------------------------------------------------------------------ argument types
BAD_ARGUMENTS = {
    "simulate dopamine --seed -1": (["simulate", "dopamine", "--seed", "-1"], "--seed"),
    "simulate bci --seed -1": (["simulate", "bci", "--seed", "-1"], "--seed"),
    "fit dopamine --seed -1": (["fit", "dopamine", "REC", "--seed", "-1"], "--seed"),
    "train qagrel --seed -1": (["train", "qagrel", "--seed", "-1"], "--seed"),
    "seed too large": (["simulate", "dopamine", "--seed", str(2**63)], "--seed"),
    "--gain nan": (["simulate", "dopamine", "--gain", "nan"], "--gain"),
    "--baseline-rate inf": (["simulate", "dopamine", "--baseline-rate", "inf"], "--baseline-rate"),
    "--other-fraction 2": (["simulate", "dopamine", "--other-fraction", "2"], "--other-fraction"),
    "--cells 0": (["simulate", "dopamine", "--cells", "0"], "--cells"),
    "--tau-range 0 2": (["simulate", "dopamine", "--tau-range", "0", "2"], "--tau-range"),
    "analyze bci --min-r 5": (["analyze", "bci", "D", "--min-r", "5"], "--min-r"),
    "analyze bci --window-ms -10": (["analyze", "bci", "D", "--window-ms", "-10"], "--window-ms"),
    "analyze bci --shuffles 0": (["analyze", "bci", "D", "--shuffles", "0"], "--shuffles"),
    "analyze bci --epoch-s 0": (["analyze", "bci", "D", "--epoch-s", "0"], "--epoch-s"),
    "analyze bci --format gif": (["analyze", "bci", "D", "--format", "gif"], "--format"),
    "reproduce bci --shuffles 0": (["reproduce", "bci", "--shuffles", "0"], "--shuffles"),
    "reproduce bci --curve-minutes -1": (["reproduce", "bci", "--curve-minutes", "-1"], "--curve-minutes"),
    "reproduce bci --rules vectorised": (["reproduce", "bci", "--rules", "vectorised"], "--rules"),
    "train qagrel --n-train -1": (["train", "qagrel", "--n-train", "-1"], "--n-train"),
    "train qagrel --threads -3": (["train", "qagrel", "--threads", "-3"], "--threads"),
    "train qagrel --epsilon 2": (["train", "qagrel", "--epsilon", "2"], "--epsilon"),
    "train qagrel --lr nan": (["train", "qagrel", "--lr", "nan"], "--lr"),
    "train qagrel --hidden 0": (["train", "qagrel", "--hidden", "0"], "--hidden"),
    "reproduce qagrel --jobs 0": (["reproduce", "qagrel", "--jobs", "0"], "--jobs"),
    "fit dopamine --bootstrap 0": (["fit", "dopamine", "REC", "--bootstrap", "0"], "--bootstrap"),
    "fit dopamine --reward-scale nan": (["fit", "dopamine", "REC", "--reward-scale", "nan"], "--reward-scale"),
    "fit dopamine --window-ms 0 inf": (["fit", "dopamine", "REC", "--window-ms", "0", "inf"], "--window-ms"),
    "sweep dopamine --jobs 0": (["sweep", "dopamine", "--jobs", "0"], "--jobs"),
    "sweep qagrel --seeds -1": (["sweep", "qagrel", "--seeds", "-1"], "--seeds"),
    "fetch mnist --timeout -1": (["fetch", "mnist", "--timeout", "-1"], "--timeout"),
}


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_bad_numbers_are_refused_with_exit_2_in_one_line(case, tmp_path, capsys):
    argv, option = BAD_ARGUMENTS[case]
    out = tmp_path / "out"
    assert cli.main(["--quiet", *argv, "--out", str(out)]) == 2
    line = _one_line(capsys)
    assert "error" in line and option in line
    assert not out.exists()


def test_argument_types():
    assert seed("0") == 0 and seed(str(MAX_SEED)) == MAX_SEED
    for bad in ("-1", "1.5", "x", str(MAX_SEED + 1)):
        with pytest.raises(argparse.ArgumentTypeError):
            seed(bad)
    assert probability("0") == 0.0 and probability("1") == 1.0
    with pytest.raises(argparse.ArgumentTypeError):
        probability("nan")
    assert workers("-1") == -1 and workers("3") == 3
    for bad in ("0", "-2"):
        with pytest.raises(argparse.ArgumentTypeError):
            workers(bad)


def test_main_returns_2_on_usage_errors_instead_of_raising(capsys):
    assert cli.main(["simulate", "dopamine", "--no-such-option"]) == 2
    assert cli.main(["--version"]) == 0
    capsys.readouterr()


# ------------------------------------------------------------------------------------------------- memory
@pytest.mark.parametrize(("argv", "reduce"), [(["--cells", "100000000"], "--cells"),
                                               (["--trials", "1000000000"], "--trials")])
def test_huge_simulations_are_refused_with_the_estimate(argv, reduce, tmp_path, capsys):
    assert cli.main(["--quiet", "simulate", "dopamine", *argv, "--out", str(tmp_path / "o")]) == 2
    line = _one_line(capsys)
    assert "needs about" in line and "GB" in line and reduce in line and "available" in line
    assert not (tmp_path / "o").exists()


def test_memory_estimate_passes_ordinary_jobs_and_names_what_to_reduce(monkeypatch):
    # the default simulation needs a few MB; 100 million cells need tens of GB
    assert simulate_dopamine_bytes(40, 4, 500) < 50e6
    assert simulate_dopamine_bytes(100_000_000, 4, 500) > 40e9
    monkeypatch.setenv("NEURORL_MEMORY_LIMIT", str(10**9))
    assert available_memory() == 10**9
    check_memory(5e8, ["--cells"], what="x")
    with pytest.raises(InvalidArgumentError, match=r"x: needs about 2.0 GB of memory, 1.0 GB is available; "
                                                   r"reduce --cells or --trials"):
        check_memory(2e9, ["--cells", "--trials"], what="x")
    assert format_bytes(512) == "512 bytes" and format_bytes(42e9) == "42 GB"


def test_simulate_bci_checks_memory(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("NEURORL_MEMORY_LIMIT", "1000000")
    assert cli.main(["--quiet", "simulate", "bci", "--out", str(tmp_path / "o")]) == 2
    line = _one_line(capsys)
    assert "needs about" in line and "--p0" in line and "--session-minutes" in line


# -------------------------------------------------------------------------------------------- divergence
@pytest.fixture
def mnist_dir() -> Path:
    from neurorl.errors import NeurorlError
    from neurorl.io.mnist import find_mnist_dir

    try:
        return find_mnist_dir(None)
    except NeurorlError as exc:
        pytest.skip(f"MNIST not available: {exc}")


def test_diverged_training_is_one_line_exit_1_and_recorded(tmp_path, capsys, mnist_dir):
    out = tmp_path / "run"
    status = cli.main(["--quiet", "train", "qagrel", "--lr", "1e6", "--hidden", "20", "--epochs", "3",
                       "--n-train", "300", "--n-test", "100", "--data-dir", str(mnist_dir), "--out", str(out)])
    assert status == 1
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "diverged at epoch 1" in err[0] and "nan%" not in captured.out
    record = json.loads((out / "run.json").read_text())
    assert record["diverged"] == 1 and record["diverged_epoch"] == 1
    assert pd.read_csv(out / "history.csv")["epoch"].tolist() == [1]
    assert (out / "manifest.json").is_file()


# --------------------------------------------------------------------------------------- operating system
def test_os_errors_are_one_line_naming_the_path(monkeypatch, tmp_path, capsys):
    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(Path(args._staging) / "fit.nc"))

    def register(groups, parent):
        p = groups["fit"].add_parser("full", parents=[parent])
        p.add_argument("--out", required=True)
        p.set_defaults(func=full, _out_inputs=lambda args: [])

    monkeypatch.setattr(cli, "COMMAND_MODULES", (*cli.COMMAND_MODULES, "fake_full"))
    monkeypatch.setitem(sys.modules, "fake_full", type(sys)("fake_full"))
    sys.modules["fake_full"].register = register
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("kept")
    assert cli.main(["fit", "full", "--out", str(out)]) == 1
    line = _one_line(capsys)
    assert line.startswith(f"neurorl: error: {out / 'fit.nc'}: no space left on the device")
    assert "left as it was" in line
    assert sorted(p.name for p in out.iterdir()) == ["old.txt"]


def test_full_disk_while_writing_nwb_is_an_os_error_not_a_crash(monkeypatch, tmp_path, capsys):
    """The NWB file is built in memory and written by Python: a failing write is an OSError (one line)."""
    import neurorl.io._atomic as atomic

    def no_space(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(atomic.os, "fsync", no_space)
    out = tmp_path / "sim"
    status = cli.main(["--quiet", "simulate", "dopamine", "--cells", "2", "--sessions", "1", "--trials", "40",
                       "--out", str(out)])
    assert status == 1
    line = _one_line(capsys)
    assert "no space left on the device" in line and str(out / "session_01.nwb") in line
    assert not out.exists()


def test_a_real_full_disk_is_one_line(tmp_path, capsys):
    """On a tiny tmpfs (needs root to mount; skipped otherwise) a full disk is one line, and --out is kept."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)],
                                           capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        out = disk / "sim"
        status = cli.main(["--quiet", "simulate", "dopamine", "--cells", "4", "--sessions", "1", "--trials",
                           "300", "--out", str(out)])
        assert status == 1
        line = _one_line(capsys)
        assert "no space left on the device" in line and str(out) in line
        assert not out.exists()
    finally:
        subprocess.run(["umount", str(disk)], check=False)


def test_out_that_is_a_file_is_one_line(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert cli.main(["--quiet", "simulate", "dopamine", "--cells", "2", "--sessions", "1", "--trials", "40",
                     "--out", str(target)]) == 1
    assert "exists and is not a folder" in _one_line(capsys)


# --------------------------------------------------------------------------------------------- --format
@pytest.fixture(scope="module")
def small_recording(tmp_path_factory) -> Path:
    """A small simulated recording (6 cells, 80 trials): fits in a few seconds."""
    from neurorl.pipelines.simulate_dopamine import simulate_dopamine_folder

    folder = tmp_path_factory.mktemp("small")
    simulate_dopamine_folder(folder, n_cells=6, n_sessions=1, n_trials=80, seed=0)
    return folder / "session_01.nwb"


def _quick_figures(monkeypatch):
    """Save figures as tiny stand-in files (rendering 12 SVG/PDF figures takes half a minute)."""
    import matplotlib.pyplot as plt

    import neurorl.io._atomic as atomic

    def save(target, figure, **kwargs):
        Path(target).write_text(f"figure {Path(target).suffix}")
        plt.close(figure)
        return Path(target)

    monkeypatch.setattr(atomic, "save_figure", save)


def test_format_svg_pdf_prints_the_files_written(small_recording, tmp_path, capsys, monkeypatch):
    _quick_figures(monkeypatch)
    out = tmp_path / "fit"
    assert cli.main(["--quiet", "fit", "dopamine", str(small_recording), *FAST, "--format", "svg", "pdf",
                     "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "summary.png" not in printed and str(out / "summary.svg") in printed and str(out / "summary.pdf") in printed
    assert (out / "summary.svg").is_file() and (out / "summary.pdf").is_file() and not (out / "summary.png").exists()


# ------------------------------------------------------------------------------------------------ help
def _walk():
    parser = cli.build_parser()
    return parser, cli.command_parsers(parser)


def test_every_option_of_every_command_has_help_and_shows_its_default():
    parser, commands = _walk()
    assert len(commands) >= 14
    missing, no_default = [], []
    for words, command in commands.items():
        formatter = command._get_formatter()
        for action in command._actions:
            if not action.option_strings or isinstance(action, argparse._HelpAction):
                continue
            name = f"{' '.join(words)} {action.option_strings[-1]}"
            if not (action.help or "").strip():
                missing.append(name)
                continue
            flag = isinstance(action, argparse._StoreTrueAction | argparse._StoreConstAction)
            text = formatter._expand_help(action) if action.help else ""
            if not flag and not action.required and "default" not in text.lower():
                no_default.append(name)
    assert not missing, f"options without help: {missing}"
    assert not no_default, f"options whose help shows no default: {no_default}"


def test_out_is_dir_everywhere_and_config_everywhere():
    _, commands = _walk()
    for words, command in commands.items():
        options = {opt: action for action in command._actions for opt in action.option_strings}
        assert "--config" in options, words
        if "--out" in options:
            assert options["--out"].metavar == "DIR", words


def test_top_level_description_is_for_a_user(capsys):
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["--help"])
    text = capsys.readouterr().out
    assert "The ``neurorl`` command" not in text and "--out DIR" in text and "dopamine" in text


def test_sweep_qagrel_help_shows_defaults(capsys):
    assert cli.main(["sweep", "qagrel", "--help"]) == 0
    text = capsys.readouterr().out.replace("\n", " ")
    text = " ".join(text.split())
    for fragment in ("random seeds", "(default: 0 1 2)", "epochs per run (default: 10)", "learning rules",
                     "feedback weights"):
        assert fragment in text, fragment


# ------------------------------------------------------------------------------------------------ lists
def test_lists_are_space_separated_and_commas_still_work_with_a_note(capsys):
    parser = cli.build_parser()
    args = parser.parse_args(["analyze", "bci", "D", "--format", "png", "svg", "--out", "o"])
    assert args.format == ["png", "svg"]
    capsys.readouterr()
    args = parser.parse_args(["analyze", "bci", "D", "--format", "png,svg", "--out", "o"])
    assert args.format == ["png", "svg"]
    assert "deprecated" in args._notes[0]  # printed by main once the command succeeded
    args = parser.parse_args(["reproduce", "bci", "--rules", "vectorized", "scalar", "--n-bci-values", "2", "4",
                              "--out", "o"])
    assert args.rules == ["vectorized", "scalar"] and args.n_bci_values == [2, 4]
    action = ListAction(["--x"], "x", item_type=int)
    with pytest.raises(argparse.ArgumentError):
        action.convert(["1", "y"])


def test_reproduce_dopamine_takes_the_recording_as_positional(small_recording, tmp_path, capsys, monkeypatch):
    _quick_figures(monkeypatch)
    parser = cli.build_parser()
    args = parser.parse_args(["reproduce", "dopamine", "REC", "--out", "o"])
    assert args.recording == "REC" and args.data is None
    out = tmp_path / "r"
    assert cli.main(["--quiet", "reproduce", "dopamine", "--data", str(small_recording), *FAST, "--format", "pdf",
                     "--out", str(out)]) == 0
    assert "--data is deprecated" in capsys.readouterr().err
    # a failure stays one line (the note comes only after a successful run)
    assert cli.main(["--quiet", "reproduce", "dopamine", "--data", str(tmp_path / "missing.nwb"),
                     "--out", str(tmp_path / "m")]) == 1
    assert "missing.nwb" in _one_line(capsys)
    assert cli.main(["--quiet", "reproduce", "dopamine", "A.nwb", "--data", "B.nwb", "--out", str(tmp_path / "x")]) == 2


# ----------------------------------------------------------------------------------------------- config
def test_config_unknown_key_is_one_line_naming_file_and_key(tmp_path, capsys):
    config = tmp_path / "sim.toml"
    config.write_text("cells = 4\nfoo = 1\n")
    assert cli.main(["simulate", "dopamine", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    line = _one_line(capsys)
    assert str(config) in line and "'foo'" in line
    config.write_text("seed = -1\n")
    assert cli.main(["simulate", "dopamine", "--config", str(config), "--out", str(tmp_path / "o")]) == 2
    line = _one_line(capsys)
    assert str(config) in line and "seed" in line
    assert cli.main(["simulate", "dopamine", "--config", str(tmp_path / "none.toml"), "--out", "o"]) == 2
    assert "no such file" in _one_line(capsys)


def test_config_file_applies_and_is_in_the_manifest(tmp_path, capsys):
    config = tmp_path / "sim.toml"
    out = tmp_path / "sim"
    config.write_text(f'out = "{out}"\ncells = 3\nsessions = 1\n[simulation]\ntrials = 40\nseed = 5\n')
    assert cli.main(["--quiet", "simulate", "dopamine", "--config", str(config), "--trials", "30"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["settings"]["cells"] == 3 and manifest["settings"]["seed"] == 5
    assert manifest["settings"]["trials"] == 30                       # the flag beats the file
    assert str(config) in [entry["path"] for entry in manifest["inputs"]]
    truth = pd.read_csv(out / "ground_truth.csv")
    assert len(truth) == 3


def _parse_with_config(argv):
    from neurorl._config import apply_config

    parser = cli.build_parser()
    apply_config(parser, argv)
    return parser.parse_args(argv)


def test_config_precedence_default_config_flags(tmp_path):
    config = tmp_path / "train.toml"
    config.write_text('out = "from_config"\nn-train = 500\nlr = 0.1\nhidden = [30, 20]\nfloat64 = true\n'
                      '[exploration]\nepsilon = 0.05\n')
    args = _parse_with_config(["train", "qagrel", "--config", str(config), "--lr", "0.2"])
    assert args.out == "from_config" and args.n_train == 500 and args.hidden == [30, 20] and args.float64
    assert args.lr == 0.2                          # the flag wins over the file
    assert args.epsilon == 0.05 and args.temperature == 1.0   # a table groups keys; the rest keep defaults


def test_recording_toml_is_a_config_of_fit_dopamine(tmp_path):
    from neurorl.io.spec import RecordingSpec

    config = tmp_path / "recording.toml"
    config.write_text('preset = "dabney2020"\nbootstrap = 50\n'
                      '[recording]\nunits = "processing/ecephys/units"\nreward_column = "reward_size"\n'
                      'reward_scale = 1000.0\n[responses]\nwindow_ms = [100, 500]\nmax_silence_s = "none"\n'
                      'zscore = true\n')
    args = _parse_with_config(["fit", "dopamine", "REC", "--config", str(config), "--out", "o",
                               "--reward-column", "volume"])
    spec = RecordingSpec.from_args(args)
    assert args.bootstrap == 50
    assert spec.units == "processing/ecephys/units" and spec.reward_scale == 1000.0 and spec.zscore
    assert spec.window_ms == (100.0, 500.0)            # config beats the preset's 200-600 ms
    assert spec.smoothing == "original"                # the preset still gives what the file does not
    assert spec.reward_column == "volume"              # flags beat the file
    assert spec.max_silence_s is None
    # the same file still reads as a RecordingSpec in Python (its analysis keys are skipped there)
    assert read_config(config)["reward_column"] == "reward_size"
    python_spec = RecordingSpec.from_toml(config)
    assert python_spec.reward_column == "reward_size" and python_spec.window_ms == (100.0, 500.0)


def test_fit_dopamine_options_are_spec_keys_or_other_config_keys():
    from neurorl.io.spec import OTHER_CONFIG_KEYS, SPEC_KEYS

    _, commands = _walk()
    for words in (("fit", "dopamine"), ("reproduce", "dopamine")):
        keys = {opt[2:].replace("-", "_") for action in commands[words]._actions for opt in action.option_strings
                if opt.startswith("--")} - {"help", "config", "preset"}
        assert keys <= set(SPEC_KEYS) | set(OTHER_CONFIG_KEYS), keys - set(SPEC_KEYS) - set(OTHER_CONFIG_KEYS)


def test_config_values_of_every_command_can_be_read(tmp_path):
    _, commands = _walk()
    config = tmp_path / "seed.toml"
    config.write_text("seed = 7\n")
    with_seed = [words for words, command in commands.items()
                 if any("--seed" in action.option_strings for action in command._actions)]
    assert len(with_seed) >= 6
    for words in with_seed:
        assert config_values(commands[words], config) == {"seed": 7}


# ------------------------------------------------------------------------------------------- analyze bci
@pytest.fixture(scope="module")
def bci_folder(tmp_path_factory):
    from _bci_fake import fake_session

    from neurorl.io.bci_nwb import write_bci_session

    folder = tmp_path_factory.mktemp("bci") / "mouse"
    folder.mkdir()
    for day in (1, 2):
        write_bci_session(fake_session(n_frames=1500, day=day, seed=day), folder / f"day{day:02d}.nwb")
    return folder


def test_analyze_bci_warns_when_no_pair_reaches_min_r(bci_folder, tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(["--quiet", "analyze", "bci", str(bci_folder), "--min-r", "1", "--shuffles", "5",
                     "--out", str(out)]) == 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "warning" in err[0] and "--min-r 1" in err[0] and "every day" in err[0]
    summary = pd.read_csv(out / "summary.csv")
    assert "no soma-dendrite pair" in summary["warning"].iloc[0]
    # pairs found: no warning
    out2 = tmp_path / "o2"
    assert cli.main(["--quiet", "analyze", "bci", str(bci_folder), "--shuffles", "5", "--format", "png,svg",
                     "--out", str(out2)]) == 0
    err = capsys.readouterr().err
    assert "warning" not in err and "comma-separated form 'png,svg' is deprecated" in err  # the older form works
    assert (out2 / "decoding.svg").is_file()
    assert pd.read_csv(out2 / "summary.csv")["warning"].isna().all()


# ------------------------------------------------------------------------------------------ simulate bci
def test_simulate_bci_without_a_complete_trial_is_one_line(tmp_path, capsys):
    out = tmp_path / "o"
    assert cli.main(["--quiet", "simulate", "bci", "--days", "1", "--session-minutes", "0.05", "--p0", "5",
                     "--out", str(out)]) == 2
    line = _one_line(capsys)
    assert "no trial was completed" in line and "--session-minutes 0.05" in line
    assert not out.exists()


def test_cli_as_a_process_prints_no_traceback(tmp_path):
    result = subprocess.run([sys.executable, "-m", "neurorl", "train", "qagrel", "--threads", "-3", "--out",
                             str(tmp_path / "o")], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=REPO, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "--threads" in result.stderr
