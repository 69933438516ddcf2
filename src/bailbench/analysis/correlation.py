"""Is refusal rate related to bail rate across models? Pearson r, Kendall tau-b and distance
correlation, each with a seeded permutation p-value (pure numpy); Pearson's t-test p-value
beside it, as the authors report it."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


def pearson(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    xd, yd = x - x.mean(), y - y.mean()
    denom = math.sqrt(float((xd * xd).sum() * (yd * yd).sum()))
    return float((xd * yd).sum() / denom) if denom > 0 else math.nan


def kendall_tau_b(x, y) -> float:
    """Kendall's tau-b (ties corrected), as scipy.stats.kendalltau's default."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    i, j = np.triu_indices(len(x), k=1)
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    concordant_minus_discordant = float((dx * dy).sum())
    n_x, n_y = float((dx != 0).sum()), float((dy != 0).sum())
    return concordant_minus_discordant / math.sqrt(n_x * n_y) if n_x and n_y else math.nan


def _centred_distances(v: np.ndarray) -> np.ndarray:
    d = np.abs(v[:, None] - v[None, :])
    return d - d.mean(0)[None, :] - d.mean(1)[:, None] + d.mean()


def distance_correlation(x, y) -> float:
    """Székely's (biased, V-statistic) distance correlation, as dcor.distance_correlation."""
    a, b = _centred_distances(np.asarray(x, float)), _centred_distances(np.asarray(y, float))
    dcov2, dvar_x, dvar_y = (a * b).mean(), (a * a).mean(), (b * b).mean()
    if dvar_x <= 0 or dvar_y <= 0:
        return math.nan
    return math.sqrt(max(dcov2, 0.0) / math.sqrt(dvar_x * dvar_y))


@dataclass(frozen=True)
class Association:
    statistic: float
    p_value: float


def permutation_test(stat, x, y, *, permutations: int = 10_000, seed: int = 0, two_sided: bool = True) -> Association:
    """p = (1 + #{permuted >= observed}) / (1 + permutations), permuting y (seeded)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    observed = stat(x, y)
    if len(x) < 3 or math.isnan(observed):
        return Association(observed, math.nan)
    rng = np.random.default_rng(seed)
    mag = (lambda s: abs(s)) if two_sided else (lambda s: s)
    target = mag(observed) - 1e-12
    hits = sum(mag(stat(x, rng.permutation(y))) >= target for _ in range(permutations))
    return Association(observed, (1 + hits) / (1 + permutations))


def refusal_bail_association(refusal, bail, *, permutations: int = 10_000, seed: int = 0) -> dict:
    """The three statistics the paper uses, each with its permutation p-value."""
    out = {}
    for name, stat, two_sided in (("pearson_r", pearson, True), ("kendall_tau", kendall_tau_b, True),
                                  ("distance_correlation", distance_correlation, False)):
        a = permutation_test(stat, refusal, bail, permutations=permutations, seed=seed, two_sided=two_sided)
        out[name] = {"statistic": a.statistic, "p_value": a.p_value}
    out["pearson_r"]["p_value_parametric"] = pearson_t_p_value(refusal, bail)
    return out


def pearson_t_p_value(x, y) -> float:
    """The two-sided t-test p-value of Pearson's r (n - 2 degrees of freedom), the one the
    authors' generatePlots.py reports (`scipy.stats.pearsonr(X, Y).pvalue`)."""
    n = len(x)
    r = pearson(x, y)
    if n < 3 or math.isnan(r):
        return math.nan
    if abs(r) >= 1:
        return 0.0
    from scipy import stats  # noqa: PLC0415  (scipy is a dependency; imported where it is needed)

    t = r * math.sqrt((n - 2) / (1 - r * r))
    return float(2 * stats.t.sf(abs(t), n - 2))
