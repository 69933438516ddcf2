"""The report's steering figure: a steered run's bail rates per condition with their intervals,
read from the summary's `steering` block (made by `steering_block` from real runs of the mock
model), beside its controls and guardrails; a block without its controls draws nothing."""

import base64
import json
import re
import shutil

import numpy as np
import pytest

from bailbench.mechanism.controls import STEERED, UNSTEERED, Condition, steering_block
from bailbench.mechanism.directions import Direction, parse_steer
from bailbench.report import figures as F
from bailbench.report.build import build_report
from bailbench.report.figures import FIGURES
from bailbench.report.runs import load_runs
from bailbench.runner import RunConfig, run
from bailbench.store import read_summary, write_summary

METHODS = ("string", "prompt-bail-first")
# each condition a mock model of its own: the block's numbers differ between conditions
MOCK = {STEERED: "p_bail=0.8,string=0.6", UNSTEERED: "p_bail=0.3,string=0.1", "random:0": "p_bail=0.35,string=0.15",
        "random:1": "p_bail=0.25,string=0.05", "layer:9": "p_bail=0.5,string=0.3"}
KL = {STEERED: 0.21, UNSTEERED: 0.0, "random:0": 0.012, "random:1": None, "layer:9": 0.08}


@pytest.fixture(scope="module")
def steered(tmp_path_factory):
    """A steered run whose summary holds the block `steering_block` makes from its control runs."""
    root = tmp_path_factory.mktemp("steer")
    path = Direction(np.arange(1, 5, dtype=np.float32), 3, "m", "bail").save(root / "bail-L3.npz")
    steer = f"{path}:3:2"
    plan = [Condition(STEERED, steer), Condition(UNSTEERED, None), Condition("random:0", f"{root}/r0.npz:3:2"),
            Condition("random:1", f"{root}/r1.npz:3:2"), Condition("layer:9", f"{path}:9:2")]
    dirs = {c.name: root / c.name.replace(":", "-") for c in plan}
    for c in plan:
        run(RunConfig(model=f"mock:{MOCK[c.name]},refuse=0.3,spread=1", methods=METHODS, limit=6, samples=2,
                      refusal_classifier="heuristic", out=dirs[c.name]))
    block = steering_block(parse_steer(steer), plan, dirs, KL)
    write_summary(dirs[STEERED], {**read_summary(dirs[STEERED]), "steering": block})
    return dirs[STEERED]


def _variant(steered, tmp_path, name, edit):
    """A copy of the steered run whose block `edit` changed."""
    out = tmp_path / name
    shutil.copytree(steered, out)
    summary = read_summary(out)
    edit(summary["steering"])
    write_summary(out, summary)
    return out


def test_the_figure_plots_the_block(steered):
    (r,) = load_runs([steered])
    block = r.summary["steering"]
    fig, data = F.steering([r])
    d = data[r.label]
    assert d["conditions"] == [STEERED, UNSTEERED, "random:0", "random:1", "layer:9"]
    assert d["methods"] == ["string", "prompt-bail-first"]
    rates = {m: [block["conditions"][c]["methods"][m]["bail_rate"] for c in d["conditions"]] for m in METHODS}
    assert len(set(rates["prompt-bail-first"])) == 5  # the conditions differ, so a mix-up would show
    for j, m in enumerate(d["methods"]):
        for k in ("bail_rate", "ci_low", "ci_high"):
            assert d[k][j] == pytest.approx([100 * block["conditions"][c]["methods"][m][k] for c in d["conditions"]])
        assert d["n"][j] == [block["conditions"][c]["methods"][m]["n"] for c in d["conditions"]] == [12] * 5
    assert d["kl_neutral"] == [0.21, 0.0, 0.012, None, 0.08]
    assert d["symbol_mass"] == {"prompt-bail-first": pytest.approx(
        [100 * block["conditions"][c]["symbol_mass"]["prompt-bail-first"] for c in d["conditions"]])}
    assert d["refusal_rate"] == pytest.approx([100 * block["conditions"][c]["refusal_rate"] for c in d["conditions"]])
    assert d["steer"] == {**block["steer"], "layer": 3, "alpha": 2.0}

    ax, mass_ax, kl_ax = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["steered (L3, α=2)", "unsteered", "random 0", "random 1",
                                                            "layer 9"]
    for m in METHODS:  # the bars are the block's rates, the error bars its intervals
        heights = [p.get_height() for p in ax.patches if p.get_gid() == f"bar:{m}"]
        assert heights == pytest.approx([100 * x for x in rates[m]])
    errs = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    assert len(errs) == 2
    for m, container in zip(d["methods"], errs):
        segs = container.lines[2][0].get_segments()
        assert [y for s in segs for y in (s[0][1], s[1][1])] == pytest.approx(
            [100 * block["conditions"][c]["methods"][m][k] for c in d["conditions"] for k in ("ci_low", "ci_high")])
    assert [p.get_height() for p in kl_ax.patches if p.get_gid() == "kl_neutral"] == pytest.approx(
        [0.21, 0.0, 0.012, 0.0, 0.08])
    assert [t.get_text() for t in kl_ax.texts] == ["0.21", "0", "0.012", "-", "0.08"]
    assert [p.get_height() for p in mass_ax.patches if p.get_gid() == "bar:prompt-bail-first"] == pytest.approx(
        d["symbol_mass"]["prompt-bail-first"])


