"""Events through the wire: signed requests into /slack/events, assertions on what fake Slack received."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from bot import messages
from bot.slack.blocks import ACTION_CLAIM, ACTION_ESCALATE, ACTION_HELPFUL, ACTION_NOT_HELPFUL
from rag.engine import Engine
from tests.fakes.slack import BOT_ID, BOT_USER_ID, TEAM_ID
from tests.slack_harness import (  # noqa: F401 (fixtures)
    AGENT,
    COVERED,
    ESCALATIONS,
    SUPPORT,
    UNCOVERED,
    SlackBot,
    block_text,
    buttons,
    fake_slack,
    slack_bot,
    slack_overrides,
)


async def test_mention_answers_in_the_thread_placeholder_first_then_updated(
    slack_bot: SlackBot, engine: Engine
) -> None:
    event = slack_bot.mention(COVERED)
    started = time.perf_counter()
    resp = await slack_bot.event(event)
    acked = time.perf_counter() - started
    assert resp.status == 200 and acked < 3.0

    [placeholder] = await slack_bot.fake.wait_for("chat.postMessage")
    assert placeholder.body == {
        "team_id": TEAM_ID,
        "channel": SUPPORT,
        "thread_ts": event["ts"],
        "text": messages.SLACK_WORKING,
    }
    assert placeholder.token == "xoxb-test"
    update = await slack_bot.answer_update()
    posted = slack_bot.fake.history[SUPPORT][-1]
    assert update["ts"] == posted["ts"] and posted["thread_ts"] == event["ts"]  # the same message, in place
    assert slack_bot.fake.calls_to("chat.update")[0].at > placeholder.at

    expected = await engine.answer(COVERED)  # the engine is deterministic: the blocks must show this answer
    assert expected.decision == "answer" and expected.required_data and expected.sources
    text = block_text(update["blocks"])
    level = expected.confidence.level
    badge = f"{messages.LEVEL_EMOJI[level]} *{messages.LEVEL_LABEL[level]} confidence*"
    assert f"{badge} ({expected.confidence.score:.2f})" in text
    assert expected.confidence.reasons[0].split("“")[0] in text
    assert f"*{messages.REQUIRED_HEADING}*" in text
    for item in expected.required_data:
        assert f"*{item.item}*" in text  # one checkbox of the checklist each
    for source in expected.sources:
        assert f"<{source.url}|{source.title}" in text and f"`{source.tier.value}`" in text
    assert expected.draft.splitlines()[0] in text
    request_id = buttons(update["blocks"])[ACTION_HELPFUL]
    assert set(buttons(update["blocks"])) == {ACTION_HELPFUL, ACTION_NOT_HELPFUL, ACTION_ESCALATE}
    assert update["text"].startswith(messages.LEVEL_EMOJI[level])

    record = slack_bot.store.answer(request_id)
    assert record is not None and record.door == "mention" and record.thread_ts == event["ts"]
    assert record.ticket == COVERED
    assert not [c for c in slack_bot.fake.calls_to("chat.postMessage") if c.body["channel"] == ESCALATIONS]


async def test_thread_follow_up_reads_the_earlier_messages(slack_bot: SlackBot) -> None:
    fake = slack_bot.fake
    parent = fake.add_message(SUPPORT, "From the customer: " + COVERED, user="UCUSTOMER")
    fake.add_message(SUPPORT, "an earlier answer of ours", user=BOT_USER_ID, bot_id=BOT_ID, thread_ts=parent)
    event = slack_bot.mention("what should I ask them for?", thread_ts=parent)
    await slack_bot.event(event)

    [replies] = await fake.wait_for("conversations.replies")
    assert replies.body["channel"] == SUPPORT and replies.body["ts"] == parent
    update = await slack_bot.answer_update()
    assert fake.calls_to("chat.postMessage")[0].body["thread_ts"] == parent
    record = slack_bot.store.answer(buttons(update["blocks"])[ACTION_HELPFUL])
    assert record is not None
    assert record.ticket == f"From the customer: {COVERED}\n\nwhat should I ask them for?"
    assert "reset-your-password" in {s.article_id for s in record.answer.sources}


async def test_a_retried_event_is_answered_once(slack_bot: SlackBot) -> None:
    event = slack_bot.mention(COVERED)
    first = await slack_bot.event(event, event_id="EvSAME")
    retry = await slack_bot.event(event, event_id="EvSAME", retry_num=1)
    again = await slack_bot.event(event, event_id="EvSAME", retry_num=2)
    assert (first.status, retry.status, again.status) == (200, 200, 200)
    await slack_bot.answer_update()
    other = slack_bot.mention(COVERED)  # a later, different event is still answered
    await slack_bot.event(other)
    await slack_bot.fake.wait_for("chat.update", 2, where=lambda c: bool(c.body.get("blocks")))
    placeholders = [c.body["thread_ts"] for c in slack_bot.fake.calls_to("chat.postMessage")]
    assert placeholders == [event["ts"], other["ts"]]


async def test_own_and_other_bots_messages_are_ignored(slack_bot: SlackBot) -> None:
    fake = slack_bot.fake
    await slack_bot.event({**slack_bot.mention(COVERED), "bot_id": "BOTHER", "user": "UOTHERBOT"})
    for event in (
        {
            "type": "message",
            "channel_type": "im",
            "channel": "DAGENT",
            "bot_id": BOT_ID,
            "user": BOT_USER_ID,
            "text": COVERED,
            "ts": fake.add_message("DAGENT", COVERED),
        },
        {
            "type": "message",
            "subtype": "bot_message",
            "channel_type": "im",
            "channel": "DAGENT",
            "bot_id": "BOTHER",
            "text": COVERED,
            "ts": fake.add_message("DAGENT", COVERED),
        },
        {
            "type": "message",
            "subtype": "message_changed",
            "channel_type": "im",
            "channel": "DAGENT",
            "ts": fake.add_message("DAGENT", COVERED),
            "message": {"text": COVERED},
        },
        {
            "type": "message",
            "channel_type": "channel",
            "channel": SUPPORT,
            "user": AGENT,
            "text": COVERED,
            "ts": fake.add_message(SUPPORT, COVERED),
        },
    ):
        assert (await slack_bot.event(event)).status == 200
    # a real direct message afterwards is answered, and it is the only thing answered
    ts = fake.add_message("DAGENT", COVERED, user=AGENT)
    await slack_bot.event(
        {"type": "message", "channel_type": "im", "channel": "DAGENT", "user": AGENT, "text": COVERED, "ts": ts}
    )
    await slack_bot.answer_update(channel="DAGENT")
    await asyncio.sleep(0.1)
    assert [c.body["channel"] for c in fake.calls_to("chat.postMessage")] == ["DAGENT"]


async def test_direct_message_is_answered_in_the_conversation(slack_bot: SlackBot) -> None:
    ts = slack_bot.fake.add_message("DAGENT", COVERED, user=AGENT)
    await slack_bot.event(
        {"type": "message", "channel_type": "im", "channel": "DAGENT", "user": AGENT, "text": COVERED, "ts": ts}
    )
    [placeholder] = await slack_bot.fake.wait_for("chat.postMessage")
    assert placeholder.body == {
        "team_id": TEAM_ID,
        "channel": "DAGENT",
        "text": messages.SLACK_WORKING,
    }  # no thread_ts at top level
    update = await slack_bot.answer_update(channel="DAGENT")
    record = slack_bot.store.answer(buttons(update["blocks"])[ACTION_HELPFUL])
    assert record is not None and record.door == "dm"


async def test_bad_or_stale_signatures_are_refused(slack_bot: SlackBot) -> None:
    body = json.dumps(
        {"type": "event_callback", "event_id": "Ev1", "team_id": "T0FAKE", "event": slack_bot.mention(COVERED)}
    )
    wrong = await slack_bot.post(body, "application/json", secret="not-the-secret")
    stale = await slack_bot.post(body, "application/json", timestamp=int(time.time()) - 600)
    unsigned = await slack_bot.client.post("/slack/events", data=body, headers={"Content-Type": "application/json"})
    assert (wrong.status, stale.status, unsigned.status) == (401, 401, 401)
    assert await wrong.json() == {"error": "invalid request"}
    await asyncio.sleep(0.05)
    assert slack_bot.fake.calls == []


async def test_url_verification_echoes_the_challenge(slack_bot: SlackBot) -> None:
    body = json.dumps({"token": "legacy", "challenge": "c-123", "type": "url_verification"})
    resp = await slack_bot.post(body, "application/json")
    assert resp.status == 200 and await resp.json() == {"challenge": "c-123"}


async def test_web_api_429_is_retried_after_retry_after(slack_bot: SlackBot) -> None:
    slack_bot.fake.rate_limit("chat.update", times=1, retry_after=1)
    await slack_bot.event(slack_bot.mention(COVERED))
    limited, retried = await slack_bot.fake.wait_for("chat.update", 2)
    assert (limited.status, retried.status) == (429, 200)
    assert retried.at - limited.at >= 1.0
    assert retried.body["blocks"] == limited.body["blocks"]


async def test_low_confidence_escalates_with_mention_permalink_and_claim(slack_bot: SlackBot) -> None:
    fake = slack_bot.fake
    event = slack_bot.mention(UNCOVERED)
    await slack_bot.event(event)
    update = await slack_bot.answer_update()
    assert block_text(update["blocks"]).startswith(f"{messages.LEVEL_EMOJI['low']} *Low confidence*")

    [packet] = await fake.wait_for("chat.postMessage", where=lambda c: c.body["channel"] == ESCALATIONS)
    [permalink] = fake.calls_to("chat.getPermalink")
    assert permalink.body == {"team_id": TEAM_ID, "channel": SUPPORT, "message_ts": event["ts"]}
    text = block_text(packet.body["blocks"])
    assert "<!subteam^SONCALL> a ticket needs a human." in text
    assert f"https://fake.slack.com/archives/{SUPPORT}/p{event['ts'].replace('.', '')}|open the thread>" in text
    assert UNCOVERED in text and messages.ESCALATION_TRIGGER_AUTO in text
    assert "*Sources tried*" in text and "*Missing data*" in text and "weak match" in text
    claim_id = buttons(packet.body["blocks"])[ACTION_CLAIM]
    [note] = await fake.wait_for(
        "chat.postMessage", where=lambda c: c.body.get("thread_ts") == event["ts"] and c.body["text"].startswith("🚨")
    )
    assert note.body["text"] == f"🚨 Escalated to <!subteam^SONCALL> in <#{ESCALATIONS}>."
    assert packet.at < note.at

    # the on-call engineer claims it: the packet shows who, the thread hears it, a second claim is refused
    packet_msg = fake.message(ESCALATIONS, fake.history[ESCALATIONS][-1]["ts"])
    assert packet_msg is not None
    await slack_bot.click(ACTION_CLAIM, claim_id, message=packet_msg, channel=ESCALATIONS, user="UONCALL")
    [claimed] = await fake.wait_for("chat.update", where=lambda c: c.body["channel"] == ESCALATIONS)
    assert ACTION_CLAIM not in buttons(claimed.body["blocks"])
    assert "✋ Claimed by <@UONCALL>" in block_text(claimed.body["blocks"])
    await fake.wait_for("chat.postMessage", where=lambda c: c.body.get("text") == "✋ <@UONCALL> took this escalation.")
    escalation = slack_bot.store.escalation(int(claim_id))
    assert escalation is not None
    assert (escalation.claimed_by, escalation.escalation_ts) == ("UONCALL", packet_msg["ts"])

    _, key = await slack_bot.click(ACTION_CLAIM, claim_id, message=packet_msg, channel=ESCALATIONS, user="USECOND")
    [told] = await fake.wait_for("response_url", where=lambda c: c.key == key)
    assert told.body["text"] == "Already claimed by <@UONCALL>." and told.body["response_type"] == "ephemeral"
    assert slack_bot.store.escalation(int(claim_id)).claimed_by == "UONCALL"  # type: ignore[union-attr]


@pytest.mark.parametrize("slack_overrides", [{"kb_escalation_channel": None}])
async def test_without_an_escalation_channel_the_thread_is_told(slack_bot: SlackBot) -> None:
    event = slack_bot.mention(UNCOVERED)
    await slack_bot.event(event)
    await slack_bot.answer_update()
    [note] = await slack_bot.fake.wait_for("chat.postMessage", where=lambda c: c.body["text"].startswith("🚨"))
    assert note.body == {
        "team_id": TEAM_ID,
        "channel": SUPPORT,
        "thread_ts": event["ts"],
        "text": messages.THREAD_ESCALATION_OFF,
    }
    assert {c.body["channel"] for c in slack_bot.fake.calls_to("chat.postMessage")} == {SUPPORT}
    assert slack_bot.fake.calls_to("chat.getPermalink") == []


async def test_an_empty_mention_gets_usage_instead_of_an_answer(slack_bot: SlackBot) -> None:
    event = slack_bot.mention("")
    await slack_bot.event(event)
    [reply] = await slack_bot.fake.wait_for("chat.postMessage")
    assert reply.body == {
        "team_id": TEAM_ID,
        "channel": SUPPORT,
        "thread_ts": event["ts"],
        "text": messages.SLACK_EMPTY_MENTION,
    }


async def test_an_engine_failure_replaces_the_placeholder_with_an_error(
    slack_bot: SlackBot, engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    engine.kb.catalog.close()  # a real fault: the store's database is gone from under the engine
    event = slack_bot.mention(COVERED)
    await slack_bot.event(event)
    [update] = await slack_bot.fake.wait_for("chat.update")
    assert update.body["text"].startswith("⚠️ Sorry, I could not answer this: an internal error")
    assert update.body["blocks"] in ([], "[]")
    _, key = await slack_bot.command(f"draft {COVERED}")
    [told] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key)
    assert told.body["text"].startswith("⚠️ Sorry") and told.body["replace_original"] is True
    assert any(r.levelname == "ERROR" and "slack:" in r.getMessage() for r in caplog.records)
