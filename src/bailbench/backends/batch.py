"""Providers' batch APIs (OpenAI's Batch API, Anthropic's Message Batches): the same
requests at half the price, answered within hours instead of seconds.

Each request becomes an item whose custom_id is a hash of the request itself, so one
request has one id in every run. The ledger, a SQLite file of its own in the run
directory, records a job's id and items in the same transaction that follows the
provider's acceptance, before any waiting: a run killed at any point finds its open jobs
there and collects them instead of paying for them again, and answers already collected
are read back from it. Items that fail or expire go into a new job, up to `max_attempts`.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Protocol, Sequence, TypeVar

from ..errors import ServiceError

T = TypeVar("T")
Call = Callable[[Callable[[], T]], T]  # runs one SDK call with the backend's retries and error mapping


def custom_id(scope: str, body: dict) -> str:
    """A stable id for one request (both providers accept up to 64 of [A-Za-z0-9_-])."""
    text = scope + "\n" + json.dumps(body, sort_keys=True, ensure_ascii=False)
    return "bb-" + hashlib.sha256(text.encode()).hexdigest()[:40]


@dataclass(frozen=True)
class Item:
    """One result of a job: the response as real-time mode gets it, or why there is none."""

    custom_id: str
    response: dict | None
    error: str = ""


@dataclass(frozen=True)
class JobStatus:
    """What a provider says of a job when polled: its state, and its items done (answered or
    failed) of all, where it counts them."""

    ended: bool
    state: str
    done: int | None = None
    total: int | None = None

    def line(self, provider: str, job: str) -> str:
        counts = f"{self.done:,} of {self.total:,} requests done, " if self.total else ""
        return f"{provider} batch {job}: {counts}{self.state}"


class Provider(Protocol):
    """One provider's batch endpoints, called through `Call`."""

    name: str

    def submit(self, items: Sequence[tuple[str, dict]]) -> str:
        """Create a job of (custom_id, request body) items; its id."""

    def status(self, job_id: str) -> JobStatus:
        """Whether the job has finished (answered, failed, expired or cancelled), and how far it is."""

    def results(self, job_id: str) -> list[Item]:
        """Every result the finished job holds (items it never ran may be missing)."""


class Ledger:
    """Jobs and their items, in a SQLite file that survives kill -9 (WAL, one transaction per change)."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(
            "CREATE TABLE IF NOT EXISTS jobs (job_id TEXT PRIMARY KEY, provider TEXT NOT NULL, "
            "  submitted REAL NOT NULL, collected INTEGER NOT NULL DEFAULT 0);"
            "CREATE TABLE IF NOT EXISTS items (custom_id TEXT PRIMARY KEY, job_id TEXT NOT NULL, "
            "  attempts INTEGER NOT NULL, response TEXT, error TEXT NOT NULL DEFAULT '');")

    def close(self) -> None:
        self.db.close()

    def record(self, job_id: str, provider: str, ids: Sequence[str]) -> None:
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.execute("INSERT INTO jobs (job_id, provider, submitted) VALUES (?, ?, ?)",
                            (job_id, provider, time.time()))
            self.db.executemany(
                "INSERT INTO items (custom_id, job_id, attempts) VALUES (?, ?, 1) ON CONFLICT (custom_id) "
                "DO UPDATE SET job_id = excluded.job_id, attempts = attempts + 1, error = ''",
                [(i, job_id) for i in ids])

    def open_jobs(self, ids: Sequence[str]) -> list[str]:
        """Uncollected jobs that hold any of these items, oldest first."""
        found = set()
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            found |= {r[0] for r in self.db.execute(
                f"SELECT DISTINCT i.job_id FROM items i JOIN jobs j USING (job_id) WHERE j.collected = 0 "
                f"AND i.response IS NULL AND i.custom_id IN ({marks})", chunk)}
        return [r[0] for r in self.db.execute("SELECT job_id FROM jobs ORDER BY submitted") if r[0] in found]

    def collect(self, job_id: str, results: Sequence[Item]) -> None:
        """The job's results in; its items without one are failed (the job ran out or failed)."""
        with self.db:
            self.db.execute("BEGIN IMMEDIATE")
            for item in results:
                self.db.execute("UPDATE items SET response = ?, error = ? WHERE custom_id = ? AND job_id = ?",
                                (json.dumps(item.response) if item.response is not None else None, item.error,
                                 item.custom_id, job_id))
            self.db.execute("UPDATE items SET error = 'no result in the finished job' WHERE job_id = ? "
                            "AND response IS NULL AND error = ''", (job_id,))
            self.db.execute("UPDATE jobs SET collected = 1 WHERE job_id = ?", (job_id,))

    def state(self, ids: Sequence[str]) -> dict[str, tuple[dict | None, str, int]]:
        """(response, error, attempts) of each item the ledger holds."""
        out = {}
        for chunk in _chunks(list(ids), 500):
            marks = ",".join("?" * len(chunk))
            for cid, resp, error, attempts in self.db.execute(
                    f"SELECT custom_id, response, error, attempts FROM items WHERE custom_id IN ({marks})", chunk):
                out[cid] = (json.loads(resp) if resp is not None else None, error, attempts)
        return out


def _say(line: str) -> None:
    from .. import console

    console.err.print(line, markup=False, highlight=False, soft_wrap=True)


def _chunks(xs: list[T], n: int) -> list[list[T]]:
    return [xs[i:i + n] for i in range(0, len(xs), n)]


@dataclass(frozen=True)
class BatchPolicy:
    poll_seconds: float = 30.0  # first wait between polls; doubles up to `max_poll_seconds`
    max_poll_seconds: float = 300.0
    max_attempts: int = 3  # submissions of one item before the run stops with its error
    job_size: int = 10_000  # items per job (OpenAI takes 50,000, Anthropic 100,000)


