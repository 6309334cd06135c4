"""Drafts that answer the ticket and say where each claim comes from: extractive and OpenAI drafters,
the sources order, Slack footnotes and the CLI."""

from __future__ import annotations

import json
import re
import statistics
from typing import Any

import pytest

from bot import messages
from bot.citations import footnote_numbers, footnoted
from bot.render import render_answer
from bot.slack import blocks
from rag.drafters.extractive import DRAFT_WORDS, ExtractiveDrafter
from rag.drafters.passages import parse
from rag.engine import EVIDENCE_CHUNKS, Engine
from rag.models import Answer, Backends, Chunk, Citation, Confidence, Hit, Source, Ticket, Tier
from rag.prompts import RESPONSE_SCHEMA
from rag.text import plain
from tests.conftest import SAMPLE_TICKETS
from tests.fakes.openai import first_sentence
from tests.fakes.production import Production, prod, production_kb  # noqa: F401  (fixtures)
from tests.slack_harness import block_text

TICKETS = [json.loads(line) for line in SAMPLE_TICKETS.read_text().splitlines() if line.strip()]


def words(text: str) -> int:
    return len(text.split())


async def answers(engine: Engine) -> list[tuple[dict[str, Any], Answer, list[Hit]]]:
    out = []
    for row in TICKETS:
        answer, _, retrieval = await engine.answer_with_retrieval(Ticket(ticket=row["ticket"]))
        out.append((row, answer, retrieval.evidence[:EVIDENCE_CHUNKS]))
    return out


async def test_extractive_citations_point_only_at_retrieved_chunks_and_quote_them(engine: Engine) -> None:
    for row, answer, evidence in await answers(engine):
        chunks = {h.chunk.id: h.chunk for h in evidence}
        if answer.decision == "escalate":
            assert answer.citations == [], row["id"]
            continue
        assert answer.citations, row["id"]
        for citation in answer.citations:
            assert citation.chunk_ids and set(citation.chunk_ids) <= set(chunks), (row["id"], citation)
            assert citation.text in answer.draft, (row["id"], citation.text)
            # Copied from the chunk it cites, Markdown removed: nothing invented.
            source = re.sub(r"\s+", " ", plain(chunks[citation.chunk_ids[0]].text))
            assert all(word in source for word in citation.text.split() if word.isalpha()), citation.text


async def test_drafts_quote_no_sentence_of_an_article_they_do_not_cite(engine: Engine) -> None:
    # Every sentence, item and step of the whole KB, with the articles it appears in.
    where: dict[str, set[str]] = {}
    for chunk in engine.kb.catalog.get_chunks(
        [cid for aid in engine.kb.catalog.article_sources() for cid in engine.kb.catalog.chunk_ids(aid)]
    ).values():
        for piece in parse(chunk.text):
            text = re.sub(r"^Note: ", "", piece.text)  # the same sentence may be a note elsewhere
            if words(text) >= 6:
                where.setdefault(text, set()).add(chunk.article_id)
    assert len(where) > 200
    for row, answer, _ in await answers(engine):
        cited = {cid.rpartition("#")[0] for c in answer.citations for cid in c.chunk_ids}
        quoted = [text for text, articles in where.items() if articles & cited]
        for text, articles in where.items():
            if text in answer.draft and not articles & cited:
                # Only when a cited article says the very same thing ("Only one timer can run at a time.").
                assert any(text in other for other in quoted), (row["id"], text)


async def test_sample_drafts_are_short(engine: Engine) -> None:
    lengths = [words(a.draft) for row, a, _ in await answers(engine) if a.decision != "escalate"]
    assert len(lengths) >= 15
    assert statistics.median(lengths) <= 150 and max(lengths) <= 175, lengths


async def test_sources_list_what_the_draft_cites_first_then_the_rest_by_score(engine: Engine) -> None:
    for row, answer, evidence in await answers(engine):
        cited = {cid for c in answer.citations for cid in c.chunk_ids}
        flags = [s.chunk_id in cited for s in answer.sources]
        assert flags == sorted(flags, reverse=True), row["id"]  # cited ones first
        assert {s.chunk_id for s in answer.sources} >= cited
        head, tail = answer.sources[: sum(flags)], answer.sources[sum(flags) :]
        for group in (head, tail):
            assert [s.score for s in group] == sorted((s.score for s in group), reverse=True), row["id"]
        assert len({s.article_id for s in tail}) == len(tail)  # one per article that is not cited
        assert not {s.article_id for s in head} & {s.article_id for s in tail}
        # Each shows the score of the chunk it names: an uncited article by its strongest chunk.
        scores = {h.chunk.id: round(h.score, 3) for h in evidence}
        assert all(s.score == scores[s.chunk_id] for s in head)


