"""Coverage of bailbench's intervals against the paper's, at BailBench's full design.

1630 prompts x 10 samples in BailBench's own 14 categories and 163 subcategories (read from
bailBench.csv), simulated as tests/test_intervals.py does (its generator and the summary's
calls): a fixed rate per category, Beta subcategory effects (samples of different prompts of a
subcategory correlated `sub`), Beta prompt effects (samples of a prompt correlated `icc`).
Per scenario, the share of runs whose 95% interval holds the true rate:

- overall: the paper's Wilson (n = prompts x samples); clustered by prompt only; bailbench's
  (subcategories within categories, a category of one subcategory by its prompts);
- categories: the lowest-highest coverage over the 6 categories of at least 10 subcategories, and
  over the 8 smaller ones (three of 5 or 7 subcategories; five of one, clustered by prompt);
- paired difference of two methods sharing each sample's rollout half the time (b's rates
  0.94 x a's): Newcombe's hybrid score interval from the two Wilson intervals (what bailbench
  printed before) against bailbench's paired interval, overall and per category (lowest-highest).

Then the agreement intervals (Spearman's rho of per-prompt rates, Cohen's kappa of prompts bailed
on) of two methods in runs of 163 subcategories x 10 prompts (ICC 0.5, subcategory correlation
0.2): their percentile cluster bootstrap's coverage of the population values, taken from one draw
of 2,000,000 prompts.

    .venv/bin/python benchmarks/interval_coverage.py [--reps 10000] [--agreement 400] [--seed 20]

Monte Carlo SE of a coverage near 0.95 is sqrt(0.95 x 0.05 / reps): 0.0022 at 10,000.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from tests.test_intervals import Bench, category_intervals, draw, draw_pair, summary_interval  # noqa: E402

from bailbench.analysis import intervals as iv  # noqa: E402

DATA = Path(os.environ.get("BAILBENCH_DATA_DIR", ROOT.parent / "shared" / "data" / "bailstudy"))
RATES = {"5-35%": (0.05, 0.35), "0.5-5%": (0.005, 0.05)}
MIX, SHRINK = 0.7, 0.8  # b's prompt probability: MIX x a's + (1 - MIX) x a prompt's at SHRINK x the rates


def bailbench() -> Bench:
    """BailBench's shape from bailBench.csv: subcategories per category in file order."""
    with open(DATA / "bailBench.csv", newline="") as f:
        rows = [(r["category"], r["subcategory"]) for r in csv.DictReader(f)]
    prompts = Counter(rows)
    assert set(prompts.values()) == {10}, "every subcategory has 10 prompts"
    per_category = Counter(c for c, _ in prompts)
    return Bench(tuple(per_category[c] for c in dict.fromkeys(c for c, _ in rows)), prompts=10, samples=10)


def newcombe(a: iv.Interval, b: iv.Interval) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval (his method 10) of a - b from the two Wilson intervals."""
    d = a.estimate - b.estimate
    return (d - np.sqrt((a.estimate - a.wilson_low) ** 2 + (b.wilson_high - b.estimate) ** 2),
            d + np.sqrt((a.wilson_high - a.estimate) ** 2 + (b.estimate - b.wilson_low) ** 2))


def inside(lo, hi, truth) -> np.ndarray:
    return (lo <= truth) & (truth <= hi)


def scenario(bench: Bench, rng: np.random.Generator, reps: int, rates: np.ndarray, icc: float, sub: float) -> dict:
    """Per-run hits (True where the interval holds the truth) of every column, one chunk of runs."""
    big = [c for c, s in enumerate(bench.subcategories) if s >= 10]
    small = [c for c, s in enumerate(bench.subcategories) if s < 10]
    truth = bench.overall(rates)
    k = draw(rng, bench, reps, rates, icc, sub)
    n = np.full_like(k, bench.samples)
    overall, by_prompt = summary_interval(bench, k), iv.proportion(k, n)
    cats = category_intervals(bench, k)
    hits = {"Wilson": inside(overall.wilson_low, overall.wilson_high, truth),
            "by prompt": inside(by_prompt.ci_low, by_prompt.ci_high, truth),
            "bailbench": inside(overall.ci_low, overall.ci_high, truth)}
    for name, group in (("big", big), ("small", small)):
        hits[f"{name} Wilson"] = [inside(cats[c].wilson_low, cats[c].wilson_high, rates[c]) for c in group]
        hits[f"{name} bailbench"] = [inside(cats[c].ci_low, cats[c].ci_high, rates[c]) for c in group]
    ka, kb = draw_pair(rng, bench, reps, rates, icc, sub, mix=MIX, shrink=SHRINK)
    diff = (1 - MIX) * (1 - SHRINK) * rates
    hits["pair Newcombe"] = inside(*newcombe(iv.proportion(ka, n), iv.proportion(kb, n)), bench.overall(diff))
    paired = iv.paired_difference(ka, n, kb, n, groups=bench.subcategory, strata=bench.category)
    hits["pair bailbench"] = inside(paired.ci_low, paired.ci_high, bench.overall(diff))
    per = [iv.paired_difference(ka[:, bench.category == c], n[:, bench.category == c], kb[:, bench.category == c],
                                n[:, bench.category == c], groups=bench.subcategory[bench.category == c]) for c in big]
    hits["pair big bailbench"] = [inside(r.ci_low, r.ci_high, diff[c]) for r, c in zip(per, big)]
    return hits


def coverage(chunks: list[dict], column: str) -> str:
    """The column's coverage over all chunks; for per-category columns, the lowest-highest."""
    parts = [c[column] for c in chunks]
    if isinstance(parts[0], list):
        each = [float(np.mean(np.concatenate([p[i] for p in parts]))) for i in range(len(parts[0]))]
        return f"{min(each):.3f}-{max(each):.3f}"
    return f"{np.mean(np.concatenate(parts)):.3f}"


