"""Intervals that respect how BailBench's samples are drawn: pure functions over per-unit sums.

A unit is what one context's samples share: a prompt of a BailBench run (its 10 samples), a
conversation of real data. Samples of a unit are not independent (a prompt a model bails on, it
bails on again), so every interval here is design-based: the estimator is linearised (Taylor) and
its variance is the cluster-robust (sandwich) sum over primary sampling units (PSUs), with t
quantiles: the variance of survey statistics (Wolter 2007, ch. 6; Stata's svy, R's survey), of
Miller 2024, "Adding Error Bars to Evals", and of Inspect's stderr(cluster=...).

Which PSU: `groups` labels the clusters units are nested in (subcategories), `strata` fixed sets
of those (categories). Within a stratum of at least two groups the groups are the PSUs: prompts
of one subcategory share more than their category does (the super-population view of Miller
2024: the benchmark's subcategories stand for others like them); a stratum of one group (5 of
BailBench's 14 categories are one subcategory) is that group, fixed, and its units are its PSUs
(a certainty PSU). Without `groups` the units are the PSUs.

Degrees of freedom: Satterthwaite's, from each PSU's binomial working variance, at most PSUs
minus strata (`_df`): a PSU without a bail says nothing of how bails cluster (at 3% bails with
subcategory effects most of a category's subcategories hold none, and t(G - 1) covered 86-92% in
simulation). Where the data cannot show the clustering at all (0 bails; one prompt's bails), the
worst case: each PSU all bails or none (`_worst`).

A BailBench run's summary (as tests/test_intervals.py checks): overall, proportion(k, n,
groups=subcategory, strata=category), one row per prompt; a category, its prompts with
groups=subcategory; a subcategory, its prompts alone; real data, one row per conversation.

Every array argument may carry leading axes of replications (units on the last axis); labels are
per unit and shared. The coverage tests push many simulated runs through these same functions.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats


@dataclass(frozen=True)
class Interval:
    """A rate with its clustered interval (`interval` names it; df its t quantile's degrees of
    freedom) and the paper's Wilson interval (n = all samples) beside it. design_effect: the
    variance the interval used over that of n independent samples; icc: the intra-unit
    correlation of the samples (one-way ANOVA; nan where not defined)."""
    estimate: float
    ci_low: float
    ci_high: float
    wilson_low: float
    wilson_high: float
    interval: str
    df: float
    design_effect: float
    icc: float
    n: float
    clusters: int


@dataclass(frozen=True)
class Difference:
    """Rate a minus rate b on shared units, with a paired interval and two-sided p-value;
    correlation: between the two estimates (linearised, across PSUs)."""
    estimate: float
    ci_low: float
    ci_high: float
    p_value: float
    interval: str
    df: float
    correlation: float
    clusters: int


@dataclass(frozen=True)
class Design:
    """Each unit's PSU, each PSU's stratum (one-hot, PSUs x strata), and PSUs minus strata."""
    psu: np.ndarray
    strata: np.ndarray
    df: int
    label: str

    @property
    def clusters(self) -> int:
        return self.strata.shape[0]

    def totals(self, x: np.ndarray) -> np.ndarray:
        """Per-unit values (last axis) summed per PSU."""
        order = np.argsort(self.psu, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(self.psu[order]) > 0])
        return np.add.reduceat(x[..., order], starts, axis=-1)


def _value(x):
    """A float for one run; the array for replications."""
    x = np.asarray(x, float)
    return float(x) if x.ndim == 0 else x


def _name(df) -> str:
    """The interval's method: the estimate's t degrees of freedom, or the worst case (df inf)."""
    if np.ndim(df):
        return "cluster-robust Wilson (n/deff, t(df)) or worst case"
    return "worst case (ICC 1), Clopper-Pearson" if np.isinf(df) else f"cluster-robust Wilson (n/deff, t({df:.0f}))"


def _codes(labels) -> np.ndarray:
    return np.unique(np.asarray(labels), return_inverse=True)[1].ravel()


def _one_hot(codes: np.ndarray) -> np.ndarray:
    return (codes[:, None] == np.arange(codes.max() + 1)[None, :]).astype(float)


def design(units: int, groups=None, strata=None) -> Design:
    """The PSUs: groups within each stratum of at least two groups, else that stratum's units."""
    s = np.zeros(units, int) if strata is None else _codes(strata)
    g = np.arange(units) if groups is None else _codes(groups)
    pairs = np.unique(np.stack([s, g]), axis=1)
    many = np.bincount(pairs[0], minlength=s.max() + 1)[s] >= 2
    key = np.where(many, g, g.max() + 1 + np.arange(units))
    cells, psu = np.unique(np.stack([s, key]), axis=1, return_inverse=True)
    psu = psu.ravel()
    n_strata = len(np.unique(s))
    by_group = int(len(np.unique(psu[many]))) if groups is not None else 0
    parts = [f"{by_group} group" + "s" * (by_group > 1)] if by_group else []
    if by_group < cells.shape[1]:
        parts.append(f"{cells.shape[1] - by_group} unit" + "s" * (cells.shape[1] - by_group > 1))
    stratum = _collapsed(cells[0])
    n_strata = len(np.unique(stratum))
    label = " + ".join(parts) + (f", {n_strata} strata" if n_strata > 1 else "")
    if n_strata < len(np.unique(cells[0])):
        label += " (strata of one PSU collapsed)"
    return Design(psu, _one_hot(_codes(stratum)), cells.shape[1] - n_strata, label)


