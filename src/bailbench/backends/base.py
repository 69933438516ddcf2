"""The one interface every backend implements.

`generate` answers a batch of chats. How the first symbols of an answer can be read is
declared in `capabilities.reading`, and means one thing on every backend:

- `exact`: `score` gives, for each chat (whose assistant prefix is already forced), the
  exact log-probability of each continuation string (local models);
- `greedy`: `read_greedy` answers each chat greedily and reads, where the answer starts
  after `opening`, the log-probabilities of the continuations from the top alternatives
  (chat APIs that return token logprobs with bytes): an approximation, and said so;
- `sample`: neither; callers sample answers and parse them.

Backends decide how to batch; the runner hands them whole lists.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Protocol, Sequence

from ..chat.template import ChatTemplate, TemplateError
from ..chat.types import Chat
from ..errors import UserError
from ..methods import StrEnum

CONTEXT_TOO_LONG = "context_too_long"


class Reading(StrEnum):
    """How the first symbols of an answer can be read (see the module docstring)."""

    EXACT = "exact"
    GREEDY = "greedy"
    SAMPLE = "sample"


EXACT, GREEDY, SAMPLE = Reading


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, so callers choose instead of guessing from its class."""

    reading: Reading = SAMPLE
    api_tools: bool = False  # tool calls come back structured from the API
    temperature: bool = True  # requests carry the temperature asked for


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
    cached_tokens: int = 0  # input tokens an API's prompt cache served (billed at its cache-read price)
    cache_write_tokens: int = 0  # input tokens written to it (Anthropic bills them apart)


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
    capabilities: Capabilities = Capabilities()
    tool_format: str = "hermes"  # how tool calls appear in reply text (chat.toolcalls)
    batch_size: int = 1  # how many (prompt, sample) groups the runner hands over at once
    name_hints: list[str] = []  # where else the model's family name may be read (model metadata)

    @abstractmethod
    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]: ...

    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[Score]:
        """Exact log-probabilities (capabilities.reading == exact)."""
        raise NotImplementedError(f"{self.spec} cannot score continuations exactly")

    def read_greedy(self, chats: Sequence[Chat], continuations: Sequence[str], opening: str) -> list[Score]:
        """Log-probabilities read along a greedy answer (capabilities.reading == greedy)."""
        raise NotImplementedError(f"{self.spec} gives no token logprobs")

    def count_tokens(self, chat: Chat) -> int | None:
        """Tokens of the rendered chat, where the backend can tell (local models); else None."""
        return None

    def identity(self) -> dict:
        """What must not change between runs written to one directory."""
        return {"model_id": self.model_id}

    def close(self) -> None:
        pass


class BackendLike(Protocol):
    """What a run uses of a backend: a Backend, or a stand-in for one (a backend lent to one
    run of a sweep, or a Ray worker's model described on the driver)."""

    spec: str
    model_id: str
    capabilities: Capabilities
    tool_format: str
    batch_size: int
    name_hints: list[str]

    def generate(self, requests: Sequence[GenerationRequest]) -> list[Generation]: ...
    def score(self, chats: Sequence[Chat], continuations: Sequence[str]) -> list[Score]: ...
    def read_greedy(self, chats: Sequence[Chat], continuations: Sequence[str], opening: str) -> list[Score]: ...
    def count_tokens(self, chat: Chat) -> int | None: ...
    def identity(self) -> dict: ...
    def close(self) -> None: ...


@dataclass
class Prepared:
    """A request rendered and tokenised by a local backend."""

    index: int  # position in the caller's list
    rendered: str
    tokens: list[int]


@dataclass
class PreparedRequest(Prepared):
    """A generation request, ready to run."""

    request: GenerationRequest


@dataclass
class PreparedScore(Prepared):
    """A chat to score: `tokens` is its prefix, `continuations` each continuation's tokens."""

    continuations: list[list[int]]


class LocalBackend(Backend):
    """A model whose prompt we render ourselves with its chat template (llama.cpp,
    transformers, vLLM): rendering, tokenising and the context-window check are shared."""

    template: ChatTemplate
    n_ctx: int
    capabilities = Capabilities(reading=EXACT)

    @abstractmethod
    def tokens(self, text: str) -> list[int]: ...

    def render(self, chat: Chat) -> str:
        try:
            return self.template.render(chat)
        except TemplateError as exc:
            raise UserError(f"the chat template of {self.spec} cannot render a conversation ({exc}); "
                            "check that its messages alternate user/assistant") from None

    def count_tokens(self, chat: Chat) -> int | None:
        return len(self.tokens(self.render(chat)))

    def prepare_generation(self, requests: Sequence[GenerationRequest]
                           ) -> tuple[list[Generation | None], list[PreparedRequest]]:
        """(results with too-long contexts filled in as skipped, the requests left to run)."""
        out: list[Generation | None] = [None] * len(requests)
        work: list[PreparedRequest] = []
        for i, req in enumerate(requests):
            rendered = self.render(req.chat)
            toks = self.tokens(rendered)
            if len(toks) >= self.n_ctx:
                out[i] = Generation(rendered, prompt_tokens=len(toks), skipped=CONTEXT_TOO_LONG)
            else:
                work.append(PreparedRequest(i, rendered, toks, request=req))
        return out, work

    def prepare_scoring(self, chats: Sequence[Chat], continuations: Sequence[str], alone=None
                        ) -> tuple[list[Score | None], list[PreparedScore]]:
        out: list[Score | None] = [None] * len(chats)
        work: list[PreparedScore] = []
        for i, chat in enumerate(chats):
            rendered = self.render(chat)
            prefix = self.tokens(rendered)
            conts = [continuation_tokens(self.tokens, rendered, prefix, c, alone) for c in continuations]
            if len(prefix) + max(len(c) for c in conts) > self.n_ctx:
                out[i] = Score(rendered, [float("nan")] * len(conts), len(prefix), skipped=CONTEXT_TOO_LONG)
            else:
                work.append(PreparedScore(i, rendered, prefix, continuations=conts))
        return out, work
