"""Hybrid retrieval: dense (embedder + vector store) and BM25 (catalog FTS5), fused by rank.

    retriever = Retriever(embedder, store, catalog)
    result = await retriever.retrieve("I was charged twice", top_articles=5)
    result.articles[0].article_id, result.evidence[0].chunk.tier

Chunks are fused with reciprocal-rank fusion, then grouped by article, so one long article with
many matching chunks does not crowd the others out; within an article, evidence is ordered by
score with a nudge for higher tiers. If the embedder fails, retrieval goes on lexical-only and
says so (`degraded_reasons`). It also records what confidence reads besides the hits: the ticket's
words unknown to the KB and its closeness to the escalation intents (rag/intents.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

from rag.catalog import Catalog
from rag.cooccurrence import cooccurrence
from rag.errors import EmbedderError, StoreError
from rag.intents import EscalationIntents
from rag.models import Hit, Tier
from rag.protocols import Embedder, Vectors, VectorStore
from rag.token_match import TOKEN_EVIDENCE, TokenMatcher

log = logging.getLogger(__name__)

Mode = Literal["hybrid", "dense", "keyword"]
# Reciprocal-rank fusion with the usual k. BM25 votes at half weight because dense retrieval is
# the stronger ranker on paraphrased tickets (npm dev set: dense-only MRR 0.67, BM25-only 0.54).
# An article scores by its best chunk (max pooling): summing chunks favoured long articles.
RRF_K = 60
WEIGHTS = {"dense": 1.0, "lexical": 0.5}
CANDIDATES = 50
# Below this many chunks the word-based searches (~1 ms of CPU at 800 chunks) run on the event
# loop, while the model embeds the query: a thread hop and its GIL hand-offs cost about as much.
# Above it they go to a worker thread (SQLite releases the GIL): ~15 ms at 10k chunks would hold
# up every other request on the loop.
INLINE_KEYWORD_CHUNKS = 2_000
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
    query: str = ""
    intent: float = 0.0  # cosine to the closest escalation-intent example (rag.intents)
    intent_category: str = ""
    unknown_terms: list[str] = field(default_factory=list)  # ticket words the KB never uses
    unknown_share: float = 0.0  # their share of the ticket's words, weighted by rarity (IDF)
    cooccurrence: float = 1.0  # share of the ticket's rare-word pairs found in one chunk (rag.cooccurrence)
    token_match: float | None = None  # the ticket's words found in the top evidence (rag.token_match)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def evidence(self) -> list[Hit]:
        """Chunks of the ranked articles, best article first."""
        return [hit for article in self.articles for hit in article.hits]


class Retriever:
    def __init__(
        self,
        embedder: Embedder,
        store: VectorStore,
        catalog: Catalog,
        mode: Mode = "hybrid",
        intents: EscalationIntents | None = None,
        matcher: TokenMatcher | None = None,
    ) -> None:
        self.embedder = embedder
        self.store = store
        self.catalog = catalog
        self.mode = mode
        self.intents = intents or EscalationIntents.packaged()
        self.matcher = matcher

    async def retrieve(self, query: str, top_articles: int = 5) -> Retrieval:
        mode: Mode = self.mode
        reasons: list[str] = []
        started = time.perf_counter()
        timings: dict[str, float] = {}
        dense: list[tuple[str, float]] = []
        intent: tuple[float, str] = (0.0, "")
        states: Vectors | None = None
        # The query is handed to the embedder first; the word-based searches run while the model does.
        dense_task = asyncio.create_task(self._dense(query, started, timings)) if mode != "keyword" else None
        try:
            lexical, unknown, unknown_share, together = await self._keyword(query)
        finally:
            if dense_task is not None:
                try:
                    dense, intent, states = await dense_task
                except (EmbedderError, StoreError) as exc:
                    # The catalog is local, so keyword search still answers when the dense side is down.
                    if mode == "dense":
                        raise
                    log.warning("dense search failed, answering from lexical search only: %s", exc)
                    what = "embeddings" if isinstance(exc, EmbedderError) else "vector store"
                    reasons.append(f"{what} unavailable ({exc.backend}): keyword search only")
                    mode = "keyword"
        result = self._fuse(dense, lexical if mode != "dense" else [], mode, top_articles, reasons)
        result.unknown_terms, result.unknown_share = unknown, unknown_share
        result.cooccurrence = together
        result.query, (result.intent, result.intent_category) = query, intent
        if self.matcher is not None and states is not None and result.articles:
            hashes = [hit.chunk.content_hash for hit in result.evidence[:TOKEN_EVIDENCE]]
            blobs = self.catalog.token_states(hashes)
            if len(blobs) == len(set(hashes)):  # all or nothing: a partial match would read low
                result.token_match = self.matcher.score(query, states, self.catalog, list(blobs.values()))
        timings["retrieve"] = _ms(started)
        result.timings_ms = timings
        return result

    async def _dense(
        self, query: str, started: float, timings: dict[str, float]
    ) -> tuple[list[tuple[str, float]], tuple[float, str], Vectors | None]:
        states: Vectors | None = None
        if self.matcher is not None:
            vector, states = await self.matcher.query_states(query)
        else:
            vector = await self.embedder.embed([query])
        timings["embed"] = _ms(started)
        dense = await self.store.query(vector[0], CANDIDATES)
        return dense, await self._intent(vector), states

    async def _keyword(self, query: str) -> tuple[list[tuple[str, float]], list[str], float, float]:
        if self.catalog.chunk_count >= INLINE_KEYWORD_CHUNKS:
            # SQLite releases the GIL: a big catalog's search runs in a worker thread.
            return await asyncio.to_thread(self._lexical, query)
        await asyncio.sleep(0)  # the embedding task takes the query to the model first
        return self._lexical(query)

    async def _intent(self, vector: Vectors) -> tuple[float, str]:
        try:
            await self.intents.prepare(self.embedder)  # once per process; a failure is retried next time
        except EmbedderError as exc:
            log.warning("escalation intents not embedded yet, confidence goes without them: %s", exc)
        return self.intents.closest(vector[0])

    def _lexical(self, query: str) -> tuple[list[tuple[str, float]], list[str], float, float]:
        """Everything read from the catalog's words alone: BM25 hits, unknown words, co-occurrence."""
        unknown, share = self.catalog.unknown_terms(query)
        return self.catalog.lexical_search(query, CANDIDATES), unknown, share, cooccurrence(self.catalog, query)

    def _fuse(
        self,
        dense: list[tuple[str, float]],
        lexical: list[tuple[str, float]],
        mode: Mode,
        top_articles: int,
        reasons: list[str],
    ) -> Retrieval:
        fused: dict[str, float] = defaultdict(float)
        evidence: dict[str, dict[str, float]] = defaultdict(dict)  # chunk id -> dense/lexical score and rank
        lists = [("dense", dense)] if mode != "keyword" else []
        lists += [("lexical", lexical)] if mode != "dense" else []
        for name, ranked in lists:
            for rank, (cid, score) in enumerate(ranked, 1):
                fused[cid] += WEIGHTS[name] / (RRF_K + rank)
                evidence[cid][name] = score
                evidence[cid][f"{name}_rank"] = rank
        best_possible = sum(WEIGHTS[name] for name, _ in lists) / (RRF_K + 1)
        # Group by article first (chunk ids are "{article_id}#{n}"); build Hits only for the winners.
        by_article: dict[str, list[str]] = defaultdict(list)
        for cid in sorted(fused, key=fused.__getitem__, reverse=True):
            by_article[cid.rpartition("#")[0]].append(cid)
        scored = sorted(
            ((_article_score([fused[c] for c in cids[:2]]), aid) for aid, cids in by_article.items()), reverse=True
        )[:top_articles]
        wanted = [cid for _, aid in scored for cid in by_article[aid][:CHUNKS_PER_ARTICLE]]
        chunks = self.catalog.get_chunks(wanted)  # a vector whose row is gone (ingest running) drops out
        articles = []
        for score, aid in scored:
            hits = [
                Hit.model_construct(  # every value already has its field's type
                    chunk=chunks[cid],
                    score=round(fused[cid] / best_possible, 4),
                    dense=evidence[cid].get("dense"),
                    lexical=evidence[cid].get("lexical"),
                    dense_rank=_int(evidence[cid].get("dense_rank")),
                    lexical_rank=_int(evidence[cid].get("lexical_rank")),
                )
                for cid in by_article[aid][:CHUNKS_PER_ARTICLE]
                if cid in chunks
            ]
            if hits:
                hits.sort(key=lambda h: -(h.score + TIER_NUDGE[h.chunk.tier]))
                articles.append(ArticleHit(article_id=aid, score=round(score / best_possible, 4), hits=hits))
        return Retrieval(
            articles=articles,
            mode=mode,
            degraded_reasons=reasons,
            top_dense=max((s for _, s in dense), default=0.0),
            top_lexical=max((s for _, s in lexical), default=0.0),
        )


def _article_score(best_two: list[float]) -> float:
    return best_two[0]


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)


def _int(value: float | int | None) -> int | None:
    return None if value is None else int(value)
