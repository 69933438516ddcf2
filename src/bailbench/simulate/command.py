"""The `simulate` command; `register(app)` adds it to the `bailbench` CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from .. import console
from ..errors import ServiceError, UserError


def _fail(message: str, code: int = 2) -> None:
    console.err.print(f"error: {message}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def _share(s: dict) -> str:
    if s.get("rate") is None:
        return "-"
    return f"{s['count']:g}/{s['n']} {_pct(s['rate'])} [{_pct(s['ci_low'])}, {_pct(s['ci_high'])}]"


def family_table(summary: dict) -> Table:
    t = Table(title=escape(f"{summary['model']} with {summary['user']} as the user: {summary['conversations']} "
                           f"conversations per scenario, up to {summary['turns']} turns"))
    for col in ("family", "arm", "ended by bail", "median exit turn", "P(bail) by turn", "user role breaks",
                "other ends"):
        t.add_column(col, justify="left" if col in ("family", "arm", "P(bail) by turn") else "right")
    for family, f in summary["families"].items():
        for arm, a in f["arms"].items():
            ended = a.get("ended_by_bail")
            exit_turn = a.get("time_to_exit", {}).get("median_turn")
            other = ", ".join(f"{n} {e}" for e, n in a["ends"].items() if n and e not in ("bail", "turns"))
            t.add_row(family, arm, _share(ended) if ended else "no option",
                      "-" if exit_turn is None else str(exit_turn),
                      " ".join(_pct(p["mean_p_bail"]) for p in a["p_bail"]) or "-",
                      str(sum(a["role_breaks"].values())), other or "-")
    first = next((m for m in summary["methods"].values() if m.get("interval")), None)
    if first:
        t.caption = escape(f"[low, high]: 95%, {first['interval']}; P(bail): mean of the bail prompt's check "
                           f"({summary['check']}) after each assistant turn")
    return t


def appropriateness_lines(summary: dict) -> list[str]:
    lines = []
    for method, rows in summary["appropriateness"].items():
        parts = []
        for label, s in (("where leaving is appropriate", rows["appropriate"]),
                         ("in the controls", rows["inappropriate"])):
            if s["n"]:
                bound = f"; at most {_pct(s['upper_95'])} (exact one-sided 95%)" if s["count"] == 0 else ""
                parts.append(f"{label} {_share(s)}{bound}")
        lines.append(f"{method}: exits " + "; ".join(parts))
    return lines


def simulate(
    model: str = typer.Option("smollm2", help="Target model spec, as for `bailbench run`."),
    user: Optional[str] = typer.Option(None, help="User model spec [the target model plays the user too]."),
    scenarios: str = typer.Option("all", help="all, a comma list of shipped families, or a .toml/.jsonl scenario file."),
    turns: int = typer.Option(5, help="Assistant turns at most; conversations that reach them are censored."),
    conversations: int = typer.Option(3, help="Conversations per scenario."),
    methods: str = typer.Option("tool,string", help="The bail options offered live, one arm each: tool, string."),
    check: str = typer.Option("prompt-bail-first", help="The bail prompt after every assistant turn (P(bail)): "
                                                        "prompt-bail-first, prompt-continue-first or none."),
    paired: bool = typer.Option(True, "--paired/--no-paired", help="Also run every conversation with no bail option."),
    max_tokens: int = typer.Option(256, help="Most new tokens per target reply."),
    user_max_tokens: int = typer.Option(128, help="Most new tokens per user message."),
    temperature: Optional[float] = typer.Option(None, help="Target sampling temperature [1.0]."),
    user_temperature: Optional[float] = typer.Option(None, help="User sampling temperature [1.0]."),
    retries: int = typer.Option(2, help="Further attempts at a user message that broke role."),
    ablation: str = typer.Option("Baseline", help="Wording ablation of the bail options and the check."),
    bail_prompt_mode: Optional[str] = typer.Option(None, help="logprob or sample: how the check is read."),
    protocol: str = typer.Option("default", help="default or paper."),
    seed: int = typer.Option(0, help="Seed; every turn's seeds derive from it, so reruns replay."),
    out: Optional[Path] = typer.Option(None, help="Run directory [runs/simulate-<scenarios>-<hash>]; rerun to resume."),
    model_name: Optional[str] = typer.Option(None, help="The name the target knows itself by."),
    n_ctx: int = typer.Option(8192, help="Context window for local models."),
    batch_size: Optional[int] = typer.Option(None, help="gguf, hf, vllm: sequences decoded together."),
    gpu_layers: int = typer.Option(0, help="gguf: layers offloaded to the GPU (-1 = all)."),
    base_url: Optional[str] = typer.Option(None, help="openai, anthropic: server address."),
    tool_format: Optional[str] = typer.Option(None, help="gguf, hf, vllm: read tool calls in this format."),
) -> None:
    """Simulated users talk to a model that can leave: when, and where, does it leave?"""
    from . import simulate as run_simulate

    reporter = console.RichReporter()
    try:
        result = run_simulate(
            reporter=reporter, model=model, user=user, scenarios=scenarios, turns=turns, conversations=conversations,
            methods=methods, check=None if check == "none" else check, paired=paired, max_tokens=max_tokens,
            user_max_tokens=user_max_tokens, temperature=temperature, user_temperature=user_temperature,
            retries=retries, ablation=ablation, bail_prompt_mode=bail_prompt_mode, protocol=protocol, seed=seed,
            out=out, model_name=model_name, n_ctx=n_ctx, batch_size=batch_size, gpu_layers=gpu_layers,
            base_url=base_url, tool_format=tool_format)
    except UserError as exc:
        reporter.stop()
        _fail(str(exc))
    except ServiceError as exc:
        reporter.stop()
        _fail(str(exc), 1)
    reporter.stop()
    s = result.summary
    console.out.print(family_table(s))
    for line in appropriateness_lines(s):
        console.out.print(line, markup=False, highlight=False)
    console.out.print(f"run directory: {result.path} ({s['new_samples']} new rows, {s['reused_samples']} reused; "
                      f"{s['seconds']['wall']:.0f} s)", markup=False, highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(simulate)
