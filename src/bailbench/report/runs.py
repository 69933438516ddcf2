"""The runs a report covers, read from their directories."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..analysis.compare import run_label, unique_labels
from ..errors import UserError
from ..store import Store


@dataclass
class ReportRun:
    path: Path
    label: str
    summary: dict

    @property
    def realdata(self) -> bool:
        return self.summary.get("kind") == "realdata"

    def store(self) -> Store:
        return Store(self.path, create=False)


def load_runs(paths: list[Path]) -> list[ReportRun]:
    runs = []
    for p in paths:
        f = p / "summary.json"
        if not f.is_file():
            raise UserError(f"{p} has no summary.json: pass run directories written by `bailbench run` or `realdata`")
        runs.append(ReportRun(p, "", json.loads(f.read_text("utf-8"))))
    for r, label in zip(runs, unique_labels([run_label(r.summary) for r in runs], paths)):
        r.label = label
    return runs
