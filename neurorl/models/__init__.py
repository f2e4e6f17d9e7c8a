"""Learning models: distributional TD, Q-AGREL and error-backprop, the BCI learner, recording simulators.

Every public name is importable from here (``from neurorl.models import ...``); the submodules are
imported on first use, so ``import neurorl.models`` stays cheap.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "backprop": ["BackpropMLP", "LOSSES", "BACKPROP_FEEDBACK_MODES"],
        "bci_imaging": ["ImagingParams", "IMAGING_SOURCES", "roi_footprints", "raw_fluorescence",
            "deconvolve_ar1", "suite2p_plane", "movie", "motion_artefacts"],
        "bci_learning": ["RULES", "BCILearnerParams", "BCISession", "simulate_bci_experiment",
            "simulate_bci_day", "summarize_session", "learned_cursor_shift", "learning_time_vs_n_bci",
            "simulate_licks", "THRESHOLD_RULES", "LEARNER_SOURCES", "RUN_SOURCES", "simulation_parameters"],
        "calcium": ["calcium_kernel", "spikes_to_dff", "GCAMP6F"],
        "classifier": ["QAGRELClassifier", "BackpropClassifier"],
        "distributional_td": ["CODES", "expectile", "quantile", "learn_values", "make_population",
            "DistributionalTD"],
        "dopamine_recording": ["SimulatedSession", "Simulation", "simulate_recordings", "SimulatedResponses",
            "simulate_responses", "expected_reward_response", "GROUND_TRUTH_COLUMNS", "SIMULATION_CODES", "NULL_CODES"],
        "paper_training": ["PAPER_PROTOCOL", "PaperRun", "paper_learning_rate", "epoch_split",
            "stopping_rule_met", "train_paper", "HISTORY_COLUMNS"],
        "qagrel": ["QAGREL", "FEEDBACK_MODES"],
        "saving": ["save_model", "load_model", "model_arrays", "set_model_arrays"],
        "training": ["train", "evaluate", "summarize_run"],
    },
)
