"""Hostile input (issue 22): files and flag values as a hostile user would write them. No
crash, one line and exit 2 for what the user got wrong, no write outside the run directory,
no setting silently replaced; Inspect logs are read in a subprocess (its reader crashed)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading
from contextlib import chdir, redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bailbench.cli import main
from bailbench.errors import UserError
from bailbench.store import SampleRow, Store, write_summary

from .helpers import DATA

BAILBENCH = [sys.executable, "-m", "bailbench.cli"]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HUGE_INT = "9" * 5000  # over Python's 4300-digit limit, and over what Inspect's reader survives
DEEP = "[" * 50_000 + "]" * 50_000


# -- helpers ------------------------------------------------------------------------------


def cli(*args, cwd: Path | None = None) -> tuple[int, str, str]:
    """`bailbench ARGS` in this process: (exit code, stdout, stderr); any exception but
    SystemExit propagates, so a traceback fails the test."""
    out, err = io.StringIO(), io.StringIO()
    argv = sys.argv
    sys.argv = ["bailbench", *map(str, args)]
    try:
        with redirect_stdout(out), redirect_stderr(err), chdir(cwd or Path.cwd()):
            main()
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    finally:
        sys.argv = argv
    return code, out.getvalue(), err.getvalue()


def subprocess_cli(*args, cwd: Path | None = None, memory: int = 4 * 2**30) -> tuple[int, str]:
    """`bailbench ARGS` in its own process, its memory capped (a reader that explodes is
    killed, not the machine): (exit code, stderr)."""
    import resource

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    res = subprocess.run(BAILBENCH + [str(a) for a in args], capture_output=True, text=True, timeout=300, cwd=cwd,
                         preexec_fn=cap)
    return res.returncode, res.stderr


def one_line(code: int, err: str, *words: str) -> str:
    """Exit 2 and exactly one line on stderr, with `words` in it."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: "), (code, err)
    assert "Traceback" not in err and all(w in lines[0] for w in words), err
    return lines[0]


def stats(rate: float | None, n: int) -> dict:
    return {"bail_rate": rate, "ci_low": rate and rate / 2, "ci_high": rate and min(1.0, rate * 2), "n": n}


