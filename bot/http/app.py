"""The aiohttp application of kb-rag: the n8n HTTP API, and the app other doors mount onto.

    app = build_http_app(engine, settings)                     # an Engine you open and close
    app = build_http_app(lambda: build_engine(settings), settings)   # the app opens/closes it
    web.run_app(app, host=settings.kb_host, port=settings.kb_port)

Mounting more routes (the Slack door's `POST /slack/events`): add them to the returned app before
it starts, e.g. in `bot.slack.app.attach(app, engine, settings)` which `bot.server.serve` calls:

    app.router.add_post("/slack/events", handler)              # handler may read request.app[ENGINE]
    app.cleanup_ctx.append(socket_mode_ctx)                    # runs after the engine is open

Routes outside `/api/` get the request id, the JSON error shape for failures that aiohttp raises,
metrics and the access log, but no API-key check, rate limit or idempotency (Slack signs its
requests; check that signature in the handler).
"""

from __future__ import annotations

import inspect
import ipaddress
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib.metadata import PackageNotFoundError, version

from aiohttp import web

from bot import messages
from bot.http.handlers import add_routes
from bot.http.limits import RateLimiter
from bot.http.metrics import Metrics
from bot.http.middleware import MIDDLEWARES
from bot.http.openapi import build_openapi
from bot.http.state import ENGINE, RECORDS, STATE, ApiState, key_id
from bot.records import RecordStore, open_records
from bot.shared import SharedState, open_shared_state
from rag.engine import Engine
from rag.errors import ConfigError
from rag.settings import Settings

__all__ = ["ENGINE", "RECORDS", "STATE", "EngineFactory", "build_http_app", "check_exposure", "is_loopback"]

log = logging.getLogger(__name__)

EngineFactory = Callable[[], Engine | Awaitable[Engine]]


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings, *, warn: bool = True) -> None:
    """Refuse an open API on a reachable address; warn when it is open on loopback."""
    if settings.api_keys:
        return
    if not is_loopback(settings.kb_host):
        raise ConfigError(messages.HTTP_REFUSE_OPEN.format(host=settings.kb_host or "all interfaces"))
    if warn:
        log.warning(messages.HTTP_OPEN_WARNING.format(host=settings.kb_host))


def build_http_app(
    engine: Engine | EngineFactory,
    settings: Settings,
    *,
    rate_limiter: RateLimiter | None = None,
    records: RecordStore | None = None,
    shared: SharedState | None = None,
) -> web.Application:
    """The API on `engine` (or on what `engine()` returns at startup, closed again at cleanup).

    `rate_limiter` replaces the bucket that KB_RATE_LIMIT_PER_MIN would give (tests use a fast one).
    `records` is where answers and feedback are kept (default: `open_records(settings)`, which
    the Slack door mounted on the same app shares).
    `shared` is what replicas share: rate limits, Idempotency-Key records, Slack dedup (default:
    `open_shared_state(settings)`, Redis with KB_REDIS_URL, closed at cleanup; pass the state the
    engine's breakers use, `build_engine(settings, breakers=shared)`, to share one client).
    Raises ConfigError when no API key is configured and KB_HOST is not a loopback address.
    """
    check_exposure(settings)
    try:
        app_version = version("kb-rag")
    except PackageNotFoundError:  # running from a plain checkout
        app_version = "0"
    keys = {key_id(k): k.encode("utf-8") for k in settings.api_keys}
    state = ApiState(
        settings=settings,
        metrics=Metrics(),
        limiter=rate_limiter or RateLimiter.per_minute(settings.kb_rate_limit_per_min),
        shared=shared if shared is not None else open_shared_state(settings),
        api_keys=keys,
        version=app_version,
    )
    state.openapi = json.dumps(build_openapi(secured=bool(keys), version=app_version)).encode()
    app = web.Application(middlewares=MIDDLEWARES, client_max_size=settings.kb_max_body_bytes)
    app[STATE] = state
    if records is None:
        records = open_records(settings)
        app.on_cleanup.append(_closer(records))
    app[RECORDS] = records
    if shared is None:  # ours: closed after the cleanup contexts (Slack's answers in flight) ran
        app.on_cleanup.append(_shared_closer(state.shared))
    if isinstance(engine, Engine):
        app[ENGINE] = engine  # the caller owns it and closes it
    else:
        app.cleanup_ctx.append(_engine_ctx(engine))
    add_routes(app)
    return app


def _closer(records: RecordStore) -> Callable[[web.Application], Awaitable[None]]:
    async def close(_: web.Application) -> None:
        records.close()

    return close


def _shared_closer(shared: SharedState) -> Callable[[web.Application], Awaitable[None]]:
    async def close(_: web.Application) -> None:
        await shared.close()

    return close


def _engine_ctx(factory: EngineFactory) -> Callable[[web.Application], AsyncIterator[None]]:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        made = factory()
        engine = await made if inspect.isawaitable(made) else made
        app[ENGINE] = engine
        try:
            yield
        finally:
            await engine.close()

    return ctx
