"""OpenAIEmbedder through the real openai SDK against the fake: shapes, batching, redaction, model checks."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from rag.catalog import Catalog
from rag.embedders.local import PACKAGED_MODEL_ID
from rag.embedders.openai import MAX_INPUTS, OpenAIEmbedder, batches, fit_input
from rag.errors import ConfigError, EmbedderError, StoreMismatchError
from rag.factory import build_engine
from tests.conftest import make_settings
from tests.fakes.openai import FakeOpenAI, fake_openai


def openai_settings(fake: FakeOpenAI, data_dir: Path, **overrides: object):  # type: ignore[no-untyped-def]
    return make_settings(data_dir, openai_api_key="sk-test", openai_base_url=fake.base_url, **overrides)


@pytest.fixture
async def openai_embedder(fake_openai: FakeOpenAI, tmp_path: Path) -> AsyncIterator[OpenAIEmbedder]:
    emb = OpenAIEmbedder(openai_settings(fake_openai, tmp_path))
    yield emb
    await emb.close()


async def test_embeds_through_the_sdk(openai_embedder: OpenAIEmbedder, fake_openai: FakeOpenAI) -> None:
    vectors = await openai_embedder.embed(["reset my password", "I forgot my password", "refund for a double charge"])

    assert vectors.shape == (3, 1536) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) > float(vectors[0] @ vectors[2])  # shared words are closer
    (request,) = fake_openai.calls("/v1/embeddings")
    assert request.headers["Authorization"] == "Bearer sk-test"
    assert request.body["model"] == "text-embedding-3-small"
    assert request.body["input"] == ["reset my password", "I forgot my password", "refund for a double charge"]
    assert request.body["encoding_format"] == "base64" and "dimensions" not in request.body
    assert openai_embedder.model_id == "openai:text-embedding-3-small" and openai_embedder.dimension == 1536


async def test_pii_is_redacted_before_it_leaves(openai_embedder: OpenAIEmbedder, fake_openai: FakeOpenAI) -> None:
    await openai_embedder.embed(["write to ana.lopez@example.com or call +44 20 7946 0958, card 4111 1111 1111 1111"])

    sent = json.dumps(fake_openai.embedding_requests)
    assert "[EMAIL_1]" in sent and "[PHONE_1]" in sent and "[CARD_1]" in sent
    for secret in ("ana.lopez@example.com", "7946 0958", "4111 1111"):
        assert secret not in sent


async def test_redaction_can_be_turned_off(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    emb = OpenAIEmbedder(openai_settings(fake_openai, tmp_path, kb_redact_pii=False))
    try:
        await emb.embed(["write to ana.lopez@example.com"])
    finally:
        await emb.close()
    assert fake_openai.embedding_requests[0]["input"] == ["write to ana.lopez@example.com"]


async def test_more_inputs_than_one_request_takes_are_split(
    openai_embedder: OpenAIEmbedder, fake_openai: FakeOpenAI
) -> None:
    texts = [f"ticket number {i}" for i in range(MAX_INPUTS + 5)]
    vectors = await openai_embedder.embed(texts)

    sizes = [len(body["input"]) for body in fake_openai.embedding_requests]
    assert sizes == [MAX_INPUTS, 5]
    again = await openai_embedder.embed([texts[-1]])  # rows come back in input order across batches
    assert np.allclose(vectors[-1], again[0])


def test_batches_respect_count_and_size_limits() -> None:
    texts = ["a" * 400, "b" * 400, "c" * 400, "d", "e"]
    assert batches(texts, max_inputs=2, max_bytes=10_000) == [[0, 1], [2, 3], [4]]
    assert batches(texts, max_inputs=100, max_bytes=900) == [[0, 1], [2, 3, 4]]
    assert batches(["x" * 5000], max_inputs=10, max_bytes=100) == [[0]]  # one oversized input still goes


def test_inputs_are_never_empty_nor_too_long() -> None:
    assert fit_input("") == " " and fit_input("  \n") == " "
    long = "é" * 20_000  # 40,000 bytes
    assert len(fit_input(long).encode()) <= 16_000


async def test_shortened_dimensions_are_requested_and_recorded(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    emb = OpenAIEmbedder(openai_settings(fake_openai, tmp_path, kb_openai_embedding_dimensions=256))
    try:
        vectors = await emb.embed(["hello"])
    finally:
        await emb.close()
    assert vectors.shape == (1, 256)
    assert fake_openai.embedding_requests[0]["dimensions"] == 256
    assert emb.model_id == "openai:text-embedding-3-small@256"


def test_an_unknown_model_needs_its_dimension(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, openai_api_key="sk-test", kb_openai_embedding_model="nomic-embed-text")
    with pytest.raises(ConfigError, match="KB_OPENAI_EMBEDDING_DIMENSIONS"):
        OpenAIEmbedder(settings)


async def test_vectors_of_the_wrong_size_are_an_embedder_error(fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    # ada-002 cannot be shortened, so no `dimensions` is sent and the server answers 1536 floats.
    settings = openai_settings(
        fake_openai, tmp_path, kb_openai_embedding_model="text-embedding-ada-002", kb_openai_embedding_dimensions=256
    )
    emb = OpenAIEmbedder(settings)
    try:
        with pytest.raises(EmbedderError, match="expected dimension 256"):
            await emb.embed(["hello"])
    finally:
        await emb.close()
    assert "dimensions" not in fake_openai.embedding_requests[0]


def test_a_store_built_by_minilm_refuses_openai_embeddings(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path, openai_api_key="sk-test", openai_base_url="http://127.0.0.1:9/v1", kb_drafter="extractive"
    )
    catalog = Catalog.open(settings.db_path)
    catalog.bind_model(PACKAGED_MODEL_ID, 384)
    catalog.close()
    with pytest.raises(StoreMismatchError, match="text-embedding-3-small"):
        build_engine(settings)


def test_missing_key_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        OpenAIEmbedder(make_settings(tmp_path, kb_embedder="openai"))
