"""Route handlers: parse and validate the body, call the engine, answer JSON.

POST /api/v1/generate-response   Ticket -> Answer (draft, required data, sources, decision)
POST /api/v1/required-data       Ticket -> Answer (the same schema, empty draft: no drafter call)
POST /api/v1/search              SearchRequest -> SearchResponse
GET  /health | /metrics | /openapi.json
"""

from __future__ import annotations

import time
from typing import Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from bot import messages
from bot.http.errors import ApiError
from bot.http.metrics import CONTENT_TYPE
from bot.http.schemas import (
    HealthResponse,
    SearchRequest,
    SearchResponse,
    TicketRequest,
)
from bot.http.state import ENGINE, LOG_FIELDS, REQUEST_ID, STATE
from rag.models import Answer

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
        details = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in errors]
        summary = "; ".join(f"{'.'.join(map(str, d['loc'])) or 'body'}: {d['msg']}" for d in details[:5])
        raise ApiError(
            422, "invalid_fields", messages.HTTP_INVALID_FIELDS.format(summary=summary), details=details
        ) from None


def json_bytes(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(status=status, body=model.model_dump_json().encode(), content_type=JSON)


async def answer_ticket(request: web.Request) -> web.Response:
    ticket = await parse_body(request, TicketRequest)
    answer = await request.app[ENGINE].answer(ticket, request_id=request[REQUEST_ID])
    return _answered(request, answer)


async def required_data(request: web.Request) -> web.Response:
    """Only the data to collect: retrieval, confidence and required data; nothing is drafted."""
    ticket = await parse_body(request, TicketRequest)
    answer = await request.app[ENGINE].required(ticket, request_id=request[REQUEST_ID])
    return _answered(request, answer)


def _answered(request: web.Request, answer: Answer) -> web.Response:
    request.app[STATE].note_answer(answer)
    b = answer.backends
    request[LOG_FIELDS] = {
        "decision": answer.decision,
        "confidence": answer.confidence.level,
        "score": answer.confidence.score,
        "backends": f"{b.embedder}/{b.store}/{b.drafter}",
        "degraded": answer.degraded,
    }
    return json_bytes(answer)


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


async def health(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    state = request.app[STATE]
    info = engine.health()
    reasons = state.degraded()
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
    app.router.add_get("/health", health, name="health", allow_head=False)
    app.router.add_get("/metrics", metrics, name="metrics", allow_head=False)
    app.router.add_get("/openapi.json", openapi, name="openapi", allow_head=False)
