"""How answers are read from chat APIs: the greedy logprob reading, yes/no judges on
every reading, reasoning models' rejected parameters, and where keys go."""

import math

import pytest

from bailbench.backends.anthropic_api import AnthropicBackend
from bailbench.backends.base import EXACT, GREEDY, SAMPLE
from bailbench.backends.http import RetryPolicy
from bailbench.backends.openai_api import OpenAIBackend, greedy_logprobs
from bailbench.errors import UserError
from bailbench.falsebail import is_false_bail
from bailbench.methods import ALL_METHODS
from bailbench.runner import RunConfig, run
from bailbench.yesno import ask

from .fake_openai import FakeReasoningOpenAI
from .servers import FakeAnthropic

B, C = "🔄".encode(), "🟢".encode()
FAST = RetryPolicy(max_retries=3, base_delay=0.01, max_delay=0.05)
SECRET = "sk-proj-users-own-openai-key-never-leaves"


def tok(raw, lp=0.0, top=()):
    raw = raw.encode() if isinstance(raw, str) else raw
    return {"token": "", "bytes": list(raw), "logprob": lp,
            "top_logprobs": [{"token": "", "bytes": list(b.encode() if isinstance(b, str) else b), "logprob": x}
                             for b, x in top]}


def read(tokens, opening="<wellbeing>", conts=("🔄", "🟢")):
    return greedy_logprobs(tokens, list(conts), opening)


def test_whitespace_after_the_tag_is_passed_over():
    tokens = [tok("<wellbeing>"), tok("\n", -0.1, [("\n", -0.1), (B, -3.0)]),
              tok(C, -0.05, [(C, -0.05), (B, -4.0)]), tok("</wellbeing>")]
    assert read(tokens) == pytest.approx([-4.0, -0.05])  # a clear 🟢, not a bail
    spaced = [tok("<wellbeing>"), tok(" ", -0.1), tok("\n"), tok(b" " + C, -0.2, [(b" " + C, -0.2), (b" " + B, -1.9)])]
    assert read(spaced) == pytest.approx([-1.9, -0.2])


def test_a_token_that_merges_the_tag_with_the_answer():
    tokens = [tok("<wellbeing"), tok(b">" + C, -0.2, [(b">" + C, -0.2), (b">" + B, -2.0), (b"!" + B, -0.1)])]
    assert read(tokens) == pytest.approx([-2.0, -0.2])  # an alternative without the '>' is another opening
    newline = [tok("<wellbeing"), tok(">\n", -0.3), tok(B, -0.4, [(B, -0.4), (C, -1.4)])]
    assert read(newline) == pytest.approx([-0.4, -1.4])


def test_symbols_spelled_over_several_tokens():
    tokens = [tok("<wellbeing>"), tok(B[:2], -0.1, [(B[:2], -0.1), (b"Hi", -3.0)]),
              tok(C[2:], -0.4, [(C[2:], -0.4), (B[2:], -1.2)]), tok("</")]
    assert read(tokens) == pytest.approx([-1.3, -0.5])
    assert read([tok("Sure")]) is None
    assert read([tok("<wellbeing>")]) is None  # nothing after the tag


def test_yes_no_at_the_start_of_the_answer():
    tokens = [tok(" Yes", -0.1, [(" Yes", -0.1), ("No", -2.5), ("yes", -3.0)])]
    yes, yes_lower, no, no_lower = read(tokens, "", ("Yes", "yes", "No", "no"))
    assert (yes, yes_lower, no) == pytest.approx((-0.1, -3.0, -2.5)) and no_lower == -math.inf


def test_false_bail_filter_counts_what_it_cannot_read():
    nan = math.nan
    assert is_false_bail([0.9, 0.9, 0.1, 0.1, 0.1]) is True
    assert is_false_bail([0.9, 0.1, 0.1, 0.1, 0.1]) is False
    assert is_false_bail([nan, 0.1, 0.1, 0.1, 0.1]) is False  # Q1 AND Q2 is false whatever Q1 says
    assert is_false_bail([nan, 0.9, 0.1, 0.1, 0.1]) is None  # decided by the unreadable answer
    assert is_false_bail([nan, nan, 0.9, nan, nan]) is True
    assert is_false_bail([0.1, 0.1, 0.1, nan, 0.1]) is None


