"""The indexed knowledge base: catalog, embedder and vector store behind one object.

    kb = build_kb(Settings())                           # rag.factory picks embedder and store
    await kb.write_article(row, chunks, vectors)        # vector store first, then the catalog
    await kb.remove_source("/abs/path/of/a/folder")     # every article of one ingested root
    retrieval = await kb.search("charged twice", top_articles=5)
    await kb.close()

`kb ingest`, `kb eval` and `kb bench` work on a `KnowledgeBase` alone; the `Engine` adds
confidence, required data and a drafter on top of one. The catalog (rows, BM25, calibration) is
always the local SQLite file, whatever the vector store.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.catalog import ArticleRow, Catalog
from rag.intents import EscalationIntents
from rag.models import Chunk
from rag.protocols import Embedder, Vectors, VectorStore
from rag.retrieve import Mode, Retrieval, Retriever
from rag.token_match import TokenMatcher


class KnowledgeBase:
    def __init__(
        self,
        catalog: Catalog,
        embedder: Embedder,
        store: VectorStore,
        *,
        mode: Mode = "hybrid",
        intents: EscalationIntents | None = None,
        matcher: TokenMatcher | None = None,
    ) -> None:
        self.catalog = catalog
        self.embedder = embedder
        self.store = store
        self.matcher = matcher  # token states at ingest and the token-match signal (packaged model only)
        self.retriever = Retriever(embedder, store, catalog, mode=mode, intents=intents, matcher=matcher)

    @property
    def mode(self) -> Mode:
        return self.retriever.mode

    def with_mode(self, mode: Mode) -> KnowledgeBase:
        """The same catalog, embedder and store searched another way (close only the original)."""
        return KnowledgeBase(
            self.catalog, self.embedder, self.store, mode=mode, intents=self.retriever.intents, matcher=self.matcher
        )

    async def write_article(self, row: ArticleRow, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Replace one article's chunks everywhere.

        Vector store first: if a remote store (Pinecone) fails, the catalog still has the old
        content hash, so the next ingest sees the article as changed and sends it again."""
        if chunks:
            await self.store.upsert([c.id for c in chunks], vectors, chunks)
        dropped = self.catalog.replace_article(row, chunks, vectors)
        if dropped:
            await self.store.delete(dropped)

    async def delete_article(self, article_id: str) -> list[str]:
        """Delete one article everywhere; returns the ids of the chunks it had."""
        dropped = self.catalog.delete_article(article_id)
        if dropped:
            await self.store.delete(dropped)
        return dropped

    async def remove_source(self, source: str) -> tuple[int, int]:
        """Delete every article ingested from `source` (vector store too); (articles, chunks) removed."""
        chunks = 0
        article_ids = sorted(self.catalog.articles_by_source(source))
        for article_id in article_ids:
            chunks += len(await self.delete_article(article_id))
        self.catalog.forget_source(source)
        return len(article_ids), chunks

    async def search(self, query: str, *, top_articles: int = 5) -> Retrieval:
        self.catalog.adopt_snapshot()  # a replica picks up a published KB without a restart (a stat a second)
        return await self.retriever.retrieve(query, top_articles=top_articles)

    def counts(self) -> tuple[int, int]:
        """(articles, chunks)."""
        return self.catalog.counts()

    async def close(self, *, embedder: bool = True) -> None:
        """Close store and catalog, and the embedder unless the caller shares it with other KBs."""
        await self.store.close()
        if embedder:
            await self.embedder.close()
        self.catalog.close()
