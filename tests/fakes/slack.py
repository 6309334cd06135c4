"""A fake Slack: Web API, response_url and Socket Mode, as a real aiohttp server on 127.0.0.1.

    async with FakeSlack() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)    # or SLACK_API_URL
        ...
        [call] = await slack.wait_for("chat.update")
        assert call.body["thread_ts"] == "1.2"

It answers the way Slack does (`{"ok": true, ...}` JSON, errors as `{"ok": false, "error": ...}`
with HTTP 200, `ratelimited` as HTTP 429 with `Retry-After`), keeps a message history per channel
so chat.update, conversations.replies and conversations.history behave, and records every request it
receives. Requests into the bot are signed with `sign()`, the same HMAC Slack uses (`v0:{timestamp}:{body}`).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web
from slack_sdk.signature import SignatureVerifier

TEAM_ID = "T0FAKE"
BOT_USER_ID = "UBOT"
BOT_ID = "BKB"
APP_ID = "AKB"


@dataclass
class Call:
    """One request the fake received: the API method (or `response_url`), headers and parsed body."""

    method: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 200
    at: float = field(default_factory=time.monotonic)
    key: str = ""  # the response_url's key

    @property
    def token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        return auth[len("Bearer ") :] if auth.startswith("Bearer ") else self.body.get("token")


def sign(body: str, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack sends with a request to /slack/events: timestamp and `v0=` HMAC-SHA256 signature."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}


class FakeSlack:
    def __init__(self, *, bot_token: str = "xoxb-test", app_token: str = "xapp-test") -> None:
        self.bot_token = bot_token
        self.app_token = app_token
        self.calls: list[Call] = []
        self.history: dict[str, list[dict[str, Any]]] = {}
        self.socket_acks: list[dict[str, Any]] = []
        self.socket_connected = asyncio.Event()
        self._limits: dict[str, list[int]] = {}  # method -> [times left, retry-after]
        self._errors: dict[str, list[Any]] = {}  # method -> [times left, error]
        self._ticks = itertools.count(1)
        self._ws: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self.url = ""
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": lambda b: {"message_ts": self._ts()},
            "chat.getPermalink": self._permalink,
            "views.open": lambda b: {"view": self._view(b, "V_MODAL")},
            "views.publish": lambda b: {"view": self._view(b, "V_HOME")},
            "reactions.add": lambda b: {},
            "conversations.replies": self._replies,
            "conversations.history": self._history,
            "apps.connections.open": lambda b: {"url": self.url.replace("http", "ws", 1) + "/socket-mode"},
        }

    # --- lifecycle -----------------------------------------------------------------------
    async def __aenter__(self) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response_url)
        app.router.add_get("/socket-mode", self._socket)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    def response_url(self, key: str = "1") -> str:
        return f"{self.url}/response/{key}"

    # --- what tests arrange ----------------------------------------------------------------
    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next `times` calls of `method` get HTTP 429 `ratelimited` with `Retry-After`."""
        self._limits[method] = [times, retry_after]

    def fail(self, method: str, error: str, *, times: int = 1) -> None:
        """The next `times` calls of `method` answer `{"ok": false, "error": error}`."""
        self._errors[method] = [times, error]

    def add_message(
        self, channel: str, text: str, *, user: str = "UCUSTOMER", thread_ts: str | None = None, **extra: Any
    ) -> str:
        """Put a message in a channel's history (e.g. the pasted ticket a thread starts with); returns its ts."""
        ts = self._ts()
        msg = {"type": "message", "user": user, "text": text, "ts": ts, **extra}
        if thread_ts:
            msg["thread_ts"] = thread_ts
        self.history.setdefault(channel, []).append(msg)
        return ts

    # --- what tests read -------------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def wait_for(
        self, method: str, count: int = 1, *, timeout: float = 10.0, where: Callable[[Call], bool] | None = None
    ) -> list[Call]:
        """Poll until `count` calls of `method` (matching `where`) arrived; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            found = [c for c in self.calls_to(method) if where is None or where(c)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = [c.method for c in self.calls]
                raise AssertionError(f"waited {timeout}s for {count} x {method}, got {len(found)}; calls: {seen}")
            await asyncio.sleep(0.01)

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.history.get(channel, []) if m["ts"] == ts), None)

    # --- Socket Mode -----------------------------------------------------------------------
    async def send_envelope(
        self, kind: str, payload: dict[str, Any], *, accepts_response_payload: bool = False, retry_attempt: int = 0
    ) -> str:
        """Push an envelope (`events_api`, `slash_commands`, `interactive`) to the connected app."""
        await asyncio.wait_for(self.socket_connected.wait(), 5)
        assert self._ws is not None
        envelope_id = uuid.uuid4().hex
        await self._ws.send_json(
            {
                "envelope_id": envelope_id,
                "type": kind,
                "payload": payload,
                "accepts_response_payload": accepts_response_payload,
                "retry_attempt": retry_attempt,
                "retry_reason": "timeout" if retry_attempt else "",
            }
        )
        return envelope_id

    async def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ack in self.socket_acks:
                if ack.get("envelope_id") == envelope_id:
                    return ack
            await asyncio.sleep(0.01)
        raise AssertionError(f"no Socket Mode ack for envelope {envelope_id}")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "connection_info": {"app_id": APP_ID},
                "debug_info": {"host": "fake", "approximate_connection_time": 3600},
            }
        )
        self.socket_connected.set()
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.socket_acks.append(json.loads(msg.data))
        self.socket_connected.clear()
        return ws

    # --- the HTTP side ---------------------------------------------------------------------
    async def _response_url(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.calls.append(Call("response_url", dict(request.headers), body, key=request.match_info["key"]))
        return web.json_response({"ok": True})

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        if request.content_type == "application/json":
            body: dict[str, Any] = json.loads(raw or "{}")
        else:
            body = dict(parse_qsl(raw))
        body.update({k: v for k, v in request.query.items() if k not in body})
        call = Call(method, dict(request.headers), body)
        self.calls.append(call)
        limit = self._limits.get(method)
        if limit and limit[0] > 0:
            limit[0] -= 1
            call.status = 429
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": str(limit[1])}
            )
        expected = self.app_token if method == "apps.connections.open" else self.bot_token
        if call.token is None:
            return web.json_response({"ok": False, "error": "not_authed"})
        if call.token != expected:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        error = self._errors.get(method)
        if error and error[0] > 0:
            error[0] -= 1
            return web.json_response({"ok": False, "error": error[1]})
        handler = self._methods.get(method)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        try:
            result = handler(body)
        except KeyError as exc:  # a required argument is missing
            return web.json_response({"ok": False, "error": "invalid_arguments", "missing": str(exc)})
        if "error" in result:
            return web.json_response({"ok": False, **result})
        return web.json_response({"ok": True, **result})

    def _ts(self) -> str:
        return f"{int(time.time())}.{next(self._ticks):06d}"

    @staticmethod
    def _json(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) and value[:1] in "[{" else value

    def _auth_test(self, body: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": "kb",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post_message(self, body: dict[str, Any]) -> dict[str, Any]:
        channel = body["channel"]
        if not (body.get("text") or body.get("blocks")):
            return {"error": "no_text"}
        msg = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "ts": self._ts(),
            "text": body.get("text", ""),
            "blocks": self._json(body.get("blocks")) or [],
        }
        if body.get("thread_ts"):
            msg["thread_ts"] = body["thread_ts"]
        self.history.setdefault(channel, []).append(msg)
        return {"channel": channel, "ts": msg["ts"], "message": msg}

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        msg = self.message(body["channel"], body["ts"])
        if msg is None:
            return {"error": "message_not_found"}
        msg["text"] = body.get("text", msg["text"])
        if "blocks" in body:
            msg["blocks"] = self._json(body["blocks"]) or []
        return {"channel": body["channel"], "ts": body["ts"], "text": msg["text"], "message": msg}

    def _permalink(self, body: dict[str, Any]) -> dict[str, Any]:
        channel, ts = body["channel"], body["message_ts"]
        return {"channel": channel, "permalink": f"https://fake.slack.com/archives/{channel}/p{ts.replace('.', '')}"}

    def _view(self, body: dict[str, Any], view_id: str) -> dict[str, Any]:
        return {"id": view_id, **(self._json(body["view"]) or {})}

    def _history(self, body: dict[str, Any]) -> dict[str, Any]:
        """Top-level messages (and thread broadcasts), newest first, before `latest` (at it too: `inclusive`)."""
        messages = self.history.get(body["channel"], [])
        latest = float(body.get("latest") or "inf")
        inclusive = str(body.get("inclusive", "")).lower() in ("1", "true")
        found = [
            m
            for m in messages
            if (m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast")
            and (float(m["ts"]) < latest or (inclusive and float(m["ts"]) == latest))
        ]
        found.sort(key=lambda m: float(m["ts"]), reverse=True)
        return {
            "messages": found[: int(body.get("limit") or 100)],
            "has_more": len(found) > int(body.get("limit") or 100),
        }

    def _replies(self, body: dict[str, Any]) -> dict[str, Any]:
        channel, ts = body["channel"], body["ts"]
        thread = [m for m in self.history.get(channel, []) if m["ts"] == ts or m.get("thread_ts") == ts]
        if not thread:
            return {"error": "thread_not_found"}
        thread.sort(key=lambda m: float(m["ts"]))
        return {"messages": thread[: int(body.get("limit") or 1000)], "has_more": False}
