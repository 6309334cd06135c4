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
                assert {"401", "403", "413", "415", "422", "429"} <= set(op["responses"])
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
            ok = op["responses"]["200"]["content"]
            if "example" in ok.get("application/json", {}):
                check(spec, ok["application/json"]["schema"], ok["application/json"]["example"])
                checked += 1
    for name in ("Ticket", "SearchRequest", "ErrorResponse"):
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


# --- the n8n example workflow ----------------------------------------------------------------------------
def test_n8n_workflow_calls_an_existing_route_with_header_auth(client: TestClient[Any, Any]) -> None:
    workflow = json.loads(WORKFLOW.read_text(encoding="utf-8"))
    nodes = {node["name"]: node for node in workflow["nodes"]}
    assert len(nodes) == len(workflow["nodes"])
    by_type = {node["type"]: node for node in workflow["nodes"]}
    assert {"n8n-nodes-base.webhook", "n8n-nodes-base.httpRequest", "n8n-nodes-base.if"} <= set(by_type)

    request = by_type["n8n-nodes-base.httpRequest"]
    params = request["parameters"]
    assert params["method"] == "POST"
    assert ("POST", urlsplit(params["url"]).path) in routes(client)
    assert params["authentication"] == "genericCredentialType" and params["genericAuthType"] == "httpHeaderAuth"
    assert "X-API-Key" in request["credentials"]["httpHeaderAuth"]["name"]
    assert "ticket:" in params["jsonBody"] and params["specifyBody"] == "json"

    condition = by_type["n8n-nodes-base.if"]["parameters"]["conditions"]["conditions"][0]
    assert condition["leftValue"] == "={{ $json.decision }}" and condition["rightValue"] == "escalate"

    for source, outputs in workflow["connections"].items():
        assert source in nodes
        for branch in outputs["main"]:
            assert all(link["node"] in nodes for link in branch)
    webhook = by_type["n8n-nodes-base.webhook"]["name"]
    assert workflow["connections"][webhook]["main"][0][0]["node"] == request["name"]
    assert workflow["connections"][request["name"]]["main"][0][0]["node"] == by_type["n8n-nodes-base.if"]["name"]
    assert len(workflow["connections"][by_type["n8n-nodes-base.if"]["name"]]["main"]) == 2  # true / false


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