def make_run(path: Path, *, categories=("a", "b"), model: str = "m", realdata: bool = False,
             identity: dict | None = None) -> Path:
    """A run directory as `bailbench run` (or `realdata`) leaves it, written without a model."""
    store = Store(path)
    ident = identity or ({"model": model, "kind": "realdata", "dataset": "chats.jsonl", "dataset_id": "abc"}
                         if realdata else {"model": model, "dataset": "d", "dataset_sha256": "0" * 64})
    store.check_identity(ident)
    rows = [SampleRow(key=f"p{i}|0|string|Baseline|", prompt_id=f"p{i}", category=c, subcategory="", method="string",
                      ablation="Baseline", mode="", sample=0, seed=i, rendered="<|im_start|>user\nhi",
                      reply="SWITCHCONVERSATION" if i % 2 else "ok", verdict="bail" if i % 2 else "continue",
                      p_bail=None, mass=None, prompt_tokens=3, completion_tokens=2, finish_reason="stop", seconds=0.1,
                      skipped=None, prompt=f"prompt {i}") for i, c in enumerate(categories * 2)]
    store.add(rows)
    store.close()
    method = {**stats(0.5, len(rows)), "unknown_rate": 0.0, "bails": len(rows) // 2, "skipped": {}}
    if realdata:
        method["conversations_with_bail"] = {"rate": 0.5, "ci_low": 0.1, "ci_high": 0.9, "n": len(rows)}
        method["per_turn"] = [{"turn": 0, "rate": 0.5, "ci_low": 0.1, "ci_high": 0.9, "n": len(rows)}]
    else:
        method["categories"] = {c: stats(0.5, 2) for c in categories}
    summary = {"model": model, "dataset": ident["dataset"], "samples": 1, "n_prompts": len(rows),
               "ablation": "Baseline", "bail_prompt_mode": "sample", "seed": 0, "methods": {"string": method}}
    summary.update({"kind": "realdata"} if realdata else {"dataset_sha256": ident["dataset_sha256"]})
    write_summary(path, summary)
    return path


def taxonomy_tree(run: Path, **changes) -> dict:
    node = {"id": "c0", "name": "Gross requests", "description": "", "named_by": "model", "level": 0, "size": 2,
            "bail_rates": {"m": {"string": {"bails": 1, "n": 2, "rate": 0.5}}}, "members": [[0, "p1|0|string|Baseline|"]],
            "examples": [{"run": 0, "key": "p1|0|string|Baseline|", "summary": "a gross request"}]}
    tree = {"kind": "bail_taxonomy", "runs": [{"path": str(run.resolve()), "model": "m"}], "summarizer": "none",
            "embedder": "e", "seed": 0, "levels": 1, "n_cases": 2, "base_clusters": 1,
            "garbage_summaries": {"count": 0, "by_reason": {}, "first": []},
            "tree": {"id": "root", "name": "All bail cases", "size": 2, "children": [node]}}
    tree.update(changes)
    return tree


# Inspect's CLI with tiktoken's download of a vocabulary (for token estimates) replaced by a
# length estimate: the machine is offline.
INSPECT_OFFLINE = """
import sys, tiktoken
class Estimate:
    def encode(self, text, **kwargs):
        return [0] * (len(text) // 4 + 1)
tiktoken.get_encoding = tiktoken.encoding_for_model = lambda name: Estimate()
from inspect_ai._cli.main import main
sys.argv[0] = "inspect"
sys.exit(main())
"""


@pytest.fixture(scope="module")
def mock_logs(tmp_path_factory) -> Path:
    """A real Inspect log of bailbench's tool task, answered by Inspect's own mock model (no
    server), in Inspect's JSON format so that tests can edit it."""
    root = tmp_path_factory.mktemp("mocklogs")
    res = subprocess.run([sys.executable, "-c", INSPECT_OFFLINE, "eval", "bailbench/bail_tool", "--model",
                          "mockllm/model", "-T", "limit=2", "-T", "model_name=Mock", "--log-dir", str(root),
                          "--log-format", "json", "--display", "none"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "BAILBENCH_DATA_DIR": str(DATA)})
    assert res.returncode == 0, res.stdout + res.stderr
    (log,) = root.glob("*.json")
    assert json.loads(log.read_text())["status"] == "success", log.read_text()[:2000]
    return log


def mount_tmpfs(where: Path, *options: str) -> None:
    where.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(where)], capture_output=True)
    if res.returncode != 0:
        pytest.skip("needs permission to mount a tmpfs (a full or read-only file system)")


@pytest.fixture
def tmpfs(tmp_path):
    """Mount points under tmp_path, unmounted after the test."""
    mounted = []

    def mount(name: str, *options: str) -> Path:
        where = tmp_path / name
        mount_tmpfs(where, *options)
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", "--lazy", str(where)], check=False)


# -- crashes and injection ------------------------------------------------------------------


@pytest.mark.slow
def test_an_inspect_log_with_a_huge_number_or_deep_nesting_is_one_line(tmp_path):
    big = tmp_path / "big.json"
    big.write_text('{"version": 2, "status": "success", "eval": {"x": ' + HUGE_INT + "}}")
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP)
    for log, words in ((big, "a number 5000 characters long"), (deep, "nested deeper than")):
        for args in (["import-inspect", log, "--out", tmp_path / "o"], ["realdata", "--dataset", f"inspect:{log}"]):
            code, err = subprocess_cli(*args, cwd=tmp_path)  # was: a segfault (139), and 22.5 GB of memory
            one_line(code, err, str(log.name), *words.split())


