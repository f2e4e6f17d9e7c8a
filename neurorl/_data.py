"""Where the data embedded with neurorl lives.

The top-level ``data/`` folder of the source tree is shipped in the wheel as the package ``neurorl.data``
(``package-dir`` in ``pyproject.toml``), so the same relative path is found beside the installed package or,
in a source checkout, beside the ``neurorl`` folder.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["embedded_data_path"]


def embedded_data_path(*parts: str) -> Path | None:
    """Path of ``data/<parts...>`` shipped with neurorl, or ``None`` when it is not there.

    Examples
    --------
    >>> embedded_data_path("reference", "pozzi2018_table1.csv").name
    'pozzi2018_table1.csv'
    """
    package = Path(__file__).resolve().parent
    for root in (package / "data", package.parent / "data"):
        candidate = root.joinpath(*parts)
        if candidate.exists():
            return candidate
    return None
