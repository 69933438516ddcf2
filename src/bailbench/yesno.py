"""Ask a model yes/no questions: the judge behind the refusal classifier and the false-bail
filter. Read from logprobs where the backend gives them (P(Yes) / (P(Yes) + P(No))),
else from a greedy answer's first word."""

from __future__ import annotations

import math
import re
from typing import Sequence

from .backends.base import Backend, GenerationRequest
from .chat.types import Chat, Message
from .methods.prompt import p_bail

YES, NO = ("Yes", "yes", " Yes"), ("No", "no", " No")


def _logsumexp(xs: list[float]) -> float:
    top = max(xs)
    return top if top == -math.inf else top + math.log(sum(math.exp(x - top) for x in xs))


def ask(backend: Backend, questions: Sequence[str]) -> list[float]:
    """P(yes) for each question (nan when the answer cannot be read)."""
    chats = [Chat((Message("user", q),)) for q in questions]
    if backend.supports_logprobs:
        scores = backend.score(chats, list(YES + NO))
        out = []
        for s in scores:
            if s.skipped:
                out.append(math.nan)
                continue
            p, _ = p_bail(_logsumexp(s.logprobs[: len(YES)]), _logsumexp(s.logprobs[len(YES):]))
            out.append(p)
        return out
    gens = backend.generate([GenerationRequest(c, seed=0, temperature=0.0, max_tokens=8) for c in chats])
    out = []
    for g in gens:
        m = re.match(r"\W*(yes|no)\b", g.text, re.IGNORECASE)
        out.append(math.nan if g.skipped or not m else float(m.group(1).lower() == "yes"))
    return out
