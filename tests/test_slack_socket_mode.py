"""Socket Mode against fake Slack's WebSocket: apps.connections.open → hello → envelopes → acks."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from aiohttp.test_utils import TestClient, TestServer

from bot import messages
from bot.http.app import build_http_app
from bot.slack.app import attach
from rag.engine import Engine
from tests.fakes.slack import BOT_USER_ID, TEAM_ID, FakeSlack
from tests.slack_harness import AGENT, COVERED, SUPPORT, fake_slack, slack_settings  # noqa: F401 (fixture)


async def test_socket_mode_connects_and_answers_events_and_commands(
    engine: Engine, data_dir: Path, fake_slack: FakeSlack
) -> None:
    settings = slack_settings(data_dir, fake_slack, slack_app_token=fake_slack.app_token, slack_signing_secret=None)
    app = build_http_app(engine, settings)
    attach(app, engine, settings)
    client = TestClient(TestServer(app))
    await client.start_server()  # runs the cleanup_ctx that connects Socket Mode
    try:
        [opened] = fake_slack.calls_to("apps.connections.open")
        assert opened.token == fake_slack.app_token
        await asyncio.wait_for(fake_slack.socket_connected.wait(), 5)
        assert (await client.post("/slack/events", data="{}")).status in (404, 405)  # no HTTP route in this mode

        # an app_mention envelope: acked with its envelope id, then placeholder + update in the thread
        ts = fake_slack.add_message(SUPPORT, f"<@{BOT_USER_ID}> {COVERED}", user=AGENT)
        event_id = f"Ev{uuid.uuid4().hex[:8]}"
        payload = {
            "type": "event_callback",
            "team_id": TEAM_ID,
            "api_app_id": "AKB",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "user": AGENT,
                "text": f"<@{BOT_USER_ID}> {COVERED}",
                "ts": ts,
                "channel": SUPPORT,
                "event_ts": ts,
            },
        }
        envelope = await fake_slack.send_envelope("events_api", payload)
        assert await fake_slack.wait_ack(envelope) == {"envelope_id": envelope}
        [placeholder] = await fake_slack.wait_for("chat.postMessage")
        assert placeholder.body["thread_ts"] == ts and placeholder.token == fake_slack.bot_token
        [update] = await fake_slack.wait_for("chat.update", where=lambda c: bool(c.body.get("blocks")))
        assert update.body["ts"] == fake_slack.history[SUPPORT][-1]["ts"]

        # Slack's redelivery of the same event (retry_attempt 1) is acked and not answered again
        retry = await fake_slack.send_envelope("events_api", payload, retry_attempt=1)
        await fake_slack.wait_ack(retry)

        # a slash command envelope: the ack carries the "working" text, the answer goes to response_url
        command = {
            "command": "/kb",
            "text": f"draft {COVERED}",
            "user_id": AGENT,
            "channel_id": SUPPORT,
            "team_id": TEAM_ID,
            "response_url": fake_slack.response_url("sm"),
            "trigger_id": "trig.sm",
        }
        envelope = await fake_slack.send_envelope("slash_commands", command, accepts_response_payload=True)
        ack = await fake_slack.wait_ack(envelope)
        assert ack == {"envelope_id": envelope, "payload": {"text": messages.SLACK_WORKING}}
        [answer] = await fake_slack.wait_for("response_url", where=lambda c: c.key == "sm")
        assert answer.body["response_type"] == "ephemeral" and answer.body["blocks"]
        assert len(fake_slack.calls_to("chat.postMessage")) == 1
    finally:
        await client.close()
    for _ in range(200):  # the server's cleanup closed the WebSocket
        if not fake_slack.socket_connected.is_set():
            break
        await asyncio.sleep(0.01)
    assert not fake_slack.socket_connected.is_set()
