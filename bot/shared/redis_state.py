"""Shared state in Redis (KB_REDIS_URL, Redis 5 or later): every replica sees one dedup set, one
rate-limit bucket per API key, one record per Idempotency-Key and one "open until" per breaker.

    state = RedisState(SecretStr("redis://:pw@cache:6379/0"), idempotency_ttl_s=600, in_flight_s=70)
    await state.first_time("slack:event:Ev1", ttl_s=3600)     # SET kb:seen:… 1 NX PX

Keys, all under `kb:` and all with a TTL:
    seen:<key>                       SET NX: the first replica to claim it answers
    rate:<client>                    hash {tokens, at}: a token bucket in one Lua script on Redis' clock
    idem:<client>:<Idempotency-Key>  JSON header line + "\\n" + body: pending (SET NX) or done (2xx)
    breaker:<name>                   PX = the cooldown: its PTTL is how long the breaker stays open

Redis down or slow: every call is bounded (0.5 s socket timeouts, one retry on a fresh connection,
1 s in all). After a failure, calls skip the network for PROBE_EVERY_S, so requests do not each wait
while it is down. One warning when an outage starts, one info line when it ends; the URL is logged
with its password replaced by ***.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from pydantic import SecretStr
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from bot import messages
from bot.shared.memory import RateLimiter
from bot.shared.protocol import (
    Backend,
    IdempotencyKey,
    KeyInFlight,
    KeyReused,
    Replay,
    Reservation,
    SharedStateUnavailable,
)
from rag.errors import ConfigError

log = logging.getLogger(__name__)
T = TypeVar("T")

SOCKET_TIMEOUT_S = 0.5  # connect and each read/write
CALL_TIMEOUT_S = 1.0  # one call, its retry included
PROBE_EVERY_S = 1.0  # while Redis is down, try it again at most this often
POLL_FIRST_S, POLL_MAX_S = 0.02, 0.25  # pauses while a duplicate waits for the first request
PREFIX = "kb:"
_QUERY_PASSWORD = re.compile(r"([?&]password=)[^&#]*")

# Token bucket on Redis' own clock (replicas' clocks may differ). Returns the seconds to wait, "0" = allowed.
TOKEN_BUCKET = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return tostring(wait)
"""