def _collapsed(stratum: np.ndarray) -> np.ndarray:
    """Each PSU's stratum, strata that hold a single PSU pooled into one (collapsed strata, Wolter
    2007 §2.5: a conservative variance; one PSU alone shows none, and a stratified run of one
    prompt per category, as the quick run, would otherwise have no interval at all). A lone
    single-PSU stratum joins the largest other stratum."""
    sizes = np.bincount(stratum)
    single = sizes[stratum] == 1
    if single.sum() >= 2:
        return np.where(single, -1, stratum)
    if single.any() and not single.all():
        return np.where(single, np.argmax(np.where(sizes > 1, sizes, 0)), stratum)
    return stratum


def _covariance(ta: np.ndarray, tb: np.ndarray, d: Design) -> np.ndarray:
    """Sandwich covariance of two linearised estimators from their PSU totals t: sum over strata
    of G_h / (G_h - 1) * sum_j (t_aj - mean_h t_a)(t_bj - mean_h t_b)."""
    sizes = d.strata.sum(0)
    weight = d.strata @ (sizes / np.maximum(sizes - 1, 1))

    def centred(t):
        return t - (t @ d.strata / sizes) @ d.strata.T

    return (centred(ta) * centred(tb) * weight).sum(-1)


def _wilson(p, n, q):
    """Wilson score limits (p + q^2/2n -+ q sqrt(p(1-p)/n + q^2/4n^2)) / (1 + q^2/n)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r = q * q / n
        centre = (p + r / 2) / (1 + r)
        half = q * np.sqrt(p * (1 - p) / n + q * q / (4 * n * n)) / (1 + r)
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def _fit(y, w, d: Design):
    """sum(y) / sum(w); the PSU totals of its linearised scores z_u = (y_u - p w_u) / sum(w); their
    sandwich variance; the PSU totals of y and w."""
    ty, tw = d.totals(y), d.totals(w)
    total = tw.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = ty.sum(-1) / total
        t = (ty - p[..., None] * tw) / total[..., None]
    return p, t, _covariance(t, t, d), (ty, tw)


def _df(d: Design, *totals) -> np.ndarray:
    """Satterthwaite's degrees of freedom of V = sum_j c_j^2, (sum_j a_j)^2 / sum_j a_j^2 less one,
    with a_j = n_j q_j (1 - q_j) the binomial working variance of PSU j's total (q_j its own rate;
    summed over the rates of a pair), between 1 and PSUs minus strata. G equal PSUs give G - 1; a
    PSU without a bail (or without a non-bail) adds nothing: it tells nothing of how bails cluster."""
    a = np.zeros(())
    for ty, tw in totals:
        q = np.divide(ty, tw, out=np.zeros_like(ty), where=tw > 0)
        a = a + tw * q * (1 - q)
    with np.errstate(divide="ignore", invalid="ignore"):
        df = a.sum(-1) ** 2 / (a * a).sum(-1) - 1
    return np.clip(np.where(np.isnan(df), d.df, df), 1, d.df)


def _quantile(df, level: float):
    with np.errstate(invalid="ignore"):
        return np.where(df >= 1, stats.t.ppf((1 + level) / 2, np.maximum(df, 1)), np.nan)


def _shows(ty, tw, variance):
    """Whether V shows how samples cluster: only where at least two PSUs hold a bail and two a
    non-bail. At 0 bails, or with the bails of one prompt (one bail in 10 prompts looks
    unclustered), it does not."""
    return ((ty > 0).sum(-1) >= 2) & ((ty < tw).sum(-1) >= 2) & (variance > 0)


def _worst(tw) -> np.ndarray:
    """The worst case's sample size: each PSU all bails or none (ICC 1) makes the rate a binomial
    of Kish's effective number of PSUs, (sum n_j)^2 / sum n_j^2 (G for equal PSUs)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return tw.sum(-1) ** 2 / (tw * tw).sum(-1)


