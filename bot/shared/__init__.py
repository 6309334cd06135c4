"""State the replicas of kb-rag share: in this process by default, in Redis with KB_REDIS_URL.

    state = open_shared_state(settings)           # the only place that reads KB_REDIS_URL
    engine = build_engine(settings, breakers=state)
    app = build_http_app(engine, settings, shared=state)
    ...
    await state.close()

What is shared: Slack event dedup (Slack's retries and the app_mention/message pair of one
message are answered once, whichever replica gets them), the rate-limit bucket of each API key,
Idempotency-Key records, and the circuit breakers of OpenAI and Pinecone. See `protocol` for
what happens when Redis is unreachable.
"""

from __future__ import annotations

import logging

from bot import messages
from bot.shared.memory import IdempotencyStore, MemoryState, RateLimiter, SeenEvents
from bot.shared.protocol import (
    KeyInFlight,
    KeyReused,
    Replay,
    Reservation,
    SharedState,
    SharedStateUnavailable,
)
from rag.settings import Settings

__all__ = [
    "IdempotencyStore",
    "KeyInFlight",
    "KeyReused",
    "MemoryState",
    "RateLimiter",
    "Replay",
    "Reservation",
    "SeenEvents",
    "SharedState",
    "SharedStateUnavailable",
    "in_flight_bound",
    "open_shared_state",
]

log = logging.getLogger(__name__)

# An answer makes at most three outside calls (embed, query, draft), each bounded by KB_TIMEOUT_S.
CALLS_PER_ANSWER = 3
IN_FLIGHT_MARGIN_S = 10.0


def in_flight_bound(settings: Settings) -> float:
    """How long a duplicate Idempotency-Key request waits for the first (and a reservation lives)."""
    return CALLS_PER_ANSWER * settings.kb_timeout_s + IN_FLIGHT_MARGIN_S


def open_shared_state(settings: Settings) -> SharedState:
    """Redis when KB_REDIS_URL is set, else this process's memory. Connects lazily (on the first
    command), so an unreachable Redis never stops the start; close it at shutdown.
    Raises ConfigError for a URL that is not redis://, rediss:// or unix://."""
    url = settings.kb_redis_url
    ttl_s, in_flight_s = float(settings.kb_idempotency_ttl_s), in_flight_bound(settings)
    if url is None or not url.get_secret_value():
        return MemoryState(idempotency_ttl_s=ttl_s, in_flight_s=in_flight_s)
    from bot.shared.redis_state import RedisState  # redis is imported only when chosen

    state = RedisState(url, idempotency_ttl_s=ttl_s, in_flight_s=in_flight_s)
    log.info(messages.SHARED_REDIS_LOG, state.safe_url)
    return state
