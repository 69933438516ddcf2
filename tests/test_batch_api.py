"""Batch mode of the openai: and anthropic: backends through the real SDKs against a
loopback batch server; prompt caching marks and cached tokens."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bailbench.backends.anthropic_api import AnthropicBackend, anthropic_request
from bailbench.backends.base import GenerationRequest
from bailbench.backends.batch import BatchPolicy, custom_id
from bailbench.backends.http import RetryPolicy
from bailbench.backends.openai_api import OpenAIBackend
from bailbench.backends.registry import BackendOptions, load_backend
from bailbench.chat.types import Chat, Message, Tool
from bailbench.errors import ServiceError, UserError
from bailbench.methods import BAIL_FIRST, CONTINUE_FIRST
from bailbench.methods.prompt import bail_prompt_chat
from bailbench.prices import Cost, Price, PriceTable, Tokens, load_prices, price_tokens
from bailbench.safe_io import parse_toml

from .batch_servers import BatchServer

FAST_POLL = BatchPolicy(poll_seconds=0.01, max_poll_seconds=0.05)
TOOL = Tool("switchconversation_tool", "Leave the conversation.")
ROOT = Path(__file__).resolve().parents[1]


def requests() -> list[GenerationRequest]:
    slugs = (Message("user", "Tell me about slugs."),)
    chats = [Chat(slugs, tools=(TOOL,)), Chat((Message("user", "Hello there."),), system_addition="Be kind."),
             bail_prompt_chat(slugs, "Slugs are molluscs.", BAIL_FIRST, "Baseline", forced_tag=False),
             Chat((Message("user", "Hello there."),))]
    return [GenerationRequest(chat=c, seed=s, temperature=1.0, max_tokens=50) for s in (1, 2) for c in chats]


def backend(kind: str, server: BatchServer, *, batch: bool, run_dir: Path | None = None, **kw):
    cls, url = (OpenAIBackend, server.openai_url) if kind == "openai" else (AnthropicBackend, server.anthropic_url)
    b = cls("model-x", spec=f"{kind}:model-x", base_url=url, cache=False, batch=batch,
            retry=RetryPolicy(max_retries=2, base_delay=0.01), **kw)
    b.batch_policy = FAST_POLL
    if run_dir is not None:
        b.bind(run_dir)
    return b


def plain(gens) -> list[dict]:
    return [{k: v for k, v in dataclasses.asdict(g).items() if k != "seconds"} for g in gens]


@pytest.fixture
def server():
    s = BatchServer()
    yield s
    s.stop()


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_batch_equals_real_time_in_one_job(kind, server, tmp_path):
    real = backend(kind, server, batch=False).generate(requests())
    batched = backend(kind, server, batch=True, run_dir=tmp_path).generate(requests())
    assert plain(batched) == plain(real)
    probe = int(kind == "openai")  # one real-time request learns what the model refuses before the job
    assert server.submissions == {kind: 1} and server.realtime == {kind: len(requests()) + probe}
    assert [len(j.items) for j in server.jobs.values()] == [len(requests())]
    assert batched[0].tool_calls == ["switchconversation_tool"]
    assert batched[2].text == "<wellbeing>🔄</wellbeing>"
    assert (tmp_path / "batch_jobs.sqlite").is_file()


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_answers_in_the_ledger_are_not_paid_again(kind, server, tmp_path):
    first = backend(kind, server, batch=True, run_dir=tmp_path).generate(requests())
    before = server.realtime.copy()  # openai: the probe before the first job
    again = backend(kind, server, batch=True, run_dir=tmp_path).generate(requests())
    assert plain(again) == plain(first)
    assert server.submissions == {kind: 1} and server.realtime == before
    assert sum(before.values()) == int(kind == "openai")


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.parametrize("fault", [{"fail": 3}, {"expire": True}])
def test_failed_and_expired_items_go_into_a_new_job(kind, fault, tmp_path):
    server = BatchServer(**fault)
    try:
        gens = backend(kind, server, batch=True, run_dir=tmp_path).generate(requests())
        real = backend(kind, server, batch=False).generate(requests())
    finally:
        server.stop()
    assert plain(gens) == plain(real)
    sizes = [len(j.items) for j in server.jobs.values()]
    assert sizes == ([8, 3] if "fail" in fault else [8, 4])
    with sqlite3.connect(tmp_path / "batch_jobs.sqlite") as db:
        attempts = sorted(r[0] for r in db.execute("SELECT attempts FROM items"))
        assert attempts == [1] * (8 - sizes[1]) + [2] * sizes[1]
        assert db.execute("SELECT count(*) FROM jobs WHERE collected = 1").fetchone() == (2,)


def test_an_item_failing_every_attempt_stops_the_run(tmp_path):
    server = BatchServer(fail=1)
    try:
        b = backend("openai", server, batch=True, run_dir=tmp_path)
        b.batch_policy = dataclasses.replace(FAST_POLL, max_attempts=1)
        with pytest.raises(ServiceError, match=r"openai batch: 1 request\(s\) failed 1 times \(last: HTTP 500: "
                                               r"server error\).*rerun the same command"):
            b.generate(requests())
    finally:
        server.stop()


CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.test_batch_api import backend_in_child
backend_in_child({kind!r}, {url!r}, Path({run!r}))
"""


