"""Experiment files and `bailbench sweep`: parsing errors, the plan, the local engine, and
the Ray engine on a real local cluster (loopback, started once for this module) with the
real embedded model: same samples as the local engine, and killed workers lose nothing
that a rerun does not finish, every sample stored exactly once."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bailbench.cli import app
from bailbench.errors import UserError
from bailbench.sweep import expand_run_dirs, run_dirs
from bailbench.sweep.driver import run_sweep
from bailbench.sweep.spec import load_experiment

# 4 prompts (one per category, stratified) x 1 sample x (rollout + 2 methods) = 12 samples;
# batch_size 1: four batches, so four shards for the Ray workers
TINY = """\
[experiment]
name = "tiny"

[runs]
datasets = ["bailbench"]
methods = ["prompt-bail-first", "string"]
samples = 1
limit = 4
max_tokens = 16

[[models]]
spec = "smollm2"
workers = 2
options = { n_ctx = 1024, batch_size = 1 }

[[models]]
spec = "gguf:/nonexistent/model.gguf"
label = "broken"
"""
PLANNED = 12


def write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, "utf-8")
    return path


def rows(run_dir: Path) -> dict[str, tuple]:
    con = sqlite3.connect(run_dir / "samples.sqlite")
    try:
        got = con.execute("SELECT key, reply, verdict, p_bail FROM samples").fetchall()
    finally:
        con.close()
    assert len(got) == len({r[0] for r in got})
    return {r[0]: r[1:] for r in got}


def the_run(sweep_dir: Path, label: str = "smollm2") -> dict:
    index = json.loads((sweep_dir / "sweep.json").read_text())
    return next(r for r in index["runs"] if r["label"] == label)


# -- experiment files ---------------------------------------------------------------------


@pytest.mark.parametrize("text, line, key", [
    ("[runs]\nsamples = 2\nsampels = 3\n[[models]]\nspec = \"smollm2\"\n", 3, "sampels"),
    ("[[models]]\nspec = \"smollm2\"\n[[models]]\nspec = \"smollm2\"\nlabel = \"b\"\ngpu = 1\n", 6, "gpu"),
    ("[[models]]\nspec = \"smollm2\"\noptions = { n_ctx = 512, nctx = 9 }\n", 3, "nctx"),
    ("[experiment]\nname = \"x\"\n\n[run]\nsamples = 1\n", 4, "run"),
])
def test_unknown_key_names_the_key_and_its_line(tmp_path, text, line, key):
    path = write(tmp_path, text)
    with pytest.raises(UserError) as err:
        load_experiment(path)
    assert f"{path}:{line}:" in str(err.value)
    assert repr(key) in str(err.value)


def test_unknown_key_exits_2_with_one_line(tmp_path):
    path = write(tmp_path, TINY.replace("max_tokens = 16", "max_tokens = 16\nmax_token = 3"))
    result = CliRunner().invoke(app, ["sweep", str(path), "--plan"])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert f"{path}:10:" in result.output and "'max_token'" in result.output


def test_rollouts_from_must_name_a_model_or_a_run(tmp_path):
    path = write(tmp_path, "[runs]\nrollouts_from = [\"own\", \"gpt-9\"]\n[[models]]\nspec = \"smollm2\"\n")
    with pytest.raises(UserError, match=r":2: rollouts_from 'gpt-9'"):
        load_experiment(path)


def test_plan_lists_every_run_with_samples_and_cost(tmp_path):
    text = TINY.replace('datasets = ["bailbench"]', 'datasets = ["bailbench", "neutral"]')
    path = write(tmp_path, text)
    result = CliRunner().invoke(app, ["sweep", str(path), "--plan", "--out", str(tmp_path / "sw"), "--gpus", "4"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    for label in ("smollm2-bailbench-", "smollm2-neutral-", "broken-bailbench-", "broken-neutral-"):
        assert label in result.output
    assert result.output.count(f" {PLANNED} ") == 4  # 4 prompts x 1 sample x 3 units, for each run
    assert f"{4 * PLANNED} samples planned, {4 * PLANNED} left" in result.output
    assert "samples/s of smollm2: measured here" in result.output
    assert "not counted (no throughput figure): broken" in result.output
    assert "on 4 GPUs" in result.output
    assert not (tmp_path / "sw").exists()  # planning writes nothing


@pytest.mark.slow
def test_paper_experiment_files_parse_and_plan():
    from bailbench.sweep.driver import plan

    root = Path(__file__).resolve().parents[1] / "experiments"
    files = sorted(root.glob("*.toml"))
    assert {f.stem for f in files} >= {"quick", "bailbench-openweight", "ablations", "jailbreaks", "crossmodel",
                                       "neutral", "realdata-wildchat"}
    for f in files:
        exp, _, runs, est = plan(f, Path("/nonexistent/sweep"))
        assert runs, f
        if f.stem == "bailbench-openweight":
            assert len(runs) == 15 and all(r.samples == 1630 * 10 * 5 for r in runs)
            assert est.gpu_hours == 0 and "Qwen2.5-7B-Instruct" in est.unknown  # no figure measured for vLLM
        if f.stem == "crossmodel":  # sources first, each target after its own and both sources' rollouts
            order = [r.id for r in runs]
            for r in runs:
                if r.depends_on:
                    assert order.index(r.depends_on) < order.index(r.id)
            assert sum(r.depends_on is not None for r in runs) == 12


def test_ray_workers_are_capped_to_what_the_cluster_holds(tmp_path):
    from bailbench.sweep.ray_engine import _fits

    text = "[[models]]\nspec = \"vllm:Qwen/Qwen3-8B\"\ntensor_parallel = 2\nworkers = 4\n"
    (model,) = load_experiment(write(tmp_path, text)).models
    assert model.gpus == 2  # tensor_parallel GPUs per vLLM worker unless the file says otherwise
    assert _fits({"CPU": 64, "GPU": 8}, model) == 4
    assert _fits({"CPU": 64, "GPU": 5}, model) == 2
    assert _fits({"CPU": 64}, model) == 0


def test_sweep_directory_of_another_experiment_is_refused(tmp_path):
    out = tmp_path / "sw"
    out.mkdir()
    (out / "sweep.json").write_text(json.dumps({"experiment": {"name": "other", "file": "/x/other.toml"}}))
    result = CliRunner().invoke(app, ["sweep", str(write(tmp_path, TINY)), "--out", str(out)])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0 and "experiment 'other'" in result.output


# -- running: local, then Ray ---------------------------------------------------------------


@pytest.fixture(scope="module")
def local_sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("local")
    path = write(tmp, TINY)
    result = run_sweep(path, engine="local", out=tmp / "sweep", quiet=True)
    return path, result


@pytest.mark.model
def test_local_sweep_runs_indexes_and_goes_on_after_a_model_fails(local_sweep):
    _, result = local_sweep
    assert result.counts == {"done": 1, "failed": 1, "incomplete": 0, "blocked": 0}
    broken = the_run(result.out, "broken")
    assert broken["status"] == "failed" and "/nonexistent/model.gguf" in broken["error"]
    run = the_run(result.out)
    assert run["status"] == "done" and run["result"]["new_samples"] == PLANNED
    assert len(rows(result.out / run["dir"])) == PLANNED
    # report/compare/reproduce take the sweep directory: its finished runs
    assert run_dirs(result.out) == [result.out / run["dir"]]
    assert expand_run_dirs([result.out, Path("elsewhere")]) == [result.out / run["dir"], Path("elsewhere")]


@pytest.mark.model
def test_local_sweep_rerun_resumes_with_nothing_new(local_sweep):
    path, first = local_sweep
    again = run_sweep(path, engine="local", out=first.out, quiet=True)
    assert again.new_samples == 0
    assert the_run(again.out)["result"] == {**the_run(first.out)["result"], "new_samples": 0,
                                           "reused_samples": PLANNED}


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=80 * 1024**2,
             _node_ip_address="127.0.0.1", log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def _kill_workers_mid_run(sweep_dir: Path, killed: list[int]) -> None:
    """Once the first shard is stored, SIGKILL every worker process of the model."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            index = json.loads((sweep_dir / "sweep.json").read_text())
            run = next(r for r in index["runs"] if r["label"] == "smollm2")
            workers = [w for w in index.get("workers", []) if w["model"] == "smollm2"]
            stored = len(rows(sweep_dir / run["dir"])) if (sweep_dir / run["dir"] / "samples.sqlite").exists() else 0
        except (OSError, ValueError, StopIteration, sqlite3.Error):
            stored, workers = 0, []
        if stored and workers:
            for w in workers:
                os.kill(w["pid"], signal.SIGKILL)
                killed.append(w["pid"])
            return
        time.sleep(0.1)


