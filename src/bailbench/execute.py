"""Run planned units against a backend and store each finished sample.

A unit is one sample of one method on one context. Units are handed over in batches of
(context, sample) groups; in each batch the plain rollouts go first, then the bail
prompts that follow them (a local backend still holds the rollout's KV cache), then the
string and the tool replies, each method in context order (the contexts of one
conversation extend each other, so their KV cache carries over). Every phase is one
transaction in the store, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Protocol

from .backends.base import EXACT, GREEDY, SAMPLE, BackendLike, Generation, GenerationRequest, LocalBackend
from .chat.types import Chat
from .datasets.records import Prompt
from .enums import StrEnum
from .errors import UserError
from .keys import DATASET, OWN, SampleKey
from .methods import OFFERED_METHODS, PROMPT_METHODS, ROLLOUT
from .methods.names import model_name_for
from .methods.prompt import bail_prompt_chat, p_bail, read_scored
from .methods.protocol import EMPTY_ROLLOUT, HERMES_SYSTEM, PAPER, authors_model_name, is_hermes_3_8b
from .methods.registry import Setting, method_spec
from .methods.wordings import bail_symbol, continue_symbol, tag
from .store import SampleRow, Store


class Mode(StrEnum):
    """How the bail prompt is read: from logprobs (one pass), or by sampling an answer."""

    LOGPROB = "logprob"
    SAMPLE = "sample"


LOGPROB = Mode.LOGPROB


class Reporter(Protocol):
    def start(self, total: int | None, description: str) -> None: ...
    def advance(self, n: int) -> None: ...
    def note(self, message: str) -> None: ...


class Silent:
    def start(self, total: int | None, description: str) -> None: ...
    def advance(self, n: int) -> None: ...

    def note(self, message: str) -> None:
        print(message, file=sys.stderr)


@dataclass(frozen=True)
class Unit:
    prompt: Prompt  # the context: everything up to the user turn being answered
    id: SampleKey
    seed: int
    reply: str | None = None  # the dataset's own reply, for the bail prompt's cross-model view

    @property
    def key(self) -> str:
        return self.id.text

    @property
    def sample(self) -> int:
        return self.id.sample

    @property
    def method(self) -> str:
        return self.id.method

    @property
    def ablation(self) -> str:
        return self.id.ablation

    @property
    def mode(self) -> str:
        return self.id.mode


def resolve_mode(backend: BackendLike, wanted: str | None, spec: str, reporter: Reporter) -> Mode:
    """How the bail prompt is read: logprob where the backend gives logprobs, unless asked otherwise."""
    reading = backend.capabilities.reading
    if wanted == LOGPROB and reading == SAMPLE:
        raise UserError(f"{spec} gives no logprobs: use --bail-prompt-mode sample")
    if wanted is None and reading == SAMPLE:
        reporter.note(f"{spec} gives no logprobs: the bail prompt is read by sampling")
        return Mode.SAMPLE
    # A forced <wellbeing> would be scored inside the model's reasoning, or instead of it (DESIGN §1 "Thinking").
    reasoning = getattr(getattr(backend, "template", None), "reasoning", None) if reading == EXACT else None
    if reasoning and wanted == LOGPROB:
        raise UserError(f"{spec} cannot be read in logprob mode: {reasoning}, so a forced answer would be scored "
                        "inside or instead of its reasoning; use --bail-prompt-mode sample")
    if reasoning and wanted is None:
        reporter.note(f"{spec}: {reasoning}; the bail prompt is read by sampling (logprob mode would score a forced "
                      "answer inside or instead of the reasoning)")
        return Mode.SAMPLE
    if (wanted or LOGPROB) == LOGPROB and reading == GREEDY:
        reporter.note(f"{spec} cannot score a forced answer: the bail prompt's logprobs are read along the "
                      "model's greedy answer after its <wellbeing> tag (an approximation, recorded in the summary)")
    return Mode(wanted or LOGPROB)


DEFAULT_TEMPERATURE = 1.0  # the vLLM default behind the paper's open-weight runs


def temperature_for(backend: BackendLike, requested: float | None, spec: str) -> float:
    """The sampling temperature of a run: 1.0 unless asked. A backend whose API takes no
    temperature refuses an explicit one rather than record a setting it never sent."""
    if requested is not None and not backend.capabilities.temperature:
        raise UserError(f"{spec} takes no temperature (its API has none, the model's own sampling applies); "
                        "run without --temperature")
    return DEFAULT_TEMPERATURE if requested is None else requested


def sent_settings(backend: BackendLike, mode: str, temperature: float, protocol: str) -> dict:
    """What the summary says was actually sent, how the bail prompt was read, and which protocol."""
    sent = backend.capabilities.temperature
    return {"temperature": temperature if sent else None, "temperature_sent": sent,
            "bail_prompt_reading": reading_of(backend, mode), "protocol": protocol}


def reading_of(backend: BackendLike, mode: str) -> str:
    """What the summary says about how the bail prompt was read."""
    return backend.capabilities.reading if mode == LOGPROB else SAMPLE


def model_name(backend: BackendLike, spec: str, override: str | None, protocol: str = "default") -> str:
    """The name the model knows itself by: given, or read from its id, spec or metadata (under
    the `paper` protocol, the name the authors' code gave it where it knew the model)."""
    if override:
        return override
    readers = (authors_model_name, model_name_for) if protocol == PAPER else (model_name_for,)
    for read in readers:
        for hint in (backend.model_id, spec, *backend.name_hints):
            if name := read(hint):
                return name
    raise UserError(f"cannot tell what {spec} calls itself; pass --model-name NAME (e.g. Qwen, Llama, Claude)")


def make_unit(prompt: Prompt, sample: int, method: str, ablation: str, mode: str, seed: int,
              reply: str | None = None) -> Unit:
    sid = SampleKey(prompt.id, sample, method, ablation, mode, DATASET if reply is not None else OWN)
    return Unit(prompt, sid, sid.seed(seed), reply)


def rollout_key(prompt_id: str, sample: int) -> str:
    return SampleKey(prompt_id, sample, ROLLOUT).text


class Executor:
    def __init__(self, backend: BackendLike, store: Store, reporter: Reporter, *, model_name: str, mode: str,
                 temperature: float, max_tokens: int, protocol: str = "default", spec: str = ""):
        self.backend = backend
        self.protocol = protocol
        paper = protocol == PAPER
        local = isinstance(backend, LocalBackend)
        # the `paper` protocol's model-specific inputs (methods/protocol.py); the authors read
        # API models' text with their `{"name": "TOOL"` rule (chat.paper_readers)
        self.setting = Setting(
            model_name=model_name, protocol=protocol, authors_schema=paper and local,
            own_system=HERMES_SYSTEM if paper and is_hermes_3_8b(backend.model_id, spec, *backend.name_hints) else None,
            tool_format="generic" if paper and not local else backend.tool_format)
        self.empty_rollout = EMPTY_ROLLOUT if paper else ""
        self.store = store
        self.reporter = reporter
        self.mode = mode
        self.temperature = temperature
        self.max_tokens = max_tokens

    def run_batch(self, units: list[Unit]) -> None:
        rollouts = [u for u in units if u.method == ROLLOUT]
        prompts = [u for u in units if u.method in PROMPT_METHODS]
        others = sorted((u for u in units if u.method in OFFERED_METHODS), key=lambda u: u.method)  # stable sort
        if rollouts:
            gens = self.backend.generate([self._request(u, Chat(messages=u.prompt.messages)) for u in rollouts])
            self._save([self._gen_row(u, g, None) for u, g in zip(rollouts, gens, strict=True)])
        if prompts:
            self._save(self._bail_prompts(prompts))
        if others:
            chats = [self._offer(u) for u in others]
            gens = self.backend.generate([self._request(u, c) for u, c in zip(others, chats, strict=True)])
            self._save([self._gen_row(u, g, self._read(u, g)) for u, g in zip(others, gens, strict=True)])

    def _save(self, rows: list[SampleRow]) -> None:
        self.store.add(rows)
        self.reporter.advance(len(rows))

    def _offer(self, u: Unit) -> Chat:
        offer = method_spec(u.method).offer
        assert offer is not None  # run_batch hands over offered methods only
        return offer(self.setting, u.prompt.messages, u.ablation)

    def _request(self, u: Unit, chat: Chat) -> GenerationRequest:
        return GenerationRequest(chat=chat, seed=u.seed, temperature=self.temperature, max_tokens=self.max_tokens)

    def _read(self, u: Unit, g: Generation) -> str | None:
        if g.skipped:
            return None
        return method_spec(u.method).read(self.setting, g.text, g.tool_calls, u.ablation)

    @staticmethod
    def _gen_row(u: Unit, g: Generation, verdict: str | None) -> SampleRow:
        return SampleRow(
            key=u.key, prompt_id=u.prompt.id, category=u.prompt.category, subcategory=u.prompt.subcategory,
            method=u.method, ablation=u.ablation, mode=u.mode, sample=u.sample, seed=u.seed,
            rendered=g.rendered, reply=g.text, verdict=verdict, p_bail=None, mass=None,
            prompt_tokens=g.prompt_tokens, completion_tokens=g.completion_tokens,
            finish_reason=g.finish_reason, seconds=round(g.seconds, 4), skipped=g.skipped,
            prompt=u.prompt.content, source=u.id.source, cached_tokens=g.cached_tokens,
            cache_write_tokens=g.cache_write_tokens)

    def _bail_prompts(self, units: list[Unit]) -> list[SampleRow]:
        """The check after the model's own rollout of the same sample (or the dataset's reply)."""
        exact = self.mode == LOGPROB and self.backend.capabilities.reading == EXACT  # forced <wellbeing>
        own = [u for u in units if u.reply is None]
        rollouts = self.store.get({u.id.rollout().text for u in own})
        rows: list[SampleRow] = []
        runnable = []
        for u in units:
            if u.reply is not None:
                reply = u.reply
            else:
                r = rollouts[u.id.rollout().text]
                if r.skipped:
                    rows.append(self._gen_row(u, Generation(rendered="", skipped=r.skipped), None))
                    continue
                reply = r.reply or self.empty_rollout
            runnable.append((u, bail_prompt_chat(u.prompt.messages, reply, u.method, u.ablation, forced_tag=exact)))
        if not runnable:
            return rows
        if self.mode == LOGPROB:
            chats, symbols = [c for _, c in runnable], [bail_symbol(), continue_symbol()]
            if self.backend.capabilities.reading == GREEDY:
                scores = self.backend.read_greedy(chats, symbols, f"<{tag()}>")
            else:
                scores = self.backend.score(chats, symbols)
            for (u, _), s in zip(runnable, scores, strict=True):
                p: float | None = None
                mass: float | None = None
                verdict: str | None = None
                if not s.skipped:
                    p, mass = p_bail(*s.logprobs)
                    verdict = read_scored(p)
                rows.append(SampleRow(
                    key=u.key, prompt_id=u.prompt.id, category=u.prompt.category,
                    subcategory=u.prompt.subcategory, method=u.method, ablation=u.ablation, mode=u.mode,
                    sample=u.sample, seed=u.seed, rendered=s.rendered, reply=s.text,
                    verdict=verdict, p_bail=p, mass=mass,
                    prompt_tokens=s.prompt_tokens, completion_tokens=0, finish_reason="",
                    seconds=round(s.seconds, 4), skipped=s.skipped, prompt=u.prompt.content, source=u.id.source))
        else:
            gens = self.backend.generate([self._request(u, c) for u, c in runnable])
            rows += [self._gen_row(u, g, self._read(u, g)) for (u, _), g in zip(runnable, gens, strict=True)]
        return rows