COLUMNS = ["Wilson", "by prompt", "bailbench", "big Wilson", "big bailbench", "small Wilson", "small bailbench",
           "pair Newcombe", "pair bailbench", "pair big bailbench"]
HEADER = ["rates", "ICC", "sub", "overall: Wilson", "by prompt", "**bailbench**", "6 categories >= 10 subcats: Wilson",
          "**bailbench**", "8 smaller: Wilson", "**bailbench**", "paired difference: Newcombe", "**bailbench**",
          "paired, 6 categories: **bailbench**"]


def agreement_coverage(reps: int, seed: int) -> tuple[float, float]:
    """Coverage of agreement()'s Spearman and kappa intervals over `reps` runs of 1630 prompts."""
    rates, kw = np.array([0.2]), {"icc": 0.5, "sub_icc": 0.2, "mix": 0.6}
    ka, kb = draw_pair(np.random.default_rng([seed, 3]), Bench((200_000,)), 1, rates, **kw)
    x, y = ka[0] / 10, kb[0] / 10
    rho = stats.spearmanr(x, y).statistic
    a, b = (x > 0.5).astype(float), (y > 0.5).astype(float)
    po, pe = np.mean(a == b), a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean())
    kappa = (po - pe) / (1 - pe)
    bench = Bench((163,))
    ka, kb = draw_pair(np.random.default_rng([seed, 4]), bench, reps, rates, **kw)
    n = np.full(ka.shape[1], bench.samples)
    runs = [iv.agreement(ka[i], n, kb[i], n, groups=bench.subcategory, resamples=1000, seed=i) for i in range(reps)]
    return (float(np.mean([r.spearman_low <= rho <= r.spearman_high for r in runs])),
            float(np.mean([r.kappa_low <= kappa <= r.kappa_high for r in runs])))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=10_000)
    ap.add_argument("--chunk", type=int, default=2_000)
    ap.add_argument("--agreement", type=int, default=400, help="runs for the agreement intervals (0: skip)")
    ap.add_argument("--seed", type=int, default=20)
    args = ap.parse_args()
    bench = bailbench()
    print(f"BailBench: {len(bench.subcategories)} categories, {sum(bench.subcategories)} subcategories "
          f"{bench.subcategories}, {bench.prompts} prompts each, {bench.samples} samples; {args.reps} runs a scenario\n")
    print("| " + " | ".join(HEADER) + " |")
    print("|" + "---|" * len(HEADER))
    start = time.time()
    for label, (low, high) in RATES.items():
        for sub in (0.0, 0.2):
            for icc in (0.0, 0.2, 0.5, 0.8):
                rng = np.random.default_rng([args.seed, int(low * 1000), int(sub * 10), int(icc * 10)])
                chunks = [scenario(bench, rng, min(args.chunk, args.reps - i), bench.rates(low, high), icc, sub)
                          for i in range(0, args.reps, args.chunk)]
                cells = [coverage(chunks, c) for c in COLUMNS]
                print(f"| {label} | {icc} | {sub} | " + " | ".join(cells) + " |", flush=True)
    if args.agreement:
        rho, kappa = agreement_coverage(args.agreement, args.seed)
        print(f"\nagreement, {args.agreement} runs (Monte Carlo SE {np.sqrt(0.95 * 0.05 / args.agreement):.3f}): "
              f"Spearman {rho:.3f}, kappa {kappa:.3f}")
    print(f"\n{time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
