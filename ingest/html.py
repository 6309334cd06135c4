"""HTML -> Markdown-ish text, so HTML files and Zendesk bodies chunk like Markdown articles.

Only what chunking and drafting need survives: headings (`#`..), paragraphs, lists, code, links,
quotes (admonitions), tables as `a | b` rows. Site chrome (script, style, nav, forms) is dropped.

    doc = parse_html("<title>Reset</title><h1>Reset</h1><p>Open <a href='/s'>Settings</a>.</p>")
    doc.title  # "Reset"
    doc.body   # "# Reset\n\nOpen [Settings](/s)."
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from bs4.element import Comment, Doctype, NavigableString, PageElement, ProcessingInstruction, Tag

DROP_TAGS = {"script", "style", "nav", "noscript", "template", "svg", "iframe", "form", "button", "head"}
BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "header", "footer", "aside", "figure", "figcaption",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre", "blockquote", "table", "hr",
    "dl", "dt", "dd", "details", "summary", "body", "html",
}  # fmt: skip
_SPACES = re.compile(r"\s+")
_BR = "\x00br\x00"  # survives whitespace collapsing, becomes a newline at the end


@dataclass(frozen=True)
class HtmlDocument:
    title: str | None
    url: str | None
    body: str


def parse_html(html: str) -> HtmlDocument:
    """Title (first `<h1>`, else `<title>`), canonical URL if declared, Markdown body."""
    soup = _soup(html)
    # The <h1> is the article's own title; <title> often carries a " - Site name" suffix.
    h1 = soup.find("h1")
    title_tag = soup.find("title")
    title = _line(h1) if isinstance(h1, Tag) else ""
    if not title and isinstance(title_tag, Tag):
        title = _SPACES.sub(" ", title_tag.get_text()).strip()
    canonical = soup.find("link", rel="canonical")
    url = canonical.get("href") if isinstance(canonical, Tag) else None
    # Prefer the article itself over the page around it when the page says where it is.
    root = soup.find("article") or soup.find("main") or soup
    body = html_to_markdown(root) if isinstance(root, (Tag, BeautifulSoup)) else ""
    return HtmlDocument(title=title or None, url=url if isinstance(url, str) else None, body=body)


def html_to_markdown(html: str | Tag) -> str:
    """Convert an HTML fragment (or parsed tag) to Markdown text with blank lines between blocks."""
    node = _soup(html) if isinstance(html, str) else html
    text = "\n\n".join(b for b in _blocks(node) if b.strip()).replace(_BR, "\n")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _soup(html: str) -> BeautifulSoup:
    # A body that is only a URL or a file name is still text we were given, not a locator.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        return BeautifulSoup(html, "html.parser")


def _blocks(node: Tag) -> list[str]:
    return _render(node.children)


def _render(children: Iterable[PageElement]) -> list[str]:
    """Block-level rendering: inline runs become paragraphs, block children render themselves."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        para = _SPACES.sub(" ", "".join(run)).replace(_BR, "\n").strip()
        para = re.sub(r" *\n *", "\n", para)
        if para:
            out.append(para)
        run.clear()

    for child in children:
        if isinstance(child, Tag) and child.name in DROP_TAGS:
            continue
        if isinstance(child, Tag) and child.name in BLOCK_TAGS:
            flush()
            out.extend(_block(child))
        elif isinstance(child, Tag) and child.name == "br":
            run.append(_BR)
        else:
            run.append(_inline(child))
    flush()
    return out


def _block(tag: Tag) -> list[str]:
    name = tag.name
    if name in {"h1", "h2", "h3", "h4", "h5", "h6"}:
        text = _line(tag)
        return [f"{'#' * int(name[1])} {text}"] if text else []
    if name in {"ul", "ol"}:
        return [_list(tag, indent="")]
    if name == "pre":
        code = tag.get_text().strip("\n")
        return [f"```\n{code}\n```"] if code.strip() else []
    if name == "blockquote":
        inner = "\n\n".join(_blocks(tag))
        return ["\n".join(f"> {line}".rstrip() for line in inner.splitlines())] if inner else []
    if name == "table":
        rows = []
        for tr in tag.find_all("tr"):
            cells = [_line(c) for c in tr.find_all(["th", "td"])]
            rows.append(" | ".join(cells))
        return ["\n".join(r for r in rows if r.strip())]
    if name == "hr":
        return []
    if name == "dt":
        text = _line(tag)
        return [f"**{text}**"] if text else []
    return _blocks(tag)


def _list(tag: Tag, indent: str) -> str:
    ordered = tag.name == "ol"
    lines: list[str] = []
    items = [li for li in tag.children if isinstance(li, Tag) and li.name == "li"]
    for n, li in enumerate(items, start=1):
        marker = f"{n}. " if ordered else "- "
        # Nested lists are rendered after the item's own text, indented under its marker.
        nested = [c for c in li.children if isinstance(c, Tag) and c.name in {"ul", "ol"}]
        own = [c for c in li.children if not (isinstance(c, Tag) and c.name in {"ul", "ol"})]
        text = "\n".join(_render(own)).replace("\n", "\n" + indent + " " * len(marker))
        lines.append(f"{indent}{marker}{text}".rstrip())
        lines.extend(_list(c, indent + " " * len(marker)) for c in nested)
    return "\n".join(lines)


def _line(tag: Tag) -> str:
    """One-line text (headings, table cells): line breaks become spaces."""
    return _SPACES.sub(" ", _inline(tag).replace(_BR, " ")).strip()


def _inline(node: object) -> str:
    """Inline rendering: links, emphasis and code keep their Markdown form."""
    if isinstance(node, (Comment, Doctype, ProcessingInstruction)):
        return ""
    if isinstance(node, NavigableString):
        return str(node)
    if not isinstance(node, Tag) or node.name in DROP_TAGS:
        return ""
    if node.name == "br":
        return _BR
    if node.name == "img":
        return ""
    inner = "".join(_inline(c) for c in node.children)
    text = _SPACES.sub(" ", inner).strip()
    if not text:
        return inner if not inner.strip() else ""
    if node.name == "a":
        href = node.get("href")
        if isinstance(href, str) and href and not href.startswith(("javascript:", "#")):
            return f"[{text}]({href})"
        return text
    if node.name in {"strong", "b"}:
        return f"**{text}**"
    if node.name in {"em", "i"}:
        return f"*{text}*"
    if node.name == "code":
        return f"`{text}`"
    if node.name in BLOCK_TAGS:  # a block inside inline context (e.g. <p> in <li>)
        return " " + text + " "
    return inner
