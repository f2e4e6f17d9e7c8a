"""neurorl: models of reward learning in the brain and the analyses that test them on recordings.

Three parts share one package:

* distributional TD and dopamine (Dabney et al., Nature 2020);
* Q-AGREL, reward-based deep learning (Pozzi, Bohte & Roelfsema);
* BCI vectorized feedback (Francioni et al., Nature 2026).
"""

from importlib.metadata import PackageNotFoundError, version

try:  # the version is written once, in pyproject.toml; an installed package carries it in its metadata
    __version__ = version("neurorl")
except PackageNotFoundError:  # a source tree on sys.path that was never installed
    __version__ = "0+unknown"

del PackageNotFoundError, version

__all__ = ["__version__"]
