"""Conversations: a thread's or a direct message's earlier messages as `Turn`s, whether the bot has
joined a thread, and the short replies that never start an answer.

    me = BotIds(user_id="UBOT", bot_id="BKB")
    convo = await read_thread(client, store, channel="C1", thread_ts="1.1", before_ts="1.9", me=me)
    convo.joined, convo.stopped, convo.turns        # answered here before? told to stop? what was said
    convo = await read_dm(client, store, channel="D1", thread_ts=None, before_ts="1.9", me=me)
    closing("ok thanks 👍")                           # "thanks": not a question, nothing to answer

Roles: the conversation's first human message is the ticket (`customer`: a pasted ticket, or what
a helpdesk integration posted as the thread's parent), later human messages are the agents'
(`agent`), and the bot's own answers are `bot`, with their draft as text (found in the records by
the request id on the answer's buttons). Other bots' replies, the bot's notes (placeholders,
escalation notes) and closing words ("thanks", "stop") are not turns.

The bot has *joined* a thread when it has replied in it: a follow-up there is answered without a
mention. A thread the bot only started (an escalation packet) is not joined. A "stop" after the
bot's last reply leaves the thread until someone mentions it again.

A direct-message conversation is the run of top-level messages without a pause longer than
DM_GAP_S; a reply in the thread of one of the bot's DM answers reads that run too, up to the answer.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.answering import message_text
from bot.slack.blocks import ACTION_HELPFUL
from rag.models import MAX_HISTORY, Turn

log = logging.getLogger(__name__)

Closing = Literal["stop", "thanks"]
Message = Mapping[str, Any]


class Answers(Protocol):
    """The one thing read from the records store: an answer by its request id."""

    def answer(self, request_id: str) -> Any: ...


THREAD_PAGE = 200  # conversations.replies page size
THREAD_PAGES = 5  # at most 1,000 messages of a thread are read
DM_LIMIT = 30  # top-level messages of a direct message read back
DM_GAP_S = 30 * 60  # a pause this long ends a direct-message conversation
MAX_TURNS = 30  # the first turn and the latest ones (Ticket.history allows MAX_HISTORY)
TURN_CHARS = 4_000  # of one turn
HUMAN_SUBTYPES = (None, "thread_broadcast", "file_share")  # subtypes that are still a person's message

# --- closing words: "thanks", "ok 👍", "stop" ------------------------------------------------------
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_SHORTCODE = re.compile(r":[a-z0-9_+'-]+:")
ACK_WORDS = frozenset(
    """thanks thank thx thnx tks ty tyvm ta cheers you so much very lot a many ok okay k kk oki great perfect
    awesome cool nice good fine excellent brilliant wonderful amazing super got it understood makes sense that
    that's thats it's this helps helped helpful all sounds will do done solved resolved fixed worked works
    yes yep yup yeah no nope sure lol np worries noted gotcha right alright nevermind never mind nvm
    appreciated appreciate again for help kb bot""".split()
)
STOP_WORDS = frozenset("stop quiet shush shh hush mute enough away".split())
STOP_FILLER = ACK_WORDS | frozenset(
    "please pls now here answering replying responding go be just can in the thread talking".split()
)
CLOSING_MAX_WORDS = 8


def closing(text: str) -> Closing | None:
    """`thanks` for an acknowledgement ("thanks!", "ok got it", "👍", ":pray:"), `stop` for a request
    to stop ("stop", "please stop answering"), None for anything worth an answer."""
    if not text.strip():
        return None
    lowered = _SHORTCODE.sub(" ", text.lower().replace("’", "'"))
    words = _WORD.findall(lowered)
    if not words:
        return "thanks"  # emoji or punctuation only
    if len(words) > CLOSING_MAX_WORDS:
        return None
    if any(w in STOP_WORDS for w in words) and all(w in STOP_FILLER or w in STOP_WORDS for w in words):
        return "stop"
    if all(w in ACK_WORDS for w in words):
        return "thanks"
    return None


# --- reading a conversation ------------------------------------------------------------------------
@dataclass(frozen=True)
class BotIds:
    """Who "we" are in Slack: the bot's user id (`U…`) and bot id (`B…`)."""

    user_id: str | None
    bot_id: str | None

    def wrote(self, message: Message) -> bool:
        return bool(
            (self.user_id and message.get("user") == self.user_id)
            or (self.bot_id and message.get("bot_id") == self.bot_id)
        )

    def mentioned_in(self, text: str) -> bool:
        return bool(self.user_id) and f"<@{self.user_id}>" in text


@dataclass
class Conversation:
    turns: list[Turn] = field(default_factory=list)  # earlier messages, oldest first
    joined: bool = False  # the bot has replied in this thread
    stopped: bool = False  # someone said "stop" after the bot's last reply


@dataclass
class _Entry:
    who: Literal["human", "bot", "ticket"]  # ticket: another app's post that starts the thread
    text: str  # "" when there is nothing to read (our placeholders and notes)
    reply: bool = True  # False for a thread's parent
    stop: bool = False


def _ts(message: Message) -> float:
    try:
        return float(message.get("ts") or 0)
    except (TypeError, ValueError):
        return 0.0


def _request_id(message: Message) -> str | None:
    """The request id our answers carry on their 👍 button (None: not one of our answers)."""
    for block in message.get("blocks") or []:
        elements = block.get("elements") if isinstance(block, Mapping) else None
        for element in elements or []:
            if isinstance(element, Mapping) and element.get("action_id") == ACTION_HELPFUL and element.get("value"):
                return str(element["value"])
    return None


