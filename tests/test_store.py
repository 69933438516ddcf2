"""The run store: versioned migrations, read-only opening, atomic summaries."""

import csv
import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

from bailbench.runner import RunConfig, run
from bailbench.store import SCHEMA_VERSION, Store

FIXTURE = Path(__file__).parent / "fixtures" / "v1_run"  # written by bailbench before schema versions


def digest(d: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(d.iterdir())}


def test_reading_a_store_never_changes_it(tmp_path):
    run_dir = tmp_path / "v1"
    shutil.copytree(FIXTURE, run_dir)
    before = digest(run_dir)
    store = Store(run_dir, create=False)
    assert store.identity()["dataset"] == "bailbench"
    store.choose_where("SELECT key FROM samples ORDER BY key")  # what a summary does: a temporary table only
    store.write_csv(tmp_path / "samples.csv")
    store.close()
    with open(tmp_path / "samples.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert len(rows) == 7 and rows[0][-4:] == ["prompt", "source", "cached_tokens", "cache_write_tokens"]
    assert {(r[-2], r[-1]) for r in rows[1:]} == {("0", "0")}  # columns the old store lacks read as their defaults
    assert digest(run_dir) == before


@pytest.mark.model
def test_a_store_written_before_versions_migrates_and_resumes(tmp_path):
    run_dir = tmp_path / "v1"
    shutil.copytree(FIXTURE, run_dir)
    cfg = RunConfig(limit=2, samples=1, max_tokens=8, methods=("string", "prompt-bail-first"), out=run_dir)
    s = run(cfg).summary
    assert (s["new_samples"], s["reused_samples"]) == (0, 6)
    db = sqlite3.connect(run_dir / "samples.sqlite")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    with db:
        db.execute("INSERT INTO false_bails VALUES ('k', 'judge', '[null]', NULL)")  # nullable since version 2
    db.close()
    assert "n_ctx" in Store(run_dir, create=False).identity()  # recorded from now on
    more = run(RunConfig(**{**cfg.__dict__, "samples": 2})).summary
    assert (more["new_samples"], more["reused_samples"]) == (6, 6)
    assert not (run_dir / "summary.json.tmp").exists()
