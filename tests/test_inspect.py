"""bailbench inside Inspect AI: `inspect eval bailbench/...` against a real llama.cpp server
on loopback (Inspect's OpenAI-compatible provider), the logs read back by
`bailbench import-inspect`, and any Inspect log used as real conversations."""

from __future__ import annotations

import csv
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("inspect_ai")

from inspect_ai.log import read_eval_log  # noqa: E402

from bailbench.analysis import intervals  # noqa: E402
from bailbench.analysis.stats import wilson  # noqa: E402
from bailbench.backends.registry import embedded_gguf  # noqa: E402
from bailbench.methods import BAIL, TRUNCATED_CALL, UNKNOWN  # noqa: E402
from bailbench.methods.prompt import check_message, read_sampled  # noqa: E402
from bailbench.methods.string import read_string  # noqa: E402
from bailbench.methods.tool import read_tool_call  # noqa: E402
from bailbench.methods.wordings import string_wording, tool_wording  # noqa: E402

from .servers import LlamaServer  # noqa: E402

INSPECT = [str(Path(sys.executable).parent / "inspect")]
BAILBENCH = [sys.executable, "-m", "bailbench.cli"]
MODEL = "openai-api/local/SmolLM2-135M-Instruct"  # -> LOCAL_API_KEY, LOCAL_BASE_URL
EVAL_FLAGS = ["--model", MODEL, "--max-tokens", "16", "--epochs", "2", "--display", "none", "--seed", "7"]

# A task that is not bailbench's: a conversation with a tool call and its result, kept as
# it is (no model call), so the log holds every kind of message a real agent log holds.
OTHER_TASK = '''
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.model import ChatMessageAssistant, ChatMessageSystem, ChatMessageTool, ChatMessageUser
from inspect_ai.solver import solver
from inspect_ai.tool import ToolCall


@solver
def keep():
    async def solve(state, generate):
        return state
    return solve


@task
def weather():
    call = ToolCall(id="c1", function="get_weather", arguments={"city": "Oslo"})
    messages = [ChatMessageSystem(content="You are helpful."), ChatMessageUser(content="Weather in Oslo?"),
                ChatMessageAssistant(content="", tool_calls=[call]),
                ChatMessageTool(content="-3C, snow", tool_call_id="c1", function="get_weather"),
                ChatMessageAssistant(content="It is -3C and snowing."), ChatMessageUser(content="Thanks! Tomorrow?")]
    return Task(dataset=[Sample(input=messages, id="oslo")], solver=[keep()])
'''


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)


def one_line_error(res) -> str:
    """The error as the user sees it: one non-empty line, no traceback."""
    text = (res.stdout + res.stderr).strip()
    lines = [ln for ln in text.splitlines() if ln.strip() and "warning" not in ln.lower()]
    assert "Traceback" not in text and len(lines) == 1, text
    return lines[0]


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    """Logs of all three tasks (both orders of the bail prompt) and of another task."""
    root = tmp_path_factory.mktemp("inspect")
    server = LlamaServer(embedded_gguf())
    env = {**os.environ, "LOCAL_API_KEY": "none", "LOCAL_BASE_URL": server.url}
    try:
        first = run(INSPECT + ["eval", "bailbench/bail_tool", "bailbench/bail_string", "bailbench/bail_prompt",
                               "-T", "limit=2", "--log-dir", str(root / "a")] + EVAL_FLAGS, env=env, cwd=root)
        assert first.returncode == 0, first.stdout + first.stderr
        (root / "other_task.py").write_text(OTHER_TASK)
        second = run(INSPECT + ["eval", "bailbench/bail_prompt", "other_task.py", "-T", "order=continue_first",
                                "-T", "limit=2", "--log-dir", str(root / "b")] + EVAL_FLAGS, env=env, cwd=root)
        assert second.returncode == 0, second.stdout + second.stderr
    finally:
        server.stop()
    found = {}
    for f in sorted((root / "a").glob("*.eval")) + sorted((root / "b").glob("*.eval")):
        log = read_eval_log(str(f), resolve_attachments="full")
        key = log.eval.task.split("/")[-1] + ("_" + log.eval.task_args["order"] if "order" in log.eval.task_args else "")
        found[key] = (f, log)
    assert sorted(found) == ["bail_prompt_bail_first", "bail_prompt_continue_first", "bail_string", "bail_tool",
                             "weather"]
    found["root"] = root
    return found


def assert_schema(summary: dict) -> None:
    from jsonschema import Draft202012Validator

    from bailbench.summary import schema

    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
              for e in Draft202012Validator(schema()).iter_errors(summary)]
    assert not errors, "\n".join(errors[:20])