def hit(article: str, n: int, text: str, *, heading: str = "", tier: Tier = Tier.MEDIUM, score: float = 0.9) -> Hit:
    chunk = Chunk(
        id=f"{article}#{n}",
        article_id=article,
        title=article.replace("-", " ").capitalize(),
        url=f"https://help.example/{article}#{n}",
        heading_path=heading,
        text=text,
        tier=tier,
    )
    return Hit(chunk=chunk, score=score, dense=0.6)


REFUNDS = hit(
    "refunds",
    0,
    "If you were charged twice for the same month, we refund the duplicate charge to the original card.\n"
    "Refunds reach your card within 5 business days.\n\n"
    "> **Warning:** Deleting a workspace is permanent and cannot be undone.\n\n"
    "> **Note:** Refunds are only possible for charges from the last 30 days.\n\n"
    "Our office dog is called Biscuit and enjoys long walks on the beach.",
    heading="Double charges",
    tier=Tier.CRITICAL,
)
STEPS = hit(
    "refunds",
    1,
    "To request a refund of a duplicate charge, follow these steps:\n\n"
    "1. Go to **Settings > Billing**.\n"
    "2. Click **Invoices** and find the duplicate charge.\n"
    "   - the invoice number is in the first column\n"
    "3. Click **Request refund**.\n",
    heading="Request a refund",
    tier=Tier.HIGH,
)
OTHER = hit("damage-reports", 0, "To report damage to a bike, take a photo and send it with the ride ID.", score=0.5)


async def test_a_draft_keeps_what_applies_and_leaves_the_rest() -> None:
    ticket = Ticket(ticket="I was charged twice this month, how do I get a refund of the duplicate charge?")
    draft = await ExtractiveDrafter().draft(ticket, [REFUNDS, STEPS, OTHER], [], escalate=False)
    text = draft.text
    assert "we refund the duplicate charge to the original card" in text
    assert "Refunds are only possible for charges from the last 30 days." in text  # a warning that applies
    assert "Deleting a workspace" not in text  # a warning of the same article that does not
    assert "Biscuit" not in text and "damage" not in text  # another topic, another intent
    # The procedure in its own order, renumbered, under its lead-in; its sub-item left out.
    procedure = (
        "To request a refund of a duplicate charge, follow these steps:\n"
        "1. Go to Settings > Billing.\n"
        "2. Click Invoices and find the duplicate charge.\n"
        "3. Click Request refund."
    )
    assert procedure in text and "first column" not in text
    assert text.startswith("Hi there,\n\nSorry for the trouble with the billing.\n\n")
    assert text.endswith("\n\nMore details: https://help.example/refunds#0\n\nBest regards,")  # a short frame
    assert {c.chunk_ids[0] for c in draft.citations} == {"refunds#0", "refunds#1"}
    assert set(draft.cited_chunk_ids) == {"refunds#0", "refunds#1"}


def test_sentences_are_whole_and_lead_ins_go_with_what_they_introduce() -> None:
    text = (
        "**Please note:** you must be an owner\nto change the plan.\n\n"
        "Please note\nthat refunds take a week.\n\n"
        "The limits are:\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n"
        "Run the following command:\n\n```\nnpm owner add <user> <pkg>\n```\n\n"
        "This is the end of the section. It leans on the sentence before it."
    )
    pieces = [p.text for p in parse(text)]
    assert "Please note: you must be an owner to change the plan." in pieces
    assert "Please note that refunds take a week." in pieces
    assert not any(p.startswith("The limits are") for p in pieces)  # its table is left out, so is it
    (command,) = [p for p in parse(text) if p.code]
    assert command.text == "Run the following command:" and command.code == "npm owner add <user> <pkg>"
    leaning = next(p for p in parse(text) if p.text.startswith("It leans"))
    assert leaning.prev is not None and pieces[leaning.prev] == "This is the end of the section."
    assert not any(re.fullmatch(r"(please )?note:?", p, re.I) for p in pieces)


