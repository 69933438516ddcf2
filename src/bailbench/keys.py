"""Which sample a stored row is: one typed value used to write, read, resume and join.

Its text form is the store's primary key (unchanged since the first stores, so they
resume); nothing parses it back: the fields it is made of are columns of their own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .methods import ROLLOUT

OWN, DATASET = "", "dataset"  # whose reply the bail prompt follows: the model's own rollout, or the dataset's


@dataclass(frozen=True)
class SampleKey:
    prompt_id: str  # the context: a dataset prompt, or a conversation
    sample: int  # the sample index (prompts) or the index of the user turn answered (conversations)
    method: str
    ablation: str = ""
    mode: str = ""  # how a bail prompt is read: logprob | sample; empty for other methods
    source: str = OWN

    @property
    def text(self) -> str:
        base = f"{self.prompt_id}|{self.sample}|{self.method}|{self.ablation}|{self.mode}"
        return base + (f"|{self.source}" if self.source else "")

    @property
    def digest(self) -> str:
        """A hash stable across processes and machines (Python's own `hash` of a str is not)."""
        return hashlib.sha256(self.text.encode()).hexdigest()[:16]

    def rollout(self) -> SampleKey:
        """The plain reply of the same context and sample, which a bail prompt follows."""
        return SampleKey(self.prompt_id, self.sample, ROLLOUT)

    def seed(self, base: int) -> int:
        """The sample's own seed: the same for every mode and source, so the check and its
        rollout line up and reruns reproduce."""
        h = hashlib.sha256(f"{base}|{self.prompt_id}|{self.sample}|{self.method}|{self.ablation}".encode()).digest()
        return int.from_bytes(h[:4], "little") & 0x7FFFFFFF