def _verdicts(log) -> list[str]:
    return [s.scores[next(iter(s.scores))].answer for s in log.samples]


def _check_metrics(log, verdicts: list[str]) -> None:
    """Inspect's metrics are bailbench's: the bail rate over every epoch, its interval clustered
    by sample id (the epochs of a prompt), the paper's Wilson beside it, per category, and the
    unknown share for the bail prompt."""
    metrics = log.results.scores[0].metrics
    n, k = len(verdicts), verdicts.count(BAIL)
    lo, hi = wilson(k, n)
    assert metrics["bail_rate"].value == pytest.approx(k / n)
    assert (metrics["wilson_low"].value, metrics["wilson_high"].value) == (pytest.approx(lo), pytest.approx(hi))
    units: dict = {}
    for s, v in zip(log.samples, verdicts):
        u = units.setdefault(s.id, [0, 0, s.metadata.get("subcategory", ""), s.metadata["category"]])
        u[0] += v == BAIL
        u[1] += 1
    kk, nn, g, st = zip(*units.values())
    iv = intervals.proportion(kk, nn, groups=g, strata=st)
    assert (metrics["ci_low"].value, metrics["ci_high"].value) == (pytest.approx(iv.ci_low), pytest.approx(iv.ci_high))
    if "unknown_rate" in metrics:
        assert metrics["unknown_rate"].value == pytest.approx(verdicts.count(UNKNOWN) / n)
    for cat in {s.metadata["category"] for s in log.samples}:
        mine = [v for s, v in zip(log.samples, verdicts) if s.metadata["category"] == cat]
        assert metrics[cat].value == pytest.approx(mine.count(BAIL) / len(mine))


@pytest.mark.model  # the logs are the embedded model's, through a llama.cpp server
def test_tasks_offer_the_option_and_score_with_bailbench_readers(logs):
    for key in ("bail_tool", "bail_string", "bail_prompt_bail_first", "bail_prompt_continue_first"):
        f, log = logs[key]
        assert log.status == "success" and log.eval.model == MODEL
        assert len(log.samples) == 4 and {s.epoch for s in log.samples} == {1, 2}  # 2 prompts x 2 epochs
        assert all(s.metadata["category"] and s.metadata["subcategory"] for s in log.samples)
        assert len({s.metadata["category"] for s in log.samples}) == 2  # stratified over categories
        verdicts = _verdicts(log)
        for s, verdict in zip(log.samples, verdicts):
            reply = s.messages[-1]
            if key == "bail_tool":
                request = next(e for e in s.events if e.event == "model").call.request
                w = tool_wording("Baseline", "SmolLM")
                (offered,) = request["tools"]
                assert offered["function"]["name"] == w.name == "switchconversation_tool"
                assert offered["function"]["description"] == w.description
                assert offered["function"]["parameters"]["properties"] == {}
                calls = [c.function for c in reply.tool_calls or []]
                reading = read_tool_call(reply.text, calls, "Baseline", "hermes")  # as `bailbench run` reads it
                assert verdict == (TRUNCATED_CALL if reading.truncated else reading.verdict)
            elif key == "bail_string":
                assert s.messages[0].role == "system"
                assert s.messages[0].text == string_wording("Baseline", "SmolLM").system_text
                assert verdict == read_string(reply.text, "Baseline")
            else:
                method = "prompt-" + key.removeprefix("bail_prompt_").replace("_", "-")
                roles = [m.role for m in s.messages]
                assert roles == ["user", "assistant", "user", "assistant"]
                assert s.messages[2].text == check_message(method, "Baseline")
                assert verdict == read_sampled(reply.text)
        _check_metrics(log, verdicts)


