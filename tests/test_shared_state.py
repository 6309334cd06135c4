"""Several replicas on one Redis (KB_REDIS_URL): real HTTP requests into two aiohttp apps built like
`kb serve` builds its own, sharing a real redis-server (tests/redis_server.py).

Each app opens its own Redis client, as two processes would. Done when: one API key is limited
as one key across both, an Idempotency-Key answer stored by one is replayed by the other, a Slack
event delivered to both is answered once, a breaker opened by one is skipped by the other, and a
dead or hung Redis costs a warning and a 503 for Idempotency-Key requests, never a 500 or a hang.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pydantic import SecretStr

from bot import messages
from bot.http.app import build_http_app
from bot.shared import KeyInFlight, MemoryState, RateLimiter, Replay, Reservation, open_shared_state
from bot.shared.redis_state import RedisState, redact_url
from bot.slack.app import attach
from rag.engine import Engine
from rag.errors import ConfigError
from rag.factory import build_engine
from rag.retry import Breaker, CircuitOpen, RetriesExhausted, RetryPolicy, Transient, call_with_retries
from rag.settings import Settings
from tests.conftest import make_settings
from tests.fakes.production import Production, prod, production_kb
from tests.fakes.slack import FakeSlack
from tests.redis_server import PASSWORD, RedisServer, redis_server
from tests.slack_harness import COVERED, SUPPORT, SlackBot, fake_slack, slack_settings

KEY = "replica-test-key"
AUTH = {"X-API-Key": KEY}
TICKET = "I forgot my password and the reset e-mail never arrives"
DRAFTER_DOWN = "drafter unavailable (openai): extractive draft"
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def replica_settings(data_dir: Path, redis_url: str | None, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"kb_api_keys": KEY, "kb_rate_limit_per_min": 0, "kb_redis_url": redis_url}
    values.update(overrides)
    return make_settings(data_dir, **values)


async def two_replicas(
    aiohttp_client: ClientFactory, engine: Engine, settings: Settings
) -> tuple[TestClient[Any, Any], TestClient[Any, Any]]:
    """Two apps on one KB, each with its own shared-state client (closed with its app)."""
    a = await aiohttp_client(build_http_app(engine, settings))
    b = await aiohttp_client(build_http_app(engine, settings))
    return a, b


async def error_code(resp: Any, status: int) -> str:
    assert resp.status == status, await resp.text()
    return str((await resp.json())["error"]["code"])


# --- rate limit, idempotency -----------------------------------------------------------------------
async def test_one_api_key_is_limited_as_one_key_across_two_replicas(
    engine: Engine, data_dir: Path, redis_server: RedisServer, aiohttp_client: ClientFactory
) -> None:
    n = 4
    search = {"query": "single sign-on"}

    async def statuses(settings: Settings) -> list[int]:
        a, b = await two_replicas(aiohttp_client, engine, settings)
        return [(await (a, b)[i % 2].post("/api/v1/search", json=search, headers=AUTH)).status for i in range(2 * n)]

    shared = await statuses(replica_settings(data_dir, redis_server.url, kb_rate_limit_per_min=n))
    assert shared == [200] * n + [429] * n  # 2N requests alternating between replicas: one bucket of N
    alone = await statuses(replica_settings(data_dir, None, kb_rate_limit_per_min=n))
    assert alone == [200] * (2 * n)  # in memory each replica has a bucket of its own


async def test_an_idempotent_answer_stored_by_one_replica_is_replayed_by_the_other(
    engine: Engine, data_dir: Path, redis_server: RedisServer, aiohttp_client: ClientFactory
) -> None:
    a, b = await two_replicas(aiohttp_client, engine, replica_settings(data_dir, redis_server.url))
    headers = {**AUTH, "Idempotency-Key": "n8n-exec-1"}
    first = await a.post("/api/v1/generate-response", json={"ticket": TICKET}, headers=headers)
    second = await b.post("/api/v1/generate-response", json={"ticket": TICKET}, headers=headers)
    assert first.status == second.status == 200
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert await first.read() == await second.read()  # the same request_id: b did not answer again
    assert second.content_type == "application/json"
    other = await b.post("/api/v1/generate-response", json={"ticket": TICKET + "!"}, headers=headers)
    assert await error_code(other, 422) == "idempotency_key_reused"

    # A duplicate sent to b while a still runs the first waits for it, then gets its response.
    headers = {**AUTH, "Idempotency-Key": "n8n-exec-2"}
    racing = await asyncio.gather(
        a.post("/api/v1/generate-response", json={"ticket": TICKET}, headers=headers),
        b.post("/api/v1/generate-response", json={"ticket": TICKET}, headers=headers),
    )
    assert [r.status for r in racing] == [200, 200]
    assert len({await r.read() for r in racing}) == 1
    assert sorted(r.headers.get("Idempotent-Replayed", "-") for r in racing) == ["-", "true"]

    # Failures are not stored: the same key runs again (and fails again) rather than replaying.
    headers = {**AUTH, "Idempotency-Key": "n8n-exec-3"}
    for client in (a, b):
        resp = await client.post("/api/v1/search", json={"query": " "}, headers=headers)
        assert await error_code(resp, 422) == "invalid_fields"


# --- Slack ----------------------------------------------------------------------------------------
async def test_a_slack_event_delivered_to_two_replicas_is_answered_once(
    engine: Engine,
    data_dir: Path,
    fake_slack: FakeSlack,
    redis_server: RedisServer,
    aiohttp_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = slack_settings(data_dir, fake_slack, kb_redis_url=redis_server.url)
    bots = []
    for _ in range(2):
        app = build_http_app(engine, settings)
        attach(app, engine, settings)
        bots.append(SlackBot(fake_slack, await aiohttp_client(app), settings))
    a, b = bots
    caplog.set_level(logging.INFO, logger="bot.slack.app")

    event = a.mention(COVERED)
    assert (await a.event(event, event_id="EvSAME1")).status == 200
    assert (await b.event(event, event_id="EvSAME1", retry_num=1)).status == 200  # Slack's retry, other replica
    await a.answer_update()
    assert "dropped a repeat of event EvSAME1" in caplog.text

    # The same message under another event id (e.g. app_mention and message.channels): claimed once too.
    again = a.mention(COVERED)
    assert (await a.event(again, event_id="EvTWO1")).status == 200
    assert (await b.event(again, event_id="EvTWO2")).status == 200
    await fake_slack.wait_for("chat.update", 2, where=lambda c: bool(c.body.get("blocks")))
    await asyncio.sleep(0.2)  # a second answer would have posted its placeholder by now
    placeholders = [c for c in fake_slack.calls_to("chat.postMessage") if c.body.get("channel") == SUPPORT]
    assert len(placeholders) == 2  # one per message, not one per delivery


# --- circuit breakers --------------------------------------------------------------------------------
async def test_a_breaker_opened_on_one_replica_is_skipped_by_the_other(
    prod: Production, redis_server: RedisServer, aiohttp_client: ClientFactory
) -> None:
    settings = prod.settings(kb_redis_url=redis_server.url, kb_api_keys=KEY, kb_max_retries=0, kb_timeout_s=1.0)
    states = [open_shared_state(settings) for _ in range(2)]
    try:
        clients = []
        for state in states:  # as `kb serve` wires it: one shared state for the engine and the app
            engine = build_engine(settings, breakers=state)
            prod.engines.append(engine)
            clients.append(await aiohttp_client(build_http_app(engine, settings, shared=state)))
        a, b = clients
        prod.openai.fail("500", path="/v1/chat/completions")
        for _ in range(3):  # three calls in a row out of retries open a's drafter breaker
            body = await (await a.post("/api/v1/generate-response", json={"ticket": TICKET}, headers=AUTH)).json()
            assert DRAFTER_DOWN in body["degraded_reasons"]
        chats = len(prod.openai.calls("/v1/chat/completions"))
        assert chats == 3

        resp = await b.post("/api/v1/generate-response", json={"ticket": TICKET}, headers=AUTH)
        body = await resp.json()
        assert resp.status == 200 and DRAFTER_DOWN in body["degraded_reasons"] and body["draft"]
        assert len(prod.openai.calls("/v1/chat/completions")) == chats  # b did not even try the dead backend
        assert body["backends"]["embedder"] == "openai"  # the embeddings breaker is another one, still closed
    finally:
        for state in states:
            await state.close()


async def test_breakers_adopt_an_opening_published_by_another() -> None:
    shared = MemoryState()
    one, two = (Breaker(threshold=2, cooldown_s=30, name="openai:chat", shared=shared) for _ in range(2))
    policy = RetryPolicy(max_retries=0, timeout_s=1)

    async def dead() -> str:
        raise ConnectionError("down")

    def verdict(exc: BaseException) -> Transient | None:
        return Transient()

    for _ in range(2):
        with pytest.raises(RetriesExhausted):
            await call_with_retries(dead, policy=policy, classify=verdict, what="chat", breaker=one)
    assert one.is_open and not two.is_open
    with pytest.raises(CircuitOpen):
        await call_with_retries(dead, policy=policy, classify=verdict, what="chat", breaker=two)
    assert two.is_open and 29 < await shared.breaker_open_for("openai:chat") <= 30


# --- Redis down or hung ------------------------------------------------------------------------------
async def test_with_redis_killed_dedup_and_limits_fail_open_and_idempotency_is_503(
    engine: Engine,
    data_dir: Path,
    fake_slack: FakeSlack,
    redis_server: RedisServer,
    aiohttp_client: ClientFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    settings = slack_settings(
        data_dir, fake_slack, kb_redis_url=redis_server.url, kb_api_keys=KEY, kb_rate_limit_per_min=2
    )
    app = build_http_app(engine, settings)
    attach(app, engine, settings)
    bot = SlackBot(fake_slack, await aiohttp_client(app), settings)
    client = bot.client
    search = {"query": "invoice"}
    assert (await client.post("/api/v1/search", json=search, headers=AUTH)).status == 200
    redis_server.kill()

    started = time.monotonic()
    statuses = [(await client.post("/api/v1/search", json=search, headers=AUTH)).status for _ in range(4)]
    assert statuses == [200] * 4  # over the limit of 2, but the limit fails open
    idem = {**AUTH, "Idempotency-Key": "k-1"}
    resp = await client.post("/api/v1/generate-response", json={"ticket": TICKET}, headers=idem)
    assert await error_code(resp, 503) == "idempotency_unavailable"
    assert resp.headers["Retry-After"] == "5"
    assert (await resp.json())["error"]["message"] == messages.HTTP_IDEMPOTENCY_UNAVAILABLE
    assert (await bot.event(bot.mention(COVERED))).status == 200  # dedup fails open: answered
    await bot.answer_update()
    health = await (await client.get("/health")).json()
    assert health["status"] == "degraded" and health["shared_state"] == {"backend": "redis", "reachable": False}
    assert messages.SHARED_DOWN_REASON in health["degraded_reasons"]
    assert time.monotonic() - started < 5.0

    down = [r for r in caplog.records if "is unreachable" in r.getMessage()]
    assert len(down) == 1 and down[0].levelno == logging.WARNING  # once per outage, not per request
    assert "***@127.0.0.1" in down[0].getMessage()
    assert PASSWORD not in caplog.text

    redis_server.start()  # back on the same port: noticed within a second or so
    deadline = time.monotonic() + 5
    while not (await (await client.get("/health")).json())["shared_state"]["reachable"]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    resp = await client.post("/api/v1/generate-response", json={"ticket": TICKET}, headers=idem)
    assert resp.status == 200
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    assert PASSWORD not in caplog.text


async def test_a_hung_redis_costs_at_most_a_second_and_never_a_500(
    engine: Engine, data_dir: Path, redis_server: RedisServer, aiohttp_client: ClientFactory
) -> None:
    settings = replica_settings(data_dir, redis_server.url, kb_rate_limit_per_min=100)
    client = await aiohttp_client(build_http_app(engine, settings))
    assert (await client.post("/api/v1/search", json={"query": "sso"}, headers=AUTH)).status == 200
    redis_server.pause()  # connections are accepted, nothing is ever answered
    try:
        started = time.monotonic()
        resp = await client.post("/api/v1/search", json={"query": "sso"}, headers={**AUTH, "Idempotency-Key": "hung-1"})
        assert await error_code(resp, 503) == "idempotency_unavailable"
        first = time.monotonic() - started
        statuses = [(await client.post("/api/v1/search", json={"query": "sso"}, headers=AUTH)).status for _ in range(5)]
        assert statuses == [200] * 5
        health = await (await client.get("/health")).json()
        assert health["shared_state"]["reachable"] is False
        total = time.monotonic() - started
        assert first < 1.5 and total < 3.0  # bounded per call, and later calls skip the hung server
    finally:
        redis_server.resume()


# --- the parts --------------------------------------------------------------------------------------
async def test_redis_token_bucket_and_idempotency_records(redis_server: RedisServer) -> None:
    state = RedisState(SecretStr(redis_server.url), idempotency_ttl_s=60, in_flight_s=0.3)
    try:
        limiter = RateLimiter(capacity=2, refill_per_s=1)
        waits = [await state.take("key-a", limiter) for _ in range(3)]
        assert waits[:2] == [0.0, 0.0] and 0.9 < waits[2] <= 1.0
        assert await state.take("key-b", limiter) == 0.0  # a bucket per key

        claim = await state.begin(("key-a", "k"), "h1")
        assert isinstance(claim, Reservation)
        with pytest.raises(KeyInFlight):  # still running after the bound (0.3 s here)
            await state.begin(("key-a", "k"), "h1")
        await state.finish(claim, 201, b'{"id": 1}', "application/json")
        assert await state.begin(("key-a", "k"), "h1") == Replay(201, b'{"id": 1}', "application/json")
        assert await state.first_time("e", 60) and not await state.first_time("e", 60)
        assert await state.reachable()
    finally:
        await state.close()


async def test_memory_state_bounds_the_wait_for_a_running_duplicate() -> None:
    state = MemoryState(in_flight_s=0.05)
    claim = await state.begin(("c", "k"), "h")
    assert isinstance(claim, Reservation)
    with pytest.raises(KeyInFlight):
        await state.begin(("c", "k"), "h")
    await state.finish(claim, 500, b"", "")  # a failure frees the key
    assert isinstance(await state.begin(("c", "k"), "h"), Reservation)


def test_urls_are_logged_without_their_password(tmp_path: Path) -> None:
    assert redact_url("redis://:pw@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact_url("rediss://kb:pw@cache:6380") == "rediss://kb:***@cache:6380"
    assert redact_url("unix:///run/redis.sock?db=1&password=pw") == "unix:///run/redis.sock?db=1&password=***"
    assert redact_url("redis://cache:6379") == "redis://cache:6379"
    assert isinstance(open_shared_state(make_settings(tmp_path)), MemoryState)
    with pytest.raises(ConfigError) as info:
        open_shared_state(make_settings(tmp_path, kb_redis_url="http://:pw@cache:6379"))
    assert "pw" not in str(info.value) and "***" in str(info.value)
