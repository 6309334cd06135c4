"""The embedded default drafter: a courteous reply built only from the KB's own sentences and steps.

    draft = await ExtractiveDrafter().draft(ticket, evidence, required, escalate=False)

It invents nothing: every line of substance is a sentence or list step copied (with Markdown
marks removed) from a retrieved chunk, chosen by word overlap with the ticket, with the warnings
of the best article kept and the source links listed. For an escalation it writes a holding reply
instead of pretending to know.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.models import Draft, Hit, RequiredItem, Ticket, Tier
from rag.text import content_words, kb_words, plain, sentences

MAX_ARTICLES = 3  # sentences come from the best three articles only
MAX_SENTENCES = 5
MAX_STEPS = 8
MAX_WARNINGS = 2
MAX_LINKS = 3
_STEP = re.compile(r"^\s*(\d+[.)]|[-*+])\s+")
_NUMBERED = re.compile(r"^\s*\d+[.)]\s+")
_CODE_FENCE = re.compile(r"```.*?```", re.DOTALL)


@dataclass
class _Candidate:
    text: str
    chunk: Hit
    score: float
    order: int


def _greeting(ticket: Ticket) -> str:
    name = (ticket.customer or "").strip()
    if not name or "@" in name:
        return "Hi there,"
    return f"Hi {name.split()[0]},"


def _lines(hit: Hit) -> tuple[list[str], list[str]]:
    # Parsing a chunk's text costs more than the rest of the draft: cached by the text itself.
    prose, steps = _chunk_lines(hit.chunk.text)
    return list(prose), list(steps)


@functools.lru_cache(maxsize=8_192)
def _chunk_lines(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(prose sentences, numbered steps) of a chunk, Markdown removed, tables and code left out."""
    body = _CODE_FENCE.sub("", text)
    prose: list[str] = []
    steps: list[str] = []
    for raw in body.splitlines():
        if not raw.strip() or raw.lstrip().startswith(("#", "|")):
            continue
        text = plain(raw).strip()
        if len(text) < 12:
            continue
        if _NUMBERED.match(raw):
            steps.append(_STEP.sub("", text))
        elif _STEP.match(raw):
            prose.append(_STEP.sub("", text))
        else:
            prose.extend(sentences(text))
    return tuple(prose), tuple(steps)


class ExtractiveDrafter:
    name = "extractive"

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

        asked = content_words(ticket.text())
        articles = list(dict.fromkeys(h.chunk.article_id for h in evidence))[:MAX_ARTICLES]
        pool = [h for h in evidence if h.chunk.article_id in articles]
        candidates: list[_Candidate] = []
        best_steps: tuple[float, Hit, list[str]] | None = None
        warnings: list[str] = []
        cited: list[str] = []
        for rank, hit in enumerate(pool):
            prose, chunk_steps = _lines(hit)
            prior = 0.5 * (1 - rank / len(pool))  # better evidence first when overlap ties
            # A section whose heading names the ticket's topic ("Using a recovery code") is the one.
            heading = _overlap(asked, hit.chunk.heading_path)
            if chunk_steps:
                fit = _overlap(asked, " ".join(chunk_steps)) + 2 * heading + prior
                if fit > 1 and (best_steps is None or fit > best_steps[0]):
                    best_steps = (fit, hit, chunk_steps[:MAX_STEPS])
            for sentence in prose:
                overlap = _overlap(asked, sentence)
                if (
                    hit.chunk.article_id == articles[0]
                    and hit.chunk.tier is Tier.CRITICAL
                    and overlap > 0
                    and _is_warning(sentence)
                ):
                    warnings.append(sentence)
                elif overlap > 0:
                    candidates.append(_Candidate(sentence, hit, overlap + 0.5 * heading + prior, len(candidates)))

        chosen = sorted(candidates, key=lambda c: -c.score)[:MAX_SENTENCES]
        if not chosen:
            chosen = [_Candidate(s, pool[0], 0, n) for n, s in enumerate(_lines(pool[0])[0][:2])]
        chosen.sort(key=lambda c: c.order)
        steps: list[str] = []
        if best_steps is not None:
            steps = best_steps[2]
            cited.append(best_steps[1].chunk.id)
        parts.append("Thanks for reaching out. Here is what our help center says about this:")
        parts.append("")
        for c in chosen:
            parts.append(c.text)
            if c.chunk.chunk.id not in cited:
                cited.append(c.chunk.chunk.id)
        if steps:
            parts += ["", "Here are the steps:"]
            parts += [f"{n}. {step}" for n, step in enumerate(steps, 1)]
        for warning in list(dict.fromkeys(warnings))[:MAX_WARNINGS]:
            parts += ["", f"Please note: {warning}"]
        parts += _ask(required)
        parts += ["", "You can find more details here:"]
        seen: set[str] = set()
        for hit in evidence:
            if hit.chunk.article_id in seen or len(seen) == MAX_LINKS:
                continue
            seen.add(hit.chunk.article_id)
            parts.append(f"- {hit.chunk.title}: {hit.chunk.url}")
        parts += ["", "Best regards,"]
        return Draft(text="\n".join(parts), cited_chunk_ids=cited)

    async def close(self) -> None:
        return None


def _overlap(asked: set[str], text: str) -> float:
    return float(len(asked & kb_words(text)))


def _is_warning(sentence: str) -> bool:
    return bool(
        re.search(r"\b(must|cannot|can't|only|never|permanent|irreversible|will be (lost|deleted))\b", sentence, re.I)
    )


def _ask(required: Sequence[RequiredItem]) -> list[str]:
    if not required:
        return []
    return ["", "So we can help you further, could you please send us:"] + [f"- {r.item}" for r in required]
