"""The runs a report covers, read from their directories."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..analysis.compare import run_label, unique_labels
from ..store import Store, check_same_run, read_summary


@dataclass
class ReportRun:
    path: Path
    label: str
    summary: dict

    @property
    def realdata(self) -> bool:
        return self.summary.get("kind") == "realdata"

    @property
    def simulate(self) -> bool:
        return self.summary.get("kind") == "simulate"

    def store(self) -> Store:
        return Store(self.path, create=False)


def load_run(path: Path) -> ReportRun:
    """A run directory whose summary.json has the shape the report reads and describes
    the run its store holds."""
    summary = read_summary(path)
    store = Store(path, create=False)
    try:
        check_same_run(path, summary, store.identity())
    finally:
        store.close()
    return ReportRun(path, "", summary)


def load_runs(paths: list[Path]) -> list[ReportRun]:
    runs = [load_run(p) for p in paths]
    for r, label in zip(runs, unique_labels([run_label(r.summary) for r in runs], paths)):
        r.label = label
    return runs
