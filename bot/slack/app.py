"""The Slack door: a Bolt `AsyncApp` over the engine, and how it plugs into the aiohttp server.

    slack = build_slack_app(engine, settings)          # AsyncApp with every listener registered
    attach(web_app, engine, settings)                  # what bot.server calls: picks the mode

Modes (settings decide, once): no SLACK_BOT_TOKEN → Slack is off (logged); SLACK_APP_TOKEN →
Socket Mode in the server's event loop; otherwise HTTP mode at `POST /slack/events` on the same
aiohttp app and port as the HTTP API, verified with SLACK_SIGNING_SECRET.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Literal

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.http.state import RECORDS, STATE
from bot.records import open_records
from bot.shared import SharedState
from bot.slack.deps import SEEN_TTL_S, SlackDeps
from bot.slack.listeners import register
from rag.engine import Engine
from rag.errors import ConfigError
from rag.settings import Settings

log = logging.getLogger(__name__)

SLACK_APP = web.AppKey("kb_slack_app", AsyncApp)
EVENTS_PATH = "/slack/events"
DRAIN_TIMEOUT_S = 20.0
Mode = Literal["off", "socket", "http"]


def slack_mode(settings: Settings) -> Mode:
    if not settings.slack_bot_token:
        return "off"
    return "socket" if settings.slack_app_token else "http"


def build_client(settings: Settings) -> AsyncWebClient:
    """The Web API client: SLACK_API_URL as base, 429s waited out per Retry-After, connection errors retried."""
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
    base_url = settings.slack_api_url if settings.slack_api_url.endswith("/") else settings.slack_api_url + "/"
    return AsyncWebClient(
        token=token,
        base_url=base_url,
        timeout=int(settings.kb_timeout_s),
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=1),
            AsyncRateLimitErrorRetryHandler(max_retry_count=max(1, settings.kb_max_retries)),
        ],
    )


class DropRetries(AsyncMiddleware):
    """Slack redelivers an event (same `event_id`, `X-Slack-Retry-Num` header) when it did not see our
    200 in time; answer the first delivery only, whichever replica it reaches (the shared state).
    Runs before authorize, so a retry costs no API call."""

    def __init__(self, shared: SharedState) -> None:
        self.shared = shared

    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse:
        body = req.body
        event_id = body.get("event_id") if body.get("type") == "event_callback" else None
        if event_id and not await self.shared.first_time(f"slack:event:{event_id}", SEEN_TTL_S):
            retry = (req.headers.get("x-slack-retry-num") or ["-"])[0]
            reason = (req.headers.get("x-slack-retry-reason") or ["-"])[0]
            log.info("slack: dropped a repeat of event %s (retry %s, reason %s)", event_id, retry, reason)
            return BoltResponse(status=200, body="")
        return await next()


async def _on_error(error: Exception, body: dict[str, Any], respond: AsyncRespond | None = None) -> None:
    """Global error handler: log with the request kind; tell a button's presser something went wrong."""
    kind = body.get("type") or body.get("command") or "?"
    log.error("slack: %s failed: %s", kind, error, exc_info=error)
    if respond is not None and body.get("type") == "block_actions":
        await respond(
            text=messages.SLACK_ERROR.format(error=messages.SLACK_INTERNAL_ERROR, request_id="-"),
            response_type="ephemeral",
            replace_original=False,
        )


def build_slack_app(
    engine: Engine, settings: Settings, client: AsyncWebClient | None = None, *, deps: SlackDeps | None = None
) -> AsyncApp:
    """An AsyncApp with every listener registered; `client` defaults to one built from settings.

        app = build_slack_app(engine, settings)
        resp = await app.async_dispatch(AsyncBoltRequest(body=raw, headers=signed_headers))

    Listeners ack and hand their work to `deps.background`, so `process_before_response=True`
    returns Slack's 200 as soon as the ack is set (no polling for it, no wait for the answer).
    """
    deps = deps or SlackDeps(engine=engine, settings=settings, store=open_records(settings))
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app = AsyncApp(
        name="kb",
        client=client or build_client(settings),
        signing_secret=secret,
        before_authorize=DropRetries(deps.shared),
        process_before_response=True,
    )
    app.error(_on_error)
    register(app, deps)
    return app


def attach(app: web.Application, engine: Engine, settings: Settings) -> AsyncApp | None:
    """Plug Slack into the server's aiohttp app (call before it starts); None when Slack is off.

    web_app = build_http_app(engine, settings)
    attach(web_app, engine, settings)     # POST /slack/events, or Socket Mode on startup
    """
    mode = slack_mode(settings)
    if mode == "off":
        log.info(messages.SLACK_OFF_LOG)
        return None
    if mode == "http" and not settings.slack_signing_secret:
        raise ConfigError(messages.SLACK_NEEDS_SECRET)
    store = app.get(RECORDS) or open_records(settings)  # the HTTP API's store: one seam for every door
    deps = SlackDeps(engine=engine, settings=settings, store=store)
    if (api := app.get(STATE)) is not None:  # the HTTP API's shared state (Redis with KB_REDIS_URL)
        deps.shared = api.shared
    slack = build_slack_app(engine, settings, deps=deps)
    app[SLACK_APP] = slack
    if mode == "http":

        async def slack_events(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await slack.async_dispatch(await to_bolt_request(request)))

        app.router.add_post(EVENTS_PATH, slack_events)
    app.cleanup_ctx.append(_lifecycle(slack, deps, mode))
    return slack


def _lifecycle(slack: AsyncApp, deps: SlackDeps, mode: Mode) -> Callable[[web.Application], AsyncIterator[None]]:
    settings = deps.settings

    async def ctx(_: web.Application) -> AsyncIterator[None]:
        client = slack.client
        own_session = client.session is None
        if own_session:  # one keep-alive session for every Web API call instead of one per call
            client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=settings.kb_timeout_s))
        handler = None
        if mode == "socket":
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            assert settings.slack_app_token is not None
            handler = AsyncSocketModeHandler(slack, app_token=settings.slack_app_token.get_secret_value())
            await handler.connect_async()  # type: ignore[no-untyped-call]  # (untyped in slack_bolt)
            log.info(messages.SLACK_SOCKET_LOG, settings.slack_api_url)
        else:
            log.info(messages.SLACK_HTTP_LOG, EVENTS_PATH)
        try:
            yield
        finally:
            if handler is not None:
                await handler.close_async()  # type: ignore[no-untyped-call]  # no new envelopes
            await deps.background.drain(DRAIN_TIMEOUT_S)  # answers in flight still post
            if own_session and client.session is not None:
                await client.session.close()
                client.session = None

    return ctx
