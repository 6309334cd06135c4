"""Middleware of the HTTP API, outermost first.

    context      X-Request-ID (echoed if sane, else made), one JSON error shape for every failure,
                 metrics and one access-log line a request
    auth         X-API-Key on /api/* (constant-time compare): 401 missing, 403 wrong
    limits       per-key token bucket (429 + Retry-After) and Content-Length over the limit (413)
    idempotency  Idempotency-Key on POST /api/*: same key + same request -> the stored response,
                 another request under the same key -> 422, the first still running after the
                 wait bound -> 409, the shared store (Redis) unreachable -> 503

Buckets and Idempotency-Key records live in the shared state (`bot.shared`): this process, or
Redis with KB_REDIS_URL so that replicas count and replay as one. An unreachable Redis lets
requests through unlimited (logged once per outage) rather than failing them.

Routes outside /api/ (health, metrics, openapi.json, and /slack/events which checks Slack's
signature itself) pass auth and limits untouched; only `context` wraps everything.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import re
import time
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

from bot import messages
from bot.http.errors import STATUS_CODES, ApiError, error_response
from bot.http.state import CLIENT, LOG_FIELDS, REQUEST_ID, STATE
from bot.logs import request_id_var
from bot.shared import KeyInFlight, KeyReused, Replay, SharedStateUnavailable, in_flight_bound
from rag.errors import BackendError

log = logging.getLogger(__name__)
access_log = logging.getLogger("bot.http.access")

API_PREFIX = "/api/"
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_SANE_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
SHARED_RETRY_AFTER_S = "5"  # an unreachable Redis: about when to try again


def _route(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def context(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    given = request.headers.get("X-Request-ID", "")
    request_id = given if _SANE_ID.match(given) else uuid.uuid4().hex
    request[REQUEST_ID] = request_id
    token = request_id_var.set(request_id)
    state = request.app[STATE]
    state.metrics.in_flight.inc()
    try:
        response = await _handle(request, handler, request_id)
        if not response.prepared:
            response.headers["X-Request-ID"] = request_id
        route = _route(request)
        seconds = time.perf_counter() - started
        state.metrics.observe_request(route, request.method, response.status, seconds)
        access_log.info(
            "%s %s %s",
            request.method,
            route,
            response.status,
            extra={
                "route": route,
                "method": request.method,
                "status": response.status,
                "duration_ms": round(seconds * 1000, 2),
                "client": request.get(CLIENT),
                **request.get(LOG_FIELDS, {}),
            },
        )
        return response
    finally:
        state.metrics.in_flight.dec()
        request_id_var.reset(token)


async def _handle(request: web.Request, handler: Handler, request_id: str) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, request_id, details=exc.details, headers=exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:  # redirects and the like are responses, not failures
            return exc
        return _from_http_exception(request, exc, request_id)
    except BackendError as exc:
        log.warning("backend unavailable: %s", exc)
        return error_response(
            503,
            "backend_unavailable",
            messages.HTTP_BACKEND_UNAVAILABLE.format(backend=exc.backend),
            request_id,
            headers={"Retry-After": "5"},
        )
    except asyncio.CancelledError:
        raise
    except Exception:  # the door of last resort: log the trace, tell the client only the request id
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal_error", messages.HTTP_INTERNAL_ERROR, request_id)


def _from_http_exception(request: web.Request, exc: web.HTTPException, request_id: str) -> web.Response:
    status = exc.status
    headers: dict[str, str] = {}
    if status == 404:
        message = messages.HTTP_NOT_FOUND.format(method=request.method, path=request.path)
    elif status == 405:
        allowed = sorted(getattr(exc, "allowed_methods", ()) or ())
        headers["Allow"] = ",".join(allowed)
        message = messages.HTTP_METHOD_NOT_ALLOWED.format(
            method=request.method, path=request.path, allowed=", ".join(allowed)
        )
    elif status == 413:
        message = messages.HTTP_BODY_TOO_LARGE.format(limit=request.app[STATE].settings.kb_max_body_bytes)
    else:
        message = messages.HTTP_GENERIC_ERROR.format(reason=exc.reason)
    code = STATUS_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    return error_response(status, code, message, request_id, headers=headers)


@web.middleware
async def auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    keys = request.app[STATE].api_keys
    if not keys:  # open API, loopback only (checked at build): one bucket per client address
        request[CLIENT] = f"ip:{request.remote}"
        return await handler(request)
    given = request.headers.get("X-API-Key", "")
    if not given:
        raise ApiError(
            401,
            "missing_api_key",
            messages.HTTP_MISSING_API_KEY,
            headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
        )
    given_bytes = given.encode("utf-8", "surrogateescape")
    matched = None
    for name, key in keys.items():  # compare against every key: timing does not tell which one matched
        if hmac.compare_digest(given_bytes, key):
            matched = name
    if matched is None:
        raise ApiError(403, "invalid_api_key", messages.HTTP_INVALID_API_KEY)
    request[CLIENT] = matched
    return await handler(request)


@web.middleware
async def limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith(API_PREFIX):
        return await handler(request)
    state = request.app[STATE]
    if state.limiter is not None:
        wait = await state.shared.take(request.get(CLIENT, "anonymous"), state.limiter)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            limit = (
                f"{state.settings.kb_rate_limit_per_min}/min"
                if state.settings.kb_rate_limit_per_min
                else (f"{state.limiter.capacity:g} at once, {state.limiter.refill_per_s:g}/s")
            )
            raise ApiError(
                429,
                "rate_limited",
                messages.HTTP_RATE_LIMITED.format(limit=limit, retry_after=retry_after),
                headers={"Retry-After": str(retry_after)},
            )
    length = request.content_length
    if length is not None and length > state.settings.kb_max_body_bytes:
        raise ApiError(
            413, "body_too_large", messages.HTTP_BODY_TOO_LARGE.format(limit=state.settings.kb_max_body_bytes)
        )
    return await handler(request)


@web.middleware
async def idempotency(request: web.Request, handler: Handler) -> web.StreamResponse:
    header = request.headers.get("Idempotency-Key")
    state = request.app[STATE]
    off = not state.settings.kb_idempotency_ttl_s
    if header is None or off or request.method != "POST" or not request.path.startswith(API_PREFIX):
        return await handler(request)
    if not _SANE_IDEMPOTENCY_KEY.match(header):
        raise ApiError(400, "bad_idempotency_key", messages.HTTP_BAD_IDEMPOTENCY_KEY)
    body = await request.read()  # cached: the handler reads the same bytes again for free
    digest = hashlib.sha256(request.path.encode() + b"\n" + body).hexdigest()
    key = (str(request.get(CLIENT, "anonymous")), header)
    try:
        claim = await state.shared.begin(key, digest)  # waits (bounded) while the first one still runs
    except KeyReused:
        raise ApiError(422, "idempotency_key_reused", messages.HTTP_IDEMPOTENCY_REUSED) from None
    except KeyInFlight:
        seconds = in_flight_bound(state.settings)
        raise ApiError(
            409,
            "idempotency_key_in_flight",
            messages.HTTP_IDEMPOTENCY_IN_FLIGHT.format(seconds=seconds),
            headers={"Retry-After": str(math.ceil(state.settings.kb_timeout_s))},
        ) from None
    except SharedStateUnavailable:
        raise ApiError(
            503,
            "idempotency_unavailable",
            messages.HTTP_IDEMPOTENCY_UNAVAILABLE,
            headers={"Retry-After": SHARED_RETRY_AFTER_S},
        ) from None
    if isinstance(claim, Replay):
        request[LOG_FIELDS] = {"idempotent_replay": True}
        return web.Response(
            status=claim.status,
            body=claim.body,
            content_type=claim.content_type,
            headers={"Idempotent-Replayed": "true"},
        )
    try:
        response = await handler(request)
    except BaseException:
        await state.shared.finish(claim, 0, b"", "")  # released: a retry with the key runs again
        raise
    body_out = response.body if isinstance(response, web.Response) and isinstance(response.body, bytes) else b""
    await state.shared.finish(claim, response.status if body_out else 0, body_out, response.content_type)
    return response


MIDDLEWARES = [context, auth, limits, idempotency]
