"""The part of a ticket worth searching: its ask, without the letter around it.

    plain("<div><p>My card was declined.</p><p>Thanks,<br>Lena</p></div>")  -> the same as text
    focus("Hello team,\\n\\nMy card was declined.\\n\\nThanks,\\nLena Hoffmann\\nSent from my iPhone")
    -> "My card was declined."

Tickets come as e-mails: a greeting, the ask, a sign-off, a signature block, a phone's footer, a
quoted earlier message, a legal disclaimer. None of that is in any help center; a name, a company
and a job title in a signature pull the ticket's vector away from the article it needs and count as
words the KB never uses. Only the search sees the focused text: required data and the draft still
read the whole ticket (an e-mail address or an order number in a signature is data already given).
Conservative on purpose: only whole greeting and sign-off lines, the lines after a sign-off and
quoted replies go; if nothing would be left, the ticket is searched as it came.

A ticket forwarded from a help desk or a mail client is often HTML (`<p>`, `<br>`, `&nbsp;`, a
Gmail quote): `plain` makes it the text a person reads first, for everything the engine does.
"""

from __future__ import annotations

import html
import re

# "Hi,", "Hello GitHub team,", "Dear Sir or Madam,", "To whom it may concern," at the start of a line
# (a greeting followed by the ask on the same line loses only the greeting).
_GREETING = re.compile(
    r"^\s*(?:(?:hi|hello|hey|hiya|greetings|dear|good (?:morning|afternoon|evening|day))\b[^,.!?:\n]{0,40}"
    r"|to whom it may concern)\s*[,.!:\-–—]+[ \t]*",
    re.IGNORECASE,
)
# A sign-off line: what follows it (name, title, company, phone) is the signature.
_SIGN_OFF = re.compile(
    r"^\s*(?:(?:many |best |kind |warm |with )?(?:thanks|thank you|regards|wishes)(?: (?:again|so much|a lot|"
    r"in advance|for (?:your|the) help))?|best|cheers|sincerely|yours(?: (?:sincerely|truly|faithfully))?|"
    r"all the best|take care|much appreciated|appreciate (?:it|your help)|br|kr|rgds|thx|ty)\s*[,.!]*\s*$",
    re.IGNORECASE,
)
# Lines that end what the customer wrote: a signature delimiter, a phone's footer, a quoted reply's
# header ("On Tue, 3 Sep 2024, Support <help@…> wrote:"), an Outlook header, a disclaimer.
_END = re.compile(
    r"^\s*(?:--\s*$|_{5,}|-{5,}\s*original message|sent from my \w+|get outlook for|on .{5,120} wrote:\s*$|"
    r"from:\s.+@|confidentiality notice|this (?:e-?mail|message) (?:and any attachments )?(?:is|may be) confidential|"
    r"##-\s*please type your reply above this line)",  # Zendesk's mail threads
    re.IGNORECASE,
)
_QUOTED = re.compile(r"^\s*>")
# Outlook's header of the message replied to: "From: Name" then "Sent:"/"Date:" within a few lines.
_HEADER_FROM = re.compile(r"^\s*from:\s\S", re.IGNORECASE)
_HEADER_NEXT = re.compile(r"^\s*(?:sent|date|to|subject):\s", re.IGNORECASE)
# "… for me? Thanks, Joris" and "… today. thx!" at the very end of the last line.
_TRAILING_THANKS = re.compile(
    r"(?<=[.!?])\s+(?:(?:many )?thanks|thank you|thx|ty|cheers|regards|best)\b[^.!?\n]{0,30}[.!]*\s*$",
    re.IGNORECASE,
)
# A name alone in the last paragraph ("Sam Okafor"): two or three capitalised words.
# What only a signature holds: a phone number, an e-mail address, a web address.
_CONTACT = re.compile(r"(?:\+?\d[\d ()./-]{7,}\d)|(?:\S+@\S+\.\w+)|(?:\bwww\.|https?://)", re.I)
_NAME_LINE = re.compile(r"\n\s*\n\s*(?:[A-Z][\w.'-]*\s+){1,2}[A-Z][\w'-]*\s*$")
# Markup a help desk or mail client sends: only then is the ticket parsed as HTML.
_MARKUP = re.compile(
    r"</?(?:p|div|br|span|a|b|i|u|em|strong|font|ul|ol|li|table|tr|td|blockquote|h[1-6])\b[^>]*>", re.I
)
_BLOCKS = ("p", "div", "li", "tr", "blockquote", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "table")
SIGNATURE_LINES = 4  # at most this many short lines after a sign-off are taken for a signature
SIGNATURE_WORDS = 8


