"""The records store (bot.records) and the `kb feedback` report.

The contract tests run on both implementations (`records_store`: SQLite under KB_DATA_DIR, and
PostgreSQL at KB_DATABASE_URL on a throwaway server, a fresh database each); SQLite's file format
and PostgreSQL's migrations and connections have tests of their own (here, test_records_postgres.py).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.records import (
    MIGRATIONS,
    AnswerRecord,
    RecordStore,
    SqliteRecordStore,
    feedback_report,
    open_records,
)
from bot.records.sqlite import _migration_1
from rag.settings import Settings
from tests.conftest import make_settings
from tests.postgres_server import PostgresServer, postgres_server
from tests.test_slack_blocks import make_answer


def record(request_id: str, level: str = "high", decision: str = "answer", **kw: object) -> AnswerRecord:
    answer = make_answer(
        request_id=request_id,
        decision=decision,
        confidence={"score": {"high": 0.8, "medium": 0.5, "low": 0.1}[level], "level": level},
    )
    values: dict[str, object] = {
        "answer": answer,
        "ticket": f"ticket {request_id}",
        "user": "UAGENT",
        "door": "mention",
        "channel": "CSUP",
        "thread_ts": "1.1",
        "message_ts": "1.2",
    }
    values.update(kw)
    return AnswerRecord(**values)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", "postgres"])
def records_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings whose records are in SQLite (the default), or in a new PostgreSQL database."""
    if request.param == "sqlite":
        return make_settings(tmp_path / "kb-data")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return make_settings(tmp_path / "kb-data", kb_database_url=server.new_database())


@pytest.fixture
def records_store(records_settings: Settings) -> Iterator[RecordStore]:
    store = open_records(records_settings)
    yield store
    store.close()


def stored_text(store: RecordStore) -> bytes:
    """Everything the store has written, raw: the SQLite file (and WAL), or every PostgreSQL row as text."""
    if isinstance(store, SqliteRecordStore):
        return b"".join(f.read_bytes() for f in store.path.parent.glob(store.path.name + "*"))
    from bot.records.postgres import PostgresRecordStore

    assert isinstance(store, PostgresRecordStore)
    tables = ("answers", "feedback", "escalations", "ticket_vectors", "kb_schema_migrations")
    return store._run(
        lambda db: "".join(str(db.execute(f"select array_agg(t::text) from {t} t").fetchone()) for t in tables)
    ).encode()


def test_the_store_is_the_one_seam(tmp_path: Path) -> None:
    store = open_records(make_settings(tmp_path / "kb-data"))
    assert isinstance(store, RecordStore) and isinstance(store, SqliteRecordStore) and store.name == "sqlite"
    assert store.path == tmp_path / "kb-data" / "feedback.sqlite3"  # the file the Slack bot always used


def test_answers_round_trip(records_store: RecordStore) -> None:
    store = records_store
    first = record("r1", created_at=1_700_000_000.125)
    store.record_answer(first)
    again = store.answer("r1")
    assert again is not None and again.answer == first.answer and again.created_at == 1_700_000_000.125
    assert (again.door, again.channel, again.thread_ts, again.ticket) == ("mention", "CSUP", "1.1", "ticket r1")
    assert (again.user, again.view, again.message_ts) == ("UAGENT", "draft", "1.2")
    assert store.answer("nope") is None
    store.save_ticket_vectors("m", {"r1": b"\x00\x01\xff", "r2": b""})
    assert store.ticket_vectors("m", ["r1", "r2", "r3"]) == {"r1": b"\x00\x01\xff", "r2": b""}
    assert store.ticket_vectors("other", ["r1"]) == {} and store.ticket_vectors("m", []) == {}
    store.save_ticket_vectors("m", {"r1": b"\x02"})  # a newer embedding replaces the old one
    assert store.ticket_vectors("m", ["r1"]) == {"r1": b"\x02"}
    store.record_answer(record("r1", level="low", decision="escalate", door="http", channel=None))
    replaced = store.answer("r1")  # the same request_id again: the new answer, its old vectors gone
    assert replaced is not None and (replaced.door, replaced.channel, replaced.answer.decision) == (
        "http",
        None,
        "escalate",
    )
    assert store.ticket_vectors("m", ["r1", "r2"]) == {"r2": b""}


def test_the_sqlite_schema_is_versioned(tmp_path: Path) -> None:
    store = SqliteRecordStore(tmp_path / "data" / "feedback.sqlite3")
    store.record_answer(record("r1"))
    db = sqlite3.connect(tmp_path / "data" / "feedback.sqlite3")
    assert db.execute("pragma user_version").fetchone()[0] == len(MIGRATIONS) == 3
    db.close()
    SqliteRecordStore(tmp_path / "data" / "feedback.sqlite3")  # reopening migrates nothing twice
    assert SqliteRecordStore(tmp_path / "data" / "feedback.sqlite3").answer("r1") is not None


