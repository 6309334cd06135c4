"""The HTTP API through real HTTP (aiohttp test server) on the real engine and sample KB."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from bot.http.app import build_http_app, is_loopback
from bot.http.limits import RateLimiter
from bot.http.schemas import ErrorResponse, HealthResponse, SearchResponse
from bot.http.state import ENGINE
from bot.logs import JsonFormatter
from rag.embedders.local import LocalEmbedder
from rag.engine import Engine
from rag.errors import ConfigError, StoreError
from rag.factory import build_engine
from rag.models import Answer
from tests.conftest import make_settings

KEY = "test-key-one"
OTHER_KEY = "test-key-two"
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
MakeClient = Callable[..., Awaitable[TestClient[Any, Any]]]
JSON = {"Content-Type": "application/json"}
AUTH = {"X-API-Key": KEY, **JSON}
PASSWORD_TICKET = "I forgot my password and the reset e-mail never arrives"


@pytest.fixture
def make_client(aiohttp_client: ClientFactory, engine: Engine, data_dir: Path) -> MakeClient:
    """An HTTP client to a fresh app on the shared engine; settings overridable per test."""

    async def make(rate_limiter: RateLimiter | None = None, **overrides: Any) -> TestClient[Any, Any]:
        values: dict[str, Any] = {"kb_api_keys": f"{KEY},{OTHER_KEY}", "kb_rate_limit_per_min": 0}
        values.update(overrides)
        app = build_http_app(engine, make_settings(data_dir, **values), rate_limiter=rate_limiter)
        return await aiohttp_client(app)

    return make


@pytest.fixture
async def client(make_client: MakeClient) -> TestClient[Any, Any]:
    return await make_client()


async def error_of(resp: ClientResponse, status: int, code: str) -> dict[str, Any]:
    """Assert the one error shape and return its `error` object."""
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/json"
    body = await resp.json()
    ErrorResponse.model_validate(body)
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert error["code"] == code
    assert error["message"]
    assert error["request_id"] == resp.headers["X-Request-ID"]
    assert "Traceback" not in error["message"]
    return error


# --- answers -------------------------------------------------------------------------------------
async def test_generate_response_answers_with_the_answer_schema(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/api/v1/generate-response",
        json={"ticket": PASSWORD_TICKET, "customer": "ana@x.io"},
        headers={"X-API-Key": KEY},
    )
    assert resp.status == 200
    answer = Answer.model_validate_json(await resp.read())
    assert answer.request_id == resp.headers["X-Request-ID"]
    assert answer.sources[0].article_id == "reset-your-password"
    assert answer.backends.embedder == "local-minilm" and answer.draft


async def test_the_answer_sent_is_the_answer_recorded(client: TestClient[Any, Any], data_dir: Path) -> None:
    for route in ("generate-response", "required-data"):
        resp = await client.post(f"/api/v1/{route}", json={"ticket": PASSWORD_TICKET}, headers={"X-API-Key": KEY})
        assert resp.status == 200 and resp.content_type == "application/json"
        body = (await resp.read()).decode()
        db = sqlite3.connect(data_dir / "feedback.sqlite3")
        try:
            (stored,) = db.execute(
                "select answer_json from answers where request_id = ?", (resp.headers["X-Request-ID"],)
            ).fetchone()
        finally:
            db.close()
        assert stored == body  # the very text sent, kept for the rating that may follow
        assert Answer.model_validate_json(body).model_dump_json() == body


async def test_required_data_uses_the_same_answer_schema(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/api/v1/required-data", json={"ticket": "Please delete my account and all my data"}, headers={"X-API-Key": KEY}
    )
    assert resp.status == 200
    answer = Answer.model_validate_json(await resp.read())
    assert {s.article_id for s in answer.sources} >= {"transfer-ownership-or-delete-account"}


async def test_search_returns_top_k_articles(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/api/v1/search", json={"query": "export timesheets to csv", "top_k": 2}, headers={"X-API-Key": KEY}
    )
    assert resp.status == 200
    found = SearchResponse.model_validate_json(await resp.read())
    assert len(found.sources) == 2 and found.sources[0].article_id == "export-timesheets"
    assert found.request_id == resp.headers["X-Request-ID"] and found.timings_ms["total"] > 0


async def test_health_needs_no_key_and_reports_backends(client: TestClient[Any, Any]) -> None:
    resp = await client.get("/health")
    assert resp.status == 200
    health = HealthResponse.model_validate_json(await resp.read())
    assert health.status == "ok" and health.articles == 20 and health.chunks > 20
    assert health.backends.store == "sqlite" and health.degraded is False


# --- auth ------------------------------------------------------------------------------------------
async def test_missing_key_is_401_wrong_key_is_403_each_configured_key_works(client: TestClient[Any, Any]) -> None:
    body = {"ticket": PASSWORD_TICKET}
    resp = await client.post("/api/v1/generate-response", json=body)
    await error_of(resp, 401, "missing_api_key")
    assert resp.headers["WWW-Authenticate"].startswith("ApiKey")
    await error_of(
        await client.post("/api/v1/search", json={"query": "x"}, headers={"X-API-Key": KEY + "x"}),
        403,
        "invalid_api_key",
    )
    await error_of(
        await client.post("/api/v1/search", json={"query": "x"}, headers={"X-API-Key": ""}), 401, "missing_api_key"
    )
    for key in (KEY, OTHER_KEY):
        assert (
            await client.post("/api/v1/search", json={"query": "invoice"}, headers={"X-API-Key": key})
        ).status == 200


async def test_open_api_on_loopback_warns_and_needs_no_key(
    make_client: MakeClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="bot.http.app"):
        client = await make_client(kb_api_keys="")
    assert any("No API key configured" in r.getMessage() for r in caplog.records)
    resp = await client.post("/api/v1/search", json={"query": "refund"})
    assert resp.status == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "example.com", ""])
def test_open_api_refuses_a_reachable_host(engine: Engine, data_dir: Path, host: str) -> None:
    with pytest.raises(ConfigError, match="KB_API_KEYS"):
        build_http_app(engine, make_settings(data_dir, kb_host=host))
    build_http_app(engine, make_settings(data_dir, kb_host=host, kb_api_keys=KEY))  # with a key: fine


def test_loopback_detection() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost", "LOCALHOST"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "10.0.0.1", "kb.internal", ""))


# --- validation --------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "ticket"),
        ({"ticket": ""}, "ticket"),
        ({"ticket": "  \n\t "}, "ticket"),
        ({"ticket": "x" * 100_000}, "ticket"),
        ({"ticket": 42}, "ticket"),
        ({"ticket": ["a list"]}, "ticket"),
        ({"ticket": None}, "ticket"),
        ({"ticket": "ok", "subject": 7}, "subject"),
        ({"ticket": "ok", "metadata": "not an object"}, "metadata"),
        ({"ticket": "ok", "priority": "high"}, "priority"),
        (["ticket"], ""),
        ("just a string", ""),
    ],
)
async def test_invalid_tickets_are_422_naming_the_field(client: TestClient[Any, Any], body: Any, field: str) -> None:
    resp = await client.post("/api/v1/generate-response", data=json.dumps(body), headers=AUTH)
    error = await error_of(resp, 422, "invalid_fields")
    assert ".".join(map(str, error["details"][0]["loc"])) == field
    assert all(set(d) == {"loc", "msg", "type"} for d in error["details"])


@pytest.mark.parametrize(
    "body",
    [
        {"query": ""},
        {"query": "a", "top_k": 0},
        {"query": "a", "top_k": 51},
        {"query": "a", "top_k": "5"},
        {"query": "a", "top_k": True},
        {"top_k": 3},
    ],
)
async def test_invalid_search_is_422(client: TestClient[Any, Any], body: Any) -> None:
    await error_of(await client.post("/api/v1/search", data=json.dumps(body), headers=AUTH), 422, "invalid_fields")


async def test_top_k_accepts_a_whole_float_as_json_schema_does(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/api/v1/search", data=b'{"query": "invoice", "top_k": 3.0}', headers=AUTH)
    assert resp.status == 200 and len((await resp.json())["sources"]) == 3
    await error_of(
        await client.post("/api/v1/search", data=b'{"query": "invoice", "top_k": 3.5}', headers=AUTH),
        422,
        "invalid_fields",
    )


@pytest.mark.parametrize(
    "raw", [b'{"ticket": "caf\xe9"}', b'{"ticket": "a\\ud800b"}', b'{"ticket": ', b"", b"{'ticket': 'x'}", b"\xff\xfe"]
)
async def test_malformed_json_and_invalid_utf8_are_400(client: TestClient[Any, Any], raw: bytes) -> None:
    resp = await client.post("/api/v1/generate-response", data=raw, headers=AUTH)
    error = await error_of(resp, 400, "malformed_json")
    assert "not valid UTF-8 JSON" in error["message"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1", None]
)
async def test_a_body_that_is_not_json_is_415(client: TestClient[Any, Any], content_type: str | None) -> None:
    headers = {"X-API-Key": KEY, **({"Content-Type": content_type} if content_type else {})}
    resp = await client.post("/api/v1/generate-response", data=b'{"ticket": "hello"}', headers=headers)
    await error_of(resp, 415, "unsupported_media_type")


async def test_json_with_utf8_charset_is_fine(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/api/v1/search",
        data=json.dumps({"query": "Rückerstattung refund"}).encode(),
        headers={"X-API-Key": KEY, "Content-Type": "application/json; charset=UTF-8"},
    )
    assert resp.status == 200


async def test_body_over_the_limit_is_413_with_or_without_content_length(make_client: MakeClient) -> None:
    client = await make_client(kb_max_body_bytes=2048)
    big = json.dumps({"ticket": "x" * 4000}).encode()
    await error_of(await client.post("/api/v1/generate-response", data=big, headers=AUTH), 413, "body_too_large")

    async def chunks() -> AsyncIterator[bytes]:  # chunked transfer: no Content-Length to check up front
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    resp = await client.post("/api/v1/generate-response", data=chunks(), headers=AUTH)
    error = await error_of(resp, 413, "body_too_large")
    assert "2048" in error["message"]
    ok = await client.post("/api/v1/generate-response", json={"ticket": "x" * 1500}, headers={"X-API-Key": KEY})
    assert ok.status == 200


# --- rate limit ----------------------------------------------------------------------------------------
async def test_rate_limit_is_429_with_retry_after_then_recovers(make_client: MakeClient) -> None:
    now = [1000.0]  # the bucket's clock, moved by the test: no dependence on how fast the machine is
    client = await make_client(rate_limiter=RateLimiter(capacity=2, refill_per_s=2, clock=lambda: now[0]))
    search = {"query": "invoice VAT"}
    for _ in range(2):
        assert (await client.post("/api/v1/search", json=search, headers={"X-API-Key": KEY})).status == 200
    resp = await client.post("/api/v1/search", json=search, headers={"X-API-Key": KEY})
    await error_of(resp, 429, "rate_limited")
    assert resp.headers["Retry-After"] == "1"
    other = await client.post("/api/v1/search", json=search, headers={"X-API-Key": OTHER_KEY})
    assert other.status == 200  # one bucket per key
    assert (await client.get("/health")).status == 200  # health is never limited
    now[0] += 0.25  # half a token: still limited
    await error_of(await client.post("/api/v1/search", json=search, headers={"X-API-Key": KEY}), 429, "rate_limited")
    now[0] += 0.5  # 2 tokens/s: one is back
    assert (await client.post("/api/v1/search", json=search, headers={"X-API-Key": KEY})).status == 200
    await error_of(await client.post("/api/v1/search", json=search, headers={"X-API-Key": KEY}), 429, "rate_limited")
    now[0] += 60  # a full bucket again, never more than its capacity
    statuses = [(await client.post("/api/v1/search", json=search, headers={"X-API-Key": KEY})).status for _ in range(3)]
    assert statuses == [200, 200, 429]


async def test_rate_limit_from_settings_counts_a_minute(make_client: MakeClient) -> None:
    client = await make_client(kb_rate_limit_per_min=2)
    statuses = [
        (await client.post("/api/v1/search", json={"query": "sso"}, headers={"X-API-Key": KEY})).status
        for _ in range(3)
    ]
    assert statuses == [200, 200, 429]
    resp = await client.post("/api/v1/search", json={"query": "sso"}, headers={"X-API-Key": KEY})
    error = await error_of(resp, 429, "rate_limited")
    assert 1 <= int(resp.headers["Retry-After"]) <= 30 and "2/min" in error["message"]


# --- idempotency ---------------------------------------------------------------------------------------
async def test_same_idempotency_key_and_body_replays_the_stored_answer(client: TestClient[Any, Any]) -> None:
    headers = {"X-API-Key": KEY, "Idempotency-Key": "n8n-exec-1"}
    first = await client.post("/api/v1/generate-response", json={"ticket": PASSWORD_TICKET}, headers=headers)
    second = await client.post("/api/v1/generate-response", json={"ticket": PASSWORD_TICKET}, headers=headers)
    assert first.status == second.status == 200
    assert await first.read() == await second.read()
    assert second.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert second.headers["X-Request-ID"] != first.headers["X-Request-ID"]
    metrics = await (await client.get("/metrics")).text()
    assert _sample(metrics, "kb_answers_total") == 1.0  # the engine answered once

    other_key = await client.post(
        "/api/v1/generate-response",
        json={"ticket": PASSWORD_TICKET},
        headers={"X-API-Key": OTHER_KEY, "Idempotency-Key": "n8n-exec-1"},
    )
    assert "Idempotent-Replayed" not in other_key.headers  # keys are per API key


async def test_idempotency_key_with_another_body_or_route_is_422(client: TestClient[Any, Any]) -> None:
    headers = {"X-API-Key": KEY, "Idempotency-Key": "k-2"}
    assert (await client.post("/api/v1/search", json={"query": "sso"}, headers=headers)).status == 200
    resp = await client.post("/api/v1/search", json={"query": "saml"}, headers=headers)
    await error_of(resp, 422, "idempotency_key_reused")
    resp = await client.post("/api/v1/required-data", json={"query": "sso"}, headers=headers)
    await error_of(resp, 422, "idempotency_key_reused")


async def test_concurrent_duplicates_wait_for_the_first_and_failures_are_not_stored(
    client: TestClient[Any, Any],
) -> None:
    headers = {"X-API-Key": KEY, "Idempotency-Key": "k-3"}
    responses = await asyncio.gather(
        *(client.post("/api/v1/generate-response", json={"ticket": PASSWORD_TICKET}, headers=headers) for _ in range(4))
    )
    bodies = {await r.read() for r in responses}
    assert len(bodies) == 1 and all(r.status == 200 for r in responses)

    bad = {"X-API-Key": KEY, "Idempotency-Key": "k-4"}
    await error_of(await client.post("/api/v1/search", json={"query": " "}, headers=bad), 422, "invalid_fields")
    await error_of(await client.post("/api/v1/search", json={"query": " "}, headers=bad), 422, "invalid_fields")
    await error_of(
        await client.post("/api/v1/search", json={"query": "x"}, headers={**bad, "Idempotency-Key": "a b"}),
        400,
        "bad_idempotency_key",
    )


# --- request id, errors, logs ---------------------------------------------------------------------------
async def test_request_id_is_echoed_or_made(client: TestClient[Any, Any]) -> None:
    resp = await client.post(
        "/api/v1/generate-response",
        json={"ticket": PASSWORD_TICKET},
        headers={"X-API-Key": KEY, "X-Request-ID": "n8n-run-42"},
    )
    assert resp.headers["X-Request-ID"] == "n8n-run-42"
    assert (await resp.json())["request_id"] == "n8n-run-42"
    error = await error_of(
        await client.post("/api/v1/search", json={}, headers={"X-Request-ID": "abc.1"}), 401, "missing_api_key"
    )
    assert error["request_id"] == "abc.1"
    for insane in ("has space", "x" * 200, "ünïcode"):
        made = (await client.get("/health", headers={"X-Request-ID": insane})).headers["X-Request-ID"]
        assert made != insane and len(made) == 32


async def test_unknown_route_and_wrong_method_have_the_error_shape(client: TestClient[Any, Any]) -> None:
    error = await error_of(await client.get("/api/v2/nothing", headers={"X-API-Key": KEY}), 404, "not_found")
    assert "/openapi.json" in error["message"]
    await error_of(await client.get("/nope"), 404, "not_found")
    resp = await client.get("/api/v1/generate-response", headers={"X-API-Key": KEY})
    await error_of(resp, 405, "method_not_allowed")
    assert resp.headers["Allow"] == "POST"
    await error_of(await client.delete("/health"), 405, "method_not_allowed")


async def test_mounted_routes_get_the_error_shape_for_crashes_and_backend_errors(
    aiohttp_client: ClientFactory, engine: Engine, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = build_http_app(engine, make_settings(data_dir, kb_api_keys=KEY))

    async def crash(request: web.Request) -> web.Response:
        raise RuntimeError("secret internals")

    async def backend_down(request: web.Request) -> web.Response:
        raise StoreError("pinecone", "connection refused")

    async def uses_engine(request: web.Request) -> web.Response:
        return web.json_response(request.app[ENGINE].health())

    app.router.add_post("/slack/events", uses_engine)  # how another door mounts: no API key needed
    app.router.add_get("/crash", crash)
    app.router.add_get("/backend", backend_down)
    client = await aiohttp_client(app)
    with caplog.at_level(logging.ERROR, logger="bot.http.middleware"):
        error = await error_of(await client.get("/crash"), 500, "internal_error")
    assert "secret internals" not in error["message"]
    assert any(r.exc_info and "secret internals" in str(r.exc_info[1]) for r in caplog.records)  # logged, not sent
    resp = await client.get("/backend")
    error = await error_of(resp, 503, "backend_unavailable")
    assert "pinecone" in error["message"] and resp.headers["Retry-After"]
    mounted = await client.post("/slack/events", data=b"")
    assert mounted.status == 200 and (await mounted.json())["chunks"] > 0


async def test_access_log_is_json_with_request_fields_and_no_ticket_text(client: TestClient[Any, Any]) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        resp = await client.post(
            "/api/v1/generate-response",
            json={"ticket": "Secret ticket words zebra"},
            headers={"X-API-Key": KEY, "X-Request-ID": "log-check-1"},
        )
        assert resp.status == 200
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "bot.http.access"]
    assert len(access) == 1
    line = access[0]
    assert line["request_id"] == "log-check-1" and line["route"] == "/api/v1/generate-response"
    assert line["status"] == 200 and line["duration_ms"] > 0 and line["decision"] in {"answer", "review", "escalate"}
    assert line["confidence"] in {"high", "medium", "low"} and line["backends"] == "local-minilm/sqlite/extractive"
    ours = [line for line in lines if line["logger"].startswith(("bot.", "rag."))]
    assert {line["logger"] for line in ours} >= {"rag.engine", "bot.http.access"}
    assert all(line.get("request_id") == "log-check-1" for line in ours)  # the engine's line too
    assert "zebra" not in stream.getvalue() and KEY not in stream.getvalue()


# --- metrics ---------------------------------------------------------------------------------------------
def _sample(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        matches = line.startswith(name) and line[len(name)] in "{ "
        if matches and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_metrics_count_requests_answers_and_stages(client: TestClient[Any, Any]) -> None:
    for ticket in (PASSWORD_TICKET, "How do I export my timesheets?"):
        assert (
            await client.post("/api/v1/generate-response", json={"ticket": ticket}, headers={"X-API-Key": KEY})
        ).status == 200
    await client.post("/api/v1/search", json={"query": "x"})  # 401
    await client.request("PROPFIND", "/somewhere")  # 405/404 from a method nobody serves
    resp = await client.get("/metrics")
    assert resp.status == 200 and resp.content_type == "text/plain"
    text = await resp.text()
    route = "/api/v1/generate-response"
    assert _sample(text, "kb_http_requests_total", route=route, method="POST", status="200") == 2
    assert _sample(text, "kb_http_requests_total", route="/api/v1/search", status="401") == 1
    assert _sample(text, "kb_http_requests_total", route="unmatched", method="other") == 1
    assert "PROPFIND" not in text
    assert _sample(text, "kb_http_request_duration_seconds_count", route=route) == 2
    assert _sample(text, "kb_answers_total") == 2
    for stage in ("embed", "retrieve", "draft", "total"):
        assert _sample(text, "kb_stage_duration_seconds_count", stage=stage) == 2
    assert "kb_http_in_flight_requests" in text


# --- lifecycle ---------------------------------------------------------------------------------------------
async def test_an_engine_factory_is_opened_at_startup_and_closed_at_cleanup(
    aiohttp_client: ClientFactory, data_dir: Path, embedder: LocalEmbedder
) -> None:
    settings = make_settings(data_dir)
    opened: list[Engine] = []

    async def factory() -> Engine:
        opened.append(build_engine(settings, embedder=embedder))
        return opened[-1]

    client = await aiohttp_client(build_http_app(factory, settings))
    assert (await client.post("/api/v1/search", json={"query": "jira"})).status == 200
    assert len(opened) == 1
    await client.close()
    with pytest.raises(Exception, match="closed"):
        opened[0].kb.catalog.counts()


async def test_a_ticket_sent_as_html_is_answered_like_its_text(client: TestClient[Any, Any]) -> None:
    # What a help desk's webhook sends for an e-mail: markup, entities, a signature, the quoted thread.
    html_ticket = (
        '<div dir="ltr"><p>Hello&nbsp;team,</p><p>I forgot my password and the reset e-mail never arrives</p>'
        "<p>Thanks,<br>Ana Lima<br>ana@x.io</p>"
        '<div class="gmail_quote">On Mon, Tallyhive wrote:<blockquote>Your invoice is ready</blockquote></div></div>'
    )
    answers = []
    for ticket in (PASSWORD_TICKET, html_ticket):
        resp = await client.post("/api/v1/generate-response", json={"ticket": ticket}, headers={"X-API-Key": KEY})
        assert resp.status == 200
        answers.append(Answer.model_validate_json(await resp.read()))
    text, html = answers
    assert [s.article_id for s in html.sources] == [s.article_id for s in text.sources]
    assert html.decision == text.decision and html.confidence.score == pytest.approx(text.confidence.score)
    assert "<" not in html.draft and "nbsp" not in html.draft
    # The address in the signature is data already given.
    assert not any("e-mail" in item.item for item in html.required_data), html.required_data
