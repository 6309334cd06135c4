"""Escalation intents: how close a ticket is to requests support teams always route to people.

    intents = EscalationIntents.packaged()
    await intents.prepare(embedder)          # embeds the examples once per embedder
    similarity, category = intents.closest(ticket_vector)

The examples (rag/data/escalation_intents.txt) are KB-independent: legal and law-enforcement
requests, vulnerability reports, contract and partnership talks, press, disputed charges,
competitor comparisons, account reviews, product defects.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from importlib.resources import files

import numpy as np

from rag.protocols import Embedder, Vectors


@functools.cache
def _packaged() -> tuple[tuple[str, str], ...]:
    text = files("rag").joinpath("data/escalation_intents.txt").read_text(encoding="utf-8")
    rows = [line.split("|", 1) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return tuple((category.strip(), example.strip()) for category, example in rows)


class EscalationIntents:
    def __init__(self, examples: Sequence[tuple[str, str]]) -> None:
        self.categories = [c for c, _ in examples]
        self.examples = [e for _, e in examples]
        self._vectors: Vectors | None = None
        self._lock = asyncio.Lock()

    @classmethod
    def packaged(cls) -> EscalationIntents:
        return cls(_packaged())

    async def prepare(self, embedder: Embedder) -> None:
        if self._vectors is not None:
            return
        async with self._lock:
            if self._vectors is None:
                self._vectors = await embedder.embed(self.examples)

    def closest(self, vector: Vectors) -> tuple[float, str]:
        """(cosine to the closest example, its category); (0, "") before `prepare`."""
        if self._vectors is None or not len(self.examples):
            return 0.0, ""
        scores = self._vectors @ np.asarray(vector, dtype=np.float32).reshape(-1)
        best = int(scores.argmax())
        return float(scores[best]), self.categories[best]
