"""One retry policy for every outside call (OpenAI, Pinecone): backoff with jitter, inside a deadline.

    policy = RetryPolicy.from_settings(settings)          # KB_MAX_RETRIES, KB_TIMEOUT_S
    result = await call_with_retries(lambda: client.embeddings.create(...), policy=policy,
                                     classify=openai_verdict, what="openai embeddings")

`classify` looks at an exception and says whether it is worth another attempt (429, 5xx,
connection errors, timeouts) and how long the server asked us to wait (`Retry-After`). Anything
it does not call transient is re-raised at once. `KB_TIMEOUT_S` is the budget of one logical
call *including* its retries: an attempt never outlives what is left of it, and a wait that would
cross the deadline is not started. So a dead backend costs a caller at most `KB_TIMEOUT_S`, never
a hang. When the attempts run out, `RetriesExhausted` carries the last error; each backend maps it
to its `BackendError` at its boundary.

Each backend also owns a `Breaker`: after 3 calls in a row that ran out of retries, calls are
refused at once (`CircuitOpen`) for one `KB_TIMEOUT_S`, then one is let through to probe. While a
backend is down, answers then come back degraded in milliseconds instead of each waiting out the
budget.

Replicas share their breakers through `SharedBreakers` (bot.shared; Redis with KB_REDIS_URL): a
breaker publishes its opening and, before each call, adopts an opening another replica published,
so every replica skips a dead backend once one has seen it fail. Both are awaited in
`call_with_retries`, never in the synchronous methods; while the shared store is unreachable each
breaker runs on its own counts.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar

if TYPE_CHECKING:
    from rag.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class Transient:
    """The verdict "try again": optionally after the delay the server asked for."""

    retry_after: float | None = None


Classifier = Callable[[BaseException], Transient | None]


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    timeout_s: float = 20.0  # budget of the whole call, retries included
    base_delay_s: float = 0.25
    max_delay_s: float = 8.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            max_retries=int(settings.kb_max_retries),
            timeout_s=float(settings.kb_timeout_s),
        )

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """ "Full jitter" delay before retry number `attempt` (0-based): uniform(0, base * 2**attempt), capped."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return (rng or _rng).uniform(0.0, ceiling)


class RetriesExhausted(Exception):
    """Every attempt failed with a transient error (or the deadline came first)."""

    def __init__(self, what: str, attempts: int, elapsed_s: float, last: BaseException) -> None:
        kind = "timed out" if isinstance(last, TimeoutError) else f"{type(last).__name__}: {last}"
        super().__init__(f"{what} failed after {attempts} attempt(s) in {elapsed_s:.1f} s ({kind})")
        self.what = what
        self.attempts = attempts
        self.elapsed_s = elapsed_s
        self.last = last


class CircuitOpen(RetriesExhausted):
    """The backend failed too often lately: the call was not even tried."""

    def __init__(self, what: str, failures: int, retry_in_s: float) -> None:
        Exception.__init__(self, f"{what} skipped: {failures} failures in a row, next try in {retry_in_s:.1f} s")
        self.what = what
        self.attempts = 0
        self.elapsed_s = 0.0
        self.last = self


class SharedBreakers(Protocol):
    """Where replicas keep how long each breaker stays open. Neither method raises: an unreachable
    store reads as "closed" and drops what is published."""

    async def breaker_open_for(self, name: str) -> float: ...

    async def open_breaker(self, name: str, seconds: float) -> None: ...


class Breaker:
    """Counts calls in a row that exhausted their retries; opens after `threshold` for `cooldown_s`.

    With `shared`, its openings are published under `name` and those of other replicas adopted."""

    def __init__(
        self,
        threshold: int = 3,
        cooldown_s: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        name: str = "",
        shared: SharedBreakers | None = None,
    ) -> None:
        self.threshold = threshold
        self.cooldown_s = cooldown_s
        self.failures = 0
        self._open_until = 0.0
        self._clock = clock
        self.name = name
        self.shared = shared

    @property
    def is_open(self) -> bool:
        return self.failures >= self.threshold and self._clock() < self._open_until

    def check(self, what: str) -> None:
        if self.is_open:
            raise CircuitOpen(what, self.failures, self._open_until - self._clock())

    def succeeded(self) -> None:
        if self.failures >= self.threshold:
            log.info("backend is answering again after %d failed calls", self.failures)
        self.failures = 0

    def failed(self, what: str) -> None:
        self.failures += 1
        if self.failures >= self.threshold:
            # Opened again after each failed probe, so a dead backend costs one attempt per cooldown.
            self._open_until = self._clock() + self.cooldown_s
            log.warning("%s: %d failures in a row, skipping it for %.1f s", what, self.failures, self.cooldown_s)

    async def adopt(self, what: str) -> None:
        """Open this breaker too when another replica opened the one of the same `name`."""
        if self.shared is None or self.is_open:
            return
        remaining = await self.shared.breaker_open_for(self.name)
        if remaining > 0:
            self.failures = max(self.failures, self.threshold)
            self._open_until = self._clock() + remaining
            log.warning("%s: opened by another replica, skipping it for %.1f s", what, remaining)

    async def publish(self) -> None:
        """Tell the other replicas that this breaker is open (call after `failed`)."""
        if self.shared is not None and self.is_open:
            await self.shared.open_breaker(self.name, self._open_until - self._clock())


_rng = random.Random()


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    classify: Classifier,
    what: str,
    breaker: Breaker | None = None,
) -> T:
    if breaker is not None:
        await breaker.adopt(what)
        breaker.check(what)
        try:
            result = await call_with_retries(attempt, policy=policy, classify=classify, what=what)
        except RetriesExhausted:
            breaker.failed(what)
            await breaker.publish()
            raise
        breaker.succeeded()
        return result
    started = time.monotonic()
    deadline = started + policy.timeout_s
    tries = 0
    while True:
        tries += 1
        remaining = deadline - time.monotonic()
        last: BaseException
        verdict: Transient
        try:
            if remaining <= 0:
                raise TimeoutError(f"{what}: no time left")
            async with asyncio.timeout(remaining):
                return await attempt()
        except TimeoutError as exc:
            # Our deadline fired, or an SDK timeout that subclasses TimeoutError (Pinecone's): transient.
            last, verdict = exc, Transient()
        except Exception as exc:  # the classifier decides; non-transient errors go straight up
            found = classify(exc)
            if found is None:
                raise
            last, verdict = exc, found
        elapsed = time.monotonic() - started
        if tries > policy.max_retries:
            raise RetriesExhausted(what, tries, elapsed, last) from last
        delay = policy.backoff(tries - 1)
        if verdict.retry_after is not None:
            delay = max(delay, verdict.retry_after)
        if time.monotonic() + delay >= deadline:
            log.warning(
                "%s: giving up, a retry in %.2f s would pass the %.1f s deadline (%s)",
                what,
                delay,
                policy.timeout_s,
                type(last).__name__,
            )
            raise RetriesExhausted(what, tries, elapsed, last) from last
        log.info("%s: attempt %d failed (%s), retrying in %.2f s", what, tries, type(last).__name__, delay)
        await asyncio.sleep(delay)


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from `retry-after-ms` (OpenAI), `Retry-After` as seconds or as an HTTP date."""
    if not headers:
        return None
    lowered = {k.lower(): v for k, v in headers.items()}
    raw_ms = lowered.get("retry-after-ms")
    if raw_ms:
        try:
            return max(0.0, float(raw_ms) / 1000)
        except ValueError:
            pass
    raw = lowered.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
