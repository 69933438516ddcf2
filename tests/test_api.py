"""The Python API (`import bailbench.api as bb`) and backends added by other packages."""

import json
import subprocess
import sys

import pytest

import bailbench.api as bb

SMALL = dict(limit=2, samples=1, max_tokens=8, methods="string,prompt-bail-first")


@pytest.mark.slow
def test_a_notebook_session(tmp_path):
    r = bb.run(out=tmp_path / "a", **SMALL)
    assert r.summary == json.loads((tmp_path / "a" / "summary.json").read_text())
    table = r.samples
    assert table.num_rows == 6 and set(table.column("method").to_pylist()) == {"rollout", "string",
                                                                               "prompt-bail-first"}
    again = bb.load(tmp_path / "a")
    assert again.summary == r.summary and again.samples.equals(table)
    other = bb.run(out=tmp_path / "b", seed=1, **SMALL)
    result = bb.compare([r, other], permutations=100)
    assert [row["run"] for row in result["runs"]] == [str(tmp_path / "a"), str(tmp_path / "b")]
    page = r.report()
    assert page.is_file() and page.name == "report.html"
    with pytest.raises(TypeError, match="unknown argument\\(s\\) max_token; choose from"):
        bb.run(max_token=8)


TINY = '''
from bailbench.backends.base import Backend, Generation
from bailbench.backends.registry import takes


class Echo(Backend):
    """Answers every request with its own name."""

    def __init__(self, name, spec):
        self.model_id, self.spec = name, spec

    def generate(self, requests):
        return [Generation(rendered=repr(r.chat.as_dict()), text=self.model_id) for r in requests]


@takes("timeout")
def echo(name, *, spec, options):
    return Echo(name, spec)
'''


@pytest.mark.slow
def test_a_backend_from_another_package(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "tinyecho.py").write_text(TINY)
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "bailbench-tinyecho"\nversion = "0.1"\n'
        '[tool.setuptools]\npy-modules = ["tinyecho"]\n'
        '[project.entry-points."bailbench.backends"]\necho = "tinyecho:echo"\n')
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(pkg)], check=True, capture_output=True)
    env = {**__import__("os").environ, "PYTHONPATH": str(site)}
    cmd = [sys.executable, "-m", "bailbench.cli", "run", "--model", "echo:SWITCHCONVERSATION", "--model-name",
           "Echo", "--methods", "string", "--limit", "2", "--samples", "1", "--out", str(tmp_path / "run")]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["methods"]["string"]["bail_rate"] == 1.0 and summary["bail_prompt_reading"] == "sample"
    res = subprocess.run(cmd + ["--device", "cuda"], capture_output=True, text=True, env=env)
    assert res.returncode == 2 and "--device does not apply to echo models (they take: --timeout)" in res.stderr
