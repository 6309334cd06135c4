"""Incremental ingest on the real model and a real SQLite file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ingest.pipeline import ingest
from rag.embedders.local import LocalEmbedder
from rag.engine import Engine
from rag.factory import build_engine
from tests.conftest import SAMPLE_KB, make_settings


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    target = tmp_path / "kb"
    shutil.copytree(SAMPLE_KB, target)
    return target


@pytest.fixture
async def fresh_engine(tmp_path: Path, embedder: LocalEmbedder):
    engine = build_engine(make_settings(tmp_path / "data"), embedder=embedder)
    yield engine
    await engine.close()


async def _adopt(engine: Engine, kb_copy: Path) -> None:
    """Take the copied KB over from the session's ingest: every vector is reused, none embedded."""
    summary = await ingest(engine.kb, [kb_copy])
    assert summary.articles_changed == 20 and summary.chunks_embedded == 0


async def _article_chunks(engine: Engine, article_id: str) -> list[str]:
    return engine.kb.catalog.chunk_ids(article_id)


async def test_first_ingest_then_nothing_changed(fresh_engine: Engine, kb_copy: Path) -> None:
    progress: list[tuple[int, int]] = []
    first = await ingest(fresh_engine.kb, [kb_copy], progress=lambda done, total: progress.append((done, total)))
    assert first.errors == [] and first.articles == 20 and first.articles_changed == 20
    assert first.chunks_added == first.chunks_embedded > 50
    assert progress[-1] == (first.chunks_embedded, first.chunks_embedded)
    again = await ingest(fresh_engine.kb, [kb_copy])
    assert (again.articles_changed, again.chunks_embedded, again.chunks_added) == (0, 0, 0)
    assert again.chunks_unchanged == first.chunks_added
    assert "0 changed" in again.line()


async def test_changing_one_article_re_embeds_only_its_changed_chunks(engine: Engine, kb_copy: Path) -> None:
    await _adopt(engine, kb_copy)
    before = engine.kb.catalog.chunk_hashes("reset-your-password")
    path = kb_copy / "reset-your-password.md"
    path.write_text(path.read_text() + "\n## Still stuck?\n\nWrite to support with the time you tried.\n")
    summary = await ingest(engine.kb, [kb_copy])
    assert summary.articles_changed == 1
    assert summary.chunks_embedded == 1  # the new section; the old sections keep their vectors
    after = engine.kb.catalog.chunk_hashes("reset-your-password")
    assert len(after) == len(before) + 1
    assert set(before.values()) <= set(after.values())
    hits = engine.kb.catalog.lexical_search("still stuck tried", 3)
    assert hits[0][0].startswith("reset-your-password#")


async def test_deleting_an_article_removes_its_chunks_everywhere(engine: Engine, kb_copy: Path) -> None:
    await _adopt(engine, kb_copy)
    assert await _article_chunks(engine, "jira-integration")
    (kb_copy / "jira-integration.md").unlink()
    summary = await ingest(engine.kb, [kb_copy])
    assert summary.articles_deleted == 1 and summary.chunks_deleted > 0
    assert await _article_chunks(engine, "jira-integration") == []
    found = await engine.search("connect Jira issues to time entries", top_k=5)
    assert "jira-integration" not in {s.article_id for s in found}


async def test_dry_run_reports_and_changes_nothing(fresh_engine: Engine, kb_copy: Path) -> None:
    summary = await ingest(fresh_engine.kb, [kb_copy], dry_run=True)
    assert summary.dry_run and summary.articles_changed == 20 and summary.chunks_embedded > 0
    assert "would change" in summary.line()
    assert fresh_engine.kb.catalog.counts() == (0, 0)


async def test_a_broken_file_is_reported_and_its_old_article_is_kept(engine: Engine, kb_copy: Path) -> None:
    await _adopt(engine, kb_copy)
    (kb_copy / "error-codes.md").write_bytes(b"---\ntitle: [unclosed\n---\nbody")
    summary = await ingest(engine.kb, [kb_copy])
    assert [Path(e.source).name for e in summary.errors] == ["error-codes.md"]
    assert summary.articles == 19 and summary.articles_deleted == 0
    assert summary.warnings and "failed to load" in summary.warnings[0]
    assert await _article_chunks(engine, "error-codes")  # nothing lost
