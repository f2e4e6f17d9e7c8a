"""End-to-end jobs behind the command line, callable from Python.

Every public name is importable from here (``from neurorl.pipelines import ...``); the submodules are
imported on first use, so ``import neurorl.pipelines`` stays cheap.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "bci": ["simulate_bci_folder"],
        "bci_analysis": ["analyze_sessions"],
        "dopamine": ["DopamineResults", "analyze_dopamine", "write_dopamine_results", "default_example_data"],
        "qagrel": ["DEFAULT_CONFIG", "run_training", "table1_configs", "table1_summary", "reproduce_table1"],
        "simulate_dopamine": ["simulate_dopamine_folder"],
        "sweep": ["qagrel_job", "qagrel_sweep", "dopamine_recovery_job", "dopamine_recovery_sweep"],
    },
)
