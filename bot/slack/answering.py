"""The answer flow every door shares: placeholder first, the engine, then the same message updated.

    await answer_in_thread(deps, client, channel="C1", thread_ts="1.2", user="U1", text=ticket, door="mention")
    await answer_privately(deps, respond, channel="C1", user="U1", text=ticket, view="draft")

Thread answers low in confidence escalate on their own; private ones (slash commands, DMs) offer
the Escalate button instead, so nothing leaves a private conversation unless the agent asks.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.records import AnswerRecord
from bot.slack.blocks import answer_blocks, answer_text, to_dicts
from bot.slack.deps import SlackDeps
from bot.slack.escalation import LINKABLE_DOORS, escalate
from rag.errors import KBError
from rag.models import Answer, Ticket, Turn

log = logging.getLogger(__name__)

MAX_TICKET = 20_000  # Ticket.ticket's limit

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")


def plain_text(text: str, *, bot_user_id: str | None = None) -> str:
    """Slack's message markup → the words a customer wrote: our own mention dropped, links and
    mentions replaced by their labels, entities unescaped."""

    def label(m: re.Match[str]) -> str:
        target, text = m.group(1), m.group(2)
        if bot_user_id and target == f"@{bot_user_id}":
            return ""
        if text:
            return f"#{text}" if target.startswith("#") else text
        if target.startswith("mailto:"):
            return target[len("mailto:") :]
        if target.startswith(("@", "#", "!")):
            return target
        return target

    text = _LINK.sub(label, text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return "\n".join(line.rstrip() for line in text.strip().splitlines()).strip()


def message_text(message: Mapping[str, Any], *, bot_user_id: str | None = None) -> str:
    """A message's text plus its attachments' text (forwarded e-mails, helpdesk integrations)."""
    parts = [str(message.get("text") or "")]
    for att in message.get("attachments") or []:
        parts += [str(att.get(k) or "") for k in ("pretext", "title", "text")]
    return plain_text("\n".join(p for p in parts if p), bot_user_id=bot_user_id)


def ticket_text(earlier: Iterable[str], current: str) -> str:
    """The people's side of a conversation, the new message last, cut to the engine's limit: what an
    answer's record keeps as its ticket (the escalation packet shows it). The engine gets turns."""
    context = "\n\n".join(t for t in earlier if t)
    if not context:
        return current[:MAX_TICKET]
    room = MAX_TICKET - len(current) - 2
    if room <= 0:
        return current[:MAX_TICKET]
    return f"{context[:room]}\n\n{current}".strip()


def new_request_id() -> str:
    return uuid.uuid4().hex


async def run_engine(
    deps: SlackDeps, text: str, request_id: str, *, view: str = "draft", history: Sequence[Turn] = ()
) -> Answer:
    """The engine's answer; `view="required"` only computes the data to collect (no draft is written).

    `history`: the earlier turns of the thread or DM, when `text` follows up on them."""
    ticket = Ticket(ticket=text[:MAX_TICKET], history=list(history))
    async with deps.background.engine_slots:
        if view == "required":
            return await deps.engine.required(ticket, request_id=request_id)
        return await deps.engine.answer(ticket, request_id=request_id)


def error_text(exc: Exception, request_id: str) -> str:
    shown = str(exc) if isinstance(exc, KBError) else messages.SLACK_INTERNAL_ERROR
    return messages.SLACK_ERROR.format(error=shown, request_id=request_id)


async def answer_in_thread(
    deps: SlackDeps,
    client: AsyncWebClient,
    *,
    channel: str,
    thread_ts: str | None,
    user: str,
    text: str,
    door: str,
    request_id: str | None = None,
    history: Sequence[Turn] = (),
) -> Answer | None:
    """Post "working on it" in the thread, answer, update that message in place; escalate when low.

    `thread_ts=None` answers at the top level (a direct message that is not in a thread). `history`
    is the conversation `text` follows up on (bot/slack/threads.py), oldest first.
    """
    request_id = request_id or new_request_id()
    started = time.perf_counter()
    placeholder = await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=messages.SLACK_WORKING)
    ts = str(placeholder["ts"])
    try:
        answer = await run_engine(deps, text, request_id, history=history)
    except Exception as exc:
        await client.chat_update(channel=channel, ts=ts, text=error_text(exc, request_id), blocks=[])
        if isinstance(exc, KBError):
            log.warning("slack %s request_id=%s failed: %s", door, request_id, exc)
            return None
        raise
    asked = ticket_text([t.text for t in history if t.role != "bot"], text)
    record = AnswerRecord(
        answer=answer, ticket=asked, user=user, door=door, channel=channel, thread_ts=thread_ts, message_ts=ts
    )
    await record_answer(deps, record)  # before the buttons show: a quick click must find it
    await client.chat_update(
        channel=channel,
        ts=ts,
        text=answer_text(answer),
        blocks=to_dicts(answer_blocks(answer, escalate_hint=door not in LINKABLE_DOORS)),
    )
    log.info(
        "slack answer door=%s request_id=%s channel=%s decision=%s elapsed_ms=%.0f",
        door,
        request_id,
        channel,
        answer.decision,
        (time.perf_counter() - started) * 1000,
    )
    if answer.decision == "escalate" and door in LINKABLE_DOORS:
        await escalate(deps, client, record, trigger="auto", by_user=user)
    return answer


async def record_answer(deps: SlackDeps, record: AnswerRecord) -> None:
    """Keep the answer's record; a records store that fails (a database away) costs the record, not
    the answer: it is shown all the same, as the HTTP API does, and the loss is logged."""
    try:
        await asyncio.to_thread(deps.store.record_answer, record)  # off the loop: PostgreSQL is a round trip
    except Exception:
        log.exception("slack: could not record answer request_id=%s", record.request_id)


async def answer_privately(
    deps: SlackDeps,
    respond: AsyncRespond,
    *,
    channel: str,
    user: str,
    text: str,
    view: str,
) -> Answer | None:
    """A slash command's answer: ephemeral through the response_url, replacing the "working" note."""
    request_id = new_request_id()
    try:
        answer = await run_engine(deps, text, request_id, view=view)
    except Exception as exc:
        await respond(text=error_text(exc, request_id), response_type="ephemeral", replace_original=True)
        if isinstance(exc, KBError):
            log.warning("slack command request_id=%s failed: %s", request_id, exc)
            return None
        raise
    record = AnswerRecord(answer=answer, ticket=text, user=user, door="command", view=view, channel=channel)
    await record_answer(deps, record)
    shown = answer_blocks(answer, view=view, share=True, escalate_hint=True)
    await respond(text=answer_text(answer), blocks=to_dicts(shown), response_type="ephemeral", replace_original=True)
    log.info("slack answer door=command view=%s request_id=%s decision=%s", view, request_id, answer.decision)
    return answer
