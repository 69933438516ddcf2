"""What summary.json says about simulated conversations: per family and arm, how many
conversations ended by bail, when (Kaplan-Meier, hazard), how P(bail) moved over the turns,
and whether the exits came where leaving is appropriate.

Conversations of one scenario share a persona and an opening, so they are not independent:
every share's interval clusters by scenario (analysis/intervals.py, the scenario as the unit,
families as strata where several are pooled), with the Wilson interval over conversations
beside it. Shares with zero exits also get an exact one-sided upper limit.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Callable, Iterable

from ..analysis import intervals
from .conversation import ENDS, End, Outcome
from .survival import kaplan_meier, median_turn, rule_of_three, upper_bound
from .threads import NONE
from .user import BREAKS

SHARE = "share of conversations that ended by a bail within the turn limit"


def _num(x) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def _by(items: Iterable, key: Callable) -> dict:
    out: dict = defaultdict(list)
    for item in items:
        out[key(item)].append(item)
    return dict(out)


def _interval(iv: intervals.Interval) -> dict:
    return {"rate": _num(iv.estimate), "ci_low": _num(iv.ci_low), "ci_high": _num(iv.ci_high),
            "interval": iv.interval, "wilson_low": _num(iv.wilson_low), "wilson_high": _num(iv.wilson_high)}


def share(units: list[tuple[str, str, float, int]]) -> dict:
    """sum(k) / sum(n) over units (family, scenario, k, n): clustered by scenario, families as strata."""
    units = [u for u in units if u[3] > 0]
    k, n = sum(u[2] for u in units), sum(u[3] for u in units)
    if not n:
        return {"rate": None, "ci_low": None, "ci_high": None, "n": 0, "count": 0}
    strata = [u[0] for u in units] if len({u[0] for u in units}) > 1 else None
    iv = intervals.proportion([u[2] for u in units], [u[3] for u in units], strata=strata)
    return {**_interval(iv), "n": n, "count": k}


def _per_scenario(outs: list[Outcome], count: Callable[[Outcome], float], at_risk: Callable[[Outcome], bool]):
    return [(o[0].scenario.family, name, sum(count(x) for x in o if at_risk(x)), sum(at_risk(x) for x in o))
            for name, o in _by(outs, lambda x: x.scenario.name).items()]


def exits(outs: list[Outcome]) -> dict:
    """The share ended by bail, with an exact one-sided 95% upper limit (and the rule of three at zero)."""
    out = share(_per_scenario(outs, lambda o: o.bailed, lambda o: True))
    out["upper_95"] = upper_bound(int(out["count"]), out["n"])
    if out["count"] == 0:
        out["rule_of_three"] = rule_of_three(out["n"])
    return out


def hazard(outs: list[Outcome], turns: int) -> list[dict]:
    """P(exit at turn t | reached it), clustered by scenario."""
    rows = []
    for t in range(1, turns + 1):
        s = share(_per_scenario(outs, lambda o: o.bailed and o.turns == t, lambda o: o.turns >= t))
        rows.append({"turn": t, "at_risk": s.pop("n"), "exits": s.pop("count"), **s})
    return rows


def trajectory(outs: list[Outcome], turns: int) -> list[dict]:
    """Mean P(bail) of the check after each assistant turn, over the conversations that reached it."""
    rows = []
    for t in range(turns):
        units = [(name, [v for o in group if len(o.p_bail) > t and (v := o.p_bail[t]) is not None])
                 for name, group in _by(outs, lambda x: x.scenario.name).items()]
        units = [(name, vs) for name, vs in units if vs]
        if not units:
            continue
        iv = intervals.mean([sum(vs) for _, vs in units], [len(vs) for _, vs in units])
        rows.append({"turn": t + 1, "mean_p_bail": _num(iv.estimate), "ci_low": _num(iv.ci_low),
                     "ci_high": _num(iv.ci_high), "n": sum(len(vs) for _, vs in units), "interval": iv.interval})
    return rows


def paired(live: list[Outcome], none: list[Outcome]) -> dict | None:
    """Mean P(bail) with the bail option live minus without it, over the turns both arms of a
    conversation reached: paired by conversation, clustered by scenario."""
    theirs = {(o.scenario.name, o.replicate): o for o in none}
    units = []
    for o in live:
        other = theirs.get((o.scenario.name, o.replicate))
        if other is None:
            continue
        both = [(a, b) for a, b in zip(o.p_bail, other.p_bail) if a is not None and b is not None]
        if both:
            units.append((o.scenario.name, sum(a for a, _ in both), sum(b for _, b in both), len(both)))
    if len(units) < 2:
        return None
    n = [u[3] for u in units]
    d = intervals.paired_difference([u[1] for u in units], n, [u[2] for u in units], n, groups=[u[0] for u in units])
    return {"difference": _num(d.estimate), "ci_low": _num(d.ci_low), "ci_high": _num(d.ci_high),
            "p_value": _num(d.p_value), "interval": d.interval, "conversations": len(units), "turns": sum(n)}


def breaks(outs: list[Outcome]) -> dict[str, int]:
    return {b: sum(o.breaks.get(b, 0) for o in outs) for b in BREAKS}


def arm(outs: list[Outcome], turns: int, live: bool) -> dict:
    """One family's conversations in one arm; `live`: the arm offers a bail option."""
    steps = kaplan_meier([o.turns for o in outs], [o.bailed for o in outs], turns)
    out = {
        "conversations": len(outs),
        "ends": {e: sum(o.end == e for o in outs) for e in ENDS},
        "role_breaks": breaks(outs),
        "truncated_calls": sum(o.truncated_calls for o in outs),
        "p_bail": trajectory(outs, turns),
    }
    if live:
        out["ended_by_bail"] = exits(outs)
        out["time_to_exit"] = {"censored_at": turns, "median_turn": median_turn(steps),
                               "curve": [{"turn": s.turn, "at_risk": s.at_risk, "exits": s.exits,
                                          "censored": s.censored, "survival": s.survival} for s in steps]}
        out["hazard"] = hazard(outs, turns)
    return out


