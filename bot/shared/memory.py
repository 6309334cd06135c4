"""Shared state kept in this process: right for one replica, and the default.

    state = MemoryState(idempotency_ttl_s=600)
    limiter = RateLimiter.per_minute(120)          # KB_RATE_LIMIT_PER_MIN; 0 -> None (no limit)
    wait = limiter.take("key-id")                  # 0.0 = allowed, else seconds until a token

The primitives (`SeenEvents`, `RateLimiter`, `IdempotencyStore`) are plain synchronous classes on
an injectable clock; `MemoryState` puts them behind the `SharedState` seam. Behind several
replicas each process counts on its own: set KB_REDIS_URL (`bot.shared.redis_state`).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.shared.protocol import Backend, IdempotencyKey, KeyInFlight, KeyReused, Replay, Reservation

Clock = Callable[[], float]


class SeenEvents:
    """Keys seen recently (Slack event ids, messages claimed for an answer), forgotten after a TTL."""

    def __init__(self, ttl_s: float = 3600.0, max_size: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_size = max_size
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> when it is forgotten

    def first_time(self, event_id: str, now: float | None = None, ttl_s: float | None = None) -> bool:
        """True the first time `event_id` is offered (within the TTL), False for a repeat."""
        now = time.monotonic() if now is None else now
        while self._seen and (len(self._seen) >= self.max_size or next(iter(self._seen.values())) < now):
            self._seen.popitem(last=False)
        if self._seen.get(event_id, -1.0) >= now:
            return False
        self._seen.pop(event_id, None)
        self._seen[event_id] = now + (self.ttl_s if ttl_s is None else ttl_s)
        return True


class RateLimiter:
    """Token bucket per key: `capacity` requests at once, refilled at `refill_per_s` tokens a second."""

    def __init__(
        self, capacity: float, refill_per_s: float, *, clock: Clock = time.monotonic, max_keys: int = 10_000
    ) -> None:
        if capacity < 1 or refill_per_s <= 0:
            raise ValueError("a rate limit needs capacity >= 1 and refill_per_s > 0")
        self.capacity = float(capacity)
        self.refill_per_s = float(refill_per_s)
        self._clock = clock
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, last refill)

    @classmethod
    def per_minute(cls, limit: int) -> RateLimiter | None:
        """`limit` a minute with a burst of up to `limit` (a full minute's worth); 0 means no limit."""
        return cls(capacity=limit, refill_per_s=limit / 60.0) if limit > 0 else None

    def take(self, key: str) -> float:
        """Spend one token of `key`'s bucket: 0.0 if allowed, else the seconds until one is there."""
        now = self._clock()
        tokens, last = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.refill_per_s)
        if tokens >= 1.0:
            self._remember(key, tokens - 1.0, now)
            return 0.0
        self._remember(key, tokens, now)
        return (1.0 - tokens) / self.refill_per_s

    def _remember(self, key: str, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_keys:  # a full bucket is what a forgotten key gets back
            self._buckets.popitem(last=False)


@dataclass
class Stored:
    body_hash: str
    expires: float
    status: int = 0
    body: bytes = b""
    content_type: str = "application/json"
    done: asyncio.Event = field(default_factory=asyncio.Event)


class IdempotencyStore:
    """Responses by (key id, Idempotency-Key) for `ttl_s` seconds; at most `max_entries` kept.

    A second request with the same key and body waits for the first one if it is still running,
    then gets the same response; only successful (2xx) responses are kept, so a failed attempt
    can be retried with the same key.
    """

    def __init__(self, ttl_s: float, *, clock: Clock = time.monotonic, max_entries: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[tuple[str, str], Stored] = OrderedDict()

    def get(self, key: tuple[str, str]) -> Stored | None:
        entry = self._entries.get(key)
        if entry is not None and entry.done.is_set() and entry.expires <= self._clock():
            del self._entries[key]
            return None
        return entry

    def begin(self, key: tuple[str, str], body_hash: str) -> Stored:
        entry = Stored(body_hash=body_hash, expires=self._clock() + self.ttl_s)
        self._entries[key] = entry
        self._evict()
        return entry

    def finish(self, key: tuple[str, str], entry: Stored, status: int, body: bytes, content_type: str) -> None:
        if 200 <= status < 300:
            entry.status, entry.body, entry.content_type = status, body, content_type
            entry.expires = self._clock() + self.ttl_s
        elif self._entries.get(key) is entry:
            del self._entries[key]
        entry.done.set()

    def _evict(self) -> None:
        now = self._clock()
        while self._entries:
            oldest_key, oldest = next(iter(self._entries.items()))
            if len(self._entries) <= self._max and (oldest.expires > now or not oldest.done.is_set()):
                break
            del self._entries[oldest_key]
            oldest.done.set()


class MemoryState:
    """The `SharedState` of one process (the default without KB_REDIS_URL)."""

    name: Backend = "memory"

    def __init__(
        self, *, idempotency_ttl_s: float = 600.0, in_flight_s: float = 70.0, clock: Clock = time.monotonic
    ) -> None:
        self._clock = clock
        self._seen = SeenEvents()
        self._idempotency = IdempotencyStore(idempotency_ttl_s, clock=clock)
        self._reserved: dict[str, Stored] = {}  # token -> the entry its request fills in
        self._breakers: dict[str, float] = {}  # name -> open until (clock)
        self._in_flight_s = in_flight_s

    async def first_time(self, key: str, ttl_s: float) -> bool:
        return self._seen.first_time(key, now=self._clock(), ttl_s=ttl_s)

    async def take(self, key: str, limiter: RateLimiter) -> float:
        return limiter.take(key)  # the limiter holds this process's buckets (and, in tests, its own clock)

    async def begin(self, key: IdempotencyKey, body_hash: str) -> Reservation | Replay:
        while (entry := self._idempotency.get(key)) is not None:
            if entry.body_hash != body_hash:
                raise KeyReused(key[1])
            if not entry.done.is_set():
                try:
                    async with asyncio.timeout(self._in_flight_s):
                        await entry.done.wait()
                except TimeoutError:
                    raise KeyInFlight(key[1]) from None
            if entry.status:
                return Replay(entry.status, entry.body, entry.content_type)
            if self._idempotency.get(key) is entry:  # (not expected: a failure is removed) take it over
                break
            # the first attempt failed: look again, another duplicate may have reserved the key meanwhile
        token = secrets.token_hex(8)
        self._reserved[token] = self._idempotency.begin(key, body_hash)
        return Reservation(key, body_hash, token)

    async def finish(self, reservation: Reservation, status: int, body: bytes, content_type: str) -> None:
        entry = self._reserved.pop(reservation.token, None)
        if entry is not None:
            self._idempotency.finish(reservation.key, entry, status, body, content_type)

    async def breaker_open_for(self, name: str) -> float:
        return max(0.0, self._breakers.get(name, 0.0) - self._clock())

    async def open_breaker(self, name: str, seconds: float) -> None:
        self._breakers[name] = self._clock() + seconds

    async def reachable(self) -> bool:
        return True

    async def close(self) -> None:
        return None
