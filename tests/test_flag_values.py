"""A flag value that cannot be meant is one line and exit 2, never replaced by a default."""

import pytest
from typer.testing import CliRunner

from bailbench.cli import app


@pytest.mark.parametrize("args, says", [
    (["--samples", "0"], "--samples 0 must be at least 1"),
    (["--max-tokens", "0"], "--max-tokens 0 must be at least 1"),
    (["--limit", "-1"], "--limit -1 is negative"),
    (["--batch-size", "0"], "--batch-size 0 must be at least 1"),
    (["--concurrency", "0"], "--concurrency 0 must be at least 1"),
    (["--n-ctx", "32"], "--n-ctx 32 is below 64"),
    (["--temperature", "nan"], "--temperature nan is not a temperature"),
    (["--temperature", "-1"], "--temperature -1.0 is not a temperature"),
    (["--protocol", "authors"], "--protocol 'authors' is unknown: use default or paper"),
])
def test_bad_flag_values_are_one_line(tmp_path, args, says):
    res = CliRunner().invoke(app, ["run", "--out", str(tmp_path / "r"), *args])
    assert res.exit_code == 2, res.output
    assert says in res.output and "Traceback" not in res.output
