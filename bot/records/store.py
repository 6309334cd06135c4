"""The records seam: one `RecordStore` Protocol; SQLite by default, PostgreSQL with KB_DATABASE_URL.

    store = open_records(settings)                     # the one place that picks the implementation
    store.record_answer(AnswerRecord(answer=a, ticket=text, user="U1", door="mention"))
    store.add_feedback(a.request_id, user="U1", verdict="helpful")
    store.gap_items(since=time.time() - 7 * 86_400)    # what `kb gaps` clusters

Methods are synchronous and short (one small query each); async doors that care about latency
call them through `asyncio.to_thread`. bot.records.sqlite keeps them in KB_DATA_DIR/feedback.sqlite3
(one host); bot.records.postgres in the database at KB_DATABASE_URL, shared by every replica. Both
have the same tables and numbered migrations, applied when the store is opened.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from bot.records.models import AnswerRecord, Escalation, FeedbackEntry, FeedbackSource, GapItem, Stats, Trigger, Verdict
from rag.settings import Settings


@runtime_checkable
class RecordStore(Protocol):
    name: str  # "sqlite" | "postgres"

    # --- answers (the ticket is stored redacted) ---------------------------------------------
    def record_answer(self, record: AnswerRecord) -> None: ...

    def answer(self, request_id: str) -> AnswerRecord | None: ...

    def ticket_vectors(self, model: str, request_ids: Sequence[str]) -> dict[str, bytes]:
        """Stored embeddings (float32 bytes) of these answers' tickets by `model`; missing ones left out."""
        ...

    def save_ticket_vectors(self, model: str, vectors: Mapping[str, bytes]) -> None: ...

    # --- feedback ----------------------------------------------------------------------------
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
        """Store a 👍/👎 with a snapshot of the answer's decision, confidence and sources; the row id."""
        ...

    def add_comment(self, feedback_id: int, *, user: str, problems: list[str], comment: str) -> bool: ...

    def feedback(self, request_id: str) -> list[FeedbackEntry]: ...

    def feedback_entry(self, feedback_id: int) -> FeedbackEntry | None: ...

    # --- escalations -------------------------------------------------------------------------
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
        ...

    def set_escalation_ts(self, escalation_id: int, ts: str) -> None: ...

    def drop_escalation(self, escalation_id: int) -> None: ...

    def escalation(self, escalation_id: int) -> Escalation | None: ...

    def claim(self, escalation_id: int, user: str) -> tuple[bool, str | None]: ...

    # --- reports -----------------------------------------------------------------------------
    def stats(self, days: int = 7, *, now: float | None = None) -> Stats: ...

    def gap_items(self, *, since: float, until: float | None = None, limit: int = 2_000) -> list[GapItem]:
        """Answers created in [since, until) that were escalated, low in confidence or rated 👎, newest first."""
        ...

    def close(self) -> None: ...


def open_records(settings: Settings) -> RecordStore:
    """The records store for these settings: PostgreSQL at KB_DATABASE_URL when it is set (migrated on
    open; BackendError naming the host when it cannot be reached), else SQLite at KB_DATA_DIR/feedback.sqlite3."""
    url = database_url(settings)
    if url is not None:
        from bot.records.postgres import PostgresRecordStore  # psycopg is imported only when it is used

        return PostgresRecordStore(url)
    from bot.records.sqlite import SqliteRecordStore

    return SqliteRecordStore(settings.feedback_db_path)


def records_location(settings: Settings) -> str:
    """Where the records are, for messages: the SQLite file, or `postgresql://user@host:port/db` (no password)."""
    url = database_url(settings)
    if url is not None:
        from bot.records.postgres import describe

        return describe(url)
    return str(settings.feedback_db_path)


def records_exist(settings: Settings) -> bool:
    """False when nothing was ever recorded, known without creating anything: no SQLite file yet.
    A database may always hold records (other replicas write there)."""
    return database_url(settings) is not None or settings.feedback_db_path.exists()


def database_url(settings: Settings) -> str | None:
    """KB_DATABASE_URL, None when unset or blank (`KB_DATABASE_URL=` in a .env keeps SQLite)."""
    url = settings.kb_database_url.get_secret_value().strip() if settings.kb_database_url else ""
    return url or None
