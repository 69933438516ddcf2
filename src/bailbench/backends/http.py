"""What the API backends share: keys, retries with backoff, bounded concurrency, a
response cache keyed by the full request, so a rerun costs nothing, and the providers'
batch APIs (backends.batch) behind the same `generate`; `ApiBackend` puts them together."""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import sqlite3
import threading
import time
from abc import abstractmethod
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NoReturn, Sequence, TypeVar
from urllib.parse import urlsplit

from ..errors import ServiceError, UserError
from ..paths import cache_dir
from .base import Backend, Generation, GenerationRequest
from .batch import BatchClient, BatchPolicy, Provider, custom_id

T = TypeVar("T")
R = TypeVar("R")
LEDGER = "batch_jobs.sqlite"  # the batch job ledger's file name, in the run directory
BATCH_GROUPS = 10_000  # (prompt, sample) groups handed over at once in batch mode: one job per wave


def read_dotenv(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file (comments, `export` and quotes allowed)."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    try:
        text = path.read_text("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path} cannot be read as UTF-8 text ({_short(exc)}); fix it or remove it "
                        "(bailbench reads API keys from it)") from None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.removeprefix("export ").partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def api_key(var: str, *, required: bool, provider: str) -> str | None:
    """The key from the environment, else from ./.env; a clear error before any work when missing."""
    key = os.environ.get(var) or read_dotenv(Path.cwd() / ".env").get(var)
    if not key and required:
        raise UserError(f"no API key for {provider}: set {var} in the environment or in a .env file")
    return key or None


def _short(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0][:120]


def check_base_url(url: str) -> str:
    """An address the SDK can reach, or one line now (not a minute of retries and an
    "outage" later)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a port that is not a number)
    except ValueError as exc:
        raise UserError(f"--base-url {url!r} is not a server address ({_short(exc)}); pass "
                        "http(s)://HOST[:PORT]/v1, e.g. http://127.0.0.1:8000/v1") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise UserError(f"--base-url {url!r} is not a server address; pass http(s)://HOST[:PORT]/v1, "
                        "e.g. http://127.0.0.1:8000/v1")
    return url


def check_timeout(timeout: float | None) -> None:
    if timeout is not None and not (isinstance(timeout, (int, float)) and math.isfinite(timeout) and timeout > 0):
        raise UserError(f"--timeout {timeout}: seconds per request must be a number above 0 (default: the backend's)")


def _host(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower()


def endpoint_key(default_var: str, *, base_url: str, official: str, api_key_env: str | None,
                 provider: str) -> tuple[str | None, str]:
    """(the key to send, how to fix a refused one). A provider's own key variable goes only
    to the provider's own endpoint, so a user's key never reaches another server by
    accident; any other server gets the variable named by `api_key_env`, or no key."""
    if api_key_env:
        return api_key(api_key_env, required=True, provider=provider), f"set {api_key_env} in the environment or .env"
    if _host(base_url) == _host(official):
        return api_key(default_var, required=True, provider=provider), f"set {default_var} in the environment or .env"
    return None, f"pass --api-key-env NAME, the variable holding the key of {base_url} ({default_var} goes only to {official})"


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 6
    base_delay: float = 1.0
    max_delay: float = 60.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Full-jitter exponential backoff; a server's Retry-After wins when it asks for longer."""
        backoff = random.uniform(0, min(self.max_delay, self.base_delay * 2 ** attempt))
        return max(backoff, min(retry_after or 0.0, self.max_delay))


@dataclass
class Transient(Exception):
    """A failure worth retrying (429, 5xx, 529, timeout, dropped connection)."""

    reason: str
    retry_after: float | None = None


def with_retries(call: Callable[[], R], policy: RetryPolicy, where: str) -> R:
    for attempt in range(policy.max_retries + 1):
        try:
            return call()
        except Transient as exc:
            if attempt == policy.max_retries:
                raise ServiceError(f"{where} kept failing ({exc.reason}) after {policy.max_retries} retries; "
                                   "finished samples are saved: rerun the same command to resume") from None
            time.sleep(policy.delay(attempt, exc.retry_after))
    raise AssertionError("unreachable")


def raise_for_status(status: int, *, retry_after: str | None, where: str, model: str, key_hint: str,
                     detail: str = "") -> NoReturn:
    """Turn an API error status into a retry (429, 5xx, 529 overloaded) or a clear error."""
    if status in (429, 529) or status >= 500:
        raise Transient(f"HTTP {status}", parse_retry_after(retry_after))
    if status in (401, 403):
        raise UserError(f"{where} refused the API key (HTTP {status}): {key_hint}")
    if status == 404:
        raise UserError(f"{where} has no model {model!r} (HTTP 404): check --model")
    raise UserError(f"{where} rejected the request (HTTP {status}{': ' + detail if detail else ''})")


def parse_retry_after(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def bounded_map(fn: Callable[[T], R], items: Sequence[T], concurrency: int) -> list[R]:
    """fn over items with at most `concurrency` in flight, results in order."""
    if concurrency <= 1 or len(items) <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(items))) as pool:
        return list(pool.map(fn, items))


