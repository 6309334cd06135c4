"""Gaps: the answers of a period that show what the KB is missing, grouped into topics by meaning.

    report = await build_gap_report(store, kb.embedder, kb=kb, days=7)
    report.topics[0].label, report.topics[0].count, report.topics[0].closest_article

An answer is a gap when it was escalated (decided `escalate`, or handed over with the Escalate
button), low in confidence, or rated 👎. Its redacted ticket is embedded with the KB's embedder;
the tickets are grouped with `agglomerate` and each topic gets a label (`topic_keywords`), up to
three tickets nearest its centre, and the KB section nearest to it (a vector search with the
topic's mean embedding). Every gap lands in exactly one topic, so the counts add up to `total`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import numpy.typing as npt

from bot import messages
from bot.gaps.cluster import DEFAULT_MIN_SIMILARITY, agglomerate, topic_keywords, words
from bot.gaps.models import GapArticle, GapExample, GapReport, GapTopic
from bot.records import GapItem, RecordStore, door_family
from rag.errors import StoreError
from rag.knowledge import KnowledgeBase
from rag.protocols import Embedder

log = logging.getLogger(__name__)

MAX_ITEMS = 2_000  # the newest gaps of the period are grouped; older ones are left out (`truncated`)
EXAMPLES = 3
EMBED_BATCH = 256
EXAMPLE_CHARS = 300


async def build_gap_report(
    store: RecordStore,
    embedder: Embedder,
    *,
    kb: KnowledgeBase | None = None,
    days: int = 7,
    min_similarity: float = DEFAULT_MIN_SIMILARITY,
    now: float | None = None,
    limit: int = MAX_ITEMS,
) -> GapReport:
    """The gaps of the last `days` days; `kb` (optional) finds each topic's closest article."""
    now = time.time() if now is None else now
    since = now - days * 86_400
    items = await asyncio.to_thread(store.gap_items, since=since, until=now + 1, limit=limit + 1)
    truncated = len(items) > limit
    items = items[:limit]
    bin_days = 1 if days <= 31 else 7
    first_day = _day(since)
    bins = [first_day + timedelta(days=d) for d in range(0, (_day(now) - first_day).days + 1, bin_days)]
    notes: list[str] = []
    topics: list[GapTopic] = []
    if items:
        vectors = await _vectors(store, embedder, items)
        groups = await asyncio.to_thread(agglomerate, vectors, min_similarity)
        keywords = topic_keywords([i.ticket for i in items], groups)
        searchable = kb is not None and kb.counts()[1] > 0
        if not searchable:
            notes.append(messages.GAPS_NO_KB)
        for group, words_ in zip(groups, keywords, strict=True):
            members = [items[i] for i in group]
            centre = vectors[group].mean(axis=0)
            centre /= np.linalg.norm(centre) or 1.0
            nearest = [members[j] for j in np.argsort(-(vectors[group] @ centre), kind="stable")]
            article = None
            if kb is not None and searchable:
                article, searchable = await _closest(kb, centre, notes)
            topics.append(_topic(members, nearest, words_, article, bins, bin_days))
        topics.sort(key=lambda t: t.last_seen, reverse=True)  # among equals, the most recent first
        topics.sort(key=lambda t: (-t.count, -(t.escalated + t.rated_down)))
        topics = [t.model_copy(update={"id": n}) for n, t in enumerate(topics, 1)]
    return GapReport(
        days=days,
        since=_iso(since),
        until=_iso(now),
        total=len(items),
        escalated=sum(i.escalated for i in items),
        rated_down=sum(i.rated_down for i in items),
        low_confidence=sum(i.low_confidence for i in items),
        truncated=truncated,
        min_similarity=min_similarity,
        embedder=embedder.name,
        bins=[b.isoformat() for b in bins],
        bin_days=bin_days,
        topics=topics,
        notes=notes,
    )


class GapCache:
    """The last report of the last `days` days, remade at most every `ttl_s` seconds (App Home)."""

    def __init__(self, *, days: int = 7, ttl_s: float = 300.0) -> None:
        self.days = days
        self.ttl_s = ttl_s
        self._report: GapReport | None = None
        self._made_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, store: RecordStore, kb: KnowledgeBase) -> GapReport:
        async with self._lock:  # one computation at a time; the others wait and share it
            if self._report is None or time.monotonic() - self._made_at > self.ttl_s:
                self._report = await build_gap_report(store, kb.embedder, kb=kb, days=self.days)
                self._made_at = time.monotonic()
            return self._report