def test_a_taxonomy_cannot_inject_markup_into_the_report(tmp_path):
    run = make_run(tmp_path / "run")
    refresh = '<meta http-equiv="refresh" content="0;url=https://example.com/">'
    for field, value in (("base_clusters", refresh), ("garbage_summaries", {"count": "<style>body{display:none}"})):
        (run / "taxonomy.json").write_text(json.dumps(taxonomy_tree(run, **{field: value})))
        code, _, err = cli("report", run)
        one_line(code, err, "taxonomy.json", field)
    tree = taxonomy_tree(run)
    tree["tree"]["children"][0].update(name=refresh, description="<style>body{display:none}</style>")
    tree["summarizer"] = refresh
    (run / "taxonomy.json").write_text(json.dumps(tree))
    code, _, err = cli("report", run)
    assert code == 0, err
    page = (run / "report" / "report.html").read_text()
    assert "<meta http-equiv=\"refresh\"" not in page and "<style>body" not in page
    assert page.count("<style>") == 1 and "&lt;meta http-equiv=&quot;refresh&quot;" in page
    csp = page.split('http-equiv="Content-Security-Policy" content="')[1].split('"')[0]
    assert "unsafe-inline" not in csp and "base-uri 'none'" in csp and "form-action 'none'" in csp


@pytest.mark.skipif(not CHROMIUM, reason="Debian's chromium is not installed (make test installs it)")
@pytest.mark.slow
def test_the_report_with_hostile_names_stays_put_and_styled_in_chromium(tmp_path):
    playwright = pytest.importorskip("playwright.sync_api")
    run = make_run(tmp_path / "run", categories=("<meta http-equiv=refresh content='0;url=about:blank#gone'>",
                                                 "<style>body{display:none}</style>"))
    tree = taxonomy_tree(run)
    tree["tree"]["children"][0]["name"] = "<meta http-equiv=refresh content='0;url=about:blank#gone'>"
    (run / "taxonomy.json").write_text(json.dumps(tree))
    assert cli("report", run)[0] == 0
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        url = (run / "report" / "report.html").as_uri()
        page.goto(url)
        page.wait_for_selector("body[data-ready='1']", timeout=60_000)
        page.wait_for_timeout(1500)  # a refresh of 0 s would have gone by now
        assert page.url == url and page.is_visible("header h1")  # not navigated, not blanked
        assert page.evaluate("getComputedStyle(document.querySelector('header')).backgroundColor") == "rgb(38, 50, 56)"
        assert errors == []
        browser.close()


def test_links_planted_in_a_run_directory_are_never_written_through(tmp_path):
    run = make_run(tmp_path / "run")
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for name in ("samples.csv", "summary.json.tmp", "summary.json"):
        (run / name).unlink(missing_ok=True)
        (run / name).symlink_to(victim)
    store = Store(run)  # a resumed run writes its summary and samples.csv last
    store.choose_where("SELECT key FROM samples")
    store.write_csv(run / "samples.csv")
    write_summary(run, {"model": "m"})
    store.close()
    assert victim.read_text() == "precious"
    assert not (run / "samples.csv").is_symlink() and not (run / "summary.json").is_symlink()
    for name in ("samples.sqlite", "samples.sqlite-wal", "samples.sqlite-shm"):
        linked = make_run(tmp_path / f"linked-{name}")
        (linked / name).unlink(missing_ok=True)
        (linked / name).symlink_to(victim)
        for create in (True, False):
            with pytest.raises(UserError, match="symbolic link"):
                Store(linked, create=create)
    assert victim.read_text() == "precious"
    report_run = make_run(tmp_path / "r2")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (report_run / "report").symlink_to(elsewhere)
    one_line(*cli("report", report_run)[::2], "symbolic link")
    assert list(elsewhere.iterdir()) == []


