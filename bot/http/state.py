"""What the HTTP app shares between requests, under typed `web.AppKey`s.

engine = request.app[ENGINE]                   # the one Engine (set at build or at startup)
request_id = request[REQUEST_ID]               # set by the outermost middleware
state = request.app[STATE]                     # settings, metrics, limits, shared state, OpenAPI bytes
records = request.app[RECORDS]                 # answers, feedback, escalations (bot.records)
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field

from aiohttp import web

from bot.http.metrics import Metrics
from bot.records import RecordStore
from bot.shared import RateLimiter, SharedState
from rag.engine import Engine
from rag.models import Answer
from rag.settings import Settings

ENGINE = web.AppKey("kb_engine", Engine)
DEGRADED_WINDOW_S = 60.0  # /health says degraded while a fallback answered within this window


@dataclass
class ApiState:
    settings: Settings
    metrics: Metrics
    limiter: RateLimiter | None  # the bucket's size and refill; `shared` keeps the buckets
    shared: SharedState  # rate-limit buckets, Idempotency-Key records (and Slack dedup, breakers)
    api_keys: dict[str, bytes]  # key id (short hash, safe to log) -> key
    openapi: bytes = b"{}"
    version: str = "0"
    _degraded_at: float = 0.0
    _degraded_reasons: list[str] = field(default_factory=list)

    def note_answer(self, answer: Answer) -> None:
        self.metrics.observe_answer(answer)
        if answer.degraded:
            # Within the window the reasons add up: a required-data answer (no drafter) that follows a
            # drafter failure must not hide it.
            recent = self.degraded()
            self._degraded_at = time.monotonic()
            self._degraded_reasons = recent + [r for r in answer.degraded_reasons if r not in recent]

    def degraded(self) -> list[str]:
        """Reasons of the fallbacks within the last minute, else []."""
        if self._degraded_at and time.monotonic() - self._degraded_at < DEGRADED_WINDOW_S:
            return self._degraded_reasons
        return []


STATE = web.AppKey("kb_api_state", ApiState)
RECORDS = web.AppKey("kb_records", RecordStore)
# Per-request storage: the request id (also in every log line), the caller's key id, log fields.
REQUEST_ID = web.RequestKey("kb_request_id", str)
CLIENT = web.RequestKey("kb_client", str)
LOG_FIELDS = web.RequestKey("kb_log_fields", dict)


def key_id(key: str) -> str:
    """A stable, non-secret name for an API key (logs, rate-limit buckets)."""
    return "key-" + hashlib.sha256(key.encode("utf-8")).hexdigest()[:12]
