"""Token match: token states kept at ingest, the signal at query time, and the model that uses it."""

from __future__ import annotations

import dataclasses
import sqlite3

import numpy as np

from ingest.pipeline import ingest
from rag.confidence import SHIPPED, SHIPPED_WORDS, SIGNALS, WORD_SIGNALS, assess, model_for
from rag.embedders.local import LocalEmbedder
from rag.engine import Engine
from rag.factory import build_kb
from rag.settings import Settings
from rag.token_match import pack, unpack
from tests.conftest import SAMPLE_KB


def test_packed_token_states_keep_their_cosines() -> None:
    rng = np.random.default_rng(0)
    states = rng.normal(size=(40, 384)).astype(np.float32)
    states /= np.linalg.norm(states, axis=1, keepdims=True)
    back = unpack(pack(states), 384)
    assert back.shape == states.shape
    assert np.abs((states * back).sum(axis=1) - 1.0).max() < 0.01  # int8 with a scale a token
    assert len(pack(states)) == 40 * (384 + 2)
    assert unpack(pack(states[:0]), 384).shape == (0, 384)


def _forget_token_states(settings: Settings) -> None:
    """Make the data dir look like one ingested before token states were kept."""
    with sqlite3.connect(settings.db_path) as db:
        db.execute("DELETE FROM token_states")


async def test_ingest_keeps_token_states_for_every_chunk_and_backfills_an_older_kb(
    settings: Settings, embedder: LocalEmbedder
) -> None:
    kb = build_kb(settings, embedder=embedder)  # the sample KB, ingested
    try:
        assert kb.catalog.chunks_without_token_states() == []
        _forget_token_states(settings)
        assert len(kb.catalog.chunks_without_token_states()) == kb.counts()[1]
        summary = await ingest(kb, [SAMPLE_KB])  # its next ingest computes them once
        assert summary.chunks_embedded == 0  # the articles themselves are unchanged
        assert kb.catalog.chunks_without_token_states() == []
    finally:
        await kb.close(embedder=False)


async def test_an_answerable_ticket_matches_its_evidence_word_for_word_and_an_off_topic_one_does_not(
    engine: Engine,
) -> None:
    inside = await engine.kb.search("How do I export my timesheets to CSV?")
    # The KB's own words ("timesheets", "team"), an ask it never covers (printing, mailing).
    outside = await engine.kb.search("Can you print our team's timesheets and mail them to our accountant?")
    assert inside.token_match is not None and outside.token_match is not None
    assert inside.token_match > outside.token_match + 0.2
    # Words the KB never uses are left to the unknown-words signal; none known: nothing matched.
    nothing = await engine.kb.search("zxqv blorft")
    assert nothing.token_match == 0.0
    _, assessed = await engine.answer_with_assessment("How do I export my timesheets to CSV?")
    assert set(SIGNALS) <= set(assessed.features)


async def test_the_badge_names_token_match_when_it_decides(engine: Engine) -> None:
    retrieval = await engine.kb.search("How do I export my timesheets to CSV?")
    means = SHIPPED.means
    middling = dataclasses.replace(
        retrieval,
        top_dense=means["similarity"],
        unknown_share=means["unknown_words"],
        intent=means["escalation_intent"],
        cooccurrence=means["cooccurrence"],
        token_match=0.2,
    )
    low, high = engine.settings.kb_confidence_low, engine.settings.kb_confidence_high
    assessed = assess(middling, high=high, low=low)
    assert assessed.decision == "escalate"
    assert "token match" in assessed.confidence.reasons[0], assessed.confidence.reasons


async def test_a_kb_without_token_states_is_judged_by_the_word_signals_alone(
    settings: Settings, embedder: LocalEmbedder
) -> None:
    _forget_token_states(settings)
    kb = build_kb(settings, embedder=embedder)
    try:
        retrieval = await kb.search("How do I export my timesheets to CSV?")
        assert retrieval.token_match is None
        assessed = assess(retrieval, high=0.6, low=0.35)
        assert set(assessed.features) == set(WORD_SIGNALS)
        assert model_for(assessed.features) is SHIPPED_WORDS
        assert assessed.decision == "answer"
    finally:
        await kb.close(embedder=False)
