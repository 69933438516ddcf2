"""How big a run must be: from a pilot run's measured rates and intra-prompt correlations (or
stated assumptions), the prompts needed to detect a difference, and what a planned run can
detect (analysis/intervals.py plan_power and detectable_difference: Kish's design effect
1 + (m - 1) ICC, prompt-level clustering only, so subcategory effects need more prompts)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from .intervals import detectable_difference, plan_power

# Stated assumptions without a pilot: a rate near the paper's open-weight median and a
# moderate intra-prompt correlation.
ASSUMED_RATE, ASSUMED_ICC = 0.05, 0.3


@dataclass(frozen=True)
class PowerRow:
    method: str
    rate: float
    icc: float
    source: str  # "pilot", "pilot, ICC assumed" (the pilot measured none) or "assumed"
    prompts_needed: int  # to detect `difference` against another model (unpaired) ...
    prompts_needed_paired: int  # ... and on the same prompts (paired, correlation 0.5 assumed)
    detectable: float  # the least rise the planned prompts x samples detect, unpaired


def power_rows(pilot: dict | None, *, prompts: int, samples: int, difference: float, power: float = 0.8,
               paired_correlation: float = 0.5) -> list[PowerRow]:
    """One row per method of the pilot's summary.json (or one assumed row without a pilot)."""
    found = []
    for method, stats in ((pilot or {}).get("methods") or {}).items():
        rate, icc = stats.get("bail_rate"), stats.get("icc")
        if rate is None:
            continue
        measured = icc is not None and math.isfinite(icc)
        icc = min(max(icc, 0.0), 1.0) if measured else ASSUMED_ICC
        found.append((method, min(max(rate, 1e-3), 1 - 1e-3), icc, "pilot" if measured else "pilot, ICC assumed"))
    if not found:
        found = [("any", ASSUMED_RATE, ASSUMED_ICC, "assumed")]
    rows = []
    for method, rate, icc, source in found:
        d = min(difference, 1 - rate - 1e-9)
        rows.append(PowerRow(
            method, rate, icc, source,
            plan_power(rate, d, icc=icc, samples=samples, power=power),
            plan_power(rate, d, icc=icc, samples=samples, power=power, correlation=paired_correlation),
            detectable_difference(rate, icc=icc, prompts=prompts, samples=samples, power=power)))
    return rows
