"""Which conversation a stored turn belongs to, its keys, and its seeds.

A conversation is one scenario's replicate; it runs once per arm (the bail tool live, the
bail string live, and the paired arm with no bail option). Every turn is a row of the run
store under a `SampleKey` whose context is the conversation in one arm and whose sample is
the turn. Seeds come from the conversation, the turn and the role, never the arm: the
arms of one conversation share their users' seeds (and the target's), so that they differ
only by the bail option.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..keys import SampleKey
from ..methods import ROLLOUT
from .scenario import Scenario

NONE = "none"  # the paired arm: no bail option, the plain reply
USER = "user"  # the method column of the user model's rows


@dataclass(frozen=True)
class Thread:
    """One conversation in one arm."""

    scenario: Scenario
    replicate: int
    arm: str

    @property
    def conversation(self) -> str:
        return f"{self.scenario.id}#{self.replicate}"

    @property
    def id(self) -> str:
        return f"{self.conversation}@{self.arm}"

    @property
    def method(self) -> str:
        return ROLLOUT if self.arm == NONE else self.arm  # an arm is the method it offers

    def user_key(self, turn: int, attempt: int) -> SampleKey:
        """A user message; its retries after a role break carry their attempt in the ablation column."""
        return SampleKey(self.id, turn, USER, f"retry-{attempt}" if attempt else "")

    def reply_key(self, turn: int, ablation: str) -> SampleKey:
        return SampleKey(self.id, turn, self.method, "" if self.arm == NONE else ablation)

    def check_key(self, turn: int, method: str, ablation: str, mode: str) -> SampleKey:
        return SampleKey(self.id, turn, method, ablation, mode)

    def seed(self, base: int, turn: int, role: str, attempt: int = 0) -> int:
        """The same in every arm: a hash of the run's seed, the conversation, the turn and the role."""
        text = f"{base}|{self.conversation}|{turn}|{role}|{attempt}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little") & 0x7FFFFFFF
