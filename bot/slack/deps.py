"""What every Slack listener shares: the engine, settings, the records store, the shared state
(dedup of Slack's retries, across replicas with KB_REDIS_URL) and the background work that runs
after each ack."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond

from bot import messages
from bot.gaps.report import GapCache
from bot.records import RecordStore
from bot.shared import MemoryState, SeenEvents, SharedState
from rag.engine import Engine
from rag.settings import Settings

log = logging.getLogger(__name__)

ENGINE_CONCURRENCY = 4  # answers computed at once; more wait their turn, so acks never queue behind them
SEEN_TTL_S = 3600.0  # Slack retries an event for minutes, not hours

__all__ = ["ENGINE_CONCURRENCY", "SEEN_TTL_S", "Background", "SeenEvents", "SlackDeps"]


class Background:
    """The work after an ack. Listeners `await ack()`, hand the rest to `spawn` and return, so Bolt
    answers Slack at once (process_before_response). Tasks are kept (not garbage-collected
    half-way), failures are logged and told to the user when there is a response_url, and the
    server's shutdown waits for them (`drain`). `engine_slots` bounds concurrent answers."""

    def __init__(self, engine_concurrency: int = ENGINE_CONCURRENCY) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.engine_slots = asyncio.Semaphore(engine_concurrency)

    def spawn(self, work: Coroutine[Any, Any, object], *, what: str, respond: AsyncRespond | None = None) -> None:
        task = asyncio.get_running_loop().create_task(self._guard(work, what, respond), name=f"slack:{what}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _guard(self, work: Coroutine[Any, Any, object], what: str, respond: AsyncRespond | None) -> None:
        try:
            await work
        except Exception as exc:  # the door: log it, tell the user, keep serving
            log.error("slack: %s failed: %s", what, exc, exc_info=exc)
            if respond is not None:
                try:
                    await respond(
                        text=messages.SLACK_ERROR.format(error=messages.SLACK_INTERNAL_ERROR, request_id="-"),
                        response_type="ephemeral",
                        replace_original=False,
                    )
                except Exception as again:
                    log.warning("slack: could not report the failure of %s: %s", what, again)

    async def drain(self, timeout: float) -> None:
        """Let running work finish (up to `timeout` s), then cancel what is left."""
        if not self.tasks:
            return
        _, pending = await asyncio.wait(set(self.tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            log.warning("slack: cancelled %d unfinished answer(s) at shutdown", len(pending))
            await asyncio.gather(*pending, return_exceptions=True)


@dataclass
class SlackDeps:
    engine: Engine
    settings: Settings
    store: RecordStore
    # Slack retries an event (same `event_id`) when it thinks a delivery failed, and one message can
    # come as app_mention and as message: `first_time` answers each once, on whichever replica.
    shared: SharedState = field(default_factory=MemoryState)
    background: Background = field(default_factory=Background)
    gaps: GapCache = field(default_factory=GapCache)  # App Home's "Top gaps this week"
