"""Gaps: clustering and labels, the report over the records store, its HTML, and the two doors to it
(`kb gaps`, `GET /api/v1/gaps`); `POST /api/v1/feedback` feeding it."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from bot.cli import main as kb_main
from bot.gaps import GapReport, agglomerate, build_gap_report, render_html, render_text, topic_keywords
from bot.gaps.html import SERIES
from bot.http.app import build_http_app
from bot.http.openapi import GAPS_EXAMPLE
from bot.records import AnswerRecord, SqliteRecordStore, open_records
from rag.engine import Engine
from tests.conftest import make_settings
from tests.test_slack_blocks import make_answer

KEY = "gaps-key"
AUTH = {"X-API-Key": KEY}
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]

BAGGAGE = [
    "My suitcase never arrived after my flight from Madrid, how do I file a lost baggage claim?",
    "The airline damaged my luggage, one wheel is broken. Who pays for the repair?",
    "How many kilos can I bring in checked baggage on an economy ticket?",
]
PRINTER = [
    "The office printer keeps jamming on page two, paper gets stuck in the tray.",
    "Our printer says it is offline even though it is connected to the wifi.",
    "The printer only prints blank pages since we changed the ink.",
]


def gap(request_id: str, ticket: str, *, days_ago: float = 0, level: str = "low", **kw: Any) -> AnswerRecord:
    decision = {"low": "escalate", "medium": "review", "high": "answer"}[level]
    answer = make_answer(
        request_id=request_id,
        decision=decision,
        confidence={"score": {"high": 0.8, "medium": 0.5, "low": 0.1}[level], "level": level},
    )
    return AnswerRecord(
        answer=answer,
        ticket=ticket,
        user="key-1",
        door=kw.pop("door", "http"),
        created_at=time.time() - days_ago * 86_400,
        **kw,
    )


# --- clustering and labels ------------------------------------------------------------------------------
def test_agglomerate_groups_by_average_similarity_biggest_first() -> None:
    rng = np.random.default_rng(7)
    centres = np.eye(8, dtype=np.float32)[:3]
    rows = [centres[c] + rng.normal(0, 0.15, 8).astype(np.float32) for c in (0, 1, 0, 2, 0, 1)]
    vectors = np.array([r / np.linalg.norm(r) for r in rows], dtype=np.float32)
    assert agglomerate(vectors, 0.5) == [[0, 2, 4], [1, 5], [3]]
    assert agglomerate(vectors, 0.999) == [[i] for i in range(6)]  # nothing that alike: one topic each
    assert agglomerate(vectors, -1.0) == [[0, 1, 2, 3, 4, 5]]
    assert agglomerate(np.zeros((0, 8), dtype=np.float32)) == []
    assert agglomerate(vectors[:1]) == [[0]]


def test_topic_keywords_are_the_words_that_set_a_topic_apart() -> None:
    texts = [*BAGGAGE, *PRINTER, "Mail [EMAIL_1] about my printer toner, thanks!"]
    [baggage, printer] = topic_keywords(texts, [[0, 1, 2], [3, 4, 5, 6]])
    assert "baggage" in baggage and "printer" not in baggage
    assert printer[0] == "printer" and "email" not in printer and "thanks" not in printer
    assert all(len(k) <= 3 for k in (baggage, printer))


# --- the report ------------------------------------------------------------------------------------------
async def test_report_groups_the_gaps_of_the_period_with_timeline_examples_and_closest_article(
    engine: Engine, tmp_path: Path
) -> None:
    store = SqliteRecordStore(tmp_path / "records.sqlite3")
    for i, text in enumerate(BAGGAGE):
        store.record_answer(gap(f"bag{i}", text, days_ago=i))
    for i, text in enumerate(PRINTER):
        store.record_answer(gap(f"prn{i}", text, days_ago=2, door="mention"))
    store.record_answer(gap("pw", "The password reset link in your e-mail says it expired", level="high"))
    store.add_feedback("pw", user="U1", verdict="not_helpful")
    store.record_answer(gap("fine", "How do I export my timesheets?", level="high"))
    store.record_answer(gap("old", BAGGAGE[0], days_ago=10))

    report = await build_gap_report(store, engine.kb.embedder, kb=engine.kb, days=7)
    assert report.total == 7 == sum(t.count for t in report.topics)
    assert (report.escalated, report.rated_down, report.low_confidence) == (6, 1, 6)
    assert (
        len(report.bins) == 8 and report.bin_days == 1 and report.bins[-1] == time.strftime("%Y-%m-%d", time.gmtime())
    )
    by_ids = {frozenset(t.request_ids): t for t in report.topics}
    baggage = by_ids[frozenset({"bag0", "bag1", "bag2"})]
    printer = by_ids[frozenset({"prn0", "prn1", "prn2"})]
    password = by_ids[frozenset({"pw"})]
    assert "baggage" in baggage.keywords and "printer" in printer.label
    assert baggage.timeline[-3:] == [1, 1, 1] and sum(printer.timeline) == 3 and printer.timeline[-3] == 3
    assert (printer.doors, baggage.doors) == ({"slack": 3}, {"http": 3})
    assert len(baggage.examples) == 3 and baggage.examples[0].escalated
    assert (password.rated_down, password.escalated, password.examples[0].rated_down) == (1, 0, True)
    assert password.closest_article is not None and password.closest_article.article_id == "reset-your-password"
    assert password.closest_article.similarity > baggage.closest_article.similarity  # type: ignore[union-attr]
    assert [t.id for t in report.topics] == [1, 2, 3] and report.topics[2] is password
    assert report.notes == []

    text = render_text(report)
    assert "3 topic(s)" in text and "closest article: Reset your password" in text

    alone = await build_gap_report(store, engine.kb.embedder, days=30)  # no KB: no closest articles, said so
    assert alone.total == 8 and all(t.closest_article is None for t in alone.topics) and alone.notes
    assert alone.bin_days == 1 and len(alone.bins) == 31
    weekly = await build_gap_report(store, engine.kb.embedder, days=60)
    assert weekly.bin_days == 7 and sum(weekly.topics[0].timeline) == weekly.topics[0].count


class CountingEmbedder:
    """The real model, counting what it is asked to embed."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.name, self.model_id, self.dimension = inner.name, inner.model_id, inner.dimension
        self.texts: list[str] = []

    async def embed(self, texts: Any) -> Any:
        self.texts += list(texts)
        return await self.inner.embed(texts)

    async def close(self) -> None:
        pass


