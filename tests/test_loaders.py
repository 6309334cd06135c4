"""Loaders: each format, folder walking, and bad input that names the file while the rest loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ingest.html import html_to_markdown, parse_html
from ingest.loaders import load_sources
from rag.models import Tier

RESET_MD = """\
---
id: reset-your-password
title: Reset your password
url: https://help.tallyhive.example/articles/reset-your-password
tags: [account, login]
updated_at: 2026-09-14
tier: MEDIUM
section_tiers:
  Before you start: CRITICAL
---
# Reset your password
You can reset your password from the sign-in page.

## Before you start
> **Important:** You need access to the account e-mail.

## Steps
1. Open the sign-in page.
2. Click **Forgot password**.
"""

GOOD_MD = """\
---
id: good-article
title: A good article
---
This article is fine and must still load when its neighbours are broken.
"""


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_markdown_front_matter_fields(tmp_path: Path) -> None:
    write(tmp_path / "reset.md", RESET_MD)
    result = load_sources([tmp_path])
    assert result.errors == []
    assert result.files == 1
    [article] = result.articles
    assert article.id == "reset-your-password"
    assert article.title == "Reset your password"
    assert article.url == "https://help.tallyhive.example/articles/reset-your-password"
    assert article.tags == ["account", "login"]
    assert article.updated_at == "2026-09-14"  # YAML date back to ISO text
    assert article.tier is Tier.MEDIUM
    assert article.section_tiers == {"Before you start": Tier.CRITICAL}
    assert article.source == str(tmp_path.resolve())
    # The "# Reset your password" line is the title, not part of the body.
    assert article.body.startswith("You can reset your password")
    assert "## Before you start" in article.body
    assert "1. Open the sign-in page." in article.body


def test_markdown_without_front_matter_uses_heading_or_stem(tmp_path: Path) -> None:
    write(tmp_path / "with-heading.md", "# Export your data\n\nOpen **Settings**.\n")
    write(tmp_path / "no-heading.markdown", "Just a paragraph about exports.\n")
    write(tmp_path / "with-id.md", "# Import your data {#import}\n\nOpen **Settings**.\n")
    write(tmp_path / "tags-as-text.md", "---\ntags: billing, refunds\nid: 42\n---\nRefunds take 5 days.\n")
    result = load_sources([tmp_path])
    assert result.errors == []
    by_id = {a.id: a for a in result.articles}
    assert by_id["with-heading"].title == "Export your data"
    assert by_id["with-heading"].body == "Open **Settings**."
    assert by_id["no-heading"].title == "no-heading"
    assert by_id["with-id"].title == "Import your data"  # the heading's id is not part of the title
    assert by_id["42"].tags == ["billing", "refunds"]
    assert by_id["42"].url == ""


def test_bom_and_crlf_markdown_loads(tmp_path: Path) -> None:
    raw = "\ufeff---\r\nid: crlf\r\ntitle: Windows file\r\n---\r\nLine one.\r\n\r\nLine two.\r\n"
    write(tmp_path / "crlf.md", raw.encode("utf-8"))
    [article] = load_sources([tmp_path]).articles
    assert (article.id, article.title, article.body) == ("crlf", "Windows file", "Line one.\n\nLine two.")


def test_html_file(tmp_path: Path) -> None:
    html = """<!doctype html><html><head><title>Invoices - Tallyhive Help</title>
    <link rel="canonical" href="https://help.example/invoices"><style>p{color:red}</style>
    <script>track()</script></head><body><nav><a href="/">Home</a></nav>
    <article><h1>Download invoices</h1><p>Invoices are in <a href="/billing">Billing</a>.</p>
    <p>Every paid plan gets one invoice a month, on the day the subscription renews. Owners and billing
    managers can download them; other members see the billing page without the download button.</p>
    <h2>Steps</h2><ol><li>Open <b>Billing</b>.</li><li>Click <code>Download</code>.</li></ol>
    <h3>Notes</h3><ul><li>PDF only</li><li>Kept for 7 years</li></ul>
    <pre>GET /invoices
