"""Conversations in threads and DMs through the wire: signed message events into /slack/events, the
fake Slack behind, the engine's tickets watched to see what history and query each answer used."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.slack.blocks import ACTION_HELPFUL
from rag.engine import Engine
from rag.models import Answer, Ticket
from tests.fakes.slack import BOT_ID, BOT_USER_ID
from tests.slack_harness import (  # noqa: F401 (fixtures)
    AGENT,
    SUPPORT,
    SlackBot,
    buttons,
    fake_slack,
    slack_bot,
    slack_overrides,
)

REFUND = "I cancelled our Team subscription three days after the first charge. Can I get a refund?"
FOLLOW_UP = "what if they paid with PayPal?"
REFUNDS_ARTICLE = "cancel-subscription-and-refunds"
DM = "DAGENT"


@pytest.fixture
def tickets(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[Ticket]:
    """Every Ticket the Slack door hands the engine, in order."""
    seen: list[Ticket] = []
    answer = engine.answer

    async def spy(ticket: Ticket | str, *, request_id: str | None = None) -> Answer:
        seen.append(ticket if isinstance(ticket, Ticket) else Ticket(ticket=ticket))
        return await answer(ticket, request_id=request_id)

    monkeypatch.setattr(engine, "answer", spy)
    return seen


def answers(bot: SlackBot, channel: str = SUPPORT) -> list[dict[str, Any]]:
    return [c.body for c in bot.fake.calls_to("chat.update") if c.body["channel"] == channel and c.body.get("blocks")]


async def wait_answers(bot: SlackBot, count: int, channel: str = SUPPORT) -> list[dict[str, Any]]:
    calls = await bot.fake.wait_for(
        "chat.update", count, where=lambda c: c.body["channel"] == channel and bool(c.body.get("blocks"))
    )
    return [c.body for c in calls]


async def answered_thread(bot: SlackBot, ticket: str = REFUND) -> str:
    """@kb with a ticket at the top of the channel, answered in its thread; returns the thread's ts."""
    event = bot.mention(ticket)
    await bot.event(event)
    await wait_answers(bot, 1)
    return str(event["ts"])


async def settle(bot: SlackBot, replies: int | None = None) -> None:
    """Let the bot act on what it was sent (after reading `replies` threads, when it reads them)."""
    if replies:
        await bot.fake.wait_for("conversations.replies", replies)
    await asyncio.sleep(0.3)


async def test_follow_up_in_an_answered_thread_is_answered_with_the_earlier_question(
    slack_bot: SlackBot, engine: Engine, tickets: list[Ticket]
) -> None:
    fake = slack_bot.fake
    thread = await answered_thread(slack_bot)
    [first] = answers(slack_bot)
    first_record = slack_bot.store.answer(buttons(first["blocks"])[ACTION_HELPFUL])
    assert first_record is not None

    resp = await slack_bot.event(slack_bot.message(FOLLOW_UP, thread_ts=thread))  # no mention
    assert resp.status == 200
    _, second = await wait_answers(slack_bot, 2)

    placeholders = fake.calls_to("chat.postMessage")
    assert [p.body["thread_ts"] for p in placeholders] == [thread, thread]  # in the same thread
    [replies] = fake.calls_to("conversations.replies")
    assert (replies.body["channel"], replies.body["ts"]) == (SUPPORT, thread)

    # the engine got the follow-up as the ticket and the thread as structured history …
    follow_up = tickets[-1]
    assert follow_up.ticket == FOLLOW_UP
    assert [(t.role, t.text) for t in follow_up.history] == [
        ("customer", REFUND),
        ("bot", first_record.answer.draft),
    ]
    # … searched with the question it refers to, never with the bot's own answer
    assert follow_up.text() == f"{FOLLOW_UP}\n\n{REFUND}"
    record = slack_bot.store.answer(buttons(second["blocks"])[ACTION_HELPFUL])
    assert record is not None and record.door == "thread" and record.thread_ts == thread
    assert record.answer.sources[0].article_id == REFUNDS_ARTICLE
    assert record.answer.decision != "escalate"

    alone = await engine.answer(FOLLOW_UP)  # the same words without the thread find something else
    assert alone.sources[0].article_id != REFUNDS_ARTICLE and alone.decision == "escalate"


