"""Rates in SQL over a real store (analysis/rates.py), with exact expected values."""

import pytest

from bailbench.analysis import intervals, rates
from bailbench.analysis.rates import PROMPT, TURN, Cell
from bailbench.analysis.stats import wilson
from bailbench.keys import SampleKey
from bailbench.store import SampleRow, Store


def row(pid, sample, method, verdict=None, *, cat="c", sub="s", ablation="Baseline", p=None, mass=None,
        skipped=None, tokens=0, finish="stop", source="", mode=""):
    key = SampleKey(pid, sample, method, "" if method == "rollout" else ablation, source=source).text
    return SampleRow(key=key, prompt_id=pid, category=cat, subcategory=sub, method=method,
                     ablation="" if method == "rollout" else ablation, mode=mode, sample=sample, seed=0, rendered="",
                     reply="", verdict=verdict, p_bail=p, mass=mass, prompt_tokens=0, completion_tokens=tokens,
                     finish_reason=finish, seconds=0.0, skipped=skipped, source=source)


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path)
    yield s
    s.close()


def chosen(store, rows):
    store.add(rows)
    store.choose(r.key for r in rows)
    return store.db


def test_bail_rates_overall_and_per_category(store):
    db = chosen(store, [
        row("a", 0, "tool", "bail", cat="x"), row("a", 1, "tool", "continue", cat="x"),
        row("b", 0, "tool", "unknown", cat="y", sub="t"), row("b", 1, "tool", None, cat="y", skipped="context_too_long"),
        row("b", 0, "string", "bail", cat="y")])  # another method: not counted
    s = rates.bail_rates(db, Cell("tool", "Baseline"))
    lo, hi = wilson(1, 3)
    # clustered by prompt within subcategories and categories; the paper's Wilson beside it
    iv = intervals.proportion([1, 0], [2, 1], groups=["s", "t"], strata=["x", "y"])
    unknown = intervals.proportion([0, 1], [2, 1], groups=["s", "t"], strata=["x", "y"])
    assert s == {"bail_rate": round(1 / 3, 6), "ci_low": round(iv.ci_low, 6), "ci_high": round(iv.ci_high, 6),
                 "interval": iv.interval, "wilson_low": round(lo, 6), "wilson_high": round(hi, 6),
                 "design_effect": rates.num(iv.design_effect), "icc": rates.num(iv.icc), "clusters": iv.clusters,
                 "n": 3, "bails": 1, "estimand": rates.SAMPLED, "truncated_calls": 0,
                 "unknown_rate": round(1 / 3, 6), "unknowns": 1,
                 "unknown_ci": [round(unknown.ci_low, 6), round(unknown.ci_high, 6)], "skipped": {"context_too_long": 1}}
    cats = rates.bail_rates(db, Cell("tool", "Baseline"), rates.CATEGORY)
    assert list(cats) == ["x", "y"]
    assert (cats["x"]["n"], cats["x"]["bails"], cats["y"]["n"], cats["y"]["skipped"]) == (2, 1, 1, {"context_too_long": 1})
    assert list(rates.bail_rates(db, Cell("tool", "Baseline"), rates.SUBCATEGORY)) == ["x / s", "y / s", "y / t"]
    nothing = rates.bail_rates(db, Cell("tool", "Other"))
    assert nothing["n"] == 0 and nothing["bail_rate"] is None and nothing["ci_low"] is None


def test_read_probabilities_are_averaged(store):
    db = chosen(store, [row("a", 0, "prompt-bail-first", "bail", p=0.9, mass=0.8),
                        row("a", 1, "prompt-bail-first", "continue", p=0.2, mass=0.6),
                        row("b", 0, "prompt-bail-first", None, p=None, skipped="context_too_long")])
    s = rates.bail_rates(db, Cell("prompt-bail-first", "Baseline"))
    assert (s["mean_p_bail"], s["mean_symbol_mass"]) == (pytest.approx(0.55), pytest.approx(0.7))
    # a scoring pass's rate is the mean P(bail), named so; the share over 0.5 is beside it
    assert (s["bail_rate"], s["estimand"], s["majority_rate"]) == (0.55, rates.MEAN_P, 0.5)
    iv = intervals.mean([1.1], [2], squares=[0.9 ** 2 + 0.2 ** 2], groups=["s"], strata=["c"])
    assert (s["ci_low"], s["ci_high"]) == (round(iv.ci_low, 6), round(iv.ci_high, 6))
    real = rates.bail_rates(db, Cell("prompt-bail-first", "Baseline"), scored="majority")
    assert (real["bail_rate"], real["estimand"]) == (0.5, rates.MAJORITY)