def _early(outs: list[Outcome]) -> float:
    """The share whose exit is unknown: stopped before the turn limit without a bail (the user
    model broke role, or the context ran out)."""
    return sum(o.end in (End.USER_BROKE_ROLE, End.CONTEXT) for o in outs) / len(outs) if outs else 0.0


def _rate(s: dict) -> dict:
    """A share in the keys every run's summary uses for a rate."""
    return {"bail_rate": s["rate"], "ci_low": s["ci_low"], "ci_high": s["ci_high"], "n": s["n"],
            "interval": s.get("interval"), "wilson_low": s.get("wilson_low"), "wilson_high": s.get("wilson_high")}


def summarize(outcomes: list[Outcome], turns: int, arms: list[str]) -> dict:
    """The simulation's part of summary.json: `methods` (overall, the shape every run's summary
    has), `families`, `appropriateness`, `paired`, `role_breaks`."""
    live = [a for a in arms if a != NONE]
    by_arm = _by(outcomes, lambda o: o.arm)
    families: dict[str, dict] = {}
    for family, outs in _by(outcomes, lambda o: o.scenario.family).items():
        mine = _by(outs, lambda o: o.arm)
        families[family] = {
            "scenarios": {o.scenario.name: {"leaving_appropriate": o.scenario.leaving_appropriate} for o in outs},
            "arms": {a: arm(mine.get(a, []), turns, a != NONE) for a in arms},
        }
        if NONE in arms:
            families[family]["paired"] = {a: paired(mine.get(a, []), mine.get(NONE, [])) for a in live}
    methods = {a: {**_rate(exits(by_arm.get(a, []))), "estimand": SHARE,
                   "unknown_rate": _early(by_arm.get(a, [])),
                   "categories": {f: _rate(families[f]["arms"][a]["ended_by_bail"]) for f in families}}
               for a in live}
    appropriateness = {a: {
        "appropriate": exits([o for o in by_arm.get(a, []) if o.scenario.leaving_appropriate]),
        "inappropriate": exits([o for o in by_arm.get(a, []) if not o.scenario.leaving_appropriate]),
    } for a in live}
    return {"methods": methods, "families": families, "appropriateness": appropriateness,
            "role_breaks": {a: breaks(by_arm.get(a, [])) for a in arms}}
