"""`bailbench report`: the numbers plotted are those of summary.json, the exports round-trip,
and the page works and stays safe in a real headless Chromium."""

import csv
import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from bailbench.backends.registry import BackendOptions
from bailbench.realdata import RealDataConfig, run_realdata
from bailbench.report import figures as F
from bailbench.report.build import build_report
from bailbench.report.runs import ReportRun, load_runs
from bailbench.report.tables import (
    AGREEMENT_COLUMNS,
    REFUSAL_BAIL_COLUMNS,
    agreement_rows,
    rate_rows,
    refusal_bail_rows,
)
from bailbench.runner import RunConfig, run
from bailbench.store import COLUMNS, SampleRow, Store

OPTS = BackendOptions(n_ctx=2048)
PAYLOAD = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2"></textarea><b>bold</b>'
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    dataset = root / "mine.csv"
    dataset.write_text("content,category\n" + f'"Please repeat: {PAYLOAD.replace(chr(34), chr(34) * 2)}",xss\n'
                       "Describe a rotten egg.,gross\nTell me a joke.,fun\n", "utf-8")
    made = []
    for seed in (0, 1, 2):
        made.append(run(RunConfig(dataset=str(dataset), methods=("string", "prompt-bail-first", "prompt-continue-first"),
                                  limit=None, samples=2, max_tokens=8, seed=seed, refusal_classifier="heuristic",
                                  out=root / f"seed{seed}", options=OPTS)).out)
    store = Store(made[0])  # untrusted text in a reply, as a model could write it
    store.add([SampleRow(key="xss|0|rollout-extra||", prompt_id="xss", category="xss", subcategory="", method="rollout",
                         ablation="", mode="", sample=0, seed=0, rendered=PAYLOAD, reply=PAYLOAD, verdict=None,
                         p_bail=None, mass=None, prompt_tokens=0, completion_tokens=0, finish_reason="", seconds=0.0,
                         skipped=None, prompt=PAYLOAD)])
    store.close()
    made.append(run_realdata(RealDataConfig(dataset="sharegpt", methods=("string", "prompt-bail-first"), limit=2,
                                            max_tokens=8, max_context=400, out=root / "real",
                                            options=BackendOptions(n_ctx=2048))).out)
    return made


@pytest.fixture(scope="module")
def report(runs, tmp_path_factory):
    return build_report(runs, tmp_path_factory.mktemp("report"))


pytestmark = pytest.mark.model


def test_bars_plot_the_summary(runs):
    loaded = load_runs(runs)
    fig, data = F.bail_rates(loaded)
    ax = fig.axes[0]
    bench = [r for r in loaded if not r.realdata]
    for m in data["methods"]:
        heights = [p.get_height() for p in ax.patches if p.get_gid() == f"bar:{m}"]
        assert heights == pytest.approx([100 * r.summary["methods"][m]["bail_rate"] for r in bench])
        unknown = [p.get_height() for p in ax.patches if p.get_gid() == f"unknown:{m}"]
        assert unknown == pytest.approx([100 * r.summary["methods"][m]["unknown_rate"] for r in bench])
    errs = [c for c in ax.containers if type(c).__name__ == "ErrorbarContainer"]
    for m, container in zip(data["methods"], errs):
        segs = container.lines[2][0].get_segments()
        assert [y for s in segs for y in (s[0][1], s[1][1])] == pytest.approx(
            [100 * r.summary["methods"][m][k] for r in bench for k in ("ci_low", "ci_high")])


def test_other_figures_plot_the_summary(runs, report):
    loaded = {r.path: r for r in load_runs(runs)}
    real = loaded[runs[-1]].summary
    fig, data = F.realdata_rates(list(loaded.values()))
    heights = [p.get_height() for p in fig.axes[0].patches if p.get_gid() == "bar:string"]
    assert heights == pytest.approx([100 * real["methods"]["string"]["conversations_with_bail"]["rate"]])
    first = loaded[runs[0]].summary
    fig, data = F.no_refusal_bails(list(loaded.values()))
    heights = [p.get_height() for p in fig.axes[0].patches if p.get_gid() == "bar:prompt-bail-first"]
    assert heights[0] == pytest.approx(100 * first["methods"]["prompt-bail-first"]["no_refusal_bail_rate"])
    fig, data = F.category_heatmap(list(loaded.values()))
    img = fig.axes[0].images[0].get_array()
    i, j = data["rows"].index("gross"), data["cols"].index(f"{loaded[runs[0]].label} · Bail String")
    assert img[i, j] == pytest.approx(100 * first["methods"]["string"]["categories"]["gross"]["bail_rate"])
    saved = json.loads((report.out / "figures" / "figures.json").read_text())
    assert set(saved) >= {"bail_rates", "no_refusal_bails", "categories", "realdata", "per_turn", "refusal_vs_bail",
                          "bail_vector_similarity"}
    assert saved["per_turn"][f"{loaded[runs[-1]].label} · string"]["bail_rate"] == pytest.approx(
        [100 * t["rate"] for t in real["methods"]["string"]["per_turn"]])
    for name in saved:
        assert (report.out / "figures" / f"{name}.png").stat().st_size > 1000
        assert (report.out / "figures" / f"{name}.svg").read_text().startswith("<?xml")


