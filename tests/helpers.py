"""Paths and small helpers shared by the tests."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data" / "bailstudy"
TEMPLATES = Path(__file__).parent / "templates"


def template(name: str) -> str:
    return (TEMPLATES / name).read_text("utf-8")


def transformers_render(source: str | dict, messages: list[dict], tools: list[dict] | None) -> str:
    """transformers' own rendering of a chat template (a tokenizer that holds only the template)."""
    tokenizers = pytest.importorskip("tokenizers")
    transformers = pytest.importorskip("transformers")
    tok = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tokenizers.Tokenizer(tokenizers.models.WordLevel({"<unk>": 0}, unk_token="<unk>")),
        bos_token="<BOS>", eos_token="<EOS>")
    tok.chat_template = source
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tok.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)


def fake_run(tmp_path: Path, name: str, **summary) -> Path:
    """A run directory holding only a summary.json (what `reproduce` and `compare` match read)."""
    d = tmp_path / name
    d.mkdir()
    base = {"dataset": "bailbench", "ablation": "Baseline", "prefix": None, "rollouts_from": None}
    (d / "summary.json").write_text(json.dumps({**base, **summary}))
    return d