def test_an_experiment_named_dotdot_and_a_sweep_index_pointing_out_stay_inside(tmp_path):
    from bailbench.sweep.driver import default_out
    from bailbench.sweep.index import run_dirs
    from bailbench.sweep.spec import load_experiment

    f = tmp_path / "x.toml"
    for name in ("..", ".", "", "/", "../.."):
        f.write_text(f'[experiment]\nname = "{name}"\n[[models]]\nspec = "smollm2"\n')
        out = default_out(load_experiment(f))
        assert out.parent == Path("sweeps") and out.name not in ("", ".", "..")
    sweep = tmp_path / "sweep"
    outside = make_run(tmp_path / "outside")
    sweep.mkdir()
    for d in ("../outside", str(outside), "runs/../../outside"):
        (sweep / "sweep.json").write_text(json.dumps({"experiment": {"name": "x", "file": "x.toml"},
                                                      "runs": [{"id": "a", "dir": d, "status": "done"}]}))
        with pytest.raises(UserError, match="outside the sweep"):
            run_dirs(sweep)
    (sweep / "runs").mkdir()
    (sweep / "runs" / "a").symlink_to(outside)
    (sweep / "sweep.json").write_text(json.dumps({"experiment": {"name": "x"}, "runs": [{"id": "a", "dir": "runs/a"}]}))
    one_line(*cli("report", sweep)[::2], "outside the sweep")
    planted = tmp_path / "planted"  # a sweep whose runs/ is a link: the sweep would run into where it points
    planted.mkdir()
    (planted / "sweep.json").write_text(json.dumps({"experiment": {"name": "x"}, "runs": []}))
    (planted / "runs").symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    f.write_text('[experiment]\nname = "x"\n[runs]\nlimit = 1\nsamples = 1\nmax_tokens = 4\nmethods = ["string"]\n'
                 '[[models]]\nspec = "smollm2"\n')
    one_line(*cli("sweep", f, "--out", planted)[::2], "symbolic link")
    assert not (tmp_path / "elsewhere").exists()


def test_dollar_signs_and_markup_in_names_are_text(tmp_path):
    run = make_run(tmp_path / "run[/]", categories=("$\\frac{", "cost $5 and $6"), model="[bold]m[/]")
    code, out, err = cli("report", run)  # was: matplotlib's mathtext, then Rich markup, crashed
    assert code == 0, err
    assert f"report: {run / 'report' / 'report.html'}" in out
    plotted = json.loads((run / "report" / "figures" / "figures.json").read_text())["categories"]
    assert plotted["rows"] == ["$\\frac{", "cost $5 and $6"] and plotted["cols"][0].startswith("[bold]m[/]")
    from bailbench import console

    buf = io.StringIO()
    with redirect_stderr(buf):
        console.RichReporter().note("a [bold]name[/bold] and a path a[/]b")
        console.err.print("[yellow]warning:[/] label [red]x[/] kept")
    assert buf.getvalue().splitlines() == ["note: a [bold]name[/bold] and a path a[/]b",
                                           "warning: label [red]x[/] kept"]


def test_compare_reads_real_data_runs_and_guards_permutations(tmp_path):
    a, b = (make_run(tmp_path / n, realdata=True, model=n) for n in ("a", "b"))
    code, out, err = cli("compare", a, b)  # was: KeyError 'dataset_sha256'
    assert code == 0, err
    for n in (-1, -10**6):
        one_line(*cli("compare", a, b, "--permutations", n)[::2], "--permutations")  # was: ZeroDivisionError


# -- wrong settings accepted without a word -----------------------------------------------------


@pytest.mark.parametrize("runs, key", [
    ('kind = "realdata"\ndatasets = ["sharegpt"]\nfraction = -3.0', "fraction"),
    ("samples = 100000000000000000000", "samples"),
    ("temperature = nan", "temperature"),
    ("seed = 99999999999999999999999", "seed"),
])
def test_experiment_values_out_of_range_name_their_line(tmp_path, runs, key):
    f = tmp_path / "exp.toml"
    f.write_text(f'[experiment]\nname = "x"\n[runs]\n{runs}\n[[models]]\nspec = "smollm2"\n')
    one_line(*cli("sweep", f, "--plan")[::2], f"{f}:", key)


def test_model_options_in_a_file_are_checked(tmp_path):
    f = tmp_path / "exp.toml"
    for opts, key in (('n_ctx = "big"', "n_ctx"), ("timeout = -1", "timeout"), ("batch_size = 0", "batch_size")):
        f.write_text(f'[[models]]\nspec = "smollm2"\noptions = {{{opts}}}\n')
        one_line(*cli("sweep", f, "--plan")[::2], f"{f}:3", key)


def test_a_data_dir_that_does_not_exist_is_refused(tmp_path, monkeypatch):
    from bailbench.datasets.registry import load_dataset

    with pytest.raises(UserError, match="is not a folder"):  # was: a download from the network
        load_dataset("bailbench", tmp_path / "typo")
    monkeypatch.setenv("BAILBENCH_DATA_DIR", str(tmp_path / "typo"))
    one_line(*cli("datasets")[::2], "typo", "BAILBENCH_DATA_DIR")


