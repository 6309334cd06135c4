"""What the records store keeps: answers from every door, feedback on them, escalations.

Plain dataclasses, shared by every `RecordStore` implementation and by the doors that write and
read them. Tickets are stored redacted (rag/redact.py); the store does it, so no door can forget.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from rag.models import Answer
from rag.redact import redact

Verdict = Literal["helpful", "not_helpful"]
Trigger = Literal["auto", "button"]
FeedbackSource = Literal["slack", "http"]

# Where an answer was asked for. Slack has five ways in; the HTTP API and `kb ask` one each.
SLACK_DOORS = ("mention", "thread", "dm", "shortcut", "command")
HTTP_DOOR = "http"
CLI_DOOR = "cli"


def door_family(door: str) -> str:
    """slack | http | cli: the door an answer came through, whatever the Slack way in was."""
    return "slack" if door in SLACK_DOORS else door


Row = Mapping[str, Any]  # a row of either store: sqlite3.Row or psycopg's dict_row


def source_ids(answer: Answer) -> str:
    """The answer's source chunk ids as the JSON list both stores keep."""
    return json.dumps([s.chunk_id for s in answer.sources])


def json_list(text: str | None) -> list[str]:
    """A JSON list column (NULL or empty: no items)."""
    return [str(v) for v in json.loads(text or "[]")]


@dataclass
class AnswerRecord:
    """One answer given, with where it lives (Slack: channel and thread; thread_ts None: a private answer).

    `user` is the Slack user id, the HTTP API key's id (`key-…`, never the key) or `cli`.
    `view` is `draft` (a full answer) or `required` (only the data to collect).
    """

    answer: Answer
    ticket: str
    user: str
    door: str  # mention | dm | shortcut | command | http | cli
    view: str = "draft"  # draft | required
    channel: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    created_at: float = field(default_factory=time.time)
    _answer_json: str | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def request_id(self) -> str:
        return self.answer.request_id

    def answer_json(self) -> str:
        """The answer as JSON, serialised once: the store keeps this text, and the HTTP door sends
        the same text as its response (the answer is not changed after it is recorded)."""
        if self._answer_json is None:
            self._answer_json = self.answer.model_dump_json()
        return self._answer_json

    def row(self) -> tuple[object, ...]:
        """The `answers` row, in column order, with the ticket redacted (both stores write this)."""
        a = self.answer
        return (
            a.request_id,
            self.created_at,
            self.user,
            self.door,
            self.view,
            self.channel,
            self.thread_ts,
            self.message_ts,
            redact(self.ticket),
            a.decision,
            a.confidence.level,
            a.confidence.score,
            source_ids(a),
            self.answer_json(),
        )

    @classmethod
    def from_row(cls, row: Row) -> AnswerRecord:
        """From an `answers` row of either store."""
        return cls(
            answer=Answer.model_validate_json(row["answer_json"]),
            ticket=row["ticket"],
            user=row["user"],
            door=row["door"],
            view=row["view"],
            channel=row["channel"],
            thread_ts=row["thread_ts"],
            message_ts=row["message_ts"],
            created_at=row["created_at"],
        )


@dataclass
class FeedbackEntry:
    """One 👍/👎 with a snapshot of the answer it rates (None fields: the answer was not recorded)."""

    id: int
    created_at: float
    request_id: str
    user: str
    verdict: str  # helpful | not_helpful
    source: str  # slack | http
    decision: str | None
    level: str | None
    score: float | None
    sources: list[str]
    problems: list[str]
    comment: str

    @classmethod
    def from_row(cls, row: Row) -> FeedbackEntry:
        """From a `feedback` row of either store (sources as JSON, problems comma-separated)."""
        return cls(
            id=int(row["id"]),
            created_at=row["created_at"],
            request_id=row["request_id"],
            user=row["user"],
            verdict=row["verdict"],
            source=row["source"],
            decision=row["decision"],
            level=row["level"],
            score=row["score"],
            sources=json_list(row["sources"]),
            problems=[p for p in row["problems"].split(",") if p],
            comment=row["comment"],
        )


