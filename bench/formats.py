"""The same help center in the shapes it arrives in, measured with `kb eval` (not part of the tests).

    .venv/bin/pip install -e '.[bench]'        # Python-Markdown renders the articles to HTML
    .venv/bin/python -m bench.formats                      # npm Docs (../shared/kb-samples) and examples/kb
    .venv/bin/python -m bench.formats --kb DIR --tickets FILE

A user's KB comes as Markdown, as a crawled help site or as a Zendesk export. This renders one
Markdown KB into the other two and runs the same tickets on each:
- crawled: one page a article, saved by a crawler under a folder named like the host, in the
  markup of Zendesk Guide's default theme (header, breadcrumbs, a sidebar of the section's other
  articles, and inside the article element the vote widget, "Related articles" and comments);
- zendesk: one `articles.json` of the Help Center API (`{"articles": [{"id", "title", "body",
  "html_url", "section_id", "label_names"}]}`, bodies in HTML), ticket labels mapped to its ids;
- zd-bold: the same export with every heading written as a bold paragraph, as many help-desk
  editors do.
Retrieval, escalation and draft figures should not depend on the shape; where they do, ingest loses
or adds something.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.fit_confidence import SAMPLES
from bot.evaluation import evaluate, load_labelled
from ingest.loaders import load_sources
from rag.models import Article

ROOT = Path(__file__).resolve().parents[1]
KBS = [
    (SAMPLES / "npm-docs" / "articles", SAMPLES / "npm-docs" / "dev-tickets.jsonl"),
    (ROOT / "examples" / "kb", ROOT / "examples" / "kb" / "tickets.jsonl"),
]
COLUMNS = (
    "recall@1", "recall@5", "mrr", "escalated_out_of_scope", "escalated_answerable",
    "must_mention_found", "draft_words_p50", "required_recall", "required_items",
)  # fmt: skip
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title} – {site} Help Center</title>
<link rel="canonical" href="{url}"><link rel="stylesheet" href="/theme.css"></head>
<body>
<a class="skip-navigation" href="#main-content">Skip to main content</a>
<header class="header"><div class="logo"><a href="/hc/en-us">{site}</a></div>
<nav class="user-nav"><a href="/hc/en-us/requests/new">Submit a request</a> <a href="/login">Sign in</a></nav></header>
<main role="main"><div class="container-divider"></div>
<div class="container"><div class="sub-nav"><ol class="breadcrumbs"><li><a href="/hc/en-us">{site} Help Center</a></li>
<li><a href="/hc/en-us/sections/1">{section}</a></li></ol>
<form role="search" class="search"><input type="search" placeholder="Search"></form></div>
<div class="article-container" id="article-container">
<aside class="article-sidebar"><section class="collapsible-sidebar">
<h3>Articles in this section</h3><ul>{sidebar}</ul></section></aside>
<article id="main-content" class="article"><header class="article-header">
<h1 title="{title}" class="article-title">{title}</h1>
<div class="article-author"><div class="article-meta">{site} Support
<ul class="meta-group"><li class="meta-data">Updated</li></ul></div></div>
<a class="article-subscribe button" href="#" rel="nofollow" role="button">Follow</a></header>
<section class="article-info"><div class="article-content"><div class="article-body">{body}</div>
<div class="article-attachments"></div></div>
<div class="article-comment-count"><a href="#comments">0 comments</a></div></section>
<footer><div class="article-footer"><div class="article-share"><ul class="share">
<li><a href="#" class="share-facebook">Facebook</a></li>
<li><a href="#" class="share-twitter">X Corp</a></li></ul></div></div>
<div class="article-votes"><span class="article-votes-question">Was this article helpful?</span>
<div class="article-votes-controls"><button type="button">Yes</button><button type="button">No</button></div>
<small class="article-votes-count">12 out of 31 found this helpful</small></div>
<div class="article-more-questions">Have more questions? <a href="/hc/en-us/requests/new">Submit a request</a></div>
<div class="article-return-to-top"><a href="#article-container">Return to top</a></div></footer>
<div class="article-relatives"><section class="related-articles">
<h2>Related articles</h2><ul>{related}</ul></section></div>
<div class="article-comments" id="article-comments"><section class="comments"><header class="comment-overview">
<h2 class="comment-heading">Comments</h2><p class="comment-callout">0 comments</p></header>
<p>Please <a href="/login">sign in</a> to leave a comment.</p></section></div>
</article></div></div></main>
<footer class="footer"><div class="footer-inner"><a href="/">{site}</a> · Powered by Zendesk</div></footer>
</body></html>
"""


def _html(markdown_text: str) -> str:
    import markdown  # the bench extra: only this script needs it

    return markdown.markdown(markdown_text, extensions=["tables", "fenced_code", "sane_lists"])


