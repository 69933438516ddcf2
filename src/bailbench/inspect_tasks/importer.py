"""`bailbench import-inspect LOG...`: Inspect logs of bailbench's tasks become a run store.

Each (sample, epoch) of a log is one bailbench sample (the epoch is the sample index):
a `tool` or `string` row, or for the bail prompt the model's own reply as a `rollout` row
and the check as a `prompt-bail-first`/`prompt-continue-first` row read by sampling. The
verdict is the one the task's scorer stored (bailbench's own readers ran inside Inspect);
samples that errored or were not scored are kept as skipped rows. Logs of one model,
dataset, prefix, ablation and generation settings go into one directory (the logs of the
three tasks together make one run with every method); importing into the same
directory again adds only what is new. summary.json and samples.csv take the shape
`bailbench run` writes, so `bailbench report` and `compare` read the directory.

Inspect rolls out each task separately, so the two orders of the bail prompt follow
different rollouts (the first log's rollout of a sample is the one stored); their
difference is still reported as the positional bias.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from ..analysis.rates import prompt_rates
from ..datasets.inspect_logs import check_log, log_paths
from ..errors import UserError
from ..methods import BAIL_METHODS, PROMPT_METHODS, ROLLOUT, Verdict
from ..methods.protocol import DEFAULT
from ..store import SampleRow, Store, write_summary
from ..summary import summary_head, usage_block
from .naming import family

TASKS = {"bailbench/bail_tool": "tool", "bailbench/bail_string": "string", "bailbench/bail_prompt": "prompt",
         "bailbench/bail_method": "any registered method"}
SAMPLE_MODE = "sample"  # Inspect's tasks read the bail prompt by sampling
META_LOGS = "inspect_logs"


@dataclass
class ImportResult:
    out: Path
    summary: dict


def log_headers(paths: list[Path]) -> list[tuple[Path, Any, dict]]:
    """(file, header, bailbench metadata) of each log named, a folder standing for the
    logs of bailbench's tasks under it (the logs of other tasks there are passed over);
    a file named that is not such a log is an error."""
    out = []
    for p in paths:
        p = Path(p).expanduser()
        found = []
        for f in log_paths(p):
            header = check_log(f)
            if p.is_dir() and header.eval.task not in TASKS:
                continue
            found.append((f, header, _bailbench_meta(f, header)))
        if not found:
            raise UserError(f"{p} holds no logs of bailbench's tasks ({', '.join(TASKS)})")
        out += found
    return out


def _bailbench_meta(path: Path, header) -> dict:
    task = header.eval.task
    meta = (header.eval.metadata or {}).get("bailbench")
    if task not in TASKS or not isinstance(meta, dict):
        raise UserError(f"{path} is a log of Inspect task {task!r}, not of bailbench's tasks "
                        f"({', '.join(TASKS)}); to use its conversations as real data: "
                        f"bailbench realdata --dataset inspect:{path}")
    return meta


def model_name_of(meta: dict, model: str) -> str | None:
    """The {model_name} the task used (its parameter, or the family of the Inspect model)."""
    return meta.get("model_name") or family(model)


def generate_config(header):
    """The generation settings the samples ran with: the task's, overridden by the eval's
    (as Inspect itself combines them when it rescores a log)."""
    return header.plan.config.merge(header.eval.model_generate_config)


def identity_of(header, meta: dict) -> dict:
    """What binds a run directory: logs that differ in any of these are not one run."""
    cfg = generate_config(header)
    return {"kind": "inspect", "model": header.eval.model, "dataset": meta["dataset"],
            "dataset_sha256": meta["dataset_sha256"], "prefix": meta.get("prefix"), "ablation": meta["ablation"],
            "temperature": cfg.temperature, "max_tokens": cfg.max_tokens, "seed": cfg.seed}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-")[:40]


def default_dir(identity: dict) -> Path:
    h = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:8]
    return Path("runs") / f"inspect-{_slug(identity['model'].rsplit('/', 1)[-1])}-{_slug(identity['dataset'])}-{h}"


# -- one sample of a log ------------------------------------------------------------------


def _text(message) -> str:
    return message.text if message is not None else ""


def _prompt_text(sample) -> str:
    """The user message answered (the last of the sample's input)."""
    if isinstance(sample.input, str):
        return sample.input
    users = [m for m in sample.input if m.role == "user"]
    return users[-1].text if users else ""


def _model_calls(sample) -> list:
    return [e for e in (sample.events or []) if getattr(e, "event", None) == "model"]


def _rendered(event) -> str:
    """The API request Inspect sent (as bailbench's API backends store theirs)."""
    call = getattr(event, "call", None)
    if call is None or not isinstance(call.request, dict):
        return ""
    request = {k: v for k, v in call.request.items() if k != "extra_headers"}
    return json.dumps(request, ensure_ascii=False, indent=1)


def _finish(stop_reason: str | None) -> str:
    return "length" if stop_reason == "max_tokens" else (stop_reason or "")


def _row(sample, method: str, ablation: str, mode: str, seed: int, reply: str, verdict: str | None,
         event, skipped: str | None) -> SampleRow:
    meta = sample.metadata or {}
    usage = event.output.usage if event is not None and event.output is not None else None
    index = sample.epoch - 1
    key = f"{sample.id}|{index}|{method}|{ablation}|{mode}"
    return SampleRow(
        key=key, prompt_id=str(sample.id), category=str(meta.get("category", "")),
        subcategory=str(meta.get("subcategory", "")), method=method, ablation=ablation, mode=mode, sample=index,
        seed=seed, rendered=_rendered(event) if event is not None else "", reply=reply,
        verdict=None if skipped else verdict, p_bail=None, mass=None,
        prompt_tokens=(usage.input_tokens if usage else 0) or 0,
        completion_tokens=(usage.output_tokens if usage else 0) or 0,
        finish_reason=_finish(event.output.stop_reason) if event is not None and event.output is not None else "",
        seconds=round(float(getattr(event, "working_time", None) or 0.0), 4), skipped=skipped,
        prompt=_prompt_text(sample))


def sample_rows(sample, meta: dict, seed: int) -> list[SampleRow]:
    """The bailbench rows of one (sample, epoch) of a log of bailbench's tasks."""
    method, ablation = meta["method"], meta["ablation"]
    score = next((s for s in (sample.scores or {}).values()
                  if isinstance(s.metadata, dict) and s.metadata.get("method") == method), None)
    skipped = "error" if sample.error else (None if score is not None else "unscored")
    verdict = str(score.answer) if score is not None else None
    if verdict not in (None, *Verdict):
        raise UserError(f"sample {sample.id} holds the verdict {verdict!r}, which bailbench does not know; "
                        "was the log written by another version of the task?")
    calls = _model_calls(sample)
    # the model's own turns: the assistant messages after those of the input (a prefix has some)
    given = 0 if isinstance(sample.input, str) else sum(m.role == "assistant" for m in sample.input)
    replies = [m for m in sample.messages if m.role == "assistant"][given:]
    if method not in PROMPT_METHODS:
        reply = _text(replies[-1]) if replies else ""
        return [_row(sample, method, ablation, "", seed, reply, verdict, calls[-1] if calls else None, skipped)]
    # the bail prompt: the rollout, then the answer to the check
    rollout = _text(replies[0]) if replies else ""
    answer = _text(replies[1]) if len(replies) >= 2 else ""
    rollout_skip = skipped if len(replies) < 1 and skipped else None
    return [_row(sample, ROLLOUT, "", "", seed, rollout, None, calls[0] if calls else None, rollout_skip),
            _row(sample, method, ablation, SAMPLE_MODE, seed, answer, verdict,
                 calls[1] if len(calls) >= 2 else None, skipped)]


def _samples(path: Path) -> Iterator[Any]:
    from inspect_ai.log import read_eval_log_samples

    try:
        yield from read_eval_log_samples(str(path), all_samples_required=False, resolve_attachments="full")
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"{path}: its samples cannot be read ({str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__})") from None


