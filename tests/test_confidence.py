"""The confidence model itself: fitting, the escalation point, and the score scale the thresholds use."""

from __future__ import annotations

import dataclasses
import random

from rag import confidence
from rag.confidence import LOW_ANCHOR, SHIPPED, SIGNALS, assess, fit
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
        }
        for _ in range(n)
    ]


def test_fit_learns_the_direction_of_every_signal_and_puts_the_escalation_point_at_3_percent() -> None:
    good, bad = _rows(1, 200, True), _rows(2, 200, False)
    model = fit(good + bad, [True] * 200 + [False] * 200, [1.0] * 400)
    assert set(model.weights) == set(SIGNALS)
    assert model.weights["similarity"] > 0 and model.weights["coverage"] > 0
    assert model.weights["escalation_intent"] < 0 and model.weights["unknown_words"] < 0
    assert model.weights["cooccurrence"] > 0
    escalated_good = sum(model.decide(r) == "escalate" for r in good)
    assert escalated_good <= 0.03 * len(good) + 1
    assert sum(model.decide(r) == "escalate" for r in bad) > 0.8 * len(bad)


def test_the_escalation_point_scores_exactly_the_low_threshold() -> None:
    good, bad = _rows(3, 100, True), _rows(4, 100, False)
    model = fit(good + bad, [True] * 100 + [False] * 100, [1.0] * 200)
    scores = sorted(model.score(r) for r in good)
    # The 3% quantile of the answerable fitting tickets sits on KB_CONFIDENCE_LOW's default.
    assert abs(scores[3] - LOW_ANCHOR) < 0.05


def test_sample_weights_make_probes_count_less() -> None:
    good, bad = _rows(5, 100, True), _rows(6, 100, False)
    light = fit(good + bad, [True] * 100 + [False] * 100, [1.0] * 100 + [confidence.PROBE_WEIGHT] * 100)
    heavy = fit(good + bad, [True] * 100 + [False] * 100, [1.0] * 200)
    assert light.bias > heavy.bias  # fewer effective negatives: a higher prior of "answerable"


def test_a_constant_signal_does_not_break_fitting() -> None:
    rows = [{**r, "similarity": 0.0} for r in _rows(7, 50, True) + _rows(8, 50, False)]
    model = fit(rows, [True] * 50 + [False] * 50, [1.0] * 100)
    assert model.scales["similarity"] > 0 and 0.0 <= model.score(rows[0]) <= 1.0


def test_the_shipped_model_uses_every_signal() -> None:
    assert set(SHIPPED.weights) == set(SIGNALS) and SHIPPED.weights["similarity"] > 0


def test_the_shipped_model_trusts_words_the_kb_uses_together() -> None:
    assert SHIPPED.weights["cooccurrence"] > 0


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
    # The same real retrieval, but as if the ticket's rare words never met in one section:
    # confidence drops and, when nothing else pulls harder, the first reason says why.
    retrieval = await engine.kb.search("How do I export my timesheets to CSV?")
    apart = dataclasses.replace(retrieval, cooccurrence=0.0)
    together = dataclasses.replace(retrieval, cooccurrence=1.0)
    low, high = engine.settings.kb_confidence_low, engine.settings.kb_confidence_high
    assert assess(apart, high=high, low=low).confidence.score < assess(together, high=high, low=low).confidence.score
    # Every other signal at its fitting mean: co-occurrence is what pulls hardest, so it decides.
    means = SHIPPED.means
    middling = dataclasses.replace(
        apart, top_dense=means["similarity"], unknown_share=means["unknown_words"], intent=means["escalation_intent"]
    )
    first = assess(middling, high=high, low=low).confidence.reasons[0]
    assert first.startswith("escalated mainly because 0% of the ticket's key word pairs occur together"), first
