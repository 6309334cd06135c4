"""Block Kit builders: pure functions from an Answer, checked against Slack's limits without Slack."""

from __future__ import annotations

import pytest

from bot import messages
from bot.records import Escalation, Stats
from bot.slack import blocks
from bot.slack.answering import message_text, plain_text, ticket_text
from rag.models import Answer, Backends, Confidence, RequiredItem, Source, Tier
from tests.slack_harness import block_text


def make_answer(**overrides: object) -> Answer:
    values: dict[str, object] = {
        "request_id": "req-1",
        "decision": "answer",
        "confidence": Confidence(
            score=0.82,
            level="high",
            reasons=["close match: “Reset your password”", "evidence includes a CRITICAL section"],
        ),
        "required_data": [RequiredItem(item="account e-mail address", why="to find the account")],
        "draft": "Hi Ana,\n\nClick *Forgot password?* on the sign-in page.\n\nBest regards,",
        "sources": [
            Source(
                article_id="reset-your-password",
                chunk_id="reset-your-password#2",
                title="Reset your password",
                url="https://help.example/reset#before-you-start",
                tier=Tier.CRITICAL,
                score=0.71,
                section="Before you start",
            )
        ],
        "backends": Backends(embedder="local-minilm", store="sqlite", drafter="extractive"),
        "timings_ms": {"total": 11.0},
    }
    values.update(overrides)
    return Answer.model_validate(values)


def texts(built: list[blocks.Block]) -> str:
    return block_text(blocks.to_dicts(built))


def test_answer_blocks_show_badge_reasons_checklist_draft_sources_and_buttons() -> None:
    built = blocks.answer_blocks(make_answer())
    text = texts(built)
    assert text.startswith("🟢 *High confidence* (0.82) · " + messages.DECISION_LABEL["answer"])
    assert "close match: “Reset your password” · evidence includes a CRITICAL section" in text
    assert "*Data to collect*" in text and "*account e-mail address*\n_to find the account_" in text
    assert "*Draft reply*\nHi Ana,\n\nClick *Forgot password?* on the sign-in page." in text
    assert (
        "• <https://help.example/reset#before-you-start|Reset your password › Before you start> · `CRITICAL` · 0.71"
    ) in text
    assert "request `req-1` · local-minilm / sqlite / extractive · 11 ms" in text
    actions = [b for b in blocks.to_dicts(built) if b["type"] == "actions" and b["block_id"] == blocks.BLOCK_ACTIONS]
    assert [(e["action_id"], e["value"]) for e in actions[0]["elements"]] == [
        (blocks.ACTION_HELPFUL, "req-1"),
        (blocks.ACTION_NOT_HELPFUL, "req-1"),
        (blocks.ACTION_ESCALATE, "req-1"),
    ]
    assert blocks.answer_text(make_answer()) == "🟢 High confidence (0.82): " + messages.DECISION_LABEL["answer"]


def checkboxes(built: list[dict]) -> list[dict]:
    return [e for b in built if b["type"] == "actions" for e in b["elements"] if e["type"] == "checkboxes"]


def test_data_to_collect_is_a_checklist_with_one_option_per_item() -> None:
    items = [
        RequiredItem(item="ride ID", why="to find the ride"),
        RequiredItem(item="bike <number>", why=""),
        RequiredItem(item="x" * 200, why="y" * 200),
    ]
    built = blocks.to_dicts(blocks.answer_blocks(make_answer(required_data=items)))
    [box] = checkboxes(built)
    [block] = [b for b in built if box in b.get("elements", [])]
    assert box["action_id"] == blocks.ACTION_COLLECT and "initial_options" not in box
    assert blocks.collect_request_id(block["block_id"]) == "req-1"
    assert [o["value"] for o in box["options"]] == ["0", "1", "2"]
    assert [o["text"]["text"] for o in box["options"]][:2] == ["*ride ID*", "*bike &lt;number&gt;*"]
    assert box["options"][0]["description"]["text"] == "_to find the ride_" and "description" not in box["options"][1]
    assert all(
        len(o["text"]["text"]) <= 75 and len(o.get("description", {}).get("text", "")) <= 75 for o in box["options"]
    )
    assert "☐" not in block_text(built)  # no text list besides the checkboxes

    ticked = blocks.to_dicts(blocks.answer_blocks(make_answer(required_data=items), checked=["2", "0", "9"]))
    assert [o["value"] for o in checkboxes(ticked)[0]["initial_options"]] == ["0", "2"]
    # ticks written back into blocks as Slack returns them; unticking everything drops initial_options
    assert blocks.checked_blocks(built, ["1"]) == blocks.to_dicts(
        blocks.answer_blocks(make_answer(required_data=items), checked=["1"])
    )
    assert "initial_options" not in checkboxes(blocks.checked_blocks(ticked, []))[0]

    nothing = blocks.to_dicts(blocks.answer_blocks(make_answer(required_data=[]), view="required"))
    assert checkboxes(nothing) == [] and messages.REQUIRED_NONE in block_text(nothing)

    many = [RequiredItem(item=f"item {i}") for i in range(12)]
    built = blocks.to_dicts(blocks.answer_blocks(make_answer(required_data=many)))
    assert len(checkboxes(built)[0]["options"]) == blocks.MAX_CHECKBOXES
    assert "☐ *item 10*\n☐ *item 11*" in block_text(built)  # past Slack's 10 options: listed as text