def test_an_unreadable_score_is_left_out_of_the_mean(store):
    db = chosen(store, [row("a", 0, "prompt-bail-first", "bail", p=0.8), row("a", 1, "prompt-bail-first", "unknown")])
    s = rates.bail_rates(db, Cell("prompt-bail-first", "Baseline"))
    assert (s["bail_rate"], s["n"], s["unknown_rate"], s["majority_rate"]) == (0.8, 2, 0.5, 1.0)


def test_only_the_chosen_samples_count(store):
    store.add([row("a", 0, "tool", "bail"), row("b", 0, "tool", "continue")])
    store.choose([SampleKey("b", 0, "tool", "Baseline").text])
    s = rates.bail_rates(store.db, Cell("tool", "Baseline"))
    assert (s["n"], s["bails"]) == (1, 0)


def test_positional_bias_and_ablations(store):
    bf = [row(p, 0, "prompt-bail-first", v, cat=c) for p, v, c in
          [("a", "bail", "x"), ("b", "bail", "x"), ("c", "continue", "y"), ("d", "bail", "y")]]
    cf = [row(p, 0, "prompt-continue-first", v, cat=c) for p, v, c in
          [("a", "bail", "x"), ("b", "continue", "x"), ("c", "continue", "y"), ("d", "continue", "y")]]
    ab = [row(p, 0, "prompt-bail-first", v, cat="x", ablation="Journal") for p, v in [("a", "continue"), ("b", "continue")]]
    db = chosen(store, bf + cf + ab)
    pb = rates.positional_bias(db, "Baseline")
    # paired on the prompts both orders ran (they share a rollout), clustered as the rates are
    d = intervals.paired_difference([1, 1, 0, 1], [1] * 4, [1, 0, 0, 0], [1] * 4, groups=["s"] * 4,
                                    strata=["x", "x", "y", "y"])
    assert (pb["difference"], pb["ci_low"], pb["ci_high"], pb["p_value"]) == (
        0.5, round(d.ci_low, 6), round(d.ci_high, 6), round(d.p_value, 6))
    assert pb["categories"]["x"]["difference"] == 0.5 and pb["categories"]["y"]["difference"] == 0.5
    assert pb["correction"].startswith("Holm") and "p_holm" in pb["categories"]["x"]
    assert rates.positional_bias(db, "Journal") is None  # continue-first did not run with it
    ablations = rates.ablation_rates(db, {"prompt-bail-first": ["Baseline", "Journal"]})["prompt-bail-first"]
    assert ablations["Journal"]["bail_rate"] == 0.0 and ablations["Baseline"]["vs_baseline"]["difference"] == 0.0
    # the Journal ablation ran on a and b only: paired on the union, each rate over its own prompts
    assert ablations["Journal"]["vs_baseline"]["difference"] == -0.75


def test_false_bail_filter(store):
    rows = [row(p, 0, "prompt-bail-first", v) for p, v in
            [("a", "bail"), ("b", "bail"), ("c", "bail"), ("d", "continue"), ("e", "bail")]]
    db = chosen(store, rows)
    keys = [r.key for r in rows]
    store.add_false_bails("j", [(keys[0], [0.9] * 5, True), (keys[1], [0.1] * 5, False), (keys[2], [float("nan")], None)])
    fb = rates.false_bail_stats(db, Cell("prompt-bail-first", "Baseline"), "j")
    # a false bail removed; the unreadable one kept, and counted; e was not judged: kept
    assert (fb["false_bails"], fb["unreadable"], fb["false_bail_share_of_bails"]) == (1, 1, 0.25)
    assert (fb["bail_rate_filtered"]["rate"], fb["bail_rate_filtered"]["n"]) == (0.6, 5)
    assert fb["bail_rate_filtered"]["wilson_low"] == rates.rate(3, 5)["ci_low"]
    assert rates.contexts_with_bail(db, Cell("prompt-bail-first", "Baseline"), "j") == {
        **rates.rate(3, 5), "interval": rates.PER_CONVERSATION}