def _topic(
    members: list[GapItem],
    nearest: list[GapItem],
    keywords: list[str],
    article: GapArticle | None,
    bins: list[date],
    bin_days: int,
) -> GapTopic:
    timeline = [0] * len(bins)
    doors: dict[str, int] = {}
    for item in members:
        index = min(len(bins) - 1, max(0, (_day(item.created_at) - bins[0]).days // bin_days))
        timeline[index] += 1
        family = door_family(item.door)
        doors[family] = doors.get(family, 0) + 1
    label = ", ".join(keywords) or " ".join(words(nearest[0].ticket)[:4]) or messages.GAPS_NO_LABEL
    return GapTopic(
        id=0,
        label=label,
        keywords=keywords,
        count=len(members),
        escalated=sum(i.escalated for i in members),
        rated_down=sum(i.rated_down for i in members),
        low_confidence=sum(i.low_confidence for i in members),
        doors=dict(sorted(doors.items())),
        first_seen=_iso(min(i.created_at for i in members)),
        last_seen=_iso(max(i.created_at for i in members)),
        timeline=timeline,
        examples=[_example(i) for i in nearest[:EXAMPLES]],
        closest_article=article,
        request_ids=[i.request_id for i in members],
    )


def _example(item: GapItem) -> GapExample:
    text = " ".join(item.ticket.split())
    if len(text) > EXAMPLE_CHARS:
        text = text[: EXAMPLE_CHARS - 1].rstrip() + "…"
    return GapExample(
        request_id=item.request_id,
        ticket=text,
        created_at=_iso(item.created_at),
        door=door_family(item.door),
        decision=item.decision,
        level=item.level,
        score=round(item.score, 3),
        escalated=item.escalated,
        rated_down=item.rated_down,
    )


async def _vectors(store: RecordStore, embedder: Embedder, items: list[GapItem]) -> npt.NDArray[np.float32]:
    """The tickets' embeddings: stored ones as they are, the others embedded now and stored."""
    ids = [i.request_id for i in items]
    known = await asyncio.to_thread(store.ticket_vectors, embedder.model_id, ids)
    missing = [i for i in items if i.request_id not in known]
    fresh: dict[str, bytes] = {}
    for start in range(0, len(missing), EMBED_BATCH):
        part = missing[start : start + EMBED_BATCH]
        rows = await embedder.embed([_embedding_text(i.ticket) for i in part])
        fresh.update(
            {i.request_id: np.asarray(row, dtype=np.float32).tobytes() for i, row in zip(part, rows, strict=True)}
        )
    if fresh:
        await asyncio.to_thread(store.save_ticket_vectors, embedder.model_id, fresh)
    vectors = {**known, **fresh}
    return np.vstack([np.frombuffer(vectors[rid], dtype=np.float32) for rid in ids])


def _embedding_text(ticket: str) -> str:
    # The model reads the first few hundred tokens anyway; a pasted e-mail thread beyond that is noise.
    return ticket[:2_000]


async def _closest(
    kb: KnowledgeBase, centre: npt.NDArray[np.float64], notes: list[str]
) -> tuple[GapArticle | None, bool]:
    """The KB section nearest to `centre`, and whether the store can be asked again."""
    try:
        hits = await kb.store.query(centre.astype(np.float32), 5)
    except StoreError as exc:
        log.warning("gaps: closest articles unavailable: %s", exc)
        notes.append(messages.GAPS_STORE_DOWN.format(error=exc))
        return None, False
    chunks = await asyncio.to_thread(kb.catalog.get_chunks, [cid for cid, _ in hits])
    for cid, score in hits:
        chunk = chunks.get(cid)
        if chunk is not None:
            article = GapArticle(
                article_id=chunk.article_id,
                title=chunk.title,
                url=chunk.url,
                section=chunk.heading_path,
                similarity=round(float(score), 3),
            )
            return article, True
    return None, True


def _day(ts: float) -> date:
    return datetime.fromtimestamp(ts, UTC).date()


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(math.floor(ts), UTC).isoformat().replace("+00:00", "Z")
