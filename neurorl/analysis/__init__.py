"""Analyses of recordings: dopamine reversal points, asymmetries and decoding; BCI soma-dendrite analyses.

Every public name is importable from here (``from neurorl.analysis import ...``); the submodules are
imported on first use, so ``import neurorl.analysis`` stays cheap.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "bci": ["pair_soma_dendrite", "coincident_events", "soma_locked_events", "fit_dendrite_residuals",
            "error_epochs", "assign_epochs", "residuals_by_epoch", "trial_outcome_times",
            "trial_residual_vectors", "trial_window_residuals", "decode_reward", "pool_decoding",
            "DECODING_SCOPE", "learning_curves", "learning_time", "trials_to_criterion", "days_to_criterion",
            "event_rate_change", "BCIAnalysisSettings", "analyze_session", "combine_sessions", "EPOCH_TYPES"],
        "decoding": ["decode_distribution", "decode_fit", "expectiles_of_samples", "quantiles_of_samples",
            "wasserstein_to", "reference_distributions", "decoding_controls", "DECODE_SUPPORTS"],
        "events": ["detect_events", "event_rates"],
        "responses": ["compute_responses", "pool_responses", "skip_cells", "align_trial_types",
            "original_kernel", "SMOOTHING_OPTIONS", "MIN_TRIALS_PER_SIZE"],
        "reversal": ["METHODS", "fit_cells", "utility_axis", "tau_reversal_correlation", "tau_reversal_test",
            "SLOPES", "off_floor", "FLOOR_RATE", "reversal_split_half", "classic_td_null_test", "same_vs_diverse",
            "ReversalPointEstimator", "reuse_prepared"],
    },
)
