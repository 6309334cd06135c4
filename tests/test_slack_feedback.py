"""The feedback store (SQLite under KB_DATA_DIR) and the `kb feedback` report."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from bot.slack.feedback import MIGRATIONS, AnswerRecord, FeedbackStore, feedback_report
from tests.conftest import make_settings
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


def test_answers_round_trip_and_the_schema_is_versioned(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "data" / "feedback.sqlite3")
    store.record_answer(record("r1"))
    again = store.answer("r1")
    assert again is not None and again.answer == record("r1").answer
    assert (again.door, again.channel, again.thread_ts, again.ticket) == ("mention", "CSUP", "1.1", "ticket r1")
    assert store.answer("nope") is None
    db = sqlite3.connect(tmp_path / "data" / "feedback.sqlite3")
    assert db.execute("pragma user_version").fetchone()[0] == len(MIGRATIONS)
    db.close()
    FeedbackStore(tmp_path / "data" / "feedback.sqlite3")  # reopening migrates nothing twice
    assert FeedbackStore(tmp_path / "data" / "feedback.sqlite3").answer("r1") is not None


def test_feedback_rows_carry_the_answers_decision_confidence_and_sources(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite3")
    store.record_answer(record("r1", level="medium", decision="review"))
    fid = store.add_feedback("r1", user="U1", verdict="not_helpful")
    assert store.add_comment(fid, user="U1", problems=["wrong_sources"], comment="old article")
    assert not store.add_comment(fid, user="U2", problems=[], comment="hijack")
    [row] = store.feedback("r1")
    assert (row["verdict"], row["decision"], row["level"], row["score"], row["problems"], row["comment"]) == (
        "not_helpful",
        "review",
        "medium",
        0.5,
        "wrong_sources",
        "old article",
    )
    assert json.loads(row["sources"]) == ["reset-your-password#2"]
    store.add_feedback("unknown", user="U1", verdict="helpful")  # still stored, without answer details
    assert store.feedback("unknown")[0]["decision"] is None


def test_an_escalation_is_reserved_once_and_claimed_once(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite3")
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
    failed = store.add_escalation(**{**kwargs, "request_id": "r2"})  # type: ignore[arg-type]
    assert failed is not None
    store.drop_escalation(failed)  # its post failed: the button may try again
    assert store.add_escalation(**{**kwargs, "request_id": "r2"}) is not None  # type: ignore[arg-type]


def test_stats_count_the_last_days_only(tmp_path: Path) -> None:
    store = FeedbackStore(tmp_path / "f.sqlite3")
    store.record_answer(record("old", created_at=time.time() - 10 * 86_400))
    store.record_answer(record("h1"))
    store.record_answer(record("m1", level="medium", door="dm"))
    store.record_answer(record("l1", level="low", decision="escalate"))
    store.add_feedback("h1", user="U1", verdict="helpful")
    store.add_feedback("m1", user="U1", verdict="not_helpful")
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
    assert store.stats(days=30).answers == 4


def test_report_without_a_store_and_with_data(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "kb-data")
    assert feedback_report(settings) == f"No answers recorded in {settings.feedback_db_path} yet.\n"
    store = FeedbackStore(settings.feedback_db_path)
    store.record_answer(record("h1"))
    fid = store.add_feedback("h1", user="U1", verdict="not_helpful")
    store.add_comment(fid, user="U1", problems=["bad_draft"], comment="too\n long")
    report = feedback_report(settings)
    assert report.startswith("Slack answers and feedback, last 7 days (")
    assert "answers            1   high 1  medium 0  low 0" in report
    assert "feedback           1   helpful 0, not helpful 1 (0% helpful)" in report
    assert "  h1  [bad_draft] too long" in report
