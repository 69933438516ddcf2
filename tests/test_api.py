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
from dataclasses import dataclass

from bailbench.backends.base import Backend, Generation
from bailbench.backends.options import Options, options
from bailbench.settings import setting


@dataclass(frozen=True)
class EchoOptions(Options):
    greeting: str = setting("hello", "The word every answer starts with.",
                            check=lambda v: None if v.isalpha() else "must be one word of letters")


class Echo(Backend):
    """Answers every request with a greeting and its own name."""

    def __init__(self, name, spec, greeting):
        self.model_id, self.spec, self.greeting = name, spec, greeting

    def generate(self, requests):
        return [Generation(rendered=repr(r.chat.as_dict()), text=f"{self.greeting} {self.model_id}")
                for r in requests]


@options(EchoOptions)
def echo(name, *, spec, options):
    assert type(options) is EchoOptions
    return Echo(name, spec, options.greeting)
'''

LIBRARY = '''
import sys
from pathlib import Path
import bailbench.api as bb
from bailbench.runner import RunConfig
from bailbench.sweep.spec import load_experiment
print(bb.config(RunConfig, {"greeting": "hi"}).options.greeting)
print(load_experiment(Path(sys.argv[1])).models[0].options.greeting)
'''


@pytest.mark.slow
def test_a_backend_from_another_package(tmp_path):
    """A package adds a provider and an option bailbench has never heard of (`--greeting`),
    declared once in its own options class; a package whose backend fails to import breaks
    nothing else."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "tinyecho.py").write_text(TINY)
    (pkg / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "bailbench-tinyecho"\nversion = "0.1"\n'
        '[tool.setuptools]\npy-modules = ["tinyecho"]\n'
        '[project.entry-points."bailbench.backends"]\necho = "tinyecho:echo"\nbroken = "tinyecho_gone:load"\n')
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(pkg)], check=True, capture_output=True)
    env = {**__import__("os").environ, "PYTHONPATH": str(site), "COLUMNS": "400"}
    cli = [sys.executable, "-m", "bailbench.cli", "run"]
    cmd = cli + ["--model", "echo:SWITCHCONVERSATION", "--model-name", "Echo", "--methods", "string", "--limit", "2",
                 "--samples", "1", "--out", str(tmp_path / "run")]
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["methods"]["string"]["bail_rate"] == 1.0 and summary["bail_prompt_reading"] == "sample"
    assert set(bb.load(tmp_path / "run").samples.column("reply").to_pylist()) == {"hello SWITCHCONVERSATION"}
    res = subprocess.run(cli + ["--help"], capture_output=True, text=True, env=env)
    assert res.returncode == 0 and "--greeting" in res.stdout, res.stderr
    assert "echo: The word every answer starts with." in res.stdout
    assert "gguf, hf, vllm: sequences decoded together" in res.stdout
    res = subprocess.run(cmd[:-1] + [str(tmp_path / "howdy"), "--greeting", "howdy"], capture_output=True, text=True,
                         env=env)
    assert res.returncode == 0, res.stderr
    assert set(bb.load(tmp_path / "howdy").samples.column("reply").to_pylist()) == {"howdy SWITCHCONVERSATION"}
    res = subprocess.run(cmd + ["--greeting", "two words"], capture_output=True, text=True, env=env)
    assert (res.returncode, res.stderr) == (2, "error: --greeting 'two words' must be one word of letters\n")
    res = subprocess.run(cmd + ["--model", "mock:p_bail=0.3", "--greeting", "x"], capture_output=True, text=True,
                         env=env)
    assert (res.returncode, res.stderr) == (2, "error: --greeting does not apply to mock models (they take: none of "
                                               "the backend flags)\n")
    res = subprocess.run(cmd + ["--device", "cuda"], capture_output=True, text=True, env=env)
    assert (res.returncode, res.stderr) == (2, "error: --device does not apply to echo models (they take: "
                                               "--greeting)\n")
    res = subprocess.run(cmd + ["--model", "broken:x"], capture_output=True, text=True, env=env)
    assert (res.returncode, res.stderr) == (2, "error: the broken backend could not be imported (No module named "
                                               "'tinyecho_gone')\n")
    # the library's keyword and the experiment file's key, from the same declaration
    exp = tmp_path / "exp.toml"
    exp.write_text('[[models]]\nspec = "echo:SWITCHCONVERSATION"\noptions = {greeting = "hey"}\n')
    res = subprocess.run([sys.executable, "-c", LIBRARY, str(exp)], capture_output=True, text=True, env=env)
    assert res.returncode == 0 and res.stdout.split() == ["hi", "hey"], res.stderr
