"""Shortcut, buttons, the feedback modal and App Home through the wire."""

from __future__ import annotations

import asyncio

from bot import messages
from bot.cli import main as kb_main
from bot.records import feedback_report
from bot.slack.blocks import (
    ACTION_COLLECT,
    ACTION_ESCALATE,
    ACTION_HELPFUL,
    ACTION_NOT_HELPFUL,
    FEEDBACK_MODAL,
    INPUT_COMMENT,
    INPUT_PROBLEMS,
)
from rag.redact import redact
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


async def answered_mention(slack_bot: SlackBot, text: str = COVERED) -> tuple[dict, str]:
    """Mention the bot, wait for the answer; returns (the answer message in fake's history, request id)."""
    event = slack_bot.mention(text)
    await slack_bot.event(event)
    update = await slack_bot.answer_update()
    message = slack_bot.fake.message(SUPPORT, update["ts"])
    assert message is not None
    return message, buttons(update["blocks"])[ACTION_HELPFUL]


async def test_message_shortcut_answers_in_that_messages_thread(slack_bot: SlackBot) -> None:
    email = "Forwarded e-mail from dana@example.com:\n" + COVERED
    ts = slack_bot.fake.add_message(SUPPORT, email, user="UFORWARDER")
    resp, _ = await slack_bot.shortcut({"type": "message", "ts": ts, "user": "UFORWARDER", "text": email})
    assert resp.status == 200
    [placeholder] = await slack_bot.fake.wait_for("chat.postMessage")
    assert placeholder.body["thread_ts"] == ts and placeholder.body["channel"] == SUPPORT
    update = await slack_bot.answer_update()
    record = slack_bot.store.answer(buttons(update["blocks"])[ACTION_HELPFUL])
    assert record is not None and record.door == "shortcut" and record.ticket == redact(email)  # stored redacted
    assert "account e-mail address" not in {r.item for r in record.answer.required_data}  # the e-mail is given


async def test_message_shortcut_in_a_channel_without_the_bot_says_how_to_invite(slack_bot: SlackBot) -> None:
    slack_bot.fake.fail("chat.postMessage", "not_in_channel")
    ts = slack_bot.fake.add_message("CELSEWHERE", COVERED)
    _, key = await slack_bot.shortcut(
        {"type": "message", "ts": ts, "user": "U2", "text": COVERED}, channel="CELSEWHERE"
    )
    [told] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key)
    assert told.body["text"] == messages.SLACK_NOT_IN_CHANNEL and told.body["response_type"] == "ephemeral"


async def test_helpful_is_stored_with_the_answers_decision_confidence_and_sources(slack_bot: SlackBot) -> None:
    message, request_id = await answered_mention(slack_bot)
    _, key = await slack_bot.click(ACTION_HELPFUL, request_id, message=message)
    [thanks] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key)
    assert thanks.body["text"] == messages.SLACK_FEEDBACK_THANKS.format(request_id=request_id)
    assert thanks.body["replace_original"] is False
    [row] = slack_bot.store.feedback(request_id)
    record = slack_bot.store.answer(request_id)
    assert record is not None
    assert (row.user, row.verdict, row.source, row.decision, row.level, row.score) == (
        AGENT,
        "helpful",
        "slack",
        record.answer.decision,
        record.answer.confidence.level,
        record.answer.confidence.score,
    )
    assert row.sources == [s.chunk_id for s in record.answer.sources]


async def test_not_helpful_opens_a_modal_and_stores_what_was_wrong(slack_bot: SlackBot) -> None:
    message, request_id = await answered_mention(slack_bot)
    await slack_bot.click(ACTION_NOT_HELPFUL, request_id, message=message)
    [opened] = await slack_bot.fake.wait_for("views.open")
    view = opened.body["view"]
    assert opened.body["trigger_id"].startswith("trig.")
    assert view["type"] == "modal" and view["callback_id"] == FEEDBACK_MODAL
    assert view["title"]["text"] == messages.FEEDBACK_MODAL_TITLE
    [row] = slack_bot.store.feedback(request_id)
    assert row.verdict == "not_helpful" and row.comment == ""  # counted even if the modal is cancelled

    resp = await slack_bot.submit_view(
        view,
        {
            INPUT_PROBLEMS: {
                INPUT_PROBLEMS: {
                    "type": "checkboxes",
                    "selected_options": [
                        {"value": "wrong_sources", "text": {"type": "plain_text", "text": "x"}},
                        {"value": "should_escalate", "text": {"type": "plain_text", "text": "y"}},
                    ],
                }
            },
            INPUT_COMMENT: {INPUT_COMMENT: {"type": "plain_text_input", "value": "  It cited the SSO article.  "}},
        },
    )
    assert resp.status == 200 and await resp.text() == ""  # an empty 200 closes the modal
    [row] = slack_bot.store.feedback(request_id)
    assert (row.problems, row.comment) == (["wrong_sources", "should_escalate"], "It cited the SSO article.")

    # another user cannot rewrite that row through a replayed submission
    await slack_bot.submit_view(
        view, {INPUT_COMMENT: {INPUT_COMMENT: {"type": "plain_text_input", "value": "x"}}}, user="UOTHER"
    )
    assert slack_bot.store.feedback(request_id)[0].comment == "It cited the SSO article."


