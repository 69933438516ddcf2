"""analysis/intervals.py: exact values on small cases, and coverage by seeded simulation.

The simulation is BailBench's design: 14 categories of its real subcategory counts, 10 prompts a
subcategory, 10 samples a prompt. Each category has a fixed rate; a subcategory's rate is a Beta
draw around it (correlation `sub_icc` between samples of different prompts of one subcategory;
a category of one subcategory is that subcategory, fixed), a prompt's a Beta draw around its
subcategory's (correlation `icc` between samples of one prompt), and samples Bernoulli. The true
rate of a category is its fixed rate; the overall, their mean weighted by prompts. Many runs are
drawn at once and pass through the functions a run's summary uses (units on the last axis).
benchmarks/interval_coverage.py runs the large version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
from scipy import stats

from bailbench.analysis import intervals as iv
from bailbench.analysis.stats import wilson

SUBCATEGORIES = (1, 1, 1, 1, 7, 1, 5, 23, 30, 13, 28, 23, 22, 7)  # per category, in bailBench.csv's order
SEED = 20  # the number, fixed before any run; never tuned


@dataclass(frozen=True)
class Bench:
    """A benchmark's shape: subcategories per category, prompts per subcategory, samples per prompt."""
    subcategories: tuple[int, ...] = SUBCATEGORIES
    prompts: int = 10
    samples: int = 10

    @property
    def category_of_subcategory(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.subcategories)), self.subcategories)

    @property
    def category(self) -> np.ndarray:
        return np.repeat(self.category_of_subcategory, self.prompts)

    @property
    def subcategory(self) -> np.ndarray:
        return np.repeat(np.arange(sum(self.subcategories)), self.prompts)

    def rates(self, low: float = 0.05, high: float = 0.35) -> np.ndarray:
        """A fixed rate per category, spread evenly from low to high."""
        return np.linspace(low, high, len(self.subcategories))

    def overall(self, rates: np.ndarray) -> float:
        weights = np.asarray(self.subcategories, float)
        return float((rates * weights).sum() / weights.sum())


def beta(rng: np.random.Generator, mean: np.ndarray, icc: float) -> np.ndarray:
    """Draws with the given mean whose Bernoulli samples correlate `icc`: Beta(mean c, (1-mean) c),
    c = 1/icc - 1 (variance icc mean (1-mean)); the mean itself at icc 0."""
    if icc == 0:
        return mean.copy()
    c = 1 / icc - 1
    return rng.beta(mean * c, (1 - mean) * c)


def prompt_rates(rng: np.random.Generator, bench: Bench, reps: int, rates: np.ndarray, icc: float,
                 sub_icc: float) -> np.ndarray:
    """Each prompt's true bail probability, reps x prompts."""
    mean = np.broadcast_to(rates[bench.category_of_subcategory], (reps, sum(bench.subcategories)))
    single = (np.asarray(bench.subcategories) == 1)[bench.category_of_subcategory]
    sub = np.where(single, mean, beta(rng, mean, sub_icc))
    return beta(rng, np.repeat(sub, bench.prompts, axis=-1), icc)


def draw(rng, bench: Bench, reps: int, rates, icc: float, sub_icc: float) -> np.ndarray:
    """Bails per prompt, reps x prompts."""
    return rng.binomial(bench.samples, prompt_rates(rng, bench, reps, rates, icc, sub_icc))


