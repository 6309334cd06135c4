"""A real aiohttp server on 127.0.0.1 that records requests and misbehaves on demand.

    server.fail("429", times=1, retry_after=0.3)   # next request: 429 with Retry-After: 0.3
    server.fail("500", path="/query")              # every /query request: 500 until server.heal()
    server.fail("slow", slow_s=5)                  # answers late (the client should time out first)
    server.fail("malformed")                       # 200 with a body that is not JSON
    await server.shutdown()                        # nothing listens: connection refused

The OpenAI and Pinecone fakes build on this; each supplies its routes and its error body.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

FaultKind = Literal["500", "429", "slow", "malformed"]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any  # parsed JSON, or the raw text when it is not JSON
    raw_bytes: int
    at: float = field(default_factory=time.monotonic)
    fault: str | None = None  # the fault this request was answered with


class FaultyServer:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.fault: FaultKind | None = None
        self._times: int | None = None
        self._path: str | None = None
        self.retry_after: float | None = 1.0
        self.slow_s = 5.0
        self._release = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- faults -----------------------------------------------------------------------------
    def fail(
        self,
        kind: FaultKind,
        *,
        times: int | None = None,
        path: str | None = None,
        retry_after: float | None = 1.0,
        slow_s: float = 5.0,
    ) -> None:
        """Answer the next `times` requests (all, if None) to `path` (any, if None) with `kind`."""
        self.fault, self._times, self._path = kind, times, path
        self.retry_after, self.slow_s = retry_after, slow_s
        self._release = asyncio.Event()

    def heal(self) -> None:
        self.fault, self._times = None, None
        self._release.set()

    def _take_fault(self, path: str) -> FaultKind | None:
        if self.fault is None or (self._path is not None and path != self._path):
            return None
        kind = self.fault
        if self._times is not None:
            self._times -= 1
            if self._times <= 0:
                self.fault, self._times = None, None
        return kind

    # --- to override --------------------------------------------------------------------------
    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "code": status}}

    # --- serving ----------------------------------------------------------------------------
    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        record = Recorded(request.method, request.path, dict(request.headers), body, len(raw))
        self.requests.append(record)
        kind = self._take_fault(request.path)
        record.fault = kind
        if kind == "500":
            return web.json_response(self.error_body(500, "the fake is failing on purpose"), status=500)
        if kind == "429":
            headers = {"Retry-After": f"{self.retry_after:g}"} if self.retry_after is not None else {}
            return web.json_response(self.error_body(429, "rate limited on purpose"), status=429, headers=headers)
        if kind == "malformed":
            return web.Response(text='{"this is": not json', content_type="application/json")
        if kind == "slow":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._release.wait(), self.slow_s)
        return await handler(request)

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware], client_max_size=64 * 1024 * 1024)
        self.routes(app)
        return app

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app(), shutdown_timeout=0.2, handle_signals=False)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))  # the same port again after a shutdown
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def shutdown(self) -> None:
        """Stop listening; clients get "connection refused" until `start()` again."""
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]
