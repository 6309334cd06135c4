"""What the agent still has to collect from the customer.

    sections = top_sections(catalog, evidence)      # every section of the best article
    items = required_data(ticket_text, evidence, escalate=False, topics=intake_matches, sections=sections)

Items come from three places, most useful first:
1. the team's intake file (`intake.yml`, rag/intake.py): the fields of the topics the ticket is
   about, "why" starting with `intake.yml: <topic>`;
2. the best article's sections that ask for something ("include your ride ID and the bike number",
   a "Before you start" list), in the KB's own words (rag/asks.py), with the chunk ids in
   `source_ids`; a fixed vocabulary of common items is the fallback when no phrase can be read.
   The retrieved sections come first; for a problem (not a how-to question) the article's other
   sections that list requirements or ask in so many words ("the agent will ask for …") count too;
3. the ticket's intent (rag/ticket_intents.py: a charge, a lost login, an error report, a deletion
   request …), "why" starting with `ticket intent: <intent>`.
Anything the ticket already gives (rag/given.py: an error code, an e-mail, an order number, a
version, a URL, a username, an organization other than the product) is left out, near-identical
items are merged, and at most five remain.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rag.asks import ROLE_ITEM, SECRET, UI, asked_items, asks
from rag.catalog import Catalog
from rag.given import Given, gives, item_kinds, read_ticket
from rag.intake import TopicMatch
from rag.models import Chunk, Hit, RequiredItem
from rag.text import content_words, kb_words, plain
from rag.ticket_intents import LOG, read_intents

MAX_ITEMS = 5
LOG_AND_MESSAGE = "exact error message and full output"
EVIDENCE_ARTICLES = 1  # KB items come from the best articles' evidence only
MAX_FROM = {"intake": 4, "kb": 3, "intent": 3}
# Kinds one ticket needs at most once: "e-mail" and "account e-mail address" are the same ask.
SINGLE = {"email", "username", "error", "url", "card", "browser", "organization", "amount", "device", "os", "log"} | {
    "role"
}


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# The fallback vocabulary: common items, named when a section asks for them in words the phrase
# reader cannot parse ("you need access to the mailbox of your account e-mail address").
VOCABULARY: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("account e-mail address", _re(r"\b(?:account|registered|login|billing) e-?mail|e-?mail address")),
    ("username", _re(r"\busername\b|\buser name\b")),
    ("organization or workspace name", _re(r"\b(?:organi[sz]ation|workspace|team|org) name\b")),
    ("invoice or receipt number", _re(r"\b(?:invoice|receipt|order) (?:number|id|#)")),
    ("last 4 digits of the card", _re(r"last (?:4|four) digits")),
    ("date and amount of the charge", _re(r"\b(?:date|amount) of the (?:charge|payment)")),
    ("app version", _re(r"\b(?:app|application|client|extension|cli) version|version number")),
    ("device model and operating system", _re(r"\bdevice (?:model|type)|operating system|os version")),
    ("browser and version", _re(r"\bbrowser (?:and|version)|which browser")),
    ("exact error message or code", _re(r"\berror (?:message|code)s?\b")),
    ("package name", _re(r"\bpackage name\b")),
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


@dataclass
class _Candidate:
    item: RequiredItem
    origin: str  # "intake" | "kb" | "intent"
    rank: int  # lower is more useful (a requirements section before a sentence elsewhere)


def required_data(
    ticket: str,
    evidence: Sequence[Hit],
    *,
    escalate: bool,
    topics: Sequence[TopicMatch] = (),
    sections: Sequence[Chunk] = (),
) -> list[RequiredItem]:
    """`sections`: every section of the best article (`top_sections`), read for what it asks even
    when retrieval did not bring it up (a "Before you begin" list, "the agent will ask for …")."""
    given = read_ticket(ticket, known=lambda: _known_words(evidence))
    intents = read_intents(ticket)  # once per answer: the drafter's opener reads the same
    candidates = _from_intake(topics)
    # An escalated ticket's evidence is not about it: only the intake file and the intent speak.
    kb = [] if escalate else _from_kb(evidence, sections, how_to=intents.how_to)
    top = evidence[0].chunk.article_id if evidence else ""
    candidates += [c for c in kb if c.item.source_ids[0].startswith(f"{top}#")]
    candidates += [
        _Candidate(RequiredItem(item=_worded(item, given), why=f"ticket intent: {intent} ({why})"), "intent", 2)
        for intent, item, why in intents.items
    ]
    candidates += [c for c in kb if not c.item.source_ids[0].startswith(f"{top}#")]
    return _select(candidates, given)


def _worded(item: str, given: Given) -> str:
    """A failing command's whole output, and its message too when the ticket does not quote one."""
    return LOG_AND_MESSAGE if item == LOG and "error" not in given.kinds else item


def _known_words(evidence: Sequence[Hit]) -> set[str]:
    """The words of the retrieved sections (the product's own names among them)."""
    return set().union(*(kb_words(hit.chunk.title) | kb_words(hit.chunk.text) for hit in evidence))


def finalize(ticket: str, items: Sequence[RequiredItem]) -> list[RequiredItem]:
    """Another list (a hosted drafter's) held to the same rules: nothing given, no twins, at most five."""
    return _select([_Candidate(i, "kb", 1) for i in items], read_ticket(ticket), caps=False, read=_read_item)


def _from_intake(topics: Sequence[TopicMatch]) -> list[_Candidate]:
    out = []
    for topic in topics:
        for field in topic.fields:
            why = f"intake.yml: {topic.topic}" + (f" ({field.why})" if field.why else "")
            out.append(_Candidate(RequiredItem(item=field.item, why=why), "intake", 0))
    return out