async def test_each_ticket_is_embedded_once_per_model(engine: Engine, tmp_path: Path) -> None:
    store = SqliteRecordStore(tmp_path / "records.sqlite3")
    for i, text in enumerate(BAGGAGE):
        store.record_answer(gap(f"bag{i}", text))
    counting = CountingEmbedder(engine.kb.embedder)
    first = await build_gap_report(store, counting, days=7)
    assert sorted(counting.texts) == sorted(BAGGAGE)
    again = await build_gap_report(store, counting, days=7)
    assert len(counting.texts) == 3 and again.topics == first.topics  # from the stored vectors, same topics
    store.record_answer(gap("bag0", PRINTER[0]))  # the same request id answered again: its vector is redone
    after = await build_gap_report(store, counting, days=7)
    assert counting.texts[3:] == [PRINTER[0]] and sorted(t.count for t in after.topics) == [1, 2]


async def test_an_empty_period_is_an_empty_report(engine: Engine, tmp_path: Path) -> None:
    report = await build_gap_report(SqliteRecordStore(tmp_path / "r.sqlite3"), engine.kb.embedder, kb=engine.kb)
    assert (report.total, report.topics) == (0, [])
    assert "No gaps in the last 7 days" in render_text(report)
    assert "<svg" in render_html(report)


def test_html_is_self_contained_and_escapes_what_it_shows() -> None:
    report = GapReport.model_validate(
        {
            **EXAMPLE_REPORT,
            "topics": [
                {
                    **EXAMPLE_REPORT["topics"][0],
                    "label": "<script>alert(1)</script>",
                    "examples": [{**EXAMPLE_REPORT["topics"][0]["examples"][0], "ticket": "<img src=x onerror=1>"}],
                }
            ],
        }
    )
    page = render_html(report, generated=0)
    assert page.startswith("<!doctype html>") and "<svg" in page and 'class="bar"' in page
    assert "<script" not in page and "<img" not in page and "&lt;script&gt;" in page
    external = re.findall(r"""(?:src|href)\s*=\s*["']?(?!https://help\.example\.com)[a-z]+:""", page, re.I)
    assert external == [] and "<link" not in page and "@import" not in page and "url(" not in page
    assert 'href="https://help.example.com/mobile-sync"' in page  # the article link, for people to click


EXAMPLE_REPORT: dict[str, Any] = GAPS_EXAMPLE


# --- the doors: HTTP ------------------------------------------------------------------------------------
@pytest.fixture
async def client(aiohttp_client: ClientFactory, engine: Engine, data_dir: Path) -> TestClient[Any, Any]:
    return await aiohttp_client(build_http_app(engine, make_settings(data_dir, kb_api_keys=KEY)))


