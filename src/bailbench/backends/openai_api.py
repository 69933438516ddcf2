"""OpenAI-compatible chat servers (OpenAI, vLLM serve, llama.cpp server, OpenRouter, Ollama,
Together ...) through the official `openai` SDK.

The method's system text goes in a system message, the bail tool through the API's tool
calling. A chat API cannot score a forced continuation, so this backend declares the
`greedy` reading (see backends.base) where the server returns `top_logprobs` with token
bytes: the model answers greedily, and where its answer starts after the opening (the
`<wellbeing>` tag of the bail prompt; the very start for a yes/no judge) the
probabilities of the continuations' byte sequences are read off the top alternatives.
Servers without such logprobs (llama-cpp-python's server, reasoning models that reject
`logprobs`) declare `sample`, and callers sample instead and say so.

Reasoning models reject some parameters: `max_tokens` becomes `max_completion_tokens`,
and a rejected temperature is dropped (the run records that none was sent); both are
learnt from the server's own 400 answer, once.

With `batch`, generations go through OpenAI's Batch API (backends.batch); the probe (sent
before the first job, so that jobs carry only parameters the model takes) and the greedy
readings stay real-time. OpenAI caches a repeated prefix of 1024 tokens or more by
itself: requests put what repeats first (tools, system, then the conversation), and the
cached tokens it reports are kept per generation.

Keys: OPENAI_API_KEY goes only to OpenAI's own endpoint; another `--base-url` gets the
key named by `--api-key-env`, or none.
"""

from __future__ import annotations

import json
import math
import time
from typing import Sequence, TypeGuard

from ..chat.types import Chat, Message
from ..errors import UserError
from .base import GREEDY, SAMPLE, Capabilities, Generation, GenerationRequest, Reading, Score
from .batch import OpenAIBatches
from .http import ApiBackend, RetryPolicy, bounded_map, endpoint_key

OPENAI_URL = "https://api.openai.com/v1"
TOP_LOGPROBS = 20
CHECK_TOKENS = 24  # greedy tokens allowed before the model writes the opening and its answer


class NoLogprobs(UserError):
    """The server rejects `logprobs` for this model."""