def test_a_tabs_name_leads_its_steps_and_goes_nowhere_without_them() -> None:
    # Tabbed instructions (ingest/tabs.py) and platform blocks read "**Mobile:**" above their steps.
    text = (
        "**Desktop/Web:**\n\n1. Click the gear icon.\n\n**Mobile:**\n\n1. Tap your avatar.\n\n"
        "**Alone:**\n\nThis paragraph is a whole sentence of its own.\n\n**At the end:**"
    )
    pieces = parse(text)
    steps = {p.text: pieces[p.lead].text for p in pieces if p.kind == "step" and p.lead is not None}
    assert steps == {"Click the gear icon.": "Desktop/Web:", "Tap your avatar.": "Mobile:"}
    assert not {"Alone:", "At the end:"} & {p.text for p in pieces}  # a label with no steps to name goes


def test_a_step_keeps_its_indented_command_and_the_list_goes_on_after_it() -> None:
    text = (
        "To use another directory, follow these steps:\n\n"
        "1. Configure npm to use the new directory path:\n\n"
        "   ```\n   npm config set prefix ~/.local\n   ```\n\n"
        "2. Open your profile and add this line:\n\n"
        "   ```\n   PATH=~/.local/bin:$PATH\n   ```\n\n"
        "   If you use zsh, add it to ~/.zprofile too.\n\n"
        "3. Update your system variables.\n"
    )
    steps = [p for p in parse(text) if p.kind == "step"]
    assert [(p.text, p.code) for p in steps] == [
        ("Configure npm to use the new directory path:", "npm config set prefix ~/.local"),
        ("Open your profile and add this line:", "PATH=~/.local/bin:$PATH"),  # what follows the command is left out
        ("Update your system variables.", ""),
    ]
    assert len({p.block for p in steps}) == 1 and all(p.lead is not None for p in steps)  # one procedure


def test_sentences_opening_with_as_or_with_are_whole_and_a_bold_label_stays_with_its_sentence() -> None:
    text = (
        "As an organization owner, you can update the billing e-mail. With SSH keys, you can connect without "
        "a password.\n\n"
        '**"Site not reachable".** The app was probably uninstalled. Reconnect the site in the settings.\n\n'
        "And then this one is cut from its sentence."
    )
    pieces = [p.text for p in parse(text)]
    assert "As an organization owner, you can update the billing e-mail." in pieces
    assert "With SSH keys, you can connect without a password." in pieces
    assert '"Site not reachable". The app was probably uninstalled.' in pieces  # no label on its own
    assert not any(p.startswith("And then") for p in pieces)


async def test_a_command_of_a_step_is_printed_under_it_and_cited() -> None:
    steps = hit(
        "eacces",
        0,
        "To fix EACCES errors on a global install, follow these steps:\n\n"
        "1. Configure npm to use a new directory:\n\n   ```\n   npm config set prefix ~/.local\n   ```\n\n"
        "2. Add the new directory to your PATH.\n",
    )
    ticket = Ticket(ticket="npm install -g fails with EACCES, how do I fix the errors without sudo?")
    draft = await ExtractiveDrafter().draft(ticket, [steps], [], escalate=False)
    assert "1. Configure npm to use a new directory:\n       npm config set prefix ~/.local\n2. Add" in draft.text
    assert "Configure npm to use a new directory:" in {c.text for c in draft.citations}


async def test_the_word_budget_holds_and_nothing_is_a_fragment(engine: Engine) -> None:
    for row, answer, evidence in await answers(engine):
        if answer.decision == "escalate":
            continue
        assert words(answer.draft) <= DRAFT_WORDS + 15, (row["id"], words(answer.draft))  # one last piece may run over
        chunks = {h.chunk.id: h.chunk for h in evidence}
        for citation in answer.citations:
            # Each line of substance is a whole sentence, item or step of the chunk it cites.
            pieces = {p.text: p for p in parse(chunks[citation.chunk_ids[0]].text)}
            piece = pieces.get(citation.text)
            assert piece is not None, (row["id"], citation.text)
            assert not re.fullmatch(r"(please )?note:?", piece.text, re.I)
            if piece.kind == "sentence":
                assert len(piece.text.split()) >= 4 and piece.text[-1] in '.!?:")', (row["id"], piece.text)