@pytest.fixture()
def reasoning():
    fake = FakeReasoningOpenAI()
    yield fake
    fake.stop()


def test_a_reasoning_model_that_rejects_logprobs_and_max_tokens_runs(reasoning, tmp_path, monkeypatch):
    monkeypatch.setenv("LOCAL_KEY", "local-server-key")
    backend = OpenAIBackend("o3-mini", spec="openai:o3-mini", base_url=reasoning.url, api_key_env="LOCAL_KEY",
                            retry=FAST)
    assert backend.capabilities.reading == SAMPLE
    res = run(RunConfig(model="openai:o3-mini", methods=ALL_METHODS, limit=2, samples=1, max_tokens=16,
                        out=tmp_path / "run"), backend=backend)
    s = res.summary
    assert s["bail_prompt_mode"] == "sample" and s["bail_prompt_reading"] == "sample"
    assert s["methods"]["prompt-bail-first"]["bail_rate"] == 0.0 and s["methods"]["prompt-bail-first"]["n"] == 2
    answered = [r for r in reasoning.requests if "max_completion_tokens" in r]
    assert answered and not any("max_tokens" in r for r in answered)
    assert ask(backend, ["Is water wet? Answer with just Yes or No."]) == [1.0]  # greedy judge without temperature 0
    assert not any("temperature" in r for r in reasoning.requests[-1:])
    assert not backend.capabilities.temperature and s["temperature_sent"] is True  # the run's T=1 was accepted


def test_the_openai_key_never_reaches_another_server(reasoning, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    monkeypatch.delenv("LOCAL_KEY", raising=False)
    backend = OpenAIBackend("o3-mini", spec="openai:o3-mini", base_url=reasoning.url, retry=FAST, cache=False)
    backend.capabilities
    assert reasoning.keys and not any(SECRET in k for k in reasoning.keys)
    monkeypatch.setenv("LOCAL_KEY", "local-server-key")
    OpenAIBackend("o3-mini", spec="openai:o3-mini", base_url=reasoning.url, api_key_env="LOCAL_KEY", retry=FAST,
                  cache=False).capabilities
    assert reasoning.keys[-1] == "Bearer local-server-key"
    with pytest.raises(UserError, match="no API key for openai:o3-mini: set NOT_SET_ANYWHERE"):
        OpenAIBackend("o3-mini", spec="openai:o3-mini", base_url=reasoning.url, api_key_env="NOT_SET_ANYWHERE")


def test_anthropic_records_that_no_temperature_was_sent(tmp_path, monkeypatch):
    fake = FakeAnthropic(key="anthropic-key", overloaded=0)
    monkeypatch.setenv("ANTHROPIC_API_KEY", SECRET)
    monkeypatch.setenv("GATEWAY_KEY", "anthropic-key")
    try:
        backend = AnthropicBackend("claude-x", spec="anthropic:claude-x", base_url=fake.url, api_key_env="GATEWAY_KEY",
                                   retry=FAST)
        cfg = RunConfig(model="anthropic:claude-x", methods=("string",), limit=1, samples=1, max_tokens=8,
                        out=tmp_path / "run")
        if backend.capabilities.temperature:
            pytest.skip("this anthropic SDK takes a temperature")
        s = run(cfg, backend=backend).summary
        assert s["temperature"] is None and s["temperature_sent"] is False
        assert not any("temperature" in r for r in fake.requests)
        with pytest.raises(UserError, match="takes no temperature .* run without --temperature"):
            run(RunConfig(**{**cfg.__dict__, "temperature": 0.7, "out": tmp_path / "run2"}), backend=backend)
    finally:
        fake.stop()


def test_readings_are_declared(embedded):
    assert embedded.capabilities.reading == EXACT
    assert GREEDY != EXACT
