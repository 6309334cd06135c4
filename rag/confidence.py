"""Confidence from retrieval evidence: a score in [0, 1], a level, a decision and the reasons.

    assessed = assess(retrieval, high=0.60, low=0.35)
    assessed.confidence.level, assessed.decision, assessed.features

The score is a logistic model over these signals of the retrieval:
- similarity: cosine of the closest chunk (is anything in the KB about this at all?);
- coverage: the share of the ticket's topical words that the best article's evidence contains
  (is the ticket's ask in that article, or only its vocabulary?);
- escalation intent: cosine to built-in examples of requests support teams always route to
  people (legal, security, contracts, disputed charges, …; rag/intents.py);
- unknown words: the share of the ticket's topical words that occur nowhere in the KB (a
  competitor, a subpoena, a tool the KB does not document);
- co-occurrence: the share of pairs of the ticket's rarest KB words that appear together in one
  chunk of the KB (rag/cooccurrence.py): an out-of-scope ticket uses the KB's words in
  combinations the KB never has;
- token match: each of the ticket's topical words matched, in context, to its closest token in
  the top evidence, weighted by rarity (rag/token_match.py): the ask itself, not only its
  vocabulary, has to be in the evidence. It needs the packaged model's token states; a KB
  without them is judged by the word signals (`SHIPPED_WORDS`, with coverage instead).
The weights (`SHIPPED`, `SHIPPED_WORDS`) are fitted by `bench/fit_confidence.py` on every dev KB's
labelled tickets plus off-topic probes (rag/data/offtopic_probes.txt), and the escalation point is
where 4% of the fitting set's answerable tickets fall below it. `kb eval` with several KBs refits them
leave-one-KB-out, so the figures it reports never come from the KB the model was fitted on.
The logit maps to the score so that the escalation point is 0.35 (KB_CONFIDENCE_LOW) and a clear
answer starts at 0.60 (KB_CONFIDENCE_HIGH). The first reason names the signal that decided.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from rag.models import Confidence, Decision, Level
from rag.retrieve import Retrieval
from rag.text import content_words, kb_words

# Every KB has the word signals. KBs embedded with the packaged model also have token_match, which
# replaces coverage (its in-context, soft version: with both, coverage's weight is ~0 and flips sign
# from one leave-one-KB-out fold to the next). Co-occurrence stays: ~0 fitted on all three KBs, it
# still catches one more GitHub Docs ticket leave-one-KB-out.
WORD_SIGNALS = ("similarity", "coverage", "escalation_intent", "unknown_words", "cooccurrence")
TOKEN_SIGNALS = ("similarity", "escalation_intent", "unknown_words", "cooccurrence", "token_match")
SIGNALS = (*WORD_SIGNALS, "token_match")
LOW_ANCHOR = 0.35  # the score of the escalation point (the default KB_CONFIDENCE_LOW)
# IDF share of the ticket's words the KB never uses above which an answer is at most "review":
# whatever matched, the KB cannot have grounded most of the ask (keyword-only answers drop too).
UNKNOWN_TOLERATED = 0.7
ANSWERABLE_BELOW = 0.04  # share of answerable fitting tickets allowed under the escalation point
PROBE_WEIGHT = 0.15  # an off-topic probe counts 0.15 of a labelled ticket when fitting


@dataclass(frozen=True)
class Model:
    """Logistic model over standardised signals; `escalate_at` is the logit of the escalation point."""

    weights: dict[str, float]
    means: dict[str, float]
    scales: dict[str, float]
    bias: float
    escalate_at: float

    def contributions(self, features: dict[str, float]) -> dict[str, float]:
        return {
            name: weight * (features[name] - self.means[name]) / self.scales[name]
            for name, weight in self.weights.items()
        }

    def logit(self, features: dict[str, float]) -> float:
        return self.bias + sum(self.contributions(features).values())

    def score(self, features: dict[str, float]) -> float:
        z = self.logit(features) - self.escalate_at + math.log(LOW_ANCHOR / (1 - LOW_ANCHOR))
        return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))

    def decide(self, features: dict[str, float], high: float = 0.60, low: float = LOW_ANCHOR) -> Decision:
        return _decision(_level(self.score(features), high, low))


# Both fitted by `python -m bench.fit_confidence` on npm-docs, github-docs and examples/kb (hybrid
# retrieval, the packaged MiniLM) plus the off-topic probes; leave-one-KB-out figures in README.
SHIPPED = Model(
    weights={
        "similarity": 2.2075,
        "escalation_intent": -0.4257,
        "unknown_words": -0.8287,
        "cooccurrence": -0.0343,
        "token_match": 0.8433,
    },
    means={
        "similarity": 0.3407,
        "escalation_intent": 0.2782,
        "unknown_words": 0.5133,
        "cooccurrence": 0.3103,
        "token_match": 0.5196,
    },
    scales={
        "similarity": 0.1383,
        "escalation_intent": 0.102,
        "unknown_words": 0.2112,
        "cooccurrence": 0.2788,
        "token_match": 0.1283,
    },
    bias=-3.3699,
    escalate_at=-0.7316,
)
# For KBs without token states: other embedders (OpenAI, KB_LOCAL_MODEL_DIR) and KBs ingested
# before kb-rag kept them (their next `kb ingest` adds them).
SHIPPED_WORDS = Model(
    weights={
        "similarity": 2.4505,
        "coverage": 0.0741,
        "escalation_intent": -0.421,
        "unknown_words": -0.763,
        "cooccurrence": 0.2637,
    },
    means={
        "similarity": 0.3407,
        "coverage": 0.2135,
        "escalation_intent": 0.2782,
        "unknown_words": 0.5133,
        "cooccurrence": 0.3103,
    },
    scales={
        "similarity": 0.1383,
        "coverage": 0.1344,
        "escalation_intent": 0.102,
        "unknown_words": 0.2112,
        "cooccurrence": 0.2788,
    },
    bias=-3.2134,
    escalate_at=-0.9369,
)


@dataclass
class Assessment:
    confidence: Confidence
    decision: Decision
    features: dict[str, float]


def features(retrieval: Retrieval) -> dict[str, float]:
    """The model's signals for one retrieval (0 when nothing was found; token_match only when known)."""
    coverage = 0.0
    if retrieval.articles:
        asked = content_words(retrieval.query)
        top = retrieval.articles[0]
        found: set[str] = set()
        for hit in top.hits:
            found |= kb_words(hit.chunk.embedding_text())
        coverage = len(asked & found) / len(asked) if asked else 0.0
    return {
        "similarity": retrieval.top_dense,
        "coverage": coverage,
        "escalation_intent": retrieval.intent,
        "unknown_words": retrieval.unknown_share,
        "cooccurrence": retrieval.cooccurrence,
    } | ({"token_match": retrieval.token_match} if retrieval.token_match is not None else {})


