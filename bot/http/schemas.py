"""Request and response bodies of the HTTP API that are not already engine models.

The answer itself is `rag.models.Answer` (one schema for Slack, HTTP and CLI); the ticket request
is `rag.models.Ticket` plus one rule: a ticket of only white space is not a ticket. `history`
(optional, earlier turns of the conversation) makes `ticket` a follow-up; without it a request
means what it always meant.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.gaps.cluster import DEFAULT_MIN_SIMILARITY
from rag.models import Backends, Source, Ticket

NOT_BLANK = r"\S"


class TicketRequest(Ticket):
    """Body of `/api/v1/required-data` and `/api/v1/generate-response`."""

    model_config = ConfigDict(
        title="Ticket",
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"ticket": "I was charged twice this month", "customer": "ana@example.com"},
                {"ticket": "I can't log in since I enabled 2FA", "subject": "Login", "metadata": {"zendesk_id": 4711}},
                {
                    "ticket": "What if they paid with PayPal?",
                    "history": [
                        {"role": "customer", "text": "I cancelled within a week, can I get my money back?"},
                        {"role": "bot", "text": "Hi, if you cancel within 14 days of the first charge ..."},
                    ],
                },
            ]
        },
    )

    # The pattern says in the schema what the validator below checks: some visible character.
    ticket: str = Field(
        min_length=1, max_length=20_000, description="The customer's message.", json_schema_extra={"pattern": NOT_BLANK}
    )

    @field_validator("ticket")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the ticket is empty (only white space)")
        return value


class SearchRequest(BaseModel):
    """Body of `/api/v1/search`: KB articles for a query, best first, one source per article."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"query": "refund after cancelling", "top_k": 3}]}
    )

    query: str = Field(
        min_length=1, max_length=2_000, description="What to look for.", json_schema_extra={"pattern": NOT_BLANK}
    )
    top_k: int = Field(5, ge=1, le=50, strict=True, description="How many articles to return.")

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the query is empty (only white space)")
        return value

    @field_validator("top_k", mode="before")
    @classmethod
    def _whole_number(cls, value: object) -> object:
        # JSON Schema's integer includes 3.0; strings and booleans stay errors (strict int).
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value


class SearchResponse(BaseModel):
    request_id: str
    sources: list[Source]
    backends: Backends
    timings_ms: dict[str, float] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. invalid_fields, rate_limited.")
    message: str = Field(description="What went wrong, for people.")
    request_id: str = Field(description="Also in the X-Request-ID response header and the server log.")
    details: list[dict[str, Any]] | None = Field(
        None, description="For invalid_fields: one entry per field error (loc, msg, type)."
    )


class ErrorResponse(BaseModel):
    """Every failure of every route has this shape."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "error": {
                        "code": "invalid_api_key",
                        "message": "The X-API-Key header does not match any configured key.",
                        "request_id": "5f0c1e2d3a4b",
                    }
                }
            ]
        }
    )

    error: ErrorBody


class SharedStateHealth(BaseModel):
    backend: Literal["memory", "redis"] = Field(
        description="Where replicas share Slack dedup, rate limits, Idempotency-Key records and circuit breakers: "
        "this process (memory) or Redis (KB_REDIS_URL)."
    )
    reachable: bool = Field(description="False while Redis does not answer (status is then degraded).")


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded", "empty"] = Field(
        description="empty: no articles ingested; degraded: a backend failed within the last minute, or the "
        "shared state (Redis) is unreachable."
    )
    backends: Backends
    articles: int
    chunks: int
    degraded: bool
    degraded_reasons: list[str] = Field(default_factory=list)
    version: str
    shared_state: SharedStateHealth


class FeedbackRequest(BaseModel):
    """Body of `/api/v1/feedback`: how an answer went, from n8n, a helpdesk or any other tool."""

    model_config = ConfigDict(
        title="FeedbackRequest",
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"request_id": "5f0c1e2d3a4b4c5d", "rating": "down", "comment": "Cited the SSO article, not billing."},
                {"request_id": "n8n-4711", "rating": "helpful"},
            ]
        },
    )

    request_id: str = Field(
        min_length=1, max_length=128, description="The `request_id` of an answer (any door: HTTP, Slack, `kb ask`)."
    )
    rating: Literal["up", "down", "helpful", "not_helpful"] = Field(
        description="`up` (or `helpful`) / `down` (or `not_helpful`)."
    )
    comment: str = Field("", max_length=2_000, description="What was right or wrong (optional).")

    @property
    def verdict(self) -> Literal["helpful", "not_helpful"]:
        return "helpful" if self.rating in ("up", "helpful") else "not_helpful"


class FeedbackRecord(BaseModel):
    """A stored rating, with the answer's decision, confidence and sources as they were when rated."""

    model_config = ConfigDict(title="FeedbackRecord")

    id: int
    request_id: str
    rating: Literal["up", "down"]
    comment: str
    source: str = Field(description="Where the rating came from: http or slack.")
    user: str = Field(description="Who rated: the API key's id (`key-…`, never the key) or a Slack user id.")
    created_at: str = Field(description="ISO 8601, UTC.")
    decision: str | None = Field(description="The rated answer's decision.")
    level: str | None = Field(description="The rated answer's confidence level.")
    score: float | None = Field(description="The rated answer's confidence score.")
    sources: list[str] = Field(description="Chunk ids of the rated answer's sources, best first.")


class GapsQuery(BaseModel):
    """Query of `GET /api/v1/gaps`."""

    model_config = ConfigDict(extra="forbid")

    days: int = Field(7, ge=1, le=365, description="How many days back (answers created since then).")
    min_similarity: float = Field(
        DEFAULT_MIN_SIMILARITY,
        ge=0.0,
        le=1.0,
        description="Tickets merge into a topic while this alike on average (cosine).",
    )
