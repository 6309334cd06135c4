"""Small text helpers shared by the drafter, required data and evaluation: no NLP library needed."""

from __future__ import annotations

import functools
import re

# Words that carry no topic; left out of the FTS query so BM25 is not diluted by them.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below
    between both but by can could did do does doing don down during each few for from further had has have
    having he her here hers herself him himself his how i if in into is it its itself just me more most my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so
    some such than that the their theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why will with would you your yours
    yourself yourselves hi hello hey thanks thank please pls help im i'm ive i've can't cant dont won't get
    got also still even really ok okay like want need us let know one""".split()
)

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_LINK = re.compile(r"!?\[([^\]]*)\]\(([^)]*)\)")
_REF_LINK = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`|(?<!\w)_(?=\S)|(?<=\S)_(?!\w))")
_ADMONITION = re.compile(r"^\s*>\s*(\[!(\w+)\]|\*\*(\w+):?\*\*:?)\s*", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])")


def stem(word: str) -> str:
    """Crude suffix stripping: enough for 'codes' ~ 'code', 'deleting' ~ 'delete'."""
    if len(word) < 4 or word[-1] not in "gds":  # too short to lose a suffix, or ends in none of them
        return word
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def content_words(text: str) -> set[str]:
    """Lower-cased, stemmed words that carry meaning."""
    return {stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1}


@functools.lru_cache(maxsize=32_768)
def kb_words(text: str) -> frozenset[str]:
    """content_words of KB text (sentences, steps, headings, chunks), cached: they recur in every answer.

    Only KB text comes here, never ticket text (which is neither repeated nor ours to keep).
    """
    return frozenset(content_words(text))


def plain(markdown: str) -> str:
    """Markdown inline syntax removed: links keep their text, emphasis and admonition marks go."""
    text = _LINK.sub(r"\1", markdown)
    text = _REF_LINK.sub(r"\1", text)
    lines = [_ADMONITION.sub("", line).lstrip("> ").rstrip() for line in text.splitlines()]
    return _EMPHASIS.sub("", "\n".join(lines))


def sentences(paragraph: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(paragraph) if s.strip()]


def covers(fact: str, text: str, threshold: float = 0.6) -> bool:
    """True when `text` holds at least `threshold` of the fact's content words (eval's yardstick)."""
    words = content_words(fact)
    if not words:
        return True
    return len(words & content_words(text)) / len(words) >= threshold
