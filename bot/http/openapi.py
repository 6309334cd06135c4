"""The OpenAPI 3.1 document of the HTTP API, generated from the pydantic models it serves.

    spec = build_openapi(secured=True, version="0.1.0")
    openapi_spec_validator.validate(spec)

Pydantic emits JSON Schema 2020-12, which OpenAPI 3.1 takes as is; nested models land in
`components/schemas`. Every error response points at the one `ErrorResponse` schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bot.http.schemas import (
    ErrorResponse,
    HealthResponse,
    SearchRequest,
    SearchResponse,
    TicketRequest,
)
from rag.models import Answer, Backends, Confidence, RequiredItem, Source, Tier

_BACKENDS = Backends(embedder="local-minilm", store="sqlite", drafter="extractive")
ANSWER_EXAMPLE = Answer(
    request_id="5f0c1e2d3a4b4c5d",
    decision="answer",
    confidence=Confidence(score=0.82, level="high", reasons=["two articles agree", "a CRITICAL section matches"]),
    required_data=[
        RequiredItem(
            item="invoice number", why="to find the duplicate charge", source_ids=["cancel-subscription-and-refunds#2"]
        )
    ],
    draft="Hi Ana,\n\nsorry about the double charge. ...",
    sources=[
        Source(
            article_id="cancel-subscription-and-refunds",
            chunk_id="cancel-subscription-and-refunds#2",
            title="Cancel your subscription and refunds",
            url="https://help.example.com/refunds#double-charges",
            tier=Tier.CRITICAL,
            score=0.71,
            section="Double charges",
        )
    ],
    backends=_BACKENDS,
    timings_ms={"embed": 4.1, "retrieve": 8.1, "draft": 2.4, "total": 11.0},
).model_dump(mode="json")

REQUIRED_EXAMPLE = {
    **ANSWER_EXAMPLE,
    "draft": "",
    "timings_ms": {"embed": 4.1, "retrieve": 8.1, "required": 0.9, "total": 9.3},
}

_ERRORS = {
    "400": "Malformed JSON, invalid UTF-8 or a bad Idempotency-Key.",
    "401": "No X-API-Key header.",
    "403": "The X-API-Key matches no configured key.",
    "413": "Body larger than KB_MAX_BODY_BYTES.",
    "415": "Body is not application/json.",
    "422": "Invalid fields (see error.details), or an Idempotency-Key reused with another body.",
    "429": "Rate limit of this API key reached; see Retry-After.",
    "500": "Unexpected error; the log has it under error.request_id.",
    "503": "A backend (embedder, store, drafter) is unavailable.",
}
_REQUEST_ID_HEADER = {
    "X-Request-ID": {"description": "The request id (echoed from the request or made).", "schema": {"type": "string"}}
}


class _Schemas:
    def __init__(self) -> None:
        self.components: dict[str, Any] = {}

    def ref(self, model: type[BaseModel], name: str, mode: str = "serialization") -> dict[str, str]:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode=mode)  # type: ignore[arg-type]
        self.components.update(schema.pop("$defs", {}))
        self.components[name] = schema
        return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, example: Any = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"description": description, "headers": dict(_REQUEST_ID_HEADER), "content": {"application/json": media}}


def build_openapi(*, secured: bool, version: str) -> dict[str, Any]:
    s = _Schemas()
    ticket = s.ref(TicketRequest, "Ticket", mode="validation")
    search_req = s.ref(SearchRequest, "SearchRequest", mode="validation")
    answer = s.ref(Answer, "Answer")
    search_resp = s.ref(SearchResponse, "SearchResponse")
    health = s.ref(HealthResponse, "HealthResponse")
    error = s.ref(ErrorResponse, "ErrorResponse")

    def errors(*codes: str) -> dict[str, Any]:
        out = {code: _json(error, _ERRORS[code]) for code in codes}
        if "429" in out:
            out["429"]["headers"]["Retry-After"] = {"description": "Seconds to wait.", "schema": {"type": "integer"}}
        return out

    api_errors = (
        ("400", "401", "403", "413", "415", "422", "429", "500", "503")
        if secured
        else ("400", "413", "415", "422", "429", "500", "503")
    )
    security: list[dict[str, list[str]]] = [{"ApiKeyAuth": []}] if secured else []
    idempotency = {
        "name": "Idempotency-Key",
        "in": "header",
        "required": False,
        "description": "Same key and same body within KB_IDEMPOTENCY_TTL_S return the stored response.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
    }

    def post(
        summary: str,
        description: str,
        body: dict[str, str],
        body_example: Any,
        ok: dict[str, str],
        ok_example: Any,
        op_id: str,
    ) -> dict[str, Any]:
        return {
            "post": {
                "operationId": op_id,
                "summary": summary,
                "description": description,
                "security": security,
                "parameters": [idempotency],
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": body, "example": body_example}},
                },
                "responses": {"200": _json(ok, "OK", ok_example), **errors(*api_errors)},
            }
        }

    ticket_example = {"ticket": "I was charged twice this month", "customer": "ana@example.com"}
    paths = {
        "/api/v1/generate-response": post(
            "Draft a reply to a ticket",
            "Answer with a grounded draft, the data still to collect, sources and a "
            "decision (answer, review, escalate).",
            ticket,
            ticket_example,
            answer,
            ANSWER_EXAMPLE,
            "generateResponse",
        ),
        "/api/v1/required-data": post(
            "What to collect from the customer",
            "The same answer schema without drafting: retrieval, confidence and the data still to collect "
            "(from the sections that ask for it, the ticket's intent and the KB's intake.yml, minus what the "
            "ticket already gives; at most 5). `draft` is empty; read `required_data` and `decision`.",
            ticket,
            ticket_example,
            answer,
            REQUIRED_EXAMPLE,
            "requiredData",
        ),
        "/api/v1/search": post(
            "Search the knowledge base",
            "One source per article, best first.",
            search_req,
            {"query": "refund after cancelling", "top_k": 3},
            search_resp,
            {
                "request_id": "5f0c1e2d3a4b4c5d",
                "sources": ANSWER_EXAMPLE["sources"],
                "backends": ANSWER_EXAMPLE["backends"],
                "timings_ms": {"total": 9.2},
            },
            "search",
        ),
        "/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness, backends and KB size (no auth)",
                "security": [],
                "responses": {"200": _json(health, "OK"), **errors("500")},
            }
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics (no auth)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text format",
                        "headers": dict(_REQUEST_ID_HEADER),
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **errors("500"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document (no auth)",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document"), **errors("500")},
            }
        },
    }
    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "kb-rag HTTP API",
            "version": version,
            "description": "Answers support tickets from the knowledge base, for n8n and other automations. "
            'Every error has the shape {"error": {"code", "message", "request_id"}}.',
        },
        "paths": paths,
        "components": {"schemas": s.components},
    }
    if secured:
        spec["components"]["securitySchemes"] = {"ApiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
        spec["security"] = security
    return spec