def draw_pair(rng, bench: Bench, reps: int, rates, icc: float, sub_icc: float, *, mix: float = 0.7,
              shrink: float = 0.8, shared: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Two methods on the same prompts: b's prompt probability is mix x a's + (1 - mix) x an
    independent prompt's at shrink x the rates, so b's true rates are (mix + shrink (1 - mix)) x a's;
    and a sample of b is decided by a's sample's uniform draw with probability `shared` (one
    rollout behind both, as the two bail-prompt orders). Bails per prompt of a and of b."""
    pa = prompt_rates(rng, bench, reps, rates, icc, sub_icc)
    pb = mix * pa + (1 - mix) * prompt_rates(rng, bench, reps, shrink * rates, icc, sub_icc)
    both = shared * np.minimum(pa, pb) + (1 - shared) * pa * pb
    m = bench.samples
    n11 = rng.binomial(m, both)
    n10 = rng.binomial(m - n11, share(pa - both, 1 - both))
    n01 = rng.binomial(m - n11 - n10, share(pb - both, 1 - pa))
    return n11 + n10, n11 + n01


def share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    """part / whole as a probability, 0 where whole is 0."""
    return np.clip(np.divide(part, whole, out=np.zeros_like(part), where=whole > 0), 0, 1)


def covers(interval, truth) -> float:
    return float(np.mean((interval.ci_low <= truth) & (truth <= interval.ci_high)))


def wilson_covers(interval, truth) -> float:
    return float(np.mean((interval.wilson_low <= truth) & (truth <= interval.wilson_high)))


def summary_interval(bench: Bench, k: np.ndarray) -> iv.Interval:
    """The overall rate as a BailBench run's summary computes it."""
    return iv.proportion(k, np.full_like(k, bench.samples), groups=bench.subcategory, strata=bench.category)


def category_intervals(bench: Bench, k: np.ndarray) -> list[iv.Interval]:
    n = np.full_like(k, bench.samples)
    return [iv.proportion(k[..., bench.category == c], n[..., bench.category == c],
                          groups=bench.subcategory[bench.category == c]) for c in range(len(bench.subcategories))]


# --- exact values ------------------------------------------------------------------------------

def satterthwaite(k, n, cap: int) -> float:
    """(sum a)^2 / sum a^2 - 1 with a = n q (1 - q) per PSU, at most `cap` (PSUs minus strata)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    a = n * (k / n) * (1 - k / n)
    return min(cap, a.sum() ** 2 / (a * a).sum() - 1)


def exact(k: int, n: int) -> tuple[float, float]:
    ci = stats.binomtest(k, n).proportion_ci(0.95, method="exact")
    return ci.low, ci.high


def beta_limits(x: float, n: float) -> tuple[float, float]:
    """Clopper-Pearson's limits written as Beta quantiles, which take a fractional count x."""
    return stats.beta.ppf(0.025, x, n - x + 1), stats.beta.ppf(0.975, x + 1, n - x)


def hand_wilson(p: float, n: float, q: float) -> tuple[float, float]:
    centre = (p + q * q / (2 * n)) / (1 + q * q / n)
    half = q * math.sqrt(p * (1 - p) / n + q * q / (4 * n * n)) / (1 + q * q / n)
    return centre - half, centre + half


def test_proportion_by_hand():
    # p = 24/48; z_u = (k - p n) / 48 = (-1, 1, -2, 2) x 3 / 48; V = 12/11 x 30/48^2; n_eff = p(1-p) / V;
    # Satterthwaite: a = 4 q (1 - q) = (0.75, 0.75, 0, 0) x 3, so (6 a)^2 / (6 a^2) - 1 = 5
    r = iv.proportion(np.array([1, 3, 0, 4] * 3), np.full(12, 4))
    v = 12 / 11 * 30 / 48 ** 2
    assert r.estimate == 0.5
    assert r.design_effect == pytest.approx(v / (0.25 / 48))
    assert r.df == pytest.approx(5)
    lo, hi = hand_wilson(0.5, 0.25 / v, stats.t.ppf(0.975, 5))
    assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi), abs=1e-12)
    assert (r.wilson_low, r.wilson_high) == pytest.approx(wilson(24, 48), abs=1e-12)
    # one-way ANOVA: MSB = 4 x 3 x 0.625 / 11, MSW = 3 x (0.75 + 0.75) / 36, m0 = 4
    msb, msw = 7.5 / 11, 4.5 / 36
    assert r.icc == pytest.approx((msb - msw) / (msb + 3 * msw))
    assert (r.n, r.clusters) == (48, 12)
    assert r.interval == "cluster-robust Wilson (n/deff, t(5)), 12 units"


