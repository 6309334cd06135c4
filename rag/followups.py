"""Follow-ups: what a new message of a conversation refers to, for the search query.

    search_text("what if they paid with PayPal?", history)   # the follow-up + the question it follows
    refers_back("and for annual plans?")                       # True
    refers_back("How do I export my timesheets to Excel?")     # False: it stands on its own

Later messages of a thread are often elliptical: "what if they paid with PayPal?" searched alone
finds articles about payment methods, not about the refund the thread is about. So the query is
the new message, plus, when it is short or refers back (an opener like "what if", "and", "what
about"; a pronoun like "they", "it", "that" in a short message), the conversation's original
question (its first human turn) and the human turn just before the new one. A message that stands
on its own is searched alone, and the bot's own answers are never searched: they are our words,
not the customer's question (searching them would only find again what we cited).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rag.models import Turn

SHORT_WORDS = 4  # "and for annual plans?": too short to stand alone
PRONOUN_WORDS = 15  # a pronoun refers back only in a short message; a pasted ticket says "it" too
ORIGINAL_CHARS = 2_000  # of the original question, in the query
PREVIOUS_CHARS = 1_000  # of the turn just before the follow-up

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_OPENER = re.compile(
    r"^\s*(?:and|but|also|or|plus|so|then|otherwise|instead|what if|what about|how about|what else|"
    r"anything else|same (?:for|with|if|question)|in that case|if so|if not|even if|"
    r"(?:does|do|did|is|was|will|would|can|could|should) (?:that|this|it|they|these|those|he|she)|"
    r"why (?:not|is that|does that)|how come|ok(?:ay)?,? (?:and|but|so|what|how))\b",
    re.IGNORECASE,
)
_ANAPHORA = frozenset(
    "it its they them their theirs this that these those he she him her his hers same instead either "
    "too else one ones there then".split()
)


def refers_back(text: str) -> bool:
    """True when `text` needs the earlier conversation to be understood."""
    words = _WORD.findall(text.lower().replace("’", "'"))
    if not words:
        return False
    if len(words) <= SHORT_WORDS or _OPENER.match(text):
        return True
    return len(words) <= PRONOUN_WORDS and any(w.split("'")[0] in _ANAPHORA for w in words)


def search_text(current: str, history: Sequence[Turn]) -> str:
    """The search query of `current` after `history` (oldest first): see the module docstring."""
    humans = [t.text.strip() for t in history if t.role != "bot" and t.text.strip()]
    if not humans or not refers_back(current):
        return current
    parts = [current.strip()]
    original, previous = humans[0], humans[-1]
    if len(humans) > 1 and previous != original:
        parts.append(_clip(previous, PREVIOUS_CHARS))
    parts.append(_clip(original, ORIGINAL_CHARS))
    return "\n\n".join(parts)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[:limit]
    space = cut.rfind(" ")
    return cut[: space if space > limit // 2 else limit]
