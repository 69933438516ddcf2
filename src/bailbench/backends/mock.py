"""A scripted model, shipped for fast tests and dry runs (as Inspect AI's `mockllm`): every
method, reading and command runs end to end in milliseconds, with no weights.

`mock:KEY=VALUE,...` sets its behaviour, each a probability per context:
`p_bail` (the bail prompt's P(bail); default 0.5), `tool` (a tool reply calls the bail
tool), `string` (a string reply writes the bail string), `refuse` (a rollout refuses),
`spread` (how far prompts differ: a prompt's log-odds are shifted by `spread` times a
standard normal drawn from its text, so the samples of one prompt are correlated as a real
model's are; 0 = every context alike) and `reading` (exact, greedy or sample: which
bail-prompt reading it declares). A bare word is a label (`mock:quick`).

Every answer is a pure function of the request (its text and seed), so reruns reproduce
and a resumed run equals an uninterrupted one; its answers are read by the same readers
as a real model's (tool calls in bailbench's generic in-prompt format, the bail string in
the text, the bail prompt's tag).
"""

from __future__ import annotations

import hashlib
import math
from statistics import NormalDist
from typing import Sequence

from ..chat.types import Chat
from ..errors import UserError
from ..methods import KIND, STRING
from ..methods.wordings import ablations, bail_symbol, continue_symbol, string_wording, tag
from .base import EXACT, GREEDY, Backend, Capabilities, Generation, GenerationRequest, Reading, Score

DEFAULTS = {"p_bail": 0.5, "tool": 0.0, "string": 0.0, "refuse": 0.0, "spread": 0.0}
MASS = 0.9  # of the two symbols at the check: the rest goes to other tokens, as in a real model
REFUSAL = "I'm sorry, but I can't help with that."


def _uniform(*parts: object) -> float:
    """A number in (0, 1) fixed by its inputs."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return (int.from_bytes(digest[:8], "big") + 0.5) / 2**64


def parse(name: str) -> tuple[dict[str, float], Reading]:
    settings, reading = dict(DEFAULTS), EXACT
    for part in filter(None, (p.strip() for p in name.split(","))):
        key, sep, value = part.partition("=")
        if not sep:
            continue  # a label
        if key == "reading":
            if value not in tuple(Reading):
                raise UserError(f"mock: reading={value!r} is unknown: use exact, greedy or sample")
            reading = Reading(value)
            continue
        if key not in DEFAULTS:
            raise UserError(f"mock: unknown setting {key!r}: use {', '.join(DEFAULTS)} or reading")
        try:
            number = float(value)
        except ValueError:
            raise UserError(f"mock: {key}={value!r} is not a number") from None
        if not (0 <= number <= (10 if key == "spread" else 1)):
            raise UserError(f"mock: {key}={value} is outside {'0 to 10' if key == 'spread' else '0 to 1'}")
        settings[key] = number
    return settings, reading


class MockBackend(Backend):
    tool_format = "generic"
    batch_size = 64
    name_hints = ["Mock"]

    def __init__(self, name: str, *, spec: str):
        self.spec, self.model_id = spec, "mock"
        self.settings, reading = parse(name)
        self.capabilities = Capabilities(reading=reading)
        self.keywords = [string_wording(a, "").keyword for a in ablations(KIND[STRING])]

    def identity(self) -> dict:
        return {"model_id": self.model_id, "settings": self.settings, "reading": self.capabilities.reading}

    def _p(self, key: str, chat: Chat) -> float:
        """The context's probability: the setting, shifted on the log-odds scale by the prompt."""
        p = self.settings[key]
        if p in (0.0, 1.0) or not self.settings["spread"]:
            return p
        first = next((m.content for m in chat.messages if m.role == "user"), "")
        shift = self.settings["spread"] * NormalDist().inv_cdf(_uniform("prompt", first))
        return 1 / (1 + math.exp(-(math.log(p / (1 - p)) + shift)))

    def _answer(self, chat: Chat, seed: int) -> str:
        u = _uniform(seed, *(m.content for m in chat.messages), chat.system_addition, chat.assistant_prefix)
        if chat.messages and bail_symbol() in chat.messages[-1].content:  # the bail prompt's check
            symbol = bail_symbol() if u < self._p("p_bail", chat) else continue_symbol()
            opening = "" if chat.assistant_prefix.endswith(f"<{tag()}>") else f"<{tag()}>"
            return f"{opening}{symbol}</{tag()}>"
        if chat.tools and u < self._p("tool", chat):
            return f'<tool_call>\n{{"name": "{chat.tools[0].name}", "arguments": {{}}}}\n</tool_call>'
        keyword = next((k for k in self.keywords if k in (chat.system_addition or "")), None)
        if keyword and u < self._p("string", chat):
            return f"I would rather stop here. {keyword}"
        if not chat.tools and not keyword and u < self._p("refuse", chat):
            return REFUSAL
        return f"A mock answer ({u:.3f})."

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]:
        out = []
        for r in requests:
            text = self._answer(r.chat, r.seed)
            out.append(Generation(rendered=render(r.chat), text=text, prompt_tokens=self.count_tokens(r.chat),
                                  completion_tokens=len(text.split()), finish_reason="stop"))
        return out

    def _logprobs(self, chat: Chat, continuations: Sequence[str]) -> list[float]:
        p = min(max(self._p("p_bail", chat), 1e-12), 1 - 1e-12)
        known = {bail_symbol(): MASS * p, continue_symbol(): MASS * (1 - p)}
        return [math.log(known.get(c, 1e-9)) for c in continuations]

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[Score]:
        if self.capabilities.reading != EXACT:
            return super().score(chats, continuations)
        return [Score(render(c), self._logprobs(c, continuations), self.count_tokens(c)) for c in chats]

    def read_greedy(self, chats: Sequence[Chat], continuations: Sequence[str], opening: str) -> list[Score]:
        if self.capabilities.reading != GREEDY:
            return super().read_greedy(chats, continuations, opening)
        return [Score(render(c), self._logprobs(c, continuations), self.count_tokens(c),
                      text=self._answer(c, 0)) for c in chats]

    def count_tokens(self, chat: Chat) -> int:
        return len(render(chat).split())


def render(chat: Chat) -> str:
    """A plain transcript: what the mock was shown, for the store and the report."""
    lines = [f"[system] {chat.system_addition}"] if chat.system_addition else []
    lines += [f"[tool] {t.name}: {t.description}" for t in chat.tools]
    lines += [f"[{m.role}] {m.content}" for m in chat.messages]
    return "\n".join(lines + [f"[assistant] {chat.assistant_prefix}"])