def test_wilson_beside_is_the_papers():
    rng = np.random.default_rng(1)
    k = rng.integers(0, 11, 163)
    r = iv.proportion(k, np.full(163, 10))
    assert (r.wilson_low, r.wilson_high) == pytest.approx(wilson(int(k.sum()), 1630), abs=1e-12)


def test_equal_groups_are_the_t_interval_of_group_means():
    # balanced groups: the sandwich variance of the ratio is s^2 / G of the groups' rates
    rng = np.random.default_rng(2)
    k, groups = rng.integers(0, 11, 60), np.repeat(np.arange(6), 10)
    r = iv.proportion(k, np.full(60, 10), groups=groups)
    means = k.reshape(6, 10).mean(1) / 10
    p, df = means.mean(), satterthwaite(k.reshape(6, 10).sum(1), np.full(6, 100), 5)
    lo, hi = hand_wilson(p, p * (1 - p) / (means.var(ddof=1) / 6), stats.t.ppf(0.975, df))
    assert (r.ci_low, r.ci_high) == pytest.approx((lo, hi), abs=1e-12)
    assert r.clusters == 6


def test_a_stratum_of_one_group_is_clustered_by_its_units():
    # stratum 0: two groups of 10 units; stratum 1: one group, so its 10 units are the PSUs
    strata, groups = np.repeat([0, 1], [20, 10]), np.repeat([0, 1, 2], 10)
    d = iv.design(30, groups, strata)
    assert (d.clusters, d.df, d.label) == (12, 10, "2 groups + 10 units, 2 strata")


def test_stratified_variance_by_hand():
    # strata of 6 and 7 prompts; z_u = (k - p n) / N per unit, centred within its stratum
    k, strata = np.array([2, 5, 3, 6, 1, 4, 7, 9, 8, 6, 9, 5, 8]), np.repeat([0, 1], [6, 7])
    r = iv.proportion(k, np.full(13, 10), strata=strata)
    p = k.sum() / 130
    z = (k - p * 10) / 130
    v = 6 / 5 * ((z[:6] - z[:6].mean()) ** 2).sum() + 7 / 6 * ((z[6:] - z[6:].mean()) ** 2).sum()
    assert r.design_effect == pytest.approx(v / (p * (1 - p) / 130))
    df = satterthwaite(k, np.full(13, 10), 11)
    assert (r.ci_low, r.ci_high) == pytest.approx(hand_wilson(p, p * (1 - p) / v, stats.t.ppf(0.975, df)), abs=1e-12)
    assert r.interval == f"cluster-robust Wilson (n/deff, t({df:.0f})), 13 units, 2 strata"


def test_no_bails_is_not_wilson_tight():
    # 0 of 16,300: the data cannot show the clustering, so the worst case: 1630 prompts each all bails or none
    r = iv.proportion(np.zeros(1630), np.full(1630, 10))
    assert (r.estimate, r.ci_low) == (0, 0)
    assert r.ci_high == pytest.approx(exact(0, 1630)[1])
    assert r.ci_high > 9 * r.wilson_high
    assert (r.design_effect, r.df) == (10, math.inf)
    assert r.interval == "worst case (ICC 1), Clopper-Pearson, 1630 units"
    every = iv.proportion(np.full(1630, 10), np.full(1630, 10))
    assert (every.ci_low, every.ci_high) == pytest.approx((1 - r.ci_high, 1))