@pytest.mark.parametrize(
    ("level", "emoji", "label"), [("high", "🟢", "High"), ("medium", "🟡", "Medium"), ("low", "🔴", "Low")]
)
def test_badge_per_level(level: str, emoji: str, label: str) -> None:
    answer = make_answer(confidence=Confidence(score=0.5, level=level))  # type: ignore[arg-type]
    assert blocks.badge(answer).startswith(f"{emoji} *{label} confidence* (0.50)")


def test_escalate_shows_a_holding_reply_and_private_answers_get_share_and_a_hint() -> None:
    answer = make_answer(decision="escalate", confidence=Confidence(score=0.1, level="low"), required_data=[])
    text = texts(blocks.answer_blocks(answer, share=True, escalate_hint=True))
    assert f"*{messages.SLACK_HOLDING_HEADING}*" in text and messages.SLACK_PRIVATE_ESCALATE_HINT in text
    assert messages.REQUIRED_NONE in text
    built = blocks.to_dicts(blocks.answer_blocks(answer, share=True))
    assert [e["action_id"] for b in built if b["type"] == "actions" for e in b["elements"]][0] == blocks.ACTION_SHARE


def test_required_view_has_no_draft() -> None:
    text = texts(blocks.answer_blocks(make_answer(), view="required"))
    assert "Data to collect" in text and "Draft reply" not in text and "Forgot password" not in text


def test_long_drafts_respect_3000_chars_a_section_and_50_blocks() -> None:
    paragraphs = [f"Paragraph {i}: " + "word " * 150 for i in range(200)]  # ~150 kB
    built = blocks.answer_blocks(make_answer(draft="\n\n".join(paragraphs)))
    dicts = blocks.to_dicts(built)  # slack_sdk validates lengths here and would raise
    assert len(dicts) == blocks.MAX_BLOCKS
    sections = [b["text"]["text"] for b in dicts if b["type"] == "section"]
    assert max(len(s) for s in sections) <= blocks.MAX_SECTION
    assert messages.SLACK_DRAFT_TRUNCATED in texts(built)
    assert dicts[-1]["type"] == "actions"  # the buttons survive the cut
    shown = [p for p in paragraphs if p.strip() in texts(built)]
    assert shown == paragraphs[: len(shown)] and len(shown) > 20  # in order, nothing skipped


def test_a_moderate_draft_is_split_but_complete() -> None:
    draft = "\n".join(f"line {i} " + "x" * 90 for i in range(80))  # ~8 kB, one paragraph
    dicts = blocks.to_dicts(blocks.answer_blocks(make_answer(draft=draft)))
    sections = [b["text"]["text"] for b in dicts if b["type"] == "section"]
    assert all(len(s) <= blocks.MAX_SECTION for s in sections)
    assert messages.SLACK_DRAFT_TRUNCATED not in texts(blocks.answer_blocks(make_answer(draft=draft)))
    assert "".join(sections).count("line ") == 80


def test_user_text_is_escaped_so_it_cannot_mention_or_link() -> None:
    answer = make_answer(draft="Ping <!channel> & <@U123> <https://evil.example|click>")
    text = texts(blocks.answer_blocks(answer))
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt; &lt;https://evil.example|click&gt;" in text
    assert "<!channel>" not in text