class BatchClient:
    """Answers of many requests through a provider's batch API, with the ledger at `ledger_path`."""

    def __init__(self, provider: Provider, ledger_path: Path, call: Call, policy: BatchPolicy | None = None,
                 wire: Callable[[dict], dict] = lambda body: body, notify: Callable[[str], None] | None = None):
        self.wire = wire  # a body as it goes into a job (ids stay those of the request)
        self.notify = notify or _say  # a line for the user each time a job is submitted or moves on
        self.provider = provider
        self.ledger_path = ledger_path
        self.call = call
        self.policy = policy or BatchPolicy()

    def run(self, bodies: dict[str, dict]) -> dict[str, dict]:
        """{custom_id: response} for every request in `bodies` ({custom_id: body})."""
        ledger = Ledger(self.ledger_path)
        try:
            ids = list(bodies)
            for job in ledger.open_jobs(ids):  # a run before this one submitted them: collect, never resubmit
                self._collect(ledger, job)
            while True:
                state = ledger.state(ids)
                todo = [i for i in ids if state.get(i, (None,))[0] is None]
                if not todo:
                    return {i: state[i][0] for i in ids}  # type: ignore[misc]
                spent = [i for i in todo if state.get(i, (None, "", 0))[2] >= self.policy.max_attempts]
                if spent:
                    raise ServiceError(f"{self.provider.name} batch: {len(spent)} request(s) failed "
                                       f"{self.policy.max_attempts} times (last: {state[spent[0]][1]}); "
                                       "collected answers are kept: rerun the same command to resume")
                for chunk in _chunks(todo, self.policy.job_size):
                    job = self.call(partial(self.provider.submit, [(i, self.wire(bodies[i])) for i in chunk]))
                    ledger.record(job, self.provider.name, chunk)
                    self.notify(f"{self.provider.name} batch {job}: {len(chunk):,} requests submitted "
                                f"(ledger {self.ledger_path}; a rerun collects it, never resubmits)")
                for job in ledger.open_jobs(todo):
                    self._collect(ledger, job)
        finally:
            ledger.close()

    def _collect(self, ledger: Ledger, job: str) -> None:
        wait, said = self.policy.poll_seconds, None
        while True:
            status = self.call(partial(self.provider.status, job))
            if status.line(self.provider.name, job) != said:  # a line when the job moves on, not every poll
                said = status.line(self.provider.name, job)
                self.notify(said)
            if status.ended:
                break
            time.sleep(wait)
            wait = min(wait * 2, self.policy.max_poll_seconds)
        results = self.call(partial(self.provider.results, job))
        ledger.collect(job, results)
        failed = sum(1 for r in results if r.response is None)
        self.notify(f"{self.provider.name} batch {job} collected: {len(results) - failed:,} answered, {failed:,} failed")


class OpenAIBatches:
    """OpenAI's Batch API: a JSONL file of requests, a batch over it, output and error files."""

    name = "openai"
    ENDED = ("completed", "failed", "expired", "cancelled")

    def __init__(self, client, endpoint: str = "/v1/chat/completions"):
        self.client = client
        self.endpoint = endpoint

    def submit(self, items: Sequence[tuple[str, dict]]) -> str:
        lines = "".join(json.dumps({"custom_id": cid, "method": "POST", "url": self.endpoint, "body": body},
                                   ensure_ascii=False) + "\n" for cid, body in items)
        upload = self.client.files.create(file=("bailbench-batch.jsonl", lines.encode()), purpose="batch")
        return self.client.batches.create(input_file_id=upload.id, endpoint=self.endpoint,
                                          completion_window="24h").id

    def status(self, job_id: str) -> JobStatus:
        job = self.client.batches.retrieve(job_id)
        counts = job.request_counts
        done = None if counts is None else (counts.completed or 0) + (counts.failed or 0)
        return JobStatus(job.status in self.ENDED, job.status, done, None if counts is None else counts.total)

    def results(self, job_id: str) -> list[Item]:
        job = self.client.batches.retrieve(job_id)
        out = []
        for file_id in (job.output_file_id, job.error_file_id):
            if not file_id:
                continue
            for line in self.client.files.content(file_id).text.splitlines():
                if line.strip():
                    out.append(_openai_item(json.loads(line)))
        return out


def _openai_item(row: dict) -> Item:
    resp = row.get("response") or {}
    if resp.get("status_code") == 200 and isinstance(resp.get("body"), dict):
        return Item(row["custom_id"], resp["body"])
    error = row.get("error") or (resp.get("body") or {}).get("error") or {}
    return Item(row["custom_id"], None, f"HTTP {resp.get('status_code', '-')}: {error.get('message') or error}"[:300])


class AnthropicBatches:
    """Anthropic's Message Batches: requests inline, results as JSONL."""

    name = "anthropic"

    def __init__(self, client):
        self.client = client

    def submit(self, items: Sequence[tuple[str, dict]]) -> str:
        return self.client.messages.batches.create(
            requests=[{"custom_id": cid, "params": body} for cid, body in items]).id

    def status(self, job_id: str) -> JobStatus:
        job = self.client.messages.batches.retrieve(job_id)
        c = job.request_counts
        done = c.succeeded + c.errored + c.canceled + c.expired
        return JobStatus(job.processing_status == "ended", job.processing_status, done, done + c.processing)

    def results(self, job_id: str) -> list[Item]:
        out = []
        for row in self.client.messages.batches.results(job_id):
            result = row.result
            if result.type == "succeeded":
                out.append(Item(row.custom_id, result.message.model_dump()))
            else:
                error = getattr(getattr(result, "error", None), "error", None)
                out.append(Item(row.custom_id, None, f"{result.type}: {getattr(error, 'message', '')}"[:300]))
        return out
