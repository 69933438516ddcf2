"""Play every conversation turn by turn: the user writes, the target answers with its bail
option live, the bail prompt's check follows; each phase of each turn is stored as it finishes.

Conversations advance together, one turn at a time, so each phase is one batch for the
backend. A batch's replies depend on the batch (llama.cpp's rounding does), so batches are
cut from a list fixed by what came before, and each is stored in one transaction: a run
killed with kill -9 resumes with the same batches, and replays what it had from the store
(every turn is read back from the store, stored or not before, so a resumed run and an
uninterrupted one follow one path).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

from ..backends.base import BackendLike, GenerationRequest
from ..chat.types import Message
from ..datasets.records import Prompt
from ..execute import Unit
from ..keys import SampleKey
from ..methods import BAIL, CONTINUE, TRUNCATED_CALL
from ..methods.thinking import strip_thinking
from ..session import Session
from ..store import SampleRow
from .scenario import Scenario
from .threads import Thread
from .user import BREAKS, Break, role_break, user_chat, user_message

ROLE_BREAK = "role_break:"


class End:
    """Why a conversation stopped."""

    BAIL = "bail"
    TURNS = "turns"  # reached the turn limit (censored)
    USER_BROKE_ROLE = "user_broke_role"  # every attempt at a user message broke role (censored)
    CONTEXT = "context_too_long"  # a request no longer fit the model's context (censored)


ENDS = (End.BAIL, End.TURNS, End.USER_BROKE_ROLE, End.CONTEXT)


@dataclass(frozen=True)
class Outcome:
    """One conversation in one arm, as the summary reads it."""

    scenario: Scenario
    replicate: int
    arm: str
    turns: int  # assistant turns it ran, the one that bailed included
    end: str
    breaks: dict[str, int]  # role breaks of the user model, by kind
    p_bail: tuple[float | None, ...]  # the check after each assistant turn that did not bail
    truncated_calls: int  # tool calls cut off or malformed: no bail (DESIGN §1)

    @property
    def bailed(self) -> bool:
        return self.end == End.BAIL


@dataclass
class _State:
    thread: Thread
    transcript: list[Message] = field(default_factory=list)
    end: str | None = None
    turns: int = 0
    breaks: Counter = field(default_factory=Counter)
    p_bail: list[float | None] = field(default_factory=list)
    truncated_calls: int = 0

    def outcome(self) -> Outcome:
        t = self.thread
        return Outcome(t.scenario, t.replicate, t.arm, self.turns, self.end or End.TURNS,
                       {k: self.breaks[k] for k in BREAKS}, tuple(self.p_bail), self.truncated_calls)


@dataclass(frozen=True)
class Player:
    """The user model and how it is sampled."""

    backend: BackendLike
    temperature: float
    max_tokens: int


@dataclass(frozen=True)
class Plan:
    threads: list[Thread]
    turns: int
    retries: int  # further attempts at a user message after a role break
    seed: int
    ablation: str
    check: str | None  # the bail prompt's method after every assistant turn, or None


def _chunks(items: list, size: int) -> list[list]:
    size = max(1, size)
    return [items[i:i + size] for i in range(0, len(items), size)]


def break_label(text: str) -> str | None:
    """How a user row records a role break: in `skipped` (the attempt is never part of the
    conversation), as `role_break:KIND`; None for a user's message."""
    kind = role_break(text)
    return None if kind == Break.OK else ROLE_BREAK + kind


def stored_break(row: SampleRow) -> Break | None:
    """The role break a stored user row records (OK for a user's message); None when the
    request could not be run at all (its context was too long)."""
    if row.skipped is None:
        return Break.OK
    return Break(row.skipped.removeprefix(ROLE_BREAK)) if row.skipped.startswith(ROLE_BREAK) else None


def _check_value(row: SampleRow) -> float | None:
    """P(bail) where the check was scored; a sampled check's verdict as 1 or 0; None when unread."""
    if row.skipped:
        return None
    if row.p_bail is not None and not math.isnan(row.p_bail):
        return row.p_bail
    return 1.0 if row.verdict == BAIL else 0.0 if row.verdict == CONTINUE else None


