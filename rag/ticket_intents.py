"""Data a ticket's intent implies, whatever the KB says: a small rule table.

    for intent, item, why in implied_items("I was charged twice for my order"):
        ...   # ("billing", "date and amount of the charge", "…")

Each rule is a pattern on the ticket and the items an agent asks for that kind of ticket: a
charge → its date and amount (each one's, when it recurs); a lost login → the account's e-mail; an
error report → the exact error; a failing command → its whole output and that tool's version ("npm
version and operating system"); a failing CI run, build or deploy → a link to the run; an app crash
→ the app version, the device and its system version; an abuse report → the URL of what it reports
("URL of the repository being reported"); a deletion request → the account and a confirmation from
its owner. Rules that only make sense for a problem ("can't sign in", "please rename our org") stay
quiet on a how-to question.

The ticket is read once per answer (`read_intents`): every pattern is written in lower case and
matched against the lower-cased ticket (several times faster than case-insensitive matching), a
pattern several rules share is searched once, and the result is kept for the next call with the
same ticket (the drafter's opener asks again), keyed by a digest: no ticket text is kept.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


def _re(pattern: str) -> re.Pattern[str]:
    """A pattern for the lower-cased ticket: lower-case letters only, no IGNORECASE needed."""
    return re.compile(pattern)


@dataclass(frozen=True)
class IntentRule:
    intent: str
    pattern: re.Pattern[str]
    items: tuple[tuple[str, str], ...]  # (item, why); "{noun}" is the pattern's group "noun"
    problem_only: bool = False  # silent on a how-to question that reports no problem
    unless: re.Pattern[str] | None = None  # a more precise rule covers it
    needs: re.Pattern[str] | None = None  # and this must match too


ACCOUNT = "account e-mail address or username"
ERROR = "exact error message or code"
LOG = "full error output or log"

FAILURE = _re(
    r"\b(?:errors?|fails?|failed|failing|failure|crash(?:es|ed|ing)?|broken|bug(?:gy)?|"
    r"(?:doesn'?t|don'?t|isn'?t|aren'?t|won'?t|not|stopped) work(?:ing)?\b(?! (?:there|here|for|at|with))|"
    r"won'?t (?:load|open|start|sync|let)|"
    r"(?:can'?t|cannot|unable to) (?:load|open|install|connect|sync|publish|push|save|upload)|"
    r"freez(?:es|ing)|hangs|stuck|segfaults?|exceptions?|blank (?:page|screen))\b|"
    r"\b(?:says|said|shows|showing|getting|get|got|gives?)\b[^.!?]{0,40}\b(?:wrong|invalid|incorrect|denied|not found|"
    r"unauthori[sz]ed|forbidden|expired)\b"
)
# A failure of software (an error message exists), not of brakes after a bicycle crash.
SOFTWARE = _re(
    r"\b(?:errors?|exceptions?|bug|app|application|site|website|web|page|log ?in|sign ?in|"
    r"sync\w*|upload\w*|download\w*|install\w*|screen|button|browser|account|api|integration|extension|software|"
    r"system|command|terminal|server|e-?mail|link|checkout|portal|dashboard|program|script|build|publish\w*|"
    r"push\w*|connect\w*|settings|code|cli|sdk|plugin|update)\b"
)
PAYMENT_FAILURE = _re(
    r"\b(?:payment|card|charge)s?\b[^.!?]{0,40}\b(?:declined|failed|fail(?:s|ing)?|failure|rejected|bounced|expired)\b|"
    r"\b(?:declined|rejected|expired)\b[^.!?]{0,30}\bcard\b"
)
HOW_TO = _re(
    r"(?:^|[.!?\n]\s*)(?:hi[,!]?\s+)?(?:how (?:do|can|should|would|much|long|many)|how to|is it possible|can (?:i|we)|"
    r"what (?:happens|is|are|does|will)|is there|do you|does|will|when (?:do|will|does)|should (?:i|we)|which)\b"
)
PROBLEM = _re(
    r"\b(?:can'?t|cannot|unable|lost|locked|wrong|twice|missing|disappeared|stolen|hacked|never|no longer|"
    r"please|pls|can you|could you|need you to|expired|declined|rejected|removed|by mistake|accidentally|"
    r"won'?t|doesn'?t|didn'?t|isn'?t|aren'?t|not|still|keeps?|since)\b"
)

# A command-line tool the ticket runs ("npm install -g", "git push").
TOOL = _re(
    r"\b(?P<tool>npm|git|yarn|pnpm|pip|node|docker|gradle|mvn|brew|apt|kubectl|terraform|composer|cargo|gem)"
    r"\s+(?:install|i|ci|publish|unpublish|login|logout|adduser|push|pull|clone|fetch|commit|merge|rebase|run|exec|"
    r"build|start|test|update|upgrade|add|remove|rm|uninstall|audit|init|link|pack|config|compose|deploy|apply|plan|"
    r"token|owner|access|whoami|outdated|ls|list|cache|doctor|version|get|set)\b"
)

NOUNS = {"repo": "repository"}
NUMBERED = {"bike", "scooter", "car", "vehicle", "locker", "charger"}  # known by a number, the rest by a name

RULES: tuple[IntentRule, ...] = (
    IntentRule(
        # A command-line tool that fails: its whole output (a quoted one-line code is not the log) and
        # the version of that tool, named when the ticket runs it ("npm install -g" -> "npm version").
        "tool error",
        _re(
            rf"{TOOL.pattern}|"
            r"\b(?:command|terminal|cli|console|shell|install(?:ing|ed|s)?|compil\w*|build|sdk|publish\w*|ci|pipeline)\b"
        ),
        (
            (LOG, "a command's whole output shows where it failed, beyond the error's first line"),
            ("{tool} version and operating system", "the fix depends on the tool's version and platform"),
        ),
        unless=PAYMENT_FAILURE,
        needs=FAILURE,
    ),
    IntentRule(
        # A failing CI run, build or deploy: the agent opens the run itself.
        "failed run",
        _re(r"\b(?:workflows?|pipelines?|jobs?|builds?|deploy(?:s|ments?)?|ci|runners?)\b"),
        (("link to the failing run (workflow, pipeline or job)", "the run's page shows its logs and settings"),),
        unless=PAYMENT_FAILURE,
        needs=FAILURE,
    ),
    IntentRule(
        "error",
        FAILURE,
        ((ERROR, "the ticket reports a failure without quoting the error"),),
        unless=PAYMENT_FAILURE,
        needs=SOFTWARE,
    ),
    IntentRule(
        "app problem",
        _re(
            r"\b(?:app|application|mobile|android|iphone|ipad|extension|plugin|desktop|client)\b[^.!?]{0,80}"
            r"\b(?:crash\w*|freez\w*|closes|bug|glitch\w*|won'?t (?:open|load|start|sync)|not (?:syncing|loading))|"
            r"\b(?:crash\w*|freez\w*)\b[^.!?]{0,80}\b(?:app|mobile|android|iphone|extension|desktop)\b"
        ),
        (
            ("app version", "fixes and known issues depend on the version"),
            ("device model and operating system version", "known issues depend on the device and its system"),
            ("steps that lead to the problem", "to reproduce the problem"),
        ),
    ),
    IntentRule(
        "billing",
        _re(
            r"\b(?:was|were|been|got|being|keeps? getting|is)\s+(?:double[- ])?(?:charged|billed)\b"
            r"(?! (?:when|if))|"
            r"\bcharged (?:me|us|twice|again|double|for)\b|\bdouble[- ]?charg\w*|\brefund\w*|\bovercharg\w*|"
            r"\bunrecogni[sz]ed\b|\b(?:a|this|that|unknown|strange) charge (?:of|for|from|on)\b|"
            r"\bcharges? (?:i|we) (?:don'?t|do not|didn'?t) (?:recogni[sz]e|know)|\bdispute"
        ),
        (
            ("{charge}", "to find the charge in the billing records"),
            ("last 4 digits of the card", "to match the charge to the customer's card"),
            ("invoice or receipt number", "to find the charge in the billing records"),
        ),
        unless=PAYMENT_FAILURE,
    ),
    IntentRule(
        "invoice",
        _re(
            r"\b(?:reissue|correct|wrong|missing|update|change|fix|resend|duplicate)\w*\b[^.!?]{0,40}\b(?:invoice|receipt)s?\b|"
            r"\b(?:invoice|receipt)s?\b[^.!?]{0,40}\b(?:wrong|incorrect|missing|reissue\w*)\b"
        ),
        (("invoice or receipt number", "to find the invoice"),),
    ),
    IntentRule("payment failure", PAYMENT_FAILURE, (("last 4 digits of the card", "to find the payment attempt"),)),
    IntentRule(
        "sales",
        _re(
            r"\b(?:quote|volume (?:pricing|discount)|purchase order|custom (?:pricing|contract)|"
            r"(?:enterprise|volume) (?:deal|discount|agreement))\b"
        ),
        (
            ("company name", "sales quotes and contracts are made out to a company"),
            ("number of seats or users", "the price depends on it"),
        ),
    ),
    IntentRule(
        "abuse report",
        _re(
            r"\b(?:copied|copyright|infring\w*|dmca|impersonat\w*|phishing|malware|malicious|scam\w*|spam\w*|"
            r"typo-?squat\w*|stolen (?:code|content))\b"
        ),
        (("URL of the {reported} being reported", "the team acts on a specific page, account or item"),),
    ),
    IntentRule(
        "access",
        _re(
            r"\b(?:can'?t|cannot|unable to|couldn'?t|not able to|won'?t let me) (?:log ?in|sign ?in|login|access|"
            r"get (?:back )?in(?:to)?)|\blocked out\b|\blost access\b|\b(?:hacked|compromised|taken over)\b|"
            r"\b(?:log|sign)(?:ged)? (?:me )?out\b|\breset (?:e-?mail|link) (?:never|doesn'?t|isn'?t|not)\b|"
            r"\b(?:lost|new|stolen|broke\w*|wiped|reset) (?:my )?(?:phone|device|authenticator)\b"
        ),
        ((ACCOUNT, "to find the account and check who is asking"),),
    ),
    IntentRule(
        "data deletion",
        _re(
            r"\b(?:delete|close|remove|erase|deactivate|cancel)\b[^.!?]{0,20}\b(?:my|our|the)\s+(?:\w+\s+)?"
            r"(?:account|data|profile)\b|\bgdpr\b|\bright to (?:be forgotten|erasure|access)\b|\bpersonal data\b|"
            r"\b(?:copy|export) of (?:all )?(?:my|the) (?:personal )?data\b"
        ),
        (
            (ACCOUNT, "to find the account the request is about"),
            (
                "confirmation that the requester owns the account",
                "only the owner can have an account or its data removed",
            ),
        ),
    ),
    IntentRule(
        "plan change",
        _re(
            r"\b(?:cancel|downgrade|upgrade|unsubscribe)\b[^.!?]{0,30}\b(?:plan|subscription|account|membership|me|us)\b"
        ),
        ((ACCOUNT, "to find the subscription"),),
        problem_only=True,
    ),
    IntentRule(
        "organization",
        _re(
            r"\b(?:my|our|the|an?)\s+(?:\w+\s+)?(?:org|organi[sz]ation|workspace)\b[^.!?]*"
            r"\b(?:renam\w*|delet\w*|billing|payment|invoice|receipt|card|transfer\w*|owners?|seats?|plan|members?)\b|"
            r"\b(?:renam\w*|delet\w*|billing|payment|invoice|receipt|card|transfer\w*|owners?|seats?|plan|members?)\b"
            r"[^.!?]*\b(?:my|our|the)\s+(?:\w+\s+)?(?:org|organi[sz]ation|workspace)\b"
        ),
        (("organization or workspace name", "to find the organization"),),
        problem_only=True,
    ),
    IntentRule(
        "unnamed item",
        _re(
            r"\b(?:my|our|this|that|the|a)\s+(?:\w+\s+)?(?P<noun>package|repository|repo|project|bike|scooter|car|"
            r"vehicle|locker|charger)s?\b"
        ),
        (("{noun} " + "{kind}", "to know which {noun} the ticket is about"),),
        problem_only=True,
    ),
    IntentRule(
        "order",
        _re(
            r"\b(?:my|our|this|that|last|recent)\s+(?:\w+\s+)?(?P<noun>order|delivery|shipment|booking|reservation|ride|"
            r"trip|rental|journey|flight|stay|appointment)s?\b"
        ),
        (("{noun} number or ID", "to look the {noun} up"),),
        problem_only=True,
    ),
)


# What an abuse report is about, as the ticket names it ("a public repository", "this package").
REPORTED = _re(
    r"\b(?P<thing>repositor(?:y|ies)|repo|package|account|profile|page|site|website|app|listing|post|comment|video|"
    r"review|product|project|domain|email)s?\b"
)


# A charge that comes back ("every month since August"): the agent needs each one.
RECURRING = _re(
    r"\b(?:every|each) (?:month|year|week)\b|\b(?:monthly|recurring|repeated)\b|\b(?:several|multiple) charges\b"
)


@dataclass(frozen=True)
class Intents:
    """What one ticket's wording says: a how-to question or not, and the items its intents imply."""

    how_to: bool
    items: tuple[tuple[str, str, str], ...]  # (intent, item, why), in the rule table's order


