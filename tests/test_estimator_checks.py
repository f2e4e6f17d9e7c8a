"""Every estimator neurorl offers follows scikit-learn's contract (``parametrize_with_checks``)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from neurorl.analysis.reversal import ReversalPointEstimator
from neurorl.errors import InvalidArgumentError

# Checks an estimator cannot pass, each with the reason (scikit-learn marks them xfail). None today.
EXPECTED_FAILED_CHECKS: dict[str, dict[str, str]] = {
    "ReversalPointEstimator": {},
}


def _expected_failed_checks(estimator) -> dict[str, str]:
    return EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {})


@parametrize_with_checks([ReversalPointEstimator(n_bootstrap=0), ReversalPointEstimator(method="model",
                                                                                         n_bootstrap=5)],
                         expected_failed_checks=_expected_failed_checks)
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_clone_keeps_parameters_and_drops_fit():
    rng = np.random.default_rng(1)
    volume = np.repeat([0.5, 1.0, 2.0, 4.0, 8.0], 30)
    X = (volume[:, None] - np.array([1.5, 3.0])) + rng.normal(0, 0.3, (volume.size, 2))
    est = ReversalPointEstimator(method="model", n_bootstrap=0, seed=3).fit(X, volume)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert not hasattr(copy, "reversal_point_")
    np.testing.assert_allclose(copy.fit(X, volume).reversal_point_, est.reversal_point_)
    # recovers the reversal points it was given (noise sd 0.3 spikes/s, 30 trials per size)
    np.testing.assert_allclose(est.reversal_point_, [1.5, 3.0], atol=0.2)


def test_parameters_are_validated_in_fit_not_init():
    est = ReversalPointEstimator(method="spline")          # stored as given
    assert est.get_params()["method"] == "spline"
    with pytest.raises(InvalidArgumentError):
        est.fit(np.ones((10, 2)), np.arange(10.0))
    with pytest.raises(ValueError):
        ReversalPointEstimator().set_params(bandwidth=1.0)
