"""Faults of the production backends and what the user gets: a degraded answer in bounded time, never an error.

Every fault is produced by the fake servers on the wire (500, 429 with Retry-After, a reply slower
than KB_TIMEOUT_S, a body that is not JSON, nothing listening), and every answer goes through the
real engine with the OpenAI embedder, the Pinecone store and the OpenAI drafter.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from rag.models import Answer
from rag.retry import (
    Breaker,
    CircuitOpen,
    RetriesExhausted,
    RetryPolicy,
    Transient,
    call_with_retries,
    retry_after_seconds,
)
from tests.fakes.faults import FaultKind
from tests.fakes.production import Production, prod, production_kb

TICKET = "I was charged twice for my subscription this month, can I get a refund?"
DRAFTER_DOWN = "drafter unavailable (openai): extractive draft"
EMBEDDINGS_DOWN = "embeddings unavailable (openai): keyword search only"
STORE_DOWN = "vector store unavailable (pinecone): keyword search only"

# target -> (which fake, path the fault hits, the degraded reason the answer must give)
TARGETS = {
    "openai-chat": ("openai", "/v1/chat/completions", [DRAFTER_DOWN]),
    "openai-embeddings": ("openai", "/v1/embeddings", [EMBEDDINGS_DOWN]),
    "pinecone-query": ("pinecone", "/query", [STORE_DOWN]),
}
FAULTS: list[FaultKind | str] = ["500", "429", "slow", "malformed", "refused"]


async def timed(coro: Awaitable[Answer]) -> tuple[Answer, float]:
    started = time.monotonic()
    answer = await coro
    return answer, time.monotonic() - started


def assert_still_useful(answer: Answer) -> None:
    """Degraded, but an answer: a draft, sources found by keyword search, the reasons said."""
    assert answer.degraded and answer.degraded_reasons
    assert answer.draft.strip() and answer.draft.startswith("Hi")
    assert answer.sources and answer.sources[0].article_id == "cancel-subscription-and-refunds"


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("target", list(TARGETS))
async def test_each_fault_gives_a_degraded_answer(prod: Production, target: str, fault: str) -> None:
    which, path, reasons = TARGETS[target]
    engine = prod.engine(kb_timeout_s=0.6, kb_max_retries=1)
    server = prod.openai if which == "openai" else prod.pinecone
    if fault == "refused":
        await server.shutdown()
        if which == "openai":  # embeddings and chat share the server: both go
            reasons = [EMBEDDINGS_DOWN, DRAFTER_DOWN]
    else:
        server.fail(fault, path=path, retry_after=0.1, slow_s=5.0)  # type: ignore[arg-type]

    answer, elapsed = await timed(engine.answer(TICKET))

    assert_still_useful(answer)
    assert answer.degraded_reasons == reasons
    if DRAFTER_DOWN in reasons:
        assert answer.backends.drafter == "extractive"
    if EMBEDDINGS_DOWN in reasons:
        assert answer.backends.embedder == "openai (unavailable)" and answer.backends.store == "pinecone"
    if STORE_DOWN in reasons:
        assert answer.backends.store == "pinecone (unavailable)" and answer.backends.embedder == "openai"
    # Bounded: one budget of KB_TIMEOUT_S per outside call, plus the local work.
    assert elapsed < 0.6 * len(reasons) + 1.0
    if fault != "refused":
        hits = [r for r in server.calls(path) if r.fault == fault]
        # Transient faults are retried once (KB_MAX_RETRIES=1); malformed bodies are not retried.
        assert len(hits) == (1 if fault in ("malformed", "slow") else 2)


async def test_429_retry_after_is_honoured_then_the_call_succeeds(prod: Production) -> None:
    engine = prod.engine(kb_max_retries=2)
    prod.openai.fail("429", times=1, path="/v1/embeddings", retry_after=0.4)

    answer = await engine.answer(TICKET)

    assert not answer.degraded and answer.backends.embedder == "openai"
    first, second = prod.openai.calls("/v1/embeddings")[:2]  # then the escalation intents, once
    assert first.fault == "429" and second.fault is None
    assert second.at - first.at >= 0.4


async def test_a_retry_after_longer_than_the_budget_is_not_waited_for(prod: Production) -> None:
    engine = prod.engine(kb_timeout_s=1.0, kb_max_retries=3)
    prod.openai.fail("429", path="/v1/chat/completions", retry_after=30)

    answer, elapsed = await timed(engine.answer(TICKET))

    assert answer.degraded_reasons == [DRAFTER_DOWN] and elapsed < 1.0
    assert len(prod.openai.calls("/v1/chat/completions")) == 1


@pytest.mark.parametrize("which,path", [("openai", "/v1/chat/completions"), ("pinecone", "/query")])
async def test_one_500_is_absorbed_by_a_retry(prod: Production, which: str, path: str) -> None:
    engine = prod.engine(kb_max_retries=1)
    server = prod.openai if which == "openai" else prod.pinecone
    server.fail("500", times=1, path=path)

    answer = await engine.answer(TICKET)

    assert not answer.degraded and answer.backends.drafter == "openai"
    assert [r.fault for r in server.calls(path)] == ["500", None]


async def test_backends_killed_mid_run_keep_answering_degraded_then_recover(prod: Production) -> None:
    engine = prod.engine(kb_timeout_s=1.0, kb_max_retries=1)
    tickets = [
        TICKET,
        "How do I reset my password?",
        "Slack integration does not post timers",
        "How do I export my timesheets to CSV?",
        "SSO login fails with SAML error",
    ]
    healthy = await asyncio.gather(*(engine.answer(t) for t in tickets[:2]))
    assert not any(a.degraded for a in healthy)

    await prod.openai.shutdown()
    await prod.pinecone.shutdown()
    started = time.monotonic()
    down = await asyncio.gather(*(engine.answer(t) for t in tickets))
    elapsed = time.monotonic() - started

    assert all(a.degraded for a in down) and elapsed < 3.0
    assert all(a.degraded_reasons == [EMBEDDINGS_DOWN, DRAFTER_DOWN] for a in down)  # no query was sent at all
    assert all(a.draft and a.sources for a in down)
    assert down[0].sources[0].article_id == "cancel-subscription-and-refunds"

    # Five failures in a row opened the breakers: the next answers do not even try (milliseconds).
    await prod.openai.start()  # same ports again
    await prod.pinecone.start()
    seen = len(prod.openai.requests)
    skipped, elapsed = await timed(engine.answer(tickets[2]))
    assert skipped.degraded_reasons == [EMBEDDINGS_DOWN, DRAFTER_DOWN] and elapsed < 0.2
    assert len(prod.openai.requests) == seen

    await asyncio.sleep(1.0)  # one KB_TIMEOUT_S later a probe goes through, and it succeeds
    recovered = await engine.answer(tickets[1])
    assert not recovered.degraded and recovered.backends.model_dump() == {
        "embedder": "openai",
        "store": "pinecone",
        "drafter": "openai",
    }


async def test_pinecone_down_alone_keeps_the_openai_draft(prod: Production) -> None:
    engine = prod.engine()
    await prod.pinecone.shutdown()

    answer = await engine.answer(TICKET)

    assert answer.degraded_reasons == [STORE_DOWN] and answer.backends.drafter == "openai"
    assert prod.openai.chats  # the drafter still got keyword-search evidence
    assert '<chunk id="cancel-subscription-and-refunds#' in prod.openai.chats[0]["messages"][1]["content"]


# --- the retry helper on its own ------------------------------------------------------------


class Flaky(Exception):
    pass


def flaky_verdict(exc: BaseException) -> Transient | None:
    return Transient(getattr(exc, "retry_after", None)) if isinstance(exc, Flaky) else None


def failing(times: int, result: str = "ok") -> tuple[Callable[[], Awaitable[str]], list[float]]:
    calls: list[float] = []

    async def attempt() -> str:
        calls.append(time.monotonic())
        if len(calls) <= times:
            raise Flaky(f"failure {len(calls)}")
        return result

    return attempt, calls


async def test_retries_until_success_within_max_retries() -> None:
    attempt, calls = failing(2)
    policy = RetryPolicy(max_retries=2, timeout_s=5, base_delay_s=0.01)
    assert await call_with_retries(attempt, policy=policy, classify=flaky_verdict, what="t") == "ok"
    assert len(calls) == 3


async def test_gives_up_after_max_retries_with_the_last_error() -> None:
    attempt, calls = failing(5)
    policy = RetryPolicy(max_retries=1, timeout_s=5, base_delay_s=0.01)
    with pytest.raises(RetriesExhausted, match=r"t failed after 2 attempt\(s\).*Flaky: failure 2") as info:
        await call_with_retries(attempt, policy=policy, classify=flaky_verdict, what="t")
    assert isinstance(info.value.last, Flaky) and len(calls) == 2


async def test_errors_that_are_not_transient_go_straight_up() -> None:
    async def attempt() -> str:
        raise KeyError("bad request")

    with pytest.raises(KeyError):
        await call_with_retries(attempt, policy=RetryPolicy(max_retries=3), classify=flaky_verdict, what="t")


async def test_a_hanging_attempt_is_cut_at_the_deadline() -> None:
    async def attempt() -> str:
        await asyncio.sleep(10)
        return "late"

    started = time.monotonic()
    with pytest.raises(RetriesExhausted, match="timed out"):
        await call_with_retries(
            attempt, policy=RetryPolicy(max_retries=3, timeout_s=0.2), classify=flaky_verdict, what="t"
        )
    assert time.monotonic() - started < 0.5


async def test_the_breaker_opens_after_three_exhausted_calls_and_probes_after_the_cooldown() -> None:
    now = [100.0]
    breaker = Breaker(threshold=3, cooldown_s=5.0, clock=lambda: now[0])
    policy = RetryPolicy(max_retries=0, timeout_s=1)
    for _ in range(3):
        attempt, _calls = failing(1)
        with pytest.raises(RetriesExhausted):
            await call_with_retries(attempt, policy=policy, classify=flaky_verdict, what="t", breaker=breaker)
    attempt, calls = failing(0)
    with pytest.raises(CircuitOpen, match="t skipped: 3 failures in a row, next try in 5.0 s"):
        await call_with_retries(attempt, policy=policy, classify=flaky_verdict, what="t", breaker=breaker)
    assert calls == []  # not even tried
    now[0] += 5.0
    assert await call_with_retries(attempt, policy=policy, classify=flaky_verdict, what="t", breaker=breaker) == "ok"
    assert breaker.failures == 0 and not breaker.is_open


async def test_a_failed_probe_reopens_the_breaker() -> None:
    now = [0.0]
    breaker = Breaker(threshold=1, cooldown_s=2.0, clock=lambda: now[0])
    policy = RetryPolicy(max_retries=0, timeout_s=1)
    for _ in range(2):
        attempt, _calls = failing(1)
        with pytest.raises(RetriesExhausted) as info:
            await call_with_retries(attempt, policy=policy, classify=flaky_verdict, what="t", breaker=breaker)
        assert not isinstance(info.value, CircuitOpen)
        assert breaker.is_open
        now[0] += 2.0


def test_backoff_is_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(base_delay_s=0.25, max_delay_s=2.0)
    rng = random.Random(1)
    for attempt, cap in [(0, 0.25), (1, 0.5), (2, 1.0), (3, 2.0), (6, 2.0)]:
        delays = [policy.backoff(attempt, rng) for _ in range(200)]
        assert min(delays) >= 0 and max(delays) <= cap and max(delays) > cap * 0.8


def test_retry_after_parsing() -> None:
    assert retry_after_seconds({"Retry-After": "2"}) == 2.0
    assert retry_after_seconds({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert retry_after_seconds({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # in the past
    assert retry_after_seconds({"Retry-After": "soon"}) is None and retry_after_seconds(None) is None


async def test_the_http_api_answers_200_degraded_and_health_says_so(
    prod: Production, aiohttp_client: Callable[..., Awaitable[Any]]
) -> None:
    from bot.http.app import build_http_app

    settings = prod.settings(kb_timeout_s=1.0, kb_api_keys="k-test")
    engine = prod.engine(kb_timeout_s=1.0)
    client = await aiohttp_client(build_http_app(engine, settings))
    headers = {"X-API-Key": "k-test"}
    await prod.openai.shutdown()
    await prod.pinecone.shutdown()

    for path in ("/api/v1/generate-response", "/api/v1/required-data"):
        response = await client.post(path, json={"ticket": TICKET}, headers=headers)
        assert response.status == 200
        body = await response.json()
        assert body["degraded"] is True and body["sources"]
        assert bool(body["draft"]) is path.endswith("generate-response")  # /required-data drafts nothing
    search = await client.post("/api/v1/search", json={"query": "refund double charge"}, headers=headers)
    assert search.status == 200 and (await search.json())["sources"]
    health = await (await client.get("/health")).json()
    assert health["status"] == "degraded"
    assert health["degraded_reasons"] == [EMBEDDINGS_DOWN, DRAFTER_DOWN]
