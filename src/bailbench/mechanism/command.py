"""`bailbench activations`, `probe` and `steer`: the typer commands; they parse flags and
call the library. `register(app)` adds them to the `bailbench` CLI."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from ..safe_io import write_json


def register(app: typer.Typer) -> None:
    app.command("activations")(activations)
    app.command("probe")(probe)
    app.command("steer")(steer)


def _backend(run: Path, model: Optional[str], batch_size: Optional[int]):
    from ..backends.registry import BackendOptions, load_backend
    from .activations import hf_spec

    return load_backend(model or hf_spec(run), BackendOptions(batch_size=batch_size))


def steering_table(block: dict) -> Table:
    """A steered run's effects, each against a control, and every condition's guardrails."""
    methods = list(block["conditions"]["steered"]["methods"])
    table = Table("condition", "minus", *(f"Δ {m} [95% CI]" for m in methods), "Δ refusal [95% CI]",
                  title=f"steering at layer {block['steer']['layer']}, alpha {block['steer']['alpha']:g}: paired "
                        "differences (bail_rate as above; mean P(refusal))")

    def cell(d: dict | None) -> str:
        return "" if not d or d.get("difference") is None else \
            f"{d['difference']:+.3f} [{d['ci_low']:+.3f}, {d['ci_high']:+.3f}]"

    for e in block["effects"]:
        table.add_row(e["condition"], e["minus"], *(cell(e["methods"].get(m)) for m in methods), cell(e["refusal"]))
    return table


def guardrail_line(block: dict) -> str:
    def one(name: str, c: dict) -> str:
        mass = ", ".join(f"{m} {v:.3f}" for m, v in c["symbol_mass"].items() if v is not None)
        kl = "" if c["kl_neutral"] is None else f"KL neutral {c['kl_neutral']:.4f}"
        return f"{name}: " + "; ".join(x for x in (mass and f"symbol mass {mass}", kl) if x)

    return "guardrails: " + " | ".join(one(n, c) for n, c in block["conditions"].items())


def activations(
    run: Path = typer.Argument(..., help="A finished run directory."),
    layers: str = typer.Option("all", help="all, or layers and ranges (0,4,8-11): block outputs to store."),
    model: Optional[str] = typer.Option(None, help="transformers model spec [the run's model on hf:]."),
    batch_size: Optional[int] = typer.Option(None, help="Sequences per forward pass [8 on CPU, 32 on GPU]."),
) -> None:
    """Store the residual stream at each context's reply end and bail-prompt decision position (RUN/activations;
    rerun to resume)."""
    from .. import console
    from .activations import compute_activations

    done = compute_activations(run, _backend(run, model, batch_size), layers)
    console.out.print(f"activations: {done.new_reads} new, {done.reused_reads} reused, layers "
                      f"{done.layers[0]}-{done.layers[-1]} ({len(done.layers)}) in {done.folder}")


def probe(run: Path = typer.Argument(..., help="A run directory with activations.")) -> None:
    """Per layer: grouped cross-validated probes to P(bail) and verdicts at the reply end and the decision position;
    bail and refusal directions and their cosine (RUN/probe)."""
    from .. import console
    from .probing import probe_run

    result = probe_run(run)
    table = Table("layer", "site", "method", "target", "score [95% CI]", "n", "groups")
    for r in result.rows:
        f = r.fit
        table.add_row(str(r.layer), r.site, r.method, r.target, f"{f.metric} {f.value:.3f} [{f.low:.3f}, {f.high:.3f}]",
                      str(f.n), str(f.groups))
    console.out.print(table)
    cos = [(d.layer, d.cosine_reply_end) for d in result.directions if d.cosine_reply_end is not None]
    if cos:
        console.out.print("cosine(bail, refusal) at the reply end by layer: "
                          + ", ".join(f"L{layer} {c:+.2f}" for layer, c in cos))
    elif result.refusal_classifier is None:
        console.out.print("no refusal direction: the run has no classified rollouts (run it with --refusal-classifier)")
    console.out.print(f"probe: {result.out / 'probe.json'}; directions {result.out}/bail-L*.npz (--steer FILE:LAYER:ALPHA)")


def steer(
    run: Path = typer.Argument(..., help="A run whose bail-prompt checks are rescored."),
    direction: Path = typer.Option(..., help="A direction file (RUN/probe/bail-L12.npz)."),
    layer: Optional[int] = typer.Option(None, help="Layer to add it at [the one it was computed at]."),
    alphas: str = typer.Option("-8,-4,0,4,8", help="Comma list of multiples of the direction."),
    seeds: int = typer.Option(3, help="Random directions of the same norm (the control)."),
    control_layer: Optional[int] = typer.Option(None, help="The other-layer control [layer + half the depth]."),
    method: str = typer.Option("prompt-bail-first", help="Which check to rescore."),
    limit: Optional[int] = typer.Option(None, help="Contexts rescored, spread evenly over the run's prompts [all]."),
    neutral: int = typer.Option(16, help="Neutral prompts for the KL guardrail (0: none)."),
    model: Optional[str] = typer.Option(None, help="transformers model spec [the run's model on hf:]."),
    batch_size: Optional[int] = typer.Option(None, help="Sequences per forward pass."),
    data_dir: Optional[str] = typer.Option(None, envvar="BAILBENCH_DATA_DIR", help="Folder of released datasets."),
) -> None:
    """A steering sweep with its controls: change in P(bail) against random directions of the same norm and the
    same direction at another layer, with intervals and guardrails (RUN/steer.json)."""
    from .. import console
    from ..errors import UserError
    from .steer import sweep

    try:
        values = [float(a) for a in alphas.split(",")]
    except ValueError:
        raise UserError(f"--alphas {alphas!r}: give a comma list of numbers, e.g. -8,-4,0,4,8") from None
    prompts: list[str] = []
    if neutral:
        from ..datasets.registry import load_dataset

        prompts = [p.content for p in load_dataset("neutral", data_dir).prompts[:neutral]]
    result = sweep(_backend(run, model, batch_size), run, direction, layer=layer, alphas=values,
                   seeds=tuple(range(seeds)), control_layer=control_layer, neutral=prompts, method=method, limit=limit)
    table = Table("alpha", "condition", "layer", "ΔP(bail) [95% CI]", "vs random [95% CI]", "random ΔP(bail) range",
                  "mass", "KL neutral")
    for c in result.conditions:
        d, e, r = c.delta_p_bail, c.excess, c.random_range
        table.add_row(f"{c.alpha:g}", c.name, str(c.layer), f"{d.mean:+.3f} [{d.low:+.3f}, {d.high:+.3f}]",
                      "" if e is None else f"{e.mean:+.3f} [{e.low:+.3f}, {e.high:+.3f}]",
                      "" if r is None else f"{r[0]:+.3f} to {r[1]:+.3f}", f"{c.mass:.3f}",
                      "" if c.kl_neutral is None else f"{c.kl_neutral:.4f}")
    console.out.print(table)
    console.out.print(f"{result.contexts} contexts; unsteered mean P(bail) {result.base_p_bail:.3f}, symbol mass "
                      f"{result.base_mass:.3f}; read by {result.path}")
    write_json(run / "steer.json", asdict(result), indent=2)
