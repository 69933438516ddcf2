"""compare's statistics across runs (analysis/compare.py): estimand checks, the cross-model
change of Figures 17-18, §3.1's medians, and bail vectors named for what they hold."""

import json
import math

import pytest

from bailbench.analysis.compare import compare, cross_model_change, vector_kind
from bailbench.analysis.rates import MEAN_P, SAMPLED
from bailbench.analysis.stats import newcombe_difference
from bailbench.store import Store


def rates(rate, n, **extra):
    return {"bail_rate": rate, "ci_low": 0.0, "ci_high": 1.0, "n": n, **extra}


def run_dir(tmp_path, name, methods, **summary):
    d = tmp_path / name
    Store(d).close()
    (d / "summary.json").write_text(json.dumps({
        "model": name, "dataset": "bailbench", "dataset_sha256": "x", "n_prompts": 10, "samples": 2,
        "ablation": "Baseline", "bail_prompt_mode": "sample", "methods": methods, **summary}))
    return d


def test_cross_model_change_is_difference_and_percent_increase():
    cross, own = rates(0.3, 100), rates(0.1, 100)
    got = cross_model_change(cross, own)
    d, lo, hi = newcombe_difference(30, 100, 10, 100)
    assert (got["difference"], got["ci_low"], got["ci_high"]) == (round(d, 6), round(lo, 6), round(hi, 6))
    assert got["percent_increase"] == pytest.approx(200.0)
    se = math.sqrt(1 / 30 - 1 / 100 + 1 / 10 - 1 / 100)
    assert got["percent_increase_ci"][0] == pytest.approx(100 * (3 * math.exp(-1.959963984540054 * se) - 1), abs=1e-5)
    assert cross_model_change(rates(0.3, 100), rates(0.0, 100))["percent_increase"] is None


def test_vectors_say_what_they_hold():
    assert vector_kind({"bail_prompt_mode": "logprob"}, "prompt-bail-first") == "mean P(bail) per prompt"
    assert vector_kind({"bail_prompt_mode": "logprob"}, "tool") == "share of samples that bailed per prompt"


def test_runs_of_different_estimands_are_warned_about_and_medians_computed(tmp_path):
    a = run_dir(tmp_path, "a", {"prompt-bail-first": rates(0.2, 20, estimand=SAMPLED), "tool": rates(0.1, 20)})
    b = run_dir(tmp_path, "b", {"prompt-bail-first": rates(0.6, 20, estimand=MEAN_P), "tool": rates(0.3, 20)},
                bail_prompt_mode="logprob")
    c = run_dir(tmp_path, "c", {"prompt-bail-first": rates(0.4, 20, estimand=SAMPLED), "tool": rates(0.0, 20)})
    got = compare([a, b, c], permutations=10)
    assert any(w.startswith("prompt-bail-first: the runs estimate different quantities") for w in got["warnings"])
    assert not any(w.startswith("tool:") for w in got["warnings"])
    assert any("bail vectors of different kinds" in w for w in got["warnings"])
    assert got["medians"]["per_method"] == {"tool": 0.1, "prompt-bail-first": 0.4}
    assert (got["medians"]["all"], got["medians"]["n_rates"]) == (0.25, 6)
    assert got["method_cosine"]["a"]["methods"] == ["prompt-bail-first", "tool"]


def test_a_run_after_another_models_rollouts_is_set_beside_its_own(tmp_path):
    own = run_dir(tmp_path, "own", {"prompt-bail-first": rates(0.1, 100)})
    cross = run_dir(tmp_path, "cross", {"prompt-bail-first": rates(0.2, 100)},
                    rollouts_from={"run": "/x", "model": "openai:gpt-4"})
    summary = json.loads((cross / "summary.json").read_text())
    summary["model"] = "own"
    (cross / "summary.json").write_text(json.dumps(summary))
    got = compare([own, cross], permutations=10)["cross_model_change"]
    assert len(got) == 1 and got[0]["rollouts_of"] == "openai:gpt-4"
    assert got[0]["methods"]["prompt-bail-first"]["percent_increase"] == pytest.approx(100.0)


def test_paired_runs_on_the_same_prompts(tmp_path):
    from bailbench.analysis import intervals
    from bailbench.keys import SampleKey
    from bailbench.store import SampleRow

    def made(name, verdicts):
        d = run_dir(tmp_path, name, {"tool": rates(sum(v == "bail" for v in verdicts) / 4, 4)})
        store = Store(d)
        store.add([SampleRow(key=SampleKey(p, 0, "tool", "Baseline").text, prompt_id=p, category="c", subcategory="s",
                             method="tool", ablation="Baseline", mode="", sample=0, seed=0, rendered="", reply="",
                             verdict=v, p_bail=None, mass=None, prompt_tokens=0, completion_tokens=0, finish_reason="",
                             seconds=0.0, skipped=None) for p, v in zip("abcd", verdicts)])
        store.close()
        return d

    a = made("a", ["bail", "continue", "continue", "continue"])
    b = made("b", ["bail", "bail", "bail", "continue"])
    got = compare([a, b], permutations=10, paired=True)["paired"][0]
    d = intervals.paired_difference([1, 1, 1, 0], [1] * 4, [1, 0, 0, 0], [1] * 4, groups=["s"] * 4, strata=["c"] * 4)
    assert (got["run"], got["minus"]) == ("b", "a")
    assert got["methods"]["tool"]["difference"] == 0.5 and got["methods"]["tool"]["ci_low"] == round(d.ci_low, 6)


def test_the_cross_model_change_keeps_the_clustering():
    plain = cross_model_change(rates(0.3, 100), rates(0.1, 100))
    clustered = cross_model_change(rates(0.3, 100, design_effect=4.0), rates(0.1, 100, design_effect=4.0))
    d, lo, hi = newcombe_difference(7.5, 25, 2.5, 25)
    assert (clustered["ci_low"], clustered["ci_high"]) == (round(lo, 6), round(hi, 6))
    assert clustered["ci_high"] - clustered["ci_low"] > plain["ci_high"] - plain["ci_low"]
