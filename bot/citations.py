"""Footnotes for a draft: which source each claim cites, for Slack and the CLI alike.

    numbers = footnote_numbers(answer)                  # {"refunds#2": 1, "billing#0": 2}
    for text, marks in footnoted(answer, numbers):      # the draft cut after each cited claim
        out += text + "".join(f"[{n}]" for n in marks)

A cited source gets the number of its place among the cited sources (`Answer.sources` lists them
first). A claim is marked after its text in the draft; consecutive claims of one paragraph or of
one list (its lead-in included) that cite the same sources are marked once, after the last of
them. A claim whose text is not found in the draft as written (a model may quote itself loosely)
gets no mark; its sources stay listed.
"""

from __future__ import annotations

import re

from rag.models import Answer

_NEXT_ITEM = re.compile(r"[ \t]*\n[ \t]*(?:[-*+]|\d+[.)])[ \t]+")  # a line break to the next list item


def footnote_numbers(answer: Answer) -> dict[str, int]:
    """Chunk id -> footnote number, for the sources the draft's citations name."""
    cited = {chunk_id for citation in answer.citations for chunk_id in citation.chunk_ids}
    numbers: dict[str, int] = {}
    for source in answer.sources:
        if source.chunk_id in cited and source.chunk_id not in numbers:
            numbers[source.chunk_id] = len(numbers) + 1
    return numbers


def footnoted(answer: Answer, numbers: dict[str, int]) -> list[tuple[str, list[int]]]:
    """The draft as (text, footnote numbers to print right after it) pieces that join back to it."""
    draft = answer.draft
    found: list[tuple[int, int, list[int]]] = []  # (start, end, numbers) in draft order
    position = 0
    for citation in answer.citations:
        marks = sorted({numbers[c] for c in citation.chunk_ids if c in numbers})
        text = citation.text.strip()
        start = draft.find(text, position) if text and marks else -1
        if start < 0:
            continue
        found.append((start, start + len(text), marks))
        position = start + len(text)
    pieces: list[tuple[str, list[int]]] = []
    cut = 0
    for i, (_, end, marks) in enumerate(found):
        following = found[i + 1] if i + 1 < len(found) else None
        if following is not None and following[2] == marks and _one_block(draft[end : following[0]]):
            continue  # the next claim of this paragraph or list says it for both
        pieces.append((draft[cut:end], marks))
        cut = end
    pieces.append((draft[cut:], []))
    return pieces


def _one_block(between: str) -> bool:
    """Two claims belong to one block when only spaces (one paragraph) or a line break to the next
    list item (a list, or a lead-in and its first item) part them."""
    return (not between.strip() and "\n" not in between) or bool(_NEXT_ITEM.fullmatch(between))