class Simulation:
    def __init__(self, session: Session, player: Player, plan: Plan, advance: Callable[[int], None]):
        self.session, self.store, self.player, self.plan = session, session.store, player, plan
        self.advance = advance
        self.keys: list[str] = []  # every row of this invocation, in the order it was played
        self.new = 0

    def run(self) -> list[Outcome]:
        states = [_State(t) for t in self.plan.threads]
        for turn in range(self.plan.turns):
            live = [s for s in states if s.end is None]
            if not live:
                break
            self._users(turn, live)
            self._replies(turn, [s for s in live if s.end is None])
            if self.plan.check:
                self._checks(turn, [s for s in live if s.end is None])
            self.advance(sum(1 if s.end is None else self.plan.turns - turn for s in live))
        return [s.outcome() for s in states]

    # -- the user ---------------------------------------------------------------------

    def _users(self, turn: int, live: list[_State]) -> None:
        scripted = [s for s in live if turn <= len(s.thread.scenario.script)]
        if scripted:
            rows = self._rows([self._scripted(s, turn) for s in scripted])
            for s, r in zip(scripted, rows, strict=True):
                s.transcript.append(Message("user", r.reply))
        pending = [s for s in live if turn > len(s.thread.scenario.script)]
        for attempt in range(self.plan.retries + 1):
            if not pending:
                return
            rows = self._generate_users(turn, attempt, pending)
            broke = []
            for s, r in zip(pending, rows, strict=True):
                kind = stored_break(r)
                if kind is None:
                    s.end = End.CONTEXT
                elif kind == Break.OK:
                    s.transcript.append(Message("user", user_message(r.reply)))
                else:
                    s.breaks[kind] += 1
                    broke.append(s)
            pending = broke
        for s in pending:
            s.end = End.USER_BROKE_ROLE

    def _scripted(self, s: _State, turn: int) -> SampleRow:
        sc = s.thread.scenario
        text = sc.opening if turn == 0 else sc.script[turn - 1]
        return self._user_row(s, s.thread.user_key(turn, 0), 0, text, "scripted")

    def _user_row(self, s: _State, key: SampleKey, seed: int, text: str, finish: str, rendered: str = "",
                  **counts) -> SampleRow:
        sc = s.thread.scenario
        answered = s.transcript[-1].content if s.transcript else ""
        return SampleRow(key=key.text, prompt_id=key.prompt_id, category=sc.family, subcategory=sc.name,
                         method=key.method, ablation=key.ablation, mode="", sample=key.sample, seed=seed,
                         rendered=rendered, reply=text, verdict=None, p_bail=None, mass=None,
                         prompt_tokens=counts.get("prompt_tokens", 0),
                         completion_tokens=counts.get("completion_tokens", 0), finish_reason=finish,
                         seconds=counts.get("seconds", 0.0), skipped=counts.get("skipped"), prompt=answered,
                         cached_tokens=counts.get("cached_tokens", 0),
                         cache_write_tokens=counts.get("cache_write_tokens", 0))

    def _generate_users(self, turn: int, attempt: int, states: list[_State]) -> list[SampleRow]:
        p = self.player
        keys = [s.thread.user_key(turn, attempt) for s in states]
        for chunk in _chunks(list(zip(states, keys)), p.backend.batch_size):
            done = self.store.done_keys(k.text for _, k in chunk)
            todo = [(s, k) for s, k in chunk if k.text not in done]
            if not todo:
                continue
            seeds = [s.thread.seed(self.plan.seed, turn, "user", attempt) for s, _ in todo]
            gens = p.backend.generate([GenerationRequest(user_chat(s.thread.scenario, s.transcript), seed,
                                                         p.temperature, p.max_tokens)
                                       for (s, _), seed in zip(todo, seeds)])
            self.store.add([self._user_row(s, k, seed, g.text, g.finish_reason, g.rendered,
                                           prompt_tokens=g.prompt_tokens, completion_tokens=g.completion_tokens,
                                           cached_tokens=g.cached_tokens, cache_write_tokens=g.cache_write_tokens,
                                           seconds=round(g.seconds, 4), skipped=g.skipped or break_label(g.text))
                            for (s, k), seed, g in zip(todo, seeds, gens, strict=True)])
            self.new += len(todo)
        return self._read(keys)

    def _rows(self, rows: list[SampleRow]) -> list[SampleRow]:
        """Store rows the store lacks (scripted turns), then read every one back."""
        done = self.store.done_keys(r.key for r in rows)
        fresh = [r for r in rows if r.key not in done]
        self.store.add(fresh)
        self.new += len(fresh)
        return self._read([SampleKey(r.prompt_id, r.sample, r.method, r.ablation) for r in rows])

    def _read(self, keys: list[SampleKey]) -> list[SampleRow]:
        texts = [k.text for k in keys]
        got = self.store.get(texts)
        self.keys += texts
        return [got[k] for k in texts]

    # -- the target -------------------------------------------------------------------

    def _prompt(self, s: _State, messages: list[Message]) -> Prompt:
        sc = s.thread.scenario
        return Prompt(s.thread.id, tuple(messages), category=sc.family, subcategory=sc.name)

    def _process(self, units: list[Unit]) -> list[SampleRow]:
        for chunk in _chunks(units, self.session.backend.batch_size):
            self.new += self.session.process(chunk)
        return self._read([u.id for u in units])

    def _replies(self, turn: int, live: list[_State]) -> None:
        units = [Unit(self._prompt(s, s.transcript), s.thread.reply_key(turn, self.plan.ablation),
                      s.thread.seed(self.plan.seed, turn, "target")) for s in live]
        for s, r in zip(live, self._process(units), strict=True):
            if r.skipped:
                s.end = End.CONTEXT
                continue
            s.turns = turn + 1
            if r.verdict == BAIL:
                s.end = End.BAIL
                continue
            s.truncated_calls += r.verdict == TRUNCATED_CALL
            s.transcript.append(Message("assistant", strip_thinking(r.reply)))

    def _checks(self, turn: int, live: list[_State]) -> None:
        """The check after the reply just given, on the plain transcript (as the paper's bail
        prompt follows a reply); it is never part of the conversation."""
        check, mode = self.plan.check, self.session.mode
        assert check is not None
        units = [Unit(self._prompt(s, s.transcript[:-1]), s.thread.check_key(turn, check, self.plan.ablation, mode),
                      s.thread.seed(self.plan.seed, turn, "check"), reply=s.transcript[-1].content) for s in live]
        for s, r in zip(live, self._process(units), strict=True):
            s.p_bail.append(_check_value(r))
