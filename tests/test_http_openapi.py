"""The OpenAPI document is valid, matches what the server sends, and the n8n example uses it right."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from bot.http.app import build_http_app
from rag.engine import Engine
from tests.conftest import ROOT, make_settings

KEY = "openapi-key"
WORKFLOW = ROOT / "examples" / "n8n" / "kb-ticket-workflow.json"
ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client(aiohttp_client: ClientFactory, engine: Engine, data_dir: Path) -> TestClient[Any, Any]:
    return await aiohttp_client(build_http_app(engine, make_settings(data_dir, kb_api_keys=KEY)))


@pytest.fixture
async def spec(client: TestClient[Any, Any]) -> dict[str, Any]:
    resp = await client.get("/openapi.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    body: dict[str, Any] = await resp.json()
    return body


def check(spec: dict[str, Any], ref: dict[str, Any], instance: Any) -> None:
    """Validate `instance` against a schema of the document (refs resolve inside the document)."""
    jsonschema.Draft202012Validator({**ref, "components": spec["components"]}).validate(instance)


def routes(client: TestClient[Any, Any]) -> set[tuple[str, str]]:
    assert client.app is not None
    return {
        (r.method, r.resource.canonical)
        for r in client.app.router.routes()
        if r.resource is not None and r.method != "HEAD"
    }


async def test_openapi_document_is_valid_and_covers_every_route(
    spec: dict[str, Any], client: TestClient[Any, Any]
) -> None:
    validate(spec)
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    assert documented == routes(client)
    assert spec["components"]["securitySchemes"]["ApiKeyAuth"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for path, ops in spec["paths"].items():
        for op in ops.values():
            for status, response in op["responses"].items():
                if not status.startswith("2"):
                    assert response["content"]["application/json"]["schema"] == error_ref, (path, status)
            if path.startswith("/api/"):
                assert op["security"] == [{"ApiKeyAuth": []}]
                assert {"401", "403", "422", "429"} <= set(op["responses"])
                if "requestBody" in op:
                    assert {"413", "415"} <= set(op["responses"])
            else:
                assert op["security"] == []


async def test_examples_in_the_document_match_their_schemas(spec: dict[str, Any]) -> None:
    checked = 0
    for ops in spec["paths"].values():
        for op in ops.values():
            media = op.get("requestBody", {}).get("content", {}).get("application/json")
            if media:
                check(spec, media["schema"], media["example"])
                checked += 1
            ok = next(r for status, r in op["responses"].items() if status.startswith("2"))["content"]
            if "example" in ok.get("application/json", {}):
                check(spec, ok["application/json"]["schema"], ok["application/json"]["example"])
                checked += 1
    for name in ("Ticket", "SearchRequest", "ErrorResponse", "FeedbackRequest"):
        for example in spec["components"]["schemas"][name]["examples"]:
            check(spec, {"$ref": f"#/components/schemas/{name}"}, example)
            checked += 1
    assert checked >= 10


async def test_real_responses_match_the_documented_schemas(spec: dict[str, Any], client: TestClient[Any, Any]) -> None:
    def schema(path: str, status: str, method: str = "post") -> dict[str, Any]:
        result: dict[str, Any] = spec["paths"][path][method]["responses"][status]["content"]["application/json"][
            "schema"
        ]
        return result

    auth = {"X-API-Key": KEY}
    resp = await client.post(
        "/api/v1/generate-response", json={"ticket": "My timer stopped and I lost an hour"}, headers=auth
    )
    check(spec, schema("/api/v1/generate-response", "200"), await resp.json())
    resp = await client.post("/api/v1/search", json={"query": "jira"}, headers=auth)
    check(spec, schema("/api/v1/search", "200"), await resp.json())
    resp = await client.get("/health")
    check(spec, schema("/health", "200", "get"), await resp.json())
    answered = await (
        await client.post("/api/v1/generate-response", json={"ticket": "our office printer is jammed"}, headers=auth)
    ).json()
    rating = {"request_id": answered["request_id"], "rating": "down"}
    resp = await client.post("/api/v1/feedback", json=rating, headers=auth)
    assert resp.status == 201
    check(spec, schema("/api/v1/feedback", "201"), await resp.json())
    resp = await client.post("/api/v1/feedback", json={"request_id": "unknown", "rating": "up"}, headers=auth)
    assert resp.status == 404
    check(spec, schema("/api/v1/feedback", "404"), await resp.json())
    resp = await client.get("/api/v1/gaps?days=3", headers=auth)
    report = await resp.json()
    assert report["total"] >= 1
    check(spec, schema("/api/v1/gaps", "200", "get"), report)
    resp = await client.get("/api/v1/gaps?days=400", headers=auth)
    assert resp.status == 422
    check(spec, schema("/api/v1/gaps", "422", "get"), await resp.json())
    for status, request in [
        ("401", {}),
        ("422", {"json": {"ticket": 1}, "headers": auth}),
        ("400", {"data": b"{", "headers": {**auth, "Content-Type": "application/json"}}),
    ]:
        resp = await client.post("/api/v1/generate-response", **request)
        assert str(resp.status) == status
        check(spec, schema("/api/v1/generate-response", status), await resp.json())


async def test_open_api_without_keys_documents_no_security(
    aiohttp_client: ClientFactory, engine: Engine, data_dir: Path
) -> None:
    client = await aiohttp_client(build_http_app(engine, make_settings(data_dir)))
    spec = await (await client.get("/openapi.json")).json()
    validate(spec)
    assert "security" not in spec and "securitySchemes" not in spec["components"]
    assert "401" not in spec["paths"]["/api/v1/search"]["post"]["responses"]


# --- the n8n example workflow (its graph and expressions: tests/test_n8n_workflow.py) ------------------
async def test_n8n_request_body_is_accepted_by_the_api(client: TestClient[Any, Any]) -> None:
    # What the workflow's jsonBody expression produces for a webhook call without subject or customer.
    body = {"ticket": "Our Jira issues stopped syncing time", "subject": None, "customer": None}
    resp = await client.post(
        "/api/v1/generate-response",
        json=body,
        headers={"X-API-Key": KEY, "X-Request-ID": "n8n-1234", "Idempotency-Key": "n8n-1234"},
    )
    assert resp.status == 200
    answer = await resp.json()
    assert answer["request_id"] == "n8n-1234" and answer["decision"] in {"answer", "review", "escalate"}
