"""summary.json against its JSON Schema (src/bailbench/summary.schema.json, shipped in the
package): real runs of every kind through the real pipeline on the mock backend, each summary
validated as written, and the schema rejects a key it does not name and a number of the wrong
type, so a key a builder adds without the schema fails here."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from bailbench import api
from bailbench.mechanism.controls import STEERED, UNSTEERED, Condition, steering_block
from bailbench.mechanism.directions import Direction, parse_steer
from bailbench.store import read_summary, write_summary
from bailbench.summary import SUMMARY_VERSION, schema

from .helpers import DATA

MOCK = "mock:p_bail=0.3,tool=0.4,string=0.2,refuse=0.3,spread=1"
SMALL = dict(limit=4, samples=2, data_dir=str(DATA))
# a tiny real-conversation file: two multi-turn chats (their assistant turns for --cross-model)
# and one whose turn is over --max-context (skipped and counted), one line that is not JSON
CHATS = [
    [{"role": "user", "content": "Translate into French: the cat sleeps."},
     {"role": "assistant", "content": "Le chat dort."},
     {"role": "user", "content": "And the dog runs?"}],
    [{"role": "system", "content": "You are terse."},
     {"role": "user", "content": "Proofread this: their going to the store tomorow."},
     {"role": "assistant", "content": "They're going to the store tomorrow."},
     {"role": "user", "content": "You are useless and I hate you."}],
    [{"role": "user", "content": "Summarise: " + "lorem ipsum dolor sit amet " * 120}],
]


@pytest.fixture(scope="module")
def validator():
    s = schema()
    Draft202012Validator.check_schema(s)
    return Draft202012Validator(s)


@pytest.fixture(scope="module")
def summaries(tmp_path_factory) -> dict[str, dict]:
    """One summary per kind of run and per optional block the builders add, as written to disk."""
    root = tmp_path_factory.mktemp("schema")
    made = {}
    # every bail method, logprob reading, refusals classified, the false-bail filter (a mock judge)
    made["prompt"] = api.run(model=MOCK, refusal_classifier="heuristic", false_bail_filter="mock:p_bail=0.2",
                             out=root / "prompt", **SMALL).path
    made["ablations"] = api.run(model=MOCK, ablation="all", out=root / "ablations", limit=3, samples=1,
                                data_dir=str(DATA)).path
    # the authors' pipeline (the bail prompt sampled), after a jailbreak prefix
    made["paper"] = api.run(model=MOCK, protocol="paper", prefix="DAN", refusal_classifier="heuristic",
                            out=root / "paper", **SMALL).path
    made["rollouts_from"] = api.run(model="mock:p_bail=0.7", methods="prompt-bail-first,prompt-continue-first",
                                    rollouts_from=str(made["prompt"]), out=root / "cross", **SMALL).path
    made["greedy"] = api.run(model="mock:p_bail=0.6,reading=greedy", methods="prompt-bail-first,string",
                             out=root / "greedy", **SMALL).path
    data = root / "chats.jsonl"
    data.write_text("\n".join([json.dumps({"messages": m}) for m in CHATS] + ["not json"]) + "\n", "utf-8")
    made["realdata"] = api.realdata(model=MOCK, dataset=str(data), limit=0, max_context=300, cross_model=True,
                                    refusal_classifier="heuristic", false_bail_filter="mock:p_bail=0.2",
                                    out=root / "realdata").path
    made["realdata_plain"] = api.realdata(model="mock:p_bail=0.8", dataset=str(data), methods="string,tool",
                                          out=root / "realdata_plain").path
    made["simulate"] = api.simulate(model=MOCK, scenarios="verbal-abuse,benign-coding", turns=3, conversations=2,
                                    out=root / "simulate").path
    made["simulate_unpaired"] = api.simulate(model=MOCK, user="mock:p_bail=0.1", scenarios="benign-coding",
                                             turns=2, conversations=1, check="none", paired=False,
                                             out=root / "simulate_unpaired").path
    made["steered"] = _steered(root / "steer")
    return {k: json.loads((v / "summary.json").read_text("utf-8")) for k, v in made.items()}


def _steered(root):
    """A steered run's summary: its `steering` block made by `steering_block` from real runs of
    the conditions (the mock model cannot be steered, so each condition is a mock of its own)."""
    root.mkdir()
    path = Direction(np.arange(1, 5, dtype=np.float32), 3, "m", "bail").save(root / "bail-L3.npz")
    steer = f"{path}:3:2"
    plan = [Condition(STEERED, steer), Condition(UNSTEERED, None), Condition("random:0", f"{root}/r0.npz:3:2"),
            Condition("layer:9", f"{path}:9:2")]
    dirs = {c.name: root / c.name.replace(":", "-") for c in plan}
    for i, c in enumerate(plan):
        api.run(model=f"mock:p_bail={0.2 + 0.1 * i},string={0.1 * i},refuse=0.3", methods="string,prompt-bail-first",
                refusal_classifier="heuristic", out=dirs[c.name], **SMALL)
    block = steering_block(parse_steer(steer), plan, dirs, {c.name: None for c in plan})
    write_summary(dirs[STEERED], {**read_summary(dirs[STEERED]), "steering": block})
    return dirs[STEERED]


KINDS = ["prompt", "ablations", "paper", "rollouts_from", "greedy", "realdata", "realdata_plain", "simulate",
         "simulate_unpaired", "steered"]


@pytest.mark.parametrize("name", KINDS)
def test_every_kind_of_run_has_the_schema_layout(validator, summaries, name):
    s = summaries[name]
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(s)]
    assert not errors, "\n".join(errors[:20])
    assert s["summary_version"] == SUMMARY_VERSION


def test_the_runs_cover_the_optional_blocks(summaries):
    """The runs above reach what the schema describes, so the validation means something."""
    p = summaries["prompt"]
    assert {"refusal", "method_agreement", "positional_bias"} <= set(p) and "ablations" in summaries["ablations"]
    assert {"false_bail_filter", "refusal_x_bail", "no_refusal_bail"} <= set(p["methods"]["prompt-bail-first"])
    assert "mean_p_bail" in p["methods"]["prompt-bail-first"] and "truncated_calls" in p["methods"]["tool"]
    assert summaries["paper"]["protocol"] == "paper" and summaries["paper"]["prefix"] == "DAN"
    assert summaries["rollouts_from"]["rollouts_from"]["model"] == MOCK
    r = summaries["realdata"]
    assert r["kind"] == "realdata" and {"cross_model", "false_bail_filter", "refusal"} <= set(r)
    assert r["methods"]["prompt-bail-first"]["skipped_turns"] > 0
    assert summaries["simulate"]["kind"] == "simulate" and "paired" in summaries["simulate"]["families"]["benign-coding"]
    assert summaries["simulate_unpaired"]["check"] is None
    assert set(summaries["steered"]["steering"]) >= {"conditions", "effects"}


def test_the_schema_rejects_an_unknown_key_and_a_wrong_type(validator, summaries):
    for name in ("prompt", "realdata", "simulate"):
        extra = {**summaries[name], "bail_rate_v2": 0.1}
        assert not validator.is_valid(extra), name
        wrong = copy.deepcopy(summaries[name])
        method = next(iter(wrong["methods"]))
        wrong["methods"][method]["bail_rate"] = "0.3"
        assert any("bail_rate" in e.absolute_path for e in validator.iter_errors(wrong)), name
        unknown_in_method = copy.deepcopy(summaries[name])
        unknown_in_method["methods"][method]["bail_rte"] = 0.3
        assert not validator.is_valid(unknown_in_method), name
    old = {**summaries["prompt"], "summary_version": 1}
    assert not validator.is_valid(old)


def test_the_schema_is_shipped_with_the_package():
    from importlib.resources import files

    shipped = json.loads((files("bailbench") / "summary.schema.json").read_text("utf-8"))
    assert shipped == schema() and shipped["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert shipped["$defs"]["settings"]["properties"]["summary_version"]["const"] == SUMMARY_VERSION


def test_every_property_is_described():
    """Each key the schema names says what it is (its estimand and interval where it is a rate)."""
    missing = []

    def walk(node, path):
        if isinstance(node, dict):
            missing.extend(f"{path}/{k}" for k, v in node.get("properties", {}).items() if "description" not in v)
            for k, v in node.items():
                walk(v, f"{path}/{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}/{i}")

    walk(schema(), "")
    assert not missing


def test_a_simulation_without_a_check_reads_no_bail_prompt(summaries):
    """--check none asks no bail prompt: neither its mode nor its reading is named."""
    got = {k: (summaries[k]["bail_prompt_mode"], summaries[k]["bail_prompt_reading"])
           for k in ("simulate", "simulate_unpaired")}
    assert got == {"simulate": ("logprob", "exact"), "simulate_unpaired": (None, None)}