def _clopper_pearson(p, n, level: float):
    """Clopper-Pearson limits of p = x / n (x may be fractional): Beta quantiles, exact for a binomial."""
    x, tail = p * n, (1 - level) / 2
    with np.errstate(invalid="ignore"):
        lo = np.where(x > 0, stats.beta.ppf(tail, x, n - x + 1), 0.0)
        hi = np.where(x < n, stats.beta.ppf(1 - tail, x + 1, n - x), 1.0)
    return lo, hi


def _icc(y, w, squares):
    """One-way ANOVA intra-unit correlation (MSB - MSW) / (MSB + (m0 - 1) MSW), m0 the
    unbalanced mean unit size (N - sum n^2 / N) / (G - 1)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ran = w > 0
        units, total = ran.sum(-1), w.sum(-1)
        between = np.where(ran, y * y / np.where(ran, w, 1), 0).sum(-1)
        msb = (between - y.sum(-1) ** 2 / total) / (units - 1)
        msw = (squares.sum(-1) - between) / (total - units)
        m0 = (total - (w * w).sum(-1) / total) / (units - 1)
        return (msb - msw) / (msb + (m0 - 1) * msw)


def _ratio(y, w, samples, squares, d: Design, level: float) -> Interval:
    """sum(y) / sum(w) with the cluster-robust Wilson interval: Wilson's formula with Kish's
    effective sample size p(1-p)/V (n / deff) and the t(df) quantile in place of z (Korn &
    Graubard 1998's df-adjusted effective n, applied to Wilson), V the linearised sandwich
    variance of the ratio. Where V does not show the clustering, or where that interval is the
    wider, the worst case's: each PSU all bails or none, a binomial of Kish's effective number of
    PSUs, with Clopper-Pearson's exact limits (Wilson's undercover at 1 or 2 of n: Brown, Cai &
    DasGupta 2001), so that 0 of 16,300 samples is not a Wilson-tight 0-0.0002. It stays inside
    [0, 1] and is asymmetric near its ends."""
    y, w, samples = (np.asarray(a, float) for a in (y, w, samples))
    p, _, variance, (ty, tw) = _fit(y, w, d)
    df, worst = _df(d, (ty, tw)), _worst(tw)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = p * (1 - p) / variance
    lo, hi = _wilson(p, n_eff, _quantile(df, level))
    worst_lo, worst_hi = _clopper_pearson(p, worst, level)
    capped = ~_shows(ty, tw, variance) | ~(hi - lo <= worst_hi - worst_lo)
    lo, hi = np.where(capped, worst_lo, lo), np.where(capped, worst_hi, hi)
    lo, hi = np.where(np.isnan(p), np.nan, lo), np.where(np.isnan(p), np.nan, hi)  # no samples
    n_eff, df, n = np.where(capped, worst, n_eff), np.where(capped, np.inf, df), samples.sum(-1)
    z = stats.norm.ppf((1 + level) / 2)
    wlo, whi = _wilson(p, n, z)
    icc = np.full(np.shape(p), np.nan) if squares is None else _icc(y, w, np.asarray(squares, float))
    with np.errstate(divide="ignore", invalid="ignore"):
        deff = n / n_eff
    estimate, ci_low, ci_high, wilson_low, wilson_high = map(_value, (p, lo, hi, wlo, whi))
    return Interval(estimate, ci_low, ci_high, wilson_low, wilson_high, f"{_name(df)}, {d.label}",
                    _value(df), _value(deff), _value(icc), _value(n), d.clusters)


def proportion(k, n, *, groups=None, strata=None, level: float = 0.95) -> Interval:
    """Bails k of samples n per unit: sum(k) / sum(n) with its clustered interval."""
    k = np.asarray(k, float)
    return _ratio(k, n, n, k, design(k.shape[-1], groups, strata), level)


def mean(total, n, *, squares=None, groups=None, strata=None, level: float = 0.95) -> Interval:
    """The mean of a per-sample value in [0, 1] (P(bail), P(refusal)): per unit its sum `total`
    over n samples (and, for the icc, the sum of its squares), interval as `proportion`."""
    total = np.asarray(total, float)
    return _ratio(total, n, n, squares, design(total.shape[-1], groups, strata), level)


def cluster_mean(values, n, *, groups=None, strata=None, level: float = 0.95) -> Interval:
    """The mean over units of a per-unit value in [0, 1] (the paper's no-refusal bail of tool and
    string: per prompt (1 - mean P(refusal)) x bail share), each unit weighing one; n: the
    samples per unit, for the paper's Wilson (n = all samples) and the design effect."""
    values = np.asarray(values, float)
    return _ratio(values, np.ones_like(values), n, None, design(values.shape[-1], groups, strata), level)


