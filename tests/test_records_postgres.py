"""Records in PostgreSQL (KB_DATABASE_URL) on a real, throwaway server (tests/postgres_server.py):
migrations, replicas opening and writing at once, a database that goes away, and the doors of two
replicas sharing one database. The store's contract itself runs on both backends in test_records.py.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import psycopg
import pytest
from aiohttp.test_utils import TestClient

from bot import messages
from bot.cli import main as kb_main
from bot.http.app import build_http_app
from bot.records import RecordStore, feedback_report, open_records, records_location
from bot.records.postgres import MIGRATIONS, PostgresRecordStore, describe
from bot.slack.blocks import ACTION_HELPFUL
from rag.engine import Engine
from rag.errors import BackendError, ConfigError
from tests.conftest import make_settings
from tests.postgres_server import PostgresServer, postgres_server, postgres_url
from tests.slack_harness import (  # noqa: F401 (fixtures)
    COVERED,
    ESCALATIONS,
    UNCOVERED,
    SlackBot,
    buttons,
    fake_slack,
    slack_bot,
)
from tests.test_records import record

T = TypeVar("T")
KEY = "replica-key"
AUTH = {"X-API-Key": KEY}
TABLES = ["answers", "escalations", "feedback", "kb_schema_migrations", "ticket_vectors"]


@pytest.fixture
def store(postgres_url: str) -> Iterator[PostgresRecordStore]:
    s = PostgresRecordStore(postgres_url)
    yield s
    s.close()


def dbname(url: str) -> str:
    return url.rsplit("/", 1)[1]


def at_once(n: int, work: Callable[[int], T]) -> list[T]:
    """`work(i)` in n threads released together (a barrier), the results in order."""
    barrier = threading.Barrier(n)

    def run(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


# --- the seam -----------------------------------------------------------------------------------
def test_kb_database_url_picks_postgresql_and_never_names_the_password(postgres_url: str, tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "kb-data", kb_database_url=postgres_url)
    store = open_records(settings)
    try:
        assert isinstance(store, RecordStore) and isinstance(store, PostgresRecordStore) and store.name == "postgres"
        assert records_location(settings) == store.location == postgres_url
    finally:
        store.close()
    assert not (tmp_path / "kb-data").exists()  # nothing goes to the data dir
    assert describe("postgresql://kb:s3cret@db.internal:6543/records?sslmode=require") == (
        "postgresql://kb@db.internal:6543/records"
    )
    assert describe("postgres://db.internal/kb") == "postgresql://db.internal:5432/kb"
    blank = make_settings(tmp_path / "kb-data", kb_database_url=" ")  # `KB_DATABASE_URL=` in a .env: SQLite
    assert records_location(blank) == str(blank.feedback_db_path)


# --- migrations ---------------------------------------------------------------------------------
def test_migrations_are_numbered_applied_once_and_idempotent(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    db = dbname(postgres_url)
    PostgresRecordStore(postgres_url).close()
    applied = postgres_server.execute(db, "select version, applied_at from kb_schema_migrations order by version")
    assert [v for v, _ in applied] == list(range(1, len(MIGRATIONS) + 1)) == [1, 2, 3]
    tables = postgres_server.execute(
        db, "select table_name from information_schema.tables where table_schema = 'public' order by 1"
    )
    assert [t for (t,) in tables] == TABLES

    store = PostgresRecordStore(postgres_url)  # reopening migrates nothing twice and keeps the data
    store.record_answer(record("r1"))
    store.close()
    store = PostgresRecordStore(postgres_url)
    assert store.answer("r1") is not None
    store.close()
    assert postgres_server.execute(db, "select version, applied_at from kb_schema_migrations order by 1") == applied

    # a database at an older version (the first migration only) is brought up to date, its rows kept
    postgres_server.execute(db, "drop table ticket_vectors")
    postgres_server.execute(db, "drop index feedback_request")
    postgres_server.execute(db, "alter table feedback drop column source")
    postgres_server.execute(db, "delete from kb_schema_migrations where version > 1")
    store = PostgresRecordStore(postgres_url)
    try:
        assert store.answer("r1") is not None
        fid = store.add_feedback("r1", user="U1", verdict="helpful", source="http")
        assert store.feedback_entry(fid) is not None and store.ticket_vectors("m", ["r1"]) == {}
    finally:
        store.close()
    assert [v for (v,) in postgres_server.execute(db, "select version from kb_schema_migrations")] == [1, 2, 3]

    # once migrated, a role that may only read (say, for `kb feedback`) opens it: no DDL, no lock
    postgres_server.execute(db, f"create role reader_{db} login")  # roles are per server: one per database
    postgres_server.execute(db, f"grant select on all tables in schema public to reader_{db}")
    reader = PostgresRecordStore(postgres_url.replace("kb@", f"reader_{db}@"))
    try:
        assert reader.stats().answers == 1 and reader.answer("r1") is not None
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            reader.record_answer(record("r2"))
    finally:
        reader.close()


def test_replicas_opening_at_once_migrate_once(postgres_server: PostgresServer, postgres_url: str) -> None:
    stores = at_once(8, lambda _: PostgresRecordStore(postgres_url))
    try:
        versions = postgres_server.execute(dbname(postgres_url), "select version from kb_schema_migrations")
        assert sorted(v for (v,) in versions) == [1, 2, 3]
        stores[0].record_answer(record("r1"))
        assert all(s.answer("r1") is not None for s in stores)
    finally:
        for s in stores:
            s.close()


# --- replicas writing at once -------------------------------------------------------------------
def test_two_replicas_reserve_and_claim_an_escalation_once(postgres_url: str) -> None:
    a, b = PostgresRecordStore(postgres_url), PostgresRecordStore(postgres_url)
    try:
        for n in range(10):
            reserved = at_once(
                2,
                lambda i, n=n: (a, b)[i].add_escalation(  # type: ignore[misc]
                    request_id=f"r{n}",
                    trigger="auto",
                    requested_by="U1",
                    channel="C",
                    thread_ts="1.1",
                    escalation_channel="CESC",
                ),
            )
            assert sum(r is None for r in reserved) == 1  # one replica reserved it, the other was told "before"
            eid = next(r for r in reserved if r is not None)
            claims = at_once(2, lambda i, eid=eid: (a, b)[i].claim(eid, f"U{i}"))  # type: ignore[misc]
            [winner] = [who for ok, who in claims if ok]
            assert sorted(claims) == [(False, winner), (True, winner)]
            escalation = b.escalation(eid)
            assert escalation is not None and escalation.claimed_by == winner
    finally:
        a.close()
        b.close()


def test_threads_share_a_few_connections(store: PostgresRecordStore) -> None:
    for i in range(20):
        store.record_answer(record(f"r{i}"))
    found = at_once(16, lambda i: store.answer(f"r{i}"))
    assert [f.request_id if f else None for f in found] == [f"r{i}" for i in range(16)]
    ids = at_once(16, lambda i: store.add_feedback(f"r{i}", user="U1", verdict="helpful"))
    assert len(set(ids)) == 16 and store.stats().helpful == 16
    assert store._open <= 4  # MAX_CONNECTIONS, however many threads call


# --- when the database is away ------------------------------------------------------------------
def test_an_unreachable_database_is_named_without_its_password(
    postgres_server: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket_closed() as port:
        url = f"postgresql://kb:s3cret-pw@127.0.0.1:{port}/kb?connect_timeout=2"
        with pytest.raises(BackendError) as caught:
            PostgresRecordStore(url)
        message = str(caught.value)
        assert f"postgresql://kb@127.0.0.1:{port}/kb" in message and "KB_DATABASE_URL" in message
        assert "s3cret" not in message and caught.value.__suppress_context__  # no psycopg traceback either

        monkeypatch.setenv("KB_DATABASE_URL", url)
        assert kb_main(["feedback", "--data-dir", str(tmp_path / "nowhere")]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: postgres: cannot use the records database postgresql://kb@127.0.0.1:")
        assert "s3cret" not in err and "Traceback" not in err and err.count("\n") == 1

    missing = postgres_server.url("no_such_db").replace("kb@", "kb:pw-123@")
    with pytest.raises(BackendError, match='database "no_such_db" does not exist') as caught:
        PostgresRecordStore(missing)
    assert "pw-123" not in str(caught.value)
    with pytest.raises(ConfigError) as bad:
        PostgresRecordStore("mysql://root:hunter2@db/kb")
    assert "hunter2" not in str(bad.value) and "postgresql://" in str(bad.value)


class socket_closed:
    """A local port nothing listens on (bound, never listened to, while the test runs)."""

    def __enter__(self) -> int:
        import socket

        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        return int(self._sock.getsockname()[1])

    def __exit__(self, *exc: object) -> None:
        self._sock.close()


def _drop_connections(server: PostgresServer) -> int:
    """What a database restart does to clients: the server ends every kb-rag connection."""
    rows = server.execute(
        "postgres",
        "select pg_terminate_backend(pid, 5000) from pg_stat_activity where application_name = 'kb-rag'",
    )
    return len(rows)


def test_the_store_outlives_dropped_connections(postgres_server: PostgresServer, store: PostgresRecordStore) -> None:
    store.record_answer(record("r1"))
    assert _drop_connections(postgres_server) == 1
    # an idle connection the server dropped is noticed before use: even a 👍 goes through first time
    fid = store.add_feedback("r1", user="U1", verdict="helpful")
    assert store.feedback_entry(fid) is not None
    assert _drop_connections(postgres_server) == 1  # and again: reads and writes go on
    assert store.answer("r1") is not None
    store.add_feedback("r1", user="U1", verdict="not_helpful")
    assert [f.verdict for f in store.feedback("r1")] == ["helpful", "not_helpful"]


def test_a_closed_store_refuses_calls(store: PostgresRecordStore) -> None:
    store.close()
    with pytest.raises(psycopg.OperationalError, match="closed"):
        store.answer("r1")
    store.close()  # twice is fine


# --- two replicas, one database: the doors --------------------------------------------------------
@pytest.fixture
def slack_overrides(postgres_url: str) -> dict[str, Any]:
    """Replica A (tests.slack_harness: Slack + the HTTP API) keeps its records in PostgreSQL."""
    return {"kb_api_keys": KEY, "kb_database_url": postgres_url}


async def test_feedback_through_one_replica_is_reported_by_kb_feedback_on_another(
    slack_bot: SlackBot,
    engine: Engine,
    aiohttp_client: Callable[..., Any],
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    replica_a = slack_bot.client
    replica_b: TestClient[Any, Any] = await aiohttp_client(
        build_http_app(engine, make_settings(tmp_path / "replica-b", kb_api_keys=KEY, kb_database_url=postgres_url))
    )

    # an answer through replica A's HTTP API, rated 👎 through replica B's (which finds it)
    resp = await replica_a.post("/api/v1/generate-response", json={"ticket": COVERED}, headers=AUTH)
    asked = await resp.json()
    resp = await replica_b.post(
        "/api/v1/feedback",
        json={"request_id": asked["request_id"], "rating": "down", "comment": "Wrong article"},
        headers=AUTH,
    )
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["decision"] == asked["decision"]  # B's row has A's answer's snapshot

    # a Slack answer on replica A, 👍 clicked; an uncovered ticket escalated to the escalation channel
    await slack_bot.event(slack_bot.mention(COVERED))
    update = await slack_bot.answer_update()
    await slack_bot.click(ACTION_HELPFUL, buttons(update["blocks"])[ACTION_HELPFUL])
    await slack_bot.fake.wait_for("response_url")
    await slack_bot.event(slack_bot.mention(UNCOVERED))
    await slack_bot.fake.wait_for("chat.postMessage", where=lambda c: c.body.get("channel") == ESCALATIONS)

    # `kb feedback` on a third host: its own (missing) data dir, the same KB_DATABASE_URL
    monkeypatch.setenv("KB_DATABASE_URL", postgres_url)
    elsewhere = tmp_path / "replica-c"
    assert await asyncio.to_thread(kb_main, ["feedback", "--data-dir", str(elsewhere)]) == 0
    report = capsys.readouterr().out
    assert "answers            3" in report and "  by door      http 1  slack 2 (mention 2)" in report
    assert "escalations        1" in report
    assert "feedback           2   helpful 1, not helpful 1 (50% helpful)" in report
    assert "  by source    http 1  slack 1" in report
    assert f"  {asked['request_id']}  Wrong article" in report
    assert report == feedback_report(make_settings(elsewhere, kb_database_url=postgres_url))
    assert not elsewhere.exists() and not (tmp_path / "replica-b").exists()
    assert slack_bot.store.answer(asked["request_id"]) is None  # replica A's SQLite file was not written to

    # `GET /api/v1/gaps` on replica B: A's 👎 and A's Slack escalation, grouped (ticket vectors kept in PostgreSQL)
    resp = await replica_b.get("/api/v1/gaps", headers=AUTH)
    gaps = await resp.json()
    listed = {rid for topic in gaps["topics"] for rid in topic["request_ids"]}
    assert asked["request_id"] in listed and gaps["total"] == len(listed) >= 2
    assert any(t["rated_down"] for t in gaps["topics"]) and {d for t in gaps["topics"] for d in t["doors"]} >= {"slack"}
    store = open_records(make_settings(elsewhere, kb_database_url=postgres_url))
    try:
        assert set(store.ticket_vectors(engine.kb.embedder.model_id, sorted(listed))) == listed
    finally:
        store.close()


async def test_a_database_outage_costs_slack_the_records_not_the_answers(
    slack_bot: SlackBot, postgres_server: PostgresServer, postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = dbname(postgres_url)
    postgres_server.execute("postgres", f"alter database {db} allow_connections false")
    _drop_connections(postgres_server)  # the database is away: no connection kept, no new one accepted

    await slack_bot.event(slack_bot.mention(COVERED))
    update = await slack_bot.answer_update()  # answered all the same
    request_id = buttons(update["blocks"])[ACTION_HELPFUL]
    assert f"could not record answer request_id={request_id}" in caplog.text
    _, key = await slack_bot.click(ACTION_HELPFUL, request_id)
    [told] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key)
    assert told.body["text"] == messages.SLACK_ERROR.format(error=messages.SLACK_INTERNAL_ERROR, request_id="-")

    postgres_server.execute("postgres", f"alter database {db} allow_connections true")  # back: so is the store
    _, key = await slack_bot.click(ACTION_HELPFUL, request_id)
    [thanks] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key)
    assert thanks.body["text"] == messages.SLACK_FEEDBACK_THANKS.format(request_id=request_id)
