"""What a ticket already gives, and whether a required-data item asks for it again.

    given = read_ticket("Checkout fails with E-204, my e-mail is ana@example.com")
    gives(given, "exact error message or code")    # True: E-204 is an error code
    gives(given, "account e-mail address")          # True
    gives(given, "order number")                    # False

An item is sorted into kinds by its words (e-mail, username, error, version, URL, an identifier
such as "ride ID" or "invoice number", …). "X or Y" is given when either part is; "X and Y" only
when both are. The customer must never be asked for what they already wrote, and only what they
wrote counts: a quoted error line is not the whole log (a pasted code block is), a device ("Pixel
8") is not its system's version ("Android 14"), a month ("since August") is not a date, and "I'm an
admin" answers whether the customer holds a role. An organization named like the product ("our
Tallyhive workspace": words the KB itself uses) is not the customer's organization. The patterns
that ignore case run on the lower-cased ticket, read once.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Set
from dataclasses import dataclass, field

from rag.text import content_words

Kind = str  # "email" | "username" | "error" | "version" | "url" | "amount" | "date" | … | "id:<noun>"


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


EMAIL = _re(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
URL = _re(r"\bhttps?://\S+|\bwww\.\S+|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:com|org|net|io|dev|app|example|co)(?:/\S*)?\b")
# Error codes in the shapes support tickets quote them. Case matters: EACCES is a code, "Extension" is not.
ERROR_CODES = (
    re.compile(r"\bE-?\d{2,}\b"),  # E-204, E1234
    re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b"),  # ERR_SSL_PROTOCOL_ERROR
    re.compile(r"\b0x[0-9A-Fa-f]{4,}\b"),  # 0x80070005
    re.compile(r"\bE[A-Z]{3,}\b"),  # EACCES, ENOSPC
    re.compile(r"\b[A-Z]{2,4}-\d{3}\b(?!-)"),  # TH-429
    re.compile(r"\bnpm ERR!|\b[A-Z][a-z]+(?:Error|Exception)\b|(?i:\bsegfault|\bsegmentation fault)"),
    _re(r"\bhttp(?:/\d(?:\.\d)?)?\s*[1-5]\d\d\b"),  # HTTP 403
    _re(r"\b(?:error|status)(?: code)?\s*[:#]?\s*-?\d{2,}\b"),  # error 1603, status 502
    re.compile(
        r"\b[45]\d\d (?:[A-Z][a-z]+|(?i:error))\b|(?i:\b(?:with|returns?|returned|gives?|throws?|an?))\s+[45]\d\d\b"
    ),
)
# A message quoted in the ticket: "…", '…', `…`, a code block, or "error: …" / "says: …".
QUOTED = _re(r"[\"“”‘`]([^\"“”’`\n]{6,})[\"“”’`]|(?<![A-Za-z])'([^'\n]{6,})'(?![A-Za-z])|```")
SAYS = _re(r"\b(?:error|says|said|message|shows|showing|reads)\s*:\s*\S")
MONEY = _re(r"[$€£]\s?\d[\d,.]*|\b\d[\d,.]*\s?(?:usd|eur|gbp|dollars|euros?)\b|\b(?:usd|eur|gbp)\s?\d[\d,.]*")
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|jun(?:e)?|jul(?:y)?|aug(?:ust)?|sep(?:t(?:ember)?)?|"
    r"oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
# A day: "March 3", "3 September", "2026-03-14", "yesterday". A month alone ("since August") is not one.
DATE = _re(
    rf"\b{_MONTH}\b\.?\s*\d{{1,2}}(?!\d)|\b\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}\b|"
    r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{1,4}\b|"
    r"\b(?:yesterday|today|this morning|last night|on (?:mon|tues|wednes|thurs|fri|satur|sun)day)\b"
)
# Any mention of a month (kept out of what is read as a version or a name).
MONTH = _re(rf"\b{_MONTH}\b\.?(?:\s*\d{{1,4}})?")
VERSION = _re(r"\bv?\d+\.\d+(?:\.\d+)*\b(?!\s?%)|\bversion\s+v?\d+\b")
CARD = _re(r"\b(?:ending|ends)\s+(?:in|with)\s*\d{4}\b|\blast (?:4|four)(?: digits)?\s*(?:are|is|:)?\s*\d{4}\b")
DEVICE = _re(
    r"\b(?:iphone|ipad|pixel|galaxy|samsung|android|ios|macos|mac|macbook|windows|linux|ubuntu|debian|alpine|"
    r"chromebook)\b"
)
OS_VERSION = _re(
    r"\b(?:android|ios|ipados|macos|mac ?os(?: x)?|windows|ubuntu|debian|fedora|centos|rhel|alpine|chromeos)\s*"
    r"(?:v(?:ersion)?\s*)?\d+(?:\.\d+)*\b|\bwindows (?:xp|vista)\b|"
    r"\bmacos (?:sonoma|sequoia|ventura|monterey|big sur|catalina|tahoe)\b"
)
BROWSER = _re(r"\b(?:chrome|firefox|safari|edge|brave|opera|chromium)\b")
# A username given explicitly: "username is jdoe", "my account `jdoe`", "account (noor-alsayed)", "@jdoe".
USERNAME = _re(
    r"\b(?:user\s?name|handle|user id|login)\s*(?:is|was|:|=)\s*[\"'`(]?@?[\w.-]{3,}|"
    r"\b(?:user\s?name|handle|account|user|profile)\s*[\"'`(]@?[\w.-]{3,}|"
    r"\b(?:my|our|the|his|her|their)\s+(?:user\s?name|account|user)\s+@?[\w.]*[\d_-][\w.-]*|"
    r"(?<![\w.@/])@[A-Za-z0-9][\w-]{2,}\b(?![/.@-])|"
    r"\b(?:user\s?name)\s+(?:from\s+)?[\"'`]?[\w.-]{3,}[\"'`]?\s+to\s+[\w.-]{3,}"
)
ORGANIZATION = _re(
    r"\b(?:org|organi[sz]ation|workspace|team|company)\s+[\"'`(]?@?[a-z0-9]+(?:[-_][\w.-]+)+|"
    r"\b[a-z0-9]+(?:[-_][a-z0-9]+)+\s+(?:org|organi[sz]ation|workspace|team)\b|"
    r"\b(?:org|organi[sz]ation|workspace|team)\s+(?:called|named|is|:)\s*[\"'`]?[\w@.-]{3,}|"
    r"\b(?:org|organi[sz]ation|workspace|team)\s+[\"'`][\w@.-]{3,}[\"'`]|"
    r"\bfrom\s+[\w.-]{3,}\s+to\s+[\w.-]{3,}|"
    r"\b(?:the|our|my)\s+(?!(?:new|old|paid|free|own|personal|company|whole|main|entire|other|same|current|work|"
    r"business|enterprise|team|shared|test|family)\b)[a-z][\w-]{3,}\s+(?:org|organi[sz]ation|workspace)\b"
)
# An identifier: a token with at least three digits ("123456", "INV-2026-0042", "#A-55821", "R-5512").
IDENTIFIER = _re(r"#?\b(?:[A-Z]{1,5}[-_]?)?\d[\w-]{2,}\b|#[A-Z0-9][\w-]{2,}\b")
YEAR = re.compile(r"(?:19|20)\d\d")
_ID_NEAR = 24  # characters between a noun ("order", "ride") and its number
_ID_WORDS = r"(?:numbers?|no\.?|nr\.?|num|ids?|#|codes?|references?|ref|keys?)"

# A command's output pasted as it is: three lines or more in a row that are indented or look like a log.
OUTPUT = re.compile(r"(?m)(?:^(?: {4}|\t|\$ |> |npm err!|error:|fatal:|warning:).*\n){3,}", re.IGNORECASE)
# The customer says which role they hold ("I'm an admin in the workspace", "as the owner").
ROLE = _re(
    r"\b(?:i am|i'm|im|as|we are|we're)\s+(?:an?|the|one of the)\s+(?:[\w-]+\s+){0,2}?"
    r"(?:owner|admin|administrator|manager|maintainer|moderator|account holder)s?\b"
)
_OS_PHRASE = _re(r"\b(?:operating system|os|android|ios|windows|macos) versions?\b")
_KIND_WORDS: tuple[tuple[Kind, re.Pattern[str]], ...] = (
    ("email", _re(r"\be-?mails?\b(?! (?:provider|client|app|notification))")),
    ("username", _re(r"\buser\s?names?\b|\bhandle\b|\blogin name\b|\baccount name\b")),
    (
        "error",
        _re(
            r"\berror (?:messages?|codes?|text|output|logs?|details|shown)\b|\b(?:exact|full) errors?\b|"
            r"\berrors? (?:you|it|they) (?:see|get|got|show)|\bwhat (?:the )?error\b|\bcrash (?:log|report)s?\b"
        ),
    ),
    ("version", _re(r"\bversions?\b")),
    ("url", _re(r"\burls?\b|\blinks?\b|\bweb ?address\b|\bsite address\b|\bdomain\b")),
    ("amount", _re(r"\bamounts?\b")),
    ("date", _re(r"\bdates?\b")),
    ("card", _re(r"\blast (?:4|four) digits\b")),
    ("device", _re(r"\bdevices?\b|\b(?:phone|device) model\b")),
    # The system's version is not the device: "Pixel 8" gives the device, "Android 14" the system.
    ("os", _re(r"\boperating systems?\b|\bos(?: version)?\b|\b(?:android|ios|windows|macos) version\b")),
    ("browser", _re(r"\bbrowsers?\b")),
    ("organization", _re(r"\b(?:organi[sz]ation|workspace|org|team|company) names?\b")),
    (
        "log",
        _re(r"\b(?:full|complete|whole) (?:error )?(?:output|logs?)\b|\b(?:error|debug|crash) logs?\b|\blog files?"),
    ),
    ("role", _re(r"^whether the customer is\b")),
)
# "order number", "ride ID", "invoice or receipt number": the nouns an identifier belongs to.
_IDENTIFIER_ITEM = _re(rf"\b((?:[a-z][a-z-]+ (?:or|and|/) )?[a-z][a-z-]+)\s+{_ID_WORDS}(?=\W|$)")
_NAME_ITEM = _re(r"\b(package|repository|project|site|app)\s+names?\b")
_NOT_NOUNS = {
    "the",
    "your",
    "a",
    "an",
    "or",
    "and",
    "version",
    "error",
    "card",
    "phone",
    "postal",
    "zip",
    "date",
    "dates",
}


@dataclass
class Given:
    """What one ticket already contains."""

    text: str
    kinds: set[Kind] = field(default_factory=set)

    def has_identifier(self, noun: str) -> bool:
        """A number next to `noun` ("order #A-55821", "ride 123456") or named by a prefix (INV-…)."""
        for match in IDENTIFIER.finditer(self.text):
            token = match.group(0).lstrip("#")
            if DATE.fullmatch(token) or YEAR.fullmatch(token) or sum(c.isdigit() for c in token) < 3:
                continue
            before = self.text[max(0, match.start() - _ID_NEAR) : match.start()].lower()
            if re.search(rf"\b{re.escape(noun)}", before):
                return True
            prefix = re.match(r"[A-Za-z]{2,5}", token)
            if prefix and noun.startswith(prefix.group(0).lower()):
                return True
        return False

    def has_name(self, noun: str) -> bool:
        """The ticket names its package, repository, …: "package @acme/ui", "repo `weatherbot`", "my-app repo"."""
        if noun == "package" and re.search(r"(?<![\w.])@[\w-]+/[\w.-]+", self.text):
            return True  # a scoped package name names the package wherever it stands
        noun = "repo(?:sitory)?" if noun == "repository" else re.escape(noun)
        after = rf"\b{noun}s?\s+(?:is\s+|:\s*)?(?:\([^)]*\)\s*)?{NAMED}"
        before = rf"{NAMED}\s+{noun}\b"
        return bool(re.search(after, self.text, re.IGNORECASE) or re.search(before, self.text, re.IGNORECASE))


# A name as tickets give it: @scope/name, a quoted or backticked name, a slug (my-app, acme/api), "called x".
NAMED = r"(?:@[\w-]+/[\w.-]+|[\"'`][^\"'`\n]{2,60}[\"'`]|[\w.@-]*[-_/.\d][\w.@/-]*|called \S+|named \S+)"


def read_ticket(text: str, known: Set[str] | Callable[[], Set[str]] = frozenset()) -> Given:
    """What `text` gives. `known`: the stemmed words of the KB sections the answer reads (or what
    returns them, asked only when the ticket seems to name an organization): a name they use ("our
    Tallyhive workspace") is the product's, not the customer's organization."""
    given = Given(text=text)
    low = text.lower()  # the case-insensitive patterns run on it as they are, several times faster
    plain = low  # what is left for versions, names and URLs
    for pattern in (EMAIL, DATE, MONTH, MONEY):
        plain = _LOW[pattern].sub(" ", plain)
    checks: dict[Kind, bool] = {
        "email": bool(_LOW[EMAIL].search(low)),
        "error": _error_given(text, low),
        "version": bool(_LOW[VERSION].search(plain)),
        "url": bool(_LOW[URL].search(plain)),
        "amount": bool(_LOW[MONEY].search(low)),
        "date": bool(_LOW[DATE].search(low)),
        "card": bool(_LOW[CARD].search(low)),
        "device": bool(_LOW[DEVICE].search(low)),
        "os": bool(_LOW[OS_VERSION].search(low)),
        "browser": bool(_LOW[BROWSER].search(low)),
        "username": bool(_LOW[USERNAME].search(plain)),
        "organization": _names_organization(plain, known),
        "log": "```" in text or bool(_LOW[OUTPUT].search(low)),
        "role": bool(_LOW[ROLE].search(low)),
    }
    given.kinds = {kind for kind, found in checks.items() if found}
    return given


_ORGANIZATION_WORDS = content_words("org organization organisation workspace team company called named")


def _names_organization(text: str, known: Set[str] | Callable[[], Set[str]]) -> bool:
    for match in _LOW[ORGANIZATION].finditer(text):
        name = content_words(match.group(0)) - _ORGANIZATION_WORDS
        if callable(known):
            known = known()
        if not name or not name <= known:
            return True
    return False


def error_given(text: str) -> bool:
    """The ticket quotes an error: a code in a common shape, a quoted message or a code block."""
    return _error_given(text, text.lower())


def _error_given(text: str, low: str) -> bool:
    if _LOW[QUOTED].search(low) or _LOW[SAYS].search(low):
        return True
    return any(pattern.search(low if lowered else text) for pattern, lowered in _ERROR_CODES)


def _lower(pattern: re.Pattern[str]) -> re.Pattern[str]:
    """A case-insensitive pattern whose letters are all lower case, for the lower-cased text."""
    return re.compile(pattern.pattern, pattern.flags & ~re.IGNORECASE)


# Each pattern read_ticket runs (their letters in lower case), compiled once more for the lower-cased text.
_LOW = {
    p: _lower(p) if p.flags & re.IGNORECASE else p
    for p in (EMAIL, URL, MONEY, DATE, MONTH, VERSION, CARD, DEVICE, OS_VERSION, BROWSER, USERNAME, ORGANIZATION)
    + (OUTPUT, ROLE, QUOTED, SAYS, *ERROR_CODES)
}
# (pattern, whether it reads the lower-cased text): case matters to some ("EACCES" is a code, "Extension" is not).
_ERROR_CODES = [(_LOW[p], _LOW[p] is not p) for p in ERROR_CODES]


def item_kinds(item: str) -> set[Kind]:
    """The kinds of data one item asks for (an empty set: free text the ticket cannot give)."""
    kinds = {kind for kind, words in _KIND_WORDS if words.search(item)}
    if "log" in kinds:
        kinds.discard("error")  # a whole log is more than the error's first line a ticket quotes
    if "os" in kinds and not re.search(r"\bversions?\b", _OS_PHRASE.sub(" ", item), re.IGNORECASE):
        kinds.discard("version")  # "operating system version" is the system's, not the app's
    if "role" in kinds:
        return {"role"}  # "whether the customer is the owner or a billing admin": one question
    for match in _NAME_ITEM.finditer(item):
        kinds.add(f"name:{match.group(1).lower()}")
    for match in _IDENTIFIER_ITEM.finditer(item):
        for noun in re.split(r"\s+|/", match.group(1).lower()):
            if noun not in _NOT_NOUNS:
                kinds.add(f"id:{noun}")
    return kinds


def gives(given: Given, item: str, *, kinds: Set[Kind] | None = None) -> bool:
    """True when the ticket already holds what `item` asks for (`kinds`: its item_kinds, if known)."""
    kinds = item_kinds(item) if kinds is None else kinds
    if not kinds:
        return False
    found = [_has(given, kind) for kind in kinds]
    return any(found) if re.search(r"\bor\b", item, re.IGNORECASE) else all(found)


def _has(given: Given, kind: Kind) -> bool:
    if kind.startswith("id:"):
        return given.has_identifier(kind[3:])
    if kind.startswith("name:"):
        return given.has_name(kind[5:])
    return kind in given.kinds
