"""What the agent still has to collect from the customer.

    items = required_data(ticket_text, evidence, escalate=False)

Items come from two places: sentences of the retrieved chunks that ask for something ("you will
need your invoice number", a "Before you start" section), and the ticket's own intent (it reports
an error but quotes none). Anything the ticket already contains (an e-mail address, an invoice
number, a version, a quoted error) is left out: the customer must not be asked twice.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from rag.models import Hit, RequiredItem, Tier


@dataclass(frozen=True)
class DataItem:
    item: str
    cue: re.Pattern[str]  # in KB text: this item is asked for
    given: re.Pattern[str]  # in the ticket: the customer already gave it


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


EMAIL = _re(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
QUOTED = _re(r"[\"“'‘`]([^\"”'’`]{8,})[\"”'’`]")
# Case matters here: EACCES is an error code, "extension" is not.
ERROR_CODE = re.compile(r"\b([A-Z]{2,}-\d{2,}|E[A-Z]{3,}\b|npm ERR!|HTTP \d{3}|[45]\d\d\b)")

ITEMS: tuple[DataItem, ...] = (
    DataItem("account e-mail address", _re(r"\b(account|registered|login|billing) e-?mail|e-?mail address"), EMAIL),
    DataItem(
        "username",
        _re(r"\busername\b|\buser name\b"),
        _re(
            r"\busername\s*(is|:|=)?\s*[\"'`]?[\w.-]{3,}|\bmy (npm )?user(name)? [\"'`]?[\w.-]{3,}|"
            r"\bfrom [\w.-]{3,} to [\w.-]{3,}"
        ),
    ),
    DataItem(
        "organization or workspace name",
        _re(r"\b(organi[sz]ation|workspace|team|org) name\b"),
        _re(
            r"\b(org|organi[sz]ation|workspace|team)\s+(called|named|is|:)\s*[\"'`]?[\w@.-]{3,}|"
            r"\bfrom [\w.-]{3,} to [\w.-]{3,}"
        ),
    ),
    DataItem(
        "invoice or receipt number",
        _re(r"\b(invoice|receipt|order) (number|id|#)"),
        _re(r"\b(inv|invoice|receipt|order)[\s#:-]*[A-Z]{0,4}-?\d{3,}"),
    ),
    DataItem("last 4 digits of the card", _re(r"last (4|four) digits"), _re(r"\b(ending|ends) (in|with)\s*\d{4}\b")),
    DataItem(
        "date and amount of the charge",
        _re(r"\b(date|amount) of the (charge|payment)"),
        _re(r"[$€£]\s?\d+|\d+(\.\d\d)?\s?(usd|eur|gbp)\b"),
    ),
    DataItem(
        "app version",
        _re(r"\b(app|application|client|extension|cli) version|version number"),
        _re(r"\bv?\d+\.\d+(\.\d+)?\b"),
    ),
    DataItem(
        "device model and operating system",
        _re(r"\bdevice (model|type)|operating system|os version"),
        _re(r"\b(iphone|ipad|pixel|galaxy|android|ios|macos|windows|linux|ubuntu|alpine)\b"),
    ),
    DataItem(
        "browser and version",
        _re(r"\bbrowser (and|version)|which browser"),
        _re(r"\b(chrome|firefox|safari|edge|brave|opera)\b"),
    ),
    DataItem("exact error message or code", _re(r"\berror (message|code)s?\b"), _re(r"$^")),  # see _error_given
    DataItem("package name", _re(r"\bpackage name\b"), _re(r"@[\w-]+/[\w.-]+|\bpackage [\"'`][\w@/.-]+[\"'`]")),
)

# A sentence asks for data when it says so; a CRITICAL requirements section asks by being there.
ASKING = _re(
    r"\b(you('ll| will)? need|need to (provide|include|send|have)|required|must (provide|include|have)|"
    r"please (provide|include|send)|have (ready|on hand)|include|provide|verify|confirm|make sure)\b"
)
REPORTS_ERROR = _re(r"\b(error|fails?|failed|failing|crash(es|ed)?|broken|doesn'?t work|not working|won'?t|can'?t)\b")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
EVIDENCE_ARTICLES = 2


def _error_given(ticket: str) -> bool:
    return bool(QUOTED.search(ticket) or ERROR_CODE.search(ticket))


def already_given(item: DataItem, ticket: str) -> bool:
    if item.item == "exact error message or code":
        return _error_given(ticket)
    return bool(item.given.search(ticket))


def required_data(ticket: str, evidence: Sequence[Hit], *, escalate: bool) -> list[RequiredItem]:
    found: dict[str, RequiredItem] = {}
    articles: list[str] = []
    for hit in evidence:
        if hit.chunk.article_id not in articles:
            articles.append(hit.chunk.article_id)
    kept = set(articles[:EVIDENCE_ARTICLES]) if not escalate else set()
    for hit in evidence:
        chunk = hit.chunk
        if chunk.article_id not in kept:
            continue
        asking_section = chunk.kind == "requirements" or chunk.tier is Tier.CRITICAL
        for sentence in _SENTENCE.split(chunk.text):
            if not (asking_section or ASKING.search(sentence)):
                continue
            for item in ITEMS:
                if item.cue.search(sentence) and not already_given(item, ticket):
                    entry = found.setdefault(
                        item.item,
                        RequiredItem(item=item.item, why=_why(chunk.title, chunk.heading_path, sentence)),
                    )
                    if chunk.id not in entry.source_ids:
                        entry.source_ids.append(chunk.id)
    error_item = "exact error message or code"
    if error_item not in found and REPORTS_ERROR.search(ticket) and not _error_given(ticket):
        found[error_item] = RequiredItem(item=error_item, why="the ticket reports a failure without quoting it")
    return list(found.values())


def _why(title: str, heading: str, sentence: str) -> str:
    where = f"{title} > {heading}" if heading else title
    text = " ".join(sentence.strip(" >-*").split())
    text = re.sub(r"\*\*|\[!?\w+\]", "", text).strip()
    return f"{where}: {text[:160]}"