def plain(text: str) -> str:
    """Text as its reader sees it: HTML made into lines (quoted replies dropped), entities decoded."""
    whole = text.strip()
    # Only a ticket that is HTML from end to end: "my <div> is not centred" in a plain ticket stays.
    if not (whole.startswith("<") and whole.endswith(">") and _MARKUP.search(whole)):
        return html.unescape(text) if "&" in text else text
    from bs4 import BeautifulSoup  # only for the tickets that are HTML: every answer imports this module

    soup = BeautifulSoup(text, "html.parser")
    for quoted in soup.select("blockquote, .gmail_quote, #divRplyFwdMsg, #appendonsend, style, script, head"):
        quoted.decompose()  # the earlier messages of the thread, and what is never shown
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_BLOCKS):
        block.insert_before("\n")
        block.insert_after("\n")
    lines = [" ".join(line.replace("\xa0", " ").split()) for line in soup.get_text().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def focus(text: str) -> str:
    """The ticket without greeting, sign-off, signature, footers and quoted replies."""
    lines = text.splitlines()
    kept: list[str] = []
    for n, line in enumerate(lines):
        if _ends(lines, n):
            break
        if _SIGN_OFF.match(line) and _signature_follows(lines, n + 1):
            break
        if _QUOTED.match(line) and not _in_code(kept):
            continue
        kept.append(line)
    for n, line in enumerate(kept):
        if line.strip():
            kept[n] = _GREETING.sub("", line, count=1)
            break
    focused = _NAME_LINE.sub("", _TRAILING_THANKS.sub("", _without_contact_block("\n".join(kept).strip()))).strip()
    return focused if focused else text


def _without_contact_block(text: str) -> str:
    """The text without a last paragraph that is a signature with no sign-off above it: two to four
    short lines, one of them a phone number, an address or a web site ("Call me on 0161 555 0147"
    alone is the customer's)."""
    head, _, last = text.rpartition("\n\n")
    lines = [line for line in last.splitlines() if line.strip()]
    if not head.strip() or not 2 <= len(lines) <= SIGNATURE_LINES or not all(map(_signature_line, lines)):
        return text
    return head if any(_CONTACT.search(line) for line in lines) else text


def _ends(lines: list[str], n: int) -> bool:
    """Line n starts what the customer did not write: a footer, a quoted reply, Outlook's header."""
    if _END.match(lines[n]):
        return True
    return bool(_HEADER_FROM.match(lines[n])) and any(map(_HEADER_NEXT.match, lines[n + 1 : n + 4]))


def _signature_follows(all_lines: list[str], start: int) -> bool:
    """Only short lines (a name, a role, a company), or nothing, follow a sign-off."""
    lines = []
    for n in range(start, len(all_lines)):
        if _ends(all_lines, n):
            break  # a footer or a quoted reply after the signature is dropped anyway
        if all_lines[n].strip():
            lines.append(all_lines[n])
    return len(lines) <= SIGNATURE_LINES and all(_signature_line(line) for line in lines)


def _signature_line(line: str) -> bool:
    """A name, a role, a company, a phone number: short, and not a question or a sentence."""
    words = line.split()
    end = line.rstrip()[-1:]
    # "IT Lead, Carvalho & Filhos Lda." ends in an abbreviation, "Also, how do I export?" is asked.
    abbreviation = end == "." and bool(re.fullmatch(r"[A-Z][A-Za-z]{0,3}\.", words[-1])) if words else False
    sentence = end in "?!" and end != "" or (len(words) > 3 and end == "." and not abbreviation)
    return len(words) <= SIGNATURE_WORDS and not sentence


def _in_code(lines: list[str]) -> bool:
    """Inside a fenced block ("> " is a prompt or output there, not a quoted e-mail)."""
    return sum(line.lstrip().startswith("```") for line in lines) % 2 == 1
