"""Figures. Every function draws on the ``ax`` (or figure) it is given, or on a new one.

One calling convention: the data come first and positionally (result Datasets, then a selector such as the
variable to plot), then keyword-only ``ax=None`` and the options: ``plot_x(data, *, ax=None, ...)``. A
function that draws several panels takes ``fig=None`` in the same place. Each returns what it drew on (the
Axes, or the Figure for several panels).

Every public name is importable from here (``from neurorl.plotting import ...``); the submodules are
imported on first use, so ``import neurorl.plotting`` stays cheap.
"""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach(
    __name__,
    submod_attrs={
        "bci": ["plot_learning_curves", "plot_residuals_by_epoch", "plot_decoding", "plot_event_rate_change",
            "plot_learning_time_vs_n_bci", "plot_signature_by_rule", "RULE_COLORS", "DECODING_TITLE"],
        "dopamine": ["plot_response_curves", "plot_reversal_points", "plot_split_half",
            "plot_asymmetry_vs_reversal", "plot_asymmetry_test", "plot_decoded_distribution",
            "plot_dopamine_summary", "MAX_DRAWN_CELLS"],
        "qagrel": ["plot_learning_curve", "plot_selection_frequency", "plot_alignment",
            "plot_accuracy_by_row", "plot_class_counts"],
        "recovery": ["plot_recovery"],
    },
)
