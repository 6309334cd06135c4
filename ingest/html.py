"""HTML -> Markdown-ish text, so HTML files and Zendesk bodies chunk like Markdown articles.

Only what chunking and drafting need survives: headings (`#`..), paragraphs, lists, code, links,
quotes (admonitions), tables as `a | b` rows. Site chrome (script, style, nav, forms) is dropped.
A whole page (a crawled help center) also loses its header, footer, sidebars, breadcrumbs, cookie
banners and "Was this article helpful?" widgets, and `not_an_article` tells listing pages apart.

    doc = parse_html("<title>Reset</title><h1>Reset</h1><p>Open <a href='/s'>Settings</a>.</p>")
    doc.title  # "Reset"
    doc.body   # "# Reset\n\nOpen [Settings](/s)."
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from bs4.element import Comment, Doctype, NavigableString, PageElement, ProcessingInstruction, Tag

from ingest.tabs import label_tabs

DROP_TAGS = {"script", "style", "nav", "noscript", "template", "svg", "iframe", "form", "button", "head"}
BLOCK_TAGS = {
    "p", "div", "section", "article", "main", "header", "footer", "aside", "figure", "figcaption",
    "h1", "h2", "h3", "h4", "h5", "h6", "ul", "ol", "li", "pre", "blockquote", "table", "hr",
    "dl", "dt", "dd", "details", "summary", "body", "html",
}  # fmt: skip

# Page chrome, by tag, ARIA role, and words in class / id.
CHROME_TAGS = {"nav", "header", "footer", "aside", "form", "dialog"}
CHROME_ROLES = {"navigation", "banner", "contentinfo", "complementary", "search", "dialog", "alertdialog"}
# A class/id word starting or ending with one of these ("navbar", "sidenav", "CookieConsent")...
CHROME_AFFIXES = ("nav", "menu", "sidebar", "footer", "header", "breadcrumb", "cookie", "toc", "skip")
# ... or equal to one of these (shorter words that are part of ordinary ones: "shared", "metadata").
CHROME_WORDS = {
    "masthead", "share", "social", "vote", "votes", "rating", "feedback", "helpful", "comment", "comments",
    "related", "recent", "recently", "pagination", "pager", "author", "byline", "meta", "consent", "gdpr",
    "onetrust", "newsletter", "subscribe", "print", "sr-only", "visually-hidden", "screen-reader-text",
    "table-of-contents",
}  # fmt: skip
_HELPFUL = re.compile(
    r"^\s*(was this (article|page|information|answer|content) (helpful|useful)|did (this|you find) .{0,40}"
    r"(help|answer|useful)|is this (page|article) helpful|(\d+ out of \d+ )?found this helpful"
    r"|have more questions|still need help)",
    re.I,
)
# Containers the "most text" search may step into when a page has no <main> or <article>.
CONTAINERS = {"body", "html", "div", "section", "table", "tbody", "tr", "td", "center", "span"}
MIN_PROSE = 200  # chars of non-link text below which a page is not an article
MAX_LINK_SHARE = 0.6  # share of a page's text inside links above which it is a listing page
# Callout boxes (MkDocs "admonition warning", Docusaurus "theme-admonition-tip", Bootstrap
# "alert alert-warning", Zendesk and Intercom "callout", `<aside class="note">`): a box is one when a
# class word names a callout, or names its kind outright; its label comes from the kind (most serious
# first). They become `> **Warning:** …`, like Markdown admonitions. "info" alone is not enough
# (Zendesk's "article-info" holds the whole article).
CALLOUT_BOXES = {"admonition", "callout", "alert", "notice"}
CALLOUT_KINDS = (
    ("danger", "Warning"), ("warning", "Warning"), ("warn", "Warning"), ("attention", "Warning"),
    ("caution", "Caution"), ("important", "Important"), ("tip", "Tip"), ("hint", "Tip"), ("note", "Note"),
)  # fmt: skip
MAX_CALLOUT_CHARS = 1500  # a "box" longer than this is a layout wrapper, not a callout
CALLOUT_TAGS = {"div", "aside", "section", "blockquote"}
BOLD_HEADING_WORDS = 8
_BOLD_NOT_HEADING = re.compile(
    r"\b(?:must|cannot|can't|never|not|only|permanent(?:ly)?|important|warning|caution|note|tip)\b", re.I
)
_SPACES = re.compile(r"\s+")
_ANCHOR_ID = re.compile(r"[A-Za-z][\w:.-]{0,99}")  # an id a URL fragment can carry as it is
_INVISIBLE = re.compile("[\u200b\u2060\ufeff]")  # e.g. the zero-width text of heading anchors
_BR = "\x00br\x00"  # survives whitespace collapsing, becomes a newline at the end
_SEPARATOR = r"\s(?:\||-|–|—|·|::)\s"
_TITLE_SUFFIX = re.compile(rf"{_SEPARATOR}(?:(?!{_SEPARATOR}).)+$")  # " | Acme Help Center"


@dataclass(frozen=True)
class HtmlDocument:
    title: str | None
    url: str | None
    body: str
    text_chars: int = 0  # visible text of the content, title excluded
    link_chars: int = 0  # of which inside links


def parse_html(html: str, *, base_url: str | None = None) -> HtmlDocument:
    """Title (`<h1>`, else `<title>` without its " | Site" suffix), canonical URL, Markdown body.

    The body is the page's `<article>`, `<main>` or `[role=main]`, else its block with the most
    text, without page chrome. Links become absolute against the page URL (or `base_url`).
    """
    soup = _soup(html)
    url = _page_url(soup)
    title_tag = soup.find("title")
    page_title = _SPACES.sub(" ", title_tag.get_text()).strip() if isinstance(title_tag, Tag) else ""
    for tag in soup.find_all(["head", "title", "script", "style", "noscript", "template"]):
        tag.decompose()  # their text would count as the page's text (a <title> outside <head> too)
    label_tabs(soup)  # hidden tab panels are content, not chrome: opened and named first
    root = _content_root(soup)
    semantic = _is_semantic(root)
    title = _title(soup, root, page_title) if semantic else ""  # before its header (and <h1>) goes
    _strip_chrome(root)
    if not semantic:
        title = _title(soup, root, page_title)  # now that the site's header, and a logo <h1>, are gone
        root = _densest(root)
    base = url or base_url
    if base:
        _absolute_links(root, base)
    text = _text(root)
    links = sum(len(_text(a)) for a in root.find_all("a"))
    text_chars = len(text) - len(title) if title and title in text else len(text)
    body = _markdown(root)
    return HtmlDocument(title=title or None, url=url, body=body, text_chars=text_chars, link_chars=links)


def not_an_article(doc: HtmlDocument) -> str | None:
    """Why a parsed page is not worth ingesting (an index, a listing, a redirect), or None."""
    prose = doc.text_chars - doc.link_chars
    if prose < MIN_PROSE:
        return f"not an article: only {max(prose, 0)} characters of text outside links and navigation"
    if doc.text_chars and doc.link_chars / doc.text_chars > MAX_LINK_SHARE:
        share = round(100 * doc.link_chars / doc.text_chars)
        return f"not an article: {share}% of its text is links (an index or listing page)"
    return None


def html_to_markdown(html: str | Tag, *, base_url: str | None = None) -> str:
    """Convert an HTML fragment (or parsed tag) to Markdown text with blank lines between blocks."""
    node = _soup(html) if isinstance(html, str) else html
    label_tabs(node)
    if base_url:
        _absolute_links(node, base_url)
    return _markdown(node)


def _markdown(node: Tag) -> str:
    """The Markdown of a node whose tabs are already opened (parse_html opens them before chrome goes)."""
    _bold_headings(node)
    text = "\n\n".join(b for b in _blocks(node) if b.strip()).replace(_BR, "\n")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _bold_headings(node: Tag) -> None:
    """In a body with no headings at all, a short paragraph that is all bold is one ("<p><strong>
    Before you begin</strong></p>", as help-desk editors write them): sections, anchors and tiers
    follow. Not a label ("Mobile:"), a sentence, or a warning written in bold ("This cannot be undone")."""
    if node.find(["h2", "h3", "h4", "h5", "h6"]) is not None:
        return
    for paragraph in node.find_all("p"):
        children = [c for c in paragraph.children if not (isinstance(c, NavigableString) and not c.strip())]
        if len(children) != 1 or not isinstance(children[0], Tag) or children[0].name not in ("strong", "b"):
            continue
        text = _line(children[0]).strip("*_ ")
        if not text or len(text.split()) > BOLD_HEADING_WORDS or text[-1] in ".!?:;," or _BOLD_NOT_HEADING.search(text):
            continue
        following = paragraph.find_next_sibling()
        if following is None or not _text(following):
            continue  # a heading heads something
        paragraph.name = "h3"
        paragraph.string = text


def _page_url(soup: BeautifulSoup) -> str | None:
    canonical = soup.find("link", rel="canonical")
    og = soup.find("meta", attrs={"property": "og:url"})
    for tag, attr in ((canonical, "href"), (og, "content")):
        value = tag.get(attr) if isinstance(tag, Tag) else None
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _content_root(soup: BeautifulSoup) -> Tag:
    """The page's own declaration of where the content is; else the body, to be narrowed later."""
    # Several top-level <article>s are teasers on a listing page, not one article.
    articles = [a for a in soup.find_all("article") if a.find_parent("article") is None]
    if len(articles) == 1:
        return articles[0]
    for found in (soup.find("main"), soup.find(True, role="main"), soup.find(True, itemprop="articleBody")):
        if isinstance(found, Tag):
            return found
    body = soup.find("body")
    return body if isinstance(body, Tag) else soup


def _is_semantic(root: Tag) -> bool:
    return root.name in {"article", "main"} or root.get("role") == "main" or root.has_attr("itemprop")


def _title(soup: BeautifulSoup, root: Tag, title: str) -> str:
    """The content's `<h1>`, else `title` (the `<title>`) without the site's name, else any `<h1>`.

    An `<h1>` outside the content is often the site's logo, so `<title>` comes before it.
    """
    h1 = root.find("h1")
    if isinstance(h1, Tag) and _line(h1):
        return _line(h1)
    if title:
        short = _TITLE_SUFFIX.sub("", title)
        return short if short.strip() else title
    h1 = soup.find("h1")
    return _line(h1) if isinstance(h1, Tag) else ""


def _strip_chrome(root: Tag) -> None:
    total = len(_text(root)) or 1
    for tag in root.find_all(True):
        if tag.decomposed or tag.parent is None:
            continue
        if _callout_label(tag):
            continue  # an <aside class="note"> is the article's own warning, not the page's sidebar
        if _is_hidden(tag) or tag.name in CHROME_TAGS or tag.get("role") in CHROME_ROLES:
            tag.decompose()
        elif _chrome_words(tag):
            # A layout wrapper ("page-with-sidebar") holds the article: keep what is mostly prose.
            size = len(_text(tag))
            if size < total / 2 or _link_share(tag) > 0.5:
                tag.decompose()
    for text in root.find_all(string=_HELPFUL):
        widget = text.parent
        while isinstance(widget, Tag) and widget.parent is not None and widget.parent is not root:
            if len(_text(widget.parent)) > 300:
                break
            widget = widget.parent
        if isinstance(widget, Tag) and widget is not root and not widget.decomposed:
            widget.decompose()


def _is_hidden(tag: Tag) -> bool:
    style = str(tag.get("style") or "").replace(" ", "").lower()
    return tag.has_attr("hidden") or tag.get("aria-hidden") == "true" or "display:none" in style


def _chrome_words(tag: Tag) -> bool:
    classes = tag.get("class")
    names = [str(c) for c in (classes if isinstance(classes, list) else [classes or ""])]
    names.append(str(tag.get("id") or ""))
    for name in names:
        name = re.sub(r"([a-z])([A-Z])", r"\1-\2", name).lower()  # "relatedArticles" has two words
        if name in CHROME_WORDS:
            return True
        for word in re.split(r"[^a-z0-9]+", name):
            if word in CHROME_WORDS or (word and word.startswith(CHROME_AFFIXES)) or word.endswith(CHROME_AFFIXES):
                return True
    return False


def _densest(node: Tag) -> Tag:
    """Step into the child that holds most of the text while one does (a layout's content column)."""
    while True:
        total = len(_text(node))
        children = [c for c in node.children if isinstance(c, Tag) and c.name in CONTAINERS]
        best = max(children, key=lambda c: len(_text(c)), default=None)
        if best is None or len(_text(best)) < 0.75 * total:
            return node
        node = best


def _absolute_links(node: Tag | BeautifulSoup, base: str) -> None:
    for a in node.find_all("a", href=True):
        href = a["href"]
        if isinstance(href, str) and href and not href.startswith(("#", "javascript:", "mailto:", "tel:")):
            a["href"] = urljoin(base, href)


def _text(node: Tag | PageElement) -> str:
    return _SPACES.sub(" ", node.get_text(" ")).strip()


def _link_share(tag: Tag) -> float:
    size = len(_text(tag))
    return sum(len(_text(a)) for a in tag.find_all("a")) / size if size else 1.0


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
    label = _callout_label(tag)
    if label:
        return _callout(tag, label)
    if name in {"h1", "h2", "h3", "h4", "h5", "h6"}:
        text = _line(tag)
        anchor = _heading_id(tag)
        # The page's own id ("h_01H…" in Zendesk, MkDocs' and Docusaurus' slugs) is where a citation
        # of this section must link: `{#id}` keeps it for the chunker.
        return [f"{'#' * int(name[1])} {text}" + (f" {{#{anchor}}}" if anchor else "")] if text else []
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


def _heading_id(tag: Tag) -> str:
    """The heading's id on the page: its own, else an empty anchor's inside it (`<a id|name>`)."""
    candidates = [tag.get("id")] + [a.get("id") or a.get("name") for a in tag.find_all("a") if not _line(a)]
    for value in candidates:
        if isinstance(value, str) and _ANCHOR_ID.fullmatch(value.strip()):
            return value.strip()
    return ""


def _callout_label(tag: Tag) -> str:
    """The label ("Warning", "Note", …) when `tag` is a callout box, else an empty string."""
    if tag.name not in CALLOUT_TAGS:
        return ""
    classes = tag.get("class")
    names = " ".join(str(c) for c in (classes if isinstance(classes, list) else [classes or ""]))
    words = set(re.split(r"[^a-z]+", re.sub(r"([a-z])([A-Z])", r"\1-\2", names).lower()))
    boxed = bool(words & CALLOUT_BOXES) or tag.get("role") in ("note", "alert")
    kind = next((label for word, label in CALLOUT_KINDS if word in words), "")
    if not (kind or boxed) or len(_text(tag)) > MAX_CALLOUT_CHARS:
        return ""
    return kind or "Note"


def _callout(tag: Tag, label: str) -> list[str]:
    """The box as `> **Label:** …`; its own title goes when it only names the kind ("Warning")."""
    for title in tag.find_all(True, class_=re.compile(r"title|heading", re.I), limit=1):
        if _line(title).strip(" :*").lower() in {word for word, _ in CALLOUT_KINDS} | {"info", label.lower()}:
            title.decompose()
    for nested in tag.find_all(CALLOUT_TAGS):
        if _callout_label(nested):  # Docusaurus' "admonitionContent": part of this box, not one of its own
            nested.attrs.pop("class", None)
            nested.attrs.pop("role", None)
    blocks = [b for b in _render(tag.children) if b.strip()]
    if not blocks:
        return []
    if not blocks[0].startswith("**"):  # "**Warning:** …" written by the author keeps its own label
        blocks[0] = f"**{label}:** {blocks[0]}"
    text = "\n\n".join(blocks)
    return ["\n".join(f"> {line}".rstrip() for line in text.splitlines())]


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
        return _INVISIBLE.sub("", str(node))
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
