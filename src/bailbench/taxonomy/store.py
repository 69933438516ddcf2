"""The taxonomy's own SQLite file: every model answer and every embedding, keyed by what
was asked, so an interrupted or repeated taxonomy reuses all finished work."""

from __future__ import annotations

import hashlib
import sqlite3
import weakref
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ..errors import UserError
from ..safe_io import lock_dir, make_dir, refuse_link, unlock_dir

DB_NAME = "taxonomy.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (      -- summaries and names: one row per exact request
    sha TEXT NOT NULL, model TEXT NOT NULL, text TEXT NOT NULL, PRIMARY KEY (sha, model));
CREATE TABLE IF NOT EXISTS embeddings (
    sha TEXT NOT NULL, embedder TEXT NOT NULL, vec BLOB NOT NULL, PRIMARY KEY (sha, embedder));
CREATE TABLE IF NOT EXISTS cases (        -- the cases of the current taxonomy, rebuilt each time
    id INTEGER PRIMARY KEY, run INTEGER NOT NULL, key TEXT NOT NULL, method TEXT NOT NULL,
    category TEXT NOT NULL, subcategory TEXT NOT NULL, context_id TEXT NOT NULL,
    prompt TEXT NOT NULL, summary TEXT, garbage TEXT, label INTEGER);
"""


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


class TaxonomyStore:
    """The taxonomy folder's store; held by one process at a time (as a run's store is)."""

    def __init__(self, out: Path):
        make_dir(out)
        self.path = out / DB_NAME
        for suffix in ("", "-wal", "-shm", "-journal"):
            refuse_link(Path(f"{self.path}{suffix}"))
        self._unlock = weakref.finalize(self, unlock_dir, lock_dir(out))
        try:
            self.db = sqlite3.connect(self.path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self._unlock()
            raise UserError(f"{self.path} is not a taxonomy store, or cannot be written ({exc}); choose another "
                            "--out") from None

    def close(self) -> None:
        self.db.close()
        self._unlock()

    # -- model answers ----------------------------------------------------------------
    def answers(self, shas: Iterable[str], model: str) -> dict[str, str]:
        shas = list(shas)
        out: dict[str, str] = {}
        for i in range(0, len(shas), 500):
            chunk = shas[i:i + 500]
            q = f"SELECT sha, text FROM answers WHERE model=? AND sha IN ({','.join('?' * len(chunk))})"
            out.update(self.db.execute(q, [model, *chunk]).fetchall())
        return out

    def add_answers(self, model: str, items: dict[str, str]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)",
                                [(s, model, t) for s, t in items.items()])

    # -- embeddings -------------------------------------------------------------------
    def embeddings(self, shas: Iterable[str], embedder: str) -> dict[str, np.ndarray]:
        shas = list(shas)
        out: dict[str, np.ndarray] = {}
        for i in range(0, len(shas), 500):
            chunk = shas[i:i + 500]
            q = f"SELECT sha, vec FROM embeddings WHERE embedder=? AND sha IN ({','.join('?' * len(chunk))})"
            for s, blob in self.db.execute(q, [embedder, *chunk]):
                out[s] = np.frombuffer(blob, dtype=np.float32)
        return out

    def add_embeddings(self, embedder: str, items: dict[str, np.ndarray]) -> None:
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?)",
                                [(s, embedder, np.asarray(v, dtype=np.float32).tobytes()) for s, v in items.items()])

    # -- cases ------------------------------------------------------------------------
    def reset_cases(self) -> None:
        with self.db:
            self.db.execute("DELETE FROM cases")

    def add_cases(self, rows: list[tuple]) -> None:
        """rows: (run, key, method, category, subcategory, context_id, prompt)."""
        with self.db:
            self.db.executemany("INSERT INTO cases (run, key, method, category, subcategory, context_id, prompt) "
                                "VALUES (?, ?, ?, ?, ?, ?, ?)", rows)

    def n_cases(self) -> int:
        return self.db.execute("SELECT count(*) FROM cases").fetchone()[0]

    def iter_cases(self, columns: str = "id, run, key", batch: int = 1000) -> Iterator[list[tuple]]:
        """Cases in id order, a batch at a time (bounded memory)."""
        last = 0
        while True:
            rows = self.db.execute(f"SELECT {columns} FROM cases WHERE id > ? ORDER BY id LIMIT ?",
                                   (last, batch)).fetchall()
            if not rows:
                return
            last = rows[-1][0]
            yield rows

    def set_summaries(self, items: list[tuple[int, str, str | None]]) -> None:
        """(case id, summary, garbage reason or None)."""
        with self.db:
            self.db.executemany("UPDATE cases SET summary=?, garbage=? WHERE id=?", [(s, g, i) for i, s, g in items])

    def set_labels(self, items: list[tuple[int, int]]) -> None:
        with self.db:
            self.db.executemany("UPDATE cases SET label=? WHERE id=?", [(lab, i) for i, lab in items])