async def test_feedback_is_stored_for_a_recorded_answer_and_404_otherwise(
    client: TestClient[Any, Any], data_dir: Path
) -> None:
    resp = await client.post(
        "/api/v1/generate-response", json={"ticket": "I forgot my password", "subject": "Login"}, headers=AUTH
    )
    answer = await resp.json()
    record = open_records(make_settings(data_dir)).answer(answer["request_id"])
    assert record is not None and record.door == "http" and record.view == "draft"
    assert record.ticket == "Login\n\nI forgot my password" and record.user.startswith("key-")

    resp = await client.post(
        "/api/v1/feedback",
        json={"request_id": answer["request_id"], "rating": "down", "comment": " Wrong article "},
        headers=AUTH,
    )
    assert resp.status == 201, await resp.text()
    stored = await resp.json()
    assert stored["id"] >= 1 and stored["rating"] == "down" and stored["comment"] == "Wrong article"
    level = answer["confidence"]["level"]
    assert (stored["source"], stored["decision"], stored["level"]) == ("http", answer["decision"], level)
    assert stored["sources"] == [s["chunk_id"] for s in answer["sources"]] and stored["user"] == record.user
    assert stored["created_at"].endswith("Z")
    resp = await client.post(
        "/api/v1/feedback", json={"request_id": answer["request_id"], "rating": "helpful"}, headers=AUTH
    )
    assert resp.status == 201 and (await resp.json())["rating"] == "up"

    resp = await client.post("/api/v1/feedback", json={"request_id": "nope", "rating": "up"}, headers=AUTH)
    assert resp.status == 404
    error = (await resp.json())["error"]
    assert error["code"] == "unknown_request" and "nope" in error["message"]
    assert error["request_id"] == resp.headers["X-Request-ID"]
    for body in ({"request_id": answer["request_id"], "rating": "meh"}, {"rating": "up"}, {"request_id": "x"}):
        resp = await client.post("/api/v1/feedback", json=body, headers=AUTH)
        assert resp.status == 422 and (await resp.json())["error"]["code"] == "invalid_fields"
    assert (await client.post("/api/v1/feedback", json={"request_id": "x", "rating": "up"})).status == 401


async def test_required_data_answers_are_recorded_too(client: TestClient[Any, Any], data_dir: Path) -> None:
    resp = await client.post(
        "/api/v1/required-data", json={"ticket": "Please delete my account ana@example.com"}, headers=AUTH
    )
    record = open_records(make_settings(data_dir)).answer((await resp.json())["request_id"])
    assert record is not None and record.view == "required" and record.ticket == "Please delete my account [EMAIL_1]"


async def test_gaps_route_validates_its_query(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/api/v1/gaps", headers=AUTH)
    assert resp.status == 200 and (await resp.json())["total"] == 0
    for query, loc in (("days=0", ["query", "days"]), ("days=x", ["query", "days"]), ("limit=3", ["query", "limit"])):
        resp = await client.get(f"/api/v1/gaps?{query}", headers=AUTH)
        assert resp.status == 422
        assert (await resp.json())["error"]["details"][0]["loc"] == loc
    assert (await client.get("/api/v1/gaps")).status == 401


# --- the doors: CLI -----------------------------------------------------------------------------------
def test_kb_ask_records_its_answers_unless_told_not_to(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kb_main(["ask", "--json", "--data-dir", str(data_dir), "my gym card does not open the turnstile"]) == 0
    request_id = json.loads(capsys.readouterr().out)["request_id"]
    record = open_records(make_settings(data_dir)).answer(request_id)
    assert record is not None and (record.door, record.user) == ("cli", "cli")
    assert kb_main(["ask", "--json", "--no-record", "--data-dir", str(data_dir), "another one"]) == 0
    assert open_records(make_settings(data_dir)).answer(json.loads(capsys.readouterr().out)["request_id"]) is None

    assert kb_main(["gaps", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Gaps in the KB, last 7 days") and "turnstile" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gaps", "--days", "0"], "--days takes a whole number of days from 1 to 365"),
        (["gaps", "--min-similarity", "2"], "--min-similarity takes a number between 0 and 1"),
        (["gaps", "--json", "--html", "x.html"], "not allowed with argument"),
    ],
)
def test_kb_gaps_refuses_bad_arguments_in_one_line(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kb_main([*argv, "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_kb_gaps_without_records_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert kb_main(["gaps", "--data-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.strip() == f"No answers recorded in {tmp_path / 'feedback.sqlite3'} yet."
    assert list(tmp_path.iterdir()) == []


async def test_kb_gaps_json_and_html_on_a_store(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_records(make_settings(data_dir))
    for i, text in enumerate(BAGGAGE + PRINTER):
        store.record_answer(gap(f"r{i}", text, days_ago=i % 3))
    assert await asyncio.to_thread(kb_main, ["gaps", "--json", "--data-dir", str(data_dir)]) == 0
    report = GapReport.model_validate_json(capsys.readouterr().out)
    assert report.total == 6 and sorted(t.count for t in report.topics) == [3, 3]
    html = tmp_path / "gaps.html"
    assert await asyncio.to_thread(kb_main, ["gaps", "--html", str(html), "--data-dir", str(data_dir)]) == 0
    assert capsys.readouterr().out.strip() == f"wrote {html}: 2 topic(s), 6 answer(s)"
    page = html.read_text(encoding="utf-8")
    assert page.count('class="bar"') == 6 and SERIES[0] in page and SERIES[1] in page  # 3 days x 2 topics