async def test_a_ticket_sharing_no_word_with_the_kb_still_gets_the_best_section() -> None:
    draft = await ExtractiveDrafter().draft(Ticket(ticket="zzyzx qwfp"), [REFUNDS, OTHER], [], escalate=False)
    assert draft.citations and all(c.chunk_ids == ["refunds#0"] for c in draft.citations)


async def test_an_escalation_gets_a_holding_reply_without_citations() -> None:
    draft = await ExtractiveDrafter().draft(Ticket(ticket="x"), [REFUNDS], [], escalate=True)
    assert "checking this with the right team" in draft.text and draft.citations == []


# --- OpenAI drafter: citations in the structured output ------------------------------------------


async def test_openai_citations_come_back_and_invented_ids_are_dropped(
    prod: Production, caplog: pytest.LogCaptureFixture
) -> None:
    assert "citations" in RESPONSE_SCHEMA["required"]
    engine = prod.engine()
    answer = await engine.answer("How do I reset my password? The reset e-mail never arrives.")
    user = next(m["content"] for m in prod.openai.chats[0]["messages"] if m["role"] == "user")
    first_id = re.findall(r'<chunk id="([^"]+)"', user)[0]
    claim = first_sentence(user)
    assert claim and claim in answer.draft
    assert [c.model_dump() for c in answer.citations] == [{"text": claim, "chunk_ids": [first_id]}]
    assert first_id in {s.chunk_id for s in answer.sources[:2]}  # the cited sections come first

    def reply(request: dict[str, Any]) -> dict[str, Any]:
        ids = re.findall(r'<chunk id="([^"]+)"', request["messages"][1]["content"])
        return {
            "draft": "Hi,\n\nRefunds go to the original card. Call [PHONE_1] for more.\n\nBest regards,",
            "answers_ticket": True,
            "cited_chunk_ids": [ids[0]],
            "citations": [
                {"text": "Refunds go to the original card.", "chunk_ids": ["invented#7", ids[1]]},
                {"text": "Call [PHONE_1] for more.", "chunk_ids": ["invented#8"]},
            ],
            "required_data": [],
        }

    prod.openai.reply = reply
    answer = await engine.answer("Refund to my card please, call me on +34 612 345 678")
    evidence = re.findall(r'<chunk id="([^"]+)"', prod.openai.chats[1]["messages"][1]["content"])
    assert [(c.text, c.chunk_ids) for c in answer.citations] == [("Refunds go to the original card.", [evidence[1]])]
    assert "invented#7" in caplog.text and "invented#8" in caplog.text
    assert {s.chunk_id for s in answer.sources[:2]} == {evidence[0], evidence[1]}
    assert "+34 612 345 678" in answer.draft


# --- Slack footnotes and the CLI -----------------------------------------------------------------


def cited_answer(**overrides: Any) -> Answer:
    values: dict[str, Any] = {
        "request_id": "req-1",
        "decision": "answer",
        "confidence": Confidence(score=0.82, level="high"),
        "draft": (
            "Hi Ana,\n\nWe refund the duplicate charge. It reaches your card in 5 days.\n\n"
            "To ask for it:\n1. Go to Settings > Billing.\n2. Click <Request refund>.\n\nBest regards,"
        ),
        "citations": [
            Citation(text="We refund the duplicate charge.", chunk_ids=["refunds#0"]),
            Citation(text="It reaches your card in 5 days.", chunk_ids=["refunds#0"]),
            Citation(text="To ask for it:", chunk_ids=["refunds#1"]),
            Citation(text="Go to Settings > Billing.", chunk_ids=["refunds#1"]),
            Citation(text="Click <Request refund>.", chunk_ids=["refunds#1", "billing#3"]),
            Citation(text="Not in the draft as written.", chunk_ids=["billing#3"]),
        ],
        "sources": [
            Source(
                article_id="refunds",
                chunk_id="refunds#1",
                title="Refunds",
                url="https://help.example/refunds#ask",
                tier=Tier.HIGH,
                score=0.9,
                section="Ask for a refund",
            ),
            Source(
                article_id="refunds",
                chunk_id="refunds#0",
                title="Refunds",
                url="https://help.example/refunds",
                tier=Tier.CRITICAL,
                score=0.8,
            ),
            Source(
                article_id="billing",
                chunk_id="billing#3",
                title="Billing",
                url="https://help.example/billing#cards",
                tier=Tier.MEDIUM,
                score=0.7,
                section="Cards",
            ),
            Source(
                article_id="teams",
                chunk_id="teams#0",
                title="Teams",
                url="https://help.example/teams",
                tier=Tier.LOW,
                score=0.75,
            ),
        ],
        "backends": Backends(embedder="local-minilm", store="sqlite", drafter="extractive"),
        "timings_ms": {"total": 11.0},
    }
    values.update(overrides)
    return Answer.model_validate(values)


