"""Route handlers: parse and validate the body, call the engine, answer JSON.

POST /api/v1/generate-response   Ticket -> Answer (draft, required data, sources, decision)
POST /api/v1/required-data       Ticket -> Answer (the same schema, empty draft: no drafter call)
POST /api/v1/search              SearchRequest -> SearchResponse
POST /api/v1/feedback            FeedbackRequest -> 201 FeedbackRecord (404 for an unknown request_id)
GET  /api/v1/gaps?days=7         -> GapReport (escalated, low-confidence and 👎 answers by topic)
GET  /health | /metrics | /openapi.json

Every answer (generate-response, required-data) is recorded before it is returned, so a rating
sent right after it finds it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime
from typing import Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot import messages
from bot.gaps import build_gap_report
from bot.http.errors import ApiError
from bot.http.metrics import CONTENT_TYPE
from bot.http.schemas import (
    FeedbackRecord,
    FeedbackRequest,
    GapsQuery,
    HealthResponse,
    SearchRequest,
    SearchResponse,
    SharedStateHealth,
    TicketRequest,
)
from bot.http.state import CLIENT, ENGINE, LOG_FIELDS, RECORDS, REQUEST_ID, STATE
from bot.records import HTTP_DOOR, AnswerRecord, FeedbackEntry
from rag.models import Answer

log = logging.getLogger(__name__)

Model = TypeVar("Model", bound=BaseModel)
JSON = "application/json"


async def parse_body(request: web.Request, model: type[Model]) -> Model:
    """The body as `model`: 415 unless JSON, 413 past the limit, 400 if malformed, 422 if invalid."""
    charset = (request.charset or "utf-8").lower()
    if request.content_type != JSON or charset not in ("utf-8", "utf8"):
        shown = request.headers.get("Content-Type", "") or "none"
        raise ApiError(415, "unsupported_media_type", messages.HTTP_UNSUPPORTED_MEDIA_TYPE.format(content_type=shown))
    body = await request.read()
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False, include_context=False)
        malformed = [e for e in errors if e["type"] == "json_invalid"]
        if malformed:
            error = str(malformed[0]["msg"]).removeprefix("Invalid JSON: ")
            raise ApiError(400, "malformed_json", messages.HTTP_MALFORMED_JSON.format(error=error)) from None
        raise invalid_fields(exc) from None


def parse_query(request: web.Request, model: type[Model]) -> Model:
    """The query string as `model`: 422 naming the parameter when a value is wrong or unknown."""
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise invalid_fields(exc, prefix=("query",)) from None


def invalid_fields(exc: ValidationError, prefix: tuple[str, ...] = ()) -> ApiError:
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    details = [{"loc": [*prefix, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in errors]
    summary = "; ".join(f"{'.'.join(map(str, d['loc'])) or 'body'}: {d['msg']}" for d in details[:5])
    return ApiError(422, "invalid_fields", messages.HTTP_INVALID_FIELDS.format(summary=summary), details=details)


def json_bytes(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(status=status, body=model.model_dump_json().encode(), content_type=JSON)


async def answer_ticket(request: web.Request) -> web.Response:
    ticket = await parse_body(request, TicketRequest)
    answer = await request.app[ENGINE].answer(ticket, request_id=request[REQUEST_ID])
    return await _answered(request, ticket, answer, "draft")


async def required_data(request: web.Request) -> web.Response:
    """Only the data to collect: retrieval, confidence and required data; nothing is drafted."""
    ticket = await parse_body(request, TicketRequest)
    answer = await request.app[ENGINE].required(ticket, request_id=request[REQUEST_ID])
    return await _answered(request, ticket, answer, "required")


def _caller(request: web.Request) -> str:
    """Who asked, as records keep it: the API key's id, or "open-api" (never a key, never an address)."""
    client = str(request.get(CLIENT, ""))
    return client if client.startswith("key-") else "open-api"


async def _record(request: web.Request, ticket: TicketRequest, answer: Answer, view: str) -> AnswerRecord:
    text = f"{ticket.subject}\n\n{ticket.ticket}" if ticket.subject else ticket.ticket
    record = AnswerRecord(answer=answer, ticket=text, user=_caller(request), door=HTTP_DOOR, view=view)
    try:
        await asyncio.to_thread(request.app[RECORDS].record_answer, record)
    except Exception:  # the answer matters more than its record: serve it, say loudly what was lost
        log.exception("could not record answer request_id=%s", answer.request_id)
    return record


