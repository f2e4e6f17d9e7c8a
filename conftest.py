"""Root test configuration: docstring examples are collected from the package only.

``--doctest-modules`` (pyproject addopts) would also import ``tests/`` and ``notebooks/`` as doctest modules,
and their two ``conftest.py`` files clash by name; they hold no examples, so only ``neurorl/`` is collected.
"""

from __future__ import annotations

from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent / "neurorl"


@pytest.hookimpl(wrapper=True)
def pytest_collect_file(file_path, parent):
    """Drop the doctest collector of every Python file outside ``neurorl/``."""
    collected = yield
    if file_path.suffix == ".py" and not file_path.resolve().is_relative_to(PACKAGE):
        return [node for node in collected if type(node).__name__ != "DoctestModule"]
    return collected