def test_tickets_are_stored_redacted(records_store: RecordStore) -> None:
    store = records_store
    store.record_answer(record("r1", ticket="Refund ana@example.com, card 4242 4242 4242 4242 please", door="http"))
    stored = store.answer("r1")
    assert stored is not None and stored.ticket == "Refund [EMAIL_1], card [CARD_1] please"
    raw = stored_text(store)
    assert b"[EMAIL_1]" in raw and b"ana@example.com" not in raw and b"4242 4242" not in raw


def test_a_file_of_the_slack_only_version_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "feedback.sqlite3"
    db = sqlite3.connect(path)
    _migration_1(db)  # the schema the Slack bot wrote, with what it stored then: raw tickets
    answer = record("old").answer
    db.execute(
        "insert into answers values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        (
            "old",
            time.time(),
            "U1",
            "mention",
            "draft",
            "C1",
            "1.1",
            "1.2",
            "mail me at bo@example.org",
            "answer",
            "high",
            0.8,
            '["reset-your-password#2"]',
            answer.model_dump_json(),
        ),
    )
    db.execute(
        "insert into feedback (created_at, request_id, user, verdict) values (?, 'old', 'U1', 'not_helpful')",
        (time.time(),),
    )
    db.execute("pragma user_version=1")
    db.commit()
    db.close()

    store = SqliteRecordStore(path)
    old = store.answer("old")
    assert old is not None and old.ticket == "mail me at [EMAIL_1]" and old.answer == answer
    [entry] = store.feedback("old")
    assert (entry.verdict, entry.source, entry.problems) == ("not_helpful", "slack", [])
    assert [i.request_id for i in store.gap_items(since=0)] == ["old"]


def test_feedback_rows_carry_the_answers_decision_confidence_and_sources(records_store: RecordStore) -> None:
    store = records_store
    store.record_answer(record("r1", level="medium", decision="review"))
    fid = store.add_feedback("r1", user="U1", verdict="not_helpful")
    assert store.add_comment(fid, user="U1", problems=["wrong_sources"], comment="old article")
    assert not store.add_comment(fid, user="U2", problems=[], comment="hijack")
    [row] = store.feedback("r1")
    assert (row.verdict, row.decision, row.level, row.score, row.problems, row.comment, row.source) == (
        "not_helpful",
        "review",
        "medium",
        0.5,
        ["wrong_sources"],
        "old article",
        "slack",
    )
    assert row.sources == ["reset-your-password#2"]
    assert store.feedback_entry(fid) == row and store.feedback_entry(999) is None
    store.add_feedback("unknown", user="U1", verdict="helpful")  # still stored, without answer details
    [unknown] = store.feedback("unknown")
    assert (unknown.decision, unknown.level, unknown.score, unknown.sources) == (None, None, None, [])
    assert store.feedback("nope") == []
    http = store.add_feedback("r1", user="key-abc", verdict="helpful", comment="fine", source="http")
    entry = store.feedback_entry(http)
    assert entry is not None and (entry.source, entry.user, entry.comment) == ("http", "key-abc", "fine")
    assert http > fid and abs(entry.created_at - time.time()) < 60
    assert [f.id for f in store.feedback("r1")] == [fid, http]  # in the order given


def test_an_escalation_is_reserved_once_and_claimed_once(records_store: RecordStore) -> None:
    store = records_store
    kwargs = {
        "request_id": "r1",
        "trigger": "auto",
        "requested_by": "U1",
        "channel": "CSUP",
        "thread_ts": "1.1",
        "escalation_channel": "CESC",
    }
    eid = store.add_escalation(**kwargs)  # type: ignore[arg-type]
    assert eid is not None and store.add_escalation(**kwargs) is None  # type: ignore[arg-type]
    store.set_escalation_ts(eid, "9.9")
    assert store.claim(eid, "UA") == (True, "UA")
    assert store.claim(eid, "UB") == (False, "UA")
    escalation = store.escalation(eid)
    assert escalation is not None and (escalation.claimed_by, escalation.escalation_ts) == ("UA", "9.9")
    assert (escalation.request_id, escalation.trigger, escalation.channel, escalation.escalation_channel) == (
        "r1",
        "auto",
        "CSUP",
        "CESC",
    )
    assert escalation.claimed_at is not None and store.escalation(eid + 1000) is None
    assert store.claim(eid + 1000, "UA") == (False, None)
    store.drop_escalation(eid)  # posted already (it has a ts): kept
    assert store.escalation(eid) is not None
    failed = store.add_escalation(**{**kwargs, "request_id": "r2"})  # type: ignore[arg-type]
    assert failed is not None
    store.drop_escalation(failed)  # its post failed: the button may try again
    assert store.add_escalation(**{**kwargs, "request_id": "r2"}) is not None  # type: ignore[arg-type]