def backend_in_child(kind: str, url: str, run_dir: Path) -> None:
    """The child's side of the kill -9 test: submit, then wait (the server holds the job)."""
    cls = OpenAIBackend if kind == "openai" else AnthropicBackend
    b = cls("model-x", spec=f"{kind}:model-x", base_url=url, cache=False, batch=True)
    b.batch_policy = FAST_POLL
    b.bind(run_dir)
    b.generate(requests())


def recorded(ledger: Path) -> bool:
    try:
        with sqlite3.connect(ledger) as db:
            return db.execute("SELECT count(*) FROM jobs").fetchone()[0] > 0
    except sqlite3.OperationalError:  # not created yet
        return False


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
@pytest.mark.slow
def test_kill_9_between_submit_and_results_pays_nothing_twice(kind, server, tmp_path):
    server.hold.clear()
    url = server.openai_url if kind == "openai" else server.anthropic_url
    code = CHILD.format(root=str(ROOT), kind=kind, url=url, run=str(tmp_path))
    child = subprocess.Popen([sys.executable, "-c", code], env=os.environ | {"PYTHONPATH": str(ROOT / "src")})
    ledger = tmp_path / "batch_jobs.sqlite"
    deadline = time.time() + 60
    while time.time() < deadline:
        if recorded(ledger):
            break
        assert child.poll() is None, "the child exited before its job was recorded"
        time.sleep(0.05)
    time.sleep(0.2)  # polling, the job held in progress
    os.kill(child.pid, signal.SIGKILL)
    child.wait(10)
    assert server.submissions == {kind: 1}
    server.hold.set()
    gens = backend(kind, server, batch=True, run_dir=tmp_path).generate(requests())
    assert server.submissions == {kind: 1}  # collected, not resubmitted
    assert plain(gens) == plain(backend(kind, server, batch=False).generate(requests()))


def test_custom_ids_are_stable_hashes_of_the_request():
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert custom_id("s", body) == custom_id("s", json.loads(json.dumps(body)))
    assert custom_id("s", body) == "bb-440bbbe696b19faf93d87dfe1ac37590f2c5542f"
    assert custom_id("s|seed=2", body) != custom_id("s", body)


