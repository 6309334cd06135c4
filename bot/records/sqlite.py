"""The SQLite records store: `KB_DATA_DIR/feedback.sqlite3` (the file the Slack bot always used).

    store = SqliteRecordStore(settings.feedback_db_path)
    store.record_answer(AnswerRecord(...))          # the ticket is redacted on the way in

One file and one connection per store, shared by the threads that call it (one call at a time:
each is a single small statement), WAL so a reader in another process (`kb feedback`) never blocks
a writer. Keeping the connection open matters: closing the last connection of a WAL database
checkpoints it, ~4 ms a call instead of ~0.03 ms. Schema changes are numbered migrations applied on
open (`pragma user_version`); a file written by an older version is migrated in place, never rebuilt.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from bot.records.models import (
    AnswerRecord,
    Escalation,
    FeedbackEntry,
    FeedbackSource,
    GapItem,
    Stats,
    Trigger,
    Verdict,
    collect_stats,
    source_ids,
)
from rag.redact import redact


def _migration_1(db: sqlite3.Connection) -> None:
    """The Slack bot's first schema: answers, feedback, escalations."""
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


def _migration_2(db: sqlite3.Connection) -> None:
    """Every door records: feedback says where it came from, tickets are kept redacted (older rows too)."""
    db.execute("alter table feedback add column source text not null default 'slack'")
    db.execute("create index feedback_request on feedback(request_id)")
    rows = db.execute("select request_id, ticket from answers").fetchall()
    for request_id, ticket in rows:
        safe = redact(ticket)
        if safe != ticket:
            db.execute("update answers set ticket = ? where request_id = ?", (safe, request_id))


def _migration_3(db: sqlite3.Connection) -> None:
    """Embeddings of the stored tickets by model, so a gap report embeds each ticket once."""
    db.execute(
        "create table ticket_vectors (request_id text not null, model text not null, vector blob not null,"
        " primary key (request_id, model))"
    )


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migration_1, _migration_2, _migration_3]


class SqliteRecordStore:
    name = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=5.0, check_same_thread=False)
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        try:
            self._conn.execute("pragma journal_mode=wal")
            self._conn.execute("pragma synchronous=normal")  # with WAL: safe on a crash of the app, no fsync a write
            with self._db() as db:
                version = db.execute("pragma user_version").fetchone()[0]
                for number, migrate in enumerate(MIGRATIONS[version:], start=version + 1):
                    migrate(db)
                    db.execute(f"pragma user_version={number}")
        except BaseException:
            self._conn.close()
            raise

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """The connection, for one transaction (committed on success, rolled back on error)."""
        with self._lock, self._conn:
            yield self._conn

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    # --- answers -------------------------------------------------------------------------
    def record_answer(self, record: AnswerRecord) -> None:
        a = record.answer
        with self._db() as db:
            db.execute("delete from ticket_vectors where request_id = ?", (a.request_id,))  # a replaced answer
            db.execute("insert or replace into answers values (?,?,?,?,?,?,?,?,?,?,?,?,?,?)", record.row())

    def answer(self, request_id: str) -> AnswerRecord | None:
        with self._db() as db:
            row = db.execute("select * from answers where request_id = ?", (request_id,)).fetchone()
        if row is None:
            return None
        return AnswerRecord.from_row(row)

    def ticket_vectors(self, model: str, request_ids: Sequence[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        with self._db() as db:
            for start in range(0, len(request_ids), 500):
                part = list(request_ids[start : start + 500])
                marks = ",".join("?" * len(part))
                rows = db.execute(
                    f"select request_id, vector from ticket_vectors where model = ? and request_id in ({marks})",
                    (model, *part),
                )
                out.update({r["request_id"]: bytes(r["vector"]) for r in rows})
        return out

    def save_ticket_vectors(self, model: str, vectors: Mapping[str, bytes]) -> None:
        with self._db() as db:
            db.executemany(
                "insert or replace into ticket_vectors values (?,?,?)",
                [(request_id, model, vector) for request_id, vector in vectors.items()],
            )

    # --- feedback ------------------------------------------------------------------------
    def add_feedback(
        self,
        request_id: str,
        *,
        user: str,
        verdict: Verdict,
        comment: str = "",
        problems: list[str] | None = None,
        source: FeedbackSource = "slack",
    ) -> int:
        record = self.answer(request_id)
        a = record.answer if record else None
        with self._db() as db:
            cur = db.execute(
                "insert into feedback (created_at, request_id, user, verdict, decision, level, score, sources,"
                " problems, comment, source) values (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    time.time(),
                    request_id,
                    user,
                    verdict,
                    a.decision if a else None,
                    a.confidence.level if a else None,
                    a.confidence.score if a else None,
                    source_ids(a) if a else None,
                    ",".join(problems or []),
                    comment,
                    source,
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

    def feedback(self, request_id: str) -> list[FeedbackEntry]:
        with self._db() as db:
            rows = db.execute("select * from feedback where request_id = ? order by id", (request_id,)).fetchall()
        return [FeedbackEntry.from_row(r) for r in rows]

    def feedback_entry(self, feedback_id: int) -> FeedbackEntry | None:
        with self._db() as db:
            row = db.execute("select * from feedback where id = ?", (feedback_id,)).fetchone()
        return FeedbackEntry.from_row(row) if row is not None else None

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

    # --- reports -------------------------------------------------------------------------
    def stats(self, days: int = 7, *, now: float | None = None) -> Stats:
        since = (now or time.time()) - days * 86_400
        with self._db() as db:
            return collect_stats(lambda sql, params: db.execute(sql, params).fetchall(), "?", days=days, since=since)

    def gap_items(self, *, since: float, until: float | None = None, limit: int = 2_000) -> list[GapItem]:
        until = time.time() + 1 if until is None else until
        with self._db() as db:
            rows = db.execute(
                """
                select a.request_id, a.created_at, a.door, a.ticket, a.decision, a.level, a.score, a.sources,
                       exists(select 1 from escalations e where e.request_id = a.request_id) as escalation_row,
                       exists(select 1 from feedback f where f.request_id = a.request_id
                              and f.verdict = 'not_helpful') as rated_down
                from answers a
                where a.created_at >= ? and a.created_at < ?
                  and (a.decision = 'escalate' or a.level = 'low'
                       or exists(select 1 from escalations e where e.request_id = a.request_id)
                       or exists(select 1 from feedback f where f.request_id = a.request_id
                                 and f.verdict = 'not_helpful'))
                order by a.created_at desc
                limit ?
                """,
                (since, until, limit),
            ).fetchall()
        return [GapItem.from_row(r) for r in rows]