def _section(article: Article) -> str:
    return (article.tags[0] if article.tags else "General").replace("-", " ").title()


def crawled_site(articles: list[Article], out: Path, site: str) -> Path:
    """Zendesk Guide pages as a crawler saves them, under a folder named like the host."""
    host = out / f"help.{site.lower().replace(' ', '')}.example"
    for n, article in enumerate(articles):
        others = [a for a in articles if _section(a) == _section(article) and a.id != article.id][:8]
        related = [articles[(n + k) % len(articles)] for k in (1, 2, 3)]

        def links(items: list[Article]) -> str:
            return "".join(f'<li><a href="/hc/en-us/articles/{a.id}">{html.escape(a.title)}</a></li>' for a in items)

        page = PAGE.format(
            title=html.escape(article.title),
            site=site,
            url=html.escape(article.url),
            section=html.escape(_section(article)),
            sidebar=links(others),
            related=links(related),
            body=_html(article.body),
        )
        (host / f"{article.id}.html").parent.mkdir(parents=True, exist_ok=True)
        (host / f"{article.id}.html").write_text(page, encoding="utf-8")
    return host


def bold_headings(html: str) -> str:
    """Headings as many help-desk editors write them: a paragraph in bold."""
    return re.sub(r"<h[2-6][^>]*>(.*?)</h[2-6]>", r"<p><strong>\1</strong></p>", html, flags=re.S)


def zendesk_export(articles: list[Article], out: Path, site: str, *, bold: bool = False) -> tuple[Path, dict[str, str]]:
    """A Help Center articles export and the map from Markdown ids to its numeric ids."""
    ids = {a.id: str(360000000000 + n) for n, a in enumerate(articles)}
    sections = {name: 9000 + n for n, name in enumerate(sorted({_section(a) for a in articles}))}
    items = [
        {
            "id": int(ids[a.id]),
            "title": a.title,
            "body": bold_headings(_html(a.body)) if bold else _html(a.body),
            "html_url": f"https://help.{site.lower().replace(' ', '')}.example/hc/en-us/articles/{ids[a.id]}",
            "section_id": sections[_section(a)],
            "label_names": a.tags,
            "draft": False,
            "locale": "en-us",
            "source_locale": "en-us",
        }
        for a in articles
    ]
    folder = out / ("zendesk-bold" if bold else "zendesk")
    folder.mkdir(parents=True)
    export = {"articles": items, "sections": [{"id": i, "name": name} for name, i in sections.items()]}
    (folder / "articles.json").write_text(json.dumps(export), encoding="utf-8")
    return folder, ids


def relabel(tickets: Path, ids: dict[str, str], out: Path) -> Path:
    rows = load_labelled(tickets)
    for row in rows:
        row["relevant"] = [ids.get(a, a) for a in row.get("relevant", [])]
    path = out / "tickets.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


async def measure(kb_dir: Path, tickets: Path) -> list[tuple[str, dict[str, Any]]]:
    loaded = load_sources([kb_dir])
    site = "Npm" if "npm" in str(kb_dir) else "Tallyhive"
    rows = []
    with tempfile.TemporaryDirectory(prefix="kb-formats-") as tmp:
        out = Path(tmp)
        site_dir = crawled_site(loaded.articles, out / "crawled", site)
        export_dir, ids = zendesk_export(loaded.articles, out, site)
        bold_dir, _ = zendesk_export(loaded.articles, out, site, bold=True)
        relabelled = relabel(tickets, ids, out)
        shapes = [
            ("markdown", kb_dir, tickets),
            ("crawled", site_dir, tickets),
            ("zendesk", export_dir, relabelled),
            ("zd-bold", bold_dir, relabelled),
        ]
        for shape, folder, labelled in shapes:
            report = await evaluate([(folder, labelled)], modes=["hybrid"])
            rows.append((shape, report["kbs"][0]["modes"]["hybrid"]))
    return rows


async def main(argv: list[str]) -> int:
    kbs = KBS
    if "--kb" in argv:
        kbs = [(Path(argv[argv.index("--kb") + 1]), Path(argv[argv.index("--tickets") + 1]))]
    missing = [str(p) for pair in kbs for p in pair if not p.exists()]
    if missing:
        print("missing: " + ", ".join(missing), file=sys.stderr)
        return 1
    print(f"{'KB':<14}{'shape':<10}" + "".join(f"{c[:12]:>13}" for c in COLUMNS))
    for kb_dir, tickets in kbs:
        name = kb_dir.parent.name if kb_dir.name == "articles" else kb_dir.name
        for shape, figures in await measure(kb_dir, tickets):
            cells = "".join(f"{_cell(figures.get(c)):>13}" for c in COLUMNS)
            print(f"{name[:13]:<14}{shape:<10}{cells}", flush=True)
    return 0


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
