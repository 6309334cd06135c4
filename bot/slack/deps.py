"""What every Slack listener shares: the engine, settings, the feedback store and the retry filter."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass, field

from bot.slack.feedback import FeedbackStore
from rag.engine import Engine
from rag.settings import Settings


class SeenEvents:
    """Event ids seen recently. Slack retries an event (same `event_id`, `X-Slack-Retry-Num` set) when
    it thinks a delivery failed; a second answer to the same message would be noise.

    In memory and per process: behind a load balancer, Slack's retries of one event may reach
    another replica (see README, "HTTP mode").
    """

    def __init__(self, ttl_s: float = 3600.0, max_size: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self.max_size = max_size
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, event_id: str, now: float | None = None) -> bool:
        """True the first time `event_id` is offered (within the TTL), False for a repeat."""
        now = time.monotonic() if now is None else now
        while self._seen and (len(self._seen) >= self.max_size or next(iter(self._seen.values())) < now - self.ttl_s):
            self._seen.popitem(last=False)
        if event_id in self._seen:
            return False
        self._seen[event_id] = now
        return True


@dataclass
class SlackDeps:
    engine: Engine
    settings: Settings
    store: FeedbackStore
    seen: SeenEvents = field(default_factory=SeenEvents)
