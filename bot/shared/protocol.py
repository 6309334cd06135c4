"""The seam to what replicas share: Slack event dedup, rate-limit buckets, Idempotency-Key records
and the circuit breakers' "open until". `MemoryState` keeps it in the process (the default),
`RedisState` in Redis (KB_REDIS_URL), so several `kb serve` behind a load balancer act as one.

    state = open_shared_state(settings)                      # bot.shared: the only reader of KB_REDIS_URL
    if await state.first_time("slack:event:Ev1", ttl_s=3600): ...
    wait = await state.take("key-1f2e", limiter)             # 0.0, else seconds until a token
    claim = await state.begin(("key-1f2e", "n8n-4711"), body_hash)   # Reservation | Replay

What happens when the shared store is unreachable is part of the contract, so every door behaves
the same: `first_time` and `take` fail open (answer, do not limit), the breaker methods fall back
to each process's own breaker, `finish` is best effort, and only `begin` raises
(`SharedStateUnavailable`): an Idempotency-Key promise cannot be kept without the shared store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from bot.shared.memory import RateLimiter

IdempotencyKey = tuple[str, str]  # (API key id, Idempotency-Key header)
Backend = Literal["memory", "redis"]


class SharedStateUnavailable(Exception):
    """The shared store (Redis) did not answer in time; raised by `begin` only."""


class KeyReused(Exception):
    """The Idempotency-Key was used with another body or route (422)."""


class KeyInFlight(Exception):
    """The first request with this Idempotency-Key is still running after the wait bound (409)."""


@dataclass(frozen=True)
class Replay:
    """A stored 2xx response, returned again for a repeated Idempotency-Key."""

    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class Reservation:
    """This request owns the Idempotency-Key until `finish`."""

    key: IdempotencyKey
    body_hash: str
    token: str  # tells our reservation from a later one after ours expired


@runtime_checkable
class SharedState(Protocol):
    name: Backend  # reported by /health

    async def first_time(self, key: str, ttl_s: float) -> bool:
        """True the first time `key` is offered within `ttl_s`, on any replica; True when unreachable."""
        ...

    async def take(self, key: str, limiter: RateLimiter) -> float:
        """Spend a token of `key`'s bucket, sized and refilled as `limiter` says: 0.0 if allowed, else
        the seconds until a token. Memory keeps the buckets in `limiter`; 0.0 when unreachable."""
        ...

    async def begin(self, key: IdempotencyKey, body_hash: str) -> Reservation | Replay:
        """Reserve `key` for this request, or return the stored response of the same request (after
        waiting a bounded time for a first one still running). Raises KeyReused, KeyInFlight,
        SharedStateUnavailable."""
        ...

    async def finish(self, reservation: Reservation, status: int, body: bytes, content_type: str) -> None:
        """Store a 2xx response for the TTL, or release the key (any other status); never raises."""
        ...

    async def breaker_open_for(self, name: str) -> float:
        """Seconds the breaker `name` stays open (opened by any replica); 0.0 when closed or unreachable."""
        ...

    async def open_breaker(self, name: str, seconds: float) -> None:
        """Tell every replica that breaker `name` is open for `seconds`; never raises."""
        ...

    async def reachable(self) -> bool:
        """Whether the shared store answers (always True in memory); for /health."""
        ...

    async def close(self) -> None: ...