class ResponseCache:
    """SQLite map from the hash of a full request (never the key) to its response."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, response TEXT NOT NULL)")
        self.db.commit()

    @staticmethod
    def key(scope: str, body: dict) -> str:
        return hashlib.sha256((scope + "\n" + json.dumps(body, sort_keys=True, ensure_ascii=False)).encode()).hexdigest()

    def get(self, key: str) -> dict | None:
        with self._lock:
            row = self.db.execute("SELECT response FROM responses WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, response: dict) -> None:
        with self._lock, self.db:
            self.db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?)", (key, json.dumps(response)))

    def cached(self, scope: str, body: dict, fetch: Callable[[], dict]) -> dict:
        k = self.key(scope, body)
        hit = self.get(k)
        if hit is not None:
            return hit
        response = fetch()
        self.put(k, response)
        return response


class ApiBackend(Backend):
    """A model behind an HTTP API through its official SDK (openai, anthropic: both raise
    APIStatusError, APITimeoutError and APIConnectionError): requests in flight up to
    `concurrency`, retried, and answered from the response cache when seen before."""

    key_var: str  # the environment variable holding the provider's own key
    key_hint: str  # how to fix a refused key

    def __init__(self, sdk, *, model: str, spec: str, base_url: str, concurrency: int, retry: RetryPolicy | None,
                 cache: bool, timeout: float | None = None, batch: bool = False):
        check_timeout(timeout)
        self.sdk = sdk
        self.spec = spec
        self.model_id = model
        self.base_url = check_base_url(base_url)
        self.concurrency = concurrency
        self.batch_size = max(1, concurrency)
        self.retry = retry or RetryPolicy()
        self.cache = ResponseCache(cache_dir() / "responses.sqlite") if cache else None
        self.batch = batch
        self.batch_policy = BatchPolicy()
        self.ledger_path = cache_dir() / LEDGER  # until bind() names the run directory
        if batch:
            self.batch_size = BATCH_GROUPS

    def bind(self, run_dir: Path) -> None:
        """Keep the batch job ledger in the run directory, beside the samples it pays for."""
        self.ledger_path = Path(run_dir) / LEDGER

    def identity(self) -> dict:
        return {"model_id": self.model_id, "base_url": self.base_url}

    @abstractmethod
    def _send(self, body: dict) -> dict:
        """One call through the SDK, its response as a dict."""

    def _call(self, fn: Callable[[], R]) -> R:
        """One SDK call, retried on transient failures; other API errors as one clear line."""
        def call() -> R:
            try:
                return fn()
            except self.sdk.APIStatusError as exc:
                raise_for_status(exc.status_code, retry_after=exc.response.headers.get("retry-after"),
                                 where=self.base_url, model=self.model_id, key_hint=self.key_hint,
                                 detail=_message(exc))
            except (self.sdk.APITimeoutError, self.sdk.APIConnectionError) as exc:
                raise Transient(type(exc).__name__) from None

        return with_retries(call, self.retry, self.base_url)

    def _request(self, body: dict, scope: str | None = None) -> dict:
        fetch = lambda: self._call(lambda: self._send(body))  # noqa: E731
        return self.cache.cached(scope or self.base_url, body, fetch) if self.cache else fetch()

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        if self.batch:
            return self._generate_batch(requests)
        return bounded_map(self._generate_one, requests, self.concurrency)

    def _generate_one(self, req: GenerationRequest) -> Generation:
        body, scope = self._prepare(req)
        start = time.perf_counter()
        return self._generation(body, self._request(body, scope), time.perf_counter() - start)

    def _generate_batch(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        """All requests through the provider's batch API (one job per `job_size`); answers the
        response cache already holds are not sent, and every answer is cached as in real time."""
        prepared = [self._prepare(r) for r in requests]
        keys = [ResponseCache.key(scope, body) for body, scope in prepared]
        ids = [custom_id(scope, body) for body, scope in prepared]  # of the request, not of how it was sent
        answers = {i: hit for i, k in zip(ids, keys) if self.cache and (hit := self.cache.get(k)) is not None}
        todo = {i: body for i, (body, _) in zip(ids, prepared) if i not in answers}
        if todo:
            client = BatchClient(self._batches(), self.ledger_path, self._call, self.batch_policy, self._job_wire)
            answers |= client.run(todo)
            if self.cache:
                for i, k in zip(ids, keys):
                    self.cache.put(k, answers[i])
        return [self._generation(body, answers[i], 0.0) for (body, _), i in zip(prepared, ids)]

    @abstractmethod
    def _prepare(self, req: GenerationRequest) -> tuple[dict, str]:
        """(the request body, its response-cache scope)."""

    def _wire(self, body: dict) -> dict:
        """The body as it goes out (a backend may adapt parameters the server rejects)."""
        return body

    def _job_wire(self, body: dict) -> dict:
        """The body as it goes into a batch job."""
        return self._wire(body)

    @abstractmethod
    def _generation(self, body: dict, resp: dict, seconds: float) -> Generation:
        """The provider's response to `body`, read."""

    @abstractmethod
    def _batches(self) -> Provider:
        """The provider's batch endpoints."""


def _message(exc) -> str:
    """The server's own error message, short."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict) and isinstance(body.get("error"), dict) and body["error"].get("message"):
        return str(body["error"]["message"])[:200]
    return str(getattr(exc, "message", exc))[:200]
