"""What a KB section asks the customer for, in the KB's own words.

    asked_items("When you report a damaged bike, include the bike number and your ride ID.")
    # ["bike number", "ride ID"]
    asked_items("- Your order number", requirements=True)      # a "Before you start" list item
    # ["order number"]

A sentence asks when it tells the customer what to send ("include", "provide", "tell us", "we
will need", "the agent will ask for", "you'll need your …"; not "updated to include", which says
what something is for); the noun phrases after that verb are the items, cut at the clause that
follows ("… so we can find it", "… printed on the frame") and split at commas and "and the …";
"either the card's last 4 digits or your last invoice number" is one item. Phrases that
are not data (a role, an action) and secrets (passwords, tokens, one-time codes) are dropped: an
agent must never ask for a secret. In a requirements section ("Before you start", "What you'll
need") or under a lead-in that asks ("… contact support with:") a bare list item is an item too, in
its own words ("signed authorisation on company letterhead from a director"). "You need to be an
owner" (in a requirements section), "Only the owner or a billing admin can …", "The request must
come from the account owner" and "A workspace owner can't …" (anywhere) ask whether the customer
holds that role; "If your company signs in with SSO, …" in a requirements list asks whether it does.
"""

from __future__ import annotations

import functools
import re

from rag.text import plain


