"""Durable records of every door: answers (redacted tickets), feedback and escalations.

    store = open_records(settings)            # SQLite at KB_DATA_DIR/feedback.sqlite3, or KB_DATABASE_URL
    store.record_answer(AnswerRecord(answer=answer, ticket=text, user="cli", door="cli"))
    print(feedback_report(settings))          # what `kb feedback` prints

`RecordStore` is the seam (bot.records.store); `SqliteRecordStore` the default implementation,
`bot.records.postgres.PostgresRecordStore` the shared one (imported only when KB_DATABASE_URL is set).
"""

from __future__ import annotations

from bot.records.models import (
    CLI_DOOR,
    HTTP_DOOR,
    SLACK_DOORS,
    AnswerRecord,
    Escalation,
    FeedbackEntry,
    FeedbackSource,
    GapItem,
    Stats,
    Trigger,
    Verdict,
    door_family,
)
from bot.records.report import feedback_report
from bot.records.sqlite import MIGRATIONS, SqliteRecordStore
from bot.records.store import RecordStore, open_records, records_exist, records_location

__all__ = [
    "CLI_DOOR",
    "HTTP_DOOR",
    "MIGRATIONS",
    "SLACK_DOORS",
    "AnswerRecord",
    "Escalation",
    "FeedbackEntry",
    "FeedbackSource",
    "GapItem",
    "RecordStore",
    "SqliteRecordStore",
    "Stats",
    "Trigger",
    "Verdict",
    "door_family",
    "feedback_report",
    "open_records",
    "records_exist",
    "records_location",
]
