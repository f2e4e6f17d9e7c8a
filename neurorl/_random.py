"""The project's one way of turning a ``seed`` argument into a random generator."""

from __future__ import annotations

import numpy as np

SeedLike = int | np.random.Generator | np.random.SeedSequence | None


def as_generator(seed: SeedLike) -> np.random.Generator:
    """Return ``seed`` itself when it is a :class:`numpy.random.Generator`, else a new one seeded by it.

    A Generator passed in is shared, not copied, so a caller that hands the same Generator to several
    steps draws one stream; an int (or ``None`` for fresh entropy) starts a new one.

    Examples
    --------
    >>> rng = as_generator(0)
    >>> as_generator(rng) is rng
    True
    >>> float(as_generator(0).random()) == float(as_generator(0).random())
    True
    """
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
