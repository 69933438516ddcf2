"""llama.cpp backend: batched multi-sequence generation, exact scoring after it, reply text
with tool-call control tokens, and a silent llama.cpp on user errors. Real embedded model."""

import math
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from bailbench.backends.base import GenerationRequest
from bailbench.backends.llamacpp import LlamaCppBackend
from bailbench.backends.registry import embedded_gguf
from bailbench.chat.types import Chat, Message
from bailbench.methods.prompt import bail_prompt_chat

pytestmark = pytest.mark.model

CONTEXTS = [(Message("user", "Describe the smell of a rotten egg."),),
            (Message("user", "Write a haiku about rain."),),
            (Message("user", "My neighbour keeps shouting at me. What should I do?"),)]
SYMBOLS = ["🔄", "🟢"]


def backend(**kw) -> LlamaCppBackend:
    return LlamaCppBackend(embedded_gguf(), spec="smollm2", n_ctx=2048, **kw)


@pytest.fixture(scope="module")
def batched():
    return backend(batch_size=3)


def requests(max_tokens=16):
    return [GenerationRequest(Chat(c), seed=7 + i, temperature=1.0, max_tokens=max_tokens)
            for i, c in enumerate(CONTEXTS)]


def test_batched_generation_is_reproducible(batched):
    """A batch gives the same replies every time, whatever ran before it."""
    first = batched.generate(requests())
    batched.score([bail_prompt_chat(CONTEXTS[0], first[0].text, "prompt-bail-first", "Baseline", forced_tag=True)],
                  SYMBOLS)
    again = batched.generate(requests())
    assert [g.text for g in first] == [g.text for g in again]
    assert len({g.text for g in first}) == 3  # three sequences, three different replies
    for g in first:
        assert g.finish_reason in ("stop", "length") and 0 < g.completion_tokens <= 16
        assert g.prompt_tokens == len(batched.tokens(g.rendered))


def test_sampling_is_seeded_per_sequence(batched):
    reqs = requests()
    reseeded = [GenerationRequest(r.chat, seed=r.seed + 100, temperature=1.0, max_tokens=16) for r in reqs]
    a, b = batched.generate(reqs), batched.generate(reseeded)
    assert [g.text for g in a] != [g.text for g in b]
    greedy = [GenerationRequest(r.chat, seed=s, temperature=0.0, max_tokens=12) for r in reqs[:1] for s in (1, 2)]
    g1, g2 = batched.generate(greedy)
    assert g1.text == g2.text  # temperature 0: the seed plays no part


def test_more_requests_than_the_batch(batched):
    """Requests beyond batch_size wait for a free sequence; identical requests share their prompt's cells."""
    reqs = requests(10) * 2  # six requests through three sequences
    gens = batched.generate(reqs)
    assert all(0 < g.completion_tokens <= 10 for g in gens)
    assert [g.text for g in gens] == [g.text for g in batched.generate(reqs)]


def test_scores_after_batched_generation_are_the_cold_scores(batched):
    """The check after a batched rollout gives exactly what a fresh backend gives for the same chat."""
    gens = batched.generate(requests(24))
    chats = [bail_prompt_chat(c, g.text, m, "Baseline", forced_tag=True)
             for c, g in zip(CONTEXTS, gens) for m in ("prompt-bail-first", "prompt-continue-first")]
    warm = [s.logprobs for s in batched.score(chats, SYMBOLS)]
    cold_backend = backend(batch_size=1, kv_reuse=False)
    cold = [cold_backend.score([c], SYMBOLS)[0].logprobs for c in chats]
    assert warm == cold
    assert all(math.isfinite(x) and x < 0 for lp in warm for x in lp)


def test_reuse_reply_stays_close_to_cold(batched):
    """Continuing from the rollout's own KV (written token by token) moves log-probabilities by
    llama.cpp's rounding on this Q4_1 model, a few tenths of a nat at most (module doc)."""
    fast = backend(batch_size=3, reuse_reply=True)
    gens = fast.generate(requests(24))
    chats = [bail_prompt_chat(c, g.text, m, "Baseline", forced_tag=True)
             for c, g in zip(CONTEXTS, gens) for m in ("prompt-bail-first", "prompt-continue-first")]
    warm = [s.logprobs for s in fast.score(chats, SYMBOLS)]
    cold = [s.logprobs for s in batched.score(chats, SYMBOLS)]
    for w, c in zip(warm, cold):
        assert w == pytest.approx(c, abs=0.5)