# not a heading</pre></article></body></html>"""
    write(tmp_path / "invoices.html", html)
    [article] = load_sources([tmp_path]).articles
    assert article.id == "invoices"
    assert article.title == "Download invoices"
    assert article.url == "https://help.example/invoices"
    # Relative links become absolute against the page's URL: a chunk is read away from its page.
    assert article.body.startswith("Invoices are in [Billing](https://help.example/billing).")
    assert "## Steps\n\n1. Open **Billing**.\n2. Click `Download`." in article.body
    assert "### Notes\n\n- PDF only\n- Kept for 7 years" in article.body
    assert "```\nGET /invoices\n# not a heading\n```" in article.body
    for dropped in ("track()", "color:red", "Home"):
        assert dropped not in article.body


def test_html_title_falls_back_to_title_tag() -> None:
    doc = parse_html("<html><head><title> SSO help </title></head><body><p>Hi</p></body></html>")
    assert (doc.title, doc.url, doc.body) == ("SSO help", None, "Hi")


def test_html_to_markdown_quotes_nested_lists_and_line_breaks() -> None:
    md = html_to_markdown(
        "<blockquote><p><strong>Warning:</strong> cannot be undone.</p></blockquote>"
        "<ul><li>one<ul><li>one-a</li></ul></li><li>two</li></ul><p>a<br>b</p>"
        "<table><tr><th>Plan</th><th>Price</th></tr><tr><td>Pro</td><td>$9</td></tr></table>"
    )
    assert md == ("> **Warning:** cannot be undone.\n\n- one\n  - one-a\n- two\n\na\nb\n\nPlan | Price\nPro | $9")


def test_plain_text(tmp_path: Path) -> None:
    write(tmp_path / "faq.txt", "\n\nHow do refunds work?\nRefunds go back to the card.\n\nIt takes 5 days.\n")
    [article] = load_sources([tmp_path]).articles
    assert (article.id, article.title) == ("faq", "How do refunds work?")
    assert article.body == "Refunds go back to the card.\n\nIt takes 5 days."


def zendesk_item(n: int, **extra: object) -> dict[str, object]:
    return {
        "id": 360000 + n,
        "title": f"Article {n}",
        "body": f"<p>Body of article {n}.</p><h2>Steps</h2><ol><li>Do it</li></ol>",
        "html_url": f"https://acme.zendesk.com/hc/en-us/articles/{360000 + n}",
        "label_names": ["billing", "faq"],
        "updated_at": "2026-01-02T03:04:05Z",
        **extra,
    }


def test_zendesk_export(tmp_path: Path) -> None:
    export = {"articles": [zendesk_item(1), zendesk_item(2, draft=True), zendesk_item(3, body=None)]}
    write(tmp_path / "export.json", json.dumps(export))
    result = load_sources([tmp_path])
    assert result.errors == []
    assert [a.id for a in result.articles] == ["360001", "360003"]  # the draft is skipped
    first = result.articles[0]
    assert first.title == "Article 1"
    assert first.url == "https://acme.zendesk.com/hc/en-us/articles/360001"
    assert first.tags == ["billing", "faq"]
    assert first.updated_at == "2026-01-02T03:04:05Z"
    assert first.body == "Body of article 1.\n\n## Steps\n\n1. Do it"
    assert result.articles[1].body == ""


def test_zendesk_top_level_list_and_bad_entry(tmp_path: Path) -> None:
    items = [zendesk_item(1), {"id": 7, "body": "<p>no title</p>"}, zendesk_item(2)]
    bad = write(tmp_path / "list.json", json.dumps(items))
    result = load_sources([bad])
    assert [a.id for a in result.articles] == ["360001", "360002"]
    [error] = result.errors
    assert error.source == str(bad.resolve())
    assert "article #1" in error.reason


