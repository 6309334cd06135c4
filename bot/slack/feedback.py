"""What the Slack bot remembers: answers it gave, feedback on them, escalations and who claimed them.

    store = FeedbackStore(settings.feedback_db_path)      # SQLite under KB_DATA_DIR
    store.record_answer(AnswerRecord(...))
    store.add_feedback(request_id, user="U1", verdict="helpful")
    print(feedback_report(settings))                       # what `kb feedback` prints

One SQLite file, a short connection per call (the writes are small and rare), WAL so a reader never
blocks the bot. Schema changes are numbered migrations, applied on open.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bot import messages
from rag.models import Answer
from rag.settings import Settings

Verdict = Literal["helpful", "not_helpful"]
Trigger = Literal["auto", "button"]


@dataclass
class AnswerRecord:
    """One answer the bot gave, with where it lives in Slack (thread_ts None: a private answer)."""

    answer: Answer
    ticket: str
    user: str
    door: str  # mention | dm | shortcut | command
    view: str = "draft"  # draft | required
    channel: str | None = None
    thread_ts: str | None = None
    message_ts: str | None = None
    created_at: float = field(default_factory=time.time)

    @property
    def request_id(self) -> str:
        return self.answer.request_id


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
    comments: list[tuple[str, str, str]] = field(default_factory=list)  # (request_id, problems, comment)


def _migration_1(db: sqlite3.Connection) -> None:
    db.executescript(
        """
        create table answers (
            request_id text primary key, created_at real not null, user text not null, door text not null,
            view text not null, channel text, thread_ts text, message_ts text, ticket text not null,
            decision text not null, level text not null, score real not null, sources text not null,
            answer_json text not null
        );
        create index answers_created on answers(created_at);
        create table feedback (
            id integer primary key, created_at real not null, request_id text not null, user text not null,
            verdict text not null, decision text, level text, score real, sources text,
            problems text not null default '', comment text not null default ''
        );
        create index feedback_created on feedback(created_at);
        create table escalations (
            id integer primary key, created_at real not null, request_id text not null unique,
            trigger text not null, requested_by text not null, channel text, thread_ts text,
            escalation_channel text not null, escalation_ts text, claimed_by text, claimed_at real
        );
        create index escalations_created on escalations(created_at);
        """
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migration_1]


class FeedbackStore:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute("pragma journal_mode=wal")
            version = db.execute("pragma user_version").fetchone()[0]
            for number, migrate in enumerate(MIGRATIONS[version:], start=version + 1):
                migrate(db)
                db.execute(f"pragma user_version={number}")

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=5.0)
        db.row_factory = sqlite3.Row
        db.execute("pragma synchronous=normal")  # with WAL: safe on a crash of the app, no fsync per write
        try:
            with db:
                yield db
        finally:
            db.close()

    # --- answers -------------------------------------------------------------------------
    def record_answer(self, record: AnswerRecord) -> None:
        a = record.answer
        with self._db() as db:
            db.execute(
                "insert or replace into answers values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    a.request_id,
                    record.created_at,
                    record.user,
                    record.door,
                    record.view,
                    record.channel,
                    record.thread_ts,
                    record.message_ts,
                    record.ticket,
                    a.decision,
                    a.confidence.level,
                    a.confidence.score,
                    _sources(a),
                    a.model_dump_json(),
                ),
            )

    def answer(self, request_id: str) -> AnswerRecord | None:
        with self._db() as db:
            row = db.execute("select * from answers where request_id = ?", (request_id,)).fetchone()
        if row is None:
            return None
        return AnswerRecord(
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

    # --- feedback ------------------------------------------------------------------------
    def add_feedback(
        self, request_id: str, *, user: str, verdict: Verdict, comment: str = "", problems: list[str] | None = None
    ) -> int:
        """Store a 👍/👎 with the answer's decision, confidence and sources; returns the row id."""
        record = self.answer(request_id)
        a = record.answer if record else None
        with self._db() as db:
            cur = db.execute(
                "insert into feedback (created_at, request_id, user, verdict, decision, level, score, sources,"
                " problems, comment) values (?,?,?,?,?,?,?,?,?,?)",
                (
                    time.time(),
                    request_id,
                    user,
                    verdict,
                    a.decision if a else None,
                    a.confidence.level if a else None,
                    a.confidence.score if a else None,
                    _sources(a) if a else None,
                    ",".join(problems or []),
                    comment,
                ),
            )
            return int(cur.lastrowid or 0)

    def add_comment(self, feedback_id: int, *, user: str, problems: list[str], comment: str) -> bool:
        """Attach the modal's answers to the 👎 row it came from (only the same user's row)."""
        with self._db() as db:
            cur = db.execute(
                "update feedback set problems = ?, comment = ? where id = ? and user = ?",
                (",".join(problems), comment, feedback_id, user),
            )
            return cur.rowcount == 1

    def feedback(self, request_id: str) -> list[dict[str, Any]]:
        with self._db() as db:
            rows = db.execute("select * from feedback where request_id = ? order by id", (request_id,)).fetchall()
        return [dict(r) for r in rows]

    # --- escalations ---------------------------------------------------------------------
    def add_escalation(
        self,
        *,
        request_id: str,
        trigger: Trigger,
        requested_by: str,
        channel: str | None,
        thread_ts: str | None,
        escalation_channel: str,
    ) -> int | None:
        """Reserve the escalation of a request; None when it was escalated before."""
        with self._db() as db:
            cur = db.execute(
                "insert or ignore into escalations (created_at, request_id, trigger, requested_by, channel,"
                " thread_ts, escalation_channel) values (?,?,?,?,?,?,?)",
                (time.time(), request_id, trigger, requested_by, channel, thread_ts, escalation_channel),
            )
            return int(cur.lastrowid) if cur.rowcount == 1 and cur.lastrowid else None

    def set_escalation_ts(self, escalation_id: int, ts: str) -> None:
        with self._db() as db:
            db.execute("update escalations set escalation_ts = ? where id = ?", (ts, escalation_id))

    def drop_escalation(self, escalation_id: int) -> None:
        """Forget a reservation whose post failed, so the Escalate button can try again."""
        with self._db() as db:
            db.execute("delete from escalations where id = ? and escalation_ts is null", (escalation_id,))

    def escalation(self, escalation_id: int) -> Escalation | None:
        with self._db() as db:
            row = db.execute("select * from escalations where id = ?", (escalation_id,)).fetchone()
        if row is None:
            return None
        return Escalation(**{k: row[k] for k in Escalation.__dataclass_fields__})

    def claim(self, escalation_id: int, user: str) -> tuple[bool, str | None]:
        """Record who took an escalation: (True, user) the first time, else (False, who has it)."""
        with self._db() as db:
            cur = db.execute(
                "update escalations set claimed_by = ?, claimed_at = ? where id = ? and claimed_by is null",
                (user, time.time(), escalation_id),
            )
            if cur.rowcount == 1:
                return True, user
            row = db.execute("select claimed_by from escalations where id = ?", (escalation_id,)).fetchone()
        return False, row["claimed_by"] if row else None

    # --- figures -------------------------------------------------------------------------
    def stats(self, days: int = 7, *, now: float | None = None) -> Stats:
        since = (now or time.time()) - days * 86_400
        out = Stats(days=days)
        with self._db() as db:
            for row in db.execute(
                "select level, decision, door, count(*) n from answers where created_at >= ?"
                " group by level, decision, door",
                (since,),
            ):
                out.answers += row["n"]
                out.by_level[row["level"]] = out.by_level.get(row["level"], 0) + row["n"]
                out.by_decision[row["decision"]] = out.by_decision.get(row["decision"], 0) + row["n"]
                out.by_door[row["door"]] = out.by_door.get(row["door"], 0) + row["n"]
            row = db.execute(
                "select count(*) n, count(claimed_by) c from escalations where created_at >= ?", (since,)
            ).fetchone()
            out.escalations, out.claimed = row["n"], row["c"]
            for row in db.execute(
                "select coalesce(level, '?') level, verdict, count(*) n from feedback where created_at >= ?"
                " group by level, verdict",
                (since,),
            ):
                up, down = out.helpful_by_level.get(row["level"], (0, 0))
                if row["verdict"] == "helpful":
                    out.helpful += row["n"]
                    up += row["n"]
                else:
                    out.not_helpful += row["n"]
                    down += row["n"]
                out.helpful_by_level[row["level"]] = (up, down)
            out.comments = [
                (r["request_id"], r["problems"], r["comment"])
                for r in db.execute(
                    "select request_id, problems, comment from feedback where created_at >= ? and verdict ="
                    " 'not_helpful' and (comment != '' or problems != '') order by id desc limit 20",
                    (since,),
                )
            ]
        return out


