"""Time to exit: Kaplan-Meier over turns, the hazard per turn, and an upper bound for a share
whose count is zero. Pure functions, so each value can be checked by hand.

A conversation's time is the number of assistant turns it ran; it is an event when the
last of them was a bail, and censored otherwise (it reached the turn limit, the user model
broke role, or the context grew too long).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from scipy import stats


@dataclass(frozen=True)
class Step:
    turn: int
    at_risk: int  # conversations that reached this assistant turn
    exits: int  # of them, those that bailed at it
    censored: int  # those that stopped after it without a bail
    survival: float  # P(no exit by the end of this turn)

    @property
    def hazard(self) -> float | None:
        """P(exit at this turn | reached it); None where nobody reached it."""
        return self.exits / self.at_risk if self.at_risk else None


def kaplan_meier(times: Sequence[int], events: Sequence[bool], horizon: int) -> list[Step]:
    """S(t) = prod over turns u <= t of (1 - exits_u / at_risk_u), for turns 1..horizon."""
    steps, survival = [], 1.0
    for turn in range(1, horizon + 1):
        at_risk = sum(t >= turn for t in times)
        exits = sum(t == turn and e for t, e in zip(times, events))
        censored = sum(t == turn and not e for t, e in zip(times, events))
        if at_risk:
            survival *= 1 - exits / at_risk
        steps.append(Step(turn, at_risk, exits, censored, survival))
    return steps


def median_turn(steps: Sequence[Step]) -> int | None:
    """The first turn by which half the conversations have exited; None if that never happens."""
    return next((s.turn for s in steps if s.survival <= 0.5), None)


def upper_bound(exits: int, n: int, level: float = 0.95) -> float | None:
    """One-sided exact (Clopper-Pearson) upper limit of a share: the p at which exits or fewer
    of n has probability 1 - level; at zero exits, 1 - (1 - level)^(1/n)."""
    if n == 0:
        return None
    if exits >= n:
        return 1.0
    return float(stats.beta.ppf(level, exits + 1, n - exits))


def rule_of_three(n: int) -> float | None:
    """3 / n: the approximate 95% upper limit after zero events in n (Hanley & Lippman-Hand 1983)."""
    return 3 / n if n else None
