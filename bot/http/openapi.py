"""The OpenAPI 3.1 document of the HTTP API, generated from the pydantic models it serves.

    spec = build_openapi(secured=True, version="0.1.0")
    openapi_spec_validator.validate(spec)

Pydantic emits JSON Schema 2020-12, which OpenAPI 3.1 takes as is; nested models land in
`components/schemas`. Every error response points at the one `ErrorResponse` schema.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from bot.gaps.models import GapReport
from bot.http.schemas import (
    ErrorResponse,
    FeedbackRecord,
    FeedbackRequest,
    GapsQuery,
    HealthResponse,
    SearchRequest,
    SearchResponse,
    TicketRequest,
)
from rag.models import Answer, Backends, Citation, Confidence, RequiredItem, Source, Tier

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
    draft=(
        "Hi Ana,\n\nSorry for the trouble with the billing.\n\nIf you were charged twice for the same period, "
        "we refund the duplicate charge to the original card within 5 business days.\n\nBest regards,"
    ),
    citations=[
        Citation(
            text="If you were charged twice for the same period, we refund the duplicate charge to the original "
            "card within 5 business days.",
            chunk_ids=["cancel-subscription-and-refunds#2"],
        )
    ],
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
    "citations": [],
    "timings_ms": {"embed": 4.1, "retrieve": 8.1, "required": 0.9, "total": 9.3},
}

_ERRORS = {
    "400": "Malformed JSON, invalid UTF-8 or a bad Idempotency-Key.",
    "401": "No X-API-Key header.",
    "403": "The X-API-Key matches no configured key.",
    "404": "No answer with this request_id was recorded (code unknown_request).",
    "413": "Body larger than KB_MAX_BODY_BYTES.",
    "415": "Body is not application/json.",
    "409": "A request with this Idempotency-Key is still running (code idempotency_key_in_flight); see Retry-After.",
    "422": "Invalid fields (see error.details), or an Idempotency-Key reused with another body.",
    "429": "Rate limit of this API key reached; see Retry-After.",
    "500": "Unexpected error; the log has it under error.request_id.",
    "503": "A backend (embedder, store, drafter) is unavailable, or (code idempotency_unavailable) the shared "
    "Idempotency-Key store (Redis, KB_REDIS_URL) is; see Retry-After.",
}
_REQUEST_ID_HEADER = {
    "X-Request-ID": {"description": "The request id (echoed from the request or made).", "schema": {"type": "string"}}
}


FEEDBACK_EXAMPLE = {
    "id": 7,
    "request_id": "5f0c1e2d3a4b4c5d",
    "rating": "down",
    "comment": "Cited the SSO article, not billing.",
    "source": "http",
    "user": "key-3f2a9c0d1b7e",
    "created_at": "2026-11-26T09:14:03Z",
    "decision": "answer",
    "level": "high",
    "score": 0.82,
    "sources": ["cancel-subscription-and-refunds#2"],
}

GAPS_EXAMPLE = {
    "days": 7,
    "since": "2026-11-19T09:00:00Z",
    "until": "2026-11-26T09:00:00Z",
    "total": 3,
    "escalated": 3,
    "rated_down": 0,
    "low_confidence": 3,
    "truncated": False,
    "min_similarity": 0.3,
    "embedder": "local-minilm",
    "bins": [f"2026-11-{d}" for d in range(19, 27)],
    "bin_days": 1,
    "topics": [
        {
            "id": 1,
            "label": "kiosk, clock, warehouse",
            "keywords": ["kiosk", "clock", "warehouse"],
            "count": 3,
            "escalated": 3,
            "rated_down": 0,
            "low_confidence": 3,
            "doors": {"http": 2, "slack": 1},
            "first_seen": "2026-11-21T10:02:11Z",
            "last_seen": "2026-11-25T16:40:09Z",
            "timeline": [0, 0, 1, 0, 0, 1, 1, 0],
            "examples": [
                {
                    "request_id": "5f0c1e2d3a4b4c5d",
                    "ticket": "Can warehouse staff clock in on a shared kiosk tablet?",
                    "created_at": "2026-11-25T16:40:09Z",
                    "door": "http",
                    "decision": "escalate",
                    "level": "low",
                    "score": 0.21,
                    "escalated": True,
                    "rated_down": False,
                }
            ],
            "closest_article": {
                "article_id": "mobile-app-not-syncing",
                "title": "Mobile app not syncing",
                "url": "https://help.example.com/mobile-sync",
                "section": "Mobile app not syncing",
                "similarity": 0.27,
            },
            "request_ids": ["5f0c1e2d3a4b4c5d", "n8n-4711", "9a8b7c6d"],
        }
    ],
    "notes": [],
}


def _query(model: type[BaseModel], name: str) -> dict[str, Any]:
    """An OpenAPI query parameter from one field of a pydantic model."""
    schema = model.model_json_schema()["properties"][name]
    description = schema.pop("description", "")
    schema.pop("title", None)
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


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
    feedback_req = s.ref(FeedbackRequest, "FeedbackRequest", mode="validation")
    feedback_rec = s.ref(FeedbackRecord, "FeedbackRecord")
    gap_report = s.ref(GapReport, "GapReport")
    error = s.ref(ErrorResponse, "ErrorResponse")

    def errors(*codes: str) -> dict[str, Any]:
        out = {code: _json(error, _ERRORS[code]) for code in codes}
        retry_after = {"description": "Seconds to wait.", "schema": {"type": "integer"}}
        for waits in ("409", "429", "503"):
            if waits in out:
                out[waits]["headers"]["Retry-After"] = retry_after
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
        *,
        status: str = "200",
        extra_errors: tuple[str, ...] = (),
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
                "responses": {
                    status: _json(ok, "Created" if status == "201" else "OK", ok_example),
                    **errors(*sorted(api_errors + ("409",) + extra_errors)),  # 409: Idempotency-Key in flight
                },
            }
        }

    ticket_example = {"ticket": "I was charged twice this month", "customer": "ana@example.com"}
    paths = {
        "/api/v1/generate-response": post(
            "Draft a reply to a ticket",
            "Answer with a grounded draft and its `citations` (each claim of the draft with the ids of the "
            "chunks it comes from; `sources` lists the cited sections first), the data still to collect and a "
            "decision (answer, review, escalate). A follow-up may carry the conversation so far in the "
            "optional `history` (earlier turns, oldest first, role customer, agent or bot): a short follow-up "
            "or one that refers back is searched together with the original question (never with the bot's "
            "answers), and the drafter reads the turns as context.",
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
        "/api/v1/feedback": post(
            "Rate an answer",
            "Store how an answer went (`up`/`down`, or `helpful`/`not_helpful`, and a comment) for the answer "
            "with this `request_id`, whichever door gave it. `kb feedback` reports the ratings and `kb gaps` "
            "groups the answers rated down with the escalated ones.",
            feedback_req,
            {"request_id": "5f0c1e2d3a4b4c5d", "rating": "down", "comment": "Cited the SSO article, not billing."},
            feedback_rec,
            FEEDBACK_EXAMPLE,
            "feedback",
            status="201",
            extra_errors=("404",),
        ),
        "/api/v1/gaps": {
            "get": {
                "operationId": "gaps",
                "summary": "What the knowledge base is missing",
                "description": "The answers of the last `days` days that were escalated, low in confidence or rated "
                "down, grouped into topics by meaning: each topic with a label, its count, up to 3 example tickets "
                "(redacted), the closest KB article and a timeline. The topics' counts add up to `total`.",
                "security": security,
                "parameters": [_query(GapsQuery, name) for name in ("days", "min_similarity")],
                "responses": {
                    "200": _json(gap_report, "OK", GAPS_EXAMPLE),
                    **errors(*(c for c in api_errors if c not in ("400", "413", "415"))),
                },
            }
        },
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
