"""The sweep directory: which experiment owns it, and sweep.json, the index of its runs.

sweep.json is rewritten (atomically) at the start, after every run and at the end, so it
always says which runs are finished; `run_dirs` reads it to hand a sweep to `report`,
`compare` and `reproduce`.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..safe_io import LOCK_NAME, ListOf, Opt, check_shape, make_dir, read_json, write_json
from ..store import DB_NAME, SUMMARY

if TYPE_CHECKING:
    from .plan import PlannedRun
    from .spec import Experiment

INDEX = "sweep.json"
DONE, PENDING, FAILED, INCOMPLETE, BLOCKED = "done", "pending", "failed", "incomplete", "blocked"


INDEX_SHAPE = {"experiment": {"name": str, "file": Opt(str)},
               "runs": Opt(ListOf({"id": str, "dir": str, "status": Opt(str)}))}


def read_index(sweep_dir: Path) -> dict | None:
    """sweep.json, checked; None when the directory has none. A run's `dir` must lie inside
    the sweep (a sweep.json from elsewhere may name any path)."""
    index = sweep_dir / INDEX
    if not index.is_file():
        return None
    fix = "it is damaged; move it away and rerun the sweep to rebuild it"
    data = read_json(index, "a sweep index", fix)
    check_shape(data, INDEX_SHAPE, str(index), fix)
    root = sweep_dir.resolve()
    for r in data.setdefault("runs", []):
        if not (sweep_dir / r["dir"]).resolve().is_relative_to(root):
            raise UserError(f"{index}: run {r['id'][:40]!r} names the directory {r['dir'][:80]!r}, outside the "
                            f"sweep; {fix}")
    return data


def claim(sweep_dir: Path, exp: "Experiment") -> dict:
    """Bind the directory to this experiment; refuse one written by another experiment file."""
    old = read_index(sweep_dir)
    if old is not None:
        theirs = old["experiment"]
        if theirs["name"] != exp.name:
            raise UserError(f"{sweep_dir} holds the sweep of experiment {theirs['name']!r} "
                            f"({theirs.get('file')}), not {exp.name!r}; choose another --out")
        return old
    if sweep_dir.is_dir() and any(p.name != LOCK_NAME for p in sweep_dir.iterdir()):
        what = "a run directory" if (sweep_dir / DB_NAME).exists() else "not a sweep directory (no sweep.json)"
        raise UserError(f"{sweep_dir} is {what} and not empty; choose another --out")
    make_dir(sweep_dir)
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
        self.data: dict[str, Any] = {
            "experiment": {"name": exp.name, "file": str(exp.path), "sha256": exp.sha256,
                           "description": exp.description, "reproduces": list(exp.reproduces)},
            "engine": engine,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "runs": [{**r.describe(), "status": before.get(r.id, {}).get("status", PENDING)} for r in runs],
            "workers": [],
        }
        self.by_id: dict[str, dict] = {r["id"]: r for r in self.data["runs"]}
        self.write()

    def update(self, run_id: str, **fields) -> None:
        self.by_id[run_id].update(fields)
        self.write()

    def set(self, key: str, value) -> None:
        self.data[key] = value
        self.write()

    def write(self) -> None:
        write_json(self.path, self.data, indent=2, ensure_ascii=False)


def run_dirs(path: Path) -> list[Path]:
    """A sweep directory's finished run directories, in sweep order; any other path as it is."""
    data = read_index(Path(path))
    if data is None:
        return [Path(path)]
    dirs = [Path(path) / r["dir"] for r in data["runs"]]
    found = [d for d in dirs if (d / SUMMARY).is_file()]
    if not found:
        raise UserError(f"sweep {path} has no finished run yet; run `bailbench sweep "
                        f"{data['experiment'].get('file') or 'FILE'}`")
    return found


def expand_run_dirs(paths: list[Path]) -> list[Path]:
    """Sweep directories replaced by their run directories; for `report`, `compare`, `reproduce`."""
    return [d for p in paths for d in run_dirs(p)]