async def _answered(request: web.Request, ticket: TicketRequest, answer: Answer, view: str) -> web.Response:
    record = await _record(request, ticket, answer, view)
    request.app[STATE].note_answer(answer)
    b = answer.backends
    request[LOG_FIELDS] = {
        "decision": answer.decision,
        "confidence": answer.confidence.level,
        "score": answer.confidence.score,
        "backends": f"{b.embedder}/{b.store}/{b.drafter}",
        "degraded": answer.degraded,
    }
    # The JSON the store kept (serialised once, in the store's thread): the same text json_bytes would make.
    return web.Response(body=record.answer_json().encode(), content_type=JSON)


async def search(request: web.Request) -> web.Response:
    query = await parse_body(request, SearchRequest)
    engine = request.app[ENGINE]
    started = time.perf_counter()
    sources = await engine.search(query.query, query.top_k)
    total = round((time.perf_counter() - started) * 1000, 2)
    request.app[STATE].metrics.observe_stages({"search": total})
    return json_bytes(
        SearchResponse(
            request_id=request[REQUEST_ID], sources=sources, backends=engine.backends, timings_ms={"total": total}
        )
    )


async def feedback(request: web.Request) -> web.Response:
    """Store a rating of a recorded answer: 201 with the stored record, 404 for an unknown request_id."""
    body = await parse_body(request, FeedbackRequest)
    records = request.app[RECORDS]
    if await asyncio.to_thread(records.answer, body.request_id) is None:
        raise ApiError(404, "unknown_request", messages.HTTP_UNKNOWN_REQUEST.format(request_id=body.request_id))
    feedback_id = await asyncio.to_thread(
        lambda: records.add_feedback(
            body.request_id, user=_caller(request), verdict=body.verdict, comment=body.comment.strip(), source="http"
        )
    )
    entry = await asyncio.to_thread(records.feedback_entry, feedback_id)
    if entry is None:  # written a moment ago: only a store that lost it gets here
        raise RuntimeError(f"feedback {feedback_id} for request_id={body.request_id} was not stored")
    request[LOG_FIELDS] = {"rated_request_id": body.request_id, "rating": body.verdict}
    return json_bytes(feedback_record(entry), status=201)


def feedback_record(entry: FeedbackEntry) -> FeedbackRecord:
    return FeedbackRecord(
        id=entry.id,
        request_id=entry.request_id,
        rating="up" if entry.verdict == "helpful" else "down",
        comment=entry.comment,
        source=entry.source,
        user=entry.user,
        created_at=datetime.fromtimestamp(entry.created_at, UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        decision=entry.decision,
        level=entry.level,
        score=entry.score,
        sources=entry.sources,
    )


async def gaps(request: web.Request) -> web.Response:
    """Escalated, low-confidence and 👎 answers of the last `days` days, grouped into topics."""
    query = parse_query(request, GapsQuery)
    kb = request.app[ENGINE].kb
    report = await build_gap_report(
        request.app[RECORDS], kb.embedder, kb=kb, days=query.days, min_similarity=query.min_similarity
    )
    request[LOG_FIELDS] = {"gaps": report.total, "topics": len(report.topics)}
    return json_bytes(report)


async def health(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    state = request.app[STATE]
    info = engine.health()
    reachable = await state.shared.reachable()
    reasons = state.degraded() + ([] if reachable else [messages.SHARED_DOWN_REASON])
    status: Literal["ok", "degraded", "empty"] = "empty" if not info["chunks"] else ("degraded" if reasons else "ok")
    return json_bytes(
        HealthResponse(
            status=status,
            backends=engine.backends,
            articles=info["articles"],
            chunks=info["chunks"],
            degraded=bool(reasons),
            degraded_reasons=reasons,
            version=state.version,
            shared_state=SharedStateHealth(backend=state.shared.name, reachable=reachable),
        )
    )


async def metrics(request: web.Request) -> web.Response:
    return web.Response(body=request.app[STATE].metrics.render(), headers={"Content-Type": CONTENT_TYPE})


async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=request.app[STATE].openapi, content_type=JSON)


def add_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/generate-response", answer_ticket, name="generate-response")
    app.router.add_post("/api/v1/required-data", required_data, name="required-data")
    app.router.add_post("/api/v1/search", search, name="search")
    app.router.add_post("/api/v1/feedback", feedback, name="feedback")
    app.router.add_get("/api/v1/gaps", gaps, name="gaps", allow_head=False)
    app.router.add_get("/health", health, name="health", allow_head=False)
    app.router.add_get("/metrics", metrics, name="metrics", allow_head=False)
    app.router.add_get("/openapi.json", openapi, name="openapi", allow_head=False)