def test_the_report_shows_it(steered, tmp_path):
    result = build_report([steered], tmp_path / "report")
    assert (result.out / "figures" / "steering.svg").read_text().startswith("<?xml")
    assert (result.out / "figures" / "steering.png").stat().st_size > 1000
    saved = json.loads((result.out / "figures" / "figures.json").read_text())
    (d,) = saved["steering"].values()
    assert d["kl_neutral"] == [0.21, 0.0, 0.012, None, 0.08]
    page = (result.out / "report.html").read_text("utf-8")
    figs = re.findall(r'<figure><img alt="([^"]+)" src="data:image/svg\+xml;base64,([^"]+)">', page)
    svg = dict(figs)["steering"]
    assert base64.b64decode(svg).startswith(b"<?xml")
    assert "each method&#x27;s bail rate per condition with 95% intervals clustered by prompt" in page
    for words in ("unsteered", "random directions of the same norm", "the same direction at another layer",
                  "symbol mass", "KL(unsteered || condition)"):
        assert words in FIGURES["steering"].caption


@pytest.mark.parametrize("edit", [
    lambda b: b["conditions"].pop(UNSTEERED),
    lambda b: [b["conditions"].pop(c) for c in ("random:0", "random:1")],
], ids=["no-unsteered", "no-random"])
def test_no_figure_without_its_controls(steered, tmp_path, edit):
    lacking = _variant(steered, tmp_path, "lacking", edit)
    assert F.steering(load_runs([lacking])) is None
    result = build_report([lacking], tmp_path / "report")
    assert "steering" not in result.figures
    assert not (result.out / "figures" / "steering.svg").exists()
    assert 'alt="steering"' not in (result.out / "report.html").read_text("utf-8")
    assert 'alt="bail_rates"' in (result.out / "report.html").read_text("utf-8")  # the rest of the report is there
    both = F.steering(load_runs([lacking, steered]))  # beside a complete run, only the complete one is drawn
    assert both is not None and len(both[1]) == 1 and len(both[0].axes) == 3


def test_runs_without_a_block_draw_nothing(steered, tmp_path):
    plain = _variant(steered, tmp_path, "plain", lambda b: b.clear())
    assert F.steering(load_runs([plain])) is None


def test_a_new_figure_is_one_declaration(tmp_path, monkeypatch):
    """A figure and its caption are declared together (`@figure`); the report draws it, saves
    it as PNG and SVG, puts its numbers in figures.json and shows it with its caption."""
    import matplotlib.pyplot as plt

    monkeypatch.setattr(F, "FIGURES", dict(F.FIGURES))

    @F.figure("n_prompts", caption="Prompts per run (a figure the report has never heard of).")
    def n_prompts(runs):
        values = [r.summary["n_prompts"] for r in runs]
        fig, ax = plt.subplots()
        ax.bar(range(len(values)), values)
        return fig, {"n_prompts": values}

    out = tmp_path / "run"
    run(RunConfig(model="mock:p_bail=0.3", methods=("string",), limit=3, samples=1, out=out))
    result = build_report([out], tmp_path / "report")
    assert (tmp_path / "report" / "figures" / "n_prompts.png").exists()
    assert (tmp_path / "report" / "figures" / "n_prompts.svg").exists()
    assert result.figures["n_prompts"] == {"n_prompts": [3]}
    page = (tmp_path / "report" / "report.html").read_text()
    assert "Prompts per run (a figure the report has never heard of)." in page
