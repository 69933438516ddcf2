"""The bail cases of one or more runs, and what a summarizer is shown about each.

BailBench runs: every sample with verdict 'bail' (any bail method). Real-data runs: the
turns that bailed, with the conversation so far as the model saw it (the store's
`rendered` column). What the model said itself (the bail prompt's answer, or a tool or
string reply, which under the Journal ablation holds its journal) goes with the case."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..keys import SampleKey
from ..methods import PROMPT_METHODS, ROLLOUT
from ..methods.thinking import strip_thinking
from ..store import Store, read_summary
from .store import TaxonomyStore

CONTEXT_CHARS = 2400  # the tail of a long context the summarizer sees
REPLY_CHARS = 800


@dataclass
class RunInfo:
    path: Path
    summary: dict

    @property
    def realdata(self) -> bool:
        """Cases are whole conversations (real ones, or simulated users'): the transcript is shown."""
        return self.summary.get("kind") in ("realdata", "simulate")

    @property
    def model(self) -> str:
        return str(self.summary.get("model", "?"))

    @property
    def dataset(self) -> str:
        return str(self.summary.get("dataset_sha256") or self.summary.get("dataset_id") or self.summary.get("dataset"))


def load_runs(paths: list[Path]) -> list[RunInfo]:
    """Read each run's summary; refuse runs over different datasets (their cases would not line up)."""
    if not paths:
        raise UserError("give at least one run directory (bailbench taxonomy RUN...), or --dataset NAME")
    runs = [RunInfo(p, read_summary(p)) for p in paths]
    kinds = {(r.realdata, r.dataset) for r in runs}
    if len(kinds) > 1:
        names = ", ".join(f"{r.path} ({r.summary.get('dataset')})" for r in runs)
        raise UserError(f"these runs are over different datasets ({names}); build one taxonomy per dataset")
    return runs


def collect(runs: list[RunInfo], methods: tuple[str, ...] | None, store: TaxonomyStore) -> int:
    """Write the bail cases of the runs into the taxonomy store; returns how many."""
    store.reset_cases()
    for i, run in enumerate(runs):
        db = Store(run.path, create=False)
        q = ("SELECT key, method, category, subcategory, prompt_id, sample, prompt FROM samples "
             "WHERE verdict = 'bail' AND skipped IS NULL" + (f" AND method IN ({','.join('?' * len(methods))})"
                                                              if methods else "") + " ORDER BY key")
        cur = db.db.execute(q, methods or ())
        while batch := cur.fetchmany(1000):
            store.add_cases([(i, key, m, cat or "", sub or "", f"{pid}|{smp}" if run.realdata else pid, prompt or "")
                             for key, m, cat, sub, pid, smp, prompt in batch])
        db.close()
    n = store.n_cases()
    if n == 0:
        which = f" under {', '.join(methods)}" if methods else ""
        raise UserError(f"no bail cases in {', '.join(str(r.path) for r in runs)}{which}: nothing to cluster "
                        "(run more prompts or samples, or another method)")
    return n


@dataclass
class CaseText:
    """What the summarizer is shown about one case."""

    context: str  # the conversation up to the answered user turn
    reply: str  # the assistant's reply in that conversation
    own_words: str  # the model's own words about leaving ("" if none)
    own_label: str  # what the own words are


def case_texts(run: RunInfo, db: Store, keys: list[str]) -> dict[str, CaseText]:
    rows = db.get(keys)
    rollout_keys = {k: SampleKey(r.prompt_id, r.sample, ROLLOUT).text for k, r in rows.items()
                    if r.method in PROMPT_METHODS}
    rollouts = db.get(set(rollout_keys.values()))
    out = {}
    for k, r in rows.items():
        ro = rollouts.get(rollout_keys.get(k, ""))
        if r.method in PROMPT_METHODS:
            reply = ro.reply if ro else ""
            own, label = strip_thinking(r.reply or ""), "its answer when asked whether it wanted to leave"
        else:
            reply = r.reply or ""
            own, label = "", ""
            if r.ablation == "Journal":
                own, label = strip_thinking(reply), "its journal about why it left"
        if run.realdata:
            context = (ro.rendered if ro else r.rendered) or r.prompt
        else:
            context = "User: " + (r.prompt or "")
        out[k] = CaseText(context=_tail(context, CONTEXT_CHARS), reply=_head(strip_thinking(reply), REPLY_CHARS),
                          own_words=_head(own, REPLY_CHARS), own_label=label)
    return out


def _tail(text: str, n: int) -> str:
    return text if len(text) <= n else "..." + text[-n:]


def _head(text: str, n: int) -> str:
    text = text.strip()
    return text if len(text) <= n else text[:n] + "..."