def _limits(p, v, seen, worst, q):
    """The limits MOVER takes from a rate: p -+ q sqrt(V) where V shows the clustering, else its
    worst-case Wilson limits."""
    lo, hi = _wilson(p, worst, q)
    half = q * np.sqrt(np.where(seen, v, 0))
    return p, np.where(seen, p - half, lo), np.where(seen, p + half, hi)


def _mover(a, b, r):
    """MOVER limits of pa - pb (Zou & Donner 2008) from each rate's (p, l, u) and their correlation r."""
    (pa, la, ua), (pb, lb, ub) = a, b
    lo = np.sqrt(np.maximum((pa - la) ** 2 - 2 * r * (pa - la) * (ub - pb) + (ub - pb) ** 2, 0))
    hi = np.sqrt(np.maximum((ua - pa) ** 2 - 2 * r * (ua - pa) * (pb - lb) + (pb - lb) ** 2, 0))
    return pa - pb - lo, pa - pb + hi


def paired_difference(ka, na, kb, nb, *, groups=None, strata=None, level: float = 0.95) -> Difference:
    """sum(ka)/sum(na) - sum(kb)/sum(nb) on the same units (two methods, the two bail-prompt orders
    of one rollout, an ablation and the Baseline, two runs on the same prompts): the paired
    cluster-robust interval d -+ t(df) sqrt(Va + Vb - 2 Cab), the sandwich (co)variances of the
    two linearised ratios over shared PSUs. Written as MOVER (Zou & Donner 2008),
    d - sqrt(xa^2 - 2 r xa yb + yb^2), d + sqrt(ya^2 - 2 r ya xb + xb^2), with x = p - l, y = u - p
    each rate's distances to its limits and r = Cab / sqrt(Va Vb), so that a rate whose V does not
    show the clustering (0 bails) brings its worst-case Wilson limits instead of a zero width.
    (Each rate's own asymmetric Wilson limits would shift the interval of two correlated rates:
    94.5% coverage in simulation.) p-value: the interval inverted, 1 - the level at which it reaches 0: the t
    test of d / sqrt(Va + Vb - 2 Cab) where both V show the clustering, and p < 0.05 exactly where
    the 95% interval leaves out 0."""
    ka, na, kb, nb = (np.asarray(a, float) for a in (ka, na, kb, nb))
    d = design(ka.shape[-1], groups, strata)
    (pa, za, va, ta), (pb, zb, vb, tb) = _fit(ka, na, d), _fit(kb, nb, d)
    sa, sb = _shows(ta[0], ta[1], va), _shows(tb[0], tb[1], vb)
    df = _df(d, ta, tb)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.where(sa & sb, _covariance(za, zb, d) / np.sqrt(va * vb), 0.0)

    def limits(q):
        return _mover(_limits(pa, va, sa, _worst(ta[1]), q), _limits(pb, vb, sb, _worst(tb[1]), q), r)

    diff = pa - pb
    lo, hi = limits(_quantile(df, level))
    q_lo, q_hi = np.zeros(np.shape(diff)), np.full(np.shape(diff), 1e3)
    for _ in range(50):  # bisect the quantile at which the near end of the interval meets 0
        q = (q_lo + q_hi) / 2
        low, high = limits(q)
        excludes = np.where(diff > 0, low > 0, high < 0)
        q_lo, q_hi = np.where(excludes, q, q_lo), np.where(excludes, q_hi, q)
    p_value = np.where(diff == 0, 1.0, 2 * stats.t.sf(q_lo, df))
    name = f"paired cluster-robust t({df:.0f}) (MOVER form)" if np.ndim(df) == 0 else "paired cluster-robust t(df)"
    estimate, ci_low, ci_high, p = map(_value, (diff, lo, hi, p_value))
    return Difference(estimate, ci_low, ci_high, p, f"{name}, {d.label}", _value(df), _value(r), d.clusters)


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment (family-wise error at most alpha, any dependence):
    the i-th smallest of m p-values times m - i + 1, made monotone, capped at 1."""
    p = np.asarray(p_values, float)
    order = np.argsort(p)
    steps = np.maximum.accumulate(p[order] * (len(p) - np.arange(len(p))))
    out = np.empty_like(p)
    out[order] = np.minimum(steps, 1.0)
    return out


@dataclass(frozen=True)
class Agreement:
    """Two methods of one model on the same units: Spearman's rho of their per-unit rates and
    Cohen's kappa of the units each bailed on (a majority of its samples bailed: rate > 0.5),
    each with a percentile cluster-bootstrap interval (`interval` names it)."""
    spearman: float
    spearman_low: float
    spearman_high: float
    kappa: float
    kappa_low: float
    kappa_high: float
    bailed_a: int
    bailed_b: int
    bailed_both: int
    units: int
    interval: str


def _resample(d: Design, resamples: int, seed: int) -> np.ndarray:
    """Unit weights of a cluster bootstrap (resamples x units): PSUs drawn with replacement
    within each stratum, as many as it has, a unit weighing as often as its PSU was drawn."""
    rng = np.random.default_rng(seed)
    counts = np.zeros((resamples, d.clusters))
    for h in d.strata.T.astype(bool):
        counts[:, h] = rng.multinomial(h.sum(), np.full(h.sum(), 1 / h.sum()), size=resamples)
    return counts[:, d.psu]


def _weighted_spearman(x, y, w):
    """Spearman's rho with unit weights (rows of w): Pearson's r of weighted midranks."""
    def ranks(v):
        values, inverse = np.unique(v, return_inverse=True)
        tied = w @ (inverse[:, None] == np.arange(len(values))).astype(float)
        return (np.cumsum(tied, -1) - (tied - 1) / 2)[:, inverse]

    rx, ry, total = ranks(x), ranks(y), w.sum(-1, keepdims=True)
    cx, cy = rx - (w * rx).sum(-1, keepdims=True) / total, ry - (w * ry).sum(-1, keepdims=True) / total
    with np.errstate(divide="ignore", invalid="ignore"):
        return (w * cx * cy).sum(-1) / np.sqrt((w * cx * cx).sum(-1) * (w * cy * cy).sum(-1))


def _weighted_kappa(a, b, w):
    """Cohen's kappa (po - pe) / (1 - pe) of two binary ratings with unit weights."""
    total = w.sum(-1)
    po, pa, pb = (w @ (a == b)) / total, (w @ a) / total, (w @ b) / total
    pe = pa * pb + (1 - pa) * (1 - pb)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (po - pe) / (1 - pe)