def test_stats_count_the_last_days_only(records_store: RecordStore) -> None:
    store = records_store
    store.record_answer(record("old", created_at=time.time() - 10 * 86_400))
    store.record_answer(record("h1"))
    store.record_answer(record("m1", level="medium", door="dm"))
    store.record_answer(record("l1", level="low", decision="escalate"))
    store.add_feedback("h1", user="U1", verdict="helpful")
    store.add_feedback("m1", user="key-1", verdict="not_helpful", source="http")
    store.add_escalation(
        request_id="l1", trigger="auto", requested_by="U1", channel="CSUP", thread_ts="1.1", escalation_channel="CESC"
    )
    stats = store.stats(days=7)
    assert (stats.answers, stats.by_level, stats.escalations, stats.claimed, stats.helpful, stats.not_helpful) == (
        3,
        {"high": 1, "medium": 1, "low": 1},
        1,
        0,
        1,
        1,
    )
    assert stats.by_door == {"mention": 2, "dm": 1}
    assert stats.helpful_by_level == {"high": (1, 0), "medium": (0, 1)}
    assert stats.feedback_by_source == {"slack": 1, "http": 1}
    assert store.stats(days=30).answers == 4
    assert store.stats(days=7, now=time.time() - 8 * 86_400).answers == 4  # `now` moves the window's start
    fid = store.add_feedback("gone", user="U1", verdict="not_helpful")  # an answer that was never recorded
    store.add_comment(fid, user="U1", problems=["wrong_sources", "bad_draft"], comment="no")
    later = store.stats(days=7)
    assert later.helpful_by_level["?"] == (0, 1) and later.comments == [("gone", "wrong_sources,bad_draft", "no")]


def test_gap_items_are_escalated_low_or_rated_down_answers_of_the_period(records_store: RecordStore) -> None:
    store = records_store
    now = time.time()
    store.record_answer(record("fine", door="http"))
    store.record_answer(record("low", level="low", decision="escalate", door="cli"))
    store.record_answer(record("down", level="medium", decision="review"))
    store.record_answer(record("button", level="medium", decision="review", door="shortcut"))
    store.record_answer(record("liked-but-low", level="low", decision="escalate", door="http"))
    store.record_answer(record("too-old", level="low", decision="escalate", created_at=now - 9 * 86_400))
    store.add_feedback("down", user="U1", verdict="not_helpful")
    store.add_feedback("fine", user="U1", verdict="helpful")
    store.add_feedback("liked-but-low", user="U1", verdict="helpful")
    store.add_escalation(
        request_id="button",
        trigger="button",
        requested_by="U1",
        channel="C",
        thread_ts="1.1",
        escalation_channel="CESC",
    )
    items = {i.request_id: i for i in store.gap_items(since=now - 7 * 86_400)}
    assert set(items) == {"low", "down", "button", "liked-but-low"}
    assert (items["low"].escalated, items["low"].low_confidence, items["low"].rated_down) == (True, True, False)
    assert (items["down"].escalated, items["down"].rated_down) == (False, True)
    assert items["button"].escalated and not items["button"].low_confidence
    assert items["low"].ticket == "ticket low" and items["low"].sources == ["reset-your-password#2"]
    assert [i.request_id for i in store.gap_items(since=now - 7 * 86_400, limit=2)] == ["liked-but-low", "button"]
    assert [i.request_id for i in store.gap_items(since=0, until=now - 86_400)] == ["too-old"]


def test_report_without_records_and_with_every_door(records_settings: Settings) -> None:
    settings = records_settings
    where = str(settings.feedback_db_path)
    if settings.kb_database_url is not None:  # the test server's URL has no password: it is named as it is
        where = settings.kb_database_url.get_secret_value()
    assert feedback_report(settings) == f"No answers recorded in {where} yet.\n"
    assert not settings.feedback_db_path.exists()  # reporting created no file
    store = open_records(settings)
    store.record_answer(record("h1"))
    store.record_answer(record("h2", door="command"))
    store.record_answer(record("x1", door="http", view="required"))
    store.record_answer(record("c1", door="cli", level="low", decision="escalate"))
    fid = store.add_feedback("h1", user="U1", verdict="not_helpful")
    store.add_comment(fid, user="U1", problems=["bad_draft"], comment="too\n long")
    store.add_feedback("x1", user="key-1", verdict="helpful", source="http")
    report = feedback_report(settings)
    assert report.startswith("Answers and feedback from every door, last 7 days (")
    assert "answers            4   high 3  medium 0  low 1" in report
    assert "  by door      cli 1  http 1  slack 2 (mention 1, command 1)" in report
    assert "feedback           2   helpful 1, not helpful 1 (50% helpful)" in report
    assert "  by source    http 1  slack 1" in report
    assert "  h1  [bad_draft] too long" in report
    assert "kb gaps" in report.splitlines()[-1]
    store.close()