def test_split_text_never_cuts_an_entity() -> None:
    escaped = blocks.escape("&" * 5000)  # 25 000 characters of "&amp;"
    pieces = blocks.split_text(escaped, limit=3000)
    assert all(len(p) <= 3000 for p in pieces) and "".join(pieces) == escaped
    assert all(p.endswith(";") for p in pieces)


def test_mention_formats() -> None:
    assert blocks.mention("S0123ONCALL") == "<!subteam^S0123ONCALL>"
    assert blocks.mention("U0123LEAD") == "<@U0123LEAD>"
    assert blocks.mention("<!here>") == "<!here>"
    assert blocks.mention(None) is None and blocks.mention("") is None


def test_escalation_packet_and_claim() -> None:
    answer = make_answer(decision="escalate", confidence=Confidence(score=0.2, level="low", reasons=["weak match"]))
    built = blocks.escalation_blocks(
        answer,
        ticket="The <coffee> machine\n leaks",
        user="UAGENT",
        channel="CSUP",
        permalink="https://x.slack.com/archives/CSUP/p1",
        trigger="auto",
        triggered_by="UAGENT",
        mention_text="<!subteam^SONCALL>",
        escalation_id=7,
    )
    dicts = blocks.to_dicts(built)
    text = texts(built)
    assert dicts[0]["type"] == "header"
    assert "<!subteam^SONCALL> a ticket needs a human." in text
    assert "> The &lt;coffee&gt; machine leaks" in text
    assert (
        "*From* <@UAGENT> in <#CSUP> · low confidence · <https://x.slack.com/archives/CSUP/p1|open the thread>"
    ) in text
    assert "• weak match" in text and "*Sources tried*\n• <https://help.example/reset" in text
    assert "*Missing data*\n☐ *account e-mail address*" in text
    assert dicts[-1]["block_id"] == blocks.BLOCK_CLAIM and dicts[-1]["elements"][0]["value"] == "7"

    escalation = Escalation(
        id=7,
        request_id="req-1",
        trigger="auto",
        requested_by="UAGENT",
        channel="CSUP",
        thread_ts="1.1",
        escalation_channel="CESC",
        escalation_ts="2.2",
        claimed_by="UONCALL",
        claimed_at=1.0,
    )
    claimed = blocks.claimed_blocks(dicts, escalation)
    assert blocks.BLOCK_CLAIM not in [b.get("block_id") for b in claimed]
    assert claimed[-1]["elements"][0]["text"] == "✋ Claimed by <@UONCALL>"  # type: ignore[index]


def test_home_view_and_feedback_modal() -> None:
    stats = Stats(
        days=7,
        answers=5,
        by_level={"high": 3, "medium": 1, "low": 1},
        escalations=2,
        claimed=1,
        helpful=4,
        not_helpful=1,
    )
    home = blocks.home_view(stats).to_dict()
    assert home["type"] == "home"
    shown = block_text(home["blocks"])
    assert "Answers: 5 (🟢 3 · 🟡 1 · 🔴 1)\nEscalations: 2 (1 claimed)\nFeedback: 👍 4 · 👎 1" in shown
    modal = blocks.feedback_modal("req-1", '{"feedback_id": 3}').to_dict()
    assert modal["callback_id"] == blocks.FEEDBACK_MODAL and modal["private_metadata"] == '{"feedback_id": 3}'
    assert [b.get("block_id") for b in modal["blocks"]][1:] == [blocks.INPUT_PROBLEMS, blocks.INPUT_COMMENT]


def test_slack_markup_becomes_plain_ticket_text() -> None:
    raw = "<@UBOT> customer <mailto:ana@example.com|ana@example.com> says &lt;help&gt; in <#C1|support> see <https://x.example>"
    assert (
        plain_text(raw, bot_user_id="UBOT") == "customer ana@example.com says <help> in #support see https://x.example"
    )
    assert message_text({"text": "fwd:", "attachments": [{"title": "Refund", "text": "Please refund INV-1"}]}) == (
        "fwd:\nRefund\nPlease refund INV-1"
    )
    assert ticket_text(["first", "", "second"], "now?") == "first\n\nsecond\n\nnow?"
    assert ticket_text([], "x" * 30_000) == "x" * 20_000
    long = ticket_text(["a" * 30_000], "follow-up")
    assert len(long) <= 20_000 and long.endswith("\n\nfollow-up")
