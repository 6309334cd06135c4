"""Hand a ticket to humans: a packet in KB_ESCALATION_CHANNEL, a note where it was asked, Claim.

    note = await escalate(deps, client, record, trigger="auto", by_user="U1")
    # note is None when it was posted in the thread; otherwise tell the asker privately

The packet mentions KB_ESCALATION_MENTION (a user group `S…` or a user `U…`) and carries the ticket
summary, what the KB had (badge, reasons, sources tried), the missing data, a link to the thread
(chat.getPermalink) and a Claim button. Each request escalates at most once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.records import AnswerRecord, Trigger
from bot.slack.blocks import claimed_blocks, escalation_blocks, mention, to_dicts
from bot.slack.deps import SlackDeps

log = logging.getLogger(__name__)

LINKABLE_DOORS = ("mention", "thread", "shortcut")  # answers in channel threads the escalation team can open


async def escalate(
    deps: SlackDeps, client: AsyncWebClient, record: AnswerRecord, *, trigger: Trigger, by_user: str
) -> str | None:
    """Escalate `record`; return the note when it has no public place to go (a private answer)."""
    settings = deps.settings
    note_channel = record.channel if record.door != "command" else None
    target = settings.kb_escalation_channel
    if not target:
        log.warning("escalation of request_id=%s skipped: KB_ESCALATION_CHANNEL is not set", record.request_id)
        return await _note(client, note_channel, record.thread_ts, messages.THREAD_ESCALATION_OFF)
    escalation_id = await asyncio.to_thread(
        deps.store.add_escalation,
        request_id=record.request_id,
        trigger=trigger,
        requested_by=by_user,
        channel=note_channel,
        thread_ts=record.thread_ts,
        escalation_channel=target,
    )
    if escalation_id is None:
        return messages.ESCALATION_ALREADY
    permalink = None
    if record.door in LINKABLE_DOORS and record.channel and record.thread_ts:
        permalink = await _permalink(client, record.channel, record.thread_ts)
    who = mention(settings.kb_escalation_mention)
    blocks = escalation_blocks(
        record.answer,
        ticket=record.ticket,
        user=record.user,
        channel=record.channel,
        permalink=permalink,
        trigger=trigger,
        triggered_by=by_user,
        mention_text=who,
        escalation_id=escalation_id,
    )
    try:
        post = await client.chat_postMessage(
            channel=target,
            blocks=to_dicts(blocks),
            text=messages.ESCALATION_TEXT.format(user=record.user, request_id=record.request_id),
        )
    except SlackApiError:
        await asyncio.to_thread(deps.store.drop_escalation, escalation_id)
        raise
    await asyncio.to_thread(deps.store.set_escalation_ts, escalation_id, str(post["ts"]))
    log.info(
        "escalated request_id=%s trigger=%s to=%s escalation_id=%s", record.request_id, trigger, target, escalation_id
    )
    note = messages.THREAD_ESCALATED.format(who=who or messages.THREAD_ESCALATED_NOBODY, channel=target)
    return await _note(client, note_channel, record.thread_ts, note)


async def claim(
    deps: SlackDeps,
    client: AsyncWebClient,
    *,
    escalation_id: int,
    user: str,
    channel: str,
    message_ts: str,
    blocks: Sequence[dict[str, object]],
) -> str | None:
    """Record who took an escalation, show it on the packet and in the thread; else say who has it."""
    ok, holder = await asyncio.to_thread(deps.store.claim, escalation_id, user)
    escalation = await asyncio.to_thread(deps.store.escalation, escalation_id)
    if not ok or escalation is None:
        return messages.ESCALATION_ALREADY_CLAIMED.format(user=holder) if holder else messages.ESCALATION_ALREADY
    await client.chat_update(
        channel=channel,
        ts=message_ts,
        blocks=claimed_blocks(blocks, escalation),
        text=messages.ESCALATION_CLAIMED.format(user=user),
    )
    log.info("escalation_id=%s request_id=%s claimed by %s", escalation_id, escalation.request_id, user)
    if escalation.channel:
        await _note(client, escalation.channel, escalation.thread_ts, messages.THREAD_CLAIMED.format(user=user))
    return None


async def _permalink(client: AsyncWebClient, channel: str, ts: str) -> str | None:
    try:
        resp = await client.chat_getPermalink(channel=channel, message_ts=ts)
    except SlackApiError as exc:
        log.warning("chat.getPermalink failed for %s/%s: %s", channel, ts, exc.response.get("error"))
        return None
    return str(resp["permalink"])


async def _note(client: AsyncWebClient, channel: str | None, thread_ts: str | None, text: str) -> str | None:
    if channel is None:
        return text
    await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
    return None
