"""Anthropic models through the official `anthropic` SDK.

The method's system text is the system prompt; the bail tool is a tool with an empty input
schema and a bail is a `tool_use` block calling it. The API gives no logprobs, so the bail
prompt is sampled. Only text blocks make the reply (thinking blocks never count). Where the
SDK has no `temperature` (recent API versions), requests carry none; the stored request
shows exactly what was sent.
"""

from __future__ import annotations

import inspect
import json
import time
from typing import Sequence

from ..chat.types import Chat
from ..errors import UserError
from ..paths import cache_dir
from .base import Backend, Generation, GenerationRequest
from .http import ResponseCache, RetryPolicy, Transient, api_key, bounded_map, raise_for_status, with_retries


def anthropic_request(chat: Chat, model: str, temperature: float | None, max_tokens: int) -> dict:
    messages = [m.as_dict() for m in chat.messages]
    system = [m["content"] for m in messages if m["role"] == "system"]
    messages = [m for m in messages if m["role"] != "system"]
    if chat.system_addition:
        system.append(chat.system_addition)
    body = {"model": model, "messages": messages, "max_tokens": max_tokens}
    if temperature is not None:
        body["temperature"] = temperature
    if system:
        body["system"] = "\n".join(system)
    if chat.tools:
        body["tools"] = [{"name": t.name, "description": t.description,
                          "input_schema": {"type": "object", "properties": {}, "required": []}} for t in chat.tools]
    return body


class AnthropicBackend(Backend):
    supports_logprobs = False

    def __init__(self, model: str, *, spec: str, base_url: str | None = None, concurrency: int = 8,
                 timeout: float = 300.0, retry: RetryPolicy | None = None, cache: bool = True):
        try:
            import anthropic
        except ImportError as exc:
            raise UserError("the anthropic backend needs the anthropic SDK: pip install 'bailbench[api]'") from exc
        self.anthropic = anthropic
        self.spec = spec
        self.model_id = model
        self.base_url = base_url or "https://api.anthropic.com"
        key = api_key("ANTHROPIC_API_KEY", required=True, provider=spec)
        self.client = anthropic.Anthropic(api_key=key, base_url=self.base_url, max_retries=0, timeout=timeout)
        # Recent versions of the API (and SDK) have no temperature: the model's own sampling applies.
        self.has_temperature = "temperature" in inspect.signature(self.client.messages.create).parameters
        self.concurrency = concurrency
        self.batch_size = max(1, concurrency)
        self.retry = retry or RetryPolicy()
        self.cache = ResponseCache(cache_dir() / "responses.sqlite") if cache else None

    def identity(self) -> dict:
        return {"model_id": self.model_id, "base_url": self.base_url}

    def _create(self, body: dict, scope: str) -> dict:
        def call() -> dict:
            try:
                return self.client.messages.create(**body).model_dump()
            except self.anthropic.APIStatusError as exc:
                raise_for_status(exc.status_code, retry_after=exc.response.headers.get("retry-after"),
                                 where=self.base_url, model=self.model_id, key_var="ANTHROPIC_API_KEY")
            except (self.anthropic.APITimeoutError, self.anthropic.APIConnectionError) as exc:
                raise Transient(type(exc).__name__) from None

        fetch = lambda: with_retries(call, self.retry, self.base_url)  # noqa: E731
        return self.cache.cached(scope, body, fetch) if self.cache else fetch()

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        return bounded_map(self._generate_one, requests, self.concurrency)

    def _generate_one(self, req: GenerationRequest) -> Generation:
        if req.chat.assistant_prefix:
            raise ValueError("the bail prompt is sampled on Anthropic models (no logprobs)")
        body = anthropic_request(req.chat, self.model_id, req.temperature if self.has_temperature else None,
                                 req.max_tokens)
        # The API has no seed; the sample index keeps otherwise identical requests apart in the cache.
        scope = f"{self.base_url}|seed={req.seed}"
        start = time.perf_counter()
        resp = self._create(body, scope)
        text = "".join(b.get("text", "") for b in resp["content"] if b["type"] == "text")
        calls = [b["name"] for b in resp["content"] if b["type"] == "tool_use"]
        usage = resp.get("usage") or {}
        return Generation(json.dumps(body, ensure_ascii=False, indent=1), text=text, tool_calls=calls,
                          prompt_tokens=usage.get("input_tokens") or 0,
                          completion_tokens=usage.get("output_tokens") or 0,
                          finish_reason=resp.get("stop_reason") or "", seconds=time.perf_counter() - start)
