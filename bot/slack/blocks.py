"""Block Kit for every message the bot sends: pure functions from an `Answer` (and friends) to blocks.

    blocks = answer_blocks(answer)                         # thread answer with the feedback buttons
    blocks = answer_blocks(answer, share=True)             # + "Share in channel" (slash commands)
    client.chat_update(..., text=answer_text(answer), blocks=[b.to_dict() for b in blocks])

Slack's limits are respected here: 50 blocks a message and 3000 characters a section (long drafts
are split over several sections and cut with a note when they would not fit). User text is escaped
(`&`, `<`, `>`) so a ticket cannot inject mentions or links. Each claim of the draft that
`Answer.citations` names gets a numbered footnote linked to its section's URL, and the sources list
shows the cited sections under those numbers (bot/citations.py). The data to collect is a checklist
(a `checkboxes` element, `ACTION_COLLECT`) whose ticks `checked_blocks` / `answer_blocks(checked=…)`
write back into the message as `initial_options`, so they stay when the message is seen again.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ContextBlock,
    DividerBlock,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    SectionBlock,
)
from slack_sdk.models.views import View

from bot import messages
from bot.citations import footnote_numbers, footnoted
from bot.slack.feedback import Escalation, Stats
from rag.models import Answer, RequiredItem, Source

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_CONTEXT = 2000
MAX_CHECKBOXES = 10  # Slack's limit of options in one checkboxes element
MAX_OPTION_TEXT = 75  # an option's text and description

# action_id / callback_id values: listeners match on these
ACTION_HELPFUL = "kb_helpful"
ACTION_NOT_HELPFUL = "kb_not_helpful"
ACTION_ESCALATE = "kb_escalate"
ACTION_SHARE = "kb_share"
ACTION_CLAIM = "kb_claim"
ACTION_COLLECT = "kb_collect"  # the "Data to collect" checkboxes; their block_id carries the request id
FEEDBACK_MODAL = "kb_feedback_modal"
SHORTCUT_DRAFT = "draft_reply_from_kb"
BLOCK_ACTIONS = "kb_actions"
BLOCK_CLAIM = "kb_claim_actions"
INPUT_PROBLEMS = "kb_problems"
INPUT_COMMENT = "kb_comment"


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: the three characters that start entities, links and mentions."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_text(text: str, limit: int = MAX_SECTION) -> list[str]:
    """Cut escaped `text` into pieces of at most `limit` characters, at paragraph, line or word breaks."""
    pieces: list[str] = []
    for unit in _units(text, limit):
        if pieces and len(pieces[-1]) + len(unit) <= limit:
            pieces[-1] += unit
        else:
            pieces.append(unit)
    return [p.strip("\n").rstrip() for p in pieces if p.strip()]


def _units(text: str, limit: int) -> Iterable[str]:
    """Paragraphs, else lines, else words, else hard cuts; separators stay attached, so the units
    join back to exactly `text`."""
    for para in re.split(r"(?<=\n\n)", text):
        if len(para) <= limit:
            yield para
            continue
        for line in re.split(r"(?<=\n)", para):
            if len(line) <= limit:
                yield line
                continue
            for word in re.split(r"(?<= )", line):
                while len(word) > limit:  # one enormous "word" (a URL, a base64 blob)
                    cut = _safe_cut(word, limit)
                    yield word[:cut]
                    word = word[cut:]
                yield word


def _safe_cut(text: str, limit: int) -> int:
    """The cut position at or before `limit` that does not split an `&amp;`-style entity."""
    amp = text.rfind("&", max(0, limit - 4), limit)
    return amp if amp > 0 and ";" not in text[amp:limit] else limit


def mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text)


def section(text: str) -> SectionBlock:
    return SectionBlock(text=mrkdwn(text))


def context(text: str) -> ContextBlock:
    return ContextBlock(elements=[mrkdwn(text[:MAX_CONTEXT])])


def badge(answer: Answer) -> str:
    c = answer.confidence
    return messages.SLACK_BADGE.format(
        emoji=messages.LEVEL_EMOJI[c.level],
        label=messages.LEVEL_LABEL[c.level],
        score=c.score,
        decision=messages.DECISION_LABEL[answer.decision],
    )


def answer_text(answer: Answer) -> str:
    """The plain `text` that goes with the blocks (notifications, screen readers)."""
    c = answer.confidence
    return messages.SLACK_ANSWER_TEXT.format(
        emoji=messages.LEVEL_EMOJI[c.level],
        label=messages.LEVEL_LABEL[c.level],
        score=c.score,
        decision=messages.DECISION_LABEL[answer.decision],
    )


def required_lines(items: Sequence[RequiredItem]) -> str:
    if not items:
        return messages.REQUIRED_NONE
    return "\n".join(
        messages.SLACK_REQUIRED_ITEM.format(item=escape(r.item))
        + (messages.SLACK_REQUIRED_WHY.format(why=escape(r.why)) if r.why else "")
        for r in items
    )


def clip(text: str, limit: int) -> str:
    """`text` escaped and cut to at most `limit` characters (an ellipsis marks the cut)."""
    escaped = escape(" ".join(text.split()))
    if len(escaped) <= limit:
        return escaped
    return escaped[: _safe_cut(escaped, limit - 1)].rstrip() + "…"


def collect_block_id(request_id: str) -> str:
    return f"{ACTION_COLLECT}:{request_id}"


def collect_request_id(block_id: str) -> str | None:
    """The request id a checklist's block_id carries (`collect_block_id`), or None for another block."""
    prefix, sep, request_id = block_id.partition(":")
    return request_id if prefix == ACTION_COLLECT and sep and request_id else None