def test_anthropic_marks_the_prefixes_sent_again():
    context = (Message("user", "Tell me about slugs."),)
    rollout = anthropic_request(Chat(context), "m", 1.0, 50)
    checks = [anthropic_request(bail_prompt_chat(context, "Slugs.", m, "Baseline", forced_tag=False), "m", 1.0, 50)
              for m in (BAIL_FIRST, CONTINUE_FIRST)]
    mark = {"cache_control": {"type": "ephemeral"}}
    assert rollout["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Tell me about slugs."} | mark]}]
    for check in checks:  # the rollout's prefix, then the reply marked: the other check sends both again
        assert check["messages"][0] == {"role": "user", "content": "Tell me about slugs."}
        assert check["messages"][1] == {"role": "assistant", "content": [{"type": "text", "text": "Slugs."} | mark]}
        assert isinstance(check["messages"][2]["content"], str)
    assert checks[0]["messages"][:2] == checks[1]["messages"][:2]
    turns = (Message("user", "a"), Message("assistant", "b"), Message("user", "c"))
    assert anthropic_request(Chat(turns), "m", 1.0, 5)["messages"][2]["content"][0]["cache_control"]
    assert "cache_control" not in json.dumps(anthropic_request(Chat(context), "m", 1.0, 5, cache=False))


def test_cached_tokens_are_kept_per_generation(server):
    a = backend("anthropic", server, batch=False)
    resp = {"content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 7, "cache_read_input_tokens": 1200, "cache_creation_input_tokens": 30,
                      "output_tokens": 4}}
    g = a._generation({"messages": []}, resp, 0.0)
    assert (g.prompt_tokens, g.cached_tokens, g.cache_write_tokens, g.completion_tokens) == (1237, 1200, 30, 4)
    o = backend("openai", server, batch=False)
    resp = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 2000, "completion_tokens": 3, "prompt_tokens_details": {"cached_tokens": 1536}}}
    g = o._generation({"messages": []}, resp, 0.0)
    assert (g.prompt_tokens, g.cached_tokens, g.completion_tokens) == (2000, 1536, 3)


FIXED = PriceTable({"claude-x": Price(input=3.0, output=15.0, cache_read=0.3, cache_write=3.75, batch=0.5),
                    "claude-x-mini": Price(input=1.0, output=5.0, cache_read=1.0, cache_write=1.0, batch=0.5)},
                   "fixed")


def test_prices_of_a_planned_run_on_a_fixed_table():
    tokens = Tokens(input=2_000_000, output=1_000_000, cached=1_000_000, written=200_000)
    cost = price_tokens("anthropic:claude-x-20250101", tokens, FIXED)
    assert cost == Cost("anthropic:claude-x-20250101", realtime=21.0, batch=10.5,
                        realtime_cached=pytest.approx(18.45), batch_cached=pytest.approx(9.225))
    assert FIXED.find("claude-x-mini-2") == FIXED.prices["claude-x-mini"]  # the longest name wins
    assert FIXED.find("claude-xl") is None and price_tokens("gpt-9", tokens, FIXED) is None


def test_the_shipped_table_prices_the_papers_models_and_a_user_file_overrides_it(tmp_path):
    table = load_prices()
    for name in ("bailbench-anthropic", "bailbench-openai"):
        specs = parse_toml((ROOT / "experiments" / f"{name}.toml").read_text(), name)["models"]
        assert [m["spec"] for m in specs if table.find(m["spec"]) is None] == []
    assert table.find("claude-3-5-haiku-20241022") == Price(0.80, 4.00, 0.08, 1.00, 0.5)
    assert table.find("gpt-4-turbo") == Price(10.0, 30.0, 10.0, 10.0, 0.5)
    user = tmp_path / "prices.toml"
    user.write_text('[models."gpt-4o"]\ninput = 1.0\n[models."my-model"]\ninput = 2\noutput = 4\nbatch = 1\n')
    mine = load_prices(user)
    assert mine.find("gpt-4o-2024-08-06") == Price(1.0, 10.0, 1.25, 1.0, 0.5)
    assert mine.find("my-model") == Price(2.0, 4.0, 2.0, 2.0, 1.0)
    assert mine.source == f"bailbench/prices.toml + {user}"
    user.write_text('[models."bad"]\noutput = 1\n')
    with pytest.raises(UserError, match="model 'bad' needs numbers for input and output"):
        load_prices(user)


