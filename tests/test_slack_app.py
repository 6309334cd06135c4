"""How the Slack door plugs into the server: the mode settings pick, and what each mode mounts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

from bot import messages
from bot.slack.app import EVENTS_PATH, SLACK_APP, attach, build_client, slack_mode
from bot.slack.deps import SeenEvents
from rag.engine import Engine
from rag.errors import ConfigError
from tests.conftest import make_settings


def test_mode_follows_the_tokens(tmp_path: Path) -> None:
    assert slack_mode(make_settings(tmp_path)) == "off"
    assert slack_mode(make_settings(tmp_path, slack_bot_token="xoxb-1", slack_signing_secret="s")) == "http"
    assert slack_mode(make_settings(tmp_path, slack_bot_token="xoxb-1", slack_app_token="xapp-1")) == "socket"


async def test_without_a_bot_token_slack_is_off_and_says_so(
    engine: Engine, data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    app = web.Application()
    with caplog.at_level(logging.INFO, logger="bot.slack.app"):
        assert attach(app, engine, make_settings(data_dir)) is None
    assert messages.SLACK_OFF_LOG in caplog.messages
    assert [r.resource.canonical for r in app.router.routes()] == []  # type: ignore[union-attr]


async def test_http_mode_needs_the_signing_secret(engine: Engine, data_dir: Path) -> None:
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        attach(web.Application(), engine, make_settings(data_dir, slack_bot_token="xoxb-1"))


async def test_http_mode_mounts_slack_events_and_shares_one_session(engine: Engine, data_dir: Path) -> None:
    settings = make_settings(
        data_dir, slack_bot_token="xoxb-1", slack_signing_secret="s", slack_api_url="http://127.0.0.1:9/api"
    )
    app = web.Application()
    slack = attach(app, engine, settings)
    assert slack is not None and app[SLACK_APP] is slack
    assert [r.method for r in app.router.routes() if r.resource and r.resource.canonical == EVENTS_PATH] == ["POST"]
    assert slack.client.base_url == "http://127.0.0.1:9/api/"  # SLACK_API_URL, with the slash the SDK needs
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        assert slack.client.session is not None and not slack.client.session.closed
        session = slack.client.session
    finally:
        await client.close()
    assert session.closed and slack.client.session is None


def test_the_web_client_waits_out_429s(tmp_path: Path) -> None:
    client = build_client(make_settings(tmp_path, slack_bot_token="xoxb-1", kb_max_retries=3))
    [handler] = [h for h in client.retry_handlers if isinstance(h, AsyncRateLimitErrorRetryHandler)]
    assert handler.max_retry_count == 3 and client.token == "xoxb-1"
    assert client.base_url == "https://slack.com/api/"


def test_seen_events_forget_after_the_ttl_and_stay_bounded() -> None:
    seen = SeenEvents(ttl_s=10, max_size=3)
    assert seen.first_time("a", now=0) and not seen.first_time("a", now=5)
    assert seen.first_time("a", now=20)  # expired, a fresh delivery
    for i, event_id in enumerate("bcde"):
        assert seen.first_time(event_id, now=21 + i)
    assert not seen.first_time("e", now=25)  # still remembered
    assert seen.first_time("b", now=25)  # evicted to stay within max_size