def _blocks_text(message: Message) -> str:
    texts = []
    for block in message.get("blocks") or []:
        text = block.get("text") if isinstance(block, Mapping) and block.get("type") == "section" else None
        if isinstance(text, Mapping) and isinstance(text.get("text"), str):
            texts.append(text["text"])
    return "\n".join(texts)


def _our_text(message: Message, store: Answers) -> str:
    """The draft of one of our answers (our notes and placeholders read as "")."""
    request_id = _request_id(message)
    if request_id is None:
        return ""
    try:
        record = store.answer(request_id)
    except Exception as exc:  # the records are a nicety here: the thread is still answered
        log.warning("records lookup of request_id=%s failed: %s", request_id, exc)
        record = None
    draft = str(record.answer.draft).strip() if record is not None else ""
    return draft or _blocks_text(message)  # answered on another replica, or only the data to collect


def _entries(messages: Iterable[Message], store: Answers, me: BotIds, *, parent_ts: str | None) -> list[_Entry]:
    out = []
    for m in sorted(messages, key=_ts):
        reply = m.get("ts") != parent_ts
        if me.wrote(m):
            out.append(_Entry("bot", _our_text(m, store), reply=reply))
        elif m.get("bot_id") or m.get("subtype") == "bot_message":
            if not reply:  # a helpdesk integration's post that the thread is about
                out.append(_Entry("ticket", message_text(m, bot_user_id=me.user_id), reply=False))
        elif m.get("subtype") in HUMAN_SUBTYPES and m.get("user"):
            text = message_text(m, bot_user_id=me.user_id)
            kind = closing(text)
            if kind == "stop":
                out.append(_Entry("human", "", reply=reply, stop=True))
            elif kind is None and text:
                out.append(_Entry("human", text, reply=reply))
    return out


def _conversation(entries: Sequence[_Entry]) -> Conversation:
    convo = Conversation()
    for entry in entries:
        if entry.who == "bot":
            if entry.reply:
                convo.joined, convo.stopped = True, False
            if entry.text:
                convo.turns.append(Turn(role="bot", text=entry.text[:TURN_CHARS]))
        elif entry.stop:
            convo.stopped = True
        elif entry.text:
            asked = any(t.role != "bot" for t in convo.turns)
            convo.turns.append(Turn(role="agent" if asked else "customer", text=entry.text[:TURN_CHARS]))
    keep = min(MAX_TURNS, MAX_HISTORY)
    if len(convo.turns) > keep:  # the original question and the latest turns
        convo.turns = [convo.turns[0], *convo.turns[-(keep - 1) :]]
    return convo


async def _replies(client: AsyncWebClient, channel: str, thread_ts: str) -> list[Message]:
    messages: list[Message] = []
    cursor = None
    for _ in range(THREAD_PAGES):
        resp = await client.conversations_replies(channel=channel, ts=thread_ts, limit=THREAD_PAGE, cursor=cursor)
        messages += resp.get("messages") or []
        cursor = (resp.get("response_metadata") or {}).get("next_cursor")
        if not (resp.get("has_more") and cursor):
            break
    return messages


async def _dm_run(client: AsyncWebClient, channel: str, until_ts: str) -> list[Message]:
    """The top-level messages of a DM before `until_ts`, back to the first pause longer than DM_GAP_S."""
    resp = await client.conversations_history(channel=channel, latest=until_ts, limit=DM_LIMIT)
    run: list[Message] = []
    last = float(until_ts)
    for m in resp.get("messages") or []:  # newest first
        if m.get("thread_ts") and m.get("thread_ts") != m.get("ts") and m.get("subtype") != "thread_broadcast":
            continue
        if last - _ts(m) > DM_GAP_S:
            break
        run.append(m)
        last = _ts(m)
    return run


async def read_thread(
    client: AsyncWebClient, store: Answers, *, channel: str, thread_ts: str, before_ts: str, me: BotIds
) -> Conversation:
    """A channel thread's messages before `before_ts` (conversations.replies)."""
    messages = [m for m in await _replies(client, channel, thread_ts) if _ts(m) < float(before_ts)]
    return _conversation(await asyncio.to_thread(_entries, messages, store, me, parent_ts=thread_ts))


async def read_dm(
    client: AsyncWebClient, store: Answers, *, channel: str, thread_ts: str | None, before_ts: str, me: BotIds
) -> Conversation:
    """A direct message's conversation before `before_ts`: the run of top-level messages, or the
    thread it is in (after the run that led to the bot's answer, when the thread hangs off one)."""
    if thread_ts is None:
        run = await _dm_run(client, channel, before_ts)
        return _conversation(await asyncio.to_thread(_entries, run, store, me, parent_ts=None))
    thread = [m for m in await _replies(client, channel, thread_ts) if _ts(m) < float(before_ts)]
    parent = next((m for m in thread if m.get("ts") == thread_ts), None)
    earlier: list[Message] = []
    if parent is not None and me.wrote(parent):  # a reply to our answer: what was asked comes before it
        earlier = await _dm_run(client, channel, thread_ts)
    # Off the event loop: our answers are looked up in the records (a round trip with PostgreSQL).
    entries = await asyncio.to_thread(_entries, earlier, store, me, parent_ts=None)
    entries += await asyncio.to_thread(_entries, thread, store, me, parent_ts=thread_ts)
    return _conversation(entries)
