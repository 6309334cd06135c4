"""The fake Slack answers slack_sdk's own client the way Slack does (so the other tests can trust it)."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import BOT_USER_ID, FakeSlack, sign
from tests.slack_harness import fake_slack  # noqa: F401 (fixture)


async def test_methods_answer_like_slack(fake_slack: FakeSlack) -> None:
    client = AsyncWebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    assert (await client.auth_test())["user_id"] == BOT_USER_ID
    parent = (await client.chat_postMessage(channel="C1", text="ticket"))["ts"]
    reply = await client.chat_postMessage(channel="C1", thread_ts=parent, text="working")
    await client.chat_update(channel="C1", ts=reply["ts"], text="answer", blocks=[])
    replies = await client.conversations_replies(channel="C1", ts=parent)
    assert [m["text"] for m in replies["messages"]] == ["ticket", "answer"]
    assert (await client.chat_postEphemeral(channel="C1", user="U1", text="psst"))["ok"]
    assert (await client.reactions_add(channel="C1", timestamp=parent, name="eyes"))["ok"]
    link = await client.chat_getPermalink(channel="C1", message_ts=parent)
    assert link["permalink"].endswith(f"/archives/C1/p{parent.replace('.', '')}")
    assert [c.method for c in fake_slack.calls] == [
        "auth.test",
        "chat.postMessage",
        "chat.postMessage",
        "chat.update",
        "conversations.replies",
        "chat.postEphemeral",
        "reactions.add",
        "chat.getPermalink",
    ]

    with pytest.raises(SlackApiError) as missing:
        await client.chat_update(channel="C1", ts="9.9", text="x")
    assert missing.value.response["error"] == "message_not_found"
    fake_slack.fail("chat.postMessage", "not_in_channel")
    with pytest.raises(SlackApiError) as failed:
        await client.chat_postMessage(channel="C2", text="x")
    assert failed.value.response["error"] == "not_in_channel"
    fake_slack.rate_limit("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as limited:  # no retry handler on this client
        await client.chat_postMessage(channel="C2", text="x")
    assert limited.value.response.status_code == 429 and limited.value.response.headers["Retry-After"] == "7"
    assert (await client.chat_postMessage(channel="C2", text="x"))["ok"]  # only once


async def test_tokens_are_checked(fake_slack: FakeSlack) -> None:
    for token, error in (("xoxb-wrong", "invalid_auth"), (None, "not_authed")):
        with pytest.raises(SlackApiError) as bad:
            await AsyncWebClient(token=token, base_url=fake_slack.api_url).auth_test()
        assert bad.value.response["error"] == error
    opened = await AsyncWebClient(base_url=fake_slack.api_url).apps_connections_open(app_token=fake_slack.app_token)
    assert opened["url"].startswith("ws://127.0.0.1:") and opened["url"].endswith("/socket-mode")


def test_sign_matches_slacks_verifier() -> None:
    headers = sign('{"a": 1}', "secret")
    verifier = SignatureVerifier("secret")
    assert verifier.is_valid('{"a": 1}', headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert not verifier.is_valid('{"a": 2}', headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
