"""The name a model knows itself by, for the `{model_name}` slot of the wordings."""

from __future__ import annotations

import re

# Checked in order: fine-tunes name their own family first (Hermes-3-Llama-3.1 is Hermes).
_FAMILIES: list[tuple[str, str]] = [
    (r"hermes", "Hermes"),
    (r"smollm", "SmolLM"),
    (r"qwen|qwq", "Qwen"),
    (r"claude", "Claude"),
    (r"gemini", "Gemini"),
    (r"gemma", "Gemma"),
    (r"deepseek", "DeepSeek"),
    (r"glm", "GLM"),
    (r"mistral|mixtral|ministral", "Mistral"),
    (r"llama", "Llama"),
    (r"(^|[^a-z])phi-?\d", "Phi"),
    (r"(^|[^a-z])olmo", "OLMo"),
    (r"grok", "Grok"),
    (r"gpt|chatgpt|(^|[^a-z])o[134](-|$)", "ChatGPT"),
    (r"^mock$", "Mock"),  # the scripted backend shipped for tests (backends/mock.py)
]


def model_name_for(model_id: str) -> str | None:
    """The family name for a model id or path, or None when the family is unknown."""
    lowered = model_id.lower()
    for pattern, name in _FAMILIES:
        if re.search(pattern, lowered):
            return name
    return None
