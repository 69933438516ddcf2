import math

import pytest

from bailbench.analysis.stats import wilson


@pytest.mark.parametrize("k,n,lo,hi", [
    # reference values from scipy.stats.binomtest(k, n).proportion_ci(0.95, method="wilson")
    (0, 10, 0.0, 0.27753279986288926),
    (5, 10, 0.236593090512564, 0.7634069094874361),
    (10, 10, 0.7224672001371109, 1.0),
    (1, 100, 0.001767432064140647, 0.054486196178705315),
    (37, 163, 0.1694080907080484, 0.2971513566314224),
    (3, 28, 0.037118366829300004, 0.27195851548672156),
])
def test_wilson_known_values(k, n, lo, hi):
    got = wilson(k, n)
    assert got[0] == pytest.approx(lo, abs=1e-12)
    assert got[1] == pytest.approx(hi, abs=1e-12)


def test_wilson_empty():
    assert all(math.isnan(x) for x in wilson(0, 0))
