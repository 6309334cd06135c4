"""Moved to `bot.records` (the store serves every door now); these names stay importable from here.

from bot.records import AnswerRecord, Escalation, Stats, open_records
"""

from __future__ import annotations

from bot.records import (
    MIGRATIONS,
    AnswerRecord,
    Escalation,
    Stats,
    Trigger,
    Verdict,
    feedback_report,
)
from bot.records import SqliteRecordStore as FeedbackStore

__all__ = [
    "MIGRATIONS",
    "AnswerRecord",
    "Escalation",
    "FeedbackStore",
    "Stats",
    "Trigger",
    "Verdict",
    "feedback_report",
]
