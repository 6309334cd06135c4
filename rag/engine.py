"""The engine every door calls: a ticket in, one `Answer` out.

    engine = build_engine(Settings())               # rag.factory picks the backends
    answer = await engine.answer("I was charged twice this month")
    answer.decision, answer.confidence.level, answer.draft

Stages: retrieve (embed + dense + BM25 + fusion), assess confidence, required data, draft. Each
stage is timed; one INFO line per answer (never the ticket text). A failed production drafter falls
back to the extractive one and the answer says `degraded`.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Sequence
from typing import Any

from rag.confidence import Assessment, assess, drafter_says_unanswered
from rag.drafters.extractive import ExtractiveDrafter
from rag.errors import DrafterError
from rag.intake import Intake
from rag.knowledge import KnowledgeBase
from rag.models import Answer, Backends, Citation, Draft, Hit, RequiredItem, Source, Ticket
from rag.protocols import Drafter
from rag.required_data import finalize, required_data, top_sections
from rag.retrieve import Retrieval
from rag.settings import Settings

log = logging.getLogger(__name__)

EVIDENCE_CHUNKS = 8  # what the drafter sees: enough for two or three articles' best sections


class Engine:
    def __init__(self, settings: Settings, *, kb: KnowledgeBase, drafter: Drafter) -> None:
        self.settings = settings
        self.kb = kb
        self.drafter = drafter
        self._fallback = ExtractiveDrafter(kb.catalog)
        self.backends = Backends(embedder=kb.embedder.name, store=kb.store.name, drafter=drafter.name)
        self.intake = Intake(kb.catalog, kb.embedder)

    async def answer(self, ticket: Ticket | str, *, request_id: str | None = None) -> Answer:
        answer, _ = await self.answer_with_assessment(ticket, request_id=request_id)
        return answer

    async def answer_with_assessment(
        self, ticket: Ticket | str, *, request_id: str | None = None
    ) -> tuple[Answer, Assessment]:
        """The answer and the confidence signals behind it (what `kb eval` refits on)."""
        answer, assessed, _ = await self.answer_with_retrieval(ticket, request_id=request_id)
        return answer, assessed

    async def answer_with_retrieval(
        self, ticket: Ticket | str, *, request_id: str | None = None
    ) -> tuple[Answer, Assessment, Retrieval]:
        """The answer, its confidence signals and the retrieval it drew on (`kb eval` ranks articles
        by retrieval, whatever order the draft's citations put the sources in)."""
        started = time.perf_counter()
        ticket = Ticket(ticket=ticket) if isinstance(ticket, str) else ticket
        request_id = request_id or uuid.uuid4().hex
        retrieval = await self.kb.search(ticket.query(), top_articles=self.settings.kb_top_k)
        timings = dict(retrieval.timings_ms)
        assessed = assess(retrieval, high=self.settings.kb_confidence_high, low=self.settings.kb_confidence_low)
        confidence, decision = assessed.confidence, assessed.decision
        evidence = retrieval.evidence[:EVIDENCE_CHUNKS]
        escalate = decision == "escalate"
        required = await self._required(ticket, evidence, escalate)
        mark = time.perf_counter()
        draft, backends, reasons = await self._draft(ticket, evidence, required, escalate, retrieval)
        timings["draft"] = round((time.perf_counter() - mark) * 1000, 2)
        if draft.required_data is not None:
            required = finalize(ticket.text(), draft.required_data)
        if draft.answers_ticket is False and not escalate:
            # The hosted drafter read the evidence against the ticket: it can only lower confidence.
            assessed = drafter_says_unanswered(assessed, backends.drafter, low=self.settings.kb_confidence_low)
            confidence, decision = assessed.confidence, assessed.decision
        timings["total"] = round((time.perf_counter() - started) * 1000, 2)
        answer = Answer(
            request_id=request_id,
            decision=decision,
            confidence=confidence,
            required_data=required,
            draft=draft.text,
            citations=draft.citations,
            sources=self.sources(retrieval, self.settings.kb_top_k, cited=draft.cited_chunk_ids),
            backends=backends,
            degraded=bool(reasons),
            degraded_reasons=reasons,
            timings_ms=timings,
        )
        log.info(
            "answer request_id=%s decision=%s confidence=%s score=%.3f sources=%d degraded=%s "
            "backends=%s/%s/%s total_ms=%.1f",
            request_id,
            decision,
            confidence.level,
            confidence.score,
            len(answer.sources),
            answer.degraded,
            backends.embedder,
            backends.store,
            backends.drafter,
            timings["total"],
        )
        return answer, assessed, retrieval

    async def required(self, ticket: Ticket | str, *, request_id: str | None = None) -> Answer:
        """Only the data to collect: retrieval, confidence and required data, no drafter call.

        The same `Answer` schema with an empty `draft` (`/api/v1/required-data`, `/kb required`)."""
        started = time.perf_counter()
        ticket = Ticket(ticket=ticket) if isinstance(ticket, str) else ticket
        request_id = request_id or uuid.uuid4().hex
        retrieval = await self.kb.search(ticket.query(), top_articles=self.settings.kb_top_k)
        timings = dict(retrieval.timings_ms)
        assessed = assess(retrieval, high=self.settings.kb_confidence_high, low=self.settings.kb_confidence_low)
        mark = time.perf_counter()
        evidence = retrieval.evidence[:EVIDENCE_CHUNKS]
        required = await self._required(ticket, evidence, assessed.decision == "escalate")
        timings["required"] = round((time.perf_counter() - mark) * 1000, 2)
        timings["total"] = round((time.perf_counter() - started) * 1000, 2)
        log.info(
            "required request_id=%s decision=%s confidence=%s items=%d total_ms=%.1f",
            request_id,
            assessed.decision,
            assessed.confidence.level,
            len(required),
            timings["total"],
        )
        return Answer(
            request_id=request_id,
            decision=assessed.decision,
            confidence=assessed.confidence,
            required_data=required,
            draft="",
            sources=self.sources(retrieval, self.settings.kb_top_k),
            backends=self._mark_unavailable(self.backends.model_copy(update={"drafter": "none"}), retrieval),
            degraded=bool(retrieval.degraded_reasons),
            degraded_reasons=list(retrieval.degraded_reasons),
            timings_ms=timings,
        )

    async def _required(self, ticket: Ticket, evidence: list[Hit], escalate: bool) -> list[RequiredItem]:
        topics = await self.intake.match(ticket.query())
        sections = [] if escalate else top_sections(self.kb.catalog, evidence)  # the best article's other sections
        return required_data(ticket.text(), evidence, escalate=escalate, topics=topics, sections=sections)

    async def _draft(
        self, ticket: Ticket, evidence: list[Hit], required: list[RequiredItem], escalate: bool, retrieval: Retrieval
    ) -> tuple[Draft, Backends, list[str]]:
        reasons = list(retrieval.degraded_reasons)
        backends = self.backends
        try:
            draft = await self.drafter.draft(ticket, evidence, required, escalate)
        except DrafterError as exc:
            log.warning("drafter %s failed, using the extractive drafter: %s", self.drafter.name, exc)
            reasons.append(f"drafter unavailable ({exc.backend}): extractive draft")
            draft = await self._fallback.draft(ticket, evidence, required, escalate)
            backends = backends.model_copy(update={"drafter": self._fallback.name})
        return grounded(draft, evidence), self._mark_unavailable(backends, retrieval), reasons

    def _mark_unavailable(self, backends: Backends, retrieval: Retrieval) -> Backends:
        if retrieval.mode == self.kb.mode:
            return backends
        # Name the side of dense search that failed: the vector store, or else the embedder.
        part = "store" if any(r.startswith("vector store") for r in retrieval.degraded_reasons) else "embedder"
        return backends.model_copy(update={part: f"{getattr(backends, part)} (unavailable)"})

    @staticmethod
    def sources(retrieval: Retrieval, top_k: int, cited: Sequence[str] = ()) -> list[Source]:
        """The sections the draft cites first, then one source per other article (its strongest
        chunk); each group in score order."""
        hits = {h.chunk.id: h for h in retrieval.evidence}
        quoted = sorted((hits[c] for c in dict.fromkeys(cited) if c in hits), key=lambda h: -h.score)
        done = {h.chunk.article_id for h in quoted}
        others = [a.best for a in retrieval.articles[:top_k] if a.article_id not in done]
        others.sort(key=lambda h: -h.score)
        return [_source(hit) for hit in [*quoted, *others]]

    async def search(self, query: str, top_k: int = 5) -> list[Source]:
        retrieval = await self.kb.search(query, top_articles=top_k)
        return self.sources(retrieval, top_k)

    def health(self) -> dict[str, Any]:
        articles, chunks = self.kb.counts()
        return {"backends": self.backends.model_dump(), "articles": articles, "chunks": chunks}

    async def close(self) -> None:
        await self.drafter.close()
        await self.kb.close()


def _source(hit: Hit) -> Source:
    c = hit.chunk
    return Source(
        article_id=c.article_id,
        chunk_id=c.id,
        title=c.title,
        url=c.url,
        tier=c.tier,
        score=round(hit.score, 3),
        section=c.heading_path,
    )


def grounded(draft: Draft, evidence: Sequence[Hit]) -> Draft:
    """The draft citing retrieved chunks only: unknown ids are dropped (and logged), and so is a
    citation left with none; `cited_chunk_ids` also holds every chunk a citation names."""
    known = {h.chunk.id for h in evidence}
    unknown = [
        c for c in [*draft.cited_chunk_ids, *(i for x in draft.citations for i in x.chunk_ids)] if c not in known
    ]
    if unknown:
        log.warning("drafter cited chunks that were not retrieved, dropped: %s", list(dict.fromkeys(unknown)))
    citations = []
    for citation in draft.citations:
        ids = [c for c in dict.fromkeys(citation.chunk_ids) if c in known]
        if ids and citation.text.strip():
            citations.append(Citation(text=citation.text, chunk_ids=ids))
    cited = [
        c for c in dict.fromkeys([*draft.cited_chunk_ids, *(i for x in citations for i in x.chunk_ids)]) if c in known
    ]
    return draft.model_copy(update={"cited_chunk_ids": cited, "citations": citations})
