"""PII redaction before OpenAI: what is replaced, what must survive (ids the model needs), restoration."""

from __future__ import annotations

import pytest

from rag.redact import Redactor, iban_ok, luhn_ok, redact


@pytest.mark.parametrize(
    "text,expected",
    [
        ("mail me at ana.lopez+kb@fjordline.example.co.uk!", "mail me at [EMAIL_1]!"),
        ("card 4111 1111 1111 1111 expired", "card [CARD_1] expired"),
        ("card 4111-1111-1111-1111", "card [CARD_1]"),
        ("amex 378282246310005", "amex [CARD_1]"),
        ("IBAN DE89 3704 0044 0532 0130 00 please", "IBAN [IBAN_1] please"),
        ("IBAN GB82WEST12345698765432.", "IBAN [IBAN_1]."),
        ("call +44 20 7946 0958 today", "call [PHONE_1] today"),
        ("call (555) 123-4567", "call [PHONE_1]"),
        ("call 555.123.4567", "call [PHONE_1]"),
        ("office 030 1234 5678", "office [PHONE_1]"),
        ("my phone: 0612345678", "my phone: [PHONE_1]"),
        ("mobile is 612 34 56 78", "mobile is [PHONE_1]"),
    ],
)
def test_pii_becomes_placeholders(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Invoice INV-2026-003318 was charged on 2026-11-24",
        "version 3.14.2 on build 20261124",
        "charged $49.00 and €1,234.50 on 3 September",
        "order 123456789 and ticket #48213",
        "error E1234 at 12:30:45, HTTP 503",
        "card ending in 4242, code 123456",
        "4111 1111 1111 1112 fails the Luhn check",
        "DE00 3704 0044 0532 0130 00 fails the IBAN check",
    ],
)
def test_ids_dates_amounts_and_near_misses_survive(text: str) -> None:
    assert redact(text) == text


def test_the_same_value_keeps_its_placeholder_and_restores() -> None:
    r = Redactor()
    safe = r.redact(
        "From ana@x.example, cc ANA@X.EXAMPLE and bo@y.example; card 4111 1111 1111 1111 = 4111111111111111"
    )
    assert safe == "From [EMAIL_1], cc [EMAIL_1] and [EMAIL_2]; card [CARD_1] = [CARD_1]"
    assert r.counts == {"EMAIL": 2, "CARD": 1}
    back = r.restore("Wrote to [EMAIL_2] about [CARD_1]; [PHONE_7] and [EMAIL_1] stay as they are.")
    assert back == "Wrote to bo@y.example about 4111 1111 1111 1111; [PHONE_7] and ana@x.example stay as they are."


def test_one_redactor_numbers_across_fields() -> None:
    r = Redactor()
    assert r.redact("subject: ana@x.example") == "subject: [EMAIL_1]"
    assert r.redact("body: bo@y.example and ana@x.example") == "body: [EMAIL_2] and [EMAIL_1]"


def test_checksums() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert iban_ok("GB82 WEST 1234 5698 7654 32") and not iban_ok("GB83 WEST 1234 5698 7654 32")
    assert not iban_ok("GB82")