def test_few_informative_prompts_take_the_worst_case():
    # one prompt's bail looks unclustered: the worst case, 10 prompts each all bails or none, so 1 bail
    # in 100 samples is 0.1 of 10 such prompts; not Wilson's 1 in 100
    one = iv.proportion([1] + [0] * 9, [10] * 10)
    assert one.design_effect == 10
    assert (one.ci_low, one.ci_high) == pytest.approx(beta_limits(0.1, 10), abs=1e-12)
    assert one.ci_high > 0.3 > 5 * wilson(1, 100)[1]
    # two bails in two prompts: t(1) would be wider than the worst case, so the worst case
    two = iv.proportion([1, 1] + [0] * 8, [10] * 10)
    assert (two.ci_low, two.ci_high) == pytest.approx(beta_limits(0.2, 10), abs=1e-12)
    # unequal PSUs: Kish's effective number of them, (sum n)^2 / sum n^2; upper limit 1 - 0.025^(1/n) at 0
    uneven = iv.proportion([0, 0, 0], [10, 20, 30])
    assert uneven.ci_high == pytest.approx(1 - 0.025 ** (1400 / 60 ** 2))
    # many informative prompts: the estimate, with Satterthwaite's df
    k = [1, 2, 0, 3, 1, 0, 2, 1, 0, 4] * 3
    many = iv.proportion(k, [10] * 30)
    assert many.df == pytest.approx(satterthwaite(k, [10] * 30, 29))
    assert 1 < many.design_effect < 2


def test_no_samples_no_interval():
    r = iv.proportion([0, 0], [0, 0])
    assert all(math.isnan(x) for x in (r.estimate, r.ci_low, r.ci_high, r.wilson_low, r.wilson_high))
    assert iv.proportion([2], [5]).interval == "worst case (ICC 1), Clopper-Pearson, 1 unit"


def test_mean_and_cluster_mean():
    values = np.array([[0.2, 0.4], [0.9, 0.7], [0.1, 0.0]])
    r = iv.mean(values.sum(1), np.full(3, 2), squares=(values ** 2).sum(1))
    assert r.estimate == pytest.approx(values.mean())
    assert iv.proportion(values.sum(1), np.full(3, 2)).ci_high == r.ci_high
    per_prompt = np.array([0.1, 0.5, 0.3, 0.0])
    c = iv.cluster_mean(per_prompt, np.full(4, 10))
    assert c.estimate == pytest.approx(0.225)
    assert c.n == 40 and math.isnan(c.icc)
    assert (c.wilson_low, c.wilson_high) == pytest.approx(wilson(9, 40), abs=1e-12)


def test_paired_difference_by_hand():
    ka, kb, n = np.array([3, 5, 2, 6, 4, 1]), np.array([2, 5, 1, 4, 4, 0]), np.full(6, 10)
    r = iv.paired_difference(ka, n, kb, n)
    pa, pb = 21 / 60, 16 / 60
    za, zb = (ka - pa * n) / 60, (kb - pb * n) / 60
    va, vb, cab = (6 / 5 * (x * y).sum() for x, y in ((za, za), (zb, zb), (za, zb)))
    # Satterthwaite over both rates: a = 10 qa (1 - qa) + 10 qb (1 - qb) per prompt
    qa, qb = ka / 10, kb / 10
    a = 10 * qa * (1 - qa) + 10 * qb * (1 - qb)
    df = min(5, a.sum() ** 2 / (a * a).sum() - 1)
    se, q = math.sqrt(va + vb - 2 * cab), stats.t.ppf(0.975, df)
    d = pa - pb
    assert r.estimate == pytest.approx(d)
    assert r.correlation == pytest.approx(cab / math.sqrt(va * vb))
    assert (r.ci_low, r.ci_high) == pytest.approx((d - q * se, d + q * se))
    assert r.p_value == pytest.approx(2 * stats.t.sf(d / se, df), rel=1e-6)
    same = iv.paired_difference(ka, n, ka, n)
    assert (same.estimate, same.p_value, same.ci_low, same.ci_high) == (0, 1, 0, 0)


