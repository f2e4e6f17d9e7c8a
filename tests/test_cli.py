"""The neurorl command: version, groups, exit codes and one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

import neurorl
from neurorl import cli, errors


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "neurorl", *args], capture_output=True, text=True, timeout=120)


def test_version() -> None:
    result = _run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"neurorl {neurorl.__version__}"


def test_every_group_exists() -> None:
    parser = cli.build_parser()
    help_text = parser.format_help()
    for group in ("fit", "simulate", "train", "reproduce", "analyze", "convert", "sweep"):
        assert group in help_text


def test_bad_arguments_exit_2_in_one_line() -> None:
    result = _run("no-such-group")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("neurorl: error:")


def test_group_without_command_exits_2(capsys) -> None:
    assert cli.main(["fit"]) == 2


@pytest.mark.parametrize("error, code", [
    (errors.InvalidRecordingError("damaged", "rec.nwb"), 1),
    (errors.MissingDataError("no trials table", "rec.nwb"), 1),
    (errors.InvalidArgumentError("--cells must be positive"), 2),
])
def test_neurorl_errors_print_one_line(monkeypatch, capsys, error, code) -> None:
    def failing(args):
        raise error

    def register(groups, parent):
        groups["analyze"].add_parser("boom", parents=[parent]).set_defaults(func=failing)

    monkeypatch.setattr(cli, "COMMAND_MODULES", ("fake_commands",))
    fake = type(sys)("fake_commands")
    fake.register = register
    monkeypatch.setitem(sys.modules, "fake_commands", fake)
    assert cli.main(["analyze", "boom", "--quiet"]) == code
    err = capsys.readouterr().err
    assert err == f"neurorl: error: {error}\n"
    assert "Traceback" not in err
