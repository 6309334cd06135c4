"""The three seams to the outside world; `rag.factory` picks one implementation of each.

embedder = LocalEmbedder()                   # or OpenAIEmbedder(settings)
vectors = await embedder.embed(["reset my password"])   # (1, dim) float32, L2-normalised
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from rag.models import Chunk, Draft, Hit, RequiredItem, Ticket

Vectors = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    name: str  # goes into Answer.backends ("local-minilm", "openai")
    model_id: str  # recorded by the store; a different model is refused
    dimension: int

    async def embed(self, texts: Sequence[str]) -> Vectors:
        """Rows are L2-normalised; raises EmbedderError."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class VectorStore(Protocol):
    """Dense vectors by chunk id. Chunk rows and BM25 live in the local catalog (rag.catalog)."""

    name: str  # "sqlite" | "pinecone"

    async def upsert(self, ids: Sequence[str], vectors: Vectors, chunks: Sequence[Chunk]) -> None: ...

    async def delete(self, ids: Sequence[str]) -> None: ...

    async def query(self, vector: Vectors, top_k: int) -> list[tuple[str, float]]:
        """(chunk_id, cosine) best first; raises StoreError."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class Drafter(Protocol):
    name: str  # "extractive" | "openai"

    async def draft(
        self,
        ticket: Ticket,
        evidence: Sequence[Hit],
        required: Sequence[RequiredItem],
        escalate: bool,
    ) -> Draft:
        """A reply grounded in `evidence` only; raises DrafterError."""
        ...

    async def close(self) -> None: ...