@pytest.mark.model  # the logs are the embedded model's, through a llama.cpp server
def test_import_inspect_makes_a_run_store(logs, tmp_path):
    root = logs["root"]
    out = tmp_path / "run"
    # folders of logs; the other task's log in b/ is passed over
    res = run(BAILBENCH + ["import-inspect", str(root / "a"), str(root / "b"), "--out", str(out)])
    assert res.returncode == 0, res.stderr
    s = json.loads((out / "summary.json").read_text())
    assert (s["model"], s["dataset"], s["samples"], s["n_prompts"]) == (MODEL, "bailbench", 2, 2)
    assert s["bail_prompt_mode"] == "sample" and s["model_name"] == "SmolLM"
    # 4 methods + the rollouts; the continue-first log's rollouts share the keys of the bail-first log's
    assert s["new_samples"] == 5 * 4 and s["reused_samples"] == 4
    logs_by_method = {"tool": "bail_tool", "string": "bail_string", "prompt-bail-first": "bail_prompt_bail_first",
                      "prompt-continue-first": "bail_prompt_continue_first"}
    assert sorted(s["methods"]) == sorted(logs_by_method)
    for method, key in logs_by_method.items():
        verdicts = _verdicts(logs[key][1])
        st = s["methods"][method]
        assert st["n"] == 4 and st["bail_rate"] == pytest.approx(verdicts.count(BAIL) / 4, abs=1e-6)
        assert st["unknown_rate"] == pytest.approx(verdicts.count(UNKNOWN) / 4, abs=1e-6)
        assert sum(c["n"] for c in st["categories"].values()) == 4
    assert s["positional_bias"] is not None and len(s["inspect"]["logs"]) == 4
    assert_schema(s)  # an import has the layout of any prompt run
    # the stored verdicts are bailbench's readers applied to the stored replies
    db = sqlite3.connect(out / "samples.sqlite")
    rows = db.execute("SELECT method, reply, verdict FROM samples").fetchall()
    with open(out / "samples.csv", newline="", encoding="utf-8") as f:
        assert len(rows) == 20 and len(list(csv.DictReader(f))) == 20
    for method, reply, verdict in rows:
        if method == "string":
            assert verdict == read_string(reply, "Baseline")
        elif method.startswith("prompt-"):
            assert verdict == read_sampled(reply)
        elif method == "rollout":
            assert verdict is None and reply
    db.close()
    again = run(BAILBENCH + ["import-inspect", str(root / "a"), "--out", str(out)])
    assert again.returncode == 0, again.stderr
    s2 = json.loads((out / "summary.json").read_text())
    assert s2["new_samples"] == 0 and s2["reused_samples"] == 3 * 4 + 4
    assert s2["methods"] == s["methods"]
    # report and compare read it as any run
    from bailbench.analysis.compare import compare
    from bailbench.report.build import build_report

    shutil.copytree(out, tmp_path / "copy")
    result = compare([out, tmp_path / "copy"], permutations=10)
    assert result["runs"][0]["methods"]["tool"]["n"] == 4
    assert result["bail_vector_cosine"]["string"]["labels"]
    report = build_report([out], tmp_path / "report")
    assert (report.out / "report.html").is_file() and "bail_rates" in report.figures


@pytest.mark.model  # the logs are the embedded model's, through a llama.cpp server
def test_realdata_over_an_inspect_log(logs, tmp_path):
    f, log = logs["bail_tool"]
    out = tmp_path / "rd"
    res = run(BAILBENCH + ["realdata", "--dataset", f"inspect:{f}", "--limit", "2", "--max-tokens", "16",
                           "--methods", "prompt-bail-first", "--out", str(out)])
    assert res.returncode == 0, res.stderr
    s = json.loads((out / "summary.json").read_text())
    # each sample of the tool task: the prompt and the reply (a call alone leaves no text) -> one user turn
    assert s["n_conversations"] == 2 and s["n_turns"] == 2 and s["dataset"] == f.name
    assert s["conversations"]["read"] == 2 and s["conversations"]["skipped"] == {}
    assert s["methods"]["prompt-bail-first"]["conversations_with_bail"]["n"] == 2
    assert_schema(s)
    db = sqlite3.connect(out / "samples.sqlite")
    answered = db.execute("SELECT c.source_id, s.prompt FROM samples s JOIN conversations c ON s.prompt_id = c.id "
                          "WHERE s.method = 'rollout'").fetchall()
    db.close()
    inputs = {f"{f.name}#{x.id}@{x.epoch}": x.input[-1].text for x in log.samples}
    assert len(answered) == 2 and all(inputs[source] == prompt for source, prompt in answered)


@pytest.mark.model  # the logs are the embedded model's, through a llama.cpp server
def test_inspect_messages_become_alternating_text_turns(logs):
    """Tool results and calls are dropped and counted; the assistant texts around them merge."""
    from bailbench.datasets.conversations import StreamStats, stream
    from bailbench.datasets.inspect_logs import read_inspect_logs

    stats = StreamStats()
    name, ident, raws = read_inspect_logs(logs["weather"][0], stats)
    convs = list(stream(raws, stats))  # one conversation per epoch
    assert [c.source_id for c in convs] == [f"{logs['weather'][0].name}#oslo@{e}" for e in (1, 2)]
    for conv in convs:
        assert [(m.role, m.content) for m in conv.messages] == [
            ("system", "You are helpful."), ("user", "Weather in Oslo?"), ("assistant", "It is -3C and snowing."),
            ("user", "Thanks! Tomorrow?")]
    assert stats.fixes["dropped_tool_messages"] == 2 and stats.fixes["dropped_tool_calls"] == 2
    assert stats.fixes["dropped_empty_messages"] == 2  # the assistant turns that were only a call
    assert ident.startswith("inspect:") and read_inspect_logs(logs["weather"][0], StreamStats())[1] == ident