def top_sections(catalog: Catalog, evidence: Sequence[Hit]) -> list[Chunk]:
    """Every section of the best article, in the article's order (the catalog caches chunks)."""
    if not evidence:
        return []
    ids = catalog.chunk_ids(evidence[0].chunk.article_id)
    chunks = catalog.get_chunks(ids)
    return [chunks[i] for i in ids if i in chunks]


def _from_kb(evidence: Sequence[Hit], sections: Sequence[Chunk], *, how_to: bool) -> list[_Candidate]:
    """Items the best article's sections ask for: the retrieved ones first, then (for a problem, not
    a how-to question) the article's other sections that list requirements or ask in so many words.
    A how-to question also skips "What you'll need" lists (what the customer needs to do it, not
    what the agent needs to collect)."""
    articles: list[str] = []
    for hit in evidence:
        if hit.chunk.article_id not in articles:
            articles.append(hit.chunk.article_id)
    kept = set(articles[:EVIDENCE_ARTICLES])
    chunks = [hit.chunk for hit in evidence if hit.chunk.article_id in kept]
    seen = {c.id for c in chunks}
    if not how_to:  # a question is answered from what retrieval found; a problem may need more
        chunks += [c for c in sections if c.article_id in kept and c.id not in seen and _reads(c)]
    found: dict[str, _Candidate] = {}
    for chunk in chunks:
        requirements = chunk.kind == "requirements"
        if requirements and how_to:
            continue
        for item, sentence in _section_items(chunk.text, requirements):
            if how_to and item.startswith(ROLE_ITEM):
                continue  # how something works does not depend on who asks
            key = item.lower()
            if key not in found:
                why = _why(chunk.title, chunk.heading_path, sentence)
                found[key] = _Candidate(RequiredItem(item=item, why=why), "kb", 1 if requirements else 2)
            if chunk.id not in found[key].item.source_ids:
                found[key].item.source_ids.append(chunk.id)
    return sorted(found.values(), key=lambda c: c.rank)


def _reads(chunk: Chunk) -> bool:
    """A section retrieval left out is read when it lists requirements or asks in so many words."""
    return chunk.kind == "requirements" or _asks_in(chunk.text)


@functools.lru_cache(maxsize=8_192)
def _asks_in(text: str) -> bool:
    return any(asks(sentence) for sentence in _SENTENCE.split(plain(text)))


@functools.lru_cache(maxsize=8_192)
def _section_items(text: str, requirements: bool) -> tuple[tuple[str, str], ...]:
    """(item, sentence) a KB section asks for, in its words or the fallback vocabulary's. KB text
    only, parsed once: the same sections come back answer after answer."""
    pairs = asked_items(text, requirements=requirements)
    asked_in = {sentence for _, sentence in pairs}
    return (*pairs, *_vocabulary(text, skip=asked_in))


def _vocabulary(text: str, *, skip: set[str]) -> list[tuple[str, str]]:
    out = []
    for raw in _SENTENCE.split(plain(text)):
        sentence = " ".join(raw.split()).strip(" -*")
        if sentence in skip or not asks(sentence) or SECRET.search(sentence) or UI.search(sentence):
            continue
        out += [(item, sentence) for item, cue in VOCABULARY if cue.search(sentence)]
    return out


@dataclass(frozen=True)
class _Reading:
    """What an item asks for: its kinds (rag.given) and its words, read once per item text."""

    kinds: frozenset[str]
    words: frozenset[str]


def _read_item(item: str) -> _Reading:
    words = content_words(item.lower().replace("e-mail", "email"))
    words = {"number" if w == "id" else w for w in words} - {"exact", "full", "customer", "whether"}
    return _Reading(frozenset(item_kinds(item)), frozenset(words))


# Items of the KB, the intake file and the rule table recur answer after answer; a hosted drafter's
# may carry the customer's words and are read afresh (finalize).
_read_known_item = functools.lru_cache(maxsize=4_096)(_read_item)


def _select(
    candidates: list[_Candidate], given: Given, *, caps: bool = True, read: Callable[[str], _Reading] = _read_known_item
) -> list[RequiredItem]:
    kept: list[tuple[_Candidate, _Reading]] = []
    taken = dict.fromkeys(MAX_FROM, 0)
    for candidate in candidates:
        item = candidate.item
        reading = read(item.item)
        if gives(given, item.item, kinds=reading.kinds) or SECRET.search(item.item):
            continue
        twin = next((k for k, r in kept if _same(r, reading)), None)
        if twin is not None:
            twin.item.source_ids += [s for s in item.source_ids if s not in twin.item.source_ids]
            continue
        if caps and taken[candidate.origin] >= MAX_FROM[candidate.origin]:
            continue
        taken[candidate.origin] += 1
        kept.append((candidate, reading))
    return [c.item for c, _ in kept[:MAX_ITEMS]]


def _same(a: _Reading, b: _Reading) -> bool:
    """Near-identical asks: one kind collected once, the same identifier, or nearly the same words."""
    kinds_a, kinds_b = a.kinds, b.kinds
    if {"log", "error"} <= kinds_a | kinds_b and kinds_a & {"log", "error"} and kinds_b & {"log", "error"}:
        return True  # the whole output holds the error message
    if kinds_a & kinds_b & SINGLE or {k for k in kinds_a & kinds_b if k.startswith("id:")}:
        return True
    wa, wb = a.words, b.words
    if not wa or not wb:
        return False
    return wa <= wb or wb <= wa or len(wa & wb) / len(wa | wb) >= 0.6


def _why(title: str, heading: str, sentence: str) -> str:
    where = f"{title} > {heading}" if heading else title
    text = " ".join(sentence.strip(" >-*").split())
    text = re.sub(r"\*\*|\[!?\w+\]", "", text).strip()
    return f"{where}: {text[:160]}"
