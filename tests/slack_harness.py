"""Drive the Slack door the way Slack does: signed requests into `/slack/events` on the real server
app (`build_http_app` + `attach`), the Web API answered by `tests.fakes.slack.FakeSlack`.

    async def test_x(slack_bot: SlackBot):
        await slack_bot.event({"type": "app_mention", ...})
        [update] = await slack_bot.fake.wait_for("chat.update")

The payload builders produce the shapes Slack documents for each request kind (event_callback
JSON, slash command form, interactivity `payload=` form).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientResponse
from aiohttp.test_utils import TestClient, TestServer

from bot.http.app import build_http_app
from bot.records import SqliteRecordStore
from bot.slack.app import SLACK_APP, attach
from rag.engine import Engine
from rag.settings import Settings
from tests.conftest import make_settings
from tests.fakes.slack import BOT_USER_ID, TEAM_ID, FakeSlack, sign

SECRET = "test-signing-secret"
AGENT = "UAGENT"
SUPPORT = "CSUPPORT"
ESCALATIONS = "CESCALATE"
ONCALL_GROUP = "SONCALL"

# tickets from the sample KB's domain (examples/kb): one it covers well, one it does not cover
COVERED = "I can't log in, the password reset link says it expired"
UNCOVERED = "Our office coffee machine is leaking water onto the floor, what should we do?"


def slack_settings(data_dir: Path, fake: FakeSlack, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "slack_bot_token": fake.bot_token,
        "slack_signing_secret": SECRET,
        "slack_api_url": fake.api_url,
        "kb_escalation_channel": ESCALATIONS,
        "kb_escalation_mention": ONCALL_GROUP,
        "kb_max_retries": 1,
    }
    values.update(overrides)
    return make_settings(data_dir, **values)


def block_text(blocks: list[dict[str, Any]]) -> str:
    """Every text in a list of blocks (sections, context elements, buttons), one per line."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                out.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return "\n".join(out)


def buttons(blocks: list[dict[str, Any]]) -> dict[str, str]:
    return {
        e["action_id"]: e["value"]
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e["type"] == "button"
    }


