"""The packaged MiniLM: offline, normalised, batch-invariant, and concurrent calls coalesced."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import numpy as np
import pytest

from rag.embedders.local import MAX_BATCH, MAX_TOKENS, PACKAGED_MODEL_ID, TOKEN_BUDGET, LocalEmbedder, plan_runs
from rag.errors import EmbedderError


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


def test_runs_group_texts_of_about_the_same_length_within_the_limits() -> None:
    lengths = [5] * 40 + [200] * 9 + [30, 31, 29]
    runs = plan_runs(lengths)
    assert sorted(i for run in runs for i in run) == list(range(len(lengths)))
    for run in runs:
        width = max(lengths[i] for i in run)
        assert len(run) <= MAX_BATCH and (len(run) == 1 or len(run) * width <= TOKEN_BUDGET)
        assert not ({lengths[i] for i in run} >= {5, 200})  # a short text is never padded to a long one
    assert plan_runs([]) == [] and plan_runs([7]) == [[0]]
    assert plan_runs([MAX_TOKENS + 5]) == [[0]]  # longer than any budget: alone


async def test_concurrent_queries_share_model_runs_and_a_repeated_query_is_cached(embedder: LocalEmbedder) -> None:
    texts = [f"my invoice number {i} shows the wrong VAT rate" for i in range(24)]
    before = replace(embedder.stats)
    vectors = await asyncio.gather(*(embedder.embed([t]) for t in texts))
    runs = embedder.stats.runs - before.runs
    assert embedder.stats.rows - before.rows == len(texts) and runs < len(texts)

    again = await embedder.embed([texts[3]])
    assert embedder.stats.cache_hits == before.cache_hits + 1 and embedder.stats.runs - before.runs == runs
    assert np.array_equal(again, vectors[3])
    again[0, 0] = 42.0  # the caller's copy: the cache keeps its own
    assert np.array_equal(await embedder.embed([texts[3]]), vectors[3])


async def test_a_failed_model_run_fails_every_caller_in_it_and_the_next_calls_work(
    embedder: LocalEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    class BrokenSession:  # onnxruntime's InferenceSession, failing as it does when memory runs out
        def run(self, outputs: object, feeds: object) -> None:
            raise RuntimeError("ONNX runtime error: out of memory")

    monkeypatch.setattr(embedder, "_session", BrokenSession())
    results = await asyncio.gather(
        *(embedder.embed([f"never embedded before {i}"]) for i in range(5)),
        embedder.embed(["two texts", "at once"]),
        return_exceptions=True,
    )
    assert all(isinstance(r, EmbedderError) and "out of memory" in str(r) for r in results)
    monkeypatch.undo()
    assert (await embedder.embed(["never embedded before 0"])).shape == (1, 384)
