"""The documentation's configuration: the build command CI runs, offline, from the committed notebooks.

The build itself (about a minute) is run by CI after the tests, with the command from the README.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _block(marker: str) -> list[str]:
    text = (REPO / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\n(.*?)<!-- /{marker} -->", text, re.S)
    assert match, f"README.md has no {marker} block"
    return [line for line in match.group(1).splitlines() if line.strip() and not line.startswith("```")]


def test_readme_docs_command_installs_and_builds_with_warnings_as_errors():
    (command,) = _block("docs-command")
    assert 'pip install -e ".[docs]"' in command
    assert re.search(r"sphinx-build .*-W .*docs docs/_build/html", command)
    assert "docs_command" in (REPO / ".ci" / "run").read_text()


def test_docs_fetch_nothing_and_do_not_rerun_notebooks():
    conf = (REPO / "docs" / "conf.py").read_text()
    assert "sphinx.ext.intersphinx" not in conf and "intersphinx_mapping" not in conf
    assert re.search(r'^nb_execution_mode = "off"$', conf, re.M)


def test_every_notebook_is_a_tutorial_page():
    index = (REPO / "docs" / "tutorials" / "index.md").read_text()
    for notebook in (REPO / "notebooks").glob("*.ipynb"):
        assert f"\n{notebook.stem}\n" in index, notebook.name


def test_reproduction_pages_point_at_committed_results():
    for page in (REPO / "docs" / "reproductions").glob("*.md"):
        for target in re.findall(r"\]\((\.\./\.\./[^)]+)\)|\{include\} (\S+)", page.read_text()):
            path = (page.parent / (target[0] or target[1])).resolve()
            assert path.is_file(), f"{page.name}: {path} is missing"
