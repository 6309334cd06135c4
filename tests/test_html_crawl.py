"""Crawled help-center pages (wget -r / httrack): the article without the site around it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ingest.chunking import chunk_article
from ingest.html import html_to_markdown, not_an_article, parse_html
from ingest.loaders import load_sources
from rag.models import Article, Tier

PROSE = (
    "If you forgot your password, you can set a new one from the sign-in page. The reset link we "
    "e-mail you is valid for one hour, and you can ask for a new one as often as you need. A link "
    "from an older e-mail stops working once a newer one is sent."
)

# The shape of a Zendesk Guide (Copenhagen theme) article page, trimmed.
ZENDESK_PAGE = f"""<!DOCTYPE html><html lang="en-US"><head>
<title>Reset your password &ndash; Acme Help Center</title>
<link rel="canonical" href="https://help.acme.example/hc/en-us/articles/360001-Reset-your-password">
<style>.x{{color:red}}</style><script>window.analytics = {{}};</script></head><body>
<a class="skip-navigation" href="#main-content">Skip to main content</a>
<div id="onetrust-banner-sdk"><p>We use cookies to improve your experience on our site.</p></div>
<header class="header"><a href="/hc/en-us">Acme Help Center</a>
<nav class="user-nav"><a href="/login">Sign in</a></nav></header>
<main role="main"><div class="container">
<div class="sub-nav"><ol class="breadcrumbs"><li><a href="/hc/en-us">Acme Help Center</a></li>
<li><a href="/hc/en-us/sections/2">Login</a></li></ol>
<form role="search" action="/hc/en-us/search"><input type="search" name="query"></form></div>
<div class="article-container">
<aside class="article-sidebar"><h3>Articles in this section</h3>
<ul><li><a href="/hc/en-us/articles/360002">Two-factor authentication</a></li></ul></aside>
<article id="main-content" class="article">
<header class="article-header"><h1 class="article-title">Reset your password</h1>
<div class="article-meta">Dana Agent <time datetime="2026-01-02">2 months ago</time></div>
<a class="article-subscribe" href="/subscription">Follow</a></header>
<section class="article-info"><div class="article-body"><p>{PROSE}</p>
<h2>Steps</h2><ol><li>Open the <a href="/login">sign-in page</a> and click <strong>Forgot password</strong>.</li>
<li>Open the e-mail and choose a new password.</li></ol>
<p hidden>Internal note for agents only.</p></div></section>
<footer><div class="article-share"><a href="https://facebook.example/share">Facebook</a></div></footer>
<div class="article-votes"><h2 class="article-votes-question">Was this article helpful?</h2>
<small><span>12 out of 15 found this helpful</span></small></div>
<div class="article-more-questions">Have more questions? <a href="/hc/en-us/requests/new">Submit a request</a></div>
<section class="related-articles"><h3>Related articles</h3>
<ul><li><a href="/hc/en-us/articles/9">Change your e-mail</a></li></ul></section>
<div class="article-comments"><h2>Comments</h2><p>0 comments</p></div>
</article></div></div></main>
<footer class="footer"><a href="/hc/en-us">Acme Help Center</a> English (US)</footer></body></html>"""

# An older site with no <main> or <article>: layout divs, a menu and a sidebar by class name only.
DIV_PAGE = f"""<html><head><title>Export timesheets | Tallyhive Support</title>
<meta property="og:url" content="https://support.tallyhive.example/export-timesheets"></head>
<body><div class="site-header"><h1>Tallyhive</h1></div>
<div id="top-menu"><a href="/">Home</a> <a href="/pricing">Pricing</a> <a href="/blog">Blog</a></div>
<div class="page-with-sidebar"><div class="left-sidebar"><p>Browse topics</p><ul><li><a href="/a">Accounts</a></li>
<li><a href="/b">Billing</a></li><li><a href="/c">Exports</a></li></ul></div>
<div class="content-column"><p>{PROSE}</p><p>Exports are CSV files with one row per entry; times are in
the workspace time zone and durations in decimal hours, so they add up in a spreadsheet.</p>
<p>Open <a href="reports/">Reports</a>, pick a date range and click <b>Export</b>.</p></div></div>
<div class="cookie-notice">This site uses cookies. <a href="/privacy">Learn more</a></div>
<div class="site-footer">© 2026 Tallyhive · <a href="/terms">Terms</a></div></body></html>"""


def write(path: Path, content: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content, encoding="utf-8")
    return path


def test_zendesk_article_page_keeps_only_the_article(tmp_path: Path) -> None:
    write(tmp_path / "reset.html", ZENDESK_PAGE)
    result = load_sources([tmp_path])
    assert result.errors == [] and result.warnings == []
    [article] = result.articles
    assert article.title == "Reset your password"
    assert article.url == "https://help.acme.example/hc/en-us/articles/360001-Reset-your-password"
    assert article.body == (
        f"{PROSE}\n\n## Steps\n\n"
        "1. Open the [sign-in page](https://help.acme.example/login) and click **Forgot password**.\n"
        "2. Open the e-mail and choose a new password."
    )


def test_page_without_main_uses_the_block_with_the_most_text() -> None:
    doc = parse_html(DIV_PAGE)
    assert doc.title == "Export timesheets"  # <title> without " | Tallyhive Support", not the logo
    assert doc.url == "https://support.tallyhive.example/export-timesheets"  # og:url
    assert doc.body.startswith(PROSE)
    assert "Open [Reports](https://support.tallyhive.example/reports/), pick a date range" in doc.body
    for chrome in ("Home", "Browse topics", "Billing", "cookies", "Terms", "©"):
        assert chrome not in doc.body
    assert not_an_article(doc) is None


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Invoices - Acme Help", "Invoices"),
        ("Set up 2-step login – Help - Acme", "Set up 2-step login – Help"),
        ("Billing FAQ", "Billing FAQ"),
        (" | Acme", "| Acme"),
    ],
)
def test_title_tag_loses_its_site_suffix(title: str, expected: str) -> None:
    doc = parse_html(f"<title>{title}</title><p>text</p>")
    assert (doc.title, doc.body) == (expected, "text")  # a <title> outside <head> is not body text


def test_listing_and_near_empty_pages_are_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    links = "".join(f'<li><a href="/hc/articles/{n}">How to do task number {n} in the app</a></li>' for n in range(12))
    listing = write(
        tmp_path / "section.html",
        f"<html><body><main><h1>Login</h1><p>{PROSE}</p><ul>{links}</ul></main></body></html>",
    )
    redirect = write(
        tmp_path / "old.html",
        '<html><head><meta http-equiv="refresh" content="0; url=/new"></head><body>Moved.</body></html>',
    )
    write(tmp_path / "article.html", ZENDESK_PAGE)
    with caplog.at_level(logging.WARNING, logger="ingest.loaders"):
        result = load_sources([tmp_path])
    assert [a.id for a in result.articles] == ["article"]
    assert result.errors == []  # not a failure: a failed file would stop deletions of its folder
    assert result.files == 3
    assert [w.split(": ", 1)[0] for w in result.warnings] == [str(redirect.resolve()), str(listing.resolve())]
    assert "links (an index or listing page)" in result.warnings[1]
    assert "only 6 characters of text" in result.warnings[0]
    assert len(caplog.records) == 2


def test_crawled_site_ids_and_urls_come_from_paths(tmp_path: Path) -> None:
    """wget -r saves every page as index.html under its host: ids and URLs from the path."""
    site = tmp_path / "help.acme.example"
    page = "<html><head><title>Getting started - Acme</title></head><body><main><h1>Getting started</h1>"
    write(site / "billing" / "getting-started" / "index.html", f"{page}<p>Billing: {PROSE}</p></main></body></html>")
    write(site / "sso" / "getting-started" / "index.html", f"{page}<p>SSO: {PROSE}</p></main></body></html>")
    write(site / "faq.html", f"{page}<p>FAQ: {PROSE}</p></main></body></html>")
    result = load_sources([tmp_path])
    assert result.errors == []
    assert [(a.id, a.title, a.url) for a in result.articles] == [
        ("help.acme.example/billing/getting-started", "Getting started",
         "https://help.acme.example/billing/getting-started/"),
        ("help.acme.example/faq", "Getting started", "https://help.acme.example/faq.html"),
        ("help.acme.example/sso/getting-started", "Getting started", "https://help.acme.example/sso/getting-started/"),
    ]  # fmt: skip
    # Named as the root itself, the host folder still gives the URL.
    [one] = load_sources([site / "faq.html"]).articles
    assert (one.id, one.url) == ("faq", "https://help.acme.example/faq.html")


def test_a_section_cited_from_a_page_links_to_the_pages_own_heading_id(tmp_path: Path) -> None:
    # Zendesk gives headings ids like "h_01H…"; other sites put an empty <a id|name> inside them.
    text = "Refunds go back to the card you paid with, within 14 days of the request. " * 3
    page = (
        '<html><head><link rel="canonical" href="https://help.acme.example/hc/en-us/articles/7-Refunds"></head>'
        f"<body><article><h1>Refunds</h1><p>{text}</p>"
        f'<h2 id="h_01HQ2B3C4D">Before you start</h2><p>{text}</p>'
        f'<h2><a name="policy"></a>Refund policy</h2><p>{text}</p>'
        f"<h2>No id here</h2><p>{text}</p></article></body></html>"
    )
    write(tmp_path / "refunds.html", page)
    [article] = load_sources([tmp_path]).articles
    urls = {c.heading_path: c.url for c in chunk_article(article)}
    base = "https://help.acme.example/hc/en-us/articles/7-Refunds"
    assert urls == {
        "": base,
        "Before you start": f"{base}#h_01HQ2B3C4D",
        "Refund policy": f"{base}#policy",
        "No id here": f"{base}#no-id-here",
    }


@pytest.mark.parametrize(
    ("box", "markdown"),
    [
        (  # MkDocs Material
            '<div class="admonition warning"><p class="admonition-title">Warning</p>'
            "<p>Deleting is permanent.</p></div>",
            "> **Warning:** Deleting is permanent.",
        ),
        (  # Docusaurus: the box, its heading and its content each carry "admonition" in a class
            '<div class="theme-admonition theme-admonition-tip alert alert--success"><div class="admonitionHeading_G">'
            '<span class="admonitionIcon_R"></span>tip</div>'
            '<div class="admonitionContent_B"><p>Use the CLI.</p></div></div>',
            "> **Tip:** Use the CLI.",
        ),
        (  # Bootstrap, with the author's own label
            '<div class="alert alert-warning" role="alert"><strong>Warning:</strong> Only owners can do this.</div>',
            "> **Warning:** Only owners can do this.",
        ),
        ('<div class="callout callout--info"><p>Plans renew monthly.</p></div>', "> **Note:** Plans renew monthly."),
        ('<aside class="note"><p>Keep your recovery codes.</p></aside>', "> **Note:** Keep your recovery codes."),
        # Zendesk's "article-info" wraps the whole article: "info" alone does not make a callout.
        ('<section class="article-info"><p>Plans renew monthly.</p></section>', "Plans renew monthly."),
    ],
)
def test_callout_boxes_become_admonitions(box: str, markdown: str) -> None:
    assert html_to_markdown(box) == markdown


def test_a_callout_in_a_crawled_page_is_kept_and_makes_its_section_critical(tmp_path: Path) -> None:
    text = "Deleting a workspace removes its projects, members and reports for everyone in it. " * 3
    page = (
        "<html><body><main><h1>Delete a workspace</h1>"
        f"<p>{text}</p><h2>Before you delete</h2><p>{text}</p>"
        '<aside class="admonition danger"><p>This cannot be undone.</p></aside>'
        '<aside class="sidebar"><a href="/a">Other articles</a></aside></main></body></html>'
    )
    write(tmp_path / "delete.html", page)
    [article] = load_sources([tmp_path]).articles
    assert "> **Warning:** This cannot be undone." in article.body and "Other articles" not in article.body
    section = next(c for c in chunk_article(article) if c.heading_path == "Before you delete")
    assert section.tier == Tier.CRITICAL


def test_a_page_saved_twice_by_a_crawl_is_read_once(tmp_path: Path) -> None:
    text = "Refunds go back to the card you paid with, within 14 days of the request. " * 3
    page = f"<html><body><main><h1>Refunds</h1><p>{text}</p></main></body></html>"
    other = f"<html><body><main><h1>Invoices</h1><p>{text}</p></main></body></html>"
    site = tmp_path / "help.acme.example"
    write(site / "refunds.html", page)
    write(site / "refunds" / "index.html", page)  # the same page under the folder-page name
    write(site / "invoices.html", other)  # same text, another title: another article
    result = load_sources([tmp_path])
    assert sorted(a.title for a in result.articles) == ["Invoices", "Refunds"]
    assert result.errors == []
    [warning] = result.warnings
    assert "refunds.html" in warning and "the same title and text as" in warning and "index.html" in warning


def test_bold_paragraphs_are_headings_in_a_body_without_any() -> None:
    body = (
        "<p>Deleting a workspace removes it for everyone.</p><p><strong>Before you begin</strong></p>"
        "<p>You need to be the workspace owner.</p><p><b>Steps</b></p><ol><li>Open Settings.</li></ol>"
        "<p><strong>This cannot be undone</strong></p><p>Export first.</p>"  # a warning in bold stays text
        "<p><strong>Mobile:</strong></p><ol><li>Tap Settings.</li></ol>"  # a label stays a label
        "<p><strong>Nothing under it</strong></p>"
    )
    markdown = html_to_markdown(body)
    assert "### Before you begin\n\nYou need to be the workspace owner." in markdown
    assert "### Steps\n\n1. Open Settings." in markdown
    assert "**This cannot be undone**" in markdown and "**Mobile:**" in markdown
    assert markdown.endswith("**Nothing under it**")
    article = Article(id="d", title="Delete a workspace", url="https://h.example/d", body=markdown)
    tiers = {c.heading_path: c.tier for c in chunk_article(article)}
    assert tiers["Before you begin"] == Tier.CRITICAL and tiers["Steps"] == Tier.HIGH
    # With real headings, bold paragraphs are left as the author wrote them.
    assert html_to_markdown("<h2>Real</h2><p><b>Before you begin</b></p><p>Owners only.</p>") == (
        "## Real\n\n**Before you begin**\n\nOwners only."
    )
