"""Confidence from retrieval evidence: a score in [0, 1], a level, a decision and readable reasons.

    confidence, decision = assess(retrieval, high=0.60, low=0.35)

The score is a small logistic model over five signals of the retrieval:
- similarity: cosine of the closest chunk (is anything in the KB about this at all?);
- lead: how far the closest article is ahead of the next one (a clear topic, not a vague one);
- unknown words: the share of the ticket's topical words that occur nowhere in the KB (a
  competitor, a subpoena, a tool the KB does not document);
- agreement of dense and keyword search on the top article;
- a CRITICAL chunk (requirement, policy, warning) in the top article's evidence.
The weights are a logistic regression fitted on the two labelled dev sets (npm docs and
examples/kb, 54 tickets, 7 out of scope) to tell answerable from out-of-scope tickets, rounded;
they hold for the packaged MiniLM. Another embedding model has other cosine ranges: re-check with `kb eval`.
"""

from __future__ import annotations

import math

from rag.models import Confidence, Decision, Level, Tier
from rag.retrieve import Retrieval

WEIGHTS = {"similarity": 5.95, "lead": 8.49, "unknown_words": -5.96, "agreement": 0.41, "critical": 0.42}
BIAS = -1.64
KNOWN_PRIOR = 5  # the unknown-word share counts 5 extra known words: 2 odd words in a short ticket are chatter
LEAD_CAP = 0.15  # a cosine lead beyond this says nothing more
# z -> score: z = 1.0 (the boundary between in and out of scope on the dev sets) maps to 0.35
# and z = 1.75 (a clear answer) to 0.60, the default thresholds.
SLOPE, CENTRE = 1.366, 1.453
AGREE_WITHIN = 3  # the top article is in the first three of both rankings


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def assess(retrieval: Retrieval, *, high: float, low: float) -> tuple[Confidence, Decision]:
    if not retrieval.articles:
        nothing = ["nothing in the knowledge base matched this ticket"]
        return Confidence(score=0.0, level="low", reasons=nothing), "escalate"

    top = retrieval.articles[0]
    title = top.best.chunk.title
    reasons: list[str] = []

    dense_rank = min((h.dense_rank or 99) for h in top.hits)
    lexical_rank = min((h.lexical_rank or 99) for h in top.hits)
    agreement = (
        1.0 if max(dense_rank, lexical_rank) <= AGREE_WITHIN else 0.5 if min(dense_rank, lexical_rank) <= 1 else 0.0
    )
    critical = any(h.chunk.tier is Tier.CRITICAL for h in top.hits)
    checked = retrieval.checked_terms
    unknown = len(retrieval.unknown_terms) / (checked + KNOWN_PRIOR)

    if retrieval.mode == "lexical":
        # No semantic signal: keyword strength can make it "review" at best, never "answer".
        # BM25 alone tells answerable from out-of-scope poorly (dev sets), so a degraded answer is
        # "review" unless the ticket is full of words the KB never uses.
        strength = _clamp((retrieval.top_lexical - 8.0) / 12.0)
        score = 0.36 + 0.2 * strength - 1.5 * max(0.0, unknown - 0.35)
        score = round(max(0.0, min(high - 0.01, score)), 3)
        reasons.append(f"keyword search only: best match “{title}”")
    else:
        cosine = retrieval.top_dense
        per_article = sorted((max((h.dense or 0.0) for h in a.hits) for a in retrieval.articles), reverse=True)
        lead = min(LEAD_CAP, per_article[0] - per_article[1]) if len(per_article) > 1 else LEAD_CAP
        z = (
            BIAS
            + WEIGHTS["similarity"] * cosine
            + WEIGHTS["lead"] * max(0.0, lead)
            + WEIGHTS["unknown_words"] * unknown
            + WEIGHTS["agreement"] * agreement
            + WEIGHTS["critical"] * critical
        )
        score = round(1.0 / (1.0 + math.exp(-SLOPE * (z - CENTRE))), 3)
        closeness = "close" if cosine >= 0.55 else "partial" if cosine >= 0.45 else "weak"
        reasons.append(f"{closeness} match: “{title}” (similarity {cosine:.2f})")
        if lead >= 0.06:
            reasons.append("one article clearly leads")
        elif lead < 0.02:
            reasons.append("several articles match about equally")
    if retrieval.mode == "hybrid":
        if agreement == 1.0:
            reasons.append("semantic and keyword search agree on the top article")
        elif agreement == 0.0:
            reasons.append("semantic and keyword search disagree")
    if unknown >= 0.3:
        shown = ", ".join(retrieval.unknown_terms[:4])
        reasons.append(f"{unknown:.0%} of the ticket's words never occur in the KB ({shown})")
    if critical:
        reasons.append("evidence includes a CRITICAL section (requirements, policy or warning)")

    level: Level = "high" if score >= high else "medium" if score >= low else "low"
    decision: Decision = "answer" if level == "high" else "review" if level == "medium" else "escalate"
    return Confidence(score=score, level=level, reasons=reasons), decision
