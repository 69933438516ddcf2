"""A bail method is one declaration: registered here (in this process only), it is offered by
every interface and read by every report without an edit anywhere else."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from io import StringIO

import pytest
from rich.console import Console
from typer.testing import CliRunner

from bailbench import api
from bailbench.errors import UserError
from bailbench.methods import ALL_METHODS, BAIL_METHODS, KIND, OFFERED_METHODS, PROMPT_METHODS, resolve_methods
from bailbench.methods.registry import MethodSpec, method_spec, register, specs, unregister

from .helpers import ROOT, SHARED

DATA = str(SHARED / "data" / "bailstudy")
NAME = "string-again"
# the bail string once more, under its own name: the string wordings, offer and reader reused
SPEC = replace(method_spec("string"), name=NAME, label="Bail String Again", short="again", color="#8172B3", rank=25,
               paper_name=None)
REGISTER = ("from bailbench.methods.registry import register; from tests.test_method_registry import SPEC; "
            "register(SPEC); from bailbench.cli import app; app()")


@pytest.fixture
def extra():
    register(SPEC)
    yield SPEC
    unregister(NAME)


def test_the_paper_methods_in_their_order():
    assert tuple(BAIL_METHODS) == ("tool", "string", "prompt-bail-first", "prompt-continue-first")
    assert tuple(ALL_METHODS) == (*BAIL_METHODS, "rollout")
    assert tuple(PROMPT_METHODS) == ("prompt-bail-first", "prompt-continue-first")
    assert tuple(OFFERED_METHODS) == ("tool", "string")
    assert dict(KIND) == {"tool": "tool", "string": "string", "prompt-bail-first": "prompt",
                          "prompt-continue-first": "prompt"}
    assert [s.color for s in specs()] == ["#4C72B0", "#DD8452", "#55A868", "#C44E52"]


def test_a_name_is_registered_once():
    with pytest.raises(ValueError, match="registered already"):
        register(method_spec("tool"))
    with pytest.raises(ValueError, match="exactly one of offer and check"):
        MethodSpec(name="x", kind="string", label="X", short="x", color="#000000", rank=99,
                   read=method_spec("string").read)


def test_a_registered_method_is_offered_everywhere(extra, tmp_path):
    # resolve_methods, `all` and the views, in rank order
    assert resolve_methods("all") == ["tool", "string", NAME, "prompt-bail-first", "prompt-continue-first"]
    assert NAME in OFFERED_METHODS and NAME not in PROMPT_METHODS and KIND[NAME] == "string"
    # the API: a run, its rates and its summary
    res = api.run(model="mock:string=1", methods=f"{NAME},prompt-bail-first", limit=4, samples=1, data_dir=DATA,
                  out=tmp_path / "run")
    m = res.summary["methods"]
    assert list(m) == [NAME, "prompt-bail-first"] and m[NAME]["bail_rate"] == 1.0
    # the console's table and the figures
    from bailbench.console import method_table
    from bailbench.report import figures
    from bailbench.report.runs import load_runs

    out = StringIO()
    Console(file=out, width=200).print(method_table(res.summary))
    assert "again" in out.getvalue()
    fig, data = figures.bail_rates(load_runs([tmp_path / "run"]))
    assert data["methods"] == [NAME, "prompt-bail-first"]
    assert figures.method_color(NAME) == "#8172B3" and figures.method_label(NAME) == "Bail String Again"
    # sweep validation and planning
    from bailbench.sweep.plan import expand
    from bailbench.sweep.spec import load_experiment

    path = tmp_path / "exp.toml"
    path.write_text(f'[runs]\nmethods = ["{NAME}"]\nlimit = 2\n[[models]]\nspec = "mock:string=1"\n', "utf-8")
    (planned,) = expand(load_experiment(path), tmp_path / "sweep")
    assert planned.config.methods == (NAME,)
    # prices: the offer's tokens
    from bailbench.prices import plan_tokens

    assert plan_tokens(["hello"], 1, [NAME], 16) == plan_tokens(["hello"], 1, ["string"], 16)


def test_the_cli_offers_a_registered_method(extra, tmp_path):
    from bailbench.cli import app

    ran = CliRunner().invoke(app, ["run", "--model", "mock:string=1", "--methods", NAME, "--limit", "2", "--samples",
                                   "1", "--data-dir", DATA, "--out", str(tmp_path / "run")], env={"COLUMNS": "200"})
    assert ran.exit_code == 0, ran.output
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["methods"][NAME]["bail_rate"] == 1.0
    unregister(NAME)
    try:
        with pytest.raises(UserError, match=f"unknown method {NAME!r}"):
            resolve_methods(NAME)
        refused = CliRunner().invoke(app, ["run", "--model", "mock", "--methods", NAME, "--limit", "2"])
        assert refused.exit_code == 2 and f"unknown method {NAME!r}" in refused.output
    finally:
        register(SPEC)


@pytest.mark.slow
def test_the_cli_help_names_a_registered_method():
    """The help is written when the CLI is built: a fresh process registers first."""
    help_ = subprocess.run([sys.executable, "-c", REGISTER, "run", "--help"], capture_output=True, text=True,
                           cwd=ROOT, env={**os.environ, "COLUMNS": "400"})
    assert help_.returncode == 0, help_.stderr
    assert f"tool, string, {NAME}, prompt-bail-first, prompt-continue-first, rollout; all = the five" in help_.stdout


@pytest.mark.slow
def test_inspect_offers_a_registered_method(extra, tmp_path, monkeypatch):
    pytest.importorskip("inspect_ai")
    import tiktoken
    from inspect_ai import eval as inspect_eval

    from bailbench.inspect_tasks import bail_method
    from bailbench.inspect_tasks.importer import import_logs

    class Estimate:  # tiktoken's vocabulary is a download: the machine is offline
        def encode(self, text, **kwargs):
            return [0] * (len(text) // 4 + 1)

    monkeypatch.setattr(tiktoken, "get_encoding", lambda name: Estimate())
    monkeypatch.setattr(tiktoken, "encoding_for_model", lambda name: Estimate())
    monkeypatch.setenv("BAILBENCH_DATA_DIR", DATA)
    (log,) = inspect_eval(bail_method(method=NAME, limit=2, model_name="Mock"), model="mockllm/model",
                          log_dir=str(tmp_path / "logs"), display="none")
    assert log.status == "success" and log.samples[0].messages[0].text.startswith("Mock may output the string")
    summary = import_logs([tmp_path / "logs"], tmp_path / "imported").summary
    assert list(summary["methods"]) == [NAME] and summary["methods"][NAME]["bail_rate"] == 0.0


def test_prompts_shows_what_a_method_of_a_new_kind_offers():
    """`bailbench prompts` prints a registered offer of a kind it has no branch for from the
    offer itself (here the string's offer under a kind of its own)."""
    from bailbench.cli import app

    register(replace(SPEC, kind="again"))
    try:
        res = CliRunner().invoke(app, ["prompts", "--method", NAME, "--model-name", "Model"])
    finally:
        unregister(NAME)
    assert res.exit_code == 0, res.output
    assert res.output.startswith("system prompt addition:\nModel may output the string SWITCHCONVERSATION")
    assert res.output.rstrip().endswith("tools:\n[]")
