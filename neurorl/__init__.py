"""neurorl: models of reward learning in the brain and the analyses that test them on recordings.

Three parts share one package:

* distributional TD and dopamine (Dabney et al., Nature 2020);
* Q-AGREL, reward-based deep learning (Pozzi, Bohte & Roelfsema);
* BCI vectorized feedback (Francioni et al., Nature 2026).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