def checklist(items: Sequence[RequiredItem], request_id: str, checked: Collection[str] = ()) -> list[Block]:
    """ "Data to collect" as checkboxes, one option per item (value: its position), the `checked` ones
    ticked; items past Slack's 10 options follow as text lines. No items: the "nothing more" line."""
    if not items:
        return _titled(messages.REQUIRED_HEADING, messages.REQUIRED_NONE)
    options = [
        Option(
            value=str(i),
            text=mrkdwn(messages.SLACK_CHECKLIST_ITEM.format(item=clip(r.item, MAX_OPTION_TEXT - 2))),
            description=mrkdwn(messages.SLACK_CHECKLIST_WHY.format(why=clip(r.why, MAX_OPTION_TEXT - 2)))
            if r.why.strip()
            else None,
        )
        for i, r in enumerate(items[:MAX_CHECKBOXES])
    ]
    ticked = [o for o in options if o.value in checked]
    blocks: list[Block] = [
        section(f"*{messages.REQUIRED_HEADING}*"),
        ActionsBlock(
            block_id=collect_block_id(request_id),
            elements=[CheckboxesElement(action_id=ACTION_COLLECT, options=options, initial_options=ticked or None)],
        ),
    ]
    if len(items) > MAX_CHECKBOXES:
        blocks += [section(p) for p in split_text(required_lines(items[MAX_CHECKBOXES:]))]
    return blocks


def checked_blocks(blocks: Sequence[dict[str, Any]], checked: Collection[str]) -> list[dict[str, Any]]:
    """A message's blocks (as Slack sends them back) with the checklist's `checked` options ticked."""
    out: list[dict[str, Any]] = []
    for block in blocks:
        if block.get("type") == "actions" and collect_request_id(str(block.get("block_id", ""))):
            elements = []
            for element in block.get("elements") or []:
                if element.get("action_id") == ACTION_COLLECT:
                    element = {k: v for k, v in element.items() if k != "initial_options"}
                    ticked = [o for o in element.get("options") or [] if o.get("value") in checked]
                    if ticked:
                        element["initial_options"] = ticked
                elements.append(element)
            block = {**block, "elements": elements}
        out.append(block)
    return out


def source_line(source: Source, number: int | None = None) -> str:
    """One source: a bullet, or its footnote number when the draft cites it."""
    title = source.title + (f" › {source.section}" if source.section and source.section != source.title else "")
    title = escape(title).replace("|", "¦")
    if number is not None:
        return messages.SLACK_CITED_SOURCE_LINE.format(
            number=number, url=source.url, title=title, tier=source.tier.value, score=source.score
        )
    return messages.SLACK_SOURCE_LINE.format(url=source.url, title=title, tier=source.tier.value, score=source.score)


def source_lines(sources: Sequence[Source], numbers: dict[str, int] | None = None) -> str:
    if not sources:
        return messages.SLACK_SOURCES_NONE
    return "\n".join(source_line(s, (numbers or {}).get(s.chunk_id)) for s in sources)


def cited_draft(answer: Answer, numbers: dict[str, int]) -> str:
    """The escaped draft with a footnote after each cited claim, linked to the section it comes from."""
    urls = {n: s.url for s in answer.sources if (n := numbers.get(s.chunk_id)) is not None}

    def mark(n: int) -> str:
        return messages.SLACK_FOOTNOTE.format(url=urls[n], number=n) if urls.get(n) else f"[{n}]"

    return "".join(escape(text) + "".join(mark(n) for n in marks) for text, marks in footnoted(answer, numbers))


def _head(answer: Answer) -> list[Block]:
    blocks: list[Block] = [section(badge(answer))]
    if answer.confidence.reasons:
        blocks.append(context(" · ".join(escape(r) for r in answer.confidence.reasons)))
    if answer.degraded:
        blocks.append(context(messages.DEGRADED_NOTE.format(reasons=escape("; ".join(answer.degraded_reasons)))))
    return blocks


