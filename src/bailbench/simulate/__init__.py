"""Simulated users: a user model plays a scenario (a persona, an opening, how it escalates)
against a target model that can leave; measured is whether, when and where it leaves.

    from bailbench.simulate import simulate
    r = simulate(model="smollm2", scenarios="verbal-abuse,benign-coding", turns=4, conversations=2)
    r.summary["families"]["verbal-abuse"]["arms"]["tool"]["time_to_exit"]

Modules: scenario (files and the shipped families), user (the user model's prompt and role
breaks), threads (keys and seeds), conversation (the turn loop, stored as it goes),
survival and summary (the statistics), run (set-up and summary.json), command (the CLI).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..api import Run
    from ..backends.base import BackendLike
    from ..execute import Reporter

__all__ = ["simulate"]


def simulate(*, reporter: Reporter | None = None, backend: BackendLike | None = None,
             user_backend: BackendLike | None = None, **kwargs: Any) -> Run:
    """Run (or resume) simulated conversations; `bailbench simulate` with these flags
    (`model`, `user`, `scenarios`, `turns`, `conversations`, `methods`, `check`, `out` ...).

    `backend` / `user_backend`: backend objects built by the caller for the target / the user."""
    from ..api import Run, config
    from .run import SimulateConfig, run_simulation

    result = run_simulation(config(SimulateConfig, kwargs), reporter, backend, user_backend)
    return Run(result.out, result.summary)