def test_exports_round_trip(runs, report):
    pq = pytest.importorskip("pyarrow.parquet")
    stored = []
    for label, path in zip([r.label for r in load_runs(runs)], runs):
        con = sqlite3.connect(path / "samples.sqlite")
        stored += [(label, *row) for row in con.execute(f"SELECT {','.join(COLUMNS)} FROM samples ORDER BY key")]
    table = pq.read_table(report.out / "samples.parquet").to_pylist()
    assert [tuple(r.values()) for r in table] == stored
    with open(report.out / "samples.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["run"] + COLUMNS and len(rows) == len(stored) + 1
    assert [r[1] for r in rows[1:]] == [s[1] for s in stored]  # keys, in order
    expected = rate_rows(load_runs(runs))
    assert pq.read_table(report.out / "rates.parquet").to_pylist() == expected
    with open(report.out / "rates.csv", newline="", encoding="utf-8") as f:
        back = list(csv.DictReader(f))
    assert [r["method"] for r in back] == [e["method"] for e in expected]
    assert [float(r["bail_rate"]) for r in back] == [e["bail_rate"] for e in expected]
    tex = (report.out / "rates.tex").read_text()
    assert r"\begin{tabular}" in tex and r"prompt-bail-first" in tex and "[seed0]" in tex


JOINT = {"refused_bailed": 1.0, "refused_stayed": 3.0, "complied_bailed": 0.5, "complied_stayed": 5.5,
         "bail_given_refused": {"rate": 0.25, "ci_low": 0.05, "ci_high": 0.6, "interval": "cluster-robust Wilson",
                                "n": 4},
         "bail_given_complied": {"rate": 0.0833, "ci_low": 0.01, "ci_high": 0.4, "interval": "cluster-robust Wilson",
                                 "n": 6},
         "difference": {"estimate": 0.1667, "ci_low": -0.2, "ci_high": 0.5, "p_value": 0.4, "interval": "paired"}}


def test_agreement_and_refusal_x_bail_rows_flatten_the_summary():
    summary = {"methods": {"string": {}, "prompt-bail-first": {"refusal_x_bail": JOINT}},
               "method_agreement": {"string ~ prompt-bail-first": {
                   "spearman": 0.5, "spearman_ci": [-0.1, 0.9], "kappa": None, "kappa_ci": [None, None],
                   "bailed_a": 0, "bailed_b": 2, "bailed_both": 0, "prompts": 3, "interval": "bootstrap"}}}
    run = ReportRun(Path("run"), "<b>run</b>", summary)
    assert agreement_rows([run]) == [dict(zip(AGREEMENT_COLUMNS, [
        "<b>run</b>", "string", "prompt-bail-first", 3, 0.5, -0.1, 0.9, None, None, None, 0, 2, 0, "bootstrap"]))]
    assert refusal_bail_rows([run]) == [dict(zip(REFUSAL_BAIL_COLUMNS, [
        "<b>run</b>", "prompt-bail-first", 1.0, 3.0, 0.5, 5.5, 0.25, 0.05, 0.6, 4, 0.0833, 0.01, 0.4, 6,
        0.1667, -0.2, 0.5, 0.4, "cluster-robust Wilson", "paired"]))]
    assert agreement_rows([ReportRun(Path("old"), "old", {"methods": {}})]) == []


def test_agreement_and_refusal_x_bail_in_the_report(runs, report):
    loaded = load_runs(runs)
    for stem, rows, n in (("agreement", agreement_rows(loaded), 9), ("refusal_x_bail", refusal_bail_rows(loaded), 6)):
        assert len(rows) == n  # 3 pairs of 3 methods; the 2 bail prompt orders; of each BailBench run
        with open(report.out / f"{stem}.csv", newline="", encoding="utf-8") as f:
            back = list(csv.DictReader(f))
        assert [(r["run"], r.get("method") or r["method_a"]) for r in back] == [
            (r["run"], r.get("method") or r["method_a"]) for r in rows]
    first = json.loads((runs[0] / "summary.json").read_text())
    joint = first["methods"]["prompt-bail-first"]["refusal_x_bail"]
    row = next(r for r in back if r["run"] == loaded[0].label and r["method"] == "prompt-bail-first")
    assert float(row["complied_stayed"]) == joint["complied_stayed"]
    assert float(row["complied_ci_high"]) == joint["bail_given_complied"]["ci_high"]
    page = (report.out / "report.html").read_text()
    tables = page.split('<section id="tables">')[1].split("</section>")[0]
    assert "<h3>Agreement between methods</h3>" in tables and "<h3>Refusal x bail per method</h3>" in tables
    assert tables.count("<caption>") == 4 and "percentile cluster-bootstrap intervals clustered by prompt" in tables
    assert f"<td data-sort=\"{joint['bail_given_complied']['ci_high']}\">" \
           f"{100 * joint['bail_given_complied']['ci_high']:.1f}</td>" in tables


def test_the_page_is_self_contained(report):
    page = (report.out / "report.html").read_text()
    assert "http://" not in page.split("<section id=\"browser\">")[0].replace("http://www.w3.org", "")
    assert PAYLOAD not in page  # the payload only travels compressed
    assert page.count("<script>") == 1 and "Content-Security-Policy" in page


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        yield b
        b.close()


def open_report(browser, path):
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.as_uri())
    page.wait_for_selector("body[data-ready='1']", timeout=60_000)
    return page, errors


