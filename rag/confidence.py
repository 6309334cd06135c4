"""Confidence from retrieval evidence: a score in [0, 1], a level, a decision and readable reasons.

    confidence, decision = assess(retrieval, high=0.60, low=0.40)

Similarity (the cosine of the best chunk of the top article) is the evidence; the other signals
can only scale it: whether dense and keyword search agree on the top article, how clearly the top
article leads the next one, and the tier of the best evidence (a CRITICAL requirement or policy
is strong grounds to answer from). A ticket whose topical words the KB never uses (a competitor,
a subpoena, a tool the KB does not document) loses confidence: a close-sounding article is then
most likely about something else.
"""

from __future__ import annotations

from rag.models import Confidence, Decision, Level, Tier
from rag.retrieve import Retrieval

# Cosine of MiniLM between a ticket and a chunk: below FLOOR it is unrelated text, at CEILING
# it is as good as support tickets get (measured on examples/kb and the npm dev set).
COSINE_FLOOR, COSINE_CEILING = 0.30, 0.70
SUPPORT_WEIGHTS = {"agreement": 0.45, "margin": 0.35, "tier": 0.20}
SUPPORT_SHARE = 0.35  # at most this much of the score depends on the supporting signals
UNKNOWN_FREE = 0.40  # share of ticket words missing from the KB that is still normal (names, chat)
UNKNOWN_PENALTY = 1.0  # score lost per unit of missing share above UNKNOWN_FREE
TIER_CREDIT = {Tier.CRITICAL: 1.0, Tier.HIGH: 0.7, Tier.MEDIUM: 0.4, Tier.LOW: 0.0}
AGREE_WITHIN = 3  # the top article is in the first three of both rankings


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def assess(retrieval: Retrieval, *, high: float, low: float) -> tuple[Confidence, Decision]:
    if not retrieval.articles:
        reasons = ["nothing in the knowledge base matched this ticket"]
        return Confidence(score=0.0, level="low", reasons=reasons), "escalate"

    top = retrieval.articles[0]
    best = top.best
    title = best.chunk.title
    reasons: list[str] = []

    if retrieval.mode == "lexical":
        # No semantic signal: trust keyword strength a little, never enough for "high".
        similarity = _clamp(retrieval.top_lexical / 12.0) * 0.8
        reasons.append("keyword search only (no semantic match available)")
    else:
        cosine = max((h.dense or 0.0) for h in top.hits)
        similarity = _clamp((cosine - COSINE_FLOOR) / (COSINE_CEILING - COSINE_FLOOR))
        if similarity >= 0.6:
            reasons.append(f"close match: “{title}” (similarity {cosine:.2f})")
        elif similarity >= 0.3:
            reasons.append(f"partial match: “{title}” (similarity {cosine:.2f})")
        else:
            reasons.append(f"weak match (similarity {cosine:.2f}): the KB may not cover this")

    dense_rank = min((h.dense_rank or 99) for h in top.hits)
    lexical_rank = min((h.lexical_rank or 99) for h in top.hits)
    agreement = 1.0 if max(dense_rank, lexical_rank) <= AGREE_WITHIN else 0.5 if min(dense_rank, lexical_rank) <= 1 else 0.0
    if retrieval.mode == "hybrid":
        if agreement == 1.0:
            reasons.append("semantic and keyword search agree on the top article")
        elif agreement == 0.0:
            reasons.append("semantic and keyword search disagree")

    runner_up = retrieval.articles[1].score if len(retrieval.articles) > 1 else 0.0
    margin = _clamp((top.score - runner_up) / top.score * 2.5) if top.score else 0.0
    if margin >= 0.5:
        reasons.append("one article clearly leads")
    elif margin < 0.15:
        reasons.append("several articles match about equally")

    best_tier = min((h.chunk.tier for h in top.hits), key=lambda t: t.rank)
    tier = TIER_CREDIT[best_tier]
    if best_tier is Tier.CRITICAL:
        reasons.append("evidence includes a CRITICAL section (requirements, policy or warning)")

    support = (
        SUPPORT_WEIGHTS["agreement"] * agreement + SUPPORT_WEIGHTS["margin"] * margin + SUPPORT_WEIGHTS["tier"] * tier
    )
    score = similarity * (1 - SUPPORT_SHARE + SUPPORT_SHARE * support)
    unknown = len(retrieval.unknown_terms) / retrieval.checked_terms if retrieval.checked_terms else 0.0
    if unknown > UNKNOWN_FREE:
        score -= UNKNOWN_PENALTY * (unknown - UNKNOWN_FREE)
        shown = ", ".join(retrieval.unknown_terms[:4])
        reasons.append(f"{unknown:.0%} of the ticket's words never occur in the KB ({shown}…)")
    score = round(_clamp(score), 3)
    level: Level = "high" if score >= high else "medium" if score >= low else "low"
    if retrieval.mode == "lexical" and level == "high":
        level = "medium"
    decision: Decision = {"high": "answer", "medium": "review", "low": "escalate"}[level]  # type: ignore[assignment]
    return Confidence(score=score, level=level, reasons=reasons), decision