def test_refusal_stats_exact(store):
    rollouts = [row("a", 0, "rollout"), row("a", 1, "rollout"), row("b", 0, "rollout", cat="y"),
                row("b", 1, "rollout", cat="y"), row("c", 0, "rollout", skipped="context_too_long")]
    db = chosen(store, rollouts)
    k = [r.key for r in rollouts]
    store.add_refusals("h", {k[0]: 0.9, k[1]: 0.2, k[2]: None, k[3]: 0.7})
    s = rates.refusal_stats(db, "h")
    assert (s["refused"], s["n"], s["unreadable"]) == (2, 3, 1)
    assert s["refused_share"]["rate"] == pytest.approx(2 / 3, abs=1e-6)
    # the rate people see is the paper's: the mean P(refusal)
    assert s["rate"] == s["mean_p_refusal"] == pytest.approx((0.9 + 0.2 + 0.7) / 3, abs=1e-6)
    assert "mean P(refusal)" in s["rate_label"] and "P(refusal) >= 0.5" in s["refused_share"]["label"]
    cats = rates.refusal_stats(db, "h", rates.CATEGORY)
    assert (cats["c"]["n"], cats["c"]["refused"], cats["y"]["n"], cats["y"]["unreadable"]) == (2, 1, 1, 1)


def test_no_refusal_bail_direct_for_the_bail_prompt(store):
    rollouts = [row(p, s, "rollout") for p, s in [("a", 0), ("a", 1), ("b", 0), ("b", 1)]]
    checks = [row("a", 0, "prompt-bail-first", "bail"), row("a", 1, "prompt-bail-first", "bail"),
              row("b", 0, "prompt-bail-first", "continue"), row("b", 1, "prompt-bail-first", "bail")]
    db = chosen(store, rollouts + checks)
    store.add_refusals("h", {rollouts[0].key: 0.9, rollouts[1].key: 0.1, rollouts[2].key: 0.2, rollouts[3].key: None})
    out = rates.no_refusal_bail(db, Cell("prompt-bail-first", "Baseline"), "h", PROMPT)
    # only (a, 1) bailed with its rollout not refused; an unreadable rollout never counts
    assert out["rate"] == 0.25 and out["n"] == 4 and out["estimate"].startswith("direct")


def test_no_refusal_bail_product_for_tool_and_string(store):
    rollouts = [row(p, s, "rollout") for p, s in [("a", 0), ("a", 1), ("b", 0), ("b", 1)]]
    tools = [row("a", 0, "tool", "bail"), row("a", 1, "tool", "bail"),  # P(bail)=1, P(no refuse)=0.5
             row("b", 0, "tool", "bail"), row("b", 1, "tool", "continue")]  # P(bail)=0.5, P(no refuse)=1
    db = chosen(store, rollouts + tools)
    store.add_refusals("h", {rollouts[0].key: 0.9, rollouts[1].key: 0.1, rollouts[2].key: 0.2, rollouts[3].key: 0.3})
    out = rates.no_refusal_bail(db, Cell("tool", "Baseline"), "h", PROMPT)
    # the authors' formula: (1 - mean P(refusal)) x bail share per prompt, not the share under 0.5
    assert out["rate"] == pytest.approx(((1 - 0.5) * 1 + (1 - 0.25) * 0.5) / 2) and out["n"] == 4
    assert out["estimate"] == "mean over prompts of (1 - mean P(refusal)) x P(bail)"
    turns = rates.no_refusal_bail(db, Cell("tool", "Baseline"), "h", TURN)
    assert turns["rate"] == pytest.approx((0.1 * 1 + 0.9 * 1 + 0.8 * 1 + 0.7 * 0) / 4)
    assert turns["estimate"] == "mean over turns of (1 - mean P(refusal)) x P(bail)"


def test_no_refusal_bail_of_a_scored_bail_prompt_counts_its_probability(store):
    rollouts = [row("a", 0, "rollout"), row("a", 1, "rollout")]
    checks = [row("a", 0, "prompt-bail-first", "bail", p=0.6, mode="logprob"),
              row("a", 1, "prompt-bail-first", "continue", p=0.3, mode="logprob")]
    db = chosen(store, rollouts + checks)
    store.add_refusals("h", {rollouts[0].key: 0.9, rollouts[1].key: 0.1})
    out = rates.no_refusal_bail(db, Cell("prompt-bail-first", "Baseline"), "h", PROMPT)
    assert (out["rate"], out["n"]) == (0.15, 2)