def is_how_to(ticket: str) -> bool:
    """A question about how something works, with no problem reported and nothing asked of support."""
    return read_intents(ticket).how_to


def implied_items(ticket: str) -> list[tuple[str, str, str]]:
    """(intent, item, why) for every rule the ticket matches, in the table's order."""
    return list(read_intents(ticket).items)


MEMO_SIZE = 256
_memo: OrderedDict[bytes, Intents] = OrderedDict()
_memo_lock = threading.Lock()


def read_intents(ticket: str) -> Intents:
    """The ticket's intents, read once: the same ticket again (the drafter after required data) is
    a dictionary lookup. Keyed by a digest, and the items hold only the rule table's words."""
    key = hashlib.blake2b(ticket.encode("utf-8", "surrogatepass"), digest_size=16).digest()
    with _memo_lock:
        known = _memo.get(key)
        if known is not None:
            _memo.move_to_end(key)
            return known
    intents = _read(ticket.lower())
    with _memo_lock:
        _memo[key] = intents
        while len(_memo) > MEMO_SIZE:
            _memo.popitem(last=False)
    return intents


def _read(text: str) -> Intents:
    found: dict[int, re.Match[str] | None] = {}  # a pattern several rules share is searched once

    def search(pattern: re.Pattern[str]) -> re.Match[str] | None:
        key = id(pattern)
        if key not in found:
            found[key] = pattern.search(text)
        return found[key]

    how_to = bool(search(HOW_TO)) and not search(PROBLEM) and not search(FAILURE)
    out: list[tuple[str, str, str]] = []
    for rule in RULES:
        if rule.problem_only and how_to:
            continue
        match = search(rule.pattern)
        if match is None or (rule.unless is not None and search(rule.unless)):
            continue
        if rule.needs is not None and not search(rule.needs):
            continue
        names = _Names(text, match, search)
        out += [(rule.intent, _fill(item, names), _fill(why, names)) for item, why in rule.items]
    return Intents(how_to=how_to, items=tuple(out))


