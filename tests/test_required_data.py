"""Required data: what the KB asks for, the ticket's intent, the team's intake.yml, minus what is given.

The engine tests run the real engine on the sample KB (examples/kb); the no-drafting check runs the
production engine against the OpenAI fake.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.http.app import build_http_app
from ingest.pipeline import ingest
from rag.asks import asked_items
from rag.embedders.local import LocalEmbedder
from rag.engine import EVIDENCE_CHUNKS, Engine
from rag.factory import build_engine
from rag.given import gives, read_ticket
from rag.intake import parse_intake
from rag.models import Answer
from rag.required_data import MAX_ITEMS, required_data
from rag.settings import Settings
from rag.text import content_words
from rag.ticket_intents import implied_items, is_how_to, read_intents
from tests.conftest import SAMPLE_TICKETS, make_settings
from tests.fakes.production import Production, prod, production_kb  # noqa: F401 (fixtures)

TICKETS = [json.loads(line)["ticket"] for line in SAMPLE_TICKETS.read_text().splitlines() if line.strip()]
INTAKE = """\
# What the bike team collects, by topic
min_similarity: 0.5
topics:
  - name: damaged bike
    examples:
      - my bike has a flat tyre
      - the brakes on the bike do not work
      - the bike I rented is damaged
    collect:
      - item: ride ID
        why: finds the ride and the bike in the fleet log
      - bike number
"""
DAMAGE_ARTICLE = """\
---
id: report-damaged-bike
title: Report a damaged bike
url: https://help.example.com/report-damaged-bike
---
If a bike is damaged, end the ride at the nearest station and report it, so nobody else rents it.

## Before you begin

- Your ride ID, shown in the app under **Rides**.

## Report damage in the app

1. Open the app and tap **Rides**.
2. Choose the ride and tap **Report a problem**.
3. Describe the damage and add a photo.

## Brakes, chains and flat tyres

Worn brakes, a loose chain or a flat tyre are the most common problems. Stop riding straight away
and walk the bike to the nearest station. Our mechanics check every reported bike within a day.

## Charges

You are never charged for damage you report. A ride ended because of a fault is refunded.

## Still need help?

