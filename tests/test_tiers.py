"""Tier policy: front matter > admonitions > headings > wording > article tier > MEDIUM."""

from __future__ import annotations

import pytest

from ingest.tiers import classify, section_tier
from rag.models import Article, Tier

NEUTRAL = "Tallyhive keeps your timesheets for every workspace you belong to."


def article(**fields: object) -> Article:
    return Article.model_validate({"id": "a", "title": "An article", "body": "x", **fields})


@pytest.mark.parametrize(
    ("heading", "tier", "kind"),
    [
        ("Before you start", Tier.CRITICAL, "requirements"),
        ("Requirements", Tier.CRITICAL, "requirements"),
        ("Prerequisites", Tier.CRITICAL, "requirements"),
        ("What you'll need", Tier.CRITICAL, "requirements"),
        ("Security", Tier.CRITICAL, "policy"),
        ("Refund policy", Tier.CRITICAL, "policy"),
        ("Rate limits", Tier.CRITICAL, "policy"),
        ("Warning", Tier.CRITICAL, "warning"),
        ("How to export a timesheet", Tier.HIGH, "steps"),
        ("Steps", Tier.HIGH, "steps"),
        ("1. Open the billing page", Tier.HIGH, "steps"),
        ("Reset your password", Tier.HIGH, "steps"),
        ("Creating an organization", Tier.HIGH, "steps"),
        ("Enable two-factor authentication", Tier.HIGH, "steps"),
        ("Setting up SSO", Tier.HIGH, "steps"),
        ("Related articles", Tier.LOW, "related"),
        ("See also", Tier.LOW, "related"),
        ("Further reading", Tier.LOW, "related"),
        ("Examples", Tier.LOW, "example"),
        ("Background", Tier.LOW, "explanation"),
        ("History", Tier.LOW, "explanation"),
        ("Overview", Tier.MEDIUM, "text"),
        ("Additional information", Tier.MEDIUM, "text"),  # "add" is a verb, "additional" is not
        ("Payment terms", Tier.MEDIUM, "text"),  # nor is "pay" inside "payment"
    ],
)
def test_heading_rules(heading: str, tier: Tier, kind: str) -> None:
    assert section_tier(article(), [heading], NEUTRAL) == (tier, kind)


@pytest.mark.parametrize(
    "admonition",
    [
        "> **Warning:** This deletes the workspace.",
        "> **Important:** Only owners see this page.",
        "> **Caution:** Exports include personal data.",
        "> [!WARNING]\n> This deletes the workspace.",
        "> [!IMPORTANT]\n> Only owners see this page.",
        "> [!CAUTION]\n> Exports include personal data.",
    ],
)
def test_warning_admonitions_are_critical_even_under_a_low_heading(admonition: str) -> None:
    text = f"{NEUTRAL}\n\n{admonition}"
    assert section_tier(article(), ["Background"], text) == (Tier.CRITICAL, "warning")
    assert classify(article(), ["Background"], text).reason == "admonition"


@pytest.mark.parametrize(
    "note", ["> **Note:** Exports are CSV files.", "> [!NOTE]\n> Exports are CSV.", "> [!TIP]\n> Use CSV."]
)
def test_notes_and_tips_do_not_raise_the_tier(note: str) -> None:
    assert section_tier(article(), ["Overview"], f"{NEUTRAL}\n\n{note}") == (Tier.MEDIUM, "text")
    assert section_tier(article(), ["Examples"], note) == (Tier.LOW, "example")


def test_note_with_requirement_wording_is_critical_by_wording() -> None:
    decision = classify(article(), [], "> **Note:** You must be an owner to do this.")
    assert (decision.tier, decision.kind, decision.reason) == (
        Tier.CRITICAL,
        "requirements",
        "wording 'must'",
    )


def test_admonition_under_requirements_heading_keeps_requirements_kind() -> None:
    text = "> **Important:** You need access to the account e-mail."
    assert section_tier(article(), ["Before you start"], text) == (Tier.CRITICAL, "requirements")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("You must be the workspace owner.", "requirements"),
        ("A verified e-mail is required.", "requirements"),
        ("You will need your invoice number.", "requirements"),
        ("Verify the customer's identity first.", "requirements"),
        ("Make sure you saved your recovery codes.", "requirements"),
        ("Deleting a workspace cannot be undone.", "warning"),
        ("The data is permanently removed.", "warning"),
        ("Recovery codes can be used only once.", "warning"),
        ("Never share your API token.", "warning"),
        ("Our security team reviews each request.", "policy"),
        ("This follows the data retention policy.", "policy"),
    ],
)
def test_wording_rules_make_text_critical(text: str, kind: str) -> None:
    assert section_tier(article(), ["Overview"], text) == (Tier.CRITICAL, kind)


def test_numbered_list_is_steps() -> None:
    text = "To export:\n\n1. Open **Reports**.\n2. Click **Export**.\n3. Pick CSV."
    assert section_tier(article(), ["Overview"], text) == (Tier.HIGH, "steps")
    assert section_tier(article(), [], "1. Only one item here.") == (Tier.MEDIUM, "text")


def test_heading_rules_beat_wording() -> None:
    text = "- [Security settings](https://help.example/security): you must read this."
    assert section_tier(article(), ["Related articles"], text) == (Tier.LOW, "related")


def test_deepest_matching_heading_decides() -> None:
    assert section_tier(article(), ["Steps", "Example"], NEUTRAL) == (Tier.LOW, "example")
    assert section_tier(article(), ["Security", "Overview"], NEUTRAL) == (Tier.CRITICAL, "policy")


def test_front_matter_section_tiers_win_case_insensitively_on_any_heading() -> None:
    a = article(section_tiers={"Refund Policy": "LOW", "If the owner has left": "CRITICAL"})
    # Beats the "policy" heading rule and the admonition.
    assert section_tier(a, ["refund policy"], "> **Warning:** no refunds.")[0] is Tier.LOW
    # Matches a parent heading; the kind still comes from the rules.
    decision = classify(a, ["If the owner has left", "Steps"], NEUTRAL)
    assert (decision.tier, decision.kind) == (Tier.CRITICAL, "steps")
    assert decision.reason == "front matter section_tiers['If the owner has left']"


def test_front_matter_section_tier_without_a_rule_gets_a_default_kind() -> None:
    a = article(section_tiers={"Account ownership": "CRITICAL"})
    assert section_tier(a, ["Account ownership"], NEUTRAL) == (Tier.CRITICAL, "policy")


def test_article_tier_is_the_fallback_then_medium() -> None:
    assert section_tier(article(tier="LOW"), ["Overview"], NEUTRAL) == (Tier.LOW, "text")
    assert section_tier(article(tier="HIGH"), [], NEUTRAL) == (Tier.HIGH, "steps")
    # Rules still beat the article tier.
    assert section_tier(article(tier="LOW"), ["Before you start"], NEUTRAL)[0] is Tier.CRITICAL
    assert classify(article(), [], NEUTRAL) == (Tier.MEDIUM, "text", "default")


def test_a_paragraph_that_opens_with_a_bold_warning_is_an_admonition() -> None:
    # Help-desk editors (Zendesk, Intercom) write "<strong>Important:</strong> …" as a paragraph.
    assert section_tier(article(), ["Refunds"], "**Important:** refunds go to the original card.")[0] == Tier.CRITICAL
    assert section_tier(article(), ["Refunds"], "**Tip:** refunds show within a week.")[0] != Tier.CRITICAL
