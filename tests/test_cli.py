"""The command line as a user runs it: errors, kill -9 and resume."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .helpers import DATA

BAILBENCH = [sys.executable, "-m", "bailbench.cli"]


def cli(*args, env=None, **kw):
    return subprocess.run(BAILBENCH + list(args), capture_output=True, text=True, env=env, **kw)


@pytest.mark.parametrize("args,message", [
    (["--model", "foo"], "unknown model spec 'foo': use smollm2, or provider:name"),
    (["--model", "gguf:/nope/model.gguf"], "GGUF file /nope/model.gguf not found"),
    (["--methods", "tool,tol"], "unknown method 'tol': choose from tool, string"),
    (["--ablation", "Nope"], "ablation 'Nope' does not exist for method tool"),
    (["--methods", "tool", "--ablation", "JustPrefer"], "it exists for prompt-bail-first, prompt-continue-first"),
    (["--bail-prompt-mode", "maybe"], "--bail-prompt-mode 'maybe' is unknown: use logprob or sample"),
    (["--dataset", "nothing-here.csv"], "dataset file nothing-here.csv does not exist"),
    (["--dataset", "bailbenchh"], "unknown dataset 'bailbenchh'"),
    (["--max-tokens", "9000", "--n-ctx", "4096"], "--max-tokens 9000 does not fit the model's context"),
])
@pytest.mark.slow
def test_bad_input_is_one_line_and_exit_2(args, message, tmp_path):
    res = cli("run", "--out", str(tmp_path / "out"), *args)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], res.stderr
    assert not (tmp_path / "out" / "samples.sqlite").exists()


@pytest.mark.slow
def test_missing_column_and_corrupt_data(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("prompt\nhello\n")
    res = cli("run", "--dataset", str(bad), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "no 'content' column (found: prompt)" in res.stderr
    corrupt = tmp_path / "data"
    corrupt.mkdir()
    (corrupt / "bailBench.csv").write_bytes((DATA / "bailBench.csv").read_bytes()[:-10])
    res = cli("run", "--data-dir", str(corrupt), "--out", str(tmp_path / "o"))
    assert res.returncode == 2 and "checksum mismatch for bailbench" in res.stderr


@pytest.mark.slow
def test_prompts_command_prints_exact_text():
    from bailbench.methods.prompt import check_message

    res = cli("prompts", "--method", "prompt-continue-first")
    assert res.returncode == 0 and res.stdout == check_message("prompt-continue-first", "Baseline") + "\n"
    res = cli("prompts", "--method", "string", "--ablation", "EndThisChatAndStringEndChat", "--model-name", "Gemma")
    assert res.stdout.startswith("keyword: ENDCHAT\nsystem prompt addition:\nGemma may output the string ENDCHAT")
    res = cli("prompts", "--method", "tool", "--list-ablations")
    assert res.stdout.split("\n")[:2] == ["Baseline", "NotContextCleared"]


@pytest.mark.slow
def test_datasets_lists_counts():
    res = cli("datasets")
    assert res.returncode == 0
    for name, rows in (("bailbench", "1630"), ("bailharmbench", "1450"), ("neutral", "59")):
        assert name in res.stdout and rows in res.stdout


def _count(db: Path) -> int:
    try:
        con = sqlite3.connect(db, timeout=1)
        try:
            return con.execute("SELECT count(*) FROM samples").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return 0


@pytest.mark.model
def test_kill_9_then_resume_loses_and_duplicates_nothing(tmp_path):
    args = ["run", "--limit", "3", "--samples", "2", "--max-tokens", "24", "--n-ctx", "2048"]
    total = 3 * 2 * 5  # prompts x samples x (4 methods + rollout)
    proc = subprocess.Popen(BAILBENCH + args + ["--out", str(tmp_path / "killed")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    db = tmp_path / "killed" / "samples.sqlite"
    deadline = time.time() + 120
    while _count(db) < 8 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = _count(db)
    assert 0 < before < total

    res = cli(*args, "--out", str(tmp_path / "killed"))
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "killed" / "summary.json").read_text())
    assert summary["reused_samples"] == before and summary["new_samples"] == total - before
    con = sqlite3.connect(db)
    assert con.execute("SELECT count(*), count(DISTINCT key) FROM samples").fetchone() == (total, total)

    # The interrupted run ends with exactly what an uninterrupted run gives.
    assert cli(*args, "--out", str(tmp_path / "clean")).returncode == 0
    q = "SELECT key, reply, verdict, p_bail FROM samples ORDER BY key"
    clean = sqlite3.connect(tmp_path / "clean" / "samples.sqlite").execute(q).fetchall()
    assert con.execute(q).fetchall() == clean


@pytest.mark.slow
def test_two_user_turns_in_a_row_stop_before_any_work(tmp_path):
    chats = tmp_path / "chats.jsonl"
    chats.write_text(json.dumps({"messages": [{"role": "user", "content": "Hi"}]}) + "\n"
                     + json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Hello?"}]})
                     + "\n")
    res = cli("run", "--dataset", str(chats), "--out", str(tmp_path / "o"), "--limit", "0", "--samples", "1")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert f"{chats} line 2: messages must alternate user and assistant" in lines[0]


@pytest.mark.slow
def test_a_run_directory_refuses_another_context_size_or_dataset_content(tmp_path):
    data = tmp_path / "p.csv"
    data.write_text("content,category\nWrite a haiku about rain.,Poems\n")
    small = ["run", "--dataset", str(data), "--out", str(tmp_path / "o"), "--methods", "string", "--samples", "1",
             "--max-tokens", "4", "--limit", "0"]
    assert cli(*small, "--n-ctx", "2048").returncode == 0
    res = cli(*small, "--n-ctx", "1024")
    assert res.returncode == 2 and "n_ctx: 2048 there, 1024 now" in res.stderr
    data.write_text("content,category\nWrite a limerick about rain.,Poems\n")
    res = cli(*small, "--n-ctx", "2048")
    assert res.returncode == 2 and "dataset_sha256" in res.stderr
