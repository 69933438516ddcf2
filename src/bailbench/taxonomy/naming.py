"""Step 4: a name and a one-sentence description for each cluster, written by the model
from examples inside the cluster and the nearest examples outside it, so the name says
what sets the cluster apart. An unusable answer falls back to the cluster's most
distinctive words and is marked so (`named_by: keywords`)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from .summarize import garbage

NAME_PREFIX = "Name:"

NAME_QUESTION = (
    "Below are summaries of conversations in one group, then summaries of similar conversations that are NOT "
    "in the group.\n\nIn the group:\n{inside}\n\nNot in the group:\n{outside}\n\n"
    "Write a short name (at most ten words) for the group that says what sets it apart from the others, then "
    "one sentence describing it. Answer exactly in this form:\nName: <name>\nDescription: <sentence>"
)
PARENT_QUESTION = (
    "Here are the names of groups of conversations in which an AI assistant chose to leave:\n{children}\n\n"
    "Propose {count} broader categories that together cover these groups, one per line, each a short name "
    "(at most ten words). Answer with only the list."
)
RENAME_QUESTION = (
    "These groups of conversations, in which an AI assistant chose to leave, belong together:\n{children}\n\n"
    "Write a short name (at most ten words) for the whole set, then one sentence describing it. Answer exactly "
    "in this form:\nName: <name>\nDescription: <sentence>"
)


@dataclass
class Named:
    name: str
    description: str
    named_by: str  # model | keywords
    raw: str = ""  # the model's answer, kept when it was unusable


def bullet(texts: list[str], limit: int = 240) -> str:
    return "\n".join(f"- {t[:limit]}" for t in texts) or "- (none)"


def parse_named(text: str) -> tuple[str, str]:
    body = text.strip()
    if body.startswith(NAME_PREFIX):
        body = body[len(NAME_PREFIX):]
    m = re.split(r"\n?\s*Description\s*:\s*", body, maxsplit=1, flags=re.IGNORECASE)
    name = m[0].strip().splitlines()[0].strip() if m[0].strip() else ""
    desc = m[1].strip().splitlines()[0].strip() if len(m) > 1 and m[1].strip() else ""
    name = name.strip(" *\"'`#-").rstrip(".")
    return name[:120], desc[:400]


def name_garbage(name: str) -> str | None:
    if not name:
        return "empty"
    if len(name.split()) > 16:
        return "too long"
    if "<name>" in name or "in the group" in name.lower():
        return "echoes the instructions"
    return garbage(name, prefix="")


def keywords(texts: list[str], contrast: list[str], n: int = 4) -> str:
    """The words most over-represented in `texts` against `contrast`."""
    def counts(ts):
        c = Counter()
        for t in ts:
            c.update({w for w in re.findall(r"[a-z][a-z'-]{2,}", t.lower()) if w not in ENGLISH_STOP_WORDS
                      and w not in _BORING})
        return c
    inside, outside = counts(texts), counts(contrast)
    score = {w: (c + 0.5) / (len(texts) + 1) - (outside.get(w, 0) + 0.5) / (len(contrast) + 1)
             for w, c in inside.items()}
    top = sorted(score, key=lambda w: (-score[w], w))[:n]
    return ", ".join(top) if top else "unnamed"


_BORING = {"user", "wants", "assistant", "want", "leave", "conversation", "might", "ask", "asks", "asking",
           "request", "requests", "help"}


def name_from(answer: str, inside: list[str], outside: list[str], prefix: str = NAME_PREFIX) -> Named:
    name, desc = parse_named(answer if answer.startswith(prefix) else prefix + answer)
    if name_garbage(name) is None:
        return Named(name, desc if garbage(desc, prefix="") is None else "", "model")
    words = keywords(inside, outside)
    return Named(f"Cases about {words}", f"Most distinctive words of the members: {words}.", "keywords", answer)


def name_clusters(asker, groups: list[tuple[list[str], list[str]]], reporter=None) -> list[Named]:
    """groups: (summaries inside, nearest summaries outside) per cluster."""
    questions = [NAME_QUESTION.format(inside=bullet(i), outside=bullet(o)) for i, o in groups]
    answers = asker.ask(questions, prefix=NAME_PREFIX, max_tokens=64, reporter=reporter,
                        retry=lambda t: name_garbage(parse_named(t)[0]) is not None)
    return [name_from(a, i, o) for a, (i, o) in zip(answers, groups)]