def test_paired_difference_at_zero_bails():
    # b never bailed: its worst-case Wilson limit (each prompt one sample) widens the lower side
    ka, kb, n = np.array([3, 5, 2, 6, 4, 1]), np.zeros(6), np.full(6, 10)
    r = iv.paired_difference(ka, n, kb, n)
    pa = 21 / 60
    za = (ka - pa * n) / 60
    va, q = 6 / 5 * (za * za).sum(), stats.t.ppf(0.975, satterthwaite(ka, n, 5))
    ub = q * q / (6 + q * q)
    assert (r.ci_low, r.ci_high) == pytest.approx((pa - math.sqrt(q * q * va + ub * ub), pa + q * math.sqrt(va)))
    assert r.correlation == 0
    # neither bailed: no PSU informs the df, so PSUs - 1
    neither = iv.paired_difference(kb, n, kb, n)
    q = stats.t.ppf(0.975, 5)
    assert (neither.ci_low, neither.ci_high) == pytest.approx((-q * q / (6 + q * q), q * q / (6 + q * q)))


def test_p_value_and_interval_agree():
    rng = np.random.default_rng(4)
    ka, kb = rng.binomial(10, rng.beta(0.3, 3, (500, 40))), rng.binomial(10, rng.beta(0.3, 3, (500, 40)))
    r = iv.paired_difference(ka, np.full_like(ka, 10), kb, np.full_like(kb, 10))
    excludes = (r.ci_low > 0) | (r.ci_high < 0)
    assert np.array_equal(excludes, r.p_value < 0.05)
    assert 0.02 < np.mean(excludes) < 0.1


def test_holm():
    assert iv.holm([0.01, 0.04, 0.03, 0.5]) == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert iv.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_agreement():
    ka = np.array([0, 10, 8, 2, 9, 0, 6, 1])
    kb = np.array([1, 9, 3, 0, 10, 2, 7, 0])
    n = np.full(8, 10)
    a = iv.agreement(ka, n, kb, n, resamples=500, seed=7)
    assert a.spearman == pytest.approx(stats.spearmanr(ka, kb).statistic)
    # bailed on (rate > 0.5): a = 0,1,1,0,1,0,1,0; b = 0,1,0,0,1,0,1,0 -> po = 7/8, pe = 1/2 x 3/8 + 1/2 x 5/8
    assert a.kappa == pytest.approx((7 / 8 - 0.5) / 0.5)
    assert (a.bailed_a, a.bailed_b, a.bailed_both, a.units) == (4, 3, 3, 8)
    assert a.spearman_low <= a.spearman <= a.spearman_high and a.kappa_low <= a.kappa <= a.kappa_high
    assert a == iv.agreement(ka, n, kb, n, resamples=500, seed=7)


def test_weighted_spearman_is_spearman_of_the_repeated_sample():
    rng = np.random.default_rng(5)
    x, y, w = rng.integers(0, 11, 300) / 10, rng.integers(0, 11, 300) / 10, rng.integers(0, 4, 300)
    got = iv._weighted_spearman(x, y, w[None].astype(float))[0]
    assert got == pytest.approx(stats.spearmanr(np.repeat(x, w), np.repeat(y, w)).statistic)


def test_two_by_two():
    t = iv.two_by_two([2, 0, 3], [4, 0, 5], [1, 1, 0], [6, 10, 5])
    assert (t.refused_bailed, t.refused, t.complied_bailed, t.complied) == (5, 9, 2, 21)
    assert t.bail_given_refused.estimate == pytest.approx(5 / 9)
    assert t.bail_given_complied.estimate == pytest.approx(2 / 21)
    assert t.difference.estimate == pytest.approx(5 / 9 - 2 / 21)


def test_power_formula():
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    va, vb = 0.1 * 0.9 * 3.7 / 10, 0.12 * 0.88 * 3.7 / 10
    assert iv.plan_power(0.1, 0.02, icc=0.3, samples=10) == math.ceil(z * z * (va + vb) / 0.02 ** 2)
    paired = iv.plan_power(0.1, 0.02, icc=0.3, samples=10, correlation=0.8)
    assert paired == math.ceil(z * z * (va + vb - 1.6 * math.sqrt(va * vb)) / 0.02 ** 2)
    d = iv.detectable_difference(0.1, icc=0.3, prompts=paired, samples=10, correlation=0.8)
    assert d == pytest.approx(0.02, rel=0.01)


