"""Incremental ingest: load sources, chunk what changed, embed only new text, write, prune.

    summary = await ingest(kb, [Path("examples/kb")], progress=bar.update)   # kb = build_kb(settings)
    print(summary.line())

An article whose content hash is unchanged is skipped before chunking. Inside a changed article,
a chunk whose text hash is already in the catalog reuses its vector (no new embedding). Articles
that disappeared from a source are deleted, unless some files of that source failed to load:
then nothing of that source is deleted, because a broken file is not a removed article.
Each root given is one source (`articles.source`); a real run stamps its last ingest time
(`kb sources` lists them, `kb remove` deletes one).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ingest.chunking import chunk_article
from ingest.intake import store_intake
from ingest.loaders import load_sources
from rag.catalog import ArticleRow
from rag.errors import IngestError
from rag.knowledge import KnowledgeBase
from rag.models import Article, Chunk
from rag.token_match import TokenMatcher

log = logging.getLogger(__name__)

EMBED_BATCH = 256  # chunks per embedder call: big enough to batch well, small enough for progress
Progress = Callable[[int, int], None]  # (chunks embedded so far, chunks to embed)


@dataclass
class IngestSummary:
    files: int = 0
    articles: int = 0
    articles_changed: int = 0
    articles_deleted: int = 0
    chunks_added: int = 0
    chunks_updated: int = 0
    chunks_deleted: int = 0
    chunks_unchanged: int = 0
    chunks_embedded: int = 0
    seconds: float = 0.0
    dry_run: bool = False
    errors: list[IngestError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped: list[IngestError] = field(default_factory=list)  # documents in an unsupported format
    intake_topics: int = 0  # topics of the folders' intake files (intake.yml)

    @property
    def failed(self) -> bool:
        """Some files were not ingested (unreadable, or in a format kb-rag cannot read)."""
        return bool(self.errors or self.skipped)

    def line(self) -> str:
        verb = "would change" if self.dry_run else "ingested"
        return (
            f"{verb}: {self.articles} articles from {self.files} files "
            f"({self.articles_changed} changed, {self.articles_deleted} deleted); chunks: "
            f"{self.chunks_added} added, {self.chunks_updated} updated, {self.chunks_deleted} deleted, "
            f"{self.chunks_unchanged} unchanged, {self.chunks_embedded} embedded; "
            f"{len(self.errors)} errors; "
            + (f"{len(self.skipped)} unsupported files skipped; " if self.skipped else "")
            + (f"intake.yml: {self.intake_topics} topics; " if self.intake_topics else "")
            + f"{self.seconds:.2f} s"
        )


async def ingest(
    kb: KnowledgeBase, paths: Sequence[Path], *, dry_run: bool = False, progress: Progress | None = None
) -> IngestSummary:
    started = time.perf_counter()
    loaded = await asyncio.to_thread(load_sources, list(paths))
    summary = IngestSummary(
        files=loaded.files,
        articles=len(loaded.articles),
        dry_run=dry_run,
        errors=loaded.errors,
        warnings=list(loaded.warnings),
        skipped=loaded.skipped,
    )
    catalog = kb.catalog

    roots = [str(Path(p).resolve()) for p in paths]
    failed_roots = {_root_of(e.source, roots) for e in loaded.errors}
    by_source: dict[str, list[Article]] = {root: [] for root in roots}
    for article in loaded.articles:
        by_source.setdefault(article.source, []).append(article)

    changed: list[Article] = []
    doomed: list[str] = []
    for source, articles in by_source.items():
        known = catalog.articles_by_source(source)
        for article in articles:
            if known.get(article.id) != article.content_hash():
                changed.append(article)
            else:
                summary.chunks_unchanged += len(catalog.chunk_ids(article.id))
        gone = sorted(set(known) - {a.id for a in articles})
        if gone and source in failed_roots:
            summary.warnings.append(
                f"{source}: {len(gone)} article(s) kept although missing, because some files failed to load"
            )
        else:
            doomed += gone

    # After the failed roots are known: a broken intake file is an error, not a reason to keep articles.
    summary.intake_topics = store_intake(catalog, [Path(p) for p in paths], summary.errors, dry_run=dry_run)
    plans = [(a, _chunks(a, kb.embedder.model_id)) for a in changed]
    summary.articles_changed = len(changed)
    summary.articles_deleted = len(doomed)
    for article, chunks in plans:
        old = catalog.chunk_hashes(article.id)
        for chunk in chunks:
            if chunk.id not in old:
                summary.chunks_added += 1
            elif old[chunk.id] != chunk.content_hash:
                summary.chunks_updated += 1
            else:
                summary.chunks_unchanged += 1
        summary.chunks_deleted += len(set(old) - {c.id for c in chunks})
    for article_id in doomed:
        summary.chunks_deleted += len(catalog.chunk_ids(article_id))

    all_chunks = [c for _, chunks in plans for c in chunks]
    vectors = catalog.vectors_by_hash([c.content_hash for c in all_chunks])
    missing = list(dict.fromkeys(c.content_hash for c in all_chunks if c.content_hash not in vectors))
    texts = {c.content_hash: c.embedding_text() for c in all_chunks}
    summary.chunks_embedded = len(missing)
    if dry_run:
        summary.seconds = time.perf_counter() - started
        return summary

    states: dict[str, bytes] = {}
    for start in range(0, len(missing), EMBED_BATCH):
        batch = missing[start : start + EMBED_BATCH]
        if kb.matcher is not None:  # token states come from the same model run (rag/token_match.py)
            embedded, packed = await kb.matcher.chunk_states([texts[h] for h in batch])
            states.update(zip(batch, packed, strict=True))
        else:
            embedded = await kb.embedder.embed([texts[h] for h in batch])
        vectors.update(zip(batch, embedded, strict=True))
        if progress:
            progress(min(start + EMBED_BATCH, len(missing)), len(missing))

    for article, chunks in plans:
        matrix = np.stack([vectors[c.content_hash] for c in chunks]) if chunks else np.zeros((0, 0), np.float32)
        await kb.write_article(_row(article), chunks, matrix)
    for article_id in doomed:
        await kb.delete_article(article_id)
    if kb.matcher is not None:
        catalog.put_token_states(list(states.items()))
        await _backfill_token_states(kb, kb.matcher, progress)
    now = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    catalog.record_ingest([r for r in roots if Path(r).exists()], now)
    summary.seconds = time.perf_counter() - started
    log.info("ingest %s", summary.line())
    return summary


async def _backfill_token_states(kb: KnowledgeBase, matcher: TokenMatcher, progress: Progress | None) -> None:
    """Token states for chunks that were ingested before kb-rag kept them (once per KB)."""
    ids = kb.catalog.chunks_without_token_states()
    if not ids:
        return
    log.info("computing token states for %d chunks ingested before they were kept", len(ids))
    for start in range(0, len(ids), EMBED_BATCH):
        chunks = kb.catalog.get_chunks(ids[start : start + EMBED_BATCH])
        batch = list({c.content_hash: c.embedding_text() for c in chunks.values()}.items())
        _, packed = await matcher.chunk_states([text for _, text in batch])
        kb.catalog.put_token_states([(h, blob) for (h, _), blob in zip(batch, packed, strict=True)])
        if progress:
            progress(min(start + EMBED_BATCH, len(ids)), len(ids))


def _chunks(article: Article, model_id: str) -> list[Chunk]:
    return [c.model_copy(update={"embedding_model": model_id}) for c in chunk_article(article)]


def _row(article: Article) -> ArticleRow:
    return ArticleRow(
        id=article.id,
        title=article.title,
        url=article.url,
        source=article.source,
        content_hash=article.content_hash(),
        updated_at=article.updated_at,
        tags=tuple(article.tags),
    )


def _root_of(file: str, roots: list[str]) -> str:
    """The source root a failing file belongs to (the longest given path that contains it)."""
    path = str(Path(file).resolve())
    inside = [r for r in roots if path == r or path.startswith(r.rstrip("/") + "/")]
    return max(inside, key=len) if inside else path