@dataclass
class Escalation:
    id: int
    request_id: str
    trigger: str
    requested_by: str
    channel: str | None
    thread_ts: str | None
    escalation_channel: str
    escalation_ts: str | None
    claimed_by: str | None
    claimed_at: float | None


@dataclass
class Stats:
    days: int
    answers: int = 0
    by_level: dict[str, int] = field(default_factory=lambda: {"high": 0, "medium": 0, "low": 0})
    by_decision: dict[str, int] = field(default_factory=lambda: {"answer": 0, "review": 0, "escalate": 0})
    by_door: dict[str, int] = field(default_factory=dict)
    escalations: int = 0
    claimed: int = 0
    helpful: int = 0
    not_helpful: int = 0
    helpful_by_level: dict[str, tuple[int, int]] = field(default_factory=dict)  # level -> (👍, 👎)
    feedback_by_source: dict[str, int] = field(default_factory=dict)  # slack | http -> count
    comments: list[tuple[str, str, str]] = field(default_factory=list)  # (request_id, problems, comment)

    def count_feedback(self, level: str, verdict: str, source: str, n: int) -> None:
        """Add one (level, verdict, source) group of ratings, as both stores' GROUP BY returns them."""
        up, down = self.helpful_by_level.get(level, (0, 0))
        if verdict == "helpful":
            self.helpful += n
            up += n
        else:
            self.not_helpful += n
            down += n
        self.helpful_by_level[level] = (up, down)
        self.feedback_by_source[source] = self.feedback_by_source.get(source, 0) + n


# Runs one SELECT with its parameters and returns its rows as mappings (sqlite3.Row, psycopg dict_row).
Query = Callable[[str, tuple[object, ...]], Iterable[Row]]


def collect_stats(query: Query, mark: str, *, days: int, since: float) -> Stats:
    """The figures of `kb feedback` from either store; `mark` is its parameter placeholder (? or %s)."""
    out = Stats(days=days)
    for row in query(
        f"select level, decision, door, count(*) n from answers where created_at >= {mark} group by 1, 2, 3", (since,)
    ):
        out.answers += row["n"]
        out.by_level[row["level"]] = out.by_level.get(row["level"], 0) + row["n"]
        out.by_decision[row["decision"]] = out.by_decision.get(row["decision"], 0) + row["n"]
        out.by_door[row["door"]] = out.by_door.get(row["door"], 0) + row["n"]
    for row in query(f"select count(*) n, count(claimed_by) c from escalations where created_at >= {mark}", (since,)):
        out.escalations, out.claimed = row["n"], row["c"]
    for row in query(
        "select coalesce(level, '?') as level, verdict, source, count(*) n from feedback"
        f" where created_at >= {mark} group by 1, 2, 3",
        (since,),
    ):
        out.count_feedback(row["level"], row["verdict"], row["source"], row["n"])
    out.comments = [
        (r["request_id"], r["problems"], r["comment"])
        for r in query(
            f"select request_id, problems, comment from feedback where created_at >= {mark} and verdict ="
            " 'not_helpful' and (comment != '' or problems != '') order by id desc limit 20",
            (since,),
        )
    ]
    return out


@dataclass
class GapItem:
    """An answer of the period that shows a hole in the KB: escalated, low confidence or rated 👎."""

    request_id: str
    created_at: float
    door: str
    ticket: str  # redacted
    decision: str
    level: str
    score: float
    escalated: bool  # decided `escalate`, or handed to people with the Escalate button
    rated_down: bool  # at least one 👎
    sources: list[str]  # chunk ids of the answer's sources, best first

    @classmethod
    def from_row(cls, row: Row) -> GapItem:
        """From the gap query's row of either store (with `escalation_row` and `rated_down`)."""
        return cls(
            request_id=row["request_id"],
            created_at=row["created_at"],
            door=row["door"],
            ticket=row["ticket"],
            decision=row["decision"],
            level=row["level"],
            score=row["score"],
            escalated=row["decision"] == "escalate" or bool(row["escalation_row"]),
            rated_down=bool(row["rated_down"]),
            sources=json_list(row["sources"]),
        )

    @property
    def low_confidence(self) -> bool:
        return self.level == "low"
