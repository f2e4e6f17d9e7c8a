"""The public API: every subpackage re-exports its modules' public names, with ``__all__``, lazily."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys

import pytest

import neurorl

SUBPACKAGES = ["io", "analysis", "models", "tasks", "plotting", "pipelines"]
# pipelines re-export the jobs, not the CLI plumbing (register, run_* argument handlers)
CURATED = {"pipelines"}


def _public_modules(package):
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            yield importlib.import_module(f"{package.__name__}.{info.name}")


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_subpackage_reexports_its_public_names(name):
    package = importlib.import_module(f"neurorl.{name}")
    assert package.__all__ and len(set(package.__all__)) == len(package.__all__)
    assert sorted(dir(package)) == sorted(package.__all__)
    owners = {}
    for module in _public_modules(package):
        for public in module.__all__:
            owners.setdefault(public, []).append(module)
    for public in package.__all__:
        obj = getattr(package, public)
        assert any(getattr(module, public) is obj for module in owners[public]), public
    if name not in CURATED:
        missing = sorted(set(owners) - set(package.__all__))
        assert missing == [], f"neurorl.{name} does not re-export {missing}"


def test_star_import_gives_the_same_objects():
    namespace: dict = {}
    exec("from neurorl.analysis import *", namespace)
    from neurorl.analysis.reversal import fit_cells

    assert namespace["fit_cells"] is fit_cells


def test_names_from_the_issue():
    from neurorl.analysis import ReversalPointEstimator, decode_fit, fit_cells
    from neurorl.io import read_dopamine, write_dopamine
    from neurorl.models import QAGREL, BackpropMLP, DistributionalTD
    from neurorl.pipelines import analyze_dopamine, default_example_data
    from neurorl.plotting import plot_dopamine_summary
    from neurorl.tasks import BCITask, VariableRewardTask

    assert fit_cells.__module__ == "neurorl.analysis.reversal"
    assert decode_fit.__module__ == "neurorl.analysis.decoding"
    assert ReversalPointEstimator.__module__ == "neurorl.analysis.reversal"
    assert read_dopamine.__module__ == write_dopamine.__module__ == "neurorl.io.nwb"
    assert QAGREL.__module__ == "neurorl.models.qagrel"
    assert {BackpropMLP.__module__, DistributionalTD.__module__} == {"neurorl.models.backprop",
                                                                      "neurorl.models.distributional_td"}
    assert analyze_dopamine.__module__ == default_example_data.__module__ == "neurorl.pipelines.dopamine"
    assert plot_dopamine_summary.__module__ == "neurorl.plotting.dopamine"
    assert {BCITask.__module__, VariableRewardTask.__module__} == {"neurorl.tasks.bci",
                                                                    "neurorl.tasks.variable_reward"}
    assert neurorl.__version__ and neurorl.__version__ != "0+unknown"


def test_unknown_name_is_an_attribute_error():
    import neurorl.analysis

    with pytest.raises(AttributeError):
        neurorl.analysis.no_such_function  # noqa: B018


def test_importing_the_subpackages_is_cheap():
    """The submodules (numba, pynwb, matplotlib behind them) load on first use, not on import."""
    code = ("import sys; import neurorl.io, neurorl.analysis, neurorl.models, neurorl.tasks, neurorl.plotting, "
            "neurorl.pipelines; print(sorted(m for m in ('numba', 'pynwb', 'matplotlib.pyplot', 'sklearn', "
            "'neurorl.analysis.reversal') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert loaded.strip() == "[]"
