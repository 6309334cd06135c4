"""The embedded default drafter: a short reply built only from the KB's own sentences and steps.

    drafter = ExtractiveDrafter(catalog=kb.catalog)   # IDF weights from the catalog (optional)
    draft = await drafter.draft(ticket, evidence, required, escalate=False)
    draft.text, draft.citations                        # every claim with the chunk id it comes from

It invents nothing: every line of substance is a sentence, list item, table row or step copied
(Markdown marks removed) from a retrieved chunk, and each is cited with that chunk's id.

Chunks are parsed (rag/drafters/passages.py) into whole sentences (soft line breaks joined, an
admonition's "Note:" or "Warning:" kept with its sentence, a sentence that leans on the one before
it, "This means …", kept with it), list items under their lead-in, table rows and procedures (a step
keeps the short command it introduces). A lead-in goes only with what it introduces ("…, follow
these steps:" with the steps, "run:" with its short command) and is dropped with a table or a long
listing; references ("For more information, see …") and guidance meant for the support team are left
out.

Candidates (a sentence, an item with its lead-in, a short list, a whole procedure with its steps in
order) are scored by the share of the ticket's words they hold, each word weighted by its rarity in
the KB (IDF from the catalog), blended with how well their section matches (its words, its heading
and the cosine retrieval already computed for it), with a small bonus for the top article's warnings
and for concrete facts (a number, a command, a path through the UI). A candidate must hold some of
the ticket's words itself, stay within a share of the best score and say something new; candidates
are taken best first, the sentences next to a chosen one moving up, until the word budget of the
whole reply (DRAFT_WORDS, greeting to sign-off) is spent. They are printed article by article in
retrieval's order, each in its own order, after a greeting (and a line of sympathy for a billing
worry, a lock-out or an error; a question is answered straight away), then the data to collect, the
link of the first cited section and a sign-off: few words of frame, so the budget goes to the
substance. For an escalation it writes a holding reply instead of pretending to know.

Sentence embeddings were measured as the relevance score instead (the packaged MiniLM, one batch
call per answer with the ticket): on the dev KBs they found no more of the facts a reply must hold
than the IDF score, and cost 250-600 ms an answer on two cores against about 3 ms.
"""

from __future__ import annotations

import functools
import heapq
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from rag.drafters.passages import Piece, parse
from rag.models import Citation, Draft, Hit, RequiredItem, Ticket, Tier
from rag.text import content_words, kb_words, stem
from rag.ticket_intents import implied_items

MAX_ARTICLES = 3  # sentences come from the best three articles only
DRAFT_WORDS = 150  # the whole reply, greeting to sign-off, in words (the substance gets what is left)
MIN_BODY_WORDS = 50
MAX_STEPS = 10
MAX_LIST_ITEMS = 6  # a longer list is only quoted item by item
RELATIVE = 0.45  # a candidate must score at least this share of the best one
MINIMUM = 0.12  # … and at least this much
# The second and third articles' sentences must be more on point to be quoted than the top article's.
# Chosen leave-one-KB-out with CONCRETE_BONUS on the dev KBs (7 priors from (1, 0.85, 0.75) to (1, 1, 1)
# times 1.0-1.5): each held-out KB's fit on the other two picked (1, 0.95, 0.85) and 1.2.
ARTICLE_PRIOR = (1.0, 0.95, 0.85)
WARNING_BONUS = 1.1  # the top article's warnings, when they apply at all
HEADING_WEIGHT = 0.35  # a candidate under a heading that names the ticket's topic
SECTION_WEIGHT = 0.45  # how much the candidate's section counts (the answer is usually one section)
DENSE_FLOOR, DENSE_SPAN = 0.2, 0.5  # section cosines (MiniLM) from unrelated to on the topic
SECTION_DENSE = 0.5  # a section's relevance: its cosine to the ticket (from retrieval) and its words
NEIGHBOUR_BONUS = 1.2  # the sentence next to a chosen one (an explanation often takes two)
MAX_IDF = 4.5  # a rare word of the ticket counts, a rare typo or filler word not overwhelmingly
# A candidate holding a concrete fact (a number, a command, a path through the UI) is what an agent
# would quote first. Chosen leave-one-KB-out with ARTICLE_PRIOR (above): 1.2 whichever dev KB is held out.
CONCRETE_BONUS = 1.2