def test_footnotes_number_the_cited_sources_and_mark_each_claim_once() -> None:
    answer = cited_answer()
    numbers = footnote_numbers(answer)
    assert numbers == {"refunds#1": 1, "refunds#0": 2, "billing#3": 3}  # the sources' order; teams is not cited
    pieces = footnoted(answer, numbers)
    assert "".join(text for text, _ in pieces) == answer.draft
    marked = "".join(text + "".join(f"[{n}]" for n in marks) for text, marks in pieces)
    assert "We refund the duplicate charge. It reaches your card in 5 days.[2]\n" in marked  # once a paragraph
    assert "To ask for it:\n1. Go to Settings > Billing.[1]\n2. Click <Request refund>.[1][3]\n" in marked
    listed = cited_answer(
        draft="Hi,\n\nYou can either:\n- Retry the payment.\n- Replace the card.\n\nBest regards,",
        citations=[
            Citation(text=text, chunk_ids=["refunds#0"])
            for text in ("You can either:", "Retry the payment.", "Replace the card.")
        ],
    )
    marked = "".join(t + "".join(f"[{n}]" for n in m) for t, m in footnoted(listed, footnote_numbers(listed)))
    assert marked == "Hi,\n\nYou can either:\n- Retry the payment.\n- Replace the card.[1]\n\nBest regards,"


def test_slack_shows_citations_as_footnotes_linked_to_their_sections() -> None:
    text = block_text(blocks.to_dicts(blocks.answer_blocks(cited_answer())))
    assert "in 5 days.<https://help.example/refunds|[2]>\n" in text
    assert (
        "Click &lt;Request refund&gt;.<https://help.example/refunds#ask|[1]><https://help.example/billing#cards|[3]>"
        in text
    )
    assert "*[1]* <https://help.example/refunds#ask|Refunds › Ask for a refund> · `HIGH` · 0.90" in text
    assert "*[3]* <https://help.example/billing#cards|Billing › Cards> · `MEDIUM` · 0.70" in text
    assert "• <https://help.example/teams|Teams> · `LOW` · 0.75" in text  # found, not cited: a bullet
    required_view = block_text(blocks.to_dicts(blocks.answer_blocks(cited_answer(), view="required")))
    assert "*[1]*" not in required_view and "• <https://help.example/refunds#ask|" in required_view
    # Without citations the draft is shown exactly as before.
    plain_answer = cited_answer(citations=[])
    assert "*Draft reply*\nHi Ana," in block_text(blocks.to_dicts(blocks.answer_blocks(plain_answer)))
    assert messages.SLACK_FOOTNOTE.format(url="u", number=1) not in block_text(
        blocks.to_dicts(blocks.answer_blocks(plain_answer))
    )


def test_kb_ask_text_and_json_show_the_citations() -> None:
    answer = cited_answer()
    out = render_answer(answer)
    assert "We refund the duplicate charge. It reaches your card in 5 days.[2]" in out
    assert "  [1] [HIGH] Refunds > Ask for a refund (0.90)\n      https://help.example/refunds#ask" in out
    assert "  [LOW] Teams (0.75)" in out
    data = json.loads(answer.model_dump_json())
    assert data["citations"][0] == {"text": "We refund the duplicate charge.", "chunk_ids": ["refunds#0"]}
    # The field is new: answers stored or sent without it still parse.
    del data["citations"]
    assert Answer.model_validate(data).citations == []
