"""The limits of the HTTP API: a token bucket per API key and Idempotency-Key records.

    limiter = RateLimiter.per_minute(120)          # KB_RATE_LIMIT_PER_MIN; 0 -> None (no limit)
    wait = await state.shared.take("key-id", limiter)     # 0.0 = allowed, else seconds until a token
    claim = await state.shared.begin(("key-id", "n8n-4711"), body_hash)

The limiter says how big a bucket is and how fast it refills; the shared state (`bot.shared`) says
where the buckets and records live: this process by default, Redis with KB_REDIS_URL, so that
replicas behind a load balancer count one key as one. The in-process classes live in
`bot.shared.memory` and are re-exported here.
"""

from __future__ import annotations

from bot.shared.memory import Clock, IdempotencyStore, RateLimiter, Stored

__all__ = ["Clock", "IdempotencyStore", "RateLimiter", "Stored"]