def agreement(ka, na, kb, nb, *, groups=None, strata=None, level: float = 0.95, resamples: int = 2000,
              seed: int = 0) -> Agreement:
    """How two methods agree on which units they bail on; units where either ran no sample are
    left out. The intervals resample PSUs (the same design as the rates), seeded."""
    ka, na, kb, nb = (np.asarray(v, float) for v in (ka, na, kb, nb))
    ran = (na > 0) & (nb > 0)
    x, y = ka[ran] / na[ran], kb[ran] / nb[ran]
    a, b = (x > 0.5).astype(float), (y > 0.5).astype(float)
    d = design(int(ran.sum()), None if groups is None else np.asarray(groups)[ran],
               None if strata is None else np.asarray(strata)[ran])
    w = _resample(d, resamples, seed)
    tail = [(1 - level) / 2 * 100, (1 + level) / 2 * 100]
    with warnings.catch_warnings():  # a method constant over the units: the correlation is undefined (nan)
        warnings.simplefilter("ignore", RuntimeWarning)
        rho_lo, rho_hi = np.nanpercentile(_weighted_spearman(x, y, w), tail)
        kappa_lo, kappa_hi = np.nanpercentile(_weighted_kappa(a, b, w), tail)
    one = np.ones((1, len(x)))
    constant = len(x) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0
    rho = math.nan if constant else float(stats.spearmanr(x, y).statistic)
    return Agreement(rho, float(rho_lo), float(rho_hi),
                     float(_weighted_kappa(a, b, one)[0]), float(kappa_lo), float(kappa_hi), int(a.sum()), int(b.sum()),
                     int((a * b).sum()), len(x),
                     f"percentile cluster bootstrap, {resamples} resamples (seed {seed}), {d.label}")