async def test_escalate_button_on_a_thread_answer_escalates_once(slack_bot: SlackBot) -> None:
    message, request_id = await answered_mention(slack_bot)
    thread_ts = message["thread_ts"]
    await slack_bot.click(ACTION_ESCALATE, request_id, message=message, user="ULEAD")
    [packet] = await slack_bot.fake.wait_for("chat.postMessage", where=lambda c: c.body["channel"] == ESCALATIONS)
    text = block_text(packet.body["blocks"])
    assert "escalated by <@ULEAD>" in text and f"*From* <@{AGENT}> in <#{SUPPORT}>" in text
    await slack_bot.fake.wait_for(
        "chat.postMessage",
        where=lambda c: c.body.get("thread_ts") == thread_ts and c.body["text"].startswith("🚨 Escalated"),
    )

    _, key = await slack_bot.click(ACTION_ESCALATE, request_id, message=message)
    [told] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key)
    assert told.body["text"] == messages.ESCALATION_ALREADY
    assert len([c for c in slack_bot.fake.calls_to("chat.postMessage") if c.body["channel"] == ESCALATIONS]) == 1


def ticked(blocks: list[dict]) -> list[str] | None:
    """The values of the checklist's initial_options (None: the message has no checklist)."""
    boxes = [e for b in blocks if b["type"] == "actions" for e in b["elements"] if e["action_id"] == ACTION_COLLECT]
    return [o["value"] for o in boxes[0].get("initial_options", [])] if boxes else None


async def test_ticking_the_data_to_collect_keeps_the_ticks_in_the_thread_answer(slack_bot: SlackBot) -> None:
    message, request_id = await answered_mention(slack_bot)
    record = slack_bot.store.answer(request_id)
    assert record is not None and len(record.answer.required_data) >= 2
    assert ticked(message["blocks"]) == []
    before = len(slack_bot.fake.calls_to("chat.update"))

    resp, _ = await slack_bot.tick(message["blocks"], ["0", "1"], message=message)
    assert resp.status == 200 and await resp.text() == ""  # acked at once
    [update] = (await slack_bot.fake.wait_for("chat.update", before + 1))[before:]
    assert (update.body["channel"], update.body["ts"]) == (SUPPORT, message["ts"])
    blocks = update.body["blocks"]
    assert ticked(blocks) == ["0", "1"]
    assert [b for b in blocks if b["type"] != "actions"] == [b for b in message["blocks"] if b["type"] != "actions"]

    message = slack_bot.fake.message(SUPPORT, message["ts"])  # as Slack sends it back now: ticked
    assert message is not None and ticked(message["blocks"]) == ["0", "1"]
    await slack_bot.tick(message["blocks"], ["1"], message=message)  # unticks the first one
    await slack_bot.fake.wait_for("chat.update", before + 2)
    message = slack_bot.fake.message(SUPPORT, message["ts"])
    assert message is not None and ticked(message["blocks"]) == ["1"]
    await slack_bot.tick(message["blocks"], [], message=message)
    await slack_bot.fake.wait_for("chat.update", before + 3)
    message = slack_bot.fake.message(SUPPORT, message["ts"])
    assert message is not None and ticked(message["blocks"]) == []
    assert buttons(message["blocks"])[ACTION_HELPFUL] == request_id  # the rest of the answer is unchanged


