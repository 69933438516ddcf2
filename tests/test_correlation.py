import math

import numpy as np
import pytest

from bailbench.analysis.correlation import (
    distance_correlation,
    kendall_tau_b,
    pearson,
    permutation_test,
    refusal_bail_association,
)

X = [0.12, 0.40, 0.33, 0.05, 0.71, 0.40, 0.22, 0.58]
Y = [0.02, 0.09, 0.04, 0.01, 0.03, 0.12, 0.02, 0.10]


@pytest.mark.slow
def test_against_scipy_and_dcor():
    scipy_stats = pytest.importorskip("scipy.stats")
    dcor = pytest.importorskip("dcor")
    assert pearson(X, Y) == pytest.approx(scipy_stats.pearsonr(X, Y).statistic, abs=1e-12)
    assert kendall_tau_b(X, Y) == pytest.approx(scipy_stats.kendalltau(X, Y).statistic, abs=1e-12)
    assert distance_correlation(X, Y) == pytest.approx(dcor.distance_correlation(np.array(X), np.array(Y)), abs=1e-12)


def test_exact_values():
    assert pearson([1, 2, 3], [2, 4, 7]) == pytest.approx(0.9933992677987828, abs=1e-12)
    assert kendall_tau_b([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(2 / 3, abs=1e-12)
    assert kendall_tau_b([1, 1, 2, 3], [1, 2, 2, 3]) == pytest.approx(0.8, abs=1e-12)  # ties in both
    assert distance_correlation([1, 2, 3, 4], [2, 4, 6, 8]) == pytest.approx(1.0, abs=1e-12)
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3]))


def test_permutation_p_values_are_seeded_and_exact():
    a = permutation_test(pearson, X, Y, permutations=2000, seed=7)
    b = permutation_test(pearson, X, Y, permutations=2000, seed=7)
    assert a == b
    # with all 8! = 40320 orderings equally likely, the p-value estimates the exact one
    from itertools import permutations
    exact = sum(abs(pearson(X, p)) >= abs(a.statistic) - 1e-12 for p in permutations(Y)) / 40320
    assert a.p_value == pytest.approx(exact, abs=0.03)
    perfect = permutation_test(pearson, [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6], permutations=999, seed=0)
    assert perfect.p_value == pytest.approx((1 + 2 * 999 / 720) / 1000, abs=0.01)  # only 2 of 720 orders as extreme
    assert math.isnan(permutation_test(pearson, [1, 2], [1, 2]).p_value)


def test_association_block():
    out = refusal_bail_association(X, Y, permutations=500, seed=1)
    assert set(out) == {"pearson_r", "kendall_tau", "distance_correlation"}
    assert all(0 < v["p_value"] <= 1 for v in out.values())
    assert out == refusal_bail_association(X, Y, permutations=500, seed=1)