def signals_of(rows: Sequence[dict[str, float]]) -> tuple[str, ...]:
    """The signals a model fitted on these rows uses: with token_match when every row has it."""
    return TOKEN_SIGNALS if all("token_match" in row for row in rows) else WORD_SIGNALS


def model_for(features: dict[str, float]) -> Model:
    """The shipped model for the signals this retrieval has."""
    return SHIPPED if "token_match" in features else SHIPPED_WORDS


def fit(
    rows: Sequence[dict[str, float]],
    answerable: Sequence[bool],
    sample_weights: Sequence[float],
    signals: Sequence[str] | None = None,
) -> Model:
    """Weighted, lightly regularised logistic regression (Newton steps) over `signals` (default:
    every signal all rows have)."""
    signals = signals_of(rows) if signals is None else signals
    x = np.array([[row[name] for name in signals] for row in rows], dtype=np.float64)
    y = np.array(answerable, dtype=np.float64)
    w = np.array(sample_weights, dtype=np.float64)
    means, scales = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-3)  # a constant signal must not divide by 0
    z = np.hstack([np.ones((len(x), 1)), (x - means) / scales])
    beta = np.zeros(z.shape[1])
    ridge = np.diag([0.0] + [1.0] * len(signals))
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(z @ beta)))
        gradient = z.T @ (w * (p - y)) + ridge @ beta
        hessian = (z * (w * p * (1 - p))[:, None]).T @ z + ridge
        step = np.linalg.solve(hessian, gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    logits = z @ beta
    escalate_at = float(np.quantile(logits[y == 1], ANSWERABLE_BELOW)) if y.any() else 0.0
    return Model(
        weights={name: round(float(b), 4) for name, b in zip(signals, beta[1:], strict=True)},
        means={name: round(float(m), 4) for name, m in zip(signals, means, strict=True)},
        scales={name: round(float(s), 4) for name, s in zip(signals, scales, strict=True)},
        bias=round(float(beta[0]), 4),
        escalate_at=round(escalate_at, 4),
    )


def assess(retrieval: Retrieval, *, high: float, low: float, model: Model | None = None) -> Assessment:
    signals = features(retrieval)
    model = model or model_for(signals)
    if not retrieval.articles:
        nothing = ["nothing in the knowledge base matched this ticket"]
        return Assessment(Confidence(score=0.0, level="low", reasons=nothing), "escalate", signals)
    title = retrieval.articles[0].best.chunk.title
    if retrieval.mode == "keyword":
        score, reasons = _keyword_only(retrieval, title, high)
    else:
        score = round(model.score(signals), 3)
        capped = signals["unknown_words"] >= UNKNOWN_TOLERATED and score >= high
        if capped:  # "reset my router's wifi password" to a KB with a password-reset article
            score = round(high - 0.01, 3)
        details = {
            "escalation_intent": retrieval.intent_category,
            "unknown_words": ", ".join(retrieval.unknown_terms[:4]),
        }
        reasons = _reasons(model, signals, title, details, score, high, low, "unknown_words" if capped else None)
    level = _level(score, high, low)
    return Assessment(Confidence(score=score, level=level, reasons=reasons), _decision(level), signals)


def drafter_says_unanswered(assessed: Assessment, drafter: str, *, low: float) -> Assessment:
    """Escalate when the drafter (an LLM that read ticket and evidence together) says they do not match."""
    score = round(min(assessed.confidence.score, max(0.0, low - 0.01)), 3)
    reasons = [f"escalated mainly because the {drafter} drafter found that the evidence does not answer the ticket"]
    reasons += assessed.confidence.reasons
    features = {**assessed.features, "drafter_answers": 0.0}
    return Assessment(Confidence(score=score, level="low", reasons=reasons), "escalate", features)


def _keyword_only(retrieval: Retrieval, title: str, high: float) -> tuple[float, list[str]]:
    # No semantic signal: keyword strength makes it "review" at best, never "answer". BM25 alone
    # tells answerable from out-of-scope poorly, so it is "review" unless most of the ticket's
    # weight is in words the KB never uses (names and chatter in a long ticket stay below 0.7).
    unknown = retrieval.unknown_share
    strength = min(1.0, max(0.0, (retrieval.top_lexical - 8.0) / 12.0))
    score = 0.36 + 0.2 * strength - 1.5 * max(0.0, unknown - UNKNOWN_TOLERATED)
    reasons = [f"keyword search only: best match “{title}”"]
    if unknown >= UNKNOWN_TOLERATED:
        shown = ", ".join(retrieval.unknown_terms[:4])
        reasons.append(f"{unknown:.0%} of the ticket's words never occur in the KB ({shown})")
    return round(max(0.0, min(high - 0.01, score)), 3), reasons


def _explain(name: str, value: float, title: str, detail: str) -> str:
    if name == "similarity":
        closeness = "close" if value >= 0.55 else "partial" if value >= 0.45 else "weak"
        return f"{closeness} match: “{title}” (similarity {value:.2f})"
    if name == "coverage":
        return f"the best article covers {value:.0%} of the ticket's topical words"
    if name == "token_match":
        return f"the ticket's key words match the best evidence at {value:.2f} (token match)"
    if name == "cooccurrence":
        return f"{value:.0%} of the ticket's key word pairs occur together in a KB section"
    if name == "unknown_words":
        return f"{value:.0%} of the ticket's words never occur in the KB" + (f" ({detail})" if detail else "")
    return f"close to a request that goes to people ({detail or 'escalation intent'}, {value:.2f})"


def _reasons(
    model: Model,
    signals: dict[str, float],
    title: str,
    details: dict[str, str],
    score: float,
    high: float,
    low: float,
    decider: str | None = None,
) -> list[str]:
    parts = model.contributions(signals)
    # The deciding signal: the one that pulled hardest in the direction of the decision.
    answering = score >= high
    if decider is None:
        decider = max(parts, key=parts.__getitem__) if answering else min(parts, key=parts.__getitem__)
    verb = "answered" if answering else "escalated" if score < low else "sent for review"
    reasons = [f"{verb} mainly because {_explain(decider, signals[decider], title, details.get(decider, ''))}"]
    for name in model.weights:
        # The other signals are listed when they are always informative or pulled the same way.
        if name != decider and (name in ("similarity", "coverage", "token_match") or parts[name] < -0.5):
            reasons.append(_explain(name, signals[name], title, details.get(name, "")))
    return reasons


def _level(score: float, high: float, low: float) -> Level:
    return "high" if score >= high else "medium" if score >= low else "low"


def _decision(level: Level) -> Decision:
    return "answer" if level == "high" else "review" if level == "medium" else "escalate"