class SlackBot:
    """The server app with Slack attached, an HTTP client to it, and the fake Slack behind it."""

    def __init__(self, fake: FakeSlack, client: TestClient, settings: Settings) -> None:
        self.fake = fake
        self.client = client
        self.settings = settings
        self.store = SqliteRecordStore(settings.feedback_db_path)
        self._keys = 0

    @property
    def app(self) -> Any:
        return self.client.app[SLACK_APP] if self.client.app else None

    async def post(
        self,
        body: str,
        content_type: str,
        *,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        secret: str = SECRET,
    ) -> ClientResponse:
        signed = sign(body, secret, timestamp)
        return await self.client.post(
            "/slack/events", data=body.encode(), headers={"Content-Type": content_type, **signed, **(headers or {})}
        )

    # --- Events API ------------------------------------------------------------------------
    async def event(
        self, event: dict[str, Any], *, event_id: str | None = None, retry_num: int | None = None
    ) -> ClientResponse:
        body = json.dumps(
            {
                "token": "legacy",
                "team_id": TEAM_ID,
                "api_app_id": "AKB",
                "type": "event_callback",
                "event_id": event_id or f"Ev{uuid.uuid4().hex[:10]}",
                "event_time": int(time.time()),
                "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True}],
                "event": event,
            }
        )
        headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"} if retry_num else {}
        return await self.post(body, "application/json", headers=headers)

    def mention(
        self, text: str, *, channel: str = SUPPORT, thread_ts: str | None = None, user: str = AGENT
    ) -> dict[str, Any]:
        """An app_mention event for a message that is also put in the fake's channel history."""
        full = f"<@{BOT_USER_ID}> {text}"
        ts = self.fake.add_message(channel, full, user=user, thread_ts=thread_ts)
        event = {"type": "app_mention", "user": user, "text": full, "ts": ts, "channel": channel, "event_ts": ts}
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event

    def message(
        self,
        text: str,
        *,
        channel: str = SUPPORT,
        thread_ts: str | None = None,
        user: str = AGENT,
        channel_type: str = "channel",
    ) -> dict[str, Any]:
        """A `message` event (message.channels / .groups / .im) for a message also put in the fake's history."""
        ts = self.fake.add_message(channel, text, user=user, thread_ts=thread_ts)
        event = {
            "type": "message",
            "channel_type": channel_type,
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "event_ts": ts,
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        return event

    # --- slash commands ----------------------------------------------------------------------
    def next_response_url(self) -> tuple[str, str]:
        self._keys += 1
        key = f"r{self._keys}"
        return key, self.fake.response_url(key)

    async def command(self, text: str, *, user: str = AGENT, channel: str = SUPPORT) -> tuple[ClientResponse, str]:
        key, url = self.next_response_url()
        body = urlencode(
            {
                "token": "legacy",
                "team_id": TEAM_ID,
                "team_domain": "fake",
                "channel_id": channel,
                "channel_name": "support",
                "user_id": user,
                "user_name": "agent",
                "command": "/kb",
                "text": text,
                "api_app_id": "AKB",
                "response_url": url,
                "trigger_id": f"trig.{uuid.uuid4().hex[:8]}",
            }
        )
        return await self.post(body, "application/x-www-form-urlencoded"), key

    # --- interactivity -------------------------------------------------------------------------
    async def interactive(self, payload: dict[str, Any]) -> ClientResponse:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded")

    async def click(
        self,
        action_id: str,
        value: str,
        *,
        message: dict[str, Any] | None = None,
        channel: str = SUPPORT,
        user: str = AGENT,
        ephemeral: bool = False,
    ) -> tuple[ClientResponse, str]:
        """A block_actions payload for a button on `message` (a message from the fake's history)."""
        action = {"type": "button", "action_id": action_id, "block_id": "kb_actions", "value": value}
        return await self.block_actions(action, message=message, channel=channel, user=user, ephemeral=ephemeral)

    async def tick(
        self,
        blocks: list[dict[str, Any]],
        values: list[str],
        *,
        message: dict[str, Any] | None = None,
        channel: str = SUPPORT,
        user: str = AGENT,
        ephemeral: bool = False,
    ) -> tuple[ClientResponse, str]:
        """A block_actions payload for ticking the checkboxes in `blocks`: `values` are then the
        selected ones (Slack sends the whole selection, not the option that changed)."""
        [(block, element)] = [
            (b, e) for b in blocks if b["type"] == "actions" for e in b["elements"] if e["type"] == "checkboxes"
        ]
        action = {
            "type": "checkboxes",
            "action_id": element["action_id"],
            "block_id": block["block_id"],
            "selected_options": [o for o in element["options"] if o["value"] in values],
        }
        return await self.block_actions(action, message=message, channel=channel, user=user, ephemeral=ephemeral)

    async def block_actions(
        self,
        action: dict[str, Any],
        *,
        message: dict[str, Any] | None = None,
        channel: str = SUPPORT,
        user: str = AGENT,
        ephemeral: bool = False,
    ) -> tuple[ClientResponse, str]:
        """A block_actions payload for `action` on `message`; an ephemeral message is not sent back."""
        key, url = self.next_response_url()
        message = message or {"ts": "1.000001", "text": "", "blocks": []}
        payload = {
            "type": "block_actions",
            "team": {"id": TEAM_ID, "domain": "fake"},
            "user": {"id": user, "username": "agent", "team_id": TEAM_ID},
            "api_app_id": "AKB",
            "token": "legacy",
            "trigger_id": f"trig.{uuid.uuid4().hex[:8]}",
            "response_url": url,
            "container": {
                "type": "message",
                "message_ts": message["ts"],
                "channel_id": channel,
                "is_ephemeral": ephemeral,
            },
            "channel": {"id": channel, "name": "support"},
            "message": {
                "type": "message",
                "ts": message["ts"],
                "text": message.get("text", ""),
                "blocks": message.get("blocks", []),
                **({"thread_ts": message["thread_ts"]} if message.get("thread_ts") else {}),
            },
            "actions": [{**action, "action_ts": f"{time.time():.6f}"}],
        }
        if ephemeral:
            payload.pop("message")
        return await self.interactive(payload), key

    async def shortcut(
        self, message: dict[str, Any], *, channel: str = SUPPORT, user: str = AGENT
    ) -> tuple[ClientResponse, str]:
        key, url = self.next_response_url()
        return await self.interactive(
            {
                "type": "message_action",
                "callback_id": "draft_reply_from_kb",
                "token": "legacy",
                "trigger_id": f"trig.{uuid.uuid4().hex[:8]}",
                "response_url": url,
                "message_ts": message["ts"],
                "team": {"id": TEAM_ID, "domain": "fake"},
                "user": {"id": user, "name": "agent"},
                "channel": {"id": channel, "name": "support"},
                "message": message,
            }
        ), key

    async def submit_view(self, view: dict[str, Any], values: dict[str, Any], *, user: str = AGENT) -> ClientResponse:
        return await self.interactive(
            {
                "type": "view_submission",
                "team": {"id": TEAM_ID, "domain": "fake"},
                "user": {"id": user, "name": "agent", "team_id": TEAM_ID},
                "api_app_id": "AKB",
                "token": "legacy",
                "trigger_id": f"trig.{uuid.uuid4().hex[:8]}",
                "view": {**view, "id": "V_MODAL", "state": {"values": values}},
            }
        )

    # --- reading what happened ------------------------------------------------------------------
    async def answer_update(self, *, channel: str = SUPPORT) -> dict[str, Any]:
        """The chat.update that put the answer into the placeholder (the one with blocks)."""
        [call] = await self.fake.wait_for(
            "chat.update", where=lambda c: c.body.get("channel") == channel and bool(c.body.get("blocks"))
        )
        return call.body

    def responses(self, key: str) -> list[dict[str, Any]]:
        return [c.body for c in self.fake.calls_to("response_url") if c.key == key]


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@pytest.fixture
def slack_overrides() -> dict[str, Any]:
    """Settings a test module can override (e.g. no escalation channel)."""
    return {}


@pytest.fixture
async def slack_bot(
    engine: Engine, data_dir: Path, fake_slack: FakeSlack, slack_overrides: dict[str, Any]
) -> AsyncIterator[SlackBot]:
    settings = slack_settings(data_dir, fake_slack, **slack_overrides)
    app = build_http_app(engine, settings)
    attach(app, engine, settings)
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        yield SlackBot(fake_slack, client, settings)
    finally:
        await client.close()