@pytest.mark.model
def test_ray_sweep_equals_local_and_finishes_after_killed_workers(ray_cluster, local_sweep, tmp_path):
    path, local = local_sweep
    out = tmp_path / "sweep"
    killed: list[int] = []
    killer = threading.Thread(target=_kill_workers_mid_run, args=(out, killed))
    killer.start()
    first = run_sweep(path, engine="ray", out=out, quiet=True)
    killer.join()
    assert len(killed) == 2
    run = the_run(out)
    index = json.loads((out / "sweep.json").read_text())
    assert run["status"] == "incomplete" and "rerun the sweep" in run["error"]
    assert index["lost_shards"] >= 1
    stored = len(rows(out / run["dir"]))
    assert 0 < stored < PLANNED
    assert the_run(out, "broken")["status"] == "failed"  # its worker could not load it; reported, sweep went on
    assert first.counts["failed"] == 1

    second = run_sweep(path, engine="ray", out=out, quiet=True)
    run = the_run(out)
    assert run["status"] == "done"
    assert second.new_samples == PLANNED - stored  # the rerun computed only what was lost
    assert run["result"]["new_samples"] == PLANNED - stored and run["result"]["reused_samples"] == stored
    summary = json.loads((out / run["dir"] / "summary.json").read_text())
    assert summary["new_samples"] == PLANNED - stored

    got = rows(out / run["dir"])  # asserts one row per key
    want = rows(local.out / the_run(local.out)["dir"])
    assert len(got) == PLANNED and got == want  # same replies, verdicts and P(bail), key by key


