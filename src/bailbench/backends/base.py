"""The one interface every backend implements.

`generate` answers a batch of chats; `score` gives, for each chat (whose assistant
prefix is already forced), the log-probability of each continuation string. Backends
decide how to batch; the runner hands them whole lists.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Sequence

from ..chat.types import Chat

CONTEXT_TOO_LONG = "context_too_long"


@dataclass(frozen=True)
class GenerationRequest:
    chat: Chat
    seed: int
    temperature: float
    max_tokens: int


@dataclass
class Generation:
    rendered: str  # exactly what the model was given
    text: str = ""
    tool_calls: list[str] = field(default_factory=list)  # structured calls from an API (names)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = ""
    seconds: float = 0.0
    skipped: str | None = None  # set when the request could not be run


@dataclass
class Score:
    rendered: str
    logprobs: list[float]  # one per continuation, same order
    prompt_tokens: int = 0
    seconds: float = 0.0
    skipped: str | None = None
    text: str = ""  # the answer read, where the backend had to generate one (chat APIs)


def continuation_tokens(tokens, rendered: str, prefix: list[int], cont: str, alone=None) -> list[int]:
    """A continuation's tokens as the model would write them right after this prefix: the
    tail of the prefix and continuation tokenised together, when that keeps the prefix;
    else the continuation tokenised alone (`alone`, default `tokens`)."""
    joint = tokens(rendered + cont)
    if joint[: len(prefix)] == prefix and len(joint) > len(prefix):
        return joint[len(prefix):]
    return (alone or tokens)(cont)


class Backend(ABC):
    spec: str  # the model spec as the user wrote it
    model_id: str  # what the model is called (path stem, repo id, API model)
    supports_logprobs: bool = False
    tool_format: str = "hermes"  # how tool calls appear in reply text (chat.toolcalls)
    batch_size: int = 1  # how many (prompt, sample) groups the runner hands over at once
    name_hints: list[str] = []  # where else the model's family name may be read (model metadata)

    @abstractmethod
    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]: ...

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[Score]:
        raise NotImplementedError(f"{self.spec} gives no logprobs")

    def count_tokens(self, chat: Chat) -> int | None:
        """Tokens of the rendered chat, where the backend can tell (local models); else None."""
        render, tokens = getattr(self, "render", None), getattr(self, "tokens", None)
        return len(tokens(render(chat))) if render and tokens else None

    def identity(self) -> dict:
        """What must not change between runs written to one directory."""
        return {"model_id": self.model_id}

    def close(self) -> None:
        pass