async def test_a_thread_the_bot_never_joined_gets_no_answer(slack_bot: SlackBot) -> None:
    fake = slack_bot.fake
    parent = fake.add_message(SUPPORT, "From the customer: " + REFUND, user="UCUSTOMER")
    await slack_bot.event(slack_bot.message(FOLLOW_UP, thread_ts=parent))
    # a thread the bot only started (an escalation packet's, say) is not one it answered in
    packet = fake.add_message(SUPPORT, "a ticket needs a human", user=BOT_USER_ID, bot_id=BOT_ID)
    await slack_bot.event(slack_bot.message("I'll take this one, what if they paid with PayPal?", thread_ts=packet))
    # nor is a top-level message without a mention
    await slack_bot.event(slack_bot.message(REFUND))
    await settle(slack_bot, replies=2)
    assert fake.calls_to("chat.postMessage") == [] and fake.calls_to("chat.update") == []


async def test_thanks_and_stop_are_not_answered_and_stop_leaves_the_thread(slack_bot: SlackBot) -> None:
    fake = slack_bot.fake
    thread = await answered_thread(slack_bot)
    for text in ("thanks!", "ok thanks 👍", "👍", ":+1:", "Thank you so much, that helps"):
        await slack_bot.event(slack_bot.message(text, thread_ts=thread))
    await settle(slack_bot)
    assert len(fake.calls_to("chat.postMessage")) == 1 and fake.calls_to("conversations.replies") == []

    # a real question after a thanks is still answered
    await slack_bot.event(slack_bot.message("how long does it take?", thread_ts=thread))
    await wait_answers(slack_bot, 2)

    # "stop" is not answered, and the follow-ups after it are not either …
    await slack_bot.event(slack_bot.message("please stop", thread_ts=thread))
    await slack_bot.event(slack_bot.message(FOLLOW_UP, thread_ts=thread))
    await settle(slack_bot, replies=2)
    assert len(fake.calls_to("chat.postMessage")) == 2
    # … until someone mentions the bot again: then it is back in the thread
    await slack_bot.event(slack_bot.mention(FOLLOW_UP, thread_ts=thread))
    await wait_answers(slack_bot, 3)
    await slack_bot.event(slack_bot.message("and if it was a monthly renewal?", thread_ts=thread))
    await wait_answers(slack_bot, 4)


async def test_bot_messages_edits_and_deletes_in_a_joined_thread_are_not_answered(slack_bot: SlackBot) -> None:
    fake = slack_bot.fake
    thread = await answered_thread(slack_bot)
    other_bot = fake.add_message(SUPPORT, FOLLOW_UP, user="UOTHERBOT", bot_id="BOTHER", thread_ts=thread)
    own = fake.add_message(SUPPORT, FOLLOW_UP, user=BOT_USER_ID, bot_id=BOT_ID, thread_ts=thread)
    base = {"type": "message", "channel": SUPPORT, "channel_type": "channel", "thread_ts": thread}
    for event in (
        {**base, "subtype": "bot_message", "bot_id": "BOTHER", "text": FOLLOW_UP, "ts": other_bot},
        {**base, "user": "UOTHERBOT", "bot_id": "BOTHER", "text": FOLLOW_UP, "ts": other_bot},
        {**base, "user": BOT_USER_ID, "bot_id": BOT_ID, "text": FOLLOW_UP, "ts": own},
        {
            **base,
            "subtype": "message_changed",
            "ts": fake.add_message(SUPPORT, FOLLOW_UP, thread_ts=thread),
            "message": {"type": "message", "user": AGENT, "text": FOLLOW_UP, "thread_ts": thread},
        },
        {**base, "subtype": "message_deleted", "ts": fake.add_message(SUPPORT, "x", thread_ts=thread)},
    ):
        assert (await slack_bot.event(event)).status == 200
    await settle(slack_bot)
    assert len(fake.calls_to("chat.postMessage")) == 1 and fake.calls_to("conversations.replies") == []


