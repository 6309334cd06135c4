"""In-process limits of the HTTP API: a token bucket per API key and an Idempotency-Key store.

    limiter = RateLimiter.per_minute(120)          # KB_RATE_LIMIT_PER_MIN; 0 -> None (no limit)
    wait = limiter.take("key-id")                  # 0.0 = allowed, else seconds until a token
    store = IdempotencyStore(ttl_s=600)

Both live in one process: behind several replicas, put the limits in the proxy (or use sticky keys).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]


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