@pytest.mark.slow
def test_planned_power_is_met():
    # two independent sets of the planned prompts (an unpaired comparison): about 80% detect 2 points
    p, icc, samples = 0.1, 0.3, 10
    prompts = iv.plan_power(p, 0.02, icc=icc, samples=samples)
    rng = np.random.default_rng(SEED)
    ka = rng.binomial(samples, beta(rng, np.full((2000, prompts), p), icc))
    kb = rng.binomial(samples, beta(rng, np.full((2000, prompts), p + 0.02), icc))
    n = np.full_like(ka, samples)
    detected = np.mean(iv.paired_difference(kb, n, ka, n).p_value < 0.05)
    assert 0.77 < detected < 0.83


# --- coverage ----------------------------------------------------------------------------------

BENCH = Bench()
REPS = 4000  # Monte Carlo SE of a 0.95 coverage: 0.0034
RATES = {"5-35%": (0.05, 0.35), "0.5-5%": (0.005, 0.05)}
SCENARIOS = [("5-35%", icc, sub) for sub in (0.0, 0.2) for icc in (0.0, 0.2, 0.5, 0.8)] + [
    ("0.5-5%", 0.0, 0.2), ("0.5-5%", 0.8, 0.0)]  # rare bails: few informative subcategories; few bailing prompts


@pytest.mark.parametrize("rates,icc,sub_icc", SCENARIOS)
@pytest.mark.slow
def test_rate_coverage(rates, icc, sub_icc):
    rng = np.random.default_rng([SEED, int(RATES[rates][0] * 1000), int(icc * 10), int(sub_icc * 10)])
    rates = BENCH.rates(*RATES[rates])
    k = draw(rng, BENCH, REPS, rates, icc, sub_icc)
    overall = summary_interval(BENCH, k)
    assert 0.94 <= covers(overall, BENCH.overall(rates)) <= 0.96
    for c, r in enumerate(category_intervals(BENCH, k)):  # the small ones too, whose intervals must not be narrow
        assert covers(r, rates[c]) >= 0.93, c
    if icc >= 0.2 or sub_icc:
        assert wilson_covers(overall, BENCH.overall(rates)) < 0.8  # the problem this fixes


@pytest.mark.parametrize("icc", [0.0, 0.2, 0.5, 0.8])
@pytest.mark.slow
def test_paired_difference_coverage(icc):
    rng = np.random.default_rng([SEED, 1, int(icc * 10)])
    rates = BENCH.rates()
    ka, kb = draw_pair(rng, BENCH, REPS, rates, icc, 0.2)
    n = np.full_like(ka, BENCH.samples)
    r = iv.paired_difference(ka, n, kb, n, groups=BENCH.subcategory, strata=BENCH.category)
    assert 0.94 <= covers(r, BENCH.overall(0.2 * 0.3 * rates)) <= 0.96


def test_conversations_of_unequal_length():
    # real data: one unit per conversation, 1 to 30 turns, turns of a conversation correlated 0.4
    rng = np.random.default_rng([SEED, 2])
    turns = rng.integers(1, 31, 400)
    k = rng.binomial(turns, beta(rng, np.full((REPS, 400), 0.15), 0.4))
    r = iv.proportion(k, np.broadcast_to(turns, k.shape))
    assert 0.94 <= covers(r, 0.15) <= 0.96
    assert wilson_covers(r, 0.15) < 0.8


def test_strata_of_one_psu_are_collapsed_so_a_quick_run_has_an_interval():
    # the quick run: one prompt in each of 14 categories, each its own subcategory
    k, n = [1, 0] * 7, [2] * 14
    cats = [f"c{i}" for i in range(14)]
    d = iv.design(14, cats, cats)
    assert d.df == 13 and "collapsed" in d.label
    diff = iv.paired_difference(k, n, [0] * 14, n, groups=cats, strata=cats)
    assert diff.ci_low is not None and diff.ci_low < 0.25 < diff.ci_high