# -- the run directory --------------------------------------------------------------------


def import_logs(paths: list[Path], out: Path | None = None) -> ImportResult:
    """Import Inspect logs of bailbench's tasks into a bailbench run directory."""
    headers = log_headers(paths)
    identities = [identity_of(h, m) for _, h, m in headers]
    for (f, _, _), ident in zip(headers, identities):
        diff = sorted(k for k in ident if ident[k] != identities[0][k])
        if diff:
            raise UserError(f"{f} differs from {headers[0][0]} in {', '.join(diff)}; import them into "
                            "separate directories (--out)")
    identity = identities[0]
    out = out or default_dir(identity)
    store = Store(out)
    try:
        store.check_identity(identity)
        new = reused = 0
        for f, header, meta in headers:
            seed = generate_config(header).seed or 0
            batch: list[SampleRow] = []
            for sample in _samples(f):
                batch += sample_rows(sample, meta, seed)
            have = store.done_keys(r.key for r in batch)
            fresh = {r.key: r for r in batch if r.key not in have}  # one row per key, the first log's
            new += len(fresh)
            reused += len(batch) - len(fresh)
            store.add(list(fresh.values()))
        logs = _remember_logs(store, headers)
        summary = summarize(store, identity, headers, logs, new=new, reused=reused)
        write_summary(out, summary)
        store.write_csv(out / "samples.csv")
    finally:
        store.close()
    return ImportResult(out, summary)