@pytest.mark.parametrize("message_first", [False, True])
async def test_a_mention_in_a_joined_thread_is_answered_once(slack_bot: SlackBot, message_first: bool) -> None:
    fake = slack_bot.fake
    thread = await answered_thread(slack_bot)
    mention = slack_bot.mention(FOLLOW_UP, thread_ts=thread)
    message = {**mention, "type": "message", "channel_type": "channel"}  # Slack sends both for one message
    for event in (message, mention) if message_first else (mention, message):
        assert (await slack_bot.event(event)).status == 200
    await wait_answers(slack_bot, 2)
    await settle(slack_bot)
    assert len(fake.calls_to("chat.postMessage")) == 2 and len(answers(slack_bot)) == 2
    record = slack_bot.store.answer(buttons(answers(slack_bot)[-1]["blocks"])[ACTION_HELPFUL])
    assert record is not None and record.door == "mention"


async def test_an_empty_mention_in_a_thread_answers_the_latest_question(
    slack_bot: SlackBot, tickets: list[Ticket]
) -> None:
    fake = slack_bot.fake
    parent = fake.add_message(SUPPORT, REFUND, user="UCUSTOMER")
    fake.add_message(SUPPORT, FOLLOW_UP, user=AGENT, thread_ts=parent)
    await slack_bot.event(slack_bot.mention("", thread_ts=parent))
    await wait_answers(slack_bot, 1)
    assert tickets[-1].ticket == FOLLOW_UP
    assert [(t.role, t.text) for t in tickets[-1].history] == [("customer", REFUND)]


async def test_direct_message_follow_ups_use_the_conversation(slack_bot: SlackBot, tickets: list[Ticket]) -> None:
    fake = slack_bot.fake

    async def dm(text: str, thread_ts: str | None = None) -> None:
        await slack_bot.event(slack_bot.message(text, channel=DM, channel_type="im", thread_ts=thread_ts))

    await dm(REFUND)
    [first] = await wait_answers(slack_bot, 1, channel=DM)
    assert tickets[0].history == []
    await dm("thanks")  # not a question, in a DM either
    await dm(FOLLOW_UP)  # top level, after the bot's answer
    await wait_answers(slack_bot, 2, channel=DM)
    assert fake.calls_to("conversations.history")
    follow_up = tickets[1]
    assert [t.role for t in follow_up.history] == ["customer", "bot"]
    assert follow_up.history[0].text == REFUND and follow_up.text() == f"{FOLLOW_UP}\n\n{REFUND}"

    # a reply in the thread of the bot's first answer reads what led to that answer, then the thread
    answer_ts = first["ts"]
    await dm("how long does it take?", thread_ts=answer_ts)
    _, _, in_thread = await wait_answers(slack_bot, 3, channel=DM)
    assert fake.calls_to("chat.postMessage")[-1].body["thread_ts"] == answer_ts
    third = tickets[2]
    assert [t.role for t in third.history] == ["customer", "bot"] and third.history[0].text == REFUND
    record = slack_bot.store.answer(buttons(in_thread["blocks"])[ACTION_HELPFUL])
    assert record is not None and record.door == "dm"
    assert record.answer.sources[0].article_id == REFUNDS_ARTICLE
    assert len(fake.calls_to("chat.postMessage")) == 3


async def test_a_slack_error_reading_the_thread_keeps_the_bot_quiet(slack_bot: SlackBot) -> None:
    fake = slack_bot.fake
    thread = await answered_thread(slack_bot)
    fake.fail("conversations.replies", "ratelimited_forever")
    await slack_bot.event(slack_bot.message(FOLLOW_UP, thread_ts=thread))
    await settle(slack_bot, replies=1)
    assert len(fake.calls_to("chat.postMessage")) == 1  # no placeholder: nothing was answered
