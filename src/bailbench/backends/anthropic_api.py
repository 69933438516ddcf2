"""Anthropic models through the official `anthropic` SDK.

The method's system text is the system prompt; the bail tool is a tool with an empty input
schema and a bail is a `tool_use` block calling it. The API gives no logprobs, so the bail
prompt is sampled. Only text blocks make the reply (thinking blocks never count). Where the
SDK has no `temperature` (recent API versions), requests carry none; the stored request
shows exactly what was sent.

Prompt caching: one `cache_control` breakpoint per request, where the prefix that is sent
again ends. A rollout's request (and a tool or string request) is sent whole again by its
other samples and, followed by the reply and the check, by its two bail-prompt checks: it
is marked at its end. A check is marked at the end of the model's reply: the other check
of the same rollout sends that prefix again byte for byte, and the API's look-back finds
the rollout's own cached prefix inside it. The check text itself is never marked (nothing
sends it again, and a cache write costs 1.25x plain input). Prefixes under the model's
minimum (1024 or 2048 tokens) are not cached and cost nothing extra. Cache reads and writes the API reports
are kept per generation. With `batch`, requests go through Message Batches (backends.batch).
"""

from __future__ import annotations

import inspect
import json
from functools import lru_cache

from ..chat.types import Chat
from ..errors import UserError
from ..methods.wordings import ablations, prompt_wording
from .base import SAMPLE, Capabilities, Generation, GenerationRequest
from .batch import AnthropicBatches
from .http import ApiBackend, RetryPolicy, endpoint_key

ANTHROPIC_URL = "https://api.anthropic.com"


EPHEMERAL = {"type": "ephemeral"}


@lru_cache(maxsize=1)
def _checks() -> frozenset[str]:
    return frozenset(prompt_wording(a, o) for a in ablations("prompt") for o in ("bail_first", "continue_first"))


def cache_point(messages: list[dict]) -> int:
    """Index of the message where the prefix sent again ends (module docstring)."""
    if len(messages) >= 2 and messages[-2]["role"] == "assistant" and messages[-1]["content"] in _checks():
        return len(messages) - 2
    return len(messages) - 1


def anthropic_request(chat: Chat, model: str, temperature: float | None, max_tokens: int,
                      cache: bool = True) -> dict:
    messages = [m.as_dict() for m in chat.messages]
    system = [m["content"] for m in messages if m["role"] == "system"]
    messages = [m for m in messages if m["role"] != "system"]
    if cache and messages:
        at = cache_point(messages)
        messages[at] = {"role": messages[at]["role"],
                        "content": [{"type": "text", "text": messages[at]["content"], "cache_control": EPHEMERAL}]}
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


class AnthropicBackend(ApiBackend):
    key_var = "ANTHROPIC_API_KEY"

    def __init__(self, model: str, *, spec: str, base_url: str | None = None, api_key_env: str | None = None,
                 concurrency: int = 8, timeout: float = 300.0, retry: RetryPolicy | None = None, cache: bool = True,
                 batch: bool = False, prompt_cache: bool = True):
        try:
            import anthropic
        except ImportError as exc:
            raise UserError("the anthropic backend needs the anthropic SDK: pip install 'bailbench[api]'") from exc
        super().__init__(anthropic, model=model, spec=spec, base_url=base_url or ANTHROPIC_URL,
                         concurrency=concurrency, retry=retry, cache=cache, batch=batch)
        self.prompt_cache = prompt_cache
        key, self.key_hint = endpoint_key(self.key_var, base_url=self.base_url, official=ANTHROPIC_URL,
                                          api_key_env=api_key_env, provider=spec)
        self.client = anthropic.Anthropic(api_key=key or "none", base_url=self.base_url, max_retries=0,
                                          timeout=timeout)
        # Recent versions of the API (and SDK) have no temperature: the model's own sampling applies,
        # and runs record that none was sent.
        has_temperature = "temperature" in inspect.signature(self.client.messages.create).parameters
        self.capabilities = Capabilities(reading=SAMPLE, api_tools=True, temperature=has_temperature)

    def _send(self, body: dict) -> dict:
        return self.client.messages.create(**body).model_dump()

    def _batches(self) -> AnthropicBatches:
        return AnthropicBatches(self.client)

    def _prepare(self, req: GenerationRequest) -> tuple[dict, str]:
        if req.chat.assistant_prefix:
            raise ValueError("the bail prompt is sampled on Anthropic models (no logprobs)")
        body = anthropic_request(req.chat, self.model_id, req.temperature if self.capabilities.temperature else None,
                                 req.max_tokens, cache=self.prompt_cache)
        # The API has no seed; the sample index keeps otherwise identical requests apart in the cache.
        return body, f"{self.base_url}|seed={req.seed}"

    def _generation(self, body: dict, resp: dict, seconds: float) -> Generation:
        text = "".join(b.get("text") or "" for b in resp["content"] if b["type"] == "text")
        calls = [b["name"] for b in resp["content"] if b["type"] == "tool_use"]
        usage = resp.get("usage") or {}
        read, wrote = usage.get("cache_read_input_tokens") or 0, usage.get("cache_creation_input_tokens") or 0
        # input_tokens counts only the tokens after the last cache breakpoint: the prompt is all three
        return Generation(json.dumps(body, ensure_ascii=False, indent=1), text=text, tool_calls=calls,
                             prompt_tokens=(usage.get("input_tokens") or 0) + read + wrote,
                             completion_tokens=usage.get("output_tokens") or 0,
                             finish_reason=resp.get("stop_reason") or "", seconds=seconds,
                             cached_tokens=read, cache_write_tokens=wrote)