def test_zendesk_api_pages_names_urls_sections_and_locales(tmp_path: Path) -> None:
    """The Help Center API's own page shape, as a script saves it (several pages in one list)."""
    page1 = {
        "articles": [
            zendesk_item(1, section_id=11, body='<p>See <a href="/hc/en-us/articles/360002">this</a>.</p>'),
            {  # an article as the API lists it: `name`, and `url` is the API's JSON address
                "id": 360002, "name": "Cancel your plan", "title": None, "html_url": None,
                "url": "https://acme.zendesk.com/api/v2/help_center/en-us/articles/360002.json",
                "body": "<p>Open <b>Billing</b>.</p>", "section_id": 12,
                "locale": "en-us", "source_locale": "en-us", "draft": False,
            },
        ],
        "sections": [{"id": 11, "name": "Invoices"}, {"id": 12, "name": "Plans"}],
        "next_page": "https://acme.zendesk.com/api/v2/help_center/en-us/articles.json?page=2",
        "page": 1, "page_count": 2, "per_page": 2, "count": 4,
    }  # fmt: skip
    page2 = {
        "articles": [
            zendesk_item(1, locale="de", source_locale="en-us", title="Artikel 1"),  # a translation
            zendesk_item(4, draft=True),
        ],
        "next_page": None,
    }
    write(tmp_path / "pages.json", json.dumps([page1, page2]))
    result = load_sources([tmp_path])
    assert result.errors == []
    assert [(a.id, a.title, a.url, a.tags) for a in result.articles] == [
        ("360001", "Article 1", "https://acme.zendesk.com/hc/en-us/articles/360001", ["billing", "faq", "Invoices"]),
        ("360002", "Cancel your plan", "https://acme.zendesk.com/hc/en-us/articles/360002", ["Plans"]),
        ("360001-de", "Artikel 1", "https://acme.zendesk.com/hc/en-us/articles/360001", ["billing", "faq"]),
    ]  # fmt: skip
    # Relative links work away from the page they were written on.
    assert result.articles[0].body == "See [this](https://acme.zendesk.com/hc/en-us/articles/360002)."


def test_zendesk_json_lines(tmp_path: Path) -> None:
    lines = [json.dumps(zendesk_item(1)), "", json.dumps(zendesk_item(2, body="<ul><li>a</li></ul>"))]
    write(tmp_path / "export.jsonl", "\n".join(lines) + "\n")
    result = load_sources([tmp_path])
    assert result.errors == [] and result.files == 1
    assert [(a.id, a.body) for a in result.articles] == [
        ("360001", "Body of article 1.\n\n## Steps\n\n1. Do it"),
        ("360002", "- a"),
    ]


def test_json_lines_that_are_not_articles(tmp_path: Path) -> None:
    tickets = write(tmp_path / "tickets.jsonl", '{"ticket": "I was charged twice"}\n')
    broken = write(tmp_path / "kb" / "broken.jsonl", json.dumps(zendesk_item(1)) + "\n{oops\n")
    result = load_sources([tmp_path])  # in a folder: tickets are not articles and not an error
    assert result.files == 1 and result.articles == []
    [error] = result.errors
    assert (error.source, error.reason) == (str(broken.resolve()), "invalid JSON on line 2 (column 2)")
    [error] = load_sources([tickets]).errors  # named on its own, it must be an export
    assert "not a Zendesk Help Center" in error.reason


def test_folder_walk_skips_hidden_and_non_articles(tmp_path: Path) -> None:
    write(tmp_path / "b.md", "# B\n\nbee")
    write(tmp_path / "a" / "z.txt", "Zed\nzed body")
    write(tmp_path / "a" / "y.md", "# Y\n\nwhy")
    write(tmp_path / ".git" / "x.md", "# hidden folder")
    write(tmp_path / ".draft.md", "# hidden file")
    write(tmp_path / "README.md", "# About this folder")
    write(tmp_path / "tickets.jsonl", '{"ticket": "hi"}\n')
    write(tmp_path / "logo.png", b"\x89PNG\x00\x00")
    # A Jekyll repository's build output, partials and dependencies hold no articles of their own.
    write(tmp_path / "_site" / "b" / "index.html", "<html><body><main><h1>B</h1><p>bee</p></main></body></html>")
    write(tmp_path / "_includes" / "note.md", "# A partial")
    write(tmp_path / "node_modules" / "pkg" / "guide.md", "# Not ours")
    result = load_sources([tmp_path])
    assert result.errors == []
    assert result.files == 3
    assert [a.id for a in result.articles] == ["y", "z", "b"]  # sorted by path: a/y, a/z, b
    # Named as the source, a built site is read.
    write(tmp_path / "_site" / "c.html", "<html><body><main><h1>C</h1><p>" + "sea " * 80 + "</p></main></body></html>")
    assert [a.title for a in load_sources([tmp_path / "_site"]).articles] == ["C"]


def test_single_file_source_and_missing_path(tmp_path: Path) -> None:
    one = write(tmp_path / "one.md", "# One\n\ntext")
    pdf = write(tmp_path / "manual.pdf", b"%PDF-1.4")
    missing = tmp_path / "nope"
    result = load_sources([one, pdf, missing])
    assert [a.source for a in result.articles] == [str(one.resolve())]
    assert {(e.source, e.reason.split(" (")[0]) for e in result.errors} == {
        (str(pdf.resolve()), "unsupported file type '.pdf'"),
        (str(missing.resolve()), "no such file or folder"),
    }