class _Names(dict[str, str]):
    """The words an item template names ("{tool} version"), each found only when a template asks."""

    def __init__(self, text: str, match: re.Match[str], search: Callable[[re.Pattern[str]], re.Match[str] | None]):
        super().__init__()
        self.text, self.match, self.search = text, match, search

    def __missing__(self, name: str) -> str:
        noun = self.match.groupdict().get("noun") or ""
        noun = NOUNS.get(noun, noun)
        if name == "noun":
            value = noun
        elif name == "kind":
            value = "number" if noun in NUMBERED else "name"
        elif name == "tool":
            tool = self.search(TOOL)
            value = tool.group("tool") if tool else "tool"
        elif name == "reported":
            value = _reported(self.search(REPORTED))
        elif name == "charge":
            recurring = self.search(RECURRING)
            value = "dates and amounts of the charges" if recurring else "date and amount of the charge"
        else:
            raise KeyError(name)
        self[name] = value
        return value


def _reported(match: re.Match[str] | None) -> str:
    if match is None:
        return "page or account"
    thing = match.group("thing")
    return {"repositories": "repository", "repo": "repository"}.get(thing, thing)


def _fill(text: str, names: _Names) -> str:
    out = text.format_map(names)
    return out.replace("tool version", "version of the tool") if out.startswith("tool version") else out