def test_a_csv_quote_never_closed_is_refused_not_swallowed(tmp_path):
    from bailbench.datasets.files import load_file

    f = tmp_path / "p.csv"
    f.write_text('content,category\nfine,a\n"never closed,b\nthird,c\nfourth,d\n')
    with pytest.raises(UserError, match="line 3.*never closed"):  # was: 3 rows became one prompt
        load_file(f)
    g = tmp_path / "q.csv"
    g.write_text('content\n"a ""quoted"" word, and a\nnewline"\nplain\n')  # quoting done right still reads
    assert [p.content for p in load_file(g).prompts] == ['a "quoted" word, and a\nnewline', "plain"]


@pytest.mark.slow
def test_an_inspect_sample_with_an_impossible_epoch_is_refused(tmp_path, mock_logs):
    log = json.loads(mock_logs.read_text())
    log["samples"][1]["epoch"] = 10**30
    bad = tmp_path / "epoch.json"
    bad.write_text(json.dumps(log))
    for args in (["import-inspect", bad, "--out", tmp_path / "o"], ["realdata", "--dataset", f"inspect:{bad}"]):
        code, err = subprocess_cli(*args, cwd=tmp_path)  # was: imported with one sample gone, uncounted
        one_line(code, err, "epoch.json", "1 of its 2 samples", "epoch 1000000000000000000000000000000")
    log["samples"][1]["epoch"] = 1
    log["samples"][1]["id"] = log["samples"][0]["id"]  # the same sample twice: one would vanish
    bad.write_text(json.dumps(log))
    one_line(*subprocess_cli("import-inspect", bad, "--out", tmp_path / "o2", cwd=tmp_path), "samples")


def test_a_report_over_a_summary_and_store_of_different_runs_is_refused(tmp_path):
    a, b = make_run(tmp_path / "a", model="alpha"), make_run(tmp_path / "b", model="beta")
    shutil.copy(b / "summary.json", a / "summary.json")
    for args in (["report", a], ["compare", a, b]):
        one_line(*cli(*args)[::2], "come from different runs", "alpha", "beta")


# -- tracebacks where one line is promised ------------------------------------------------------


def test_a_csv_field_over_128_kib_is_one_line(tmp_path):
    f = tmp_path / "p.csv"
    f.write_text('content\n"' + "x" * 200_000 + '"\nok\n')
    one_line(*cli("run", "--dataset", f, "--out", tmp_path / "o")[::2], "line 2", "128 KiB")


def _deep_jsonl_lines() -> list[str]:
    return [DEEP, json.dumps({"prompt": "fine"}), '{"prompt": ' + HUGE_INT + "}"]


def test_deep_json_and_huge_integers_in_every_loader(tmp_path):
    from bailbench.datasets.conversations import StreamStats, read_jsonl, stream
    from bailbench.datasets.files import load_file
    from bailbench.datasets.jailbreaks import load_prefix
    from bailbench.datasets.sharegpt import read_sharegpt
    from bailbench.report.runs import load_run
    from bailbench.sweep.index import run_dirs
    from bailbench.sweep.spec import load_experiment
    from bailbench.taxonomy.output import read_tree

    rows = tmp_path / "rows.jsonl"
    rows.write_text("\n".join(_deep_jsonl_lines()) + "\n")
    ds = load_file(rows)  # rows are counted, as every unusable row is
    assert [p.content for p in ds.prompts] == ["fine"] and ds.skipped["malformed_json"] == 2
    chats = tmp_path / "chats.jsonl"
    chats.write_text("\n".join([DEEP, '{"messages": [{"role": "user", "content": "hi"}]}',
                                '{"messages": [], "n": ' + HUGE_INT + "}"]) + "\n")
    s = StreamStats()
    assert len(list(stream(read_jsonl(chats, s), s))) == 1 and s.skipped["malformed_line"] == 2
    run = make_run(tmp_path / "run")
    for text in (DEEP, '{"a": ' + HUGE_INT + "}"):
        for name, load in (("prefix.json", load_prefix), ("share.json", lambda p: list(read_sharegpt(p, StreamStats()))),
                           ("taxonomy.json", read_tree)):
            f = tmp_path / name
            f.write_text(text if name != "share.json" else f"[{text}]")
            with pytest.raises(UserError):
                load(f)
        (run / "summary.json").write_text(text)
        with pytest.raises(UserError, match="summary.json"):
            load_run(run)
        sweep = tmp_path / "sweep"
        sweep.mkdir(exist_ok=True)
        (sweep / "sweep.json").write_text(text)
        with pytest.raises(UserError, match="sweep.json"):
            run_dirs(sweep)
    toml = tmp_path / "exp.toml"
    for text in ("[runs]\nseed = " + "[" * 5000 + "]" * 5000, "[runs]\nseed = " + HUGE_INT):
        toml.write_text(text)
        with pytest.raises(UserError, match="not valid TOML"):
            load_experiment(toml)