def check_completion(resp: object, where: str) -> dict:
    """A chat completion as the rest of the backend reads it, or one line saying the server
    answered something else (a web page, an error page with status 200, another API)."""
    choices = resp.get("choices") if isinstance(resp, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    if not (isinstance(resp, dict) and isinstance(first, dict) and isinstance(first.get("message"), dict)):
        what = "no JSON object" if not isinstance(resp, dict) else "no choices with a message"
        raise UserError(f"{where} answered with {what}, not an OpenAI chat completion; check --base-url (an "
                        "OpenAI-compatible server's address, usually ending in /v1)")
    return resp


def chat_messages(chat: Chat) -> list[dict]:
    """Messages for a chat API: the method's system text as (or appended to) the system message."""
    messages = [m.as_dict() for m in chat.messages]
    if chat.system_addition:
        if messages and messages[0]["role"] == "system":
            messages[0] = {"role": "system", "content": messages[0]["content"] + "\n" + chat.system_addition}
        else:
            messages.insert(0, {"role": "system", "content": chat.system_addition})
    return messages


def _raw(t: dict) -> bytes:
    return bytes(t["bytes"]) if t.get("bytes") is not None else t["token"].encode("utf-8")


def greedy_logprobs(tokens: list[dict], continuations: Sequence[str], opening: str) -> list[float] | None:
    """Log-probabilities of each continuation where a greedy answer starts after `opening`.

    `tokens` are the answer's tokens, each {"bytes", "logprob", "top_logprobs": [...]}.
    The opening may end inside a token (`>` merged with what follows): alternatives there
    must hold the same opening bytes. Whitespace the model writes first is passed over: the
    reading is taken where it writes its first other byte, whitespace merged into a token
    there ignored. Along the greedy path each continuation is followed while the path
    spells it; where the path leaves it, its best-fitting alternative decides and bytes
    still to come are taken as certain. None when the answer never writes the opening.
    """
    text = b"".join(_raw(t) for t in tokens)
    at = text.find(opening.encode())
    if at < 0:
        return None
    end = at + len(opening.encode())
    starts, pos = [], 0
    for t in tokens:
        starts.append(pos)
        pos += len(_raw(t))
    k = next((i for i, t in enumerate(tokens) if starts[i] <= end < starts[i] + len(_raw(t))), None)
    if k is None:
        return None  # nothing written after the opening
    head = text[starts[k]:end]

    def body(raw: bytes, first: bool) -> bytes | None:
        """What a token at the reading position adds to the answer (None: not after this opening)."""
        if not first:
            return raw
        if not raw.startswith(head):
            return None
        return raw[len(head):].lstrip()

    while k < len(tokens) and body(_raw(tokens[k]), True) == b"":  # whitespace first: read further on
        k, head = k + 1, b""
    if k == len(tokens):
        return None

    def fits(piece: bytes | None, want: bytes) -> TypeGuard[bytes]:
        return bool(piece and (want.startswith(piece) or piece.startswith(want)))

    out = []
    for cont in continuations:
        want, total = cont.encode("utf-8"), 0.0
        for i, t in enumerate(tokens[k:]):
            chosen = body(_raw(t), i == 0)
            if fits(chosen, want):
                total += t["logprob"]
                want = want[len(chosen):]
                if not want:
                    break
                continue
            alts = [a["logprob"] for a in t.get("top_logprobs") or [] if fits(body(_raw(a), i == 0), want)]
            total = total + max(alts) if alts else -math.inf
            break
        else:
            if want:
                total = -math.inf
        out.append(total)
    return out


class OpenAIBackend(ApiBackend):
    key_var = "OPENAI_API_KEY"
    tool_format = "hermes"  # unused: tool calls come back structured

    def __init__(self, model: str, *, spec: str, base_url: str | None = None, api_key_env: str | None = None,
                 concurrency: int = 16, timeout: float = 120.0, retry: RetryPolicy | None = None, cache: bool = True,
                 batch: bool = False):
        try:
            import openai
        except ImportError as exc:
            raise UserError("the openai backend needs the openai SDK: pip install 'bailbench[api]'") from exc
        super().__init__(openai, model=model, spec=spec, base_url=base_url or OPENAI_URL,
                         concurrency=concurrency, retry=retry, cache=cache, timeout=timeout, batch=batch)
        key, self.key_hint = endpoint_key(self.key_var, base_url=self.base_url, official=OPENAI_URL,
                                          api_key_env=api_key_env, provider=spec)
        self.client = openai.OpenAI(api_key=key or "none", base_url=self.base_url, max_retries=0, timeout=timeout)
        self._reading: Reading | None = None
        self._max_key = "max_tokens"
        self._dropped: set[str] = set()  # sampling parameters the server rejected for this model

    @property
    def capabilities(self) -> Capabilities:  # type: ignore[override]
        if self._reading is None:
            self._reading = GREEDY if self._probe_logprobs() else SAMPLE
        return Capabilities(reading=self._reading, api_tools=True, temperature="temperature" not in self._dropped)

    def _wire(self, body: dict) -> dict:
        sent = {k: v for k, v in body.items() if k not in self._dropped}
        if "max_tokens" in sent and self._max_key != "max_tokens":
            sent[self._max_key] = sent.pop("max_tokens")
        return sent

    def _batches(self) -> OpenAIBatches:
        return OpenAIBatches(self.client)

    def _job_wire(self, body: dict) -> dict:
        self.capabilities  # noqa: B018 - the real-time probe learns what the model refuses before a job carries it
        return self._wire(body)

    def _send(self, body: dict) -> dict:
        while True:
            sent = self._wire(body)
            try:
                answer = self.client.chat.completions.create(**sent)
            except self.sdk.BadRequestError as exc:
                if not self._learn(str(exc).lower(), sent):
                    raise
                continue
            except json.JSONDecodeError:  # a body that says it is JSON and is not
                answer = None
            return check_completion(answer.model_dump() if hasattr(answer, "model_dump") else answer, self.base_url)

    def _learn(self, message: str, sent: dict) -> bool:
        """Adapt to a parameter the server rejects for this model (reasoning models)."""
        if "max_tokens" in sent and "max_completion_tokens" in message:
            self._max_key = "max_completion_tokens"
            return True
        if "logprobs" in sent and "logprobs" in message:
            raise NoLogprobs(f"{self.base_url} gives no logprobs for {self.model_id}")
        unsupported = any(w in message for w in ("unsupported", "not supported", "does not support"))
        for param in ("temperature", "top_p", "seed"):
            if unsupported and param in sent and param in message:
                self._dropped.add(param)
                return True
        return False

    def _body(self, chat: Chat, *, temperature: float, max_tokens: int, seed: int | None, **extra) -> dict:
        body = {"model": self.model_id, "messages": chat_messages(chat), "temperature": temperature,
                "top_p": 1.0, "max_tokens": max_tokens, **extra}
        if seed is not None:
            body["seed"] = seed
        if chat.tools:
            body["tools"] = [t.openai_schema() for t in chat.tools]
        return body

    def _prepare(self, req: GenerationRequest) -> tuple[dict, str]:
        if req.chat.assistant_prefix:
            raise ValueError("chat APIs cannot force the start of a reply")
        return self._body(req.chat, temperature=req.temperature, max_tokens=req.max_tokens, seed=req.seed), \
            self.base_url

    def _generation(self, body: dict, resp: dict, seconds: float) -> Generation:
        text, calls, prompt_tokens, completion_tokens, finish = parse_chat_response(
            check_completion(resp, self.base_url))
        cached = ((resp.get("usage") or {}).get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        return Generation(_rendered(body), text=text, tool_calls=calls, prompt_tokens=prompt_tokens,
                             completion_tokens=completion_tokens, finish_reason=finish, seconds=seconds,
                             cached_tokens=cached)

    def _probe_logprobs(self) -> bool:
        """Asked of the server once: does it return top_logprobs with each token's bytes?
        (Without bytes, the partial-UTF-8 tokens that spell an emoji cannot be read.)"""
        body = self._body(Chat((Message("user", "Say hi."),)), temperature=0.0, max_tokens=1, seed=0,
                          logprobs=True, top_logprobs=5)
        try:
            choice = self._request(body)["choices"][0]
        except NoLogprobs:
            return False
        tokens = (choice.get("logprobs") or {}).get("content") or []
        return bool(tokens) and all(t.get("bytes") is not None and t.get("top_logprobs") for t in tokens)

    def read_greedy(self, chats: Sequence[Chat], continuations: Sequence[str], opening: str) -> list[Score]:
        return bounded_map(lambda c: self._read_one(c, continuations, opening), chats, self.concurrency)

    def _read_one(self, chat: Chat, continuations: Sequence[str], opening: str) -> Score:
        body = self._body(Chat(chat.messages, chat.system_addition, chat.tools), temperature=0.0,
                          max_tokens=CHECK_TOKENS, seed=0, logprobs=True, top_logprobs=TOP_LOGPROBS)
        start = time.perf_counter()
        resp = self._request(body)
        tokens = (resp["choices"][0].get("logprobs") or {}).get("content") or []
        lps = greedy_logprobs(tokens, continuations, opening)
        usage = resp.get("usage") or {}
        if lps is None:  # the model never wrote the opening: no reading, counted as unknown
            lps = [-math.inf] * len(continuations)
        return Score(_rendered(body), lps, usage.get("prompt_tokens") or 0, seconds=time.perf_counter() - start,
                     text=resp["choices"][0]["message"].get("content") or "")


def parse_chat_response(resp: dict) -> tuple[str, list[str], int, int, str]:
    """(text, names of tools called, prompt tokens, completion tokens, finish reason)."""
    choice = resp["choices"][0]
    msg = choice["message"]
    calls = [c["function"]["name"] for c in msg.get("tool_calls") or [] if c.get("function")]
    usage = resp.get("usage") or {}
    return (msg.get("content") or "", calls, usage.get("prompt_tokens") or 0,
            usage.get("completion_tokens") or 0, choice.get("finish_reason") or "")


def _rendered(body: dict) -> str:
    return json.dumps(body, ensure_ascii=False, indent=1)
