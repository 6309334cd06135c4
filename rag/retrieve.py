"""Hybrid retrieval: dense (embedder + vector store) and BM25 (catalog FTS5), fused by rank.

    retriever = Retriever(embedder, store, catalog)
    result = await retriever.retrieve("I was charged twice", top_articles=5)
    result.articles[0].article_id, result.evidence[0].chunk.tier

Chunks are fused with reciprocal-rank fusion, then grouped by article, so one long article with
many matching chunks does not crowd the others out; within an article, evidence is ordered by
score with a nudge for higher tiers. If the embedder fails, retrieval goes on lexical-only and
says so (`degraded_reasons`).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

from rag.catalog import Catalog
from rag.errors import EmbedderError, StoreError
from rag.models import Hit, Tier
from rag.protocols import Embedder, VectorStore

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "lexical"]
RRF_K = 60  # the usual constant: damps the head so ranks 1 and 2 are not worlds apart
CANDIDATES = 50
CHUNKS_PER_ARTICLE = 3
# Extra score for the tier of a chunk when ordering evidence inside an article.
TIER_NUDGE = {Tier.CRITICAL: 0.08, Tier.HIGH: 0.04, Tier.MEDIUM: 0.0, Tier.LOW: -0.04}


@dataclass
class ArticleHit:
    article_id: str
    score: float
    hits: list[Hit]  # this article's chunks, evidence order

    @property
    def best(self) -> Hit:
        return max(self.hits, key=lambda h: h.score)


@dataclass
class Retrieval:
    articles: list[ArticleHit]
    mode: Mode
    degraded_reasons: list[str] = field(default_factory=list)
    top_dense: float = 0.0  # best cosine among candidates (0 when dense search did not run)
    top_lexical: float = 0.0  # best BM25 among candidates
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def evidence(self) -> list[Hit]:
        """Chunks of the ranked articles, best article first."""
        return [hit for article in self.articles for hit in article.hits]


class Retriever:
    def __init__(self, embedder: Embedder, store: VectorStore, catalog: Catalog, mode: Mode = "hybrid") -> None:
        self.embedder = embedder
        self.store = store
        self.catalog = catalog
        self.mode = mode

    async def retrieve(self, query: str, top_articles: int = 5) -> Retrieval:
        mode: Mode = self.mode
        reasons: list[str] = []
        started = time.perf_counter()
        timings: dict[str, float] = {}
        dense: list[tuple[str, float]] = []
        lexical: list[tuple[str, float]] = []
        if mode != "lexical":
            try:
                vector = await self.embedder.embed([query])
                timings["embed"] = _ms(started)
                dense = await self.store.query(vector[0], CANDIDATES)
            except (EmbedderError, StoreError) as exc:
                # The catalog is local, so keyword search still answers when the dense side is down.
                if mode == "dense":
                    raise
                log.warning("dense search failed, answering from lexical search only: %s", exc)
                what = "embeddings" if isinstance(exc, EmbedderError) else "vector store"
                reasons.append(f"{what} unavailable ({exc.backend}): keyword search only")
                mode = "lexical"
        if mode != "dense":
            lexical = self.catalog.lexical_search(query, CANDIDATES)
        result = self._fuse(dense, lexical, mode, top_articles, reasons)
        timings["retrieve"] = _ms(started)
        result.timings_ms = timings
        return result

    def _fuse(
        self,
        dense: list[tuple[str, float]],
        lexical: list[tuple[str, float]],
        mode: Mode,
        top_articles: int,
        reasons: list[str],
    ) -> Retrieval:
        chunks = self.catalog.get_chunks(list({cid for cid, _ in dense + lexical}))
        fused: dict[str, float] = defaultdict(float)
        hit_fields: dict[str, dict[str, float | int]] = defaultdict(dict)
        lists = [("dense", dense)] if mode != "lexical" else []
        lists += [("lexical", lexical)] if mode != "dense" else []
        for name, ranked in lists:
            rank = 0
            for cid, score in ranked:
                if cid not in chunks:  # a vector whose chunk row is gone (ingest in progress)
                    continue
                rank += 1
                fused[cid] += 1.0 / (RRF_K + rank)
                hit_fields[cid][name] = score
                hit_fields[cid][f"{name}_rank"] = rank
        best_possible = len(lists) / (RRF_K + 1)
        by_article: dict[str, list[Hit]] = defaultdict(list)
        for cid, value in fused.items():
            f = hit_fields[cid]
            hit = Hit(
                chunk=chunks[cid],
                score=round(value / best_possible, 4),
                dense=f.get("dense"),
                lexical=f.get("lexical"),
                dense_rank=_int(f.get("dense_rank")),
                lexical_rank=_int(f.get("lexical_rank")),
            )
            by_article[hit.chunk.article_id].append(hit)
        ranked_articles = sorted(
            (self._article(aid, hits) for aid, hits in by_article.items()), key=lambda a: -a.score
        )
        return Retrieval(
            articles=ranked_articles[:top_articles],
            mode=mode,
            degraded_reasons=reasons,
            top_dense=max((s for _, s in dense), default=0.0),
            top_lexical=max((s for _, s in lexical), default=0.0),
        )

    @staticmethod
    def _article(article_id: str, hits: list[Hit]) -> ArticleHit:
        hits.sort(key=lambda h: -h.score)
        # The best chunk decides; a second good chunk adds a little (agreement inside the article).
        score = hits[0].score + (0.25 * hits[1].score if len(hits) > 1 else 0.0)
        evidence = sorted(hits[:CHUNKS_PER_ARTICLE], key=lambda h: -(h.score + TIER_NUDGE[h.chunk.tier]))
        return ArticleHit(article_id=article_id, score=round(score, 4), hits=evidence)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


def _int(value: float | int | None) -> int | None:
    return None if value is None else int(value)
