"""What every engine shares: runs in order, each failure recorded and the sweep going on.

A run whose rollout source did not finish is blocked, not attempted. A model that fails
to load fails its runs with the reason; the other models' runs still go.
"""

from __future__ import annotations

import traceback
from typing import Callable, Protocol

from ..errors import ServiceError, UserError
from .index import BLOCKED, DONE, FAILED, INCOMPLETE, Index
from .plan import PlannedRun
from .progress import SweepProgress


class Engine(Protocol):
    """Runs one planned run and returns its summary (LocalEngine, RayEngine)."""

    def __call__(self, r: PlannedRun) -> dict: ...
    def close(self) -> None: ...


class Incomplete(Exception):
    """A run that stopped with samples still to do (its workers died); rerunning finishes it."""


def brief(summary: dict) -> dict:
    """What the index keeps of a run's summary."""
    return {"bail_rate": {m: s.get("bail_rate") for m, s in summary.get("methods", {}).items()},
            "new_samples": summary.get("new_samples"), "reused_samples": summary.get("reused_samples")}


def reason(exc: BaseException) -> str:
    if isinstance(exc, (UserError, ServiceError, Incomplete)):
        return str(exc)
    return f"{type(exc).__name__}: {exc}".strip()


def execute(runs: list[PlannedRun], index: Index, progress: SweepProgress,
            run_one: Callable[[PlannedRun], dict]) -> dict[str, int]:
    """Run each planned run with `run_one` (returns its summary); count the outcomes."""
    counts = {DONE: 0, FAILED: 0, INCOMPLETE: 0, BLOCKED: 0}
    for r in runs:
        if r.depends_on and index.by_id[r.depends_on]["status"] != DONE:
            status, detail = BLOCKED, f"its rollout source {r.depends_on} did not finish"
            index.update(r.id, status=status, error=detail)
        else:
            try:
                summary = run_one(r)
                status, detail = DONE, ""
                index.update(r.id, status=status, error=None, result=brief(summary))
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed run must not stop the sweep
                status = INCOMPLETE if isinstance(exc, Incomplete) else FAILED
                detail = reason(exc)
                if not isinstance(exc, (UserError, ServiceError, Incomplete)):
                    index.update(r.id, traceback=traceback.format_exc(limit=8))
                index.update(r.id, status=status, error=detail)
        counts[status] += 1
        progress.run_finished(r.id, status, detail)
    return counts
