"""`bailbench reproduce`: runs matched to the paper's plotted numbers, the Wilson check, the
nearest published rows for a model the paper did not measure, and the terminal table on a
real run of the embedded model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bailbench.analysis.reproduce import compare_run, paper_key, paper_numbers, reproduce
from bailbench.analysis.stats import wilson
from bailbench.cli import app

from .helpers import SHARED, fake_run


def test_shipped_paper_numbers_equal_the_reference():
    reference = json.loads((SHARED / "reference" / "paper_numbers.json").read_text("utf-8"))
    assert paper_numbers() == reference


def stats(bails: int, n: int) -> dict:
    lo, hi = wilson(bails, n)
    return {"bail_rate": bails / n, "ci_low": lo, "ci_high": hi, "n": n}


@pytest.mark.parametrize("model, model_id, key", [
    ("vllm:Qwen/Qwen2.5-7B-Instruct", "Qwen/Qwen2.5-7B-Instruct", "Qwen2.5-7B-Instruct"),
    ("gguf:/models/Qwen2.5-7B-Instruct-Q4_K_M.gguf", "Qwen2.5-7B-Instruct-Q4_K_M.gguf", "Qwen2.5-7B-Instruct"),
    ("hf:google/gemma-2-2b-it", "google/gemma-2-2b-it", "google/gemma-2-2b-it"),
    ("anthropic:claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022", "claude-3-6-sonnet"),
    ("openai:gpt-4-0613", "gpt-4-0613", "gpt-4"),
    ("vllm:huihui-ai/Qwen3-8B-abliterated", "huihui-ai/Qwen3-8B-abliterated", "huihui-ai/Qwen3-8B-abliterated"),
    ("vllm:someone/Qwen3-8B-finetuned", "someone/Qwen3-8B-finetuned", None),
    ("smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", None),
])
def test_model_names_match_the_paper_keys(model, model_id, key):
    keys = {k for name, f in paper_numbers()["figures"].items() if "bailRates" in name for k in f["models"]}
    assert paper_key({"model": model, "model_id": model_id}, keys) == key


def test_baseline_run_sits_beside_the_family_figure_with_the_wilson_check(tmp_path):
    # the paper plots Qwen2.5-7B-Instruct at tool 1.01, string 0.50, bail-first 4.36, continue-first 0.36
    run = fake_run(tmp_path, "qwen", model="vllm:Qwen/Qwen2.5-7B-Instruct", model_id="Qwen/Qwen2.5-7B-Instruct",
                   methods={"tool": stats(16, 1630), "string": stats(60, 1630),
                            "prompt-bail-first": stats(71, 1630), "prompt-continue-first": stats(6, 1630)})
    got = compare_run(run)
    assert got["in_paper"] and not got["nearest"]
    by = {c["method"]: c for c in got["comparisons"]}
    assert set(by) == {"tool", "string", "prompt-bail-first", "prompt-continue-first"}
    assert all(c["figure"] == "plots/bailRates/openweight_bail.tex" for c in by.values())
    assert by["tool"]["paper"] == 1.01 and by["tool"]["inside"]
    assert by["string"]["paper"] == 0.5 and not by["string"]["inside"]  # 3.7% measured: 0.5 lies below its CI
    assert by["string"]["ci_low"] > 0.5


def test_conditions_pick_their_figures(tmp_path):
    dan = compare_run(fake_run(tmp_path, "dan", model="vllm:Qwen/Qwen2.5-7B-Instruct", prefix="DAN",
                               methods={"tool": stats(1, 100)}))
    assert [(c["figure"], c["paper_model"]) for c in dan["comparisons"]] == [
        ("plots/bailRates/jailbreak_bail.tex", "DAN")]
    after = compare_run(fake_run(tmp_path, "cross", model="vllm:Qwen/Qwen3-8B",
                                 rollouts_from={"run": "/x", "model": "openai:gpt-4"},
                                 methods={"prompt-bail-first": stats(5, 100)}))
    assert after["comparisons"][0]["figure"] == "plots/bailRates/crossmodelcrossmodel-GPT-4_bail.tex"
    wild = compare_run(fake_run(tmp_path, "wild", model="vllm:google/gemma-2-2b-it", kind="realdata",
                                dataset="wildchat",
                                methods={"string": {"conversations_with_bail": {"rate": 0.18, "ci_low": 0.17,
                                                                                "ci_high": 0.19, "n": 9000}}}))
    assert wild["comparisons"][0]["paper"] == 18.12 and wild["comparisons"][0]["inside"]
    ablation = compare_run(fake_run(tmp_path, "abl", model="openai:gpt-4o", ablation="all",
                                    methods={"tool": stats(30, 1000)},
                                    ablations={"tool": {"Baseline": stats(30, 1000), "MoreReasons": stats(660, 1000)}}))
    abl = [c for c in ablation["comparisons"] if c["condition"] == "ablation MoreReasons"]
    assert abl and abl[0]["paper"] == 66.48 and abl[0]["inside"]


def test_a_prefix_row_is_the_model_the_paper_ran_it_on(tmp_path):
    # the paper ran DAN on Qwen2.5-7B-Instruct only: another model's DAN run has no row there
    small = compare_run(fake_run(tmp_path, "small", model="smollm2", model_id="SmolLM2-135M-Instruct.Q4_1.gguf",
                                 prefix="DAN", methods={"tool": stats(1, 100)}))
    assert not small["in_paper"] and small["comparisons"] == []
    q3 = compare_run(fake_run(tmp_path, "q3", model="vllm:Qwen/Qwen3-8B", prefix="BobQ3",
                              methods={"tool": stats(60, 100)}))
    assert [(c["figure"], c["paper_model"]) for c in q3["comparisons"]] == [("plots/bailRates/jailbreak3_bail.tex", "BobQ3")]


def test_gemma_2s_plotted_tool_zero_is_a_filler_and_not_compared(tmp_path):
    got = compare_run(fake_run(tmp_path, "g", model="vllm:google/gemma-2-2b-it", model_id="google/gemma-2-2b-it",
                               methods={"tool": stats(0, 100), "string": stats(2, 100)}))
    assert [c["method"] for c in got["comparisons"]] == ["string"]


def test_a_logprob_bail_prompt_is_marked_another_estimand(tmp_path):
    scored = {**stats(50, 100), "estimand": "mean P(bail) over scored samples: ..."}
    got = compare_run(fake_run(tmp_path, "q", model="vllm:Qwen/Qwen2.5-7B-Instruct", protocol="default",
                               methods={"prompt-bail-first": scored, "tool": stats(1, 100)}))
    by = {c["method"]: c for c in got["comparisons"]}
    assert not by["prompt-bail-first"]["comparable"] and by["tool"]["comparable"]
    assert by["tool"]["paper_estimand"].startswith("share of samples") and got["protocol"] == "default"
    assert any("logprob" in w for w in got["warnings"]) and any("--protocol paper" in w for w in got["warnings"])


def test_a_model_not_in_the_paper_gets_its_nearest_rows(tmp_path):
    run = fake_run(tmp_path, "x", model="hf:someone/new-model", model_id="someone/new-model",
                   methods={"tool": stats(0, 100), "string": stats(0, 100), "prompt-bail-first": stats(30, 100),
                            "prompt-continue-first": stats(80, 100)})
    got = reproduce([run])["runs"][0]
    assert not got["in_paper"] and len(got["nearest"]) == 3
    d = [n["distance"] for n in got["nearest"]]
    assert d == sorted(d)
    # claude-3-haiku is plotted at 2.24 / 0.06 / 31.44 / 81.55: the closest profile
    assert got["nearest"][0]["model"] == "claude-3-haiku"
    assert got["nearest"][0]["distance"] == pytest.approx((2.24 + 0.06 + 1.44 + 1.55) / 4)


@pytest.mark.model
def test_reproduce_prints_the_table_for_a_run_of_the_embedded_model(tmp_path):
    from bailbench.runner import RunConfig, run

    out = tmp_path / "run"
    run(RunConfig(model="smollm2", samples=1, limit=2, max_tokens=8, out=out))
    result = CliRunner().invoke(app, ["reproduce", str(out), "--json", str(tmp_path / "r.json")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "smollm2 on bailbench: not in the paper; nearest published rows" in result.output
    assert "this run" in result.output and "pts" in result.output
    data = json.loads((tmp_path / "r.json").read_text())
    nearest = data["runs"][0]["nearest"]
    assert len(nearest) == 3 and all(n["model"] in result.output for n in nearest)
