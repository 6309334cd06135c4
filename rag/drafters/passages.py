"""Chunks as the extractive drafter reads them: whole sentences, list items, table rows and steps.

    pieces = parse(chunk.text)        # cached by text: the same chunks come back answer after answer
    pieces[0].kind, pieces[0].text, pieces[0].lead

Soft line breaks are joined, an admonition's "Note:" or "Warning:" stays with its sentence, a
paragraph's bold label ("**Worklogs are missing.** The member …") stays with the sentence after it,
a sentence that leans on the one before it ("This means …") points at it, list items and steps point
at their lead-in (a step keeps the short command indented under it, and the list goes on after
it), and a lead-in only goes with what it introduces. References ("For more
information, see …") and guidance meant for the support team are left out.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Literal

from rag.text import plain, sentences

MAX_CODE_LINES = 5  # a command a sentence introduces is quoted with it; a longer listing is not

Kind = Literal["sentence", "item", "step"]

_NUMBERED = re.compile(r"^(\s{0,3})(\d+)[.)]\s+(.*)$")
_BULLET = re.compile(r"^(\s{0,3})[-*+]\s+(.*)$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_MARKER = re.compile(r"^\s*(?:\[!(\w+)\]|\*\*(\w+(?: \w+)?):?\*\*:?)\s*", re.IGNORECASE)
_ANAPHORA = re.compile(
    r"^(this|these|that|those|it|its|they|them|such|otherwise|however|instead|also|alternatively|then|"
    r"in (?:this|that|such) case|as a result|if so|if not|here|therefore|thus|hence|as such|for (?:example|instance)|"
    r"in addition|additionally|furthermore|moreover|likewise|similarly)\b",
    re.IGNORECASE,
)
# A sentence cut from the one before it ("And then …"); "As an owner, you can …" and "With SSH keys, …" are whole.
_CONTINUATION = re.compile(r"^(and|or|but|so|which|then|whereas)\b", re.IGNORECASE)
_REFERENCE = re.compile(
    r"^(for (?:more|further|additional) (?:information|details)|to learn more|for details|see |learn more|"
    r"for an? (?:overview|example|list)|for information|please see|you can find more|read more)",
    re.IGNORECASE,
)
# Guidance for the support team inside the KB ("Support agents must never …"): not for the customer.
# So is "When you contact support, include …": the reply itself asks for what is missing.
_STAFF = re.compile(
    r"\b(?:support agents?|(?:the|an|our) agents? (?:must|should|may|can|will)|agents? must)\b|"
    r"^(?:when|if) (?:you )?contact(?:ing)? (?:our |the )?support\b",
    re.IGNORECASE,
)
# A paragraph that opens with a bold label of its own ("**Worklogs are missing.** They should …").
# A bold label alone on its line that introduces what follows: a tab's or a platform's name above
# its steps ("**Mobile:**", "**macOS**:"). Kept as the lead-in of its list, however short.
_BLOCK_LABEL = re.compile(r"^\s*(?:\*\*|__)[^*_\n]{1,60}?(?::(?:\*\*|__)|(?:\*\*|__):)\s*$")
_LABEL = re.compile(r"^\s*(?:\*\*|__)([^*_]{2,80}?[.!?][\"”']?)(?:\*\*|__)\s+\S")
_NOTE_WORDS = re.compile(r"^(please note|note|important|warning|caution|tip)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Piece:
    """A whole sentence, list item or step of a chunk, as the draft prints it."""

    kind: Kind
    text: str
    block: int  # paragraph or list number within the chunk
    index: int  # position within the chunk
    lead: int | None = None  # the sentence that introduces this item's or step's list
    prev: int | None = None  # the sentence an anaphoric sentence ("This means …") leans on
    note: bool = False  # from an admonition (Note, Warning, Important) or a quote
    leads: bool = False  # introduces the list or command after it ("…, follow these steps:")
    code: str = ""  # the short command this sentence introduces

    @property
    def words(self) -> int:
        return len(self.text.split()) + len(self.code.split())


@functools.lru_cache(maxsize=8_192)
def parse(text: str) -> tuple[Piece, ...]:
    """A chunk's whole sentences, list items and steps; tables and long code blocks left out.

    A sentence that introduces a table or a long code block is dropped with it; one that
    introduces a short command keeps it; list items and steps remember their lead-in."""
    return tuple(_Parser(text).run())


class _Parser:
    def __init__(self, text: str) -> None:
        self.pieces: list[Piece] = []
        self.block = 0
        self.label: int | None = None  # a bold label waiting for the list it names
        # Block quotes are read like the rest, each line remembering it was quoted (a note) and the
        # admonition it opens, if any ("> **Warning:** …", "> [!IMPORTANT]").
        self.lines: list[tuple[str, bool]] = []
        self.labels: dict[int, str] = {}
        fenced = False
        for line in text.splitlines():
            fenced ^= bool(_FENCE.match(line.lstrip("> ")))
            quoted = line.lstrip().startswith(">") and not (fenced and not _FENCE.match(line.lstrip("> ")))
            if quoted:
                line = re.sub(r"^\s*>\s?", "", line)
                marker = _MARKER.match(line)
                if marker:
                    self.labels[len(self.lines)] = (marker.group(1) or marker.group(2) or "Note").capitalize()
                    line = line[marker.end() :]
            self.lines.append((line, quoted))

    def run(self) -> list[Piece]:
        paragraph: list[str] = []
        note = ""  # the admonition ("Note", "Warning") the current paragraph belongs to, if quoted
        label = ""  # the admonition the next quoted paragraph belongs to
        items: list[_Item] = []  # the current list
        i = 0
        while i < len(self.lines):
            line, quoted = self.lines[i]
            i += 1
            if _FENCE.match(line):
                end = next((j for j in range(i, len(self.lines)) if _FENCE.match(self.lines[j][0])), len(self.lines))
                code = [c for c, _ in self.lines[i:end] if c.strip() and not c.lstrip().startswith("#")]
                if items and _indent(line) >= 2 and not paragraph:
                    # Inside a list item ("1. Configure npm:" and its indented command): the item's own.
                    items[-1].command(code)
                    i = end + 1
                    continue
                self._paragraph(paragraph, note)
                self._list(items)
                paragraph, items = [], []
                self._code(code)
                i = end + 1
                continue
            stripped = line.strip()
            numbered, bullet = _NUMBERED.match(line), _BULLET.match(line)
            if i - 1 in self.labels:
                self._paragraph(paragraph, note)
                paragraph, label = [], self.labels[i - 1]
            elif not quoted:
                label = ""
            if not stripped:
                self._paragraph(paragraph, note)
                paragraph = []
            elif stripped.startswith("|"):
                end = next(
                    (j for j in range(i, len(self.lines)) if not self.lines[j][0].strip().startswith("|")),
                    len(self.lines),
                )
                self._paragraph(paragraph, note)
                self._list(items)
                paragraph, items = [], []
                rows = _table_rows([stripped, *(row.strip() for row, _ in self.lines[i:end])])
                self._list([_Item("item", [row], quoted, 0) for row in rows])
                i = end
            elif stripped.startswith("#"):
                self._paragraph(paragraph, note)
                self._list(items)
                paragraph, items = [], []
                self._orphan_lead()
            elif (numbered or bullet) and not (items and _indent(line) >= 2 and _indent(line) > items[-1].indent):
                self._paragraph(paragraph, note)
                paragraph = []
                kind: Kind = "step" if numbered else "item"
                if items and items[-1].kind != kind:
                    self._list(items)
                    items = []
                text = numbered.group(3) if numbered else bullet.group(2)  # type: ignore[union-attr]
                items.append(_Item(kind, [text], quoted, _indent(line)))
            elif items and (line[:1] in (" ", "\t") or stripped in ("**or**", "or")):
                # Inside a list: a sub-item (left out) or the item's own next line.
                inner = line.lstrip()
                if _NUMBERED.match(inner) or _BULLET.match(inner):
                    items[-1].lines.append("\x00")
                elif stripped not in ("**or**", "or") and items[-1].code is None:
                    items[-1].lines.append(stripped)  # (what follows the item's command is left out)
            else:
                self._list(items)
                items = []
                if not paragraph:
                    note = (label or "Note") if quoted else ""
                paragraph.append(line)
        self._paragraph(paragraph, note)
        self._list(items)
        self._unused_label()
        return self.pieces

    def _paragraph(self, lines: list[str], note: str) -> None:
        text = " ".join(p for p in (plain(line).strip() for line in lines) if p)
        text = re.sub(r"\s+", " ", text).strip()
        if not text:
            return
        self._unused_label()
        self.block += 1
        if note and not _NOTE_WORDS.match(text):
            text = f"{note}: {text}"
        split = sentences(text)
        label = _LABEL.match(lines[0]) if lines else None
        if label and len(split) > 1 and split[0].endswith(plain(label.group(1)).strip()):
            # "**Worklogs are missing.** The member may not …": the bold label names the case its
            # sentence answers, and reads as a fragment on its own.
            split[:2] = [f"{split[0]} {split[1]}"]
        previous: int | None = None
        block_label = len(lines) == 1 and bool(_BLOCK_LABEL.match(lines[0]))
        for n, sentence in enumerate(split):
            leads = sentence.endswith(":")
            anaphoric = n > 0 and bool(_ANAPHORA.match(sentence))
            if not block_label and not _valid_sentence(sentence, leads=leads):
                previous = None
                continue
            if anaphoric and previous is None:
                continue  # leans on a sentence that could not be kept
            index = len(self.pieces)
            self.label = index if block_label else None
            self.pieces.append(
                Piece(
                    "sentence",
                    sentence,
                    self.block,
                    index,
                    prev=previous if anaphoric else None,
                    note=bool(note),
                    leads=leads,
                )
            )
            previous = index

    def _list(self, items: list[_Item]) -> None:
        if not items:
            return
        self.block += 1
        last = self.pieces[-1] if self.pieces else None
        lead = last.index if last is not None and last.kind == "sentence" and last.leads else None
        self.label = None  # a label right above the list names it
        for item in items:
            text = re.sub(r"\s+", " ", " ".join(plain(x).strip() for x in item.lines if x != "\x00")).strip()
            code = item.code or ""
            if "\x00" in item.lines and text.endswith(":") and not code:
                text = text[:-1].rstrip() + "."  # its sub-items are left out
            if len(text) < 3 or (text.endswith(":") and not code):
                continue  # it introduced what is left out (a long listing)
            self.pieces.append(
                Piece(item.kind, text, self.block, len(self.pieces), lead=lead, note=item.quoted, code=code)
            )

    def _unused_label(self) -> None:
        """A tab's or platform's name says nothing without the steps it names."""
        if self.label is not None and self.label == len(self.pieces) - 1:
            self.pieces.pop()
        self.label = None

    def _orphan_lead(self) -> None:
        """A sentence that introduced what is left out (a table, a long code block) goes too."""
        if self.pieces and self.pieces[-1].kind == "sentence" and self.pieces[-1].leads:
            self.pieces.pop()

    def _code(self, code: list[str]) -> None:
        last = self.pieces[-1] if self.pieces else None
        if last is None or last.kind != "sentence" or not last.leads or last.code:
            return
        if code and len(code) <= MAX_CODE_LINES and all(len(c) <= 100 for c in code):
            self.pieces[-1] = Piece(
                last.kind,
                last.text,
                last.block,
                last.index,
                prev=last.prev,
                note=last.note,
                leads=last.leads,
                code="\n".join(c.strip() for c in code),
            )
        else:
            self.pieces.pop()


@dataclass
class _Item:
    """A list item or step being read: its lines, and the short command it introduces, if any."""

    kind: Kind
    lines: list[str]
    quoted: bool
    indent: int
    code: str | None = None  # None: no code block yet; "": one that is too long to quote

    def command(self, code: list[str]) -> None:
        """A code block inside the item: quoted with it when the item introduces it and it is short."""
        if self.code is not None:
            return  # a second listing: the item is quoted with its first only
        text = " ".join(self.lines).rstrip()
        short = code and len(code) <= MAX_CODE_LINES and all(len(c) <= 100 for c in code)
        self.code = "\n".join(c.strip() for c in code) if short and text.endswith(":") else ""


def _table_rows(lines: list[str]) -> list[str]:
    """A Markdown table as one line a row: "cell: cell" for two columns, else the first cell and each
    other cell under its header ("Price — Free: $0; Team: $9 per user/month")."""
    table = [[plain(c).strip() for c in line.strip().strip("|").split("|")] for line in lines]
    table = [row for row in table if not all(re.fullmatch(r":?-+:?", c) or not c for c in row)]
    if len(table) < 2:
        return []
    header, rows = table[0], table[1:]
    out = []
    for row in rows:
        if len(row) == 2:
            out.append(f"{row[0]}: {row[1]}")
        elif len(row) > 2:
            rest = "; ".join(f"{h}: {c}" if h else c for h, c in zip(header[1:], row[1:], strict=False) if c)
            out.append(f"{row[0]} — {rest}")
    return [row for row in out if row and not row.startswith((":", " —"))]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _valid_sentence(sentence: str, *, leads: bool) -> bool:
    """A whole sentence that reads on its own: no fragment, no bare lead-in, no "see also"."""
    words = sentence.split()
    if len(words) < 4 or len(sentence) < 20:
        return False
    if not (leads or sentence[-1] in ".!?" or sentence.endswith(('."', ".”", ".)", "?)"))):
        return False
    first = sentence[0]
    if not (first.isupper() or first.isdigit() or first in "\"“'(" or (first.islower() and len(words[0]) <= 4)):
        return False
    return not (_CONTINUATION.match(sentence) or _REFERENCE.match(sentence) or _STAFF.search(sentence))