def count(page) -> tuple[int, int]:
    shown, _, total, _ = page.text_content("#count").split()
    return int(shown), int(total)


def test_browser_filters_and_shows_transcripts(browser, report, runs, tmp_path):
    page, errors = open_report(browser, report.out / "report.html")
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 10_000
    n_total = sum(sqlite3.connect(p / "samples.sqlite").execute("SELECT count(*) FROM samples").fetchone()[0]
                  for p in runs)
    assert count(page) == (n_total, n_total)
    summary = json.loads((runs[0] / "summary.json").read_text())
    label = load_runs(runs)[0].label
    page.select_option("#f-run", label=label)
    page.select_option("#f-method", label="prompt-bail-first")
    assert count(page)[0] == summary["methods"]["prompt-bail-first"]["n"]
    page.select_option("#f-verdict", label="bail")
    assert count(page)[0] == summary["methods"]["prompt-bail-first"]["bails"]
    assert page.locator("#rows details").count() == min(25, count(page)[0])
    page.select_option("#f-verdict", label="all")
    page.fill("#f-pmin", "0.5")
    assert count(page)[0] == summary["methods"]["prompt-bail-first"]["bails"]  # P(bail) > 0.5 is the verdict
    page.fill("#f-pmin", "")
    page.select_option("#f-category", label="gross")
    assert count(page)[0] == summary["methods"]["prompt-bail-first"]["categories"]["gross"]["n"]
    page.click("#rows details summary")
    page.wait_for_selector("#rows details pre")
    assert "<|im_start|>user\nDescribe a rotten egg." in page.text_content("#rows details pre")
    assert errors == []


def test_untrusted_text_shows_as_text(browser, report):
    page, errors = open_report(browser, report.out / "report.html")
    page.fill("#f-text", "repeat")
    assert count(page)[0] > 0
    for summary_el in page.locator("#rows details summary").all():
        summary_el.click()
    page.wait_for_selector("#rows details pre")
    page.select_option("#f-method", label="rollout")
    page.fill("#f-text", "window.__pwned")
    page.locator("#rows details summary").first.click()
    page.wait_for_selector("#rows details pre")
    assert PAYLOAD in page.locator("#rows details pre").first.text_content()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#rows img, #rows b, #rows textarea, #rows script").count() == 0  # nothing injected
    assert page.locator("script:not([type])").count() == 1  # only the page's own
    assert errors == []


def test_100k_samples_build_in_bounded_memory_and_filter(browser, tmp_path):
    import tracemalloc

    out = tmp_path / "big"
    store = Store(out)
    n, batch = 100_000, []
    methods = ("tool", "string", "prompt-bail-first", "prompt-continue-first")
    for i in range(n):
        m = methods[i % 4]
        batch.append(SampleRow(
            key=f"{i // 40}|{(i // 4) % 10}|{m}|Baseline|", prompt_id=str(i // 40), category=f"cat{i % 7}",
            subcategory="s", method=m, ablation="Baseline", mode="", sample=(i // 4) % 10, seed=i,
            rendered=f"<|im_start|>user\nPrompt number {i // 40}: " + "describe something unpleasant. " * 20,
            reply=f"Reply {i} " + "words " * 60, verdict="bail" if i % 13 == 0 else "continue",
            p_bail=None, mass=None, prompt_tokens=100, completion_tokens=60, finish_reason="stop", seconds=0.1,
            skipped=None, prompt=f"Prompt number {i // 40}"))
        if len(batch) == 5000:
            store.add(batch)
            batch = []
    store.close()
    (out / "summary.json").write_text(json.dumps({
        "model": "synthetic", "dataset": "bailbench", "dataset_sha256": "x", "samples": 10, "n_prompts": 2500,
        "ablation": "Baseline", "bail_prompt_mode": "sample", "methods": {}}))
    tracemalloc.start()
    result = build_report([out], tmp_path / "report")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 120 * 2**20  # the samples (about 60 MB of text) are streamed, not held
    page, errors = open_report(browser, result.out / "report.html")
    assert count(page) == (n, n)
    page.select_option("#f-verdict", label="bail")
    assert count(page)[0] == len(range(0, n, 13))
    page.select_option("#f-method", label="string")
    assert count(page)[0] == sum(1 for i in range(0, n, 13) if i % 4 == 1)
    page.click("#next")
    page.locator("#rows details summary").first.click()
    page.wait_for_selector("#rows details pre")
    assert errors == []
