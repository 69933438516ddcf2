"""`bailbench run --plan`: the prompts a difference needs and what a planned run detects."""

import json

from typer.testing import CliRunner

from bailbench.analysis import intervals
from bailbench.analysis.power import ASSUMED_ICC, ASSUMED_RATE, power_rows
from bailbench.cli import app


def test_rows_from_stated_assumptions_and_from_a_pilot():
    (row,) = power_rows(None, prompts=1630, samples=10, difference=0.02)
    assert (row.source, row.prompts_needed) == (
        "assumed", intervals.plan_power(ASSUMED_RATE, 0.02, icc=ASSUMED_ICC, samples=10))
    assert row.prompts_needed_paired < row.prompts_needed
    pilot = {"methods": {"tool": {"bail_rate": 0.1, "icc": 0.4}, "string": {"bail_rate": None}}}
    (tool,) = power_rows(pilot, prompts=200, samples=10, difference=0.02)
    assert (tool.method, tool.source, tool.icc) == ("tool", "pilot", 0.4)
    assert tool.detectable == intervals.detectable_difference(0.1, icc=0.4, prompts=200, samples=10)
    # a rate above one half is planned as measured (was: shown as 50%); a missing ICC is named assumed
    high = {"methods": {"prompt-bail-first": {"bail_rate": 0.608, "icc": None}}}
    (row,) = power_rows(high, prompts=14, samples=10, difference=0.02)
    assert (row.rate, row.icc, row.source) == (0.608, ASSUMED_ICC, "pilot, ICC assumed")
    assert row.prompts_needed == intervals.plan_power(0.608, 0.02, icc=ASSUMED_ICC, samples=10)


def write_pilot(path):
    """A finished run's summary.json as the checked reader takes it: tool at 10%, ICC 0.4."""
    path.mkdir()
    tool = {"bail_rate": 0.1, "ci_low": 0.05, "ci_high": 0.2, "n": 140, "icc": 0.4}
    (path / "summary.json").write_text(json.dumps({
        "model": "m", "dataset": "bailbench", "samples": 10, "n_prompts": 14, "ablation": "Baseline",
        "methods": {"tool": tool}}))
    return path


def test_run_plan_prints_the_table_and_runs_nothing(tmp_path):
    pilot = write_pilot(tmp_path / "pilot")
    res = CliRunner().invoke(app, ["run", "--plan", "--full", "--pilot", str(pilot), "--out", str(tmp_path / "r")],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert str(intervals.plan_power(0.1, 0.02, icc=0.4, samples=10)) in res.output and "1630 prompts" in res.output
    assert not (tmp_path / "r").exists()
    bad = CliRunner().invoke(app, ["run", "--plan", "--detect", "2"])
    assert bad.exit_code == 2 and "--detect 2.0" in bad.output


# 14 prompts x 10 samples of smollm2 under two prefixes (one size), 100 prompts of another
# model, and real data (size known only after the run: no power table)
SWEEP = """\
[runs]
methods = ["string"]
samples = 10
limit = 14

[[models]]
spec = "smollm2"
prefixes = ["none", "Hi"]

[[models]]
spec = "gguf:/nonexistent/model.gguf"
label = "other"
limit = 100

[[models]]
spec = "smollm2"
label = "chats"
kind = "realdata"
datasets = ["sharegpt"]
"""


def test_power_sizes_one_per_prompts_x_samples_realdata_left_out(tmp_path):
    from bailbench.sweep.plan import expand, power_sizes
    from bailbench.sweep.spec import load_experiment

    path = tmp_path / "exp.toml"
    path.write_text(SWEEP)
    runs = expand(load_experiment(path), tmp_path / "sw")
    assert len(runs) == 4
    assert power_sizes(runs) == {(14, 10): ["smollm2 on bailbench"], (100, 10): ["other on bailbench"]}


def test_sweep_plan_prints_the_power_of_each_size(tmp_path):
    path = tmp_path / "exp.toml"
    path.write_text(SWEEP)
    pilot = write_pilot(tmp_path / "pilot")
    res = CliRunner().invoke(app, ["sweep", str(path), "--plan", "--pilot", str(pilot), "--detect", "0.05",
                                   "--out", str(tmp_path / "sw")], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "power of smollm2 on bailbench:" in res.output and "power of other on bailbench:" in res.output
    assert "14 prompts x 10 samples; detect 5.0 points" in res.output and "100 prompts x 10 samples" in res.output
    assert f" {intervals.plan_power(0.1, 0.05, icc=0.4, samples=10)} " in res.output
    for prompts in (14, 100):
        d = intervals.detectable_difference(0.1, icc=0.4, prompts=prompts, samples=10)
        assert f"+{100 * d:.1f} pts" in res.output
    assert "no --pilot" not in res.output and "tool" in res.output
    assert not (tmp_path / "sw").exists()
    bad = CliRunner().invoke(app, ["sweep", str(path), "--plan", "--detect", "0"])
    assert bad.exit_code == 2 and "--detect 0.0" in bad.output
