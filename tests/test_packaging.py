"""The wheel: built from a clean checkout, it ships the example data, and `neurorl reproduce dopamine` runs from
an installed copy in a fresh virtual environment, from an unrelated folder.

The wheel is built once per test session from a ``git clone`` of the committed tree (uncommitted edits are not
in it, as they would not be in a release). Building needs the build backend from the package index (setuptools
>= 77, as in pyproject.toml), as ``pip install -e .`` does. The fresh environment gets the wheel with
``--no-deps``; its dependencies are borrowed from the environment running the tests through a ``.pth`` file
placed after its own site-packages, so that nothing is downloaded and the installed ``neurorl`` is the wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "data" / "dopamine_example"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout: the wheel is built from a clean clone")
    work = tmp_path_factory.mktemp("wheel")
    clone = work / "clone"
    subprocess.run(["git", "clone", "--quiet", "--depth", "1", f"file://{REPO}", str(clone)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--disable-pip-version-check",
                    "-w", str(work / "dist"), str(clone)], check=True)
    (built,) = (work / "dist").glob("neurorl-*.whl")
    return built


def test_every_package_is_listed():
    """pyproject lists the packages by hand (data/ is mapped in); a new subpackage must be added there."""
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {".".join(init.parent.relative_to(REPO).parts) for init in (REPO / "neurorl").rglob("__init__.py")}
    assert on_disk - listed == set()
    assert listed - on_disk == {"neurorl.data", "neurorl.data.dopamine_example", "neurorl.data.reference"}


def test_wheel_ships_example_data_licence_and_metadata(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    nwb_in_repo = sorted(p.name for p in EXAMPLE.glob("*.nwb"))
    assert len(nwb_in_repo) == 4
    for name in [*nwb_in_repo, "ground_truth.csv", "README.md"]:
        assert f"neurorl/data/dopamine_example/{name}" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: BSD-3-Clause" in metadata
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    assert f"\nVersion: {version}\n" in metadata
    assert "Project-URL: Source, " in metadata
    # the package's own modules are there, and no tests or notebooks
    assert "neurorl/pipelines/dopamine.py" in names
    assert not any(n.startswith(("tests/", "notebooks/", "analyses/")) for n in names)


def test_installed_wheel_reproduces_dopamine_from_elsewhere(wheel, tmp_path):
    venv = tmp_path / "venv"
    # nothing of the calling environment may leak in (a PYTHONPATH with a source checkout makes pip see neurorl
    # as installed already)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    "--disable-pip-version-check", str(wheel)], check=True, env=env)
    site_packages = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                        check=True, capture_output=True, text=True).stdout.strip())
    borrowed = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site_packages / "_borrowed_dependencies.pth").write_text("\n".join(borrowed) + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env["MPLBACKEND"] = "Agg"
    where = subprocess.run([str(python), "-c", "import neurorl; print(neurorl.__file__, neurorl.__version__)"],
                           cwd=elsewhere, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert Path(where[0]).is_relative_to(venv)
    assert where[1] == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]

    result = subprocess.run([str(venv / "bin" / "neurorl"), "reproduce", "dopamine", "--out", "out"],
                            cwd=elsewhere, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    summary = json.loads((elsewhere / "out" / "summary.json").read_text())
    assert summary["data"] == "dopamine_example"
    assert (summary["n_cells"], summary["n_sessions"]) == (40, 4)
    # the same numbers as the committed results the README shows, computed in the repository
    committed = json.loads((REPO / "analyses" / "results" / "dopamine_example" / "summary.json").read_text())
    for key in ("n_trials", "tau_reversal_r", "reversal_split_half_r"):
        assert summary[key] == pytest.approx(committed[key], rel=1e-9), key
    assert (elsewhere / "out" / "cells.csv").stat().st_size > 0


def _declared_requirements() -> tuple[set[str], set[str]]:
    """(core, optional) distribution names declared in pyproject.toml, normalised as PEP 503 names."""
    import re

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]

    def names(requirements):
        return {re.split(r"[\s\[<>=!~;]", r, maxsplit=1)[0].lower().replace("_", "-") for r in requirements}

    optional = set().union(*(names(group) for group in project["optional-dependencies"].values()))
    return names(project["dependencies"]), optional


def test_every_third_party_import_is_a_declared_dependency():
    """A module imported anywhere in neurorl/ comes from a declared distribution: imports run at module level
    (or in a function the core commands call) need a core dependency, the others at least an optional one.
    The CI machine installs only what pyproject.toml declares, so an undeclared import fails there only."""
    import ast
    from importlib.metadata import packages_distributions

    core, optional = _declared_requirements()
    distributions = packages_distributions()
    undeclared = {}
    for source in (REPO / "neurorl").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in {"neurorl", "__future__"}:
                    continue
                dists = {d.lower().replace("_", "-") for d in distributions.get(top, [top])}
                if not dists & (core | optional):
                    undeclared.setdefault(top, str(source.relative_to(REPO)))
    assert undeclared == {}, f"imported but not declared in pyproject.toml: {undeclared}"


def test_output_folder_lock_is_a_core_dependency():
    """Every command that writes --out takes a file lock, so the lock's library is a core dependency."""
    core, _ = _declared_requirements()
    assert "filelock" in core
