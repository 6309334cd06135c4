"""The packaged MiniLM: offline, normalised, batch-invariant, and concurrent calls coalesced."""

from __future__ import annotations

import asyncio

import numpy as np

from rag.embedders.local import PACKAGED_MODEL_ID, LocalEmbedder


async def test_vectors_are_normalised_and_mean_what_they_say(embedder: LocalEmbedder) -> None:
    assert embedder.model_id == PACKAGED_MODEL_ID and embedder.dimension == 384
    v = await embedder.embed(
        [
            "How do I reset my password?",
            "I forgot my password and can't log in",
            "What is your refund policy for annual plans?",
        ]
    )
    assert v.shape == (3, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert float(v[0] @ v[1]) > 0.6 > float(v[0] @ v[2])


async def test_a_text_embeds_the_same_alone_and_in_a_padded_batch(embedder: LocalEmbedder) -> None:
    short = "refund"
    long = "A much longer support ticket about invoices, VAT numbers and receipts " * 8
    alone = await embedder.embed([short, "x"])
    batch = await embedder.embed([long, short, "another ticket about exports"])
    assert float(alone[0] @ batch[1]) > 0.9999


async def test_concurrent_single_queries_are_answered_each_with_its_own_vector(embedder: LocalEmbedder) -> None:
    texts = [f"ticket number {i} about {topic}" for i, topic in enumerate(["billing", "login", "export"] * 10)]
    together = await asyncio.gather(*(embedder.embed([t]) for t in texts))
    expected = embedder.encode_sorted(texts)
    for got, want in zip(together, expected, strict=True):
        assert float(got[0] @ want) > 0.9999


async def test_empty_input(embedder: LocalEmbedder) -> None:
    assert (await embedder.embed([])).shape == (0, 384)