def test_an_experiment_file_sets_every_backend_option_and_the_protocol(tmp_path):
    from bailbench.sweep.spec import load_experiment

    exp = load_experiment(write(tmp_path, """[experiment]
name = "x"
[runs]
datasets = ["bailbench"]
protocol = "paper"
[[models]]
spec = "openai:gpt-4o"
options = { base_url = "http://127.0.0.1:1/v1", api_key_env = "MY_KEY" }
[[models]]
spec = "smollm2"
options = { tool_format = "hermes" }
"""))
    assert exp.models[0].options.api_key_env == "MY_KEY" and exp.models[1].options.tool_format == "hermes"
    assert exp.runs["protocol"] == "paper"


SIMULATE = """\
[experiment]
name = "sim"

[runs]
kind = "simulate"
scenarios = "verbal-abuse,benign-coding"
turns = 3
conversations = 2
max_tokens = 32

[[models]]
spec = "mock:p_bail=0.3,tool=0.4,string=0.2"
"""


def test_a_simulate_run_in_an_experiment_file_is_the_run_bb_simulate_makes(tmp_path):
    """kind = "simulate": the run's settings come from SimulateConfig's declarations (its own
    defaults: the live options tool and string, the check, the paired arm), and the sweep's run
    is the run `bb.simulate` makes with the same settings."""
    from bailbench import api
    from bailbench.sweep.driver import plan

    path = write(tmp_path, SIMULATE)
    _, _, (planned,), _ = plan(path, tmp_path / "sweep")
    assert planned.kind == "simulate" and planned.estimated
    assert planned.config.methods == ("tool", "string") and planned.config.check == "prompt-bail-first"
    assert planned.samples == 2 * 3 * 2 * 3 * 3 * 3  # scenarios x conversations x arms x turns x (user, reply, check)
    result = run_sweep(path, out=tmp_path / "sweep", quiet=True)
    assert result.counts["done"] == 1
    swept = json.loads((planned.config.out / "summary.json").read_text())
    alone = api.simulate(model="mock:p_bail=0.3,tool=0.4,string=0.2", scenarios="verbal-abuse,benign-coding",
                         turns=3, conversations=2, max_tokens=32, out=tmp_path / "alone").summary
    assert swept["families"] == alone["families"] and swept["methods"] == alone["methods"]


@pytest.mark.parametrize("text, says", [
    (SIMULATE.replace("turns = 3", "turns = 3\nlimit = 4"), ":8: limit applies only to kind = bailbench or realdata runs"),
    (SIMULATE.replace("turns = 3", "turns = 0"), ":7: turns = 0 must be at least 1"),
    (SIMULATE.replace("conversations = 2", 'conversations = 2\nmethods = ["prompt-bail-first"]'),
     ":9: methods = ('prompt-bail-first',) is not a bail option offered live"),
    (SIMULATE.replace('kind = "simulate"', 'kind = "simulation"'), ":5: kind must be bailbench or realdata or simulate"),
    (TINY.replace("limit = 4", "limit = 4\nturns = 3"), ":9: turns applies only to kind = simulate runs"),
])
def test_a_key_another_kind_of_run_takes_is_named_with_its_line(tmp_path, text, says):
    with pytest.raises(UserError) as got:
        load_experiment(write(tmp_path, text))
    assert says in str(got.value)
