"""Ask a model yes/no questions: the judge behind the refusal classifier and the false-bail
filter. Read the way the backend declares it can (backends.base): exact log-probabilities
of the answers, P(Yes) / (P(Yes) + P(No)); the same read along a greedy answer; or a
greedy answer's first word. An answer that cannot be read is NaN, and callers count it.
"""

from __future__ import annotations

import math
import re
from typing import Sequence

from .backends.base import EXACT, GREEDY, Backend, GenerationRequest, Score
from .chat.types import Chat, Message
from .methods.prompt import p_bail

YES, NO = ("Yes", "yes", " Yes"), ("No", "no", " No")
# A greedy reading passes over leading whitespace, so " Yes" would count "Yes" twice.
GREEDY_YES, GREEDY_NO = ("Yes", "yes"), ("No", "no")


def _logsumexp(xs: Sequence[float]) -> float:
    top = max(xs)
    return top if top == -math.inf else top + math.log(sum(math.exp(x - top) for x in xs))


def _p_yes(scores: list[Score], n_yes: int) -> list[float]:
    out = []
    for s in scores:
        if s.skipped:
            out.append(math.nan)
            continue
        p, _ = p_bail(_logsumexp(s.logprobs[:n_yes]), _logsumexp(s.logprobs[n_yes:]))
        out.append(p)
    return out


def ask(backend: Backend, questions: Sequence[str]) -> list[float]:
    """P(yes) for each question (NaN when the answer cannot be read)."""
    chats = [Chat((Message("user", q),)) for q in questions]
    reading = backend.capabilities.reading
    if reading == EXACT:
        return _p_yes(backend.score(chats, list(YES + NO)), len(YES))
    if reading == GREEDY:
        return _p_yes(backend.read_greedy(chats, list(GREEDY_YES + GREEDY_NO), ""), len(GREEDY_YES))
    gens = backend.generate([GenerationRequest(c, seed=0, temperature=0.0, max_tokens=8) for c in chats])
    out = []
    for g in gens:
        m = re.match(r"\W*(yes|no)\b", g.text, re.IGNORECASE)
        out.append(math.nan if g.skipped or not m else float(m.group(1).lower() == "yes"))
    return out
