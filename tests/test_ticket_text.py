"""A ticket that comes as an e-mail is searched for its ask, and nothing in the letter is lost."""

from __future__ import annotations

import pytest

from rag.engine import Engine
from rag.models import Answer, Ticket
from rag.ticket_text import focus, plain

ASK = "I was charged twice for the Team plan this month. Can you refund the second charge?"
EMAIL = f"""Hello Tallyhive team,

{ASK}

Kind regards,
Lena Hoffmann
Senior Operations Manager | Posteo Logistics GmbH
lena.hoffmann@posteo-logistics.example
+49 30 5555 0192

Sent from my iPhone

On Tue, 3 Sep 2026 at 10:12, Tallyhive Support <help@tallyhive.example> wrote:
> Hi Lena, thanks for reaching out.
> Could you tell us more about the problem?
"""


@pytest.mark.parametrize(
    ("ticket", "ask"),
    [
        (EMAIL, ASK),
        ("Hi there, how do I export my timesheets to CSV? Thanks, Marta", "how do I export my timesheets to CSV?"),
        ("To whom it may concern,\n\nPlease delete my account.\n\nSam Okafor", "Please delete my account."),
        ("Dear Sir or Madam,\nOur invoices show VAT.\n-- \nJonas Brandt\nFinance", "Our invoices show VAT."),
        (
            "my export fails\n\n```\n$ tally export\n> error TH-204\n```",
            "my export fails\n\n```\n$ tally export\n> error TH-204\n```",
        ),
        (
            "Good day,\nThe export button is greyed out.\nMuch appreciated,\nKai\n\n"
            "From: Tallyhive Support\nSent: Monday, 2 March 2026 09:14\nTo: Kai\nSubject: Re: export",
            "The export button is greyed out.",
        ),
        (
            "##- Please type your reply above this line -##\n\nCan I pay yearly?",
            "##- Please type your reply above this line -##\n\nCan I pay yearly?",
        ),
        (
            "Can I pay yearly?\n\n##- Please type your reply above this line -##\nYour request 123 was updated",
            "Can I pay yearly?",
        ),
        # A signature with no sign-off above it, and a contact line that is the customer's own ask.
        ("My card was declined.\n\nLena Hoffmann\nSenior Ops | Posteo GmbH\n+49 30 5555 0192", "My card was declined."),
        (
            "My card was declined.\n\nPlease call me on 0161 555 0147",
            "My card was declined.\n\nPlease call me on 0161 555 0147",
        ),
        # A question after a "Thanks!" is still the customer's, not a signature.
        (
            "My invoice is wrong.\nThanks!\nAlso, how do I export?",
            "My invoice is wrong.\nThanks!\nAlso, how do I export?",
        ),
        # A "thanks" that is the ask's own sentence stays, and so does a ticket that is only a greeting.
        (
            "Thanks for the refund last week. How do I get the invoice?",
            "Thanks for the refund last week. How do I get the invoice?",
        ),
        ("Hello!", "Hello!"),
    ],
)
def test_focus_keeps_the_ask_and_drops_the_letter_around_it(ticket: str, ask: str) -> None:
    assert focus(ticket) == ask


def test_an_html_ticket_becomes_the_text_its_reader_sees() -> None:
    ticket = (
        '<div dir="ltr"><p>Hello&nbsp;team,</p><p>My card was declined &amp; I can&#39;t pay.<br>Order #123</p>'
        '<p>Thanks,<br>Lena</p><div class="gmail_quote">On Tue, Support wrote:<blockquote>old</blockquote></div></div>'
    )
    assert plain(ticket) == "Hello team,\n\nMy card was declined & I can't pay.\nOrder #123\n\nThanks,\nLena"
    assert Ticket(ticket=ticket).query() == "My card was declined & I can't pay.\nOrder #123"
    # Markup inside a plain ticket is what the customer wrote, not HTML to read.
    assert plain("my <div> is not centred on the Pages site &amp; CSS is fine") == (
        "my <div> is not centred on the Pages site & CSS is fine"
    )


async def test_an_email_ticket_is_judged_and_ranked_like_its_bare_ask(engine: Engine) -> None:
    bare, bare_assessed, bare_retrieval = await engine.answer_with_retrieval(ASK)
    mail, mail_assessed, mail_retrieval = await engine.answer_with_retrieval(EMAIL)
    assert [a.article_id for a in mail_retrieval.articles] == [a.article_id for a in bare_retrieval.articles]
    assert mail.decision == bare.decision
    assert mail_assessed.features == pytest.approx(bare_assessed.features)
    # The signature's words are not counted as words the KB never uses.
    assert not {"hoffmann", "posteo", "iphone"} & set(mail_retrieval.unknown_terms)
    assert Ticket(ticket=EMAIL).query() == ASK


async def test_required_data_still_reads_the_signature(engine: Engine) -> None:
    ask = "I can't log in, the password reset email never arrives."
    signed = f"Hi,\n\n{ask}\n\nThanks,\nLena Hoffmann\nlena.hoffmann@posteo-logistics.example"
    bare, signed_answer = await engine.answer(ask), await engine.answer(signed)
    assert "e-mail address" in asked(bare)
    # The address in the signature is data already given: it is not asked for again.
    assert "e-mail address" not in asked(signed_answer), asked(signed_answer)


def asked(answer: Answer) -> str:
    return " ".join(item.item.lower() for item in answer.required_data)
