"""/kb through the wire: acked at once, the private answer later through the response_url."""

from __future__ import annotations

import time

from bot import messages
from bot.slack.blocks import ACTION_ESCALATE, ACTION_HELPFUL, ACTION_SHARE
from rag.engine import Engine
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


async def test_help_is_the_ack_itself_and_points_to_threads(slack_bot: SlackBot) -> None:
    for text in ("help", "", "draft"):
        resp, key = await slack_bot.command(text)
        assert resp.status == 200
        body = await resp.json()
        assert body["text"] == messages.SLACK_HELP
        assert "@kb" in body["text"] and "Draft reply from KB" in body["text"] and "inside threads" in body["text"]
        assert block_text(body["blocks"]) == messages.SLACK_HELP
    assert slack_bot.fake.calls_to("response_url") == []


async def test_draft_is_acked_at_once_and_answered_privately_later(slack_bot: SlackBot, engine: Engine) -> None:
    started = time.perf_counter()
    resp, key = await slack_bot.command(f"draft {COVERED}")
    acked_at = time.monotonic()
    assert resp.status == 200 and time.perf_counter() - started < 3.0
    assert await resp.text() == messages.SLACK_WORKING  # Slack shows the ack text to the asker only

    [answer] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key)
    assert answer.at > acked_at - 0.001  # arrived after the HTTP ack returned
    body = answer.body
    assert body["response_type"] == "ephemeral" and body["replace_original"] is True
    expected = await engine.answer(COVERED)
    text = block_text(body["blocks"])
    assert f"({expected.confidence.score:.2f})" in text and f"*{messages.DRAFT_HEADING}*" in text
    assert all(f"<{s.url}|" in text for s in expected.sources)
    assert list(buttons(body["blocks"])) == [ACTION_SHARE, ACTION_HELPFUL, "kb_not_helpful", ACTION_ESCALATE]
    assert "Authorization" not in slack_bot.fake.calls_to("response_url")[0].headers
    record = slack_bot.store.answer(buttons(body["blocks"])[ACTION_SHARE])
    assert record is not None and (record.door, record.view, record.channel, record.thread_ts) == (
        "command",
        "draft",
        SUPPORT,
        None,
    )
    assert slack_bot.fake.calls_to("chat.postMessage") == []  # nothing public


async def test_text_without_a_subcommand_drafts(slack_bot: SlackBot) -> None:
    _, key = await slack_bot.command(COVERED)
    [answer] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key)
    assert f"*{messages.DRAFT_HEADING}*" in block_text(answer.body["blocks"])


async def test_required_shows_the_checklist_without_a_draft(slack_bot: SlackBot, engine: Engine) -> None:
    _, key = await slack_bot.command(f"required {COVERED}")
    [answer] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key)
    text = block_text(answer.body["blocks"])
    expected = await engine.answer(COVERED)
    assert expected.required_data
    assert all(f"*{r.item}*" in text for r in expected.required_data)  # one checkbox each
    assert messages.DRAFT_HEADING not in text and expected.draft.splitlines()[0] not in text


async def test_search_lists_articles_as_links(slack_bot: SlackBot, engine: Engine) -> None:
    _, key = await slack_bot.command("search reset password link expired")
    [answer] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key)
    expected = await engine.search("reset password link expired", top_k=5)
    text = block_text(answer.body["blocks"])
    assert expected[0].article_id == "reset-your-password"
    assert [line.split("|")[0] for line in text.splitlines()[1:]] == [f"• <{s.url}" for s in expected]
    assert answer.body["text"] == f"{len(expected)} article(s) for “reset password link expired”"


async def test_share_in_channel_posts_publicly_and_removes_the_private_copy(slack_bot: SlackBot) -> None:
    _, key = await slack_bot.command(f"draft {COVERED}")
    [private] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key)
    request_id = buttons(private.body["blocks"])[ACTION_SHARE]

    _, share_key = await slack_bot.click(ACTION_SHARE, request_id, ephemeral=True)
    public, deleted = await slack_bot.fake.wait_for("response_url", 2, where=lambda c: c.key == share_key)
    assert public.body["response_type"] == "in_channel" and public.body["replace_original"] is False
    text = block_text(public.body["blocks"])
    assert f"Shared by <@{AGENT}>" in text and f"*{messages.DRAFT_HEADING}*" in text
    assert ACTION_SHARE not in buttons(public.body["blocks"])
    assert deleted.body["delete_original"] is True


async def test_a_private_low_answer_waits_for_the_escalate_button(slack_bot: SlackBot) -> None:
    _, key = await slack_bot.command(f"draft {UNCOVERED}")
    [private] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == key)
    assert messages.SLACK_PRIVATE_ESCALATE_HINT in block_text(private.body["blocks"])
    assert slack_bot.fake.calls_to("chat.postMessage") == []  # no packet on its own

    request_id = buttons(private.body["blocks"])[ACTION_ESCALATE]
    _, click_key = await slack_bot.click(ACTION_ESCALATE, request_id, ephemeral=True)
    [packet] = await slack_bot.fake.wait_for("chat.postMessage", where=lambda c: c.body["channel"] == ESCALATIONS)
    text = block_text(packet.body["blocks"])
    assert f"<@{AGENT}> (asked privately)" in text and f"escalated by <@{AGENT}>" in text
    assert UNCOVERED in text
    [note] = await slack_bot.fake.wait_for("response_url", where=lambda c: c.key == click_key)
    assert note.body["text"] == f"🚨 Escalated to <!subteam^SONCALL> in <#{ESCALATIONS}>."
    assert note.body["response_type"] == "ephemeral"
    assert slack_bot.fake.calls_to("chat.getPermalink") == []  # an ephemeral message has no link