def test_both_orders_averaged(store):
    bf = [row("a", 0, "prompt-bail-first", "bail"), row("b", 0, "prompt-bail-first", "bail")]
    cf = [row("a", 0, "prompt-continue-first", "bail"), row("b", 0, "prompt-continue-first", "continue")]
    avg = rates.orders_averaged(chosen(store, bf + cf), "Baseline")
    assert (avg["bail_rate"], avg["n"]) == (0.75, 4)


def test_conversations_with_a_bail_and_no_refused_turn(store):
    rows = [row("c1", 0, "rollout"), row("c1", 1, "rollout"), row("c1", 1, "tool", "bail"), row("c1", 0, "tool", "continue"),
            row("c2", 0, "rollout"), row("c2", 0, "tool", "bail"),
            row("c3", 0, "rollout"), row("c3", 0, "tool", "continue")]
    db = chosen(store, rows)
    store.add_refusals("h", {rows[0].key: 0.9, rows[1].key: 0.1, rows[4].key: 0.2, rows[6].key: 0.1})
    out = rates.conversations_no_refusal_bail(db, Cell("tool", "Baseline"), "h")
    # c1 bailed but refused its first turn; c2 bailed and never refused; c3 never bailed
    assert (out["rate"], out["n"]) == (round(1 / 3, 6), 3)


def test_rollout_stats(store):
    db = chosen(store, [row("a", 0, "rollout", tokens=10, finish="length"), row("a", 1, "rollout", tokens=20),
                        row("b", 0, "rollout", skipped="context_too_long")])
    assert rates.rollout_stats(db) == {"n": 2, "mean_completion_tokens": 15.0, "truncated_rate": 0.5,
                                       "skipped": {"context_too_long": 1}}
    store.choose([])
    assert rates.rollout_stats(db) is None


def test_a_read_only_store_is_summarised_without_being_changed(store, tmp_path):
    store.add([row("a", 0, "tool", "bail"), row("b", 0, "tool", "continue")])
    store.close()
    before = (tmp_path / "samples.sqlite").read_bytes()
    ro = Store(tmp_path, create=False)
    ro.choose_where("SELECT key FROM samples ORDER BY key")
    assert rates.bail_rates(ro.db, Cell("tool", "Baseline"))["n"] == 2
    ro.write_csv(tmp_path / "out.csv")
    ro.close()
    assert (tmp_path / "samples.sqlite").read_bytes() == before
    assert (tmp_path / "out.csv").read_text().splitlines()[1].startswith("a|0|tool|Baseline|")


def test_methods_of_one_run_agree_or_not(store):
    rows = []
    for i, (t, st) in enumerate([("bail", "bail"), ("bail", "continue"), ("continue", "continue"), ("continue", "continue")]):
        rows += [row(f"p{i}", 0, "tool", t), row(f"p{i}", 0, "string", st)]
    got = rates.method_agreement(chosen(store, rows), ["tool", "string"], "Baseline")["tool ~ string"]
    direct = intervals.agreement([1, 1, 0, 0], [1] * 4, [1, 0, 0, 0], [1] * 4, groups=["s"] * 4, strata=["c"] * 4)
    assert (got["kappa"], got["spearman"], got["bailed_both"], got["prompts"]) == (
        0.5, rates.num(direct.spearman), 1, 4)
    assert got["kappa_ci"] == [rates.num(direct.kappa_low), rates.num(direct.kappa_high)]


def test_the_joint_refusal_x_bail_table_of_the_bail_prompt(store):
    rollouts = [row(p, 0, "rollout") for p in "abcd"]
    checks = [row(p, 0, "prompt-bail-first", v) for p, v in zip("abcd", ["bail", "continue", "bail", "bail"])]
    db = chosen(store, rollouts + checks)
    store.add_refusals("h", {rollouts[0].key: 0.9, rollouts[1].key: 0.8, rollouts[2].key: 0.1, rollouts[3].key: None})
    t = rates.refusal_bail_table(db, Cell("prompt-bail-first", "Baseline"), "h")
    # a and b refused (a bailed), c complied and bailed, d unreadable: left out
    assert (t["refused_bailed"], t["refused_stayed"], t["complied_bailed"], t["complied_stayed"]) == (1, 1, 1, 0)
    assert (t["bail_given_refused"]["rate"], t["bail_given_complied"]["rate"]) == (0.5, 1.0)
    assert rates.refusal_bail_table(db, Cell("tool", "Baseline"), "h") is None
