"""Sphinx configuration of the neurorl documentation.

Build (from the repository root)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

Nothing is fetched from the network (no intersphinx), and the tutorial notebooks are rendered with the
outputs committed in ``notebooks/``; they are not re-run. The API pages are generated from each subpackage's
``__all__`` and the CLI page from :func:`neurorl.cli.build_parser`.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))  # document this checkout, whatever copy of neurorl is installed
os.environ.setdefault("MPLBACKEND", "Agg")

import neurorl  # noqa: E402

project = "neurorl"
author = "the neurorl developers"
copyright = "2026, the neurorl developers"
release = neurorl.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
    "sphinxarg.ext",
]

# --- the tutorials: the committed, executed notebooks, copied in and rendered as they are
nb_execution_mode = "off"
TUTORIALS = DOCS / "tutorials"
for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
    shutil.copyfile(notebook, TUTORIALS / notebook.name)

# --- the API reference: one page per subpackage, listing its __all__ (generated, not committed)
SUBPACKAGES = {
    "io": "Files: NWB recordings, MNIST, lab formats",
    "tasks": "Experimental paradigms",
    "models": "Learning models and recording simulators",
    "analysis": "Analyses of recordings",
    "plotting": "Figures",
    "pipelines": "End-to-end jobs (behind the command line)",
    "errors": "Typed errors",
}
API = DOCS / "api"
API.mkdir(exist_ok=True)
for name, title in SUBPACKAGES.items():
    package = importlib.import_module(f"neurorl.{name}")
    heading = f"neurorl.{name}: {title}"
    lines = [heading, "=" * len(heading), "", f".. automodule:: neurorl.{name}", "   :no-members:", "",
             f".. currentmodule:: neurorl.{name}", "", ".. autosummary::", "   :toctree: generated", ""]
    # a class under a second name (e.g. models.BCISession = recordings.BCIRecording) is documented under its own
    lines += [f"   {public}" for public in sorted(package.__all__, key=str.lower)
              if not (isinstance(getattr(package, public), type) and getattr(package, public).__name__ != public)]
    text = "\n".join(lines) + "\n"
    page = API / f"{name}.rst"
    if not page.exists() or page.read_text() != text:  # unchanged pages keep their time stamp
        page.write_text(text)

autosummary_generate = True
autosummary_imported_members = True
autodoc_default_options = {"members": True, "inherited-members": False}
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True

# --- pages
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
master_doc = "index"
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
suppress_warnings = ["mystnb.unknown_mime_type"]

html_theme = "pydata_sphinx_theme"
html_title = f"neurorl {release}"
html_theme_options = {
    "github_url": "https://github.com/neurorl/neurorl",
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []


def _skip_foreign_members(app, what, name, obj, skip, options):
    """Leave out members that scikit-learn adds to our estimators (``set_fit_request``, ``score``, ...).

    Their docstrings cross-reference scikit-learn's own glossary and labels, which this site does not have
    (and cannot fetch: the build uses no network), so documenting them would only produce broken links.
    """
    module = getattr(obj, "__module__", None) or ""
    if module.startswith("sklearn."):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_foreign_members)
