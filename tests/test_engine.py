"""The engine on the embedded default, over the sample KB: retrieval, confidence, required data, schema."""

from __future__ import annotations

import json

import pytest

from rag.engine import Engine
from rag.models import Answer, Ticket
from tests.conftest import SAMPLE_TICKETS

TICKETS = [json.loads(line) for line in SAMPLE_TICKETS.read_text().splitlines() if line.strip()]
ANSWERABLE = [t for t in TICKETS if t["expect"] == "answer"]
OUT_OF_SCOPE = [t for t in TICKETS if t["expect"] == "escalate"]
DESIGN_KEYS = {
    "request_id",
    "decision",
    "confidence",
    "required_data",
    "draft",
    "sources",
    "backends",
    "degraded",
    "timings_ms",
}


async def test_answer_has_the_design_schema(engine: Engine) -> None:
    answer = await engine.answer("How do I reset my password? The reset e-mail never arrives.", request_id="req-1")
    data = json.loads(answer.model_dump_json())
    assert set(data) >= DESIGN_KEYS
    assert data["request_id"] == "req-1"
    assert set(data["confidence"]) == {"score", "level", "reasons"} and 0 <= data["confidence"]["score"] <= 1
    assert data["backends"] == {"embedder": "local-minilm", "store": "sqlite", "drafter": "extractive"}
    assert data["degraded"] is False
    assert {"embed", "retrieve", "draft", "total"} <= set(data["timings_ms"])
    source = data["sources"][0]
    assert {"article_id", "chunk_id", "title", "url", "tier", "score"} <= set(source)
    assert source["chunk_id"].startswith(source["article_id"] + "#")
    assert Answer.model_validate(data) == answer


@pytest.mark.parametrize("row", ANSWERABLE, ids=[t["id"] for t in ANSWERABLE])
async def test_relevant_article_is_in_the_top_five_sources(engine: Engine, row: dict) -> None:
    answer = await engine.answer(row["ticket"])
    assert set(row["relevant"]) & {s.article_id for s in answer.sources}


async def test_at_most_one_in_ten_answerable_tickets_escalates(engine: Engine) -> None:
    answers = [await engine.answer(t["ticket"]) for t in ANSWERABLE]
    escalated = [t["id"] for t, a in zip(ANSWERABLE, answers, strict=True) if a.decision == "escalate"]
    assert len(escalated) <= len(ANSWERABLE) // 10, escalated


OFF_TOPIC = [
    "My suitcase didn't arrive in Denver, who do I contact about lost baggage?",
    "We received a subpoena and need you to produce all login records for one of your users.",
]


async def test_out_of_scope_tickets_escalate_with_a_holding_reply(engine: Engine) -> None:
    answers = [await engine.answer(t) for t in OFF_TOPIC] + [await engine.answer(t["ticket"]) for t in OUT_OF_SCOPE]
    escalated = [a for a in answers if a.decision == "escalate"]
    assert all(a.decision == "escalate" for a in answers[: len(OFF_TOPIC)]), [a.confidence for a in answers]
    assert len(escalated) >= len(OFF_TOPIC) + len(OUT_OF_SCOPE) // 2, [a.confidence for a in answers]
    # Shares "reset … password" with an article, so it may only get as far as review, never an answer.
    assert (await engine.answer("can you reset my router's wifi password?")).decision != "answer"
    for answer in escalated:
        assert answer.confidence.level == "low"
        assert "checking this with the right team" in answer.draft
        assert "https://" not in answer.draft  # no pretend answer, no links as if it knew


async def test_a_clear_ticket_answers_with_steps_warnings_and_links(engine: Engine) -> None:
    answer = await engine.answer(
        "I lost my phone with the authenticator app and can't sign in. I have my recovery codes."
    )
    assert answer.decision == "answer" and answer.confidence.level == "high"
    assert answer.sources[0].article_id == "two-factor-authentication"
    assert "https://help.tallyhive.example/articles/two-factor-authentication" in answer.draft
    assert "recovery code" in answer.draft.lower()
    assert any("similarity" in r for r in answer.confidence.reasons)
    assert answer.confidence.reasons[0].startswith("answered mainly because")


async def test_the_first_reason_names_the_signal_that_decided(engine: Engine) -> None:
    answer = await engine.answer("We received a subpoena and need you to produce all login records for one user.")
    first = answer.confidence.reasons[0]
    assert answer.decision == "escalate" and first.startswith("escalated mainly because")
    assert any(word in first for word in ("similarity", "covers", "never occur", "goes to people"))
    review = await engine.answer("can you reset my router's wifi password?")
    assert review.decision != "answer" and "(router, wifi)" in review.confidence.reasons[0]


async def test_evidence_is_ordered_by_tier_within_an_article(engine: Engine) -> None:
    retrieval = await engine.kb.retriever.retrieve("refund for a duplicate charge on my invoice")
    for article in retrieval.articles:
        ranks = [
            h.score + {"CRITICAL": 0.08, "HIGH": 0.04, "MEDIUM": 0.0, "LOW": -0.04}[h.chunk.tier.value]
            for h in article.hits
        ]
        assert ranks == sorted(ranks, reverse=True)
    assert len({a.article_id for a in retrieval.articles}) == len(retrieval.articles)  # grouped by article


async def test_required_data_leaves_out_what_the_ticket_already_gives(engine: Engine) -> None:
    asked = await engine.answer("I was charged twice for our workspace this month, please refund the duplicate.")
    # The KB's own words ("contact support with the invoice number"), with the section it comes from.
    invoice = [r for r in asked.required_data if "invoice" in r.item]
    assert invoice and all(r.source_ids and r.why for r in invoice)
    given = await engine.answer(
        "I was charged twice for our workspace this month, please refund the duplicate. Invoice INV-2026-004512."
    )
    assert not any("invoice" in r.item for r in given.required_data), given.required_data


async def test_error_reports_without_the_error_ask_for_it(engine: Engine) -> None:
    vague = await engine.answer("The browser extension fails every time I start a timer")
    assert "exact error message or code" in {r.item for r in vague.required_data}
    quoted = await engine.answer("The browser extension fails every time I start a timer with error TH-401")
    assert "exact error message or code" not in {r.item for r in quoted.required_data}


async def test_customer_name_and_subject_are_used(engine: Engine) -> None:
    answer = await engine.answer(
        Ticket(ticket="it keeps logging me out", subject="Password reset", customer="Dana Whitfield")
    )
    assert answer.draft.startswith("Hi Dana,")


async def test_keyword_and_dense_modes_answer_too(settings, embedder) -> None:
    from rag.factory import build_engine

    for mode in ("keyword", "dense"):
        engine = build_engine(settings, embedder=embedder, mode=mode)
        try:
            answer = await engine.answer("How do I export my timesheets to Excel?")
            assert answer.sources[0].article_id == "export-timesheets"
        finally:
            await engine.close()


async def test_retrieval_mode_comes_from_settings(data_dir, embedder) -> None:
    from rag.factory import build_engine
    from tests.conftest import make_settings

    engine = build_engine(make_settings(data_dir, kb_retrieval_mode="keyword"), embedder=embedder)
    try:
        answer = await engine.answer("How do I export my timesheets to Excel?")
        assert engine.kb.mode == "keyword" and answer.sources[0].article_id == "export-timesheets"
        assert answer.confidence.level != "high"  # keyword evidence alone never answers on its own
    finally:
        await engine.close()