def _sources(answer: Answer) -> str:
    return json.dumps([s.chunk_id for s in answer.sources])


def feedback_report(settings: Settings, days: int = 7) -> str:
    """The text `kb feedback` prints: answers by level and door, escalations, 👍/👎 and the latest comments."""
    path = settings.feedback_db_path
    if not path.exists():
        return messages.FEEDBACK_REPORT_EMPTY.format(path=path) + "\n"
    s = FeedbackStore(path).stats(days)
    if s.answers == 0 and s.helpful + s.not_helpful + s.escalations == 0:
        return messages.FEEDBACK_REPORT_EMPTY.format(path=path) + "\n"
    since = datetime.fromtimestamp(time.time() - days * 86_400, UTC).strftime("%Y-%m-%d")
    rated = s.helpful + s.not_helpful
    lines = [
        messages.FEEDBACK_REPORT_TITLE.format(days=days, since=since),
        "",
        f"answers        {s.answers:>5}   "
        + "  ".join(
            f"{messages.LEVEL_LABEL[k].lower()} {v}" for k, v in s.by_level.items() if k in messages.LEVEL_LABEL
        ),
        "  by decision  " + "  ".join(f"{k} {v}" for k, v in s.by_decision.items()),
        "  by door      " + ("  ".join(f"{k} {v}" for k, v in sorted(s.by_door.items())) or "-"),
        f"escalations    {s.escalations:>5}   claimed {s.claimed}, unclaimed {s.escalations - s.claimed}",
        f"feedback       {rated:>5}   helpful {s.helpful}, not helpful {s.not_helpful}"
        + (f" ({100 * s.helpful / rated:.0f}% helpful)" if rated else ""),
    ]
    for level in ("high", "medium", "low"):
        if level in s.helpful_by_level:
            up, down = s.helpful_by_level[level]
            lines.append(f"  {level:<12} helpful {up}, not helpful {down}")
    if s.comments:
        lines += ["", "latest 'not helpful' comments:"]
        for request_id, problems, comment in s.comments:
            tags = f"[{problems}] " if problems else ""
            lines.append(f"  {request_id}  {tags}{' '.join(comment.split())[:200]}")
    return "\n".join(lines) + "\n"