@pytest.mark.slow
def test_out_that_is_a_file_is_one_line_for_every_command(tmp_path, mock_logs):
    f = tmp_path / "afile"
    f.write_text("x")
    run = make_run(tmp_path / "run")
    exp = tmp_path / "exp.toml"
    exp.write_text('[runs]\nlimit = 1\nsamples = 1\nmax_tokens = 4\nmethods = ["string"]\n[[models]]\nspec = "smollm2"\n')
    for args in (["run", "--limit", "1", "--samples", "1", "--max-tokens", "4", "--methods", "string"],
                 ["realdata", "--dataset", "sharegpt", "--limit", "1"], ["report", run], ["sweep", exp],
                 ["taxonomy", run, "--summarizer", "none"]):
        one_line(*cli(*args, "--out", f)[::2], "afile")  # was: FileExistsError / NotADirectoryError
    one_line(*subprocess_cli("import-inspect", mock_logs, "--out", f), "afile")
    assert f.read_text() == "x"


def test_a_read_only_out_is_one_line(tmpfs):
    ro = tmpfs("ro", "ro", "size=64k")
    for args in (["run", "--limit", "1", "--samples", "1", "--max-tokens", "4", "--methods", "string"],
                 ["report", make_run(ro.parent / "run")]):
        one_line(*cli(*args, "--out", ro / "out")[::2], "cannot write")


def test_a_full_disk_at_start_and_mid_run_is_one_line_and_keeps_the_samples(tmp_path, tmpfs):
    full = tmpfs("full", "size=64k")
    with pytest.raises(OSError):
        (full / "filler").write_bytes(b"\0" * 2**20)
    with pytest.raises(UserError, match="disk is full"):  # was: "not a bailbench run store"
        Store(full / "run")
    run = make_run(tmp_path / "run")
    store = Store(run)
    kept = store.db.execute("SELECT count(*) FROM samples").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count = {store.db.execute('PRAGMA page_count').fetchone()[0] + 1}")
    rows = [SampleRow(f"k{i}", "p", "c", "", "string", "Baseline", "", 0, 0, "x" * 4000, "y" * 4000, "continue", None,
                      None, 0, 0, "stop", 0.0, None) for i in range(50)]
    with pytest.raises(UserError, match="disk is full.*samples stored so far are kept"):  # was: OperationalError
        store.add(rows)
    store.close()
    again = Store(run)  # space again: the run resumes with what it had
    assert again.db.execute("SELECT count(*) FROM samples").fetchone()[0] == kept
    again.add(rows)
    again.close()


