"""The token bucket and the idempotency store on an injected clock (no sleeping)."""

from __future__ import annotations

import pytest

from bot.http.limits import IdempotencyStore, RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_refills_at_its_rate() -> None:
    clock = Clock()
    limiter = RateLimiter.per_minute(60)
    assert limiter is not None and limiter.capacity == 60 and limiter.refill_per_s == 1.0
    limiter = RateLimiter(capacity=3, refill_per_s=0.5, clock=clock)
    assert [limiter.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("a") == pytest.approx(2.0)  # one token takes 2 s at 0.5/s
    clock.now += 1.0
    assert limiter.take("a") == pytest.approx(1.0)  # half a token back
    clock.now += 1.0
    assert limiter.take("a") == 0.0
    assert limiter.take("b") == 0.0  # buckets are per key


def test_no_limit_and_bad_limits() -> None:
    assert RateLimiter.per_minute(0) is None
    with pytest.raises(ValueError):
        RateLimiter(capacity=0, refill_per_s=1)


def test_forgotten_keys_get_a_full_bucket_and_memory_stays_bounded() -> None:
    limiter = RateLimiter(capacity=1, refill_per_s=0.001, clock=Clock(), max_keys=2)
    for key in ("a", "b", "c"):
        assert limiter.take(key) == 0.0
    assert len(limiter._buckets) == 2
    assert limiter.take("a") == 0.0  # "a" was evicted: it starts full again
    assert limiter.take("c") > 0


async def test_idempotency_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    store = IdempotencyStore(ttl_s=10, clock=clock)
    key = ("key-1", "k")
    entry = store.begin(key, "hash-1")
    store.finish(key, entry, 200, b'{"ok": true}', "application/json")
    clock.now += 9
    kept = store.get(key)
    assert kept is not None and kept.body == b'{"ok": true}' and kept.done.is_set()
    clock.now += 2
    assert store.get(key) is None


async def test_idempotency_keeps_only_successes_and_evicts_the_oldest() -> None:
    store = IdempotencyStore(ttl_s=60, clock=Clock(), max_entries=2)
    failed = store.begin(("c", "f"), "h")
    store.finish(("c", "f"), failed, 422, b"{}", "application/json")
    assert store.get(("c", "f")) is None and failed.done.is_set()
    for name in ("a", "b", "c"):
        entry = store.begin(("c", name), "h")
        store.finish(("c", name), entry, 200, b"{}", "application/json")
    assert store.get(("c", "a")) is None
    assert store.get(("c", "b")) is not None and store.get(("c", "c")) is not None