def _titled(title: str, body: str) -> list[Block]:
    pieces = split_text(f"*{title}*\n{body}")
    return [section(p) for p in pieces]


def _footer(answer: Answer, shared_by: str | None) -> ContextBlock:
    b = answer.backends
    text = messages.SLACK_FOOTER.format(
        request_id=answer.request_id,
        embedder=b.embedder,
        store=b.store,
        drafter=b.drafter,
        total_ms=answer.timings_ms.get("total", 0.0),
    )
    if shared_by:
        text = f"{messages.SLACK_SHARED_BY.format(user=shared_by)} · {text}"
    return context(text)


def action_buttons(request_id: str, *, share: bool = False, escalate: bool = True) -> ActionsBlock:
    elements = []
    if share:
        elements.append(
            ButtonElement(text=messages.BUTTON_SHARE, action_id=ACTION_SHARE, value=request_id, style="primary")
        )
    elements += [
        ButtonElement(text=messages.BUTTON_HELPFUL, action_id=ACTION_HELPFUL, value=request_id),
        ButtonElement(text=messages.BUTTON_NOT_HELPFUL, action_id=ACTION_NOT_HELPFUL, value=request_id),
    ]
    if escalate:
        elements.append(
            ButtonElement(text=messages.BUTTON_ESCALATE, action_id=ACTION_ESCALATE, value=request_id, style="danger")
        )
    return ActionsBlock(block_id=BLOCK_ACTIONS, elements=elements)


def answer_blocks(
    answer: Answer,
    *,
    view: str = "draft",
    share: bool = False,
    escalate_hint: bool = False,
    shared_by: str | None = None,
    checked: Collection[str] = (),
) -> list[Block]:
    """The full answer: badge, reasons, data to collect, draft (or holding reply), sources, buttons.

    `view="required"` leaves the draft out (`/kb required`); `share=True` adds "Share in channel"
    (private answers); `escalate_hint=True` says to press Escalate on an escalate decision (private
    answers do not escalate on their own); `checked`: the values of the ticked "Data to collect"
    options (they show ticked).
    """
    head = _head(answer)
    if escalate_hint and answer.decision == "escalate":
        head.append(context(messages.SLACK_PRIVATE_ESCALATE_HINT))
    required = [DividerBlock(), *checklist(answer.required_data, answer.request_id, checked)]
    numbers = footnote_numbers(answer) if view == "draft" else {}
    sources = [DividerBlock(), *_titled(messages.SOURCES_HEADING, source_lines(answer.sources, numbers))]
    tail: list[Block] = [_footer(answer, shared_by), action_buttons(answer.request_id, share=share)]
    draft: list[Block] = []
    if view == "draft":
        heading = messages.SLACK_HOLDING_HEADING if answer.decision == "escalate" else messages.DRAFT_HEADING
        draft = [DividerBlock(), *_titled(heading, cited_draft(answer, numbers))]
        room = MAX_BLOCKS - len(head) - len(required) - len(sources) - len(tail)
        if len(draft) > room:
            draft = draft[: room - 1] + [context(messages.SLACK_DRAFT_TRUNCATED)]
    blocks = head + required + draft + sources + tail
    if len(blocks) > MAX_BLOCKS:  # only with absurd numbers of required items or sources
        blocks = blocks[: MAX_BLOCKS - len(tail)] + tail
    return blocks


def search_blocks(query: str, sources: Sequence[Source]) -> list[Block]:
    heading = messages.SLACK_SEARCH_HEADING.format(query=escape(query[:200]))
    found: list[Block] = [section(p) for p in split_text(f"{heading}\n{source_lines(sources)}")]
    return found[:MAX_BLOCKS]


def search_text(query: str, sources: Sequence[Source]) -> str:
    return messages.SLACK_SEARCH_TEXT.format(count=len(sources), query=query[:200])


def help_blocks() -> list[Block]:
    return [section(messages.SLACK_HELP)]