def test_batch_is_a_backend_option_of_the_api_providers_only(server, tmp_path):
    b = load_backend("openai:model-x", BackendOptions(batch=True, base_url=server.openai_url))
    assert b.batch and b.batch_size == 10_000
    b.batch_policy, b.cache = FAST_POLL, None
    b.bind(tmp_path)
    assert [g.text for g in b.generate(requests()[1:2])] == ["About: Hello there."]
    assert server.submissions == {"openai": 1}
    with pytest.raises(UserError, match="--batch does not apply to mock models"):
        load_backend("mock:p_bail=0.5", BackendOptions(batch=True))


def test_jobs_for_a_reasoning_model_carry_only_what_it_takes(tmp_path):
    server = BatchServer(reasoning=True)
    try:
        gens = backend("openai", server, batch=True, run_dir=tmp_path).generate(requests())
    finally:
        server.stop()
    assert server.submissions == {"openai": 1}
    (job,) = server.jobs.values()
    assert {tuple(sorted(k for k in body if k in ("max_tokens", "max_completion_tokens", "temperature")))
            for _, body in job.items} == {("max_completion_tokens", "temperature")}  # temperature 1 it takes
    assert [g.text for g in gens[1::4]] == ["About: Hello there."] * 2


def test_a_run_keeps_its_ledger_in_its_run_directory(server, tmp_path):
    """The session binds a batch backend to the run directory: the ledger lives beside the samples."""
    from bailbench import api

    b = backend("openai", server, batch=True)
    out = tmp_path / "run"
    data = str(ROOT.parent / "shared" / "data" / "bailstudy")
    r = api.run(model="openai:model-x", backend=b, methods="tool", limit=2, samples=1, model_name="M",
                data_dir=data, out=out)
    assert r.summary["new_samples"] == 2 and (out / "batch_jobs.sqlite").is_file()
    assert server.submissions == {"openai": 1}


def test_plan_tokens_count_every_request_of_a_run():
    from bailbench.prices import plan_tokens

    assert plan_tokens(["x" * 40], 2, ["rollout"], max_tokens=100) == Tokens(input=2 * 20, output=2 * 100)
    long = plan_tokens(["x" * 4000], 1, ["prompt-bail-first"], max_tokens=2000)
    # the rollout, then its check: the rollout's prompt and reply sent again (and cacheable, past 1024 tokens)
    assert long.output == 500 + 10 and long.cached == 1010 + 500 and long.input > 1010 + long.cached


def test_run_plan_prices_an_api_model_from_a_users_table(tmp_path):
    from typer.testing import CliRunner

    from bailbench.cli import app
    from bailbench.datasets.records import stratified
    from bailbench.datasets.registry import load_dataset

    data = str(ROOT.parent / "shared" / "data" / "bailstudy")
    table = tmp_path / "prices.toml"
    table.write_text('[models.my-model]\ninput = 1e6\noutput = 2e6\nbatch = 0.5\n')  # $1 and $2 a token
    res = CliRunner().invoke(app, ["run", "--model", "openai:my-model", "--plan", "--limit", "1", "--samples", "1",
                                   "--methods", "rollout", "--max-tokens", "100", "--prices", str(table),
                                   "--data-dir", data], env={"COLUMNS": "300"})
    assert res.exit_code == 0, res.output
    (prompt,) = stratified(load_dataset("bailbench", data).prompts, 1)
    tokens_in = len(prompt.content) // 4 + 10
    dollars = tokens_in * 1.0 + 100 * 2.0
    said = " ".join(res.output.split())
    assert f"about {tokens_in:,} tokens in and 100 out" in said
    assert f"list price ${dollars:,.2f} real-time, ${dollars / 2:,.2f} with --batch" in said


