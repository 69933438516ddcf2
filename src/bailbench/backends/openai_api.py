"""OpenAI-compatible chat servers (OpenAI, vLLM serve, llama.cpp server, OpenRouter, Ollama,
Together ...) through the official `openai` SDK.

The method's system text goes in a system message, the bail tool through the API's tool
calling. The bail prompt is read from logprobs when the server returns `top_logprobs`:
the model answers the check greedily, and at the first token after its `<wellbeing>` the
probabilities of the two symbols' byte sequences are read off the top alternatives (a
symbol's bytes not yet decided there are taken as certain). Servers without logprobs get
the bail prompt sampled, and the run says so. So do servers whose logprobs lack token
bytes (llama-cpp-python's server): an emoji spans several partial-UTF-8 tokens that only
bytes can spell.
"""

from __future__ import annotations

import json
import math
import time
from typing import Sequence

from ..chat.types import Chat, Message
from ..errors import UserError
from ..methods.wordings import tag
from .base import Generation, GenerationRequest, Score
from .http import ApiBackend, RetryPolicy, api_key, bounded_map

TOP_LOGPROBS = 20
CHECK_TOKENS = 24  # greedy tokens allowed before the model writes <wellbeing> and its symbol


def chat_messages(chat: Chat) -> list[dict]:
    """Messages for a chat API: the method's system text as (or appended to) the system message."""
    messages = [m.as_dict() for m in chat.messages]
    if chat.system_addition:
        if messages and messages[0]["role"] == "system":
            messages[0] = {"role": "system", "content": messages[0]["content"] + "\n" + chat.system_addition}
        else:
            messages.insert(0, {"role": "system", "content": chat.system_addition})
    return messages


def symbol_logprobs(tokens: list[dict], symbols: Sequence[str], opening: str) -> list[float] | None:
    """Log-probabilities of each symbol right after `opening`, from a greedy answer's
    per-token `top_logprobs` (each token: {"bytes": [...], "logprob": x, "top_logprobs": [...]});
    None when the answer never writes `opening`."""

    def raw(t: dict) -> bytes:
        return bytes(t["bytes"]) if t.get("bytes") is not None else t["token"].encode("utf-8")

    seen = b""
    start = None
    for i, t in enumerate(tokens):
        if seen.endswith(opening.encode()):
            start = i
            break
        seen += raw(t)
    if start is None:
        return None
    out = []
    for symbol in symbols:
        want = symbol.encode("utf-8")
        total = 0.0
        for t in tokens[start:]:
            chosen = raw(t)
            if chosen and (want.startswith(chosen) or chosen.startswith(want)):  # greedy path spells it
                total += t["logprob"]
                want = want[len(chosen):]
                if not want:
                    break
                continue
            fits = [a for a in t.get("top_logprobs") or []
                    if raw(a) and (want.startswith(raw(a)) or raw(a).startswith(want))]
            # Where the greedy path leaves the symbol, its best-fitting alternative decides;
            # bytes of the symbol still to come are taken as certain.
            total = total + max(a["logprob"] for a in fits) if fits else -math.inf
            break
        else:
            if want:
                total = -math.inf
        out.append(total)
    return out


class OpenAIBackend(ApiBackend):
    key_var = "OPENAI_API_KEY"
    tool_format = "hermes"  # unused: tool calls come back structured

    def __init__(self, model: str, *, spec: str, base_url: str | None = None, concurrency: int = 16,
                 timeout: float = 120.0, retry: RetryPolicy | None = None, cache: bool = True):
        try:
            import openai
        except ImportError as exc:
            raise UserError("the openai backend needs the openai SDK: pip install 'bailbench[api]'") from exc
        super().__init__(openai, model=model, spec=spec, base_url=base_url or "https://api.openai.com/v1",
                         concurrency=concurrency, retry=retry, cache=cache)
        # OpenAI itself needs a key; local servers often need none.
        key = api_key(self.key_var, required=base_url is None, provider=spec)
        self.client = openai.OpenAI(api_key=key or "none", base_url=self.base_url, max_retries=0, timeout=timeout)
        self._logprobs: bool | None = None

    def _send(self, body: dict) -> dict:
        return self.client.chat.completions.create(**body).model_dump()

    def _body(self, chat: Chat, *, temperature: float, max_tokens: int, seed: int | None, **extra) -> dict:
        body = {"model": self.model_id, "messages": chat_messages(chat), "temperature": temperature,
                "top_p": 1.0, "max_tokens": max_tokens, **extra}
        if seed is not None:
            body["seed"] = seed
        if chat.tools:
            body["tools"] = [t.openai_schema() for t in chat.tools]
        return body

    def _generate_one(self, req: GenerationRequest) -> Generation:
        if req.chat.assistant_prefix:
            raise ValueError("chat APIs cannot force the start of a reply")
        body = self._body(req.chat, temperature=req.temperature, max_tokens=req.max_tokens, seed=req.seed)
        start = time.perf_counter()
        text, calls, prompt_tokens, completion_tokens, finish = parse_chat_response(self._request(body))
        return Generation(_rendered(body), text=text, tool_calls=calls, prompt_tokens=prompt_tokens,
                          completion_tokens=completion_tokens, finish_reason=finish,
                          seconds=time.perf_counter() - start)

    @property
    def supports_logprobs(self) -> bool:  # type: ignore[override]
        """Asked of the server once: does it return top_logprobs with each token's bytes?
        (Without bytes, the partial-UTF-8 tokens that spell an emoji cannot be read.)"""
        if self._logprobs is None:
            body = self._body(Chat((Message("user", "Say hi."),)), temperature=0.0, max_tokens=1, seed=0,
                              logprobs=True, top_logprobs=5)
            choice = self._request(body)["choices"][0]
            tokens = (choice.get("logprobs") or {}).get("content") or []
            self._logprobs = bool(tokens) and all(t.get("bytes") is not None and t.get("top_logprobs")
                                                  for t in tokens)
        return self._logprobs

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[Score]:
        return bounded_map(lambda c: self._score_one(c, continuations), chats, self.concurrency)

    def _score_one(self, chat: Chat, continuations: Sequence[str]) -> Score:
        opening = chat.assistant_prefix or f"<{tag()}>"
        body = self._body(Chat(chat.messages, chat.system_addition, chat.tools), temperature=0.0,
                          max_tokens=CHECK_TOKENS, seed=0, logprobs=True, top_logprobs=TOP_LOGPROBS)
        start = time.perf_counter()
        resp = self._request(body)
        tokens = (resp["choices"][0].get("logprobs") or {}).get("content") or []
        lps = symbol_logprobs(tokens, continuations, opening)
        usage = resp.get("usage") or {}
        if lps is None:  # the model never wrote the tag: no reading, counted as unknown
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
