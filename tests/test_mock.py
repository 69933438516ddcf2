"""The scripted backend (`mock:`) runs the whole pipeline in seconds, with rates that are
known in advance: what the pipeline, the rates and the CLI do is tested without a model."""

import json

import pytest
from typer.testing import CliRunner

from bailbench import api
from bailbench.backends.registry import load_backend
from bailbench.cli import app
from bailbench.errors import UserError

from .helpers import SHARED

DATA = str(SHARED / "data" / "bailstudy")


def run(tmp_path, spec: str, **kw):
    kw = {"limit": 14, "samples": 2, "data_dir": DATA, "out": tmp_path / "run", **kw}
    return api.run(model=spec, **kw).summary


def test_rates_are_the_scripted_ones(tmp_path):
    s = run(tmp_path, "mock:p_bail=0.3,tool=1,string=0")
    m = s["methods"]
    assert m["prompt-bail-first"]["bail_rate"] == pytest.approx(0.3, abs=1e-6)  # mean P(bail), every context 0.3
    assert m["prompt-bail-first"]["mean_symbol_mass"] == pytest.approx(0.9, abs=1e-6)
    assert m["prompt-bail-first"]["majority_rate"] == 0.0  # P(bail) > 0.5 on no context
    assert m["tool"]["bail_rate"] == 1.0 and m["string"]["bail_rate"] == 0.0
    assert s["n_prompts"] == 14 and s["new_samples"] == 14 * 2 * 5  # rollout + 4 methods
    assert s["summary_version"] == 2 and s["model_name"] == "Mock"


def test_sampled_bail_prompt_and_resume(tmp_path):
    s = run(tmp_path, "mock:p_bail=1,string=1", bail_prompt_mode="sample")
    assert s["methods"]["prompt-continue-first"]["bail_rate"] == 1.0 and s["methods"]["string"]["bail_rate"] == 1.0
    again = run(tmp_path, "mock:p_bail=1,string=1", bail_prompt_mode="sample")
    assert again["new_samples"] == 0 and again["reused_samples"] == s["new_samples"]
    assert again["methods"] == s["methods"]


def test_spread_makes_prompts_differ_and_samples_agree(tmp_path):
    s = run(tmp_path, "mock:p_bail=0.3,spread=1.5", methods="prompt-bail-first", samples=3)
    rate = s["methods"]["prompt-bail-first"]
    assert rate["icc"] == pytest.approx(1.0)  # P(bail) is the prompt's: its samples are one cluster
    assert rate["ci_high"] - rate["ci_low"] > 0.05 and 0.1 < rate["bail_rate"] < 0.6


def test_a_backend_without_logprobs_is_sampled(tmp_path):
    s = run(tmp_path, "mock:p_bail=0,reading=sample", methods="prompt-bail-first")
    assert s["bail_prompt_mode"] == "sample" and s["methods"]["prompt-bail-first"]["bail_rate"] == 0.0


def test_bad_mock_settings_are_one_line(tmp_path):
    with pytest.raises(UserError, match="mock: unknown setting 'p'"):
        load_backend("mock:p=0.3")
    with pytest.raises(UserError, match="mock: tool=2 is outside 0 to 1"):
        load_backend("mock:tool=2")
    res = CliRunner().invoke(app, ["run", "--model", "mock:reading=fast", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and res.output.startswith("error: mock: reading='fast' is unknown"), res.output


def test_the_cli_runs_end_to_end(tmp_path):
    out = tmp_path / "cli"
    res = CliRunner().invoke(app, ["run", "--model", "mock:p_bail=0.6,tool=0.5", "--out", str(out), "--data-dir", DATA],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model_name"] == "Mock" and summary["methods"]["prompt-bail-first"]["majority_rate"] == 1.0
    assert f"run directory: {out}" in res.output


@pytest.mark.slow
def test_a_failed_run_releases_its_directory(tmp_path):
    """A notebook that caught an error holds no lock: another process can resume the run."""
    import subprocess
    import sys

    from bailbench.backends.mock import MockBackend
    from bailbench.errors import ServiceError

    class Failing(MockBackend):
        def generate(self, requests):
            raise ServiceError("the server went away")

    out = tmp_path / "run"
    with pytest.raises(ServiceError):
        api.run(model="mock:tool=1", backend=Failing("tool=1", spec="mock:tool=1"), limit=2, samples=1,
                data_dir=DATA, out=out)
    res = subprocess.run([sys.executable, "-m", "bailbench.cli", "run", "--model", "mock:tool=1", "--limit", "2",
                          "--samples", "1", "--data-dir", DATA, "--out", str(out)], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert json.loads((out / "summary.json").read_text())["methods"]["tool"]["bail_rate"] == 1.0
