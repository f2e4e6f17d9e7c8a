"""Experimental paradigms: the variable-reward task, image classification as a reward task, the BCI task.

Every public name is importable from here (``from neurorl.tasks import ...``); the submodules are
imported on first use, so ``import neurorl.tasks`` stays cheap.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "bci": ["BCITask", "TASK_SOURCES", "Calibration", "assign_ensembles", "online_dff", "cursor_from_dff",
            "pseudo_trial_cursors", "half_normal_fit", "calibrate_threshold", "recalibrate_threshold",
            "grating_angle", "grating_rotation", "trial_events", "ENSEMBLE_LABELS"],
        "classification": ["ClassificationTask"],
        "variable_reward": ["REWARD_VOLUMES_UL", "REWARD_FREQUENCIES_DATA", "REWARD_PROBABILITIES",
            "VariableRewardTask"],
    },
)