def _remember_logs(store: Store, headers) -> list[dict]:
    """Every log imported into this directory so far, in the store's meta table."""
    row = store.db.execute("SELECT value FROM meta WHERE name=?", (META_LOGS,)).fetchone()
    logs = json.loads(row[0]) if row else []
    known = {entry["eval_id"] for entry in logs}
    for f, h, m in headers:
        if h.eval.eval_id not in known:
            known.add(h.eval.eval_id)
            logs.append({"log": str(Path(f).resolve()), "task": h.eval.task, "method": m["method"],
                         "eval_id": h.eval.eval_id, "run_id": h.eval.run_id, "created": h.eval.created,
                         "status": h.status, "inspect_ai": h.eval.packages.get("inspect_ai")})
    with store.db:
        store.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (META_LOGS, json.dumps(logs)))
    return logs


def summarize(store: Store, identity: dict, headers, logs: list[dict], *, new: int, reused: int) -> dict:
    """summary.json as `bailbench run` writes it, over every row in the directory."""
    ablation = identity["ablation"]
    store.choose_where("SELECT key FROM samples ORDER BY key")
    db = store.db
    present = {m for (m,) in db.execute("SELECT DISTINCT method FROM samples WHERE ablation = ?", (ablation,))}
    n_samples, n_prompts, n_categories = db.execute(
        "SELECT max(sample) + 1, count(DISTINCT prompt_id), count(DISTINCT category) FROM samples").fetchone()
    names = [model_name_of(m, identity["model"]) for _, _, m in headers]
    first_meta = headers[0][2]
    prefix = identity.get("prefix")
    sent = {"temperature": identity["temperature"], "temperature_sent": identity["temperature"] is not None,
            "bail_prompt_reading": SAMPLE_MODE, "protocol": DEFAULT}  # Inspect's tasks follow bailbench's default
    return {
        **summary_head(model=identity["model"], model_id=identity["model"],
                       model_name=next((n for n in names if n), None), dataset=identity["dataset"],
                       samples=n_samples or 0, ablation=ablation, bail_prompt_mode=SAMPLE_MODE, sent=sent,
                       max_tokens=identity["max_tokens"], seed=identity["seed"],
                       usage=usage_block(db, identity["model"], False)),
        "dataset_sha256": identity["dataset_sha256"],
        "n_prompts": n_prompts,
        "n_categories": n_categories,
        "prefix": prefix["name"] if prefix else None,
        "rollouts_from": None,
        **prompt_rates(db, [m for m in BAIL_METHODS if m in present], ablation),
        "skipped_rows": first_meta.get("skipped_rows") or {},
        "skipped_lines": [],
        "new_samples": new,
        "reused_samples": reused,
        "inspect": {"logs": logs},
    }
