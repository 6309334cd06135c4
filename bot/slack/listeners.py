"""Slack listeners, grouped by door: each `register_*` adds its handlers to an AsyncApp.

    app = AsyncApp(..., process_before_response=True)
    register(app, deps)     # mentions, thread follow-ups, DMs, /kb, the shortcut, buttons, the modal, App Home

Every listener acknowledges first and hands the rest to `deps.background`, then returns: Bolt
sends Slack its 200 (or the Socket Mode ack) right away. The work then posts a placeholder in the
thread and updates it in place, or replaces the ephemeral "working" note through the response_url.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import messages
from bot.records import AnswerRecord
from bot.slack import blocks as kb_blocks
from bot.slack.answering import answer_in_thread, answer_privately, message_text, plain_text
from bot.slack.deps import SEEN_TTL_S, SlackDeps
from bot.slack.escalation import LINKABLE_DOORS, claim, escalate
from bot.slack.home import home_view
from bot.slack.threads import HUMAN_SUBTYPES, BotIds, Conversation, closing, read_dm, read_thread

log = logging.getLogger(__name__)

Body = dict[str, Any]
NOT_IN_CHANNEL = ("not_in_channel", "channel_not_found", "is_archived")


def register(app: AsyncApp, deps: SlackDeps) -> None:
    register_events(app, deps)
    register_commands(app, deps)
    register_shortcuts(app, deps)
    register_actions(app, deps)
    register_home(app, deps)


async def _tell(respond: AsyncRespond, text: str) -> None:
    await respond(text=text, response_type="ephemeral", replace_original=False)


# --- events: @kb in channels and threads, follow-ups in joined threads, direct messages -------------
# Door names: mention (@kb), thread (a follow-up without a mention in a thread the bot answered in),
# dm (a direct message). Slack sends a mention in a channel twice, as app_mention and as message:
# the message listener leaves mentions to app_mention, and both claim the message (channel, ts) once.
async def _answer_event(
    deps: SlackDeps, client: AsyncWebClient, context: AsyncBoltContext, event: Body, *, thread_ts: str | None, door: str
) -> None:
    """Read the conversation `event` belongs to, then answer it in its thread with that history."""
    if not await _first_time(deps, event):  # here, after the ack: the ack does not wait for Redis
        return
    channel, ts = event["channel"], event["ts"]
    me = BotIds(context.bot_user_id, context.bot_id)
    parent = str(event["thread_ts"]) if event.get("thread_ts") and event["thread_ts"] != ts else None
    convo = Conversation()
    try:
        if door == "dm":
            convo = await read_dm(client, deps.store, channel=channel, thread_ts=parent, before_ts=ts, me=me)
        elif parent:
            convo = await read_thread(client, deps.store, channel=channel, thread_ts=parent, before_ts=ts, me=me)
    except SlackApiError as exc:
        log.warning("reading the conversation in %s failed: %s", channel, exc.response.get("error"))
        if door == "thread":
            return  # without the thread we cannot tell whether we were in it: stay quiet
    if door == "thread" and (not convo.joined or convo.stopped):
        why = "told to stop" if convo.joined else "not joined"
        log.debug("slack: follow-up in %s/%s not answered (%s)", channel, parent, why)
        return
    text = plain_text(event.get("text", ""), bot_user_id=context.bot_user_id)
    history = convo.turns
    if not text:  # "@kb" alone: the latest human message is the ticket, what came before its history
        asked = [i for i, t in enumerate(history) if t.role != "bot"]
        if not asked:
            if door == "mention":
                await client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=messages.SLACK_EMPTY_MENTION)
            return
        text, history = history[asked[-1]].text, history[: asked[-1]]
    await answer_in_thread(
        deps, client, channel=channel, thread_ts=thread_ts, user=event["user"], text=text, door=door, history=history
    )


async def _first_time(deps: SlackDeps, event: Body) -> bool:
    """Claim one message for one answer, whichever of app_mention and message arrives first (on any replica)."""
    return await deps.shared.first_time(f"slack:message:{event.get('channel')}:{event.get('ts')}", SEEN_TTL_S)


def register_events(app: AsyncApp, deps: SlackDeps) -> None:
    @app.event("app_mention")
    async def on_mention(ack: AsyncAck, event: Body, context: AsyncBoltContext, client: AsyncWebClient) -> None:
        await ack()
        if event.get("bot_id") or not event.get("user"):
            return  # other bots (our own are dropped by Bolt's IgnoringSelfEvents)
        if closing(plain_text(event.get("text", ""), bot_user_id=context.bot_user_id)):
            return  # "@kb thanks", "@kb stop": nothing to answer
        thread_ts = event.get("thread_ts") or event["ts"]
        deps.background.spawn(
            _answer_event(deps, client, context, event, thread_ts=thread_ts, door="mention"), what="app_mention"
        )

    @app.event("message")
    async def on_message(ack: AsyncAck, event: Body, context: AsyncBoltContext, client: AsyncWebClient) -> None:
        await ack()
        me = BotIds(context.bot_user_id, context.bot_id)
        if (
            event.get("subtype") not in HUMAN_SUBTYPES
            or event.get("bot_id")
            or not event.get("user")
            or me.wrote(event)
        ):
            return  # edits, deletes, joins, bots' messages (ours included)
        kind, thread_ts = event.get("channel_type"), event.get("thread_ts")
        if kind == "im":
            door = "dm"
        elif kind in ("channel", "group") and thread_ts and thread_ts != event["ts"]:
            if me.mentioned_in(event.get("text") or ""):
                return  # app_mention answers it
            door = "thread"
        else:
            return  # top-level channel messages: only a mention starts a conversation
        if closing(message_text(event, bot_user_id=context.bot_user_id)):
            return  # "thanks", "ok 👍", "stop": not a question
        deps.background.spawn(
            _answer_event(deps, client, context, event, thread_ts=thread_ts, door=door), what=f"message.{kind}"
        )


# --- /kb draft | required | search | help ------------------------------------------------------
def register_commands(app: AsyncApp, deps: SlackDeps) -> None:
    async def search(query: str, respond: AsyncRespond) -> None:
        async with deps.background.engine_slots:
            sources = await deps.engine.search(query, top_k=deps.settings.kb_top_k)
        await respond(
            text=kb_blocks.search_text(query, sources),
            blocks=kb_blocks.to_dicts(kb_blocks.search_blocks(query, sources)),
            response_type="ephemeral",
            replace_original=True,
        )

    @app.command("/kb")
    async def on_kb(ack: AsyncAck, command: Body, respond: AsyncRespond) -> None:
        text = (command.get("text") or "").strip()
        sub, _, rest = text.partition(" ")
        sub = sub.lower()
        if sub not in ("draft", "required", "search", "help"):
            sub, rest = "draft", text  # `/kb <ticket>` drafts
        rest = rest.strip()
        if sub == "help" or not rest:
            await ack(text=messages.SLACK_HELP, blocks=kb_blocks.help_blocks())
            return
        await ack(text=messages.SLACK_WORKING)
        if sub == "search":
            deps.background.spawn(search(rest, respond), what="/kb search", respond=respond)
            return
        deps.background.spawn(
            answer_privately(
                deps, respond, channel=command["channel_id"], user=command["user_id"], text=rest, view=sub
            ),
            what=f"/kb {sub}",
        )


# --- message shortcut "Draft reply from KB" -----------------------------------------------------
def register_shortcuts(app: AsyncApp, deps: SlackDeps) -> None:
    async def draft(shortcut: Body, context: AsyncBoltContext, client: AsyncWebClient, respond: AsyncRespond) -> None:
        message = shortcut["message"]
        text = message_text(message, bot_user_id=context.bot_user_id)
        if not text:
            await _tell(respond, messages.SLACK_EMPTY_MESSAGE)
            return
        try:
            await answer_in_thread(
                deps,
                client,
                channel=shortcut["channel"]["id"],
                thread_ts=message.get("thread_ts") or message["ts"],
                user=shortcut["user"]["id"],
                text=text,
                door="shortcut",
            )
        except SlackApiError as exc:
            if exc.response.get("error") not in NOT_IN_CHANNEL:
                raise
            await _tell(respond, messages.SLACK_NOT_IN_CHANNEL)

    @app.message_shortcut(kb_blocks.SHORTCUT_DRAFT)
    async def on_draft_shortcut(
        ack: AsyncAck, shortcut: Body, context: AsyncBoltContext, client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        deps.background.spawn(draft(shortcut, context, client, respond), what="shortcut", respond=respond)


# --- buttons and the feedback modal --------------------------------------------------------------
def _value(body: Body) -> str:
    return str(body["actions"][0]["value"])


def register_actions(app: AsyncApp, deps: SlackDeps) -> None:
    store = deps.store

    async def helpful(body: Body, respond: AsyncRespond) -> None:
        request_id = _value(body)
        await asyncio.to_thread(store.add_feedback, request_id, user=body["user"]["id"], verdict="helpful")
        await _tell(respond, messages.SLACK_FEEDBACK_THANKS.format(request_id=request_id))

    async def not_helpful(body: Body, client: AsyncWebClient) -> None:
        request_id = _value(body)
        feedback_id = await asyncio.to_thread(
            store.add_feedback, request_id, user=body["user"]["id"], verdict="not_helpful"
        )
        meta = json.dumps({"request_id": request_id, "feedback_id": feedback_id})
        await client.views_open(trigger_id=body["trigger_id"], view=kb_blocks.feedback_modal(request_id, meta))

    async def escalate_clicked(body: Body, client: AsyncWebClient, respond: AsyncRespond) -> None:
        request_id = _value(body)
        record = await asyncio.to_thread(store.answer, request_id)
        if record is None:
            await _tell(respond, messages.SLACK_UNKNOWN_REQUEST.format(request_id=request_id))
            return
        note = await escalate(deps, client, record, trigger="button", by_user=body["user"]["id"])
        if note:
            await _tell(respond, note)

    async def share(body: Body, respond: AsyncRespond) -> None:
        request_id = _value(body)
        record = await asyncio.to_thread(store.answer, request_id)
        if record is None:
            await _tell(respond, messages.SLACK_UNKNOWN_REQUEST.format(request_id=request_id))
            return
        shared = kb_blocks.answer_blocks(record.answer, view=record.view, shared_by=body["user"]["id"])
        await respond(
            text=kb_blocks.answer_text(record.answer),
            blocks=kb_blocks.to_dicts(shared),
            response_type="in_channel",
            replace_original=False,
        )
        await respond(delete_original=True)

    async def claim_clicked(body: Body, client: AsyncWebClient, respond: AsyncRespond) -> None:
        container = body.get("container") or {}
        note = await claim(
            deps,
            client,
            escalation_id=int(_value(body)),
            user=body["user"]["id"],
            channel=container.get("channel_id") or body["channel"]["id"],
            message_ts=container.get("message_ts") or body["message"]["ts"],
            blocks=(body.get("message") or {}).get("blocks") or [],
        )
        if note:
            await _tell(respond, note)

    def rendered(record: AnswerRecord, checked: list[str]) -> list[dict[str, Any]]:
        """The answer as its door first showed it, with `checked` ticked in "Data to collect"."""
        answer = record.answer
        if record.door == "command":
            shown = kb_blocks.answer_blocks(answer, view=record.view, share=True, escalate_hint=True, checked=checked)
        else:
            shown = kb_blocks.answer_blocks(answer, escalate_hint=record.door not in LINKABLE_DOORS, checked=checked)
        return kb_blocks.to_dicts(shown)

    async def collect_ticked(body: Body, client: AsyncWebClient, respond: AsyncRespond) -> None:
        """Keep the checklist's ticks: the message updated with them as the checkboxes' initial_options.

        A message Slack sends back keeps its blocks (shared answers keep "Shared by"); an ephemeral
        answer comes without them and is rendered again from its stored record."""
        action = body["actions"][0]
        checked = [str(o.get("value")) for o in action.get("selected_options") or []]
        container = body.get("container") or {}
        message = body.get("message") or {}
        if container.get("is_ephemeral") or not message.get("blocks"):
            request_id = kb_blocks.collect_request_id(str(action.get("block_id", ""))) or ""
            record = await asyncio.to_thread(store.answer, request_id) if request_id else None
            if record is None:
                await _tell(respond, messages.SLACK_UNKNOWN_REQUEST.format(request_id=request_id))
                return
            text, blocks = kb_blocks.answer_text(record.answer), rendered(record, checked)
        else:
            text, blocks = str(message.get("text") or ""), kb_blocks.checked_blocks(message["blocks"], checked)
        if container.get("is_ephemeral"):
            await respond(text=text, blocks=blocks, response_type="ephemeral", replace_original=True)
            return
        await client.chat_update(
            channel=container.get("channel_id") or body["channel"]["id"],
            ts=container.get("message_ts") or message["ts"],
            text=text,
            blocks=blocks,
        )

    @app.action(kb_blocks.ACTION_COLLECT)
    async def on_collect(ack: AsyncAck, body: Body, client: AsyncWebClient, respond: AsyncRespond) -> None:
        await ack()
        deps.background.spawn(collect_ticked(body, client, respond), what="checklist", respond=respond)

    @app.action(kb_blocks.ACTION_HELPFUL)
    async def on_helpful(ack: AsyncAck, body: Body, respond: AsyncRespond) -> None:
        await ack()
        deps.background.spawn(helpful(body, respond), what="helpful", respond=respond)

    @app.action(kb_blocks.ACTION_NOT_HELPFUL)
    async def on_not_helpful(ack: AsyncAck, body: Body, client: AsyncWebClient, respond: AsyncRespond) -> None:
        await ack()  # views.open must follow within 3 s of the click (trigger_id), so it is not queued
        deps.background.spawn(not_helpful(body, client), what="not helpful", respond=respond)

    @app.action(kb_blocks.ACTION_ESCALATE)
    async def on_escalate(ack: AsyncAck, body: Body, client: AsyncWebClient, respond: AsyncRespond) -> None:
        await ack()
        deps.background.spawn(escalate_clicked(body, client, respond), what="escalate", respond=respond)

    @app.action(kb_blocks.ACTION_SHARE)
    async def on_share(ack: AsyncAck, body: Body, respond: AsyncRespond) -> None:
        await ack()
        deps.background.spawn(share(body, respond), what="share", respond=respond)

    @app.action(kb_blocks.ACTION_CLAIM)
    async def on_claim(ack: AsyncAck, body: Body, client: AsyncWebClient, respond: AsyncRespond) -> None:
        await ack()
        deps.background.spawn(claim_clicked(body, client, respond), what="claim", respond=respond)

    @app.view(kb_blocks.FEEDBACK_MODAL)
    async def on_feedback_modal(ack: AsyncAck, body: Body, view: Body) -> None:
        await ack()  # closes the modal; the SQLite update below takes a millisecond
        meta = json.loads(view.get("private_metadata") or "{}")
        values = view.get("state", {}).get("values", {})
        picked = values.get(kb_blocks.INPUT_PROBLEMS, {}).get(kb_blocks.INPUT_PROBLEMS, {}).get("selected_options")
        comment = values.get(kb_blocks.INPUT_COMMENT, {}).get(kb_blocks.INPUT_COMMENT, {}).get("value") or ""
        problems = [o["value"] for o in picked or []]
        if not await asyncio.to_thread(
            store.add_comment,
            int(meta.get("feedback_id", 0)),
            user=body["user"]["id"],
            problems=problems,
            comment=comment.strip(),
        ):
            log.warning("feedback modal for request_id=%s matched no feedback row", meta.get("request_id"))


# --- App Home ----------------------------------------------------------------------------------
def register_home(app: AsyncApp, deps: SlackDeps) -> None:
    async def publish(user: str, client: AsyncWebClient) -> None:
        await client.views_publish(user_id=user, view=await home_view(deps))

    @app.event("app_home_opened")
    async def on_home(ack: AsyncAck, event: Body, client: AsyncWebClient) -> None:
        await ack()
        if event.get("tab", "home") == "home":
            deps.background.spawn(publish(event["user"], client), what="app_home_opened")