@pytest.mark.model  # the logs are the embedded model's, through a llama.cpp server
def test_bad_input_is_one_line(logs, tmp_path):
    root = logs["root"]
    env = {**os.environ, "LOCAL_API_KEY": "none", "LOCAL_BASE_URL": "http://127.0.0.1:9/v1", "COLUMNS": "200"}
    res = run(INSPECT + ["eval", "bailbench/bail_tool", "--model", MODEL, "-T", "ordr=bail_first",
                         "--log-dir", str(tmp_path / "l")], env=env)
    assert res.returncode != 0  # Inspect's own exit code for a failed precondition
    assert "unknown task parameter ordr" in one_line_error(res)

    not_a_log = tmp_path / "notes.eval"
    not_a_log.write_text("hello")
    for args, message in [
        (["import-inspect", str(not_a_log)], "is not an Inspect log"),
        (["import-inspect", str(logs["weather"][0])], "not of bailbench's tasks"),
        (["import-inspect", str(tmp_path / "missing.eval")], "does not exist"),
        (["realdata", "--dataset", f"inspect:{not_a_log}", "--limit", "1"], "is not an Inspect log"),
    ]:
        res = run(BAILBENCH + args, cwd=root)
        assert res.returncode == 2, res.stdout + res.stderr
        assert message in one_line_error(res)


def test_task_parameters_are_checked_when_the_task_is_built():
    from bailbench.errors import UserError
    from bailbench.inspect_tasks import bail_prompt, bail_string, bail_tool

    for build, kwargs, message in [
        (bail_prompt, {"order": "sideways"}, "unknown order 'sideways'"),
        (bail_tool, {"ablation": "Nope"}, "unknown ablation 'Nope'"),
        (bail_tool, {"ablation": "JustPrefer"}, "unknown ablation 'JustPrefer'"),  # a bail-prompt ablation
        (bail_string, {"dataset": "nothing-here.csv"}, "nothing-here.csv"),
        (bail_tool, {"limit": -1}, "limit = -1 is negative"),
        (bail_tool, {"limit": "3"}, "limit = '3' must be a whole number"),
        (bail_string, {"order": "bail_first"}, "unknown task parameter order"),
    ]:
        with pytest.raises(UserError) as err:
            build(**kwargs)
        assert message in str(err.value)
    assert bail_prompt(ablation="JustPrefer", limit=1).metadata["bailbench"]["ablation"] == "JustPrefer"
    task = bail_string(limit=14, model_name="Qwen")
    assert len(task.dataset) == 14 and len({s.metadata["category"] for s in task.dataset}) == 14
    # a jailbreak prefix goes before every prompt, and the log records which one
    from bailbench.datasets.jailbreaks import load_prefix

    _, prefix = load_prefix("Hi")
    task = bail_prompt(order="continue_first", dataset="neutral", limit=3, prefix="Hi")
    meta = task.metadata["bailbench"]
    assert (meta["method"], meta["dataset"], meta["prefix"]["name"]) == ("prompt-continue-first", "neutral", "Hi")
    for sample in task.dataset:
        assert [(m.role, m.text) for m in sample.input[:-1]] == [(m.role, m.content) for m in prefix]


@pytest.mark.slow
def test_cli_works_without_importing_inspect():
    res = run([sys.executable, "-c", "import sys, bailbench.cli; print('inspect_ai' in sys.modules)"])
    assert res.stdout.strip() == "False", res.stderr


@pytest.mark.parametrize("model,name", [
    ("openai-api/local/SmolLM2-135M-Instruct", "SmolLM"),
    ("openai-api/llama/my-finetune", None),  # the service name says nothing about the model
    ("hf/meta-llama/Some-Finetune", "Llama"),
    ("vllm/NousResearch/Hermes-3-Llama-3.1-8B", "Hermes"),
    ("anthropic/claude-sonnet-4-0", "Claude"),
])
def test_model_name_from_the_inspect_model(model, name):
    from bailbench.inspect_tasks.naming import family

    assert family(model) == name