@dataclass(frozen=True)
class Table:
    """Refusal x bail of one method's samples (summed over units), P(bail | refused) and
    P(bail | complied) with their clustered intervals, and their paired difference."""
    refused_bailed: float
    refused: float
    complied_bailed: float
    complied: float
    bail_given_refused: Interval
    bail_given_complied: Interval
    difference: Difference


def two_by_two(refused_bailed, refused, complied_bailed, complied, *, groups=None, strata=None,
               level: float = 0.95) -> Table:
    """Per unit: its refused samples and how many of them bailed, its complied samples and how
    many of those bailed. Each conditional rate is a ratio over all units (a domain estimate:
    units with no refused sample stay in the design, as zeros), so the two share PSUs and
    their difference is paired."""
    arrays = [np.asarray(v, float) for v in (refused_bailed, refused, complied_bailed, complied)]
    kw = {"groups": groups, "strata": strata, "level": level}
    rb, r, cb, c = (float(v.sum()) for v in arrays)
    return Table(rb, r, cb, c, proportion(arrays[0], arrays[1], **kw),
                 proportion(arrays[2], arrays[3], **kw), paired_difference(*arrays, **kw))


def _per_prompt_variance(p: float, icc: float, samples: int) -> float:
    """Variance of one prompt's bail share: p(1-p)(1 + (m-1) ICC) / m (Kish's design effect)."""
    return p * (1 - p) * (1 + (samples - 1) * icc) / samples


def _paired_variance(p: float, difference: float, icc: float, samples: int, correlation: float) -> float:
    va, vb = _per_prompt_variance(p, icc, samples), _per_prompt_variance(p + difference, icc, samples)
    return va + vb - 2 * correlation * np.sqrt(va * vb)


def plan_power(p: float, difference: float, *, icc: float, samples: int, power: float = 0.8, alpha: float = 0.05,
               correlation: float = 0.0) -> int:
    """Prompts needed to tell a rate p from p + difference (two-sided level alpha, the given
    power): G = (z_{1-alpha/2} + z_power)^2 (Va + Vb - 2 rho sqrt(Va Vb)) / difference^2, with
    V = p(1-p)(1 + (m-1) ICC) / m per prompt of m samples (Kish's design effect; ICC: a pilot's
    Interval.icc). correlation: of the two rates' per-prompt shares on the same prompts (paired:
    a pilot's Difference.correlation with the prompts as PSUs, no groups); 0 for two independent
    sets of G prompts each (unpaired). Prompt-level clustering only: subcategory effects, which the
    summary's intervals take in, need more prompts."""
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    return int(np.ceil(z * z * _paired_variance(p, difference, icc, samples, correlation) / difference ** 2))


def detectable_difference(p: float, *, icc: float, prompts: int, samples: int, power: float = 0.8,
                          alpha: float = 0.05, correlation: float = 0.0) -> float:
    """The least rise d above p that `prompts` x `samples` detects with the given power: the root of
    d = (z_{1-alpha/2} + z_power) sqrt((Va + Vb - 2 rho sqrt(Va Vb)) / G) (as plan_power)."""
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)

    def gap(d: float) -> float:
        return d - z * np.sqrt(_paired_variance(p, d, icc, samples, correlation) / prompts)

    return float(optimize.brentq(gap, 1e-12, 1 - p)) if gap(1 - p) > 0 else np.nan
