"""`bailbench realdata` on real ShareGPT conversations with the embedded model."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from bailbench.backends.registry import BackendOptions
from bailbench.chat.types import Message
from bailbench.errors import UserError
from bailbench.methods.prompt import bail_prompt_chat
from bailbench.realdata import RealDataConfig, run_realdata

pytestmark = pytest.mark.model
OPTS = BackendOptions(n_ctx=4096)


def cfg(out, **kw):
    base = dict(dataset="sharegpt", limit=2, max_tokens=12, max_context=1500, out=out, options=OPTS)
    base.update(kw)
    return RealDataConfig(**base)


@pytest.fixture(scope="module")
def two_conversations(tmp_path_factory):
    return run_realdata(cfg(tmp_path_factory.mktemp("rd"), cross_model=True))


def test_every_turn_under_every_method(two_conversations):
    s = two_conversations.summary
    assert s["n_conversations"] == 2 and s["kind"] == "realdata" and s["bail_prompt_mode"] == "logprob"
    con = sqlite3.connect(two_conversations.out / "samples.sqlite")
    turns = dict(con.execute("SELECT id, turns FROM conversations"))
    assert sum(turns.values()) == s["n_turns"] > 2
    for m in ("tool", "string", "prompt-bail-first", "prompt-continue-first"):
        st = s["methods"][m]
        assert st["n"] + st["skipped_turns"] == s["n_turns"]
        assert st["conversations_with_bail"]["n"] <= 2
        assert sum(t["n"] for t in st["per_turn"]) == st["n"]
        assert [t["turn"] for t in st["per_turn"]] == sorted(t["turn"] for t in st["per_turn"])
    assert set(s["cross_model"]) == {"prompt-bail-first", "prompt-continue-first"}
    # each turn's context holds the dataset's earlier assistant turns and ends with that user turn
    rows = con.execute("SELECT prompt_id, sample, rendered FROM samples WHERE method='rollout' AND skipped IS NULL "
                       "ORDER BY prompt_id, sample").fetchall()
    for pid, turn, rendered in rows:
        assert rendered.count("<|im_start|>user\n") == turn + 1 and rendered.endswith("<|im_start|>assistant\n")
    # cross-model: the check follows the dataset's reply, which is the next context's assistant turn
    cross = con.execute("SELECT rendered FROM samples WHERE key LIKE '%|dataset' AND skipped IS NULL").fetchall()
    assert cross and all("[System Intermission]" in r for (r,) in cross)


def test_rerun_resumes(two_conversations):
    again = run_realdata(cfg(two_conversations.out, cross_model=True))
    assert again.summary["new_samples"] == 0 and again.summary["reused_samples"] == two_conversations.summary["new_samples"]
    assert again.summary["methods"] == two_conversations.summary["methods"]


def test_long_contexts_are_skipped_and_counted(tmp_path):
    res = run_realdata(cfg(tmp_path, methods=("string",), max_context=60, limit=2))
    st = res.summary["methods"]["string"]
    assert st["skipped_turns"] > 0 and st["n"] + st["skipped_turns"] == res.summary["n_turns"]
    rows = sqlite3.connect(tmp_path / "samples.sqlite").execute(
        "SELECT count(*) FROM samples WHERE skipped='context_over_limit'").fetchone()[0]
    assert rows == st["skipped_turns"]


def test_false_bail_filter_with_a_judge(tmp_path):
    data = tmp_path / "chats.jsonl"
    data.write_text("\n".join(json.dumps({"messages": m}) for m in (
        [{"role": "user", "content": "Translate into French: the cat sleeps."}],
        [{"role": "user", "content": "Proofread this: their going to the store tomorow."}],
    )))
    res = run_realdata(cfg(tmp_path / "out", dataset=str(data), methods=("prompt-bail-first",),
                           false_bail_filter="smollm2"))
    f = res.summary["methods"]["prompt-bail-first"]["false_bail_filter"]
    bails = sqlite3.connect(res.out / "samples.sqlite").execute(
        "SELECT count(*) FROM samples WHERE method='prompt-bail-first' AND verdict='bail'").fetchone()[0]
    judged = sqlite3.connect(res.out / "samples.sqlite").execute("SELECT count(*) FROM false_bails").fetchone()[0]
    assert judged == bails and f["false_bails"] <= bails
    assert f["bail_rate_filtered"]["rate"] <= res.summary["methods"]["prompt-bail-first"]["bail_rate"]


def test_bad_inputs(tmp_path):
    with pytest.raises(UserError, match="dataset 'nope.jsonl' not found"):
        run_realdata(cfg(tmp_path, dataset="nope.jsonl"))
    with pytest.raises(UserError, match="--fraction 0 must be above 0"):
        run_realdata(cfg(tmp_path, fraction=0))
    with pytest.raises(UserError, match="ablation 'JustPrefer' does not exist for method tool"):
        run_realdata(cfg(tmp_path, methods=("tool", "prompt-bail-first"), ablation="JustPrefer"))


def test_kv_reuse_gives_the_naive_probabilities(embedded):
    """Scoring turn after turn of one conversation (the cache carries over) gives what a
    cold evaluation of each turn gives."""
    convo = [Message("user", "Hi! Can you help me plan a trip?"), Message("assistant", "Sure, where to?"),
             Message("user", "Somewhere warm in winter."), Message("assistant", "How about the Canary Islands?"),
             Message("user", "Great, what should I pack?")]
    chats = [bail_prompt_chat(tuple(convo[: j + 1]), convo[j + 1].content if j + 1 < len(convo) else "Sunscreen.",
                              "prompt-bail-first", "Baseline", forced_tag=True) for j in (0, 2, 4)]
    warm = [embedded.score([c], ["🔄", "🟢"])[0].logprobs for c in chats]
    cold = []
    for c in chats:
        embedded.llm.n_tokens, embedded._exact = 0, 0
        cold.append(embedded.score([c], ["🔄", "🟢"])[0].logprobs)
    assert warm == cold


def test_kill_9_then_resume(tmp_path):
    args = [sys.executable, "-m", "bailbench.cli", "realdata", "--limit", "3", "--max-tokens", "12",
            "--max-context", "1500", "--methods", "string,prompt-bail-first", "--out", str(tmp_path / "r")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "r" / "samples.sqlite"
    deadline = time.time() + 120

    def count():
        try:
            return sqlite3.connect(db, timeout=1).execute("SELECT count(*) FROM samples").fetchone()[0]
        except sqlite3.Error:
            return 0

    while count() < 4 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = count()
    res = subprocess.run(args, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    con = sqlite3.connect(db)
    total, distinct = con.execute("SELECT count(*), count(DISTINCT key) FROM samples").fetchone()
    assert total == distinct == before + s["new_samples"] == s["reused_samples"] + s["new_samples"]
    assert total == 3 * s["n_turns"]  # rollout + two methods per turn


def test_every_feature_on_every_source(tmp_path):
    """Refusals of the model's own answers on conversations; the false-bail filter on prompts."""
    res = run_realdata(cfg(tmp_path / "rd", methods=("prompt-bail-first",), refusal_classifier="heuristic",
                           limit=1))
    ref, m = res.summary["refusal"], res.summary["methods"]["prompt-bail-first"]
    rollouts = sqlite3.connect(res.out / "samples.sqlite").execute(
        "SELECT count(*) FROM samples WHERE method='rollout' AND skipped IS NULL").fetchone()[0]
    assert ref["classifier"] == "heuristic" and ref["n"] == rollouts > 0 and 0 <= ref["mean_p_refusal"] <= 1
    assert 0 <= m["no_refusal_bail_rate"] <= m["bail_rate"]

    from bailbench.runner import RunConfig, run

    s = run(RunConfig(limit=2, samples=1, max_tokens=12, methods=("prompt-bail-first",), out=tmp_path / "run",
                      false_bail_filter="smollm2")).summary
    f, pb = s["methods"]["prompt-bail-first"]["false_bail_filter"], s["methods"]["prompt-bail-first"]
    judged = sqlite3.connect(tmp_path / "run" / "samples.sqlite").execute("SELECT count(*) FROM false_bails")
    assert judged.fetchone()[0] == pb["bails"] and f["judge"] == "smollm2"
    assert f["bail_rate_filtered"]["rate"] == pytest.approx((pb["bails"] - f["false_bails"]) / pb["n"], abs=1e-6)