def feedback_modal(request_id: str, private_metadata: str) -> View:
    """The 👎 modal: which problems (checkboxes) and free text; both optional."""
    return View(
        type="modal",
        callback_id=FEEDBACK_MODAL,
        private_metadata=private_metadata,
        title=PlainTextObject(text=messages.FEEDBACK_MODAL_TITLE),
        submit=PlainTextObject(text=messages.FEEDBACK_MODAL_SUBMIT),
        close=PlainTextObject(text=messages.FEEDBACK_MODAL_CLOSE),
        blocks=[
            section(messages.FEEDBACK_MODAL_INTRO.format(request_id=request_id)),
            InputBlock(
                block_id=INPUT_PROBLEMS,
                optional=True,
                label=messages.FEEDBACK_MODAL_PROBLEMS,
                element=CheckboxesElement(
                    action_id=INPUT_PROBLEMS,
                    options=[
                        Option(value=k, text=PlainTextObject(text=v)) for k, v in messages.FEEDBACK_PROBLEMS.items()
                    ],
                ),
            ),
            InputBlock(
                block_id=INPUT_COMMENT,
                optional=True,
                label=messages.FEEDBACK_MODAL_COMMENT,
                element=PlainTextInputElement(action_id=INPUT_COMMENT, multiline=True, max_length=2000),
            ),
        ],
    )


def mention(who: str | None) -> str | None:
    """`S…` (a user group) → `<!subteam^S…>`, `U…`/`W…` (a user) → `<@U…>`; ready-made mentions pass."""
    if not who:
        return None
    who = who.strip()
    if who.startswith("<"):
        return who
    if who.startswith("S"):
        return f"<!subteam^{who}>"
    return f"<@{who}>"


def escalation_blocks(
    answer: Answer,
    *,
    ticket: str,
    user: str,
    channel: str | None,
    permalink: str | None,
    trigger: str,
    triggered_by: str,
    mention_text: str | None,
    escalation_id: int,
) -> list[Block]:
    """The packet in the escalation channel: who to ping, the ticket, what the KB had, a Claim button."""
    summary = escape(" ".join(ticket.split())[:600])
    how = (
        messages.ESCALATION_TRIGGER_AUTO
        if trigger == "auto"
        else messages.ESCALATION_TRIGGER_BUTTON.format(user=triggered_by)
    )
    if channel and permalink:
        where = messages.ESCALATION_FROM_THREAD.format(user=user, channel=channel, trigger=how, permalink=permalink)
    else:
        where = messages.ESCALATION_FROM_PRIVATE.format(user=user, trigger=how)
    reasons = "\n".join(f"• {escape(r)}" for r in answer.confidence.reasons) or "•"
    blocks: list[Block] = [
        HeaderBlock(text=messages.ESCALATION_HEADER),
        section(
            messages.ESCALATION_INTRO.format(mention=mention_text) if mention_text else messages.ESCALATION_INTRO_NOBODY
        ),
        section(messages.ESCALATION_TICKET.format(summary="> " + summary)),
        section(where),
        *[section(p) for p in split_text(messages.ESCALATION_CONFIDENCE.format(badge=badge(answer), reasons=reasons))],
        *[section(p) for p in split_text(messages.ESCALATION_SOURCES.format(sources=source_lines(answer.sources)))],
        *[
            section(p)
            for p in split_text(messages.ESCALATION_MISSING.format(items=required_lines(answer.required_data)))
        ],
        context(
            messages.SLACK_FOOTER.format(
                request_id=answer.request_id,
                embedder=answer.backends.embedder,
                store=answer.backends.store,
                drafter=answer.backends.drafter,
                total_ms=answer.timings_ms.get("total", 0.0),
            )
        ),
        ActionsBlock(
            block_id=BLOCK_CLAIM,
            elements=[
                ButtonElement(
                    text=messages.BUTTON_CLAIM, action_id=ACTION_CLAIM, value=str(escalation_id), style="primary"
                ),
            ],
        ),
    ]
    return blocks[:MAX_BLOCKS]


def claimed_blocks(blocks: Sequence[dict[str, object]], escalation: Escalation) -> list[dict[str, object]]:
    """The escalation post after a claim: the Claim button replaced by who took it."""
    kept = [b for b in blocks if b.get("block_id") != BLOCK_CLAIM]
    kept.append(context(messages.ESCALATION_CLAIMED.format(user=escalation.claimed_by)).to_dict())
    return kept


def home_view(stats: Stats) -> View:
    """App Home: how to use the bot and the last days' figures."""
    figures = messages.HOME_STATS.format(
        answers=stats.answers,
        high=stats.by_level.get("high", 0),
        medium=stats.by_level.get("medium", 0),
        low=stats.by_level.get("low", 0),
        escalations=stats.escalations,
        claimed=stats.claimed,
        helpful=stats.helpful,
        not_helpful=stats.not_helpful,
    )
    return View(
        type="home",
        blocks=[
            HeaderBlock(text=messages.HOME_TITLE),
            section(messages.HOME_USAGE),
            DividerBlock(),
            section(f"{messages.HOME_STATS_HEADING.format(days=stats.days)}\n{figures}"),
        ],
    )


def to_dicts(blocks: Sequence[Block]) -> list[dict[str, object]]:
    return [b.to_dict() for b in blocks]
