"""Linear probes from activations to a run's bail readings, cross-validated by subcategory.

Folds are grouped by subcategory (GroupKFold): no prompt of a test fold's subcategory is
seen in training, so a probe cannot score by recognising a topic it was fitted on. P(bail)
is fitted by ridge regression (out-of-fold R²), verdicts by logistic regression (out-of-fold
AUROC), each on standardised features. Intervals resample subcategories with replacement
(a cluster bootstrap of the out-of-fold predictions), as the rates' intervals cluster by
context. A probe finds a signal when its interval clears chance (AUROC above 0.5, R² above 0);
with no signal, out-of-fold scores sit a little below chance (cross-validation on noise is
pessimistic), never above. Directions are mean differences, the bail direction and the refusal direction
(Arditi et al. 2024 found refusal mediated by one such direction).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BOOTSTRAP = 200
FOLDS = 5


@dataclass(frozen=True)
class Fit:
    """One probe's out-of-fold score with its 95% cluster-bootstrap interval."""

    metric: str  # auroc | r2
    value: float
    low: float
    high: float
    n: int
    groups: int


def auroc(y: np.ndarray, score: np.ndarray) -> float:
    """Mann-Whitney AUROC (ties count half); nan when one class is absent."""
    from scipy.stats import rankdata

    pos = y.astype(bool)
    n1, n0 = int(pos.sum()), int((~pos).sum())
    if not n1 or not n0:
        return float("nan")
    ranks = rankdata(score)
    return float((ranks[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    ss = float(((y - y.mean()) ** 2).sum())
    return float("nan") if ss == 0 else 1 - float(((y - pred) ** 2).sum()) / ss


def _out_of_fold(x: np.ndarray, y: np.ndarray, groups: np.ndarray, classify: bool) -> np.ndarray:
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pred = np.zeros(len(y))
    folds = GroupKFold(n_splits=min(FOLDS, len(set(groups))))
    for train, test in folds.split(x, y, groups):
        if classify:
            if len(set(y[train])) < 2:  # a fold with one class in training predicts its share
                pred[test] = y[train].mean()
                continue
            model = make_pipeline(StandardScaler(), LogisticRegression(C=0.05, max_iter=2000))
            model.fit(x[train], y[train])
            pred[test] = model.decision_function(x[test])
        else:
            model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-1, 5, 13)))
            model.fit(x[train], y[train])
            pred[test] = model.predict(x[test])
    return pred


def probe(x: np.ndarray, y: np.ndarray, groups: np.ndarray, *, classify: bool, seed: int = 0) -> Fit | None:
    """Out-of-fold AUROC (classify: y in {0, 1}) or R² (y real) of a linear probe, with a
    subcategory-bootstrap interval; None when there are fewer than 2 groups or y is constant."""
    groups = np.asarray(groups)
    names = np.unique(groups)
    if len(names) < 2 or len(np.unique(y)) < 2:
        return None
    pred = _out_of_fold(x, y, groups, classify)
    metric = auroc if classify else r2
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(groups == g) for g in names]
    draws = []
    for _ in range(BOOTSTRAP):
        rows = np.concatenate([members[i] for i in rng.integers(0, len(names), len(names))])
        draws.append(metric(y[rows], pred[rows]))
    low, high = np.nanpercentile(draws, [2.5, 97.5]) if np.isfinite(draws).any() else (np.nan, np.nan)
    return Fit("auroc" if classify else "r2", metric(y, pred), float(low), float(high), len(y), len(names))


def mean_difference(x: np.ndarray, positive: np.ndarray) -> np.ndarray | None:
    """mean(x | positive) - mean(x | not positive); None unless each side has 2 rows."""
    positive = positive.astype(bool)
    if positive.sum() < 2 or (~positive).sum() < 2:
        return None
    return (x[positive].mean(0) - x[~positive].mean(0)).astype(np.float32)
