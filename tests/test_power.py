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


def test_run_plan_prints_the_table_and_runs_nothing(tmp_path):
    pilot = tmp_path / "pilot"
    pilot.mkdir()
    (pilot / "summary.json").write_text(json.dumps({"methods": {"tool": {"bail_rate": 0.1, "icc": 0.4}}}))
    res = CliRunner().invoke(app, ["run", "--plan", "--full", "--pilot", str(pilot), "--out", str(tmp_path / "r")],
                             env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert str(intervals.plan_power(0.1, 0.02, icc=0.4, samples=10)) in res.output and "1630 prompts" in res.output
    assert not (tmp_path / "r").exists()
    bad = CliRunner().invoke(app, ["run", "--plan", "--detect", "2"])
    assert bad.exit_code == 2 and "--detect 2.0" in bad.output
