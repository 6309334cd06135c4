"""`kb serve`: the engine behind the HTTP API (and the Slack door) in one process and event loop.

    await serve(Settings())                        # KB_HOST:KB_PORT, JSON-lines logs on stderr

On first start with a data dir that never had anything ingested it ingests the sample KB
(KB_SAMPLE_KB, default examples/kb next to the package). SIGTERM and SIGINT stop accepting connections, let in-flight
requests finish (up to SHUTDOWN_TIMEOUT_S), then close the engine.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import sys
from collections.abc import Callable

from aiohttp import web

from bot import messages
from bot.http.app import build_http_app, check_exposure
from bot.logs import setup_json_logging
from bot.manage import DEFAULT_SAMPLE_KB, sample_kb
from bot.render import ProgressBar
from bot.shared import open_shared_state
from rag.engine import Engine
from rag.settings import Settings

log = logging.getLogger(__name__)

SHUTDOWN_TIMEOUT_S = 30.0
__all__ = ["DEFAULT_SAMPLE_KB", "SHUTDOWN_TIMEOUT_S", "seed_sample_kb", "serve"]


async def serve(settings: Settings, *, ready: Callable[[str], None] | None = None) -> None:
    """Run until SIGTERM/SIGINT. `ready(url)` is called once the server listens."""
    setup_json_logging(settings.kb_log_level)
    check_exposure(settings, warn=False)  # before any slow work: refuse an open API on a public address
    from rag.factory import build_engine

    shared = open_shared_state(settings)  # one client for the breakers, the API and Slack (KB_REDIS_URL)
    try:
        engine = build_engine(settings, breakers=shared)
        try:
            await seed_sample_kb(engine, settings)
            app = build_http_app(engine, settings, shared=shared)
            await _attach_slack(app, engine, settings)
            await _run(app, engine, settings, ready)
        finally:
            await engine.close()
            log.info(messages.SERVE_STOPPED)
    finally:
        await shared.close()


async def seed_sample_kb(engine: Engine, settings: Settings) -> None:
    """Ingest the sample KB into a data dir that never had anything ingested; do nothing otherwise.

    A KB emptied by `kb remove` stays empty: the demo articles never come back by themselves."""
    if engine.kb.counts()[1] > 0:
        return
    if engine.kb.catalog.meta("first_ingest") is not None:
        log.warning(messages.SERVE_NOT_RESEEDING)
        return
    path = sample_kb(settings)
    if not path.exists():
        log.warning(messages.SERVE_NO_SAMPLE.format(path=path))
        return
    from ingest.pipeline import ingest

    log.info(messages.SERVE_SEEDING.format(path=path), extra={"sample_kb": str(path)})
    if sys.stderr.isatty():
        bar = ProgressBar("embedding sample KB")
        summary = await ingest(engine.kb, [path], progress=bar.update)
        bar.done()
    else:  # keep stderr pure JSON lines: progress as log records, a few per run
        summary = await ingest(engine.kb, [path], progress=_log_progress())
    log.info(
        messages.SERVE_SEEDED.format(summary=summary.line()),
        extra={"articles": summary.articles, "chunks_added": summary.chunks_added},
    )


def _log_progress() -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        log.info("embedding sample KB %d/%d chunks", done, total, extra={"done": done, "total": total})

    return report


async def _attach_slack(app: web.Application, engine: Engine, settings: Settings) -> None:
    # --- Slack hook ----------------------------------------------------------------------------
    # The Slack door plugs in here: `bot.slack.app.attach(app, engine, settings)` mounts
    # POST /slack/events on this app (HTTP mode) and/or appends a cleanup_ctx that runs Socket
    # Mode; it may be a plain function or a coroutine function. Imported lazily, only with a bot token.
    if settings.slack_bot_token is None or not settings.slack_bot_token.get_secret_value():
        log.info(messages.SLACK_OFF_LOG)
        return
    try:
        from bot.slack.app import attach  # type: ignore[import-not-found, unused-ignore]
    except ImportError as exc:
        log.error(messages.SERVE_SLACK_MISSING.format(error=exc))
        return
    result = attach(app, engine, settings)
    if inspect.isawaitable(result):
        await result


async def _run(app: web.Application, engine: Engine, settings: Settings, ready: Callable[[str], None] | None) -> None:
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, settings.kb_host, settings.kb_port, backlog=1024)
        await site.start()
        host, port = runner.addresses[0][:2]
        url = f"http://{'[' + host + ']' if ':' in host else host}:{port}"
        b = engine.backends
        log.info(
            messages.SERVE_LISTENING.format(
                url=url, embedder=b.embedder, store=b.store, drafter=b.drafter, chunks=engine.kb.counts()[1]
            ),
            extra={"url": url, "host": host, "port": port, "backends": b.model_dump()},
        )
        if ready is not None:
            ready(url)
        await stop.wait()
        log.info(messages.SERVE_STOPPING)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()  # stops listening, waits for in-flight requests, runs cleanup_ctx
