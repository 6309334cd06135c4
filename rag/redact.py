"""PII redaction before text leaves for a hosted model, and restoration in what comes back.

    redactor = Redactor()
    safe = redactor.redact("Card 4242 4242 4242 4242, mail ana@example.com")
    # -> "Card [CARD_1], mail [EMAIL_1]"
    redactor.restore("We refunded [CARD_1] and wrote to [EMAIL_1].")   # originals back

E-mail addresses, card numbers (13-19 digits passing the Luhn check), IBANs (mod-97 checked) and
phone numbers become numbered placeholders; the same value always gets the same placeholder, so the
model can still tell "the address you wrote from" from "another address". Phone numbers are
matched conservatively (international `+…`, bracketed or 0-led area codes, 3-3-4 groups, or a digit
run after "phone/tel/mobile/call"), because over-eager matching would hide invoice numbers, dates
and versions the model needs. Names and postal addresses are not detected.
"""

from __future__ import annotations

import re
from collections.abc import Callable

EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
IBAN = re.compile(r"\b[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]{4}){2,7}(?:[ ]?[A-Z0-9]{1,4})?\b")
CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
PHONE = re.compile(
    r"(?<![\w+/-])(?:"
    r"(?:\+|00)\d{1,3}[\s.-]?(?:\(\d{1,4}\)[\s.-]?)?\d{1,4}(?:[\s.-]?\d{2,4}){1,4}"  # +44 20 7946 0958
    r"|\(\d{2,5}\)[\s.-]?\d{3,4}[\s.-]?\d{3,4}"  # (555) 123-4567
    r"|\d{3}[\s.-]\d{3}[\s.-]\d{4}"  # 555-123-4567
    r"|0\d{2,4}[\s/-]\d{3,4}(?:[\s-]?\d{2,4}){0,2}"  # 030 1234 5678, 07700 900123
    r")(?![\w-])"
)
# A bare digit run is a phone number when the text says so just before it.
PHONE_CUE = re.compile(
    r"(?i)\b(?:phone|tel(?:ephone)?|mobile|cell|whats\s?app|call me(?: on| at)?)\b"
    r"[\s:#.]*(?:is|on|at)?[\s:]*(\+?\d[\d\s.-]{5,16}\d)"
)
PLACEHOLDER = re.compile(r"\[(EMAIL|PHONE|CARD|IBAN)_(\d+)\]")
_DIGIT = re.compile(r"\d")  # what every rule but EMAIL needs (the same \d as theirs); EMAIL needs an "@"


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(raw: str) -> bool:
    iban = raw.replace(" ", "")
    if not 15 <= len(iban) <= 34:
        return False
    moved = iban[4:] + iban[:4]
    number = "".join(str(int(ch, 36)) for ch in moved)
    return int(number) % 97 == 1


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _phone_ok(value: str) -> bool:
    return 7 <= len(_digits(value)) <= 15


def _card_ok(value: str) -> bool:
    digits = _digits(value)
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


# (placeholder kind, pattern, match group holding the value, validity check)
_RULES: tuple[tuple[str, re.Pattern[str], int, Callable[[str], bool]], ...] = (
    ("EMAIL", EMAIL, 0, lambda v: True),
    ("IBAN", IBAN, 0, iban_ok),
    ("CARD", CARD, 0, _card_ok),
    ("PHONE", PHONE_CUE, 1, _phone_ok),
    ("PHONE", PHONE, 0, _phone_ok),
)


class Redactor:
    """Remembers what it replaced, so one instance restores what it redacted (one per request)."""

    def __init__(self) -> None:
        self._by_value: dict[tuple[str, str], str] = {}
        self.originals: dict[str, str] = {}  # placeholder -> original text

    def _placeholder(self, kind: str, value: str) -> str:
        key = (kind, _digits(value) if kind in ("CARD", "PHONE") else value.replace(" ", "").lower())
        if key not in self._by_value:
            number = sum(1 for k, _ in self._by_value if k == kind) + 1
            token = f"[{kind}_{number}]"
            self._by_value[key] = token
            self.originals[token] = value
        return self._by_value[key]

    def redact(self, text: str) -> str:
        # Earlier rules win a span; an IBAN- or card-shaped run that fails its checksum is left as
        # it is but still shields its digits from the phone rules (it is an id, not a phone).
        taken: list[tuple[int, int, str | None]] = []

        def free(start: int, end: int) -> bool:
            return all(end <= s or start >= e for s, e, _ in taken)

        # A rule that cannot match adds no span: skip it (most tickets hold no "@", many no digit).
        email, digits = "@" in text, _DIGIT.search(text) is not None
        if not (email or digits):
            return text
        for kind, pattern, group, valid in _RULES:
            if not (email if kind == "EMAIL" else digits):
                continue
            for match in pattern.finditer(text):
                start, end = match.span(group)
                if free(start, end):
                    taken.append((start, end, kind if valid(match.group(group)) else None))
        out: list[str] = []
        cursor = 0
        for start, end, found in sorted(taken, key=lambda span: span[0]):
            if found is None:
                continue
            out += [text[cursor:start], self._placeholder(found, text[start:end])]
            cursor = end
        out.append(text[cursor:])
        return "".join(out)

    def restore(self, text: str) -> str:
        return PLACEHOLDER.sub(lambda m: self.originals.get(m.group(0), m.group(0)), text)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for kind, _ in self._by_value:
            out[kind] = out.get(kind, 0) + 1
        return out


def redact(text: str) -> str:
    """One-way redaction (embeddings need nothing restored)."""
    return Redactor().redact(text)
