"""summary.json's opening block: one builder for every kind of run (prompt runs, real
conversations, simulated users, Inspect imports), so each opens with the same settings in
the same order, and its usage block (README, summary.json)."""

from __future__ import annotations

import json
import sqlite3
from importlib.resources import files

# summary.json's layout is the JSON Schema summary.schema.json beside this file (shipped in the
# package; tests/test_summary_schema.py validates every kind of run against it): a change to the
# layout changes the schema and this version together.
SUMMARY_VERSION = 2  # of summary.json's layout (README, summary.json); 1: before the version was written
SCHEMA = "summary.schema.json"


def schema() -> dict:
    """summary.json's JSON Schema (draft 2020-12), as shipped in the package."""
    return json.loads((files("bailbench") / SCHEMA).read_text("utf-8"))


def summary_head(*, model: str, model_id: str, model_name: str | None, dataset: str, samples: int, ablation: str,
                 bail_prompt_mode: str | None, sent: dict, max_tokens: int, seed: int, usage: dict) -> dict:
    """`sent`: what was sent and read (execute.sent_settings: temperature, temperature_sent,
    bail_prompt_reading, protocol)."""
    return {"summary_version": SUMMARY_VERSION, "model": model, "model_id": model_id, "model_name": model_name,
            "dataset": dataset, "samples": samples, "ablation": ablation, "bail_prompt_mode": bail_prompt_mode,
            **sent, "max_tokens": max_tokens, "seed": seed, "usage": usage}


def usage_block(db: sqlite3.Connection, model: str, batch: bool) -> dict:
    """What the stored requests used, as the backend reported it (every invocation's, rollouts
    read from another run included); on an API model its list price too (prices.toml), at the
    batch price under --batch, cache reads and writes at theirs."""
    from .prices import Tokens, plan_prices, priced

    q = ("SELECT COUNT(*), " + ", ".join(f"COALESCE(SUM(CAST({c} AS INTEGER)), 0)" for c in
                                         ("prompt_tokens", "completion_tokens", "cached_tokens", "cache_write_tokens"))
         + " FROM samples WHERE skipped IS NULL AND rendered != ''")
    requests, tokens_in, tokens_out, cached, written = db.execute(q).fetchone()
    usage = {"requests": requests, "prompt_tokens": tokens_in, "completion_tokens": tokens_out,
             "cached_tokens": cached, "cache_write_tokens": written}
    if priced(model):
        cost = plan_prices(model, Tokens(tokens_in, tokens_out, cached, written), None)
        usage["list_price_usd"] = None if cost is None else round(cost.batch_cached if batch else cost.realtime_cached, 6)
        usage["priced_as"] = "batch" if batch else "real-time"
    return usage
