"""The run store: one SQLite database per run directory, one row per finished sample.

WAL journal, one transaction per batch: a run killed with kill -9 loses at most the
batch in flight, and `INSERT OR IGNORE` on the sample key means a rerun never
duplicates a row.
"""

from __future__ import annotations

import csv
import functools
import json
import sqlite3
import weakref
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from .errors import UserError
from .methods import BAIL_METHODS
from .safe_io import (
    NUMBER,
    ListOf,
    MapOf,
    Opt,
    check_shape,
    lock_dir,
    make_dir,
    parse_json,
    read_json,
    refuse_link,
    replacing,
    unlock_dir,
    write_json,
)

DB_NAME = "samples.sqlite"
SUMMARY = "summary.json"
# the store's files: a link planted under one of these names is refused, never followed
STORE_FILES = (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal")


@dataclass
class SampleRow:
    key: str
    prompt_id: str
    category: str
    subcategory: str
    method: str
    ablation: str
    mode: str  # how a bail prompt was read: logprob | sample; empty for other methods
    sample: int
    seed: int
    rendered: str  # exactly what the model was given (template-rendered text or API request JSON)
    reply: str
    verdict: str | None  # bail | continue | unknown; None for rollouts and skipped samples
    p_bail: float | None
    mass: float | None  # p(🔄)+p(🟢) after <wellbeing>, a validity signal of logprob mode
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    seconds: float
    skipped: str | None  # why the sample could not be run, e.g. context_too_long
    prompt: str = ""  # the user message answered (the last of the context), for reading and search
    source: str = ""  # whose reply a bail prompt followed: "" the model's own rollout, "dataset" the dataset's
    cached_tokens: int = 0  # of prompt_tokens, served by an API's prompt cache
    cache_write_tokens: int = 0  # of prompt_tokens, written to it


COLUMNS = [f.name for f in fields(SampleRow)]
COLUMN_TYPES = {"sample": "INTEGER", "seed": "INTEGER", "prompt_tokens": "INTEGER", "completion_tokens": "INTEGER",
                "cached_tokens": "INTEGER", "cache_write_tokens": "INTEGER",
                "p_bail": "REAL", "mass": "REAL", "seconds": "REAL"}  # the other columns hold text

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    {", ".join(c + (" TEXT PRIMARY KEY" if c == "key" else "") for c in COLUMNS)},
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
CREATE INDEX IF NOT EXISTS samples_method ON samples (method, ablation, mode);
CREATE INDEX IF NOT EXISTS samples_context ON samples (prompt_id, sample, method);
-- real conversations: the conversations of a run, in stream order (a sample's prompt_id is
-- the conversation id and its `sample` the index of the user turn answered)
CREATE TABLE IF NOT EXISTS conversations (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    source_id TEXT NOT NULL,
    turns INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS false_bails (
    key TEXT NOT NULL,            -- the bail-prompt sample judged
    judge TEXT NOT NULL,
    answers TEXT NOT NULL,        -- JSON list of P(yes) for the five questions (null: unreadable)
    false_bail INTEGER,           -- NULL when an unreadable answer decides it
    PRIMARY KEY (key, judge)
);
CREATE TABLE IF NOT EXISTS refusals (
    key TEXT NOT NULL,            -- the rollout sample classified
    classifier TEXT NOT NULL,
    p_refusal REAL,               -- NULL when the classifier could not read it
    PRIMARY KEY (key, classifier)
);
"""


SCHEMA_VERSION = 3


def write_summary(run_dir: Path, summary: dict) -> None:
    """summary.json, replaced atomically: a reader never sees half of it."""
    write_json(run_dir / SUMMARY, summary, indent=2, ensure_ascii=False)


# What readers of summary.json (report, compare, the console tables) rely on.
_RATE = Opt(NUMBER)
_STATS = {"bail_rate": _RATE, "ci_low": _RATE, "ci_high": _RATE, "n": int}
_METHOD = {**_STATS, "unknown_rate": _RATE, "categories": Opt(MapOf(_STATS)), "skipped": Opt(MapOf(int)),
           "no_refusal_bail_rate": Opt(_RATE),
           "no_refusal_bail": Opt({"rate": Opt(_RATE), "ci_low": Opt(_RATE), "ci_high": Opt(_RATE)}),
           "conversations_with_bail": Opt({"rate": _RATE, "ci_low": _RATE, "ci_high": _RATE, "n": int}),
           "per_turn": Opt(ListOf({"turn": int, "rate": _RATE, "ci_low": _RATE, "ci_high": _RATE})),
           "mean_p_bail": Opt(_RATE), "mean_symbol_mass": Opt(_RATE)}
_ABLATION = {"bail_rate": _RATE, "ci_low": _RATE, "ci_high": _RATE, "vs_baseline": {"difference": _RATE}}
SUMMARY_SHAPE = {
    "model": str, "dataset": str, "dataset_sha256": Opt(str), "kind": Opt(str), "samples": int, "n_prompts": int,
    "ablation": str, "bail_prompt_mode": Opt(Opt(str)), "prefix": Opt(Opt(str)),
    "rollouts_from": Opt(Opt({"model": str})), "methods": MapOf(_METHOD, BAIL_METHODS),
    "cross_model": Opt(MapOf(_METHOD, BAIL_METHODS)), "ablations": Opt(MapOf(MapOf(_ABLATION), BAIL_METHODS)),
    "refusal": Opt(Opt({"classifier": str, "rate": _RATE, "ci_low": Opt(_RATE), "ci_high": Opt(_RATE),
                        "n": Opt(int), "mean_p_refusal": Opt(_RATE), "description": Opt(str)})),
}
# settings that summary.json and the store's identity both record: they must agree
_SHARED = ("model", "dataset", "dataset_sha256", "seed", "max_tokens")


def read_summary(run_dir: Path) -> dict:
    """A run's summary.json, checked to have the shape its readers rely on."""
    path = run_dir / SUMMARY
    if not path.is_file():
        raise UserError(f"{run_dir} has no {SUMMARY}: pass run directories written by `bailbench run` or `realdata`")
    fix = "rerun the command that wrote the run directory to rewrite it"
    summary = read_json(path, "a run summary", fix)
    check_shape(summary, SUMMARY_SHAPE, str(path), f"it is damaged; {fix}")
    return summary


def check_same_run(run_dir: Path, summary: dict, identity: dict | None) -> None:
    """summary.json must describe the run the store holds (a directory pieced together
    from two runs would mix their numbers)."""
    identity = identity or {}
    differ = [k for k in _SHARED if k in summary and k in identity and summary[k] != identity[k]]
    if differ:
        detail = "; ".join(f"{k}: {summary[k]!r} in {SUMMARY}, {identity[k]!r} in {DB_NAME}" for k in differ)
        raise UserError(f"{run_dir}: {SUMMARY} and {DB_NAME} come from different runs ({detail}); rerun the "
                        "command that wrote the directory to rewrite its summary")


# Stores from before version 3 kept whose reply a check followed only in the key's last field.
_LEGACY_SOURCE = "CASE WHEN key LIKE '%|dataset' THEN 'dataset' ELSE '' END"


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a store written by an earlier version up to SCHEMA_VERSION (PRAGMA user_version)."""
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version < 2:  # false_bails.false_bail may be NULL: a verdict an unreadable judge answer decides
        notnull = {r[1]: r[3] for r in db.execute("PRAGMA table_info(false_bails)")}
        if notnull.get("false_bail"):
            with db:
                db.execute("ALTER TABLE false_bails RENAME TO false_bails_v1")
                db.executescript(_SCHEMA)
                db.execute("INSERT INTO false_bails SELECT * FROM false_bails_v1")
                db.execute("DROP TABLE false_bails_v1")
    if version < 3:  # samples.source: the key's last field, a column of its own (added empty above)
        with db:
            db.execute(f"UPDATE samples SET source = {_LEGACY_SOURCE}")
    if version < SCHEMA_VERSION:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def _problem(exc: sqlite3.Error, path: Path, fix: str) -> UserError:
    """One line for what SQLite reports: a full disk, a read-only or unopenable file, damage."""
    message = " ".join(str(exc).split())[:200]
    if "full" in message:
        return UserError(f"the disk is full (writing {path}); free some space and run the same command again: the "
                         "samples stored so far are kept")
    if "readonly" in message or "unable to open" in message:
        return UserError(f"cannot write {path} ({message}); choose a writable --out")
    if "locked" in message:
        return UserError(f"{path} is in use by another process ({message}); wait for it to finish")
    return UserError(f"{path} is not a bailbench run store, or is damaged ({message}); {fix}")


F = TypeVar("F", bound=Callable)


def _guarded(method: F) -> F:
    """SQLite errors of a store method become one line (the disk filling up mid-run, pages
    damaged on disk); finished samples stay stored."""
    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as exc:
            raise _problem(exc, self.path, "rerun into another --out") from None
    return call  # type: ignore[return-value]


def _same(stored, now) -> bool:
    """Equal, but for settings (nested too) that the stored identity does not hold."""
    if isinstance(stored, dict) and isinstance(now, dict):
        return all(_same(v, now.get(k)) for k, v in stored.items())
    return stored == now


class Store:
    """A run's store. `create=False` opens an existing store to read it, read-only: reading
    never changes it (no schema, no migration, no identity written). A store opened to
    write holds its directory's lock until it is closed (or dropped): a second process
    writing the same directory stops before any work."""

    def __init__(self, run_dir: Path, *, create: bool = True):
        self.path = run_dir / DB_NAME
        for name in STORE_FILES:
            refuse_link(run_dir / name)
        if not create:
            self._open_to_read(run_dir)
            return
        self.select = ",".join(COLUMNS)
        make_dir(run_dir)
        lock = lock_dir(run_dir)
        self._unlock = weakref.finalize(self, unlock_dir, lock)
        try:
            self.db = sqlite3.connect(self.path)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self._check_pages()
            self.db.executescript(_SCHEMA)
            have = {r[1] for r in self.db.execute("PRAGMA table_info(samples)")}
            for col in COLUMNS:  # stores written by earlier versions gain new columns
                if col not in have:
                    self.db.execute(f"ALTER TABLE samples ADD COLUMN {col} TEXT NOT NULL DEFAULT ''")
            _migrate(self.db)
        except (sqlite3.Error, UserError) as exc:
            if hasattr(self, "db"):
                self.db.close()
            self._unlock()
            if isinstance(exc, UserError):
                raise
            raise _problem(exc, self.path, "choose another --out") from None

    def _open_to_read(self, run_dir: Path) -> None:
        if not self.path.is_file():
            raise UserError(f"{run_dir} is not a bailbench run directory (no {DB_NAME}); pass a run's --out")
        try:
            # With no -wal file no writer is at work: open it immutable, so that not even
            # SQLite's shared-memory files appear beside it.
            quiet = "&immutable=1" if not Path(f"{self.path}-wal").exists() else ""
            self.db = sqlite3.connect(f"file:{self.path.resolve()}?mode=ro{quiet}", uri=True)
            self._check_pages()
            have = {r[1] for r in self.db.execute("PRAGMA table_info(samples)")}
        except sqlite3.Error as exc:
            raise _problem(exc, self.path, "pass a run's --out") from None
        if not have:
            raise UserError(f"{self.path} is not a bailbench run store (no samples table); pass a run's --out")
        # An older store is read as it is: columns it lacks read as their defaults. Every value
        # reads as its column's type, whatever a damaged or hand-made store holds there.
        defaults = {"source": _LEGACY_SOURCE}
        self.select = ",".join(f"CAST({c if c in have else defaults.get(c, repr(''))} AS {COLUMN_TYPES.get(c, 'TEXT')}) AS {c}"
                               for c in COLUMNS)

    def _check_pages(self) -> None:
        """Damaged pages are found before any work, not by the query that meets them."""
        bad = [r[0] for r in self.db.execute("PRAGMA quick_check(3)")]
        if bad != ["ok"]:
            found = " ".join("; ".join(map(str, bad)).split())[:200]
            raise UserError(f"{self.path} is damaged ({found}); restore it from a copy, or run again into another "
                            "--out")

    def close(self) -> None:
        self.db.close()
        if hasattr(self, "_unlock"):
            self._unlock()

    @_guarded
    def identity(self) -> dict | None:
        row = self.db.execute("SELECT value FROM meta WHERE name='identity'").fetchone()
        return self._identity_value(row[0]) if row else None

    def _identity_value(self, text: str) -> dict:
        value = parse_json(text, f"{self.path} (its identity)", "the store is damaged; run again into another --out")
        if not isinstance(value, dict):
            raise UserError(f"{self.path}: its identity is not a table; the store is damaged")
        return value

    @_guarded
    def check_identity(self, identity: dict) -> None:
        """Bind the directory to one model/dataset/setting; refuse to mix runs."""
        row = self.db.execute("SELECT value FROM meta WHERE name='identity'").fetchone()
        if row is None:
            with self.db:
                self.db.execute("INSERT INTO meta VALUES ('identity', ?)", (json.dumps(identity, sort_keys=True),))
            return
        stored = self._identity_value(row[0])
        # A setting an earlier version did not record is taken as it is now, and recorded from now on.
        diff = sorted(k for k in stored if not _same(stored[k], identity.get(k)))
        if diff:
            detail = "; ".join(f"{k}: {stored.get(k)!r} there, {identity.get(k)!r} now" for k in diff)
            raise UserError(f"{self.path.parent} holds a different run ({detail}); use another --out, or the same settings to resume")
        if identity != stored:
            with self.db:
                self.db.execute("UPDATE meta SET value=? WHERE name='identity'", (json.dumps(identity, sort_keys=True),))

    def _by_keys(self, select: str, keys: Iterable[str], *args) -> Iterator[tuple]:
        """Rows of `SELECT ... WHERE <select's conditions> AND key IN (keys)`, in chunks that
        stay under SQLite's limit on parameters; `args` fill the query's own placeholders."""
        keys = list(keys)
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            yield from self.db.execute(f"{select} key IN ({','.join('?' * len(chunk))})", [*args, *chunk])

    @_guarded
    def done_keys(self, keys: Iterable[str]) -> set[str]:
        return {r[0] for r in self._by_keys("SELECT key FROM samples WHERE", keys)}

    @_guarded
    def add(self, rows: list[SampleRow]) -> None:
        """Write one batch atomically."""
        if not rows:
            return
        q = f"INSERT OR IGNORE INTO samples ({','.join(COLUMNS)}) VALUES ({','.join('?' * len(COLUMNS))})"
        with self.db:
            self.db.executemany(q, [tuple(asdict(r)[c] for c in COLUMNS) for r in rows])

    @_guarded
    def refusals(self, keys: Iterable[str], classifier: str) -> dict[str, float | None]:
        return dict(self._by_keys("SELECT key, p_refusal FROM refusals WHERE classifier=? AND", keys, classifier))

    @_guarded
    def add_refusals(self, classifier: str, values: dict[str, float | None]) -> None:
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO refusals VALUES (?, ?, ?)",
                                [(k, classifier, v) for k, v in values.items()])

    @_guarded
    def add_conversations(self, rows: list[tuple[int, str, str, int]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO conversations VALUES (?, ?, ?, ?)", rows)

    @_guarded
    def false_bails(self, keys: Iterable[str], judge: str) -> dict[str, bool | None]:
        """The keys already judged by this judge, and their verdicts (None: unreadable)."""
        rows = self._by_keys("SELECT key, false_bail FROM false_bails WHERE judge=? AND", keys, judge)
        return {k: None if v is None else bool(v) for k, v in rows}

    @_guarded
    def add_false_bails(self, judge: str, values: list[tuple[str, list[float], bool | None]]) -> None:
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO false_bails VALUES (?, ?, ?, ?)",
                                [(k, judge, json.dumps([None if p != p else p for p in a]),
                                  None if f is None else int(f)) for k, a, f in values])

    @_guarded
    def choose(self, keys: Iterable[str]) -> None:
        """Make these samples, in this order, the ones the rates (analysis/rates.py) and
        samples.csv are about: the samples of one invocation, in a temporary table."""
        self._chosen()
        self.db.executemany("INSERT OR IGNORE INTO temp.chosen (key) VALUES (?)", ((k,) for k in keys))

    @_guarded
    def choose_where(self, select: str, args: tuple = ()) -> None:
        """As `choose`, for the keys a query over the store selects, in its order."""
        self._chosen()
        self.db.execute(f"INSERT OR IGNORE INTO temp.chosen (key) {select}", args)

    def _chosen(self) -> None:
        self.db.execute("DROP TABLE IF EXISTS temp.chosen")
        self.db.execute("CREATE TEMP TABLE chosen (ord INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE)")

    @_guarded
    def write_csv(self, path: Path) -> None:
        """The chosen samples, in their order, streamed (never all in memory)."""
        q = f"SELECT {self.select} FROM samples JOIN temp.chosen USING (key) ORDER BY ord"
        with replacing(path, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(COLUMNS)
            w.writerows(self.db.execute(q))

    @_guarded
    def get(self, keys: Iterable[str]) -> dict[str, SampleRow]:
        return {r[0]: SampleRow(*r) for r in self._by_keys(f"SELECT {self.select} FROM samples WHERE", keys)}