async def test_ticking_an_ephemeral_answer_rerenders_it_from_its_record(slack_bot: SlackBot) -> None:
    _, key = await slack_bot.command(COVERED)
    [answer] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key and "blocks" in c.body)
    shown = answer.body["blocks"]
    _, tick_key = await slack_bot.tick(shown, ["0"], ephemeral=True)
    [update] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == tick_key)
    assert update.body["replace_original"] is True and update.body["response_type"] == "ephemeral"
    assert ticked(update.body["blocks"]) == ["0"]
    assert [b for b in update.body["blocks"] if b["type"] != "actions"] == [b for b in shown if b["type"] != "actions"]
    assert slack_bot.fake.calls_to("chat.update") == []


async def test_escalate_on_an_unknown_request_says_so(slack_bot: SlackBot) -> None:
    _, key = await slack_bot.click(ACTION_ESCALATE, "f" * 32)
    [told] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key)
    assert told.body["text"] == messages.SLACK_UNKNOWN_REQUEST.format(request_id="f" * 32)


async def test_app_home_shows_usage_and_the_last_seven_days(slack_bot: SlackBot) -> None:
    message, request_id = await answered_mention(slack_bot)
    await slack_bot.click(ACTION_HELPFUL, request_id, message=message)
    await slack_bot.fake.wait_for("response_url")
    await slack_bot.event(slack_bot.mention(UNCOVERED))
    await slack_bot.fake.wait_for("chat.postMessage", where=lambda c: c.body["channel"] == ESCALATIONS)

    await slack_bot.event(
        {"type": "app_home_opened", "user": AGENT, "channel": "DAGENT", "tab": "home", "event_ts": "1.000001"}
    )
    [published] = await slack_bot.fake.wait_for("views.publish")
    assert published.body["user_id"] == AGENT and published.body["view"]["type"] == "home"
    text = block_text(published.body["view"]["blocks"])
    assert "@kb" in text and "Draft reply from KB" in text and "/kb draft" in text
    assert "*Last 7 days*" in text
    levels = {"high": 0, "medium": 0, "low": 0}
    for rid in [request_id]:
        record = slack_bot.store.answer(rid)
        assert record is not None
        levels[record.answer.confidence.level] += 1
    levels["low"] += 1  # the uncovered ticket
    assert f"Answers: 2 (🟢 {levels['high']} · 🟡 {levels['medium']} · 🔴 {levels['low']})" in text
    assert "Escalations: 1 (0 claimed)" in text and "Feedback: 👍 1 · 👎 0" in text
    assert "*Top gaps this week*" in text and ": 1 ticket(s), 1 escalated, 0 👎" in text  # the coffee machine
    assert "coffee" in text.split("*Top gaps this week*")[1] and "kb gaps --html" in text

    await slack_bot.event(
        {"type": "app_home_opened", "user": AGENT, "channel": "DAGENT", "tab": "messages", "event_ts": "1.000002"}
    )
    await slack_bot.event(slack_bot.mention(COVERED))  # processed after the messages-tab event
    await slack_bot.fake.wait_for("chat.update", 2, where=lambda c: bool(c.body.get("blocks")))
    assert len(slack_bot.fake.calls_to("views.publish")) == 1


async def test_feedback_report_and_kb_feedback(slack_bot: SlackBot, capsys: object) -> None:
    message, request_id = await answered_mention(slack_bot)
    await slack_bot.click(ACTION_NOT_HELPFUL, request_id, message=message)
    [opened] = await slack_bot.fake.wait_for("views.open")
    await slack_bot.submit_view(
        opened.body["view"], {INPUT_COMMENT: {INPUT_COMMENT: {"type": "plain_text_input", "value": "Wrong article"}}}
    )
    await slack_bot.event(slack_bot.mention(UNCOVERED))
    await slack_bot.fake.wait_for("chat.postMessage", where=lambda c: c.body["channel"] == ESCALATIONS)

    report = feedback_report(slack_bot.settings)
    assert "answers            2" in report
    assert "escalations        1   claimed 0, unclaimed 1" in report
    assert "helpful 0, not helpful 1 (0% helpful)" in report
    assert f"{request_id}  Wrong article" in report
    assert "by door      slack 2 (mention 2)" in report

    # `kb feedback` runs its own event loop: call it from a thread, as a shell would from outside
    assert await asyncio.to_thread(kb_main, ["feedback", "--data-dir", str(slack_bot.settings.kb_data_dir)]) == 0
    assert capsys.readouterr().out == report  # type: ignore[attr-defined]
