"""Chunking: sections, heading paths, anchors, size limits, tiny-section merging, hashes, tiers."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.chunking import chunk_article, github_anchor
from ingest.loaders import load_sources
from rag.models import Article, Tier, sha256_text

EXAMPLES_KB = Path(__file__).resolve().parent.parent / "examples" / "kb"
URL = "https://help.tallyhive.example/articles/reset-your-password"

RESET_BODY = """\
# Reset your password
If you forgot your password, you can set a new one from the sign-in page in a minute or two.

## Before you start
> **Important:** You need access to the account e-mail. Support cannot reset it for you.

## Steps
1. Open the sign-in page and click **Forgot password**.
2. Enter your account e-mail and click **Send link**.
3. Open the e-mail and choose a new password.

## Related articles
- [Two-factor authentication](https://help.tallyhive.example/articles/2fa)
- [Change your e-mail address](https://help.tallyhive.example/articles/change-email)
"""


def make(body: str, **fields: object) -> Article:
    data: dict[str, object] = {"id": "reset", "title": "Reset your password", "url": URL, "body": body}
    return Article.model_validate({**data, **fields})


def test_sections_paths_urls_ids_and_tiers() -> None:
    chunks = chunk_article(make(RESET_BODY, section_tiers={"Related articles": "LOW"}))
    assert [c.id for c in chunks] == ["reset#0", "reset#1", "reset#2", "reset#3"]
    assert [c.heading_path for c in chunks] == ["", "Before you start", "Steps", "Related articles"]
    assert [c.url for c in chunks] == [
        URL,
        f"{URL}#before-you-start",
        f"{URL}#steps",
        f"{URL}#related-articles",
    ]
    assert [(c.tier, c.kind) for c in chunks] == [
        (Tier.MEDIUM, "text"),
        (Tier.CRITICAL, "requirements"),
        (Tier.HIGH, "steps"),
        (Tier.LOW, "related"),
    ]
    assert all(c.article_id == "reset" and c.title == "Reset your password" for c in chunks)
    # The title line is neither a section nor text; headings are not repeated in the text.
    assert chunks[0].text.startswith("If you forgot your password")
    assert chunks[2].text.startswith("1. Open the sign-in page")
    assert "## " not in "".join(c.text for c in chunks)


def test_nested_headings_and_hash_lines_in_code() -> None:
    body = """\
Intro paragraph that is long enough to be a chunk of its own, about the API.

## Authentication
Send your token in the `Authorization` header of every request you make.

```bash
# this is a comment, not a heading
curl -H "Authorization: Bearer $TOKEN" https://api.example/v1/me
```

### Rotate a token
Tokens can be rotated from the settings page at any time without downtime.

#### Using the CLI
Run the rotate command and paste the new token into your CI secrets store.

## Errors
Every error response has a code and a message that explain what went wrong.
"""
    chunks = chunk_article(make(body, title="API"))
    assert [c.heading_path for c in chunks] == [
        "",
        "Authentication",
        "Authentication > Rotate a token",
        "Authentication > Rotate a token > Using the CLI",
        "Errors",
    ]
    assert "# this is a comment, not a heading" in chunks[1].text
    assert chunks[3].url == f"{URL}#using-the-cli"


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Before you start", "before-you-start"),
        ("What you'll need", "what-youll-need"),
        ("Step 1: Open **Settings**", "step-1-open-settings"),
        ("`npm token` commands", "npm-token-commands"),
        ("[SSO](https://x.example) & SAML", "sso--saml"),
        ("Why can't I see my team's workspace?", "why-cant-i-see-my-teams-workspace"),
        ("E-mail_address", "e-mail_address"),
    ],
)
def test_github_anchor(heading: str, anchor: str) -> None:
    assert github_anchor(heading) == anchor


def test_repeated_headings_get_numbered_anchors() -> None:
    text = "A paragraph long enough not to be merged into the chunk before it, surely."
    body = f"## Using the website\n{text}\n## Using the CLI\n{text}\n## Using the website\n{text}"
    urls = [c.url for c in chunk_article(make(body))]
    assert urls == [f"{URL}#using-the-website", f"{URL}#using-the-cli", f"{URL}#using-the-website-1"]


def test_long_section_splits_at_paragraphs_and_keeps_the_list_together() -> None:
    paragraphs = [f"Paragraph {n} explains one more detail of exporting timesheets to CSV." * 3 for n in range(6)]
    steps = "\n".join(f"{n}. Do step number {n} of the export carefully." for n in range(1, 9))
    body = (
        "## Export\n" + "\n\n".join(paragraphs[:3]) + "\n\nTo export:\n" + steps + "\n\n" + "\n\n".join(paragraphs[3:])
    )
    chunks = chunk_article(make(body), max_chars=600)
    assert len(chunks) > 2
    assert all(len(c.text) <= 600 for c in chunks)
    assert all(c.heading_path == "Export" and c.url == f"{URL}#export" for c in chunks)
    # Every paragraph survives whole, in order; no chunk ends mid-sentence.
    joined = "\n\n".join(c.text for c in chunks)
    assert [p for p in paragraphs if p in joined] == paragraphs
    assert all(c.text.rstrip().endswith(".") for c in chunks)
    # The lead-in and the whole numbered list are in one chunk, which is a HIGH procedure.
    [procedure] = [c for c in chunks if "1. Do step" in c.text]
    assert f"To export:\n{steps}" in procedure.text
    assert procedure.tier is Tier.HIGH


def test_long_paragraph_splits_between_sentences() -> None:
    sentences = [f"Sentence {n} says something useful about invoices and VAT numbers." for n in range(40)]
    chunks = chunk_article(make("## Invoices\n" + " ".join(sentences)), max_chars=300)
    assert all(len(c.text) <= 300 for c in chunks)
    assert " ".join(c.text for c in chunks) == " ".join(sentences)


def test_oversized_list_and_code_block_split_cleanly() -> None:
    items = "\n".join(f"- Item {n} of a very long checklist for admins." for n in range(40))
    code = "```\n" + "\n".join(f"line {n} of a long log output" for n in range(60)) + "\n```"
    chunks = chunk_article(make(f"## Checklist\n{items}\n\n## Log\n{code}"), max_chars=400)
    assert all(len(c.text) <= 400 for c in chunks)
    checklist = [c for c in chunks if c.heading_path == "Checklist"]
    assert all(line.startswith("- Item") for c in checklist for line in c.text.split("\n"))
    log = [c for c in chunks if c.heading_path == "Log"]
    assert len(log) > 1
    assert all(c.text.startswith("```\n") and c.text.endswith("\n```") for c in log)


def test_tiny_section_merges_into_previous_chunk_of_same_parent() -> None:
    long_text = "Reports show tracked time per project, person and client for any date range."
    body = f"""## Reports
{long_text}
### Filters
{long_text}
### Tip
Save a filter.
## Sharing
### Public links
Links expire.
"""
    chunks = chunk_article(make(body))
    assert [c.heading_path for c in chunks] == ["Reports", "Reports > Filters", "Sharing > Public links"]
    assert chunks[1].text == f"{long_text}\n\n### Tip\nSave a filter."
    # "Public links" is tiny too, but its parent "Sharing" has no earlier chunk to join.
    assert chunks[2].text == "Links expire."


def test_tiny_warning_is_not_hidden_in_a_less_important_chunk() -> None:
    explanation = "Archived projects keep their time entries and can be restored by an admin later."
    body = f"## Archived projects\n{explanation}\n## Warning\nDeletion is final.\n"
    chunks = chunk_article(make(body))
    assert [(c.heading_path, c.tier) for c in chunks] == [
        ("Archived projects", Tier.MEDIUM),
        ("Warning", Tier.CRITICAL),
    ]


def test_content_hash_follows_the_embedded_text() -> None:
    before = chunk_article(make(RESET_BODY))
    assert all(c.content_hash == sha256_text(c.embedding_text()) for c in before)
    again = chunk_article(make(RESET_BODY))
    assert [c.content_hash for c in again] == [c.content_hash for c in before]
    edited = chunk_article(make(RESET_BODY.replace("3. Open the e-mail", "3. Open the newest e-mail")))
    changed = [b.id for b, e in zip(before, edited, strict=True) if b.content_hash != e.content_hash]
    assert changed == ["reset#2"]
    retitled = chunk_article(make(RESET_BODY, title="Forgot your password"))
    assert all(b.content_hash != r.content_hash for b, r in zip(before, retitled, strict=True))


def test_empty_and_heading_only_bodies_give_no_chunks() -> None:
    assert chunk_article(make("")) == []
    assert chunk_article(make("# Reset your password\n\n## Steps\n")) == []


def test_article_without_url_gives_chunks_without_url() -> None:
    chunks = chunk_article(make(RESET_BODY, url=""))
    assert chunks and all(c.url == "" for c in chunks)


def test_max_chars_must_leave_room_for_a_paragraph() -> None:
    with pytest.raises(ValueError, match="max_chars"):
        chunk_article(make(RESET_BODY), max_chars=10)


def test_loaded_markdown_chunks_end_to_end(tmp_path: Path) -> None:
    md = tmp_path / "reset.md"
    front = f"---\nid: reset\ntitle: Reset your password\nurl: {URL}\nsection_tiers:\n  Steps: CRITICAL\n---\n"
    md.write_text(front + RESET_BODY, encoding="utf-8")
    [article] = load_sources([tmp_path]).articles
    chunks = chunk_article(article)
    assert [c.heading_path for c in chunks] == ["", "Before you start", "Steps", "Related articles"]
    assert chunks[2].tier is Tier.CRITICAL  # front matter beats the "Steps" heading rule


@pytest.mark.skipif(not EXAMPLES_KB.is_dir(), reason="examples/kb is not in this checkout")
def test_examples_kb_loads_and_chunks_with_every_tier() -> None:
    result = load_sources([EXAMPLES_KB])
    assert result.errors == []
    assert 15 <= len(result.articles) <= 25
    chunks = [c for a in result.articles for c in chunk_article(a)]
    assert {c.tier for c in chunks} == set(Tier)
    urls = {a.id: a.url for a in result.articles}
    for chunk in chunks:
        assert urls[chunk.article_id].startswith("https://")
        assert chunk.url.startswith(urls[chunk.article_id])
        assert re.fullmatch(r"(#[a-z0-9_-]+)?", chunk.url[len(urls[chunk.article_id]) :])
        assert 0 < len(chunk.text) <= 1000
    assert len({c.id for c in chunks}) == len(chunks)
    # The front matter's section tiers are honoured somewhere in the sample.
    forced = [a for a in result.articles if a.section_tiers]
    assert forced
    for a in forced:
        paths = {c.heading_path.split(" > ")[-1].casefold(): c.tier for c in chunks if c.article_id == a.id}
        for heading, tier in a.section_tiers.items():
            if heading.casefold() in paths:
                assert paths[heading.casefold()] is tier


def test_loose_numbered_list_with_code_stays_one_block() -> None:
    intro = (
        "Removing two-factor authentication makes your account easier to take over, so do it rarely."
        " Prefer rotating your authenticator device instead."
    )
    steps = """1. Log in with `npm login`.

2. Type the following command:

   ```
   npm profile disable-2fa
   # prompts for your password
   ```

3. Enter your password and one-time code when asked."""
    body = f"## Remove 2FA from the command line\n{intro}\n\n{steps}\n"
    # The intro and the list do not fit together, but the list alone does: it moves whole.
    assert len(steps) <= 300 < len(intro) + len(steps)
    chunks = chunk_article(make(body), max_chars=300)
    assert [c.text for c in chunks] == [intro, steps]
    assert chunks[1].tier is Tier.HIGH


def test_an_explicit_heading_id_is_the_sections_anchor() -> None:
    text = "A sentence long enough to make this section a chunk of its own, as real sections are. " * 3
    body = f"## Refund policy {{#policy}}\n{text}\n\n## Hugo style {{: #hugo-id }}\n{text}\n\n## Plain heading\n{text}"
    chunks = chunk_article(Article(id="a", title="T", url="https://help.example/a", body=body))
    assert [(c.heading_path, c.url) for c in chunks] == [
        ("Refund policy", "https://help.example/a#policy"),
        ("Hugo style", "https://help.example/a#hugo-id"),
        ("Plain heading", "https://help.example/a#plain-heading"),  # no id: GitHub's slug, as before
    ]
    assert all("{#" not in c.text and "{#" not in c.embedding_text() for c in chunks)
