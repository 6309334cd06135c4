"""The confidence model itself: fitting, the escalation point, and the score scale the thresholds use."""

from __future__ import annotations

import dataclasses
import random

import pytest

from rag import confidence
from rag.confidence import LOW_ANCHOR, SHIPPED, SHIPPED_WORDS, SIGNALS, TOKEN_SIGNALS, WORD_SIGNALS, assess, fit
from rag.cooccurrence import cooccurrence
from rag.engine import Engine


def _rows(seed: int, n: int, answerable: bool) -> list[dict[str, float]]:
    rng = random.Random(seed)
    shift = 0.25 if answerable else 0.0
    return [
        {
            "similarity": 0.35 + shift + rng.gauss(0, 0.08),
            "coverage": 0.2 + shift + rng.gauss(0, 0.1),
            "escalation_intent": 0.3 - shift / 2 + rng.gauss(0, 0.05),
            "unknown_words": 0.4 - shift + rng.gauss(0, 0.1),
            "cooccurrence": 0.3 + shift + rng.gauss(0, 0.15),
            "token_match": 0.4 + shift / 2 + rng.gauss(0, 0.05),
        }
        for _ in range(n)
    ]


def test_fit_learns_the_direction_of_every_signal_and_puts_the_escalation_point_at_its_share() -> None:
    good, bad = _rows(1, 200, True), _rows(2, 200, False)
    model = fit(good + bad, [True] * 200 + [False] * 200, [1.0] * 400)
    assert set(model.weights) == set(TOKEN_SIGNALS)  # every row has token_match: it replaces coverage
    assert model.weights["similarity"] > 0 and model.weights["token_match"] > 0
    assert model.weights["escalation_intent"] < 0 and model.weights["unknown_words"] < 0
    assert model.weights["cooccurrence"] > 0
    escalated_good = sum(model.decide(r) == "escalate" for r in good)
    assert escalated_good <= confidence.ANSWERABLE_BELOW * len(good) + 1
    assert sum(model.decide(r) == "escalate" for r in bad) > 0.8 * len(bad)


def test_rows_without_token_match_fit_the_word_signals() -> None:
    good, bad = _rows(11, 200, True), _rows(12, 200, False)
    rows = [{k: v for k, v in r.items() if k != "token_match"} for r in good + bad[:-1]] + [bad[-1]]
    model = fit(rows, [True] * 200 + [False] * 200, [1.0] * 400)
    assert set(model.weights) == set(WORD_SIGNALS) and model.weights["coverage"] > 0


def test_the_escalation_point_scores_exactly_the_low_threshold() -> None:
    good, bad = _rows(3, 100, True), _rows(4, 100, False)
    model = fit(good + bad, [True] * 100 + [False] * 100, [1.0] * 200)
    scores = sorted(model.score(r) for r in good)
    # The ANSWERABLE_BELOW quantile of the answerable fitting tickets sits on KB_CONFIDENCE_LOW's default.
    assert abs(scores[round(confidence.ANSWERABLE_BELOW * len(scores))] - LOW_ANCHOR) < 0.05


def test_sample_weights_make_probes_count_less() -> None:
    good, bad = _rows(5, 100, True), _rows(6, 100, False)
    light = fit(good + bad, [True] * 100 + [False] * 100, [1.0] * 100 + [confidence.PROBE_WEIGHT] * 100)
    heavy = fit(good + bad, [True] * 100 + [False] * 100, [1.0] * 200)
    assert light.bias > heavy.bias  # fewer effective negatives: a higher prior of "answerable"


def test_a_constant_signal_does_not_break_fitting() -> None:
    rows = [{**r, "similarity": 0.0} for r in _rows(7, 50, True) + _rows(8, 50, False)]
    model = fit(rows, [True] * 50 + [False] * 50, [1.0] * 100)
    assert model.scales["similarity"] > 0 and 0.0 <= model.score(rows[0]) <= 1.0


def test_the_shipped_models_use_every_signal_they_are_for() -> None:
    assert set(SHIPPED.weights) == set(TOKEN_SIGNALS) and SHIPPED.weights["similarity"] > 0
    assert set(SHIPPED_WORDS.weights) == set(WORD_SIGNALS) and SHIPPED_WORDS.weights["similarity"] > 0
    assert set(TOKEN_SIGNALS) | set(WORD_SIGNALS) == set(SIGNALS)