def test_sweep_plan_prices_each_api_model_over_its_runs(tmp_path):
    """`sweep --plan` prices every API model's BailBench runs (two ablations: each sent), checks sampled."""
    from typer.testing import CliRunner

    from bailbench.cli import app
    from bailbench.datasets.records import stratified
    from bailbench.datasets.registry import load_dataset

    data = ROOT.parent / "shared" / "data" / "bailstudy"
    table = tmp_path / "prices.toml"
    table.write_text('[models.my-model]\ninput = 1e6\noutput = 2e6\nbatch = 0.5\n')
    exp = tmp_path / "exp.toml"
    exp.write_text('[experiment]\nname = "priced"\n[runs]\ndatasets = ["bailbench"]\nmethods = ["rollout", '
                   '"prompt-bail-first"]\nsamples = 2\nlimit = 1\nmax_tokens = 100\nbail_prompt_mode = "sample"\n'
                   '[[models]]\nspec = "openai:my-model"\n[[models]]\nspec = "mock:p_bail=0.5"\n')
    res = CliRunner().invoke(app, ["sweep", str(exp), "--plan", "--out", str(tmp_path / "s"), "--prices", str(table)],
                             env={"COLUMNS": "300", "BAILBENCH_DATA_DIR": str(data)})
    assert res.exit_code == 0, res.output
    (prompt,) = stratified(load_dataset("bailbench", str(data)).prompts, 1)
    from bailbench.methods.prompt import check_message

    p = len(prompt.content) // 4 + 10
    check = max(1, len(check_message("prompt-bail-first", "Baseline")) // 4)
    tokens_in, tokens_out = 2 * (p + p + 100 + check), 2 * (100 + 100)  # rollout, then its sampled check
    said = " ".join(res.output.split())
    assert f"openai:my-model: about {tokens_in:,} tokens in and {tokens_out:,} out" in said
    assert f"list price ${tokens_in + 2 * tokens_out:,.2f} real-time" in said and "mock:" not in said.split("list")[-1]


def test_a_run_records_its_usage_and_its_list_price(server, tmp_path):
    """summary.json's `usage`: the tokens the API reported for the run's stored requests (cache
    reads and writes per sample in the store), and their list price at the batch price."""
    import sqlite3

    from bailbench import api

    b = OpenAIBackend("gpt-4o-mini", spec="openai:gpt-4o-mini", base_url=server.openai_url, cache=False, batch=True,
                      retry=RetryPolicy(max_retries=2, base_delay=0.01))
    b.batch_policy = FAST_POLL
    out = tmp_path / "run"
    data = str(ROOT.parent / "shared" / "data" / "bailstudy")
    r = api.run(model="openai:gpt-4o-mini", backend=b, batch=True, methods="tool,string", limit=2, samples=1,
                model_name="M", data_dir=data, out=out)
    con = sqlite3.connect(out / "samples.sqlite")
    tokens_in, tokens_out, cached, n = con.execute(
        "SELECT SUM(prompt_tokens), SUM(completion_tokens), SUM(cached_tokens), COUNT(*) FROM samples").fetchone()
    con.close()
    u = r.summary["usage"]
    assert (u["requests"], u["prompt_tokens"], u["completion_tokens"], u["cached_tokens"]) == (n, tokens_in, tokens_out,
                                                                                              cached)
    assert n == 4 and tokens_in > 0 and u["priced_as"] == "batch"
    p = load_prices().find("gpt-4o-mini")
    dollars = ((tokens_in - cached) * p.input + cached * p.cache_read + tokens_out * p.output) / 1e6 * p.batch
    assert u["list_price_usd"] == pytest.approx(dollars, abs=1e-6)


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
def test_a_batch_job_shows_its_progress(kind, server, tmp_path, monkeypatch):
    """The user sees each job submitted (with where its ledger is), its state as it moves on,
    and what it answered."""
    from bailbench.backends import batch as batch_module

    lines: list[str] = []
    monkeypatch.setattr(batch_module, "_say", lines.append)
    backend(kind, server, batch=True, run_dir=tmp_path).generate(requests())
    (job,) = server.jobs
    n = len(requests())
    assert lines[0] == (f"{kind} batch {job}: {n:,} requests submitted (ledger {tmp_path / 'batch_jobs.sqlite'}; "
                        "a rerun collects it, never resubmits)")
    assert any(line.startswith(f"{kind} batch {job}: ") and line.endswith(("completed", "ended")) for line in lines)
    assert lines[-1] == f"{kind} batch {job} collected: {n:,} answered, 0 failed"
