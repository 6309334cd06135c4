"""PineconeStore through the real pinecone SDK against the fake: batch shapes, namespace, metadata, errors."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from rag.errors import ConfigError, StoreError, StoreMismatchError
from rag.models import Chunk, Tier
from rag.settings import Settings
from rag.stores.pinecone import MAX_BATCH_VECTORS, PineconeStore, metadata
from tests.conftest import make_settings
from tests.fakes.pinecone import MAX_METADATA_BYTES, MAX_REQUEST_BYTES, FakePinecone, fake_pinecone


def pc_settings(fake: FakePinecone, tmp: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "pinecone_api_key": "pc-test",
        "pinecone_host": fake.url,
        "kb_timeout_s": 2.0,
        "kb_max_retries": 1,
    }
    values.update(overrides)
    return make_settings(tmp, **values)


def chunks(
    n: int, text: str = "Reset your password from the sign-in page.", dim: int = 1536
) -> tuple[list[Chunk], np.ndarray]:
    rng = np.random.default_rng(7)
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = [
        Chunk(
            id=f"a{i // 5}#{i % 5}",
            article_id=f"a{i // 5}",
            title=f"Article {i // 5}",
            url=f"https://help.example/a{i // 5}#s{i % 5}",
            heading_path="Steps",
            text=text,
            tier=Tier.CRITICAL if i % 2 else Tier.HIGH,
        )
        for i in range(n)
    ]
    return items, vectors


@pytest.fixture
async def store(fake_pinecone: FakePinecone, tmp_path: Path) -> AsyncIterator[PineconeStore]:
    s = PineconeStore(pc_settings(fake_pinecone, tmp_path))
    yield s
    await s.close()


async def test_upserts_in_batches_of_at_most_100_into_the_namespace(
    store: PineconeStore, fake_pinecone: FakePinecone
) -> None:
    items, vectors = chunks(250)
    await store.upsert([c.id for c in items], vectors, items)

    upserts = fake_pinecone.calls("/vectors/upsert")
    assert [len(r.body["vectors"]) for r in upserts] == [100, 100, 50]
    assert all(r.body["namespace"] == "kb" for r in upserts)
    assert all(r.raw_bytes < MAX_REQUEST_BYTES for r in upserts)
    assert all(r.headers["Api-Key"] == "pc-test" for r in fake_pinecone.requests)
    assert len(fake_pinecone.vectors["kb"]) == 250
    first = upserts[0].body["vectors"][0]
    assert first["metadata"] == {
        "article_id": "a0",
        "title": "Article 0",
        "url": "https://help.example/a0#s0",
        "tier": "HIGH",
        "heading_path": "Steps",
        "kind": "text",
        "text": "Reset your password from the sign-in page.",
    }
    # Values go out rounded to 7 decimals (half the JSON) and still score like the float32 originals.
    assert np.allclose(first["values"], vectors[0], atol=1e-7)


async def test_big_chunks_are_split_by_request_size_and_metadata_is_cut_to_40kb(
    store: PineconeStore, fake_pinecone: FakePinecone
) -> None:
    items, vectors = chunks(60, text="Ünïcödé text of a long section. " * 2000)  # ~70 KB each
    await store.upsert([c.id for c in items], vectors, items)

    upserts = fake_pinecone.calls("/vectors/upsert")
    assert len(upserts) > 1 and all(r.raw_bytes < MAX_REQUEST_BYTES for r in upserts)
    assert sum(len(r.body["vectors"]) for r in upserts) == 60
    meta = upserts[0].body["vectors"][0]["metadata"]
    assert meta["text_truncated"] is True and meta["text"].startswith("Ünïcödé text")
    assert len(json.dumps(meta, ensure_ascii=False).encode()) <= MAX_METADATA_BYTES


def test_metadata_under_the_limit_is_kept_whole() -> None:
    (chunk,), _ = chunks(1, text="x" * 30_000)
    assert metadata(chunk)["text"] == "x" * 30_000 and "text_truncated" not in metadata(chunk)


async def test_query_returns_ids_and_cosines_best_first_with_an_optional_filter(
    store: PineconeStore, fake_pinecone: FakePinecone
) -> None:
    items, vectors = chunks(20)
    await store.upsert([c.id for c in items], vectors, items)

    hits = await store.query(vectors[3], 5)
    assert hits[0][0] == items[3].id and hits[0][1] == pytest.approx(1.0, abs=1e-5)
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True) and len(hits) == 5
    critical = await store.query(vectors[4], 5, filter={"tier": {"$eq": "CRITICAL"}})
    assert items[4].id not in {i for i, _ in critical}  # item 4 is HIGH
    queries = fake_pinecone.calls("/query")
    assert queries[0].body == {
        "topK": 5,
        "includeValues": False,
        "includeMetadata": False,
        "namespace": "kb",
        "vector": queries[0].body["vector"],
    }
    assert queries[1].body["filter"] == {"tier": {"$eq": "CRITICAL"}}


async def test_deletes_by_id_in_batches_of_1000(store: PineconeStore, fake_pinecone: FakePinecone) -> None:
    items, vectors = chunks(10)
    await store.upsert([c.id for c in items], vectors, items)
    await store.delete([items[0].id, items[1].id] + [f"gone#{i}" for i in range(1200)])

    deletes = fake_pinecone.calls("/vectors/delete")
    assert [len(r.body["ids"]) for r in deletes] == [1000, 202]
    assert all(r.body["namespace"] == "kb" for r in deletes)
    assert len(fake_pinecone.vectors["kb"]) == 8


async def test_namespace_comes_from_settings(fake_pinecone: FakePinecone, tmp_path: Path) -> None:
    s = PineconeStore(pc_settings(fake_pinecone, tmp_path, pinecone_namespace="kb-staging"))
    try:
        items, vectors = chunks(3)
        await s.upsert([c.id for c in items], vectors, items)
        assert await s.query(vectors[0], 3)
    finally:
        await s.close()
    assert set(fake_pinecone.vectors) == {"kb-staging"}
    assert fake_pinecone.calls("/query")[0].body["namespace"] == "kb-staging"


async def test_opens_the_index_by_name_through_describe(fake_pinecone: FakePinecone, tmp_path: Path) -> None:
    settings = pc_settings(fake_pinecone, tmp_path, pinecone_host=None, pinecone_index="kb")
    s = PineconeStore(settings, control_host=fake_pinecone.url)
    try:
        items, vectors = chunks(2)
        await s.upsert([c.id for c in items], vectors, items)
    finally:
        await s.close()
    paths = [(r.method, r.path) for r in fake_pinecone.requests]
    assert paths == [("GET", "/indexes/kb"), ("POST", "/describe_index_stats"), ("POST", "/vectors/upsert")]


async def test_an_index_of_another_dimension_is_refused(store: PineconeStore) -> None:
    items, vectors = chunks(2, dim=384)
    with pytest.raises(StoreMismatchError, match="dimension 1536.*384-dimensional"):
        await store.upsert([c.id for c in items], vectors, items)


async def test_the_sdk_does_not_retry_behind_our_back(fake_pinecone: FakePinecone, tmp_path: Path) -> None:
    # pinecone 10.2 retries data-plane 5xx 3 times on its own; with KB_MAX_RETRIES=0 exactly one request goes out.
    s = PineconeStore(pc_settings(fake_pinecone, tmp_path, kb_max_retries=0))
    try:
        await s.query(np.ones(1536, dtype=np.float32) / np.sqrt(1536), 3)  # opens the index
        fake_pinecone.fail("500")
        started = time.monotonic()
        with pytest.raises(StoreError, match="pinecone: pinecone query failed after 1 attempt"):
            await s.query(np.ones(1536, dtype=np.float32) / np.sqrt(1536), 3)
        assert time.monotonic() - started < 0.5
    finally:
        await s.close()
    assert [r.fault for r in fake_pinecone.calls("/query")] == [None, "500"]


async def test_a_client_error_is_not_retried(store: PineconeStore, fake_pinecone: FakePinecone) -> None:
    await store.query(np.ones(1536, dtype=np.float32), 1)
    store.dimension = None  # skip our own check to see the server's 400
    with pytest.raises(StoreError, match="query rejected: \\[400"):
        await store.query(np.ones(8, dtype=np.float32), 1)
    assert len(fake_pinecone.calls("/query")) == 2


def test_settings_must_name_an_index(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="PINECONE_HOST or PINECONE_INDEX"):
        PineconeStore(make_settings(tmp_path, pinecone_api_key="pc-test"))
    with pytest.raises(ConfigError, match="PINECONE_API_KEY"):
        PineconeStore(make_settings(tmp_path, kb_store="pinecone", pinecone_host="http://127.0.0.1:9"))
