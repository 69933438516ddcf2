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

from ..chat.types import Chat
from ..errors import UserError
from .base import SAMPLE, Capabilities, Generation, GenerationRequest
from .http import ApiBackend, RetryPolicy, endpoint_key

ANTHROPIC_URL = "https://api.anthropic.com"


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


class AnthropicBackend(ApiBackend):
    key_var = "ANTHROPIC_API_KEY"

    def __init__(self, model: str, *, spec: str, base_url: str | None = None, api_key_env: str | None = None,
                 concurrency: int = 8, timeout: float = 300.0, retry: RetryPolicy | None = None, cache: bool = True):
        try:
            import anthropic
        except ImportError as exc:
            raise UserError("the anthropic backend needs the anthropic SDK: pip install 'bailbench[api]'") from exc
        super().__init__(anthropic, model=model, spec=spec, base_url=base_url or ANTHROPIC_URL,
                         concurrency=concurrency, retry=retry, cache=cache)
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

    def _generate_one(self, req: GenerationRequest) -> Generation:
        if req.chat.assistant_prefix:
            raise ValueError("the bail prompt is sampled on Anthropic models (no logprobs)")
        body = anthropic_request(req.chat, self.model_id, req.temperature if self.capabilities.temperature else None,
                                 req.max_tokens)
        # The API has no seed; the sample index keeps otherwise identical requests apart in the cache.
        scope = f"{self.base_url}|seed={req.seed}"
        start = time.perf_counter()
        resp = self._request(body, scope)
        text = "".join(b.get("text", "") for b in resp["content"] if b["type"] == "text")
        calls = [b["name"] for b in resp["content"] if b["type"] == "tool_use"]
        usage = resp.get("usage") or {}
        return Generation(json.dumps(body, ensure_ascii=False, indent=1), text=text, tool_calls=calls,
                          prompt_tokens=usage.get("input_tokens") or 0,
                          completion_tokens=usage.get("output_tokens") or 0,
                          finish_reason=resp.get("stop_reason") or "", seconds=time.perf_counter() - start)
