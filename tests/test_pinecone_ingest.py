"""Incremental ingest into Pinecone: the remote index follows the catalog, also across failures."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.pipeline import ingest
from rag.errors import StoreError
from tests.conftest import SAMPLE_KB
from tests.fakes.production import Production, prod, production_kb


def pinecone_ids(prod: Production) -> set[str]:
    return set(prod.pinecone.vectors.get("kb", {}))


def catalog_ids(prod: Production, engine: object) -> set[str]:
    catalog = engine.kb.catalog  # type: ignore[attr-defined]
    return {cid for aid in catalog.article_sources() for cid in catalog.chunk_ids(aid)}


async def test_changed_and_removed_articles_reach_pinecone(prod: Production, tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    shutil.copytree(SAMPLE_KB, kb)
    engine = prod.engine()
    prod.pinecone.vectors.clear()
    first = await ingest(engine.kb, [kb])
    assert first.errors == [] and pinecone_ids(prod) == catalog_ids(prod, engine)

    (kb / "jira-integration.md").unlink()
    page = kb / "reset-your-password.md"
    page.write_text(page.read_text() + "\n## Still stuck?\n\nWrite to support with the time you tried.\n")
    second = await ingest(engine.kb, [kb])

    assert second.articles_deleted == 1 and second.articles_changed == 1
    assert pinecone_ids(prod) == catalog_ids(prod, engine)
    assert not any(i.startswith("jira-integration#") for i in pinecone_ids(prod))


async def test_a_failed_upsert_is_retried_by_the_next_ingest(prod: Production, tmp_path: Path) -> None:
    engine = prod.engine(kb_max_retries=0)
    prod.pinecone.vectors.clear()
    prod.pinecone.fail("500", path="/vectors/upsert", times=1)
    kb = tmp_path / "kb"
    shutil.copytree(SAMPLE_KB, kb)
    with pytest.raises(StoreError):
        await ingest(engine.kb, [kb])
    # Pinecone is back: the next run must not skip the articles whose vectors never arrived.
    await ingest(engine.kb, [kb])
    assert pinecone_ids(prod) == catalog_ids(prod, engine) and len(pinecone_ids(prod)) > 100