def test_reply_keeps_tool_call_control_tokens(batched, monkeypatch):
    """Control tokens vanish from text as llama.cpp decodes it, except those that open tool calls."""
    import bailbench.backends.llamacpp.backend as mod  # where reply_text reads it

    start = batched.tokens("<|im_start|>")
    eos = batched.tokens(batched._eos)
    hello = batched.tokens("Hello")
    assert len(start) == len(eos) == 1
    assert batched.reply_text(hello + start) == "Hello"
    batched._pieces.clear()
    monkeypatch.setattr(mod, "TOOL_CALL_TOKENS", mod.TOOL_CALL_TOKENS | {"<|im_start|>"})
    assert batched.reply_text(start + hello + eos) == "<|im_start|>Hello"  # an EOS never shows
    batched._pieces.clear()


def test_tool_call_tokens_are_named():
    from bailbench.backends.llamacpp import TOOL_CALL_TOKENS

    assert {"[TOOL_CALLS]", "<|python_tag|>"} <= TOOL_CALL_TOKENS


def cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "bailbench.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd)


BAD_DECODE = """
import llama_cpp
from bailbench.backends.registry import BackendOptions, load_backend
be = load_backend("smollm2", BackendOptions(n_ctx=512))
batch = llama_cpp.llama_batch_init(1, 0, 1)
batch.n_tokens, batch.token[0], batch.pos[0], batch.n_seq_id[0], batch.logits[0] = 1, 1, 0, 1, True
batch.seq_id[0][0] = 4096  # no such sequence: llama.cpp logs an error and refuses the batch
print(llama_cpp.llama_decode(be.llm._ctx.ctx, batch))
"""


def test_llama_cpp_logs_nothing():
    """llama.cpp's own error lines would surround bailbench's one-line errors; the backend silences them."""
    res = subprocess.run([sys.executable, "-c", BAD_DECODE], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "-1"  # the error happened ...
    assert res.stderr == ""  # ... and said nothing


def test_a_file_that_is_not_gguf_is_one_line(tmp_path):
    truncated = tmp_path / "model.gguf"  # a GGUF header whose tensors are cut off
    with open(embedded_gguf(), "rb") as f:
        truncated.write_bytes(f.read(3_000_000))
    res = cli("run", "--model", f"gguf:{truncated}", "--limit", "1", "--samples", "1", "--out", str(tmp_path / "o"))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert "could not be loaded by llama.cpp" in lines[0] and str(truncated) in lines[0]


def test_kill_9_then_resume_equals_an_uninterrupted_run(tmp_path):
    """Batched generation keeps resumed runs equal to uninterrupted ones."""
    args = ["run", "--limit", "2", "--samples", "2", "--max-tokens", "12", "--batch-size", "2",
            "--methods", "prompt-bail-first,string"]
    whole = cli(*args, "--out", str(tmp_path / "whole"))
    assert whole.returncode == 0, whole.stderr
    proc = subprocess.Popen([sys.executable, "-m", "bailbench.cli", *args, "--out", str(tmp_path / "cut")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "cut" / "samples.sqlite"

    def count():
        try:
            return sqlite3.connect(db, timeout=1).execute("SELECT count(*) FROM samples").fetchone()[0]
        except sqlite3.Error:
            return 0

    deadline = time.time() + 300
    while count() < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 0 < count() < 12  # killed part way
    resumed = cli(*args, "--out", str(tmp_path / "cut"))
    assert resumed.returncode == 0, resumed.stderr

    def rows(name):
        con = sqlite3.connect(tmp_path / name / "samples.sqlite")
        return con.execute("SELECT key, reply, verdict, p_bail FROM samples ORDER BY key").fetchall()

    assert rows("cut") == rows("whole")
