"""Turn stored samples into summary.json: rates per method, category and subcategory,
ablations against baseline, positional bias, refusals and no-refusal bails (pure functions)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Callable, Iterable

from ..methods import BAIL, BAIL_FIRST, CONTINUE_FIRST, UNKNOWN
from ..store import SampleRow
from .stats import newcombe_difference, wilson


def _num(x: float | None) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else round(x, 6)


def rate_stats(rows: list[SampleRow]) -> dict:
    """Bail rate with its Wilson 95% interval over the samples that ran.

    n counts every sample that ran (prompts x samples); unknown answers stay in n and
    are reported as their own rate, as the paper's grey bars.
    """
    ran = [r for r in rows if r.skipped is None]
    n = len(ran)
    bails = sum(r.verdict == BAIL for r in ran)
    unknowns = sum(r.verdict == UNKNOWN for r in ran)
    lo, hi = wilson(bails, n)
    out = {
        "bail_rate": _num(bails / n) if n else None,
        "ci_low": _num(lo),
        "ci_high": _num(hi),
        "n": n,
        "bails": bails,
        "unknown_rate": _num(unknowns / n) if n else None,
        "unknowns": unknowns,
        "skipped": dict(Counter(r.skipped for r in rows if r.skipped)),
    }
    probs = [r.p_bail for r in ran if r.p_bail is not None and not math.isnan(r.p_bail)]
    if probs:
        out["mean_p_bail"] = _num(sum(probs) / len(probs))
        masses = [r.mass for r in ran if r.mass is not None]
        out["mean_symbol_mass"] = _num(sum(masses) / len(masses))
    return out


def grouped(rows: Iterable[SampleRow], key: Callable[[SampleRow], str],
            stats: Callable[[list[SampleRow]], dict] = rate_stats) -> dict[str, dict]:
    groups: dict[str, list[SampleRow]] = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    return {k: stats(v) for k, v in sorted(groups.items())}


def category(r: SampleRow) -> str:
    return r.category


def subcategory(r: SampleRow) -> str:
    return f"{r.category} / {r.subcategory}"


def rollout_stats(rows: list[SampleRow]) -> dict:
    ran = [r for r in rows if r.skipped is None]
    return {
        "n": len(ran),
        "mean_completion_tokens": _num(sum(r.completion_tokens for r in ran) / len(ran)) if ran else None,
        "truncated_rate": _num(sum(r.finish_reason == "length" for r in ran) / len(ran)) if ran else None,
        "skipped": dict(Counter(r.skipped for r in rows if r.skipped)),
    }


def difference(a: list[SampleRow], b: list[SampleRow]) -> dict:
    """Bail rate of a minus that of b, with Newcombe's interval."""
    ra, rb = [r for r in a if r.skipped is None], [r for r in b if r.skipped is None]
    d, lo, hi = newcombe_difference(sum(r.verdict == BAIL for r in ra), len(ra),
                                    sum(r.verdict == BAIL for r in rb), len(rb))
    return {"difference": _num(d), "ci_low": _num(lo), "ci_high": _num(hi)}


def positional_bias(by_method: dict[str, list[SampleRow]]) -> dict | None:
    """Bail-first minus continue-first, overall and per category (same rollouts in both)."""
    if BAIL_FIRST not in by_method or CONTINUE_FIRST not in by_method:
        return None
    bf, cf = by_method[BAIL_FIRST], by_method[CONTINUE_FIRST]
    out = difference(bf, cf)
    cats = sorted({r.category for r in bf})
    out["categories"] = {c: difference([r for r in bf if r.category == c], [r for r in cf if r.category == c])
                         for c in cats}
    return out


def false_bail_stats(rows: list[SampleRow], verdicts: dict[str, bool | None], judge: str) -> dict:
    """The bail rate with the false-bail filter (appendix A.3.1): bails a judge found false
    removed; bails it could not read kept, and counted."""
    ran = [r for r in rows if r.skipped is None]
    bails = [r for r in ran if r.verdict == BAIL]
    false = sum(verdicts.get(r.key) is True for r in bails)
    unreadable = sum(r.key in verdicts and verdicts[r.key] is None for r in bails)
    k, n = len(bails) - false, len(ran)
    lo, hi = wilson(k, n)
    return {"judge": judge, "false_bails": false, "unreadable": unreadable,
            "false_bail_share_of_bails": _num(false / len(bails)) if bails else None,
            "bail_rate_filtered": {"rate": _num(k / n) if n else None, "ci_low": _num(lo), "ci_high": _num(hi),
                                   "n": n}}