_WARNING = re.compile(
    r"\b(must|cannot|can't|only|never|permanent(?:ly)?|irreversible|will be (?:lost|deleted)|do not|don't|"
    r"not possible|no longer)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# A concrete fact: a number or duration, a path through the UI (Settings > Billing), a command.
_CONCRETE = re.compile(r"\d|\w >\s?\w|`|\$ ")


class Frequencies(Protocol):
    """What the drafter reads from the catalog: document frequencies for IDF weights."""

    def document_frequencies(self, terms: Sequence[str]) -> dict[str, int]: ...

    def counts(self) -> tuple[int, int]: ...


@dataclass(frozen=True, slots=True)
class _Group:
    """A candidate's pieces and what scoring reads from them; depends only on the chunk's text (cached)."""

    pieces: tuple[Piece, ...]
    words: frozenset[str]  # kb_words of the text the relevance score reads: text and command of each piece
    spoken: frozenset[str]  # kb_words of the pieces' texts alone (what the overlap check compares)
    cost: int  # words of all its pieces
    concrete: bool  # holds a command, a number or a path through the UI
    warns: bool  # a sentence of it is a note or a warning
    ends_in_note: bool

    @classmethod
    def of(cls, pieces: tuple[Piece, ...]) -> _Group:
        return cls(
            pieces=pieces,
            words=kb_words(" ".join(f"{p.text} {p.code}".strip() for p in pieces)),
            spoken=kb_words(" ".join(p.text for p in pieces)),
            cost=sum(p.words for p in pieces),
            concrete=any(p.code or _CONCRETE.search(p.text) for p in pieces),
            warns=any(p.note or _warns(p.text) for p in pieces if p.kind == "sentence"),
            ends_in_note=pieces[-1].note,
        )


@dataclass(eq=False, slots=True)
class _Option:
    """A candidate for the draft: one or more pieces of one chunk that go together."""

    hit: Hit
    article: int  # rank of its article among the drafted ones
    group: _Group
    score: float = 0.0
    relevance: float = 0.0  # of its text to the ticket, in [0, 1]
    heading: float = 0.0  # of its article title and section heading
    prior: float = 1.0  # article rank
    section: float = 0.0  # of its whole chunk: words held and retrieval's closeness
    warning: bool = False  # one of the top article's warnings
    concrete: bool = False  # holds a command, a number or a path through the UI

    @property
    def pieces(self) -> tuple[Piece, ...]:
        return self.group.pieces

    def rescore(self) -> None:
        own = self.relevance + HEADING_WEIGHT * self.heading * min(1.0, 4 * self.relevance)
        self.score = self.prior * ((1 - SECTION_WEIGHT) * own + SECTION_WEIGHT * self.section)
        if self.concrete:
            self.score *= CONCRETE_BONUS
        if self.warning:
            self.score *= WARNING_BONUS


@dataclass
class _Selection:
    pieces: dict[tuple[str, int], tuple[Piece, _Option]] = field(default_factory=dict)
    used: int = 0


def _greeting(ticket: Ticket) -> str:
    name = (ticket.customer or "").strip()
    if not name or "@" in name:
        return "Hi there,"
    return f"Hi {name.split()[0]},"


def _opener(ticket: str) -> str:
    """One line of sympathy that fits a billing worry, a lock-out or a failure; none for a question."""
    intents = {intent for intent, _, _ in implied_items(ticket)}
    if intents & {"billing", "payment failure", "invoice"}:
        return "Sorry for the trouble with the billing."
    if "access" in intents:
        return "Sorry you're having trouble getting into your account."
    if intents & {"error", "tool error", "app problem"}:
        return "Sorry you're running into this."
    return ""  # a question gets its answer straight away: the words go to the substance


def idf_weights(ticket: str, catalog: Frequencies | None) -> dict[str, float]:
    """Stemmed ticket word -> its weight: IDF in this KB, capped (1.0 each without a catalog)."""
    asked = content_words(ticket)
    if catalog is None:
        return dict.fromkeys(asked, 1.0)
    terms = sorted({w for w in _WORD.findall(ticket.lower()) if len(w) > 1 and "'" not in w})
    frequencies = catalog.document_frequencies(terms)
    total = max(1, catalog.counts()[1])
    weights: dict[str, float] = {}
    for term in terms:
        key, df = stem(term), frequencies.get(term, 0)
        if key in asked and df > 0:  # a word the KB never uses cannot be found in any sentence
            weights[key] = max(weights.get(key, 0.0), min(MAX_IDF, math.log((total + 1) / (df + 0.5))))
    return weights


class ExtractiveDrafter:
    name = "extractive"

    def __init__(self, catalog: Frequencies | None = None) -> None:
        self._catalog = catalog

    async def draft(
        self, ticket: Ticket, evidence: Sequence[Hit], required: Sequence[RequiredItem], escalate: bool
    ) -> Draft:
        parts = [_greeting(ticket), ""]
        if escalate or not evidence:
            parts.append(
                "Thanks for getting in touch. I want to make sure you get an accurate answer, so I'm "
                "checking this with the right team and will get back to you as soon as I can."
            )
            parts += _ask(required)
            parts += ["", "Best regards,"]
            return Draft(text="\n".join(parts), cited_chunk_ids=[])

        text = ticket.query()
        options = self.options(evidence, idf_weights(text, self._catalog))
        opener = _opener(text)
        head = [*parts, opener, ""] if opener else parts
        ask = _ask(required)
        closing = ["", "Best regards,"]
        # The frame (greeting, questions, links, closing) and the substance share one word budget.
        frame = sum(len(line.split()) for line in [*head, *ask, *_link(evidence, [evidence[0].chunk.id]), *closing])
        body, citations = _render(_select(options, max(MIN_BODY_WORDS, DRAFT_WORDS - frame)))
        cited = list(dict.fromkeys(c for citation in citations for c in citation.chunk_ids))
        parts = [*head, *body, *ask, *_link(evidence, cited), *closing]
        return Draft(text="\n".join(parts), cited_chunk_ids=cited, citations=citations)

    def options(self, evidence: Sequence[Hit], weights: dict[str, float]) -> list[_Option]:
        """Every candidate of the best articles' chunks, scored against the ticket."""
        articles = list(dict.fromkeys(h.chunk.article_id for h in evidence))[:MAX_ARTICLES]
        pool = [h for h in evidence if h.chunk.article_id in articles and h.chunk.kind != "related"]
        share = _Share(weights)
        options: list[_Option] = []
        for hit in pool:
            article = articles.index(hit.chunk.article_id)
            prior = ARTICLE_PRIOR[min(article, len(ARTICLE_PRIOR) - 1)]
            heading = share(kb_words(f"{hit.chunk.title} {hit.chunk.heading_path}"))
            section = share(kb_words(hit.chunk.embedding_text()))
            if hit.dense is not None:  # the chunk's cosine to the ticket, already computed by retrieval
                section = (1 - SECTION_DENSE) * section + SECTION_DENSE * min(
                    1.0, max(0.0, (hit.dense - DENSE_FLOOR) / DENSE_SPAN)
                )
            critical = hit.chunk.tier is Tier.CRITICAL
            for group in _candidates(hit.chunk.text):
                option = _Option(hit, article, group, heading=heading, prior=prior, section=section)
                option.relevance = share(group.words)
                option.concrete = group.concrete
                option.warning = article == 0 and group.warns and (critical or group.ends_in_note)
                option.rescore()
                options.append(option)
        return options

    async def close(self) -> None:
        return None


@functools.lru_cache(maxsize=32_768)
def _warns(sentence: str) -> bool:
    return bool(_WARNING.search(sentence))  # KB text only: cached across answers


class _Share:
    """The share of the ticket's weighted words that a text holds (the text given as its kb_words)."""

    def __init__(self, weights: dict[str, float]) -> None:
        self._weights = weights
        self._items = list(weights.items())
        self._total = sum(weights.values())

    def __call__(self, held: frozenset[str]) -> float:
        if not self._total:
            return 0.0
        common = held.intersection(self._weights)
        if len(common) <= 1:  # most texts hold one of the ticket's words or none
            return sum(self._weights[k] for k in common) / self._total
        return sum(w for k, w in self._items if k in common) / self._total  # in the weights' order, as always


@functools.lru_cache(maxsize=8_192)
def _candidates(text: str) -> tuple[_Group, ...]:
    """The candidates of a chunk's text, with what scoring reads from each (KB text only: cached, as
    `parse` is, because the same chunks come back answer after answer)."""
    return tuple(_Group.of(pieces) for pieces in _groups(parse(text)))


def _groups(pieces: Sequence[Piece]) -> list[tuple[Piece, ...]]:
    """The candidates of one chunk: pieces that go together (a sentence and the one it leans on, an
    item and its lead-in, a short list, a procedure)."""
    by_index = {p.index: p for p in pieces}
    out: list[tuple[Piece, ...]] = []
    lists: dict[int, list[Piece]] = {}
    for piece in pieces:
        if piece.kind == "sentence":
            if piece.leads and not piece.code:
                continue  # only ever printed with its list
            prev = by_index.get(piece.prev) if piece.prev is not None else None
            out.append((prev, piece) if prev else (piece,))
        else:
            lists.setdefault(piece.block, []).append(piece)
    for members in lists.values():
        lead = by_index.get(members[0].lead) if members[0].lead is not None else None
        if members[0].kind == "step":
            out.append((*((lead,) if lead else ()), *members[:MAX_STEPS]))
        elif lead is None:
            # Without its lead-in, an item has to read as a sentence of its own ("Each code can be used once.").
            out += [(item,) for item in members if _standalone(item.text)]
        else:
            out += [(lead, item) for item in members]
            if 1 < len(members) <= MAX_LIST_ITEMS:
                out.append((lead, *members))
    return out


def _standalone(text: str) -> bool:
    first = text.lstrip("\"“'(")[:1]
    return len(text.split()) >= 3 and (first.isupper() or first.isdigit()) and not text.split()[0].endswith(":")


def _select(options: list[_Option], budget: int) -> _Selection:
    """The best candidates while they stay near the best score, say something new and fit the budget.

    Picked one at a time: after each pick, the sentences next to it in its paragraph move up (an
    explanation often takes two sentences). The best is the highest score (times the bonus once a
    neighbour was chosen), the earliest candidate on a tie; a heap keeps them in that order, and a
    candidate whose score moved up is pushed again (its first entry is skipped when it comes up)."""
    chosen = _Selection()
    if not options:
        return chosen
    floor = max(MINIMUM, RELATIVE * max(o.score for o in options))
    seen: list[frozenset[str]] = []
    # A candidate must hold some of the ticket's words itself: its section alone does not make it relevant
    # (unless no candidate does: then the best section says what the KB has on the topic).
    left = [o for o in options if o.score >= floor and o.relevance > 0]
    if not left:
        best = max(options, key=lambda o: o.score).hit.chunk.id
        left = [o for o in options if o.hit.chunk.id == best]
    holding: dict[tuple[str, int], list[int]] = {}  # piece -> the candidates (positions in `left`) that hold it
    for position, o in enumerate(left):
        chunk_id = o.hit.chunk.id
        for p in o.pieces:
            holding.setdefault((chunk_id, p.index), []).append(position)
    boosted = [False] * len(left)
    done = [False] * len(left)
    heap = [(-o.score, position, False) for position, o in enumerate(left)]  # (-score, position, with bonus)
    heapq.heapify(heap)
    while heap:
        _, position, with_bonus = heapq.heappop(heap)
        if done[position] or (boosted[position] and not with_bonus):
            continue  # taken already, or its score has moved up since this entry was pushed
        done[position] = True
        option = left[position]
        chunk_id = option.hit.chunk.id
        pieces = option.pieces
        new = [p for p in pieces if (chunk_id, p.index) not in chosen.pieces]
        if not new:
            continue
        whole = len(new) == len(pieces)
        cost = option.group.cost if whole else sum(p.words for p in new)
        if chosen.pieces and chosen.used + cost > budget:
            continue
        words = option.group.spoken if whole else kb_words(" ".join(p.text for p in new))
        if words and any(len(words & other) >= 0.7 * len(words) for other in seen):
            continue  # says what a chosen sentence already says
        for piece in pieces:
            chosen.pieces.setdefault((chunk_id, piece.index), (piece, option))
            if piece.kind == "sentence":
                for near in (piece.index - 1, piece.index + 1):
                    for other in holding.get((chunk_id, near), ()):
                        if not done[other] and not boosted[other]:
                            boosted[other] = True
                            heapq.heappush(heap, (-(left[other].score * NEIGHBOUR_BONUS), other, True))
        seen.append(words)
        chosen.used += cost
    return chosen


def _render(selection: _Selection) -> tuple[list[str], list[Citation]]:
    """Article by article in retrieval order, each in its own order: sentences of one paragraph
    together, a list right under its lead-in, steps numbered; a citation for every line of substance."""
    by_article: dict[int, list[tuple[tuple[int, int], Piece, _Option]]] = {}
    for (chunk_id, index), (piece, option) in selection.pieces.items():
        by_article.setdefault(option.article, []).append(((_chunk_number(chunk_id), index), piece, option))
    lines: list[str] = []
    citations: list[Citation] = []
    for article in sorted(by_article):
        entries = sorted(by_article[article], key=lambda e: e[0])
        steps: dict[tuple[str, int], int] = {}  # (chunk, block) -> how many of its steps are printed
        for _, piece, option in entries:
            if piece.kind == "step":
                key = (option.hit.chunk.id, piece.block)
                steps[key] = steps.get(key, 0) + 1
        previous: tuple[Piece, str] | None = None
        number = 0
        for _, piece, option in entries:
            chunk_id = option.hit.chunk.id
            same_block = previous is not None and previous[1] == chunk_id and previous[0].block == piece.block
            under_lead = (
                previous is not None
                and previous[1] == chunk_id
                and piece.lead is not None
                and previous[0].index == piece.lead
            )
            listed = piece.kind == "item" or (piece.kind == "step" and steps[(chunk_id, piece.block)] > 1)
            if listed:
                if not (same_block or under_lead):
                    _blank(lines)
                number = number + 1 if same_block else 1
                lines.append(f"{number}. {piece.text}" if piece.kind == "step" else f"- {piece.text}")
                lines += [f"       {c}" for c in piece.code.splitlines()]
            else:
                if same_block and previous is not None and previous[0].kind == "sentence" and not previous[0].leads:
                    lines[-1] += f" {piece.text}"  # the same paragraph
                else:
                    _blank(lines)
                    lines.append(piece.text)
                lines += [f"    {c}" for c in piece.code.splitlines()]
            citations.append(Citation(text=piece.text, chunk_ids=[chunk_id]))
            previous = (piece, chunk_id)
    return lines, citations


def _blank(lines: list[str]) -> None:
    if lines and lines[-1]:
        lines.append("")


def _chunk_number(chunk_id: str) -> int:
    tail = chunk_id.rpartition("#")[2]
    return int(tail) if tail.isdigit() else 0


def _link(evidence: Sequence[Hit], cited: Sequence[str]) -> list[str]:
    """One line with the URL of the first cited section (the most relevant article's); Slack and
    the CLI list every source with the citations."""
    urls = {h.chunk.id: h.chunk.url for h in evidence}
    url = next((urls[c] for c in cited if urls.get(c)), "")
    return ["", LINK.format(url=url)] if url else []


LINK = "More details: {url}"


def _ask(required: Sequence[RequiredItem]) -> list[str]:
    if not required:
        return []
    return ["", "Could you send us:"] + [f"- {r.item}" for r in required]
