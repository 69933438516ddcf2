"""The sweep directory: which experiment owns it, and sweep.json, the index of its runs.

sweep.json is rewritten (atomically) at the start, after every run and at the end, so it
always says which runs are finished; `run_dirs` reads it to hand a sweep to `report`,
`compare` and `reproduce`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from ..store import DB_NAME

if TYPE_CHECKING:
    from .plan import PlannedRun
    from .spec import Experiment

INDEX = "sweep.json"
DONE, PENDING, FAILED, INCOMPLETE, BLOCKED = "done", "pending", "failed", "incomplete", "blocked"


def claim(sweep_dir: Path, exp: "Experiment") -> dict:
    """Bind the directory to this experiment; refuse one written by another experiment file."""
    index = sweep_dir / INDEX
    if index.is_file():
        old = json.loads(index.read_text("utf-8"))
        theirs = old.get("experiment", {})
        if theirs.get("name") != exp.name:
            raise UserError(f"{sweep_dir} holds the sweep of experiment {theirs.get('name')!r} "
                            f"({theirs.get('file')}), not {exp.name!r}; choose another --out")
        return old
    if sweep_dir.is_dir() and any(sweep_dir.iterdir()):
        what = "a run directory" if (sweep_dir / DB_NAME).exists() else "not a sweep directory (no sweep.json)"
        raise UserError(f"{sweep_dir} is {what} and not empty; choose another --out")
    sweep_dir.mkdir(parents=True, exist_ok=True)
    return {}


def stored_samples(run_dir: Path) -> int:
    """Rows already in a run's store (0 when it has none), read without opening a Store."""
    db = run_dir / DB_NAME
    if not db.is_file():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT count(*) FROM samples").fetchone()[0]
    except sqlite3.DatabaseError:
        return 0
    finally:
        con.close()


class Index:
    """The index, kept in memory and written after each change."""

    def __init__(self, sweep_dir: Path, exp: "Experiment", runs: "list[PlannedRun]", engine: str, previous: dict):
        self.path = sweep_dir / INDEX
        before = {r["id"]: r for r in previous.get("runs", [])}
        self.data = {
            "experiment": {"name": exp.name, "file": str(exp.path), "sha256": exp.sha256,
                           "description": exp.description, "reproduces": list(exp.reproduces)},
            "engine": engine,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "runs": [{**r.describe(), "status": before.get(r.id, {}).get("status", PENDING)} for r in runs],
            "workers": [],
        }
        self.by_id = {r["id"]: r for r in self.data["runs"]}
        self.write()

    def update(self, run_id: str, **fields) -> None:
        self.by_id[run_id].update(fields)
        self.write()

    def set(self, key: str, value) -> None:
        self.data[key] = value
        self.write()

    def write(self) -> None:
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2, ensure_ascii=False) + "\n", "utf-8")
        os.replace(tmp, self.path)


def run_dirs(path: Path) -> list[Path]:
    """A sweep directory's finished run directories, in sweep order; any other path as it is."""
    index = Path(path) / INDEX
    if not index.is_file():
        return [Path(path)]
    data = json.loads(index.read_text("utf-8"))
    dirs = [Path(path) / r["dir"] for r in data.get("runs", [])]
    found = [d for d in dirs if (d / "summary.json").is_file()]
    if not found:
        raise UserError(f"sweep {path} has no finished run yet; run `bailbench sweep {data['experiment']['file']}`")
    return found


def expand_run_dirs(paths: list[Path]) -> list[Path]:
    """Sweep directories replaced by their run directories; for `report`, `compare`, `reproduce`."""
    return [d for p in paths for d in run_dirs(p)]