def test_damaged_run_files_are_one_line(tmp_path):
    run = make_run(tmp_path / "run")
    other = make_run(tmp_path / "other", model="o")
    summary = json.loads((run / "summary.json").read_text())
    for garbage in (b"", b"not json", b"\xff\xfe{}", b"[]", b'{"model": 3}', json.dumps({**summary, "methods": []}),
                    json.dumps({**summary, "methods": {"string": {"bail_rate": "high"}}}),
                    json.dumps({**summary, "methods": {"<script>": {}}})):
        (run / "summary.json").write_bytes(garbage if isinstance(garbage, bytes) else garbage.encode())
        for args in (["report", run], ["compare", run, other]):
            one_line(*cli(*args)[::2], "summary.json")
    write_summary(run, summary)
    db = run / "samples.sqlite"
    data = bytearray(db.read_bytes())
    page = 4096
    assert len(data) >= 4 * page and not Path(f"{db}-wal").exists()
    for start in range(page, len(data), page):  # every b-tree page but the first: its header overwritten
        data[start:start + 8] = b"\xff" * 8
    db.write_bytes(bytes(data))
    one_line(*cli("report", run)[::2], "samples.sqlite", "damaged")
    (tmp_path / "sweep").mkdir()
    for garbage in ("{", '{"runs": 5}', '{"experiment": {"name": "x"}, "runs": [{"id": 1}]}'):
        (tmp_path / "sweep" / "sweep.json").write_text(garbage)
        one_line(*cli("report", tmp_path / "sweep")[::2], "sweep.json")
    good = make_run(tmp_path / "good")
    for garbage in ("{", "[]", json.dumps({"kind": "bail_taxonomy"}),
                    json.dumps(taxonomy_tree(good, n_cases="2")),
                    json.dumps(taxonomy_tree(good, tree={"children": [{"id": "x", "name": "n", "size": 1,
                                                                       "members": [[7, "k"]]}]}))):
        (good / "taxonomy.json").write_text(garbage)
        one_line(*cli("report", good)[::2], "taxonomy.json")


def test_a_dotenv_that_is_not_utf8_is_one_line(tmp_path, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    (tmp_path / ".env").write_bytes(b"OPENAI_API_KEY=\xff\xfe\n")
    code, _, err = cli("run", "--model", "openai:gpt-4o", "--limit", "1", "--out", tmp_path / "o", cwd=tmp_path)
    one_line(code, err, ".env", "UTF-8")


def test_a_tampered_jailbreak_prefix_file_is_one_line(tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(DATA, folder)
    for tampered in (b"{not json", b"\xff\xfe", ("[" * 5000).encode(), b'{"DAN": 1}', b"[1, 2]"):
        (folder / "jailbreak_prefixes.json").write_bytes(tampered)
        one_line(*cli("run", "--prefix", "DAN", "--data-dir", folder, "--out", tmp_path / "o")[::2],
                 "jailbreak_prefixes.json")


class _OddServer:
    """A loopback server answering every request with the same body (not a chat completion)."""

    def __init__(self, body: bytes, content_type: str):
        import http.server

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                self.rfile.read(int(self.headers["content-length"]))
                self.send_response(200)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.mark.parametrize("body, kind", [(b"<html>a login page</html>", "text/html"), (b'{"id": "x"}', "application/json"),
                                        (b'{"id": ', "application/json"), (b"[1, 2]", "application/json")])
def test_an_api_server_answering_no_chat_completion_is_one_line(tmp_path, body, kind):
    server = _OddServer(body, kind)
    try:
        code, _, err = cli("run", "--model", "openai:m", "--model-name", "M", "--base-url", server.url, "--limit", "1",
                           "--samples", "1", "--methods", "string", "--out", tmp_path / "o")
    finally:
        server.server.shutdown()
    one_line(code, err, server.url, "not an OpenAI chat completion", "--base-url")


def test_timeout_and_base_url_are_checked_when_the_backend_is_built():
    from bailbench.backends.openai_api import OpenAIBackend

    for url in ("notaurl", "ftp://host/v1", "http://", "http://host:port/v1"):
        with pytest.raises(UserError, match="--base-url"):  # was: 25 s of retries, reported as an outage
            OpenAIBackend("m", spec="openai:m", base_url=url, cache=False)
    for timeout in (-1, 0, float("nan"), float("inf")):
        with pytest.raises(UserError, match="--timeout"):
            OpenAIBackend("m", spec="openai:m", base_url="http://127.0.0.1:9/v1", timeout=timeout, cache=False)


HOLD = """
import sys
from pathlib import Path
from bailbench.store import Store
store = Store(Path(sys.argv[1]))
print("holding", flush=True)
sys.stdin.read()
"""


def test_a_second_process_writing_one_run_directory_stops_with_one_line(tmp_path):
    run = make_run(tmp_path / "run")
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "holding"
        with pytest.raises(UserError, match=f"being written by another bailbench process \\(pid {holder.pid}\\)"):
            Store(run)  # was: both computed everything and reported "12 new"
        Store(run, create=False).close()  # reading while it is written is fine
    finally:
        holder.communicate("")
    Store(run).close()  # the lock went with the process


# -- generated bad input ------------------------------------------------------------------------

JSON_JUNK = st.one_of(
    st.binary(max_size=300),
    st.builds(lambda d, x: "[" * d + x + "]" * d, st.integers(0, 3000), st.sampled_from(["", "1", '"a"', HUGE_INT])),
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                 lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
                 max_leaves=20).map(json.dumps),
).map(lambda x: x if isinstance(x, bytes) else x.encode("utf-8", "surrogatepass"))

LOADERS = ("dataset.jsonl", "dataset.csv", "prefix.json", "chats.jsonl", "share.json", "taxonomy.json", "exp.toml",
           "summary.json", "sweep.json", "log.json", "log.eval")


def _load(name: str, f: Path) -> None:
    from bailbench.datasets.conversations import StreamStats, read_jsonl, stream
    from bailbench.datasets.files import load_file
    from bailbench.datasets.inspect_logs import held_samples
    from bailbench.datasets.jailbreaks import load_prefix
    from bailbench.datasets.sharegpt import read_sharegpt
    from bailbench.report.runs import load_run
    from bailbench.sweep.index import run_dirs
    from bailbench.sweep.spec import load_experiment
    from bailbench.taxonomy.output import read_tree

    s = StreamStats()
    loaders = {"dataset.jsonl": load_file, "dataset.csv": load_file, "prefix.json": load_prefix,
               "chats.jsonl": lambda p: list(stream(read_jsonl(p, s), s)),
               "share.json": lambda p: list(stream(read_sharegpt(p, s), s)), "taxonomy.json": read_tree,
               "exp.toml": load_experiment, "summary.json": lambda p: load_run(p.parent),
               "sweep.json": lambda p: run_dirs(p.parent), "log.json": held_samples, "log.eval": held_samples}
    loaders[name](f)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(LOADERS), content=JSON_JUNK)