# Store (or release, ARGV[2] == '') an Idempotency-Key record only while it is still our reservation:
# after ours expired another request may own the key.
FINISH = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then redis.call('DEL', KEYS[1]) else redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) end
return 1
"""


def redact_url(url: str) -> str:
    """`url` safe to log: the password (in the authority or a `password=` query) becomes ***."""
    parts = urlsplit(url)
    if parts.password is not None:
        host = parts.netloc.rsplit("@", 1)[1]
        url = url.replace(parts.netloc, f"{parts.username or ''}:***@{host}", 1)
    return _QUERY_PASSWORD.sub(r"\1***", url)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _pending(body_hash: str, token: str) -> bytes:
    return json.dumps({"state": "pending", "hash": body_hash, "token": token}).encode()


def _done(body_hash: str, status: int, body: bytes, content_type: str) -> bytes:
    header = {"state": "done", "hash": body_hash, "status": status, "content_type": content_type}
    return json.dumps(header).encode() + b"\n" + body  # json.dumps never writes a raw newline


class RedisState:
    """The `SharedState` of several replicas, in one Redis."""

    name: Backend = "redis"

    def __init__(self, url: SecretStr, *, idempotency_ttl_s: float, in_flight_s: float) -> None:
        self.safe_url = redact_url(url.get_secret_value())
        try:
            self._redis = aioredis.Redis.from_url(
                url.get_secret_value(),
                socket_timeout=SOCKET_TIMEOUT_S,
                socket_connect_timeout=SOCKET_TIMEOUT_S,
                retry=Retry(NoBackoff(), 1),  # one retry: a pooled connection may be stale after a restart
            )
        except ValueError as exc:  # message of redis-py, which does not include the URL
            raise ConfigError(messages.SHARED_BAD_URL.format(url=self.safe_url, error=exc)) from None
        self._bucket = self._redis.register_script(TOKEN_BUCKET)
        self._finish = self._redis.register_script(FINISH)
        self._ttl_s = idempotency_ttl_s
        self._in_flight_s = in_flight_s
        self._down_since: float | None = None
        self._probe_at = 0.0

    # --- every call goes through here: bounded, and skipped for a moment after a failure -----------
    async def _call(self, command: Callable[[], Awaitable[T]]) -> T:
        now = time.monotonic()
        if self._down_since is not None and now < self._probe_at:
            raise SharedStateUnavailable(self.safe_url)
        try:
            async with asyncio.timeout(CALL_TIMEOUT_S):
                result = await command()
        except (RedisError, OSError, TimeoutError) as exc:
            if self._down_since is None:
                self._down_since = now
                log.warning(messages.SHARED_DOWN_LOG, self.safe_url, type(exc).__name__, exc)
            self._probe_at = time.monotonic() + PROBE_EVERY_S
            raise SharedStateUnavailable(self.safe_url) from exc
        if self._down_since is not None:
            log.info(messages.SHARED_BACK_LOG, self.safe_url, time.monotonic() - self._down_since)
            self._down_since = None
        return result

    @staticmethod
    def _key(kind: str, name: str) -> str:
        return f"{PREFIX}{kind}:{name}"

    # --- Slack dedup ------------------------------------------------------------------------------
    async def first_time(self, key: str, ttl_s: float) -> bool:
        try:
            return bool(await self._call(lambda: self._redis.set(self._key("seen", key), b"1", nx=True, px=_ms(ttl_s))))
        except SharedStateUnavailable:
            return True  # fail open: a rare double answer beats no answer

    # --- rate limit -------------------------------------------------------------------------------
    async def take(self, key: str, limiter: RateLimiter) -> float:
        args: list[Any] = [repr(limiter.capacity), repr(limiter.refill_per_s)]
        try:
            wait = await self._call(lambda: self._bucket(keys=[self._key("rate", key)], args=args))
        except SharedStateUnavailable:
            return 0.0  # fail open: the proxy's limits still apply
        return float(wait)

    # --- Idempotency-Key --------------------------------------------------------------------------
    async def begin(self, key: IdempotencyKey, body_hash: str) -> Reservation | Replay:
        record = self._key("idem", f"{key[0]}:{key[1]}")
        token = secrets.token_hex(8)
        mine = _pending(body_hash, token)
        deadline = time.monotonic() + self._in_flight_s
        pause = POLL_FIRST_S
        while True:
            # The reservation outlives no answer: a replica that died mid-request frees the key in in_flight_s.
            if await self._call(lambda: self._redis.set(record, mine, nx=True, px=_ms(self._in_flight_s))):
                return Reservation(key, body_hash, token)
            raw = await self._call(lambda: self._redis.get(record))
            if raw is None:
                continue  # released or expired between the two calls: try to reserve it again
            head, _, body = (raw.encode() if isinstance(raw, str) else raw).partition(b"\n")
            found = json.loads(head)
            if found["hash"] != body_hash:
                raise KeyReused(key[1])
            if found["state"] == "done":
                return Replay(int(found["status"]), body, str(found["content_type"]))
            if time.monotonic() + pause > deadline:
                raise KeyInFlight(key[1])
            await asyncio.sleep(pause)  # the first request runs on some replica: look again shortly
            pause = min(POLL_MAX_S, pause * 2)

    async def finish(self, reservation: Reservation, status: int, body: bytes, content_type: str) -> None:
        key = reservation.key
        keep = 200 <= status < 300 and self._ttl_s > 0
        done = _done(reservation.body_hash, status, body, content_type) if keep else b""
        args: list[Any] = [_pending(reservation.body_hash, reservation.token), done, _ms(self._ttl_s)]
        # Unreachable: not stored, and a retry computes the answer again once the reservation expires.
        with contextlib.suppress(SharedStateUnavailable):
            await self._call(lambda: self._finish(keys=[self._key("idem", f"{key[0]}:{key[1]}")], args=args))

    # --- circuit breakers -------------------------------------------------------------------------
    async def breaker_open_for(self, name: str) -> float:
        try:
            ms = await self._call(lambda: self._redis.pttl(self._key("breaker", name)))
        except SharedStateUnavailable:
            return 0.0  # each process's own breaker still counts
        return max(0, int(ms)) / 1000

    async def open_breaker(self, name: str, seconds: float) -> None:
        with contextlib.suppress(SharedStateUnavailable):  # the local breaker is open all the same
            await self._call(lambda: self._redis.set(self._key("breaker", name), b"1", px=_ms(seconds)))

    # --- health and shutdown ----------------------------------------------------------------------
    async def reachable(self) -> bool:
        try:
            return bool(await self._call(lambda: self._redis.ping()))
        except SharedStateUnavailable:
            return False

    async def close(self) -> None:
        await self._redis.aclose()