If the app won't let you report it, write to us. The agent will ask for the time the ride ended.
"""
BIKE_ARTICLE = """\
---
id: rent-a-bike
title: Rent a bike
url: https://help.example.com/rent-a-bike
---
Scan the code on the handlebar to unlock a bike. End the ride at any station.
"""


# --- what the ticket already gives ---------------------------------------------------------------
@pytest.mark.parametrize(
    "ticket",
    [
        "Checkout fails with E-204",
        "Chrome shows ERR_SSL_PROTOCOL_ERROR on the login page",
        "The installer stops with 0x80070005",
        "The API answers HTTP 403 to every call",
        "npm install -g fails with EACCES",
        "Setup ends with error 1603",
        'The sync says "Connection expired" every time',
        "Publishing fails with 402 Payment Required",
    ],
)
def test_an_error_in_any_common_shape_is_given(ticket: str) -> None:
    assert gives(read_ticket(ticket), "exact error message or code")


@pytest.mark.parametrize(
    ("ticket", "item"),
    [
        ("Please reset 2FA for ana@example.com", "account e-mail address"),
        ("Please reset 2FA, my username is jsmith1987", "account e-mail address or username"),
        ("Invoice INV-2026-0042 shows the wrong VAT", "invoice or receipt number"),
        ("My order #A-55821 never arrived", "order number"),
        ("order 123456 is late", "order number"),
        ("I was charged twice for ride 884213", "ride ID"),
        ("The app v2.3.1 crashes on start", "app version"),
        ("Since 11.4 the export is empty", "app version"),
        ("The page https://example.com/pay is blank", "URL of the page"),
        ("npm publish fails for @acme/ui", "package name"),
    ],
)
def test_identifiers_versions_urls_and_names_are_given(ticket: str, item: str) -> None:
    assert gives(read_ticket(ticket), item)


@pytest.mark.parametrize(
    ("ticket", "item"),
    [
        ("It shows an error and something about an organization", "exact error message or code"),
        ("We are about 250 developers and 400 seats", "exact error message or code"),
        ("My order never arrived", "order number"),
        ("My order #A-55821 never arrived", "ride ID"),
        ("There's a charge of USD 84.00 on my card", "app version"),
        ("my account is locked", "username"),
    ],
)
def test_what_is_not_given_is_not_taken_for_given(ticket: str, item: str) -> None:
    assert not gives(read_ticket(ticket), item)


# --- what KB sections ask for --------------------------------------------------------------------
def test_the_kb_sentence_names_the_item_in_its_own_words() -> None:
    text = (
        "When you report a damaged bike, include the bike number and your ride ID.\n"
        "We will need the station name, a photo of the damage and the time the ride ended."
    )
    assert [item for item, _ in asked_items(text)] == [
        "bike number",
        "ride ID",
        "station name",
        "photo of the damage",
        "time the ride ended",
    ]


def test_requirements_lists_and_roles_are_items_secrets_and_screens_are_not() -> None:
    listed = "- Your booking reference\n- You need to be the account owner to do this"
    assert [i for i, _ in asked_items(listed, requirements=True)] == [
        "booking reference",
        "whether the customer is the account owner",
    ]
    assert asked_items("You'll need to provide your recovery code to get access to your account") == []
    assert asked_items("When prompted, provide your username, password, and email address") == []


def test_intent_rules_fit_the_ticket() -> None:
    def items(ticket: str) -> list[str]:
        return [item for _, item, _ in implied_items(ticket)]

    assert "date and amount of the charge" in items("I was charged twice this month")
    assert "account e-mail address or username" in items("I can't log in since yesterday")
    assert "confirmation that the requester owns the account" in items("Please delete my account and all my data")
    assert items("The app crashes when I open the map")[:3] == [
        "exact error message or code",
        "app version",
        "device model and operating system version",
    ]
    # A bicycle crash is not a software error, and a how-to question needs no order number.
    assert "exact error message or code" not in items("I had a crash on the bike because the brakes failed")
    assert items("How much does it cost, and when do I get charged?") == []


def test_a_failing_command_asks_for_its_whole_output_and_the_version_of_that_tool() -> None:
    ticket = "Our build server keeps failing npm install with 'npm ERR! Error: ENOSPC, write'. Any ideas?"
    asked = [item for _, item, _ in implied_items(ticket)]
    assert asked[:2] == ["full error output or log", "npm version and operating system"]
    given = read_ticket(ticket)
    assert gives(given, "exact error message or code")  # the quoted line …
    assert not gives(given, "full error output or log")  # … is not the whole log
    pasted = "git push fails:\n```\n$ git push\nremote: denied\nfatal: Authentication failed\n```"
    assert gives(read_ticket(pasted), "full error output or log")
    # A payment failure or an account page is not a command.
    assert "npm version and operating system" not in [i for _, i, _ in implied_items("My npm org card failed")]


def test_a_device_is_not_its_system_version_and_a_month_is_not_a_date() -> None:
    system = "device model and operating system version"
    assert not gives(read_ticket("The app crashes on my Pixel 8"), system)
    assert gives(read_ticket("The app crashes on my Pixel 8 with Android 14"), system)
    assert not gives(read_ticket("A charge of USD 84.00 every month since August"), "date and amount of the charge")
    assert gives(read_ticket("A charge of USD 84.00 on 3 August"), "date and amount of the charge")


def test_a_list_under_an_asking_lead_in_and_what_only_a_role_may_do_are_items() -> None:
    text = (
        "Only the workspace **owner** or a billing admin can change payment details.\n\n"
        "Ask an admin to contact support from an address on the company's domain with:\n\n"
        "- The workspace name.\n"
        "- The e-mail address of the admin who should become owner.\n"
        "- A signed authorisation on company letterhead from a director.\n"
    )
    assert [item for item, _ in asked_items(text)] == [
        "whether the customer is the workspace owner or a billing admin",
        "workspace name",
        "e-mail address of the admin",
        "signed authorisation on company letterhead from a director",
    ]
    _, why = asked_items(text)[1]
    assert why.startswith("Ask an admin to contact support") and why.endswith("The workspace name.")
    # A list under any other lead-in is not an ask, and a customer who says their role is not asked it.
    assert asked_items("You can filter by:\n\n- The workspace name.\n") == []
    role = "whether the customer is the workspace owner or an admin"
    assert gives(read_ticket("I'm an admin in the workspace"), role)
    assert not gives(read_ticket("Nobody can get into billing"), "whether the customer is the workspace owner")


def test_an_abuse_report_asks_for_the_url_of_what_it_reports() -> None:
    ticket = "Someone copied our SDK into a public repository and removed our copyright headers."
    assert "URL of the repository being reported" in [item for _, item, _ in implied_items(ticket)]


def test_what_an_agent_will_ask_for_and_either_of_two_items() -> None:
    text = (
        "Identity verification is done by e-mail. The agent will ask for your account e-mail address, your "
        "workspace name and either the last 4 digits of the payment card on file or the number of your most "
        "recent invoice."
    )
    assert [item for item, _ in asked_items(text)] == [
        "account e-mail address",
        "workspace name",
        "last 4 digits of the payment card or number of your most recent invoice",  # either will do
    ]
    # Where an item is found is not part of it; a list item keeps it in its own words.
    assert [i for i, _ in asked_items("- Your ride ID, shown in the app under **Rides**.", requirements=True)] == [
        "ride ID"
    ]
    listed = asked_items("- The bike number printed on the frame.", requirements=True)
    assert [i for i, _ in listed] == ["bike number printed on the frame"]


def test_a_verb_that_says_what_something_is_for_does_not_ask() -> None:
    purpose = "If dependent packages have not been updated to include the fixed version, open a pull request."
    assert asked_items(purpose) == []
    assert [i for i, _ in asked_items("Be sure to include your order number when you contact support.")] == [
        "order number"
    ]


def test_a_barred_role_and_how_the_customer_signs_in_are_asked_as_whether() -> None:
    before = (
        "> **Warning:** A workspace owner can't delete their account. Transfer ownership first.\n\n"
        "- If your company signs in with single sign-on (SSO), you don't have a password. Reset it with your IdP.\n"
        "- If you need help with anything else, choose **Other**.\n"
    )
    assert [item for item, _ in asked_items(before, requirements=True)] == [
        "whether the customer is a workspace owner",
        "whether the customer's company signs in with single sign-on (SSO)",
    ]
    assert gives(read_ticket("I'm the workspace owner"), "whether the customer is a workspace owner")


def test_the_products_own_name_is_not_the_customers_organization() -> None:
    ticket = "Nobody can get into billing for our Tallyhive workspace"
    kb = content_words("Tallyhive workspaces: change the plan of your workspace")
    assert gives(read_ticket(ticket), "workspace name")  # read alone, "Tallyhive" looks like a name
    assert not gives(read_ticket(ticket, known=kb), "workspace name")
    assert gives(read_ticket("Nobody can get into billing for our acme-design workspace", known=kb), "workspace name")
    # Identifiers in the shapes APIs print them.
    assert gives(read_ticket("TH-503 on every page, request id req_7tq2m0zd"), "request ID")


def test_a_failing_command_is_asked_for_its_message_unless_the_ticket_quotes_it() -> None:
    def items(ticket: str) -> list[str]:
        return [r.item for r in required_data(ticket, [], escalate=False)]

    unquoted = items("npm publish keeps failing in our terminal since this morning")
    assert "exact error message and full output" in unquoted
    assert not {"exact error message or code", "full error output or log"} & set(unquoted)
    quoted = items("npm publish fails in our terminal with 'npm ERR! code E403'")
    assert "full error output or log" in quoted and not any("message" in i for i in quoted)


def test_recurring_charges_and_failed_runs_imply_their_items() -> None:
    def items(ticket: str) -> list[str]:
        return [item for _, item, _ in implied_items(ticket)]

    assert "dates and amounts of the charges" in items("There is a charge of $84 every month, I want a refund")
    assert "date and amount of the charge" in items("I was charged twice yesterday, please refund one")
    run = "link to the failing run (workflow, pipeline or job)"
    assert run in items("Our deploy pipeline fails since this morning")
    assert run not in items("How do I set up a deploy pipeline?")


def test_a_ticket_is_read_once_and_its_case_does_not_matter() -> None:
    ticket = "I can't log in and I was charged twice for my order"
    assert read_intents(ticket) is read_intents(ticket)  # the drafter's second reading is a lookup
    assert implied_items(ticket) == [(i, item, why) for i, item, why in read_intents(ticket).items]
    for text in (ticket, *TICKETS, "How do I export my timesheets?", "The app crashes when I open the map"):
        for variant in (text.upper(), text.title()):
            assert implied_items(variant) == implied_items(text), variant
            assert is_how_to(variant) == is_how_to(text)
            assert read_ticket(variant).kinds - {"error"} == read_ticket(text).kinds - {"error"}, variant


# --- the engine on the sample KB -----------------------------------------------------------------
async def test_what_the_ticket_gives_is_never_asked_again(engine: Engine) -> None:
    vague = await engine.required("The Xero sync keeps failing since Monday")
    assert "exact error message or code" in {r.item for r in vague.required_data}
    for quoted in (
        "The Xero sync keeps failing since Monday with TH-502",
        'The Xero sync keeps failing since Monday, the log says "Connection expired"',
    ):
        answer = await engine.required(quoted)
        assert not any("error" in r.item for r in answer.required_data), answer.required_data

    locked = await engine.required("I can't log in to my account, the 2FA codes are rejected")
    assert any("e-mail" in r.item for r in locked.required_data)
    given = await engine.required("I can't log in to my account ana@example.com, the 2FA codes are rejected")
    assert not any("e-mail" in r.item for r in given.required_data), given.required_data

    # The sample KB asks who may do it: a customer who says their role is not asked again.
    owner = await engine.required("Our payment failed and the card was replaced, who can update it?")
    assert any(r.item.startswith("whether the customer is") for r in owner.required_data), owner.required_data
    said = await engine.required("Our payment failed and the card was replaced. I'm the workspace owner.")
    assert not any(r.item.startswith("whether the customer is") for r in said.required_data), said.required_data

    reissue = await engine.required("Please reissue our invoice with the new company address")
    assert any("invoice" in r.item for r in reissue.required_data)
    numbered = await engine.required("Please reissue invoice INV-2026-0042 with the new company address")
    assert not any("invoice" in r.item for r in numbered.required_data), numbered.required_data


async def test_at_most_five_items_each_with_why_and_source(engine: Engine) -> None:
    many = (
        "I was charged twice for my order, the app crashes with an error when I log in, I can't sign in "
        "any more, please delete my account and our workspace, and the browser extension is broken too."
    )
    for ticket in [many, *TICKETS]:
        answer = await engine.required(ticket)
        assert len(answer.required_data) <= MAX_ITEMS
        for item in answer.required_data:
            assert item.why
            kb_item = not item.why.startswith(("ticket intent: ", "intake.yml: "))
            assert bool(item.source_ids) == kb_item, item
    kb = await engine.required("Please reissue invoice INV-2026-0042 with the new company address")
    assert kb.sources[0].article_id == "invoices-and-vat"
    assert any(r.source_ids and r.source_ids[0].startswith("invoices-and-vat#") for r in kb.required_data)


async def test_near_identical_items_are_merged(engine: Engine) -> None:
    answer = await engine.required("I can't log in and I'd like to delete my account and all my personal data")
    emails = [r.item for r in answer.required_data if "e-mail" in r.item or "email" in r.item]
    assert len(emails) == 1, answer.required_data


async def test_required_is_the_answer_schema_without_a_draft(engine: Engine) -> None:
    answer = await engine.required("I was charged twice this month", request_id="req-7")
    assert Answer.model_validate_json(answer.model_dump_json()) == answer
    assert answer.request_id == "req-7" and answer.draft == "" and "draft" not in answer.timings_ms
    assert answer.backends.drafter == "none" and answer.sources
    full = await engine.answer("I was charged twice this month")
    assert full.required_data == answer.required_data and full.decision == answer.decision


async def test_the_best_articles_other_sections_say_what_to_collect(embedder: LocalEmbedder, tmp_path: Path) -> None:
    folder = tmp_path / "damage-kb"
    folder.mkdir()
    (folder / "report-damaged-bike.md").write_text(DAMAGE_ARTICLE)
    (folder / "rent-a-bike.md").write_text(BIKE_ARTICLE)
    engine = build_engine(make_settings(tmp_path / "data"), embedder=embedder)  # this KB alone
    try:
        await ingest(engine.kb, [folder])
        ticket = "The brakes on my bike stopped working halfway through my ride"
        retrieved = {h.chunk.id for h in (await engine.kb.search(ticket)).evidence[:EVIDENCE_CHUNKS]}
        answer = await engine.required(ticket)
        asked = {r.item: r for r in answer.required_data}
        # The "Before you begin" list and the agent's questions count though retrieval left them out.
        assert asked["ride ID"].source_ids == ["report-damaged-bike#1"]
        assert asked["ride ID"].why.startswith("Report a damaged bike > Before you begin: Your ride ID")
        assert "report-damaged-bike#1" not in retrieved
        assert asked["time the ride ended"].source_ids == ["report-damaged-bike#5"]
        # A how-to question is answered from what retrieval found: no checklist from other sections.
        how = await engine.required("How do I report a damaged bike?")
        assert not any(set(r.source_ids) - retrieved for r in how.required_data), how.required_data
    finally:
        await engine.close()


# --- intake.yml ----------------------------------------------------------------------------------
@pytest.fixture
def bike_kb(tmp_path: Path) -> Path:
    folder = tmp_path / "bike-kb"
    folder.mkdir()
    (folder / "rent-a-bike.md").write_text(BIKE_ARTICLE)
    (folder / "intake.yml").write_text(INTAKE)
    return folder


async def test_an_intake_file_adds_a_domain_field_when_the_ticket_matches(
    settings: Settings, embedder: LocalEmbedder, bike_kb: Path
) -> None:
    ingesting = build_engine(settings, embedder=embedder)
    try:
        summary = await ingest(ingesting.kb, [bike_kb])
    finally:
        await ingesting.close()
    assert summary.errors == [] and summary.intake_topics == 1 and "intake.yml: 1 topics" in summary.line()

    engine = build_engine(settings, embedder=embedder)  # a server process reads it from the catalog
    try:
        damaged = await engine.required("The bike I rented has a flat tyre and the brakes are broken")
        ride = next(r for r in damaged.required_data if r.item == "ride ID")
        assert ride.why == "intake.yml: damaged bike (finds the ride and the bike in the fleet log)"
        assert damaged.required_data[0] == ride  # the team's own fields come first
        assert "bike number" in {r.item for r in damaged.required_data}

        for other in ("How do I export my timesheets to CSV?", "I was charged twice this month"):
            answer = await engine.required(other)
            assert "ride ID" not in {r.item for r in answer.required_data}, other

        given = await engine.required("The bike of ride R-884213 has a flat tyre, bike number 40512")
        assert not {"ride ID", "bike number"} & {r.item for r in given.required_data}
    finally:
        await engine.close()


async def test_a_broken_intake_file_is_an_ingest_error_and_a_removed_one_is_forgotten(
    settings: Settings, embedder: LocalEmbedder, bike_kb: Path
) -> None:
    engine = build_engine(settings, embedder=embedder)
    try:
        await ingest(engine.kb, [bike_kb])
        (bike_kb / "intake.yml").write_text("topics:\n  - name: damaged bike\n    collect: [ride ID]\n")
        broken = await ingest(engine.kb, [bike_kb])
        assert [e.source for e in broken.errors] == [str(bike_kb / "intake.yml")]
        assert "examples" in str(broken.errors[0])
        assert len(engine.kb.catalog.intake_files()) == 1  # the last good one stays

        (bike_kb / "intake.yml").unlink()
        await ingest(engine.kb, [bike_kb])
        assert engine.kb.catalog.intake_files() == []
        answer = await engine.required("The bike I rented has a flat tyre")
        assert "ride ID" not in {r.item for r in answer.required_data}
    finally:
        await engine.close()


def test_intake_items_may_be_plain_or_with_a_reason() -> None:
    parsed = parse_intake(INTAKE)
    [topic] = parsed.topics
    assert [(f.item, bool(f.why)) for f in topic.collect] == [("ride ID", True), ("bike number", False)]
    with pytest.raises(ValueError, match="min_similarity"):
        parse_intake("min_similarity: 2\ntopics: []\n")
    with pytest.raises(ValueError, match="YAML"):
        parse_intake("topics: [\n")


# --- no drafting: /required-data and Engine.required against the OpenAI fake ---------------------
async def test_required_data_makes_no_chat_call(prod: Production, aiohttp_client: Any) -> None:
    engine = prod.engine()
    answer = await engine.required("I can't log in and the reset e-mail never arrives")
    assert answer.draft == "" and prod.openai.chats == []

    app = build_http_app(engine, prod.settings(kb_api_keys="k", kb_rate_limit_per_min=0))
    client = await aiohttp_client(app)
    body = {"ticket": "I was charged twice this month"}
    resp = await client.post("/api/v1/required-data", json=body, headers={"X-API-Key": "k"})
    assert resp.status == 200
    answer = Answer.model_validate_json(await resp.read())
    assert answer.draft == "" and answer.required_data and prod.openai.chats == []

    resp = await client.post("/api/v1/generate-response", json=body, headers={"X-API-Key": "k"})
    assert resp.status == 200 and len(prod.openai.chats) == 1  # the drafting route does call it


async def test_a_hosted_drafters_list_is_held_to_the_same_rules(prod: Production) -> None:
    prod.openai.reply = {
        "draft": "Hi there,\n\nThanks.",
        "answers_ticket": True,
        "cited_chunk_ids": [],
        "required_data": [
            {"item": "exact error message", "why": "", "source_ids": []},
            {"item": "account e-mail address", "why": "", "source_ids": []},
            *[{"item": f"detail {n}", "why": "", "source_ids": []} for n in range(6)],
        ],
    }
    answer = await prod.engine().answer("Login fails with E-204 for ana@example.com")
    items = [r.item for r in answer.required_data]
    assert "exact error message" not in items and "account e-mail address" not in items
    assert len(items) <= MAX_ITEMS