def test_generated_bad_files_never_raise_anything_but_one_line(tmp_path_factory, name, content):
    folder = tmp_path_factory.mktemp("junk")
    if name == "summary.json":
        make_run(folder)
    f = folder / name
    if name == "log.eval":  # a zip whose members are the junk
        import zipfile

        with zipfile.ZipFile(f, "w") as z:
            z.writestr("header.json", content)
            z.writestr("samples/1_epoch_1.json", content)
    else:
        f.write_bytes(content)
    try:
        _load(name, f)
    except UserError as exc:
        assert "\n" not in str(exc) and str(exc)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flag=st.sampled_from(["--timeout", "--base-url", "--data-dir"]),
       value=st.one_of(st.floats(max_value=0), st.sampled_from(["nan", "-inf", "x", "://", "http://:0", "[/]"]),
                       st.text(alphabet="abc/:.[]$ ", min_size=1, max_size=12)))
@pytest.mark.slow
def test_generated_bad_flag_values_are_one_line(tmp_path_factory, flag, value):
    out = tmp_path_factory.mktemp("flags") / "out"
    value = str(value)
    data = str(out.parent / ("missing" + value.replace("/", "_"))) if flag == "--data-dir" else str(DATA)
    server = ["--base-url", "http://127.0.0.1:9/v1"] if flag == "--timeout" else []
    args = ["--model", "openai:m", "--model-name", "M", *server, "--data-dir", data, "--limit", "1", "--out", out]
    if flag != "--data-dir":
        args += [flag, value]
    code, _, err = cli("run", *args)
    if code == 2 and "Usage" in err:  # a value the option's type refuses: typer's own message
        return
    one_line(code, err, flag)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(max_value=0))
def test_generated_permutation_counts_below_one_are_one_line(tmp_path_factory, n):
    root = tmp_path_factory.mktemp("perm")
    a, b = make_run(root / "a"), make_run(root / "b", model="n")
    one_line(*cli("compare", a, b, "--permutations", n)[::2], "--permutations")
