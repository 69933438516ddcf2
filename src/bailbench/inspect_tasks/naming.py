"""{model_name} for an Inspect model name (no Inspect import: the importer uses it too)."""

from __future__ import annotations

from ..methods.names import model_name_for


def family(model: str) -> str | None:
    """The family a model knows itself by, read from an Inspect model name: its last path
    part first (`hf/meta-llama/Hermes-3...` is Hermes), then the rest after the provider,
    and after the service too for `openai-api/<service>/...` (a service named `llama`
    says nothing about the model)."""
    parts = model.split("/")
    skip = 2 if parts[0].startswith("openai-api") else 1
    return model_name_for(parts[-1]) or model_name_for("/".join(parts[skip:]))
