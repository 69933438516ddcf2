"""API backends against real servers on loopback: llama.cpp's OpenAI-compatible server
(behind a fault-injecting proxy), and the real Anthropic SDK against a Messages API server."""

import json
import sqlite3

import pytest

from bailbench.backends.anthropic_api import AnthropicBackend
from bailbench.backends.base import GenerationRequest
from bailbench.backends.http import RetryPolicy
from bailbench.backends.openai_api import OpenAIBackend, parse_chat_response
from bailbench.backends.registry import BackendOptions, embedded_gguf, load_backend
from bailbench.chat.types import Chat, Message
from bailbench.errors import ServiceError, UserError
from bailbench.methods import ALL_METHODS
from bailbench.methods.tool import bail_tool, read_tool
from bailbench.runner import RunConfig, run

from .servers import FakeAnthropic, FaultProxy, LlamaServer

FAST = RetryPolicy(max_retries=8, base_delay=0.05, max_delay=0.5)
SECRET = "sk-test-9f8e7d6c5b4a-never-store-me"


@pytest.fixture(scope="module")
def llama_server():
    server = LlamaServer(embedded_gguf())
    yield server
    server.stop()


def keys_in(out) -> list[str]:
    return [str(p) for p in out.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


def openai_backend(url, **kw):
    kw.setdefault("retry", FAST)
    return OpenAIBackend("SmolLM2-135M", spec="openai:SmolLM2-135M", base_url=url, **kw)


@pytest.mark.slow
def test_every_method_through_a_real_openai_server(llama_server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    cfg = RunConfig(model="openai:SmolLM2-135M", methods=ALL_METHODS, limit=2, samples=2, max_tokens=16,
                    out=tmp_path / "run")
    notes = []

    class Notes:
        start = advance = lambda *a: None
        note = notes.append

    res = run(cfg, Notes(), backend=openai_backend(llama_server.url))
    s = res.summary
    # llama-cpp-python's server returns logprobs without token bytes: the bail prompt is sampled, and said so
    assert s["bail_prompt_mode"] == "sample" and any("no logprobs" in n for n in notes)
    for m in ("tool", "string", "prompt-bail-first", "prompt-continue-first"):
        assert s["methods"][m]["n"] == 4
    rows = sqlite3.connect(res.out / "samples.sqlite").execute("SELECT method, rendered FROM samples").fetchall()
    assert len(rows) == 20
    for method, rendered in rows:
        body = json.loads(rendered)
        assert body["model"] == "SmolLM2-135M" and body["temperature"] == 1.0
        if method == "tool":
            assert body["tools"][0]["function"]["name"] == "switchconversation_tool"
        if method == "string":
            assert body["messages"][0]["role"] == "system"
            assert "SWITCHCONVERSATION" in body["messages"][0]["content"]
        if method.startswith("prompt-"):
            assert body["messages"][-1]["content"].startswith("[System Intermission]")
            assert body["messages"][-2]["role"] == "assistant"
    assert keys_in(res.out) == []


def test_structured_tool_calls_are_read(llama_server):
    backend = openai_backend(llama_server.url)
    tool = bail_tool("Baseline", "SmolLM")
    body = backend._body(Chat((Message("user", "hi"),), tools=(tool,)), temperature=1.0, max_tokens=8, seed=1,
                         tool_choice={"type": "function", "function": {"name": tool.name}})
    resp = backend._request(body)  # a server forced to call the tool answers with structured tool_calls
    text, calls, *_ = parse_chat_response(resp)
    assert calls == ["switchconversation_tool"]
    assert read_tool(text, calls, "Baseline", backend.tool_format) == "bail"


@pytest.mark.slow
def test_faults_are_retried_and_nothing_is_lost_or_duplicated(llama_server, tmp_path):
    # the client's timeout well above a real request's time on a slow machine (llama.cpp's server
    # answers one request at a time, so queued requests wait too), and the slow fault above it
    proxy = FaultProxy(int(llama_server.url.split(":")[2].split("/")[0]), slow_seconds=25)
    try:
        backend = openai_backend(proxy.url, timeout=20, concurrency=4)
        cfg = RunConfig(model="openai:SmolLM2-135M", methods=("tool", "string", "rollout"), limit=3, samples=2,
                        max_tokens=8, out=tmp_path / "run")
        res = run(cfg, backend=backend)
    finally:
        proxy.stop()
    assert {k: proxy.counts[k] > 0 for k in ("429", "500", "slow", "cut")} == {"429": True, "500": True,
                                                                                  "slow": True, "cut": True}
    con = sqlite3.connect(res.out / "samples.sqlite")
    assert con.execute("SELECT count(*), count(DISTINCT key) FROM samples").fetchone() == (18, 18)
    assert res.summary["new_samples"] == 18


@pytest.mark.slow
def test_response_cache_makes_a_rerun_free(llama_server, tmp_path):
    proxy = FaultProxy(int(llama_server.url.split(":")[2].split("/")[0]), faults=("pass",))
    try:
        cfg = dict(model="openai:SmolLM2-135M", methods=("rollout",), limit=2, samples=2, max_tokens=8)
        run(RunConfig(**cfg, out=tmp_path / "a"), backend=openai_backend(proxy.url))
        first = proxy.counts["pass"]
        again = run(RunConfig(**cfg, out=tmp_path / "b"), backend=openai_backend(proxy.url))
    finally:
        proxy.stop()
    assert first >= 4 and proxy.counts["pass"] == first  # the second run sent nothing
    assert again.summary["new_samples"] == 4


def test_a_server_that_keeps_failing_stops_the_run_with_what_to_do(tmp_path):
    proxy = FaultProxy(1, faults=("500",))
    try:
        backend = openai_backend(proxy.url, retry=RetryPolicy(max_retries=2, base_delay=0.01))
        with pytest.raises(ServiceError, match="kept failing \\(HTTP 500\\) after 2 retries.*rerun the same command"):
            run(RunConfig(model="openai:x", methods=("string",), limit=1, samples=1, out=tmp_path / "r",
                          model_name="Qwen"), backend=backend)
    finally:
        proxy.stop()


@pytest.mark.slow
def test_missing_keys_fail_before_any_work(monkeypatch, tmp_path):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UserError, match="no API key for openai:gpt-4o: set OPENAI_API_KEY"):
        load_backend("openai:gpt-4o")
    with pytest.raises(UserError, match="set ANTHROPIC_API_KEY"):
        load_backend("anthropic:claude-test-model")
    (tmp_path / ".env").write_text(f"# keys\nexport ANTHROPIC_API_KEY='{SECRET}'\n")
    assert load_backend("anthropic:claude-test-model").client.api_key == SECRET


def test_anthropic_through_the_real_sdk(tmp_path, monkeypatch):
    fake = FakeAnthropic(key=SECRET, overloaded=2)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    try:
        backend = AnthropicBackend("claude-test-model", spec="anthropic:claude-test-model", base_url=fake.url,
                                   api_key_env="ANTHROPIC_API_KEY", retry=FAST)
        cfg = RunConfig(model="anthropic:claude-test-model", methods=ALL_METHODS, limit=2, samples=1,
                        max_tokens=32, out=tmp_path / "run")
        res = run(cfg, backend=backend)
    finally:
        fake.stop()
    s = res.summary
    assert s["model_name"] == "Claude" and s["bail_prompt_mode"] == "sample"
    assert fake.counts["overloaded"] == 2  # retried, then answered
    by_cat = {m: {c: v["bail_rate"] for c, v in s["methods"][m]["categories"].items()} for m in s["methods"]}
    # the slug prompt (Gross Out) is the fake's bail case for the tool and the check; nothing writes the keyword
    assert by_cat["tool"] == {"Gross Out": 1.0, "Dark Topics": 0.0}
    assert by_cat["prompt-bail-first"] == {"Gross Out": 1.0, "Dark Topics": 0.0}
    assert by_cat["string"] == {"Gross Out": 0.0, "Dark Topics": 0.0}
    tool_req = next(r for r in fake.requests if r.get("tools"))
    assert tool_req["tools"][0]["input_schema"] == {"type": "object", "properties": {}, "required": []}
    string_req = next(r for r in fake.requests if "SWITCHCONVERSATION" in r.get("system", ""))
    assert string_req["system"].startswith("Claude may output the string SWITCHCONVERSATION")
    assert keys_in(res.out) == []


def test_anthropic_wrong_key_is_a_clear_error(monkeypatch):
    fake = FakeAnthropic(key="right", overloaded=0)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    try:
        backend = AnthropicBackend("claude-x", spec="anthropic:claude-x", base_url=fake.url, retry=FAST, cache=False,
                                   api_key_env="ANTHROPIC_API_KEY")
        with pytest.raises(UserError, match="refused the API key \\(HTTP 401\\): set ANTHROPIC_API_KEY") as err:
            backend.generate([GenerationRequest(Chat((Message("user", "hi"),)), seed=0, temperature=1.0,
                                                max_tokens=8)])
        assert SECRET not in str(err.value)
    finally:
        fake.stop()


def test_vllm_without_vllm_says_what_to_do():
    pytest.importorskip("torch")
    try:
        import vllm  # noqa: F401
        pytest.skip("vllm is installed here")
    except ImportError:
        pass
    with pytest.raises(UserError, match="the vllm backend needs vLLM: `pip install vllm` with a CUDA GPU; on a CPU"):
        load_backend("vllm:Qwen/Qwen2.5-7B-Instruct", BackendOptions())