def test_the_shipped_models_trust_words_the_kb_uses_together_and_found_in_the_evidence() -> None:
    assert SHIPPED_WORDS.weights["cooccurrence"] > 0 and SHIPPED_WORDS.weights["coverage"] > 0
    assert SHIPPED.weights["token_match"] > 0 and SHIPPED.weights["unknown_words"] < 0


async def test_an_articles_own_words_cooccur_and_words_from_unrelated_articles_do_not(engine: Engine) -> None:
    catalog = engine.kb.catalog
    # A section heading's words all sit in that section; the rarest words of two unrelated
    # articles' titles mostly never share one.
    chunks = catalog.get_chunks([f"{aid}#0" for aid in sorted(catalog.article_sources())])
    title = next(c.title for c in chunks.values() if len(c.title.split()) >= 3)
    assert cooccurrence(catalog, title) == 1.0
    retrieval = await engine.kb.search(title)
    assert retrieval.cooccurrence == 1.0
    pairs = [
        cooccurrence(catalog, f"{a.title} {b.title}")
        for a, b in zip(list(chunks.values()), list(chunks.values())[1:], strict=False)
    ]
    assert min(pairs) < 1.0
    assert cooccurrence(catalog, "hello") == 1.0  # one known word or none: nothing to judge


async def test_the_engine_reads_cooccurrence_and_the_badge_names_it_when_it_decides(engine: Engine) -> None:
    _, assessed = await engine.answer_with_assessment("How do I export my timesheets to CSV?")
    assert set(SIGNALS) <= set(assessed.features)
    assert 0.0 <= assessed.features["cooccurrence"] <= 1.0
    # The same real retrieval, but as if the ticket's rare words never met in one section (and
    # judged by the word signals, where co-occurrence carries weight: with token match it is ~0):
    # confidence drops and, when nothing else pulls harder, the first reason says why.
    retrieval = dataclasses.replace(await engine.kb.search("How do I export my timesheets to CSV?"), token_match=None)
    apart = dataclasses.replace(retrieval, cooccurrence=0.0)
    together = dataclasses.replace(retrieval, cooccurrence=1.0)
    low, high = engine.settings.kb_confidence_low, engine.settings.kb_confidence_high
    # (compared before the score's clamp: a clear match scores 1.0 either way)
    apart_features, together_features = (
        assess(apart, high=high, low=low).features,
        assess(together, high=high, low=low).features,
    )
    assert SHIPPED_WORDS.logit(apart_features) < SHIPPED_WORDS.logit(together_features)
    # Every other signal at its fitting mean: co-occurrence is what pulls hardest, so it decides.
    means = SHIPPED_WORDS.means
    middling = dataclasses.replace(
        apart, top_dense=means["similarity"], unknown_share=means["unknown_words"], intent=means["escalation_intent"]
    )
    first = assess(middling, high=high, low=low).confidence.reasons[0]
    assert first.startswith("escalated mainly because 0% of the ticket's key word pairs occur together"), first


async def test_a_ticket_mostly_in_words_the_kb_never_uses_is_at_most_sent_for_review(engine: Engine) -> None:
    # "reset" and "password" match an article word for word; "router" and "wifi" are nowhere in the KB.
    _, assessed = await engine.answer_with_assessment("can you reset my router's wifi password?")
    assert assessed.features["unknown_words"] >= confidence.UNKNOWN_TOLERATED
    assert assessed.decision in ("review", "escalate")
    first = assessed.confidence.reasons[0]
    assert "never occur in the KB (router, wifi)" in first, first
    # A clear ticket in the KB's words is still answered.
    _, clear = await engine.answer_with_assessment("How do I export my timesheets to CSV?")
    assert clear.decision == "answer"


@pytest.mark.parametrize(
    ("ticket", "category"),
    [
        ("I crashed on one of your bikes because the brake failed and I broke my wrist", "safety"),
        ("We received a subpoena for one of your user's records", "legal"),
        ("There is a charge from you on my card that I don't recognise", "dispute"),
    ],
)
async def test_requests_for_people_are_named_by_their_category(engine: Engine, ticket: str, category: str) -> None:
    retrieval = await engine.kb.search(ticket)
    assert retrieval.intent_category == category
    assert retrieval.intent >= 0.4