def _re(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# A verb that asks for data; what follows it is the object. "Strong" verbs ask on their own.
_STRONG = _re(
    r"\b(?:send us|tell us|let us know|give us|share with us|"
    r"(?:we|support|our (?:support )?team|the [\w-]+ team|(?:the|an|our) (?:support )?agents?)"
    r"(?:'ll| will| may| might| can)? (?:need|ask (?:you )?(?:for|to (?:provide|send|share|confirm))|require)s?"
    r"(?: to (?:know|see|have))?|"
    r"you(?:'ll| will)? need (?:to (?:provide|include|send|have|know|give us) )?(?=(?:your|the|an?|both)\b)|"
    r"(?:have|keep) (?=(?:your|the)\b[^.]{2,60}\b(?:ready|handy|to hand|on hand)\b)|"
    r"contact (?:us|support|[\w ]{0,30}team) with|make sure (?:you have|to include) )"
)
_WEAK = _re(
    r"\b(?:please )?(?:include|provide|send|share|attach|mention|specify|supply|note down|write down)"
    r"(?: (?:us|in (?:your|the) (?:request|message|ticket|e-?mail|report)))?:? "
)
# The weak verbs ask only when the sentence is about writing to support.
_SUPPORT = _re(
    r"\b(?:contact(?:ing)?|support|write to|writ(?:e|ing) to|reach(?:ing)? out|report(?:ing)?|request|ticket|"
    r"us|we|our team|privacy team|help desk|form)\b"
)
# Instructions to the customer about a screen, not data for the agent.
UI = _re(
    r"\bwhen prompted\b|\bclick\b|\bselect\b|\bon the [\w -]{1,30} (?:page|screen|form|dialog)\b|"
    r"\b(?:in|to) the (?:field|box|form)\b|\btype (?:your|the)\b|\benter (?:your|the)\b|\bcommand\b"
)
_REQUIRED = _re(r"^(?P<obj>(?:your|the|an?) [^.,;:]{2,60}?) (?:is|are) (?:required|needed|mandatory)\b")
_BE_ROLE = _re(r"\byou (?:need|have|must) (?:to )?be (?P<role>(?:an?|the) [^.,;:(]{2,40})")
# What only a role may do ("Only the workspace owner or a billing admin can cancel", "The request must
# come from the account owner"): the agent has to know whether the customer holds it.
_ROLE = r"(?:owner|admin|administrator|manager|maintainer|moderator|billing contact|account holder)s?"
_ROLES = rf"(?:the |an? )?(?:[\w-]+ ){{0,2}}?{_ROLE}(?: or (?:the |an? )?(?:[\w-]+ ){{0,5}}?(?:{_ROLE}|role))?"
_ONLY_ROLE = _re(
    rf"\b(?:only (?P<only>{_ROLES}) (?:can|may|is able to|are able to)\b|must come from (?P<source>{_ROLES})\b|"
    rf"(?:^|: )(?P<barred>(?:an?|the) (?:[\w-]+ ){{0,2}}?{_ROLE}) (?:can'?t|cannot|can not|isn'?t able to)\b)"
)
# A condition of the customer's setup in a requirements list ("If your company signs in with single
# sign-on (SSO), you don't have a password"): the agent has to know whether it holds.
_CONDITION = _re(
    r"^if (?P<subject>you|your (?:[\w-]+ ){0,2}?[\w-]+)(?P<verb> use| uses| (?:sign|log)s? in (?:with|through|via))\b"
    r" (?P<rest>[^,;:]{2,60}),"
)
# A lead-in whose list is what to send: "Ask an admin to contact support from a company address with:".
_ASKING_LEAD = _re(r"\b(?:contact(?:ing)? (?:us|support|[\w ]{0,30}team)|write to (?:us|support)|reply to)\b.*\bwith:$")
ROLE_ITEM = "whether the customer is "

_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
_PARENS = re.compile(r"\s*\([^)]*\)")
# Where an object noun phrase ends: a clause, a purpose, a place.
_PURPOSE = _re(r"\s+(?:so that|so|in order|because|to help|to make)\b|[;:!?]|\.(?:\s|$)|\s[-–—]\s")
_CLAUSE = _re(
    r"\s+(?:when|whenever|if|before|after|which|that|who|where|while|from|for|by|via|on|at|in|into|as|unless|"
    r"otherwise|then|to (?!the\b|your\b|a\b)\w+|you|we|ready|handy|to hand|on hand|"
    # a participle that says where the item is found: "the bike number printed on the frame"
    r"(?:[a-z]+ed|shown|written|seen|found|given|sent) (?=(?:on|in|at|under|by|from|below|above|next to)\b))\b"
)
_SPLIT = _re(
    r"\s*,\s*(?:and\s+|or\s+)?|"
    r"\s+(?:and|or|as well as|plus)\s+(?=(?:your|the|an?|any|either|which|what|where|when|how)\b)"
)
_PAIR = _re(r"^(\S+\s+\S+.*?)\s+(?:and|or)\s+(?!its\b|their\b)(\S+\s+\S+.*)$")
_DETERMINER = _re(r"^(?:(?:your|the|an?|any|all|its|their|our|both|either|some|each|every|this|that|these|those)\s+)+")
_WH = _re(r"^(?:which|what|where|when|how|whether|who)\b")
DATA_HEADS = frozenset(
    """number numbers id ids code codes address addresses name names username usernames email e-mail emails
    version versions date dates time times zone amount amounts url urls link links screenshot screenshots
    message messages log logs output details digits key keys reference references model type system location
    site photo photos picture pictures description steps browser device domain receipt receipts invoice
    invoices serial ip range path text hash region country proof confirmation authorisation authorization
    letter document documents identifier handle title size error errors""".split()
)
SECRET = _re(
    r"\b(?:password|passphrase|passcode|token|secret|pin|cvv|cvc|otp|one-time|recovery codes?|backup codes?|"
    r"(?:authentication|verification|2fa|two-factor|security|sms|login) codes?|(?:private|api|ssh|secret|"
    r"license|licence|deploy) keys?|full card number|card number)\b"
)
MAX_WORDS = 7
MAX_LISTED_WORDS = 12  # a list item names one item, however it qualifies it
_RELATIVE = _re(r"\s+(?:when|whenever|if|which|that|who|where|while|unless|so|because|before|after)\b")


def asked_items(text: str, *, requirements: bool = False) -> list[tuple[str, str]]:
    """(item, the sentence that asks for it) for every item `text` asks for, in reading order."""
    return list(_asked_items(text, requirements))


@functools.lru_cache(maxsize=8_192)
def _asked_items(text: str, requirements: bool) -> tuple[tuple[str, str], ...]:
    # KB chunk text only, parsed once: the same chunks come back in answer after answer.
    found: list[tuple[str, str]] = []
    lead = ""  # a lead-in that asks for the list after it ("… contact support with:")
    for raw in _SENTENCE.split(plain(text)):
        sentence = " ".join(raw.split())
        listed = bool(_LIST_ITEM.match(raw))
        if not listed and sentence:
            lead = sentence if sentence.endswith(":") and (asks(sentence) or _ASKING_LEAD.search(sentence)) else ""
        if not sentence or UI.search(sentence):
            continue
        items = _items_of(sentence, requirements=requirements or bool(listed and lead), listed=listed)
        for item in items:
            if item.lower() not in {i.lower() for i, _ in found}:
                found.append((item, f"{lead} {sentence.strip(' -*')}" if listed and lead else sentence.strip(" -*")))
    return tuple(found)


@functools.lru_cache(maxsize=32_768)
def asks(sentence: str) -> bool:
    """True when the sentence asks the customer to send something (used with the fallback vocabulary)."""
    return bool(_STRONG.search(sentence) or (_weak(sentence) and _SUPPORT.search(sentence)))


# "packages not updated to include the fixed version": a verb's purpose, not an ask ("be sure to include" is one).
_INFINITIVE = _re(r"\b(?!(?:sure|remember|forget|need|needs|want|wants|have|has|please|also|always)\b)\w+ to $")


def _weak(text: str) -> list[re.Match[str]]:
    """The weak verbs of `text` that ask (imperatives), not those that say what something is for."""
    return [m for m in _WEAK.finditer(text) if not _INFINITIVE.search(text[max(0, m.start() - 30) : m.start()])]


def _items_of(sentence: str, *, requirements: bool, listed: bool) -> list[str]:
    text = _PARENS.sub("", _LIST_ITEM.sub("", sentence)).strip()
    objects = [text[match.end() :] for match in _STRONG.finditer(text)]
    if _SUPPORT.search(text):
        objects += [text[match.end() :] for match in _weak(text)]
    only = _ONLY_ROLE.search(text)
    if only:
        role = (only.group("only") or only.group("source") or only.group("barred")).strip()
        return [ROLE_ITEM + _role_phrase(role[0].lower() + role[1:])]
    if requirements:
        condition = _CONDITION.match(_LIST_ITEM.sub("", sentence).strip())
        if condition:
            return [_whether(condition)]
        role = _BE_ROLE.search(text)
        if role:
            cut = _CLAUSE.search(role.group("role"))
            return [f"{ROLE_ITEM}{role.group('role')[: cut.start() if cut else None].strip()}"]
        required = _REQUIRED.search(text)
        if required:
            objects.append(required.group("obj"))
        elif listed and not objects and re.match(r"(?i)(?:your|the|an?) ", text):
            objects.append(text)  # a bare list item: "Your order number"
    items: list[str] = []
    for obj in objects:
        for phrase in _phrases(obj, whole=listed):
            if phrase not in items:
                items.append(phrase)
    return items


def _whether(condition: re.Match[str]) -> str:
    """ "If your company signs in with SSO," -> "whether the customer's company signs in with SSO"."""
    subject = condition.group("subject")
    verb = condition.group("verb").strip()
    if subject.lower() == "you":
        subject, verb = "the customer", re.sub(r"^(use|sign|log)\b", r"\1s", verb, flags=re.IGNORECASE)
    else:
        subject = "the customer's " + subject.split(" ", 1)[1]
    return f"whether {subject} {verb} {condition.group('rest').strip()}"


def _role_phrase(role: str) -> str:
    """ "workspace owner" -> "the workspace owner"; "organization owners" -> "one of the organization owners"."""
    if re.match(r"(?i)(?:the|an?) ", role):
        return role
    first = role.split(" or ")[0]
    return f"one of the {role}" if first.endswith("s") else f"the {role}"


def _phrases(obj: str, *, whole: bool = False) -> list[str]:
    """The data items an object names. A list item (`whole`) is one item in its own words, its
    place or source kept ("signed authorisation on company letterhead from a director"); "either
    the card's last 4 digits or your last invoice number" is one item, either of which will do."""
    stop = _PURPOSE.search(obj)
    out: list[str] = []
    parts = _SPLIT.split(obj[: stop.start()] if stop else obj)
    while parts:
        part = parts.pop(0)
        items = _part_items(part, whole=whole)
        if _EITHER.match(part.strip()) and parts and len(items) == 1:
            other = _part_items(parts[0], whole=whole)
            if len(other) == 1:
                parts.pop(0)
                items = [f"{items[0]} or {other[0]}"]
        out += items
    return out


_EITHER = _re(r"^(?:your |the )?either\b")


def _part_items(part: str, *, whole: bool) -> list[str]:
    part = _clean(part)
    if whole:
        relative = _RELATIVE.search(part)
        full = _clean(part[: relative.start()] if relative else part)
        cut = _CLAUSE.search(full)
        if cut and _is_data(full[: cut.start()]) and len(full.split()) <= MAX_LISTED_WORDS:
            return [full]
    if not _WH.match(part) and not _contact_clause(part):
        cut = _CLAUSE.search(part)
        part = part[: cut.start()] if cut else part
    pieces = [part]
    pair = _PAIR.match(part)
    if pair and _is_data(pair.group(1)) and _is_data(pair.group(2)):
        pieces = [pair.group(1), pair.group(2)]  # "ride ID and bike number"
    return [p for p in map(_clean, pieces) if _is_data(p)]


def _contact_clause(phrase: str) -> bool:
    """ "time the entry was stopped", "date it happened": a data word and the clause that says which."""
    words = phrase.lower().split()
    return len(words) >= 3 and words[0] in DATA_HEADS and bool(_DETERMINER.match(words[1] + " ") or words[1] == "it")


def _clean(phrase: str) -> str:
    return " ".join(_DETERMINER.sub("", phrase.strip(" .,;:*_`'\"-")).split())


def _is_data(phrase: str) -> bool:
    words = phrase.lower().split()
    if not words or len(words) > MAX_WORDS or SECRET.search(phrase):
        return False
    if _WH.match(phrase) or _contact_clause(phrase):
        return len(words) >= 2
    head = words[words.index("of") - 1] if "of" in words[1:] else words[-1]
    return head.strip(".,") in DATA_HEADS