BAD_INPUTS: list[tuple[str, str | bytes, str]] = [
    ("broken-yaml.md", "---\ntitle: [unclosed\nid: x\n---\nbody\n", "front matter is not valid YAML"),
    ("unclosed.md", "---\ntitle: Oops\nbody without closing marker\n", "no closing '---'"),
    ("list-front-matter.md", "---\n- a\n- b\n---\nbody\n", "front matter must be a mapping"),
    ("empty.md", "", "empty file"),
    ("blank.txt", "  \n\t\n", "empty file"),
    ("binary.md", b"# Title\x00\x01\x02 body", "binary file"),
    ("latin1.md", "# Caf\u00e9\n\nd\u00e9j\u00e0 vu".encode("latin-1"), "not UTF-8 text"),
    ("tickets.json", json.dumps([{"ticket": "hi", "expect": "answer"}]), "not a Zendesk Help Center"),
    ("config.json", json.dumps({"name": "pkg"}), "not a Zendesk Help Center"),
    ("broken.json", '{"articles": [', "invalid JSON"),
    ("bad-tier.md", "---\ntier: URGENT\n---\nbody\n", "unknown tier 'URGENT'"),
    ("bad-section.md", "---\nsection_tiers:\n  Steps: top\n---\nbody\n", "section_tiers['Steps']"),
]


@pytest.mark.parametrize(("name", "content", "reason"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_names_the_file_and_the_batch_goes_on(
    tmp_path: Path, name: str, content: str | bytes, reason: str
) -> None:
    bad = write(tmp_path / name, content)
    write(tmp_path / "good.md", GOOD_MD)
    write(tmp_path / "zz-after.txt", "Later article\nStill loaded after the bad one.")
    result = load_sources([tmp_path])
    assert [a.id for a in result.articles] == ["good-article", "zz-after"]
    assert result.files == 3
    [error] = result.errors
    assert error.source == str(bad.resolve())
    assert reason in error.reason
    assert str(bad.resolve()) in str(error)


def test_yaml_error_says_where(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "---\nid: a\ntitle: [unclosed\n---\nbody\n")
    [error] = load_sources([tmp_path]).errors
    assert "line" in error.reason and "column" in error.reason


def test_duplicate_id_names_both_files(tmp_path: Path) -> None:
    first = write(tmp_path / "a" / "first.md", "---\nid: same\ntitle: First\n---\none")
    second = write(tmp_path / "b" / "second.md", "---\nid: same\ntitle: Second\n---\ntwo")
    result = load_sources([tmp_path])
    assert [a.title for a in result.articles] == ["First"]
    [error] = result.errors
    assert error.source == str(second.resolve())
    assert "duplicate article id 'same'" in error.reason
    assert str(first.resolve()) in error.reason


def test_duplicate_id_across_two_roots(tmp_path: Path) -> None:
    write(tmp_path / "one" / "x.md", "# X\n\nfirst")
    write(tmp_path / "two" / "x.txt", "X again\nsecond")
    result = load_sources([tmp_path / "one", tmp_path / "two"])
    assert [a.source for a in result.articles] == [str((tmp_path / "one").resolve())]
    assert [e.source for e in result.errors] == [str((tmp_path / "two" / "x.txt").resolve())]


def test_reference_links_become_inline_and_anchors_absolute(tmp_path: Path) -> None:
    body = """---
id: tokens
title: Tokens
url: https://docs.example/tokens#top
---
See "[Creating tokens][create-token]", the [CLI docs][] and [2FA](#two-factor).

```
[not-a-definition]: kept because it is code
```

[create-token]: https://docs.example/creating-tokens
[cli docs]: <https://docs.example/cli> "CLI"
"""
    write(tmp_path / "tokens.md", body)
    [article] = load_sources([tmp_path]).articles
    assert article.body == (
        'See "[Creating tokens](https://docs.example/creating-tokens)", the '
        "[CLI docs](https://docs.example/cli) and [2FA](https://docs.example/tokens#two-factor).\n\n"
        "```\n[not-a-definition]: kept because it is code\n```"
    )
