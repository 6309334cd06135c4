"""Read article sources (Markdown, HTML, plain text, Zendesk JSON) into `Article`s.

A bad file never stops a batch: it becomes an `IngestError` naming the file, and the rest loads.
A document in a folder that kb-rag cannot read (PDF, Word, slides, spreadsheets) is listed in
`skipped`; other files of other types (images, styles) are ignored.
A file that is not an article (a draft, a redirect stub, a crawled index page) is skipped, with a
warning when it looked like one.

    result = load_sources([Path("examples/kb")])
    for err in result.errors:
        print(err)  # "/…/broken.md: front matter is not valid YAML (line 3, column 7)"
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import yaml

from ingest.chunking import split_heading_id
from ingest.html import html_to_markdown, not_an_article, parse_html
from ingest.jekyll import default_path, jekyll_site, page_url
from ingest.liquid import render_liquid, strip_kramdown
from rag.errors import IngestError
from rag.models import Article, Tier, sha256_text

log = logging.getLogger(__name__)

MARKDOWN = {".md", ".markdown"}
HTML = {".html", ".htm"}
TEXT = {".txt"}
JSON = {".json"}
JSON_LINES = {".jsonl"}
SUPPORTED = MARKDOWN | HTML | TEXT | JSON | JSON_LINES
# Documents a user may expect to be read but kb-rag cannot: reported as skipped. Other files in a
# folder (images, styles, scripts, fonts of a docs repo or a crawled site) are ignored quietly.
UNSUPPORTED_DOCUMENTS = {
    ".pdf", ".doc", ".docx", ".odt", ".rtf", ".pages", ".epub",
    ".ppt", ".pptx", ".odp", ".key", ".xls", ".xlsx", ".ods", ".numbers",
}  # fmt: skip
UNSUPPORTED_REASON = "unsupported format ({suffix}), skipped: convert it to Markdown, HTML or plain text"
# Folders of a docs repository that hold no articles of their own: build output (Jekyll's `_site`
# would ingest every page a second time, as HTML), templates and partials, dependencies. Skipped
# inside the folder given; naming one of them as the source still reads it.
NOT_ARTICLE_FOLDERS = {
    "_site", "_build", "_includes", "_layouts", "_sass", "_data", "node_modules", "vendor", "__pycache__",
}  # fmt: skip
# Repository furniture that lives next to articles but is not one (only skipped inside folders).
NOT_ARTICLES = {"readme", "license", "licence", "changelog", "contributing"}
# File names that say "the page of this folder": the folder names the article.
FOLDER_PAGES = {"index", "_index", "default"}

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*$\n?", re.S | re.M)
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK_DEF = re.compile(r"^ {0,3}\[([^\]]+)\]:[ \t]*<?([^\s>]+)>?(?:[ \t]+(\"[^\"]*\"|'[^']*'|\([^)]*\)))?[ \t]*$")
_FULL_REF = re.compile(r"\[([^\]]+)\]\[([^\]]*)\]")
_SHORT_REF = re.compile(r"(?<![\]!\\])\[([^\]\[]+)\](?![\[(:])")
_ROOT_LINK = re.compile(r"\]\((/(?!/)[^)\s]*)")  # a link to a path on the same site: ](/docs/x)
_AUTOTITLE = re.compile(r"\[AUTOTITLE\]\(([^)\s]+)\)")
# A folder named like a host ("help.acme.com"), not like a file ("node.js", "notes.md").
_HOSTNAME = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?!(?:js|ts|md|py|rb|go|txt|json|html?|css)$)[a-z]{2,}$", re.I)


@dataclass
class LoadResult:
    articles: list[Article] = field(default_factory=list)
    errors: list[IngestError] = field(default_factory=list)
    files: int = 0  # article files looked at, loaded or not
    warnings: list[str] = field(default_factory=list)  # files skipped as not articles, and why
    skipped: list[IngestError] = field(default_factory=list)  # documents in a format kb-rag cannot read


class _Skip(Exception):
    """The file is not an article; `quiet` when it says so itself (`published: false`)."""

    def __init__(self, reason: str, *, quiet: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.quiet = quiet


@dataclass
class _Context:
    root: Path  # the folder (or file) the user named
    errors: list[IngestError]
    # Site paths (URL path, permalink, redirect_from, file path) -> title, for `[AUTOTITLE](…)` links.
    titles: dict[str, str] = field(default_factory=dict)
    site: dict[str, Any] = field(default_factory=dict)  # the Jekyll site's settings and data (ingest/jekyll.py)
    site_root: Path | None = None


def load_sources(paths: Sequence[Path]) -> LoadResult:
    """Load every article under `paths` (folders recursively, or single files).

    `Article.source` is the resolved root the user named, so a later ingest of the same root can
    delete the articles that disappeared from it.
    """
    result = LoadResult()
    seen: dict[str, str] = {}  # article id -> file it came from
    twins: dict[str, str] = {}  # hash of an article's title and text -> the file it came from
    titles: dict[str, str] = {}
    for given in paths:
        root = Path(given).resolve()
        if not root.exists():
            result.errors.append(IngestError(str(root), "no such file or folder"))
            continue
        site, site_root = jekyll_site(root)
        ctx = _Context(root, result.errors, titles, site, site_root)
        for file in _article_files(root, result):
            result.files += 1
            try:
                articles = _load_file(file, ctx)
            except IngestError as exc:
                result.errors.append(exc)
                continue
            except _Skip as skip:
                if skip.quiet:
                    log.debug("skipping %s: %s", file, skip.reason)
                else:
                    log.warning("skipping %s: %s", file, skip.reason)
                    result.warnings.append(f"{file}: {skip.reason}")
                continue
            for article in articles:
                twin = _twin(article, file, twins)
                if twin:  # a crawl saves one page under several names (print view, ?page=1, index.html)
                    log.warning("skipping %s: %s", file, twin)
                    result.warnings.append(f"{file}: {twin}")
                    continue
                first = seen.get(article.id)
                if first is not None:
                    reason = f"duplicate article id {article.id!r} (already loaded from {first})"
                    result.errors.append(IngestError(str(file), reason))
                    continue
                seen[article.id] = str(file)
                result.articles.append(article.model_copy(update={"source": str(root)}))
    if titles:
        result.articles = [_fill_autotitles(a, titles) for a in result.articles]
    return result


def _twin(article: Article, file: Path, twins: dict[str, str]) -> str:
    """Why `article` repeats one already loaded (the same title and text), else ""; records it
    otherwise. Not by canonical URL alone: some sites give every page the home page's."""
    key = sha256_text(article.title.strip() + "\n" + " ".join(article.body.split()))
    if key in twins:
        return f"the same title and text as {twins[key]}, skipped"
    twins[key] = str(file)
    return ""


def _article_files(root: Path, result: LoadResult) -> Iterator[Path]:
    if root.is_file():
        if root.suffix.lower() in SUPPORTED:
            yield root
        else:
            allowed = ", ".join(sorted(SUPPORTED))
            reason = f"unsupported file type {root.suffix or '(none)'!r} (supported: {allowed})"
            result.errors.append(IngestError(str(root), reason))
        return
    for file in sorted(root.rglob("*"), key=lambda p: p.relative_to(root).as_posix()):
        rel = file.relative_to(root)
        if any(part.startswith(".") or part in NOT_ARTICLE_FOLDERS for part in rel.parts[:-1]):
            continue
        if rel.name.startswith(".") or not file.is_file():
            continue
        suffix = file.suffix.lower()
        if suffix in UNSUPPORTED_DOCUMENTS:
            result.skipped.append(IngestError(str(file), UNSUPPORTED_REASON.format(suffix=suffix)))
            continue
        if suffix not in SUPPORTED or file.stem.lower() in NOT_ARTICLES:
            continue
        # Lines of JSON in a KB folder are often tickets or eval sets; only article lines are read.
        if suffix in JSON_LINES and not _looks_like_article_lines(file):
            continue
        yield file


def _load_file(file: Path, ctx: _Context) -> list[Article]:
    """Raise IngestError when the whole file is unusable; a bad entry of an export goes to errors."""
    text = _read_text(file)
    suffix = file.suffix.lower()
    if suffix in MARKDOWN:
        return [_markdown(file, text, ctx)]
    if suffix in HTML:
        return [_html(file, text, ctx)]
    if suffix in TEXT:
        return [_plain_text(file, text)]
    if suffix in JSON_LINES:
        return _zendesk(file, _json_lines(file, text), ctx.errors)
    return _zendesk(file, _json(file, text), ctx.errors)


def _read_text(file: Path) -> str:
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise IngestError(str(file), f"cannot read file ({exc.strerror or exc})") from exc
    if b"\x00" in data:
        raise IngestError(str(file), "binary file (contains NUL bytes), not an article")
    try:
        text = data.decode("utf-8-sig")  # plain UTF-8, with or without a byte-order mark
    except UnicodeDecodeError as exc:
        raise IngestError(str(file), f"not UTF-8 text (bad byte at offset {exc.start})") from exc
    if not text.strip():
        raise IngestError(str(file), "empty file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _markdown(file: Path, text: str, ctx: _Context) -> Article:
    meta, body = _front_matter(file, text)
    _skip_non_articles(meta)
    # Jekyll / docs-as-code pages: Liquid and kramdown markup is build input, not reader text.
    includes = ctx.site_root / "_includes" if ctx.site_root is not None else None
    body = strip_kramdown(render_liquid(body, meta, ctx.site, includes))
    title = render_liquid(_text(meta.get("title")), meta, ctx.site) or _first_h1(body) or file.stem
    url = _text(meta.get("url")) or _permalink(meta)
    if ctx.site_root is not None and _text(ctx.site.get("url")).startswith(("http://", "https://")):
        # A Jekyll site that says where it lives: every page gets a link an agent can open.
        url = page_url(ctx.site, url or default_path(ctx.site, file.relative_to(ctx.site_root)))
    body = _drop_title_heading(body)
    intro = strip_kramdown(render_liquid(_text(meta.get("intro") or meta.get("description")), meta, ctx.site))
    if intro and not _starts_with(body, intro):
        body = f"{intro}\n\n{body}"  # the page shows its intro as the lead paragraph
    meta = {
        **meta,
        "id": _text(meta.get("id")) or _path_id(file, ctx.root, keep_folders=False),
        "url": url,
        "tags": _unique([
            *_tags(meta.get("tags")), *_tags(meta.get("category")), *_words(meta.get("categories")),
            *_tags(meta.get("topics")),
        ]),
        "updated_at": _first(meta, "updated_at", "last_modified_at", "updated", "date"),
    }  # fmt: skip
    article = _article(file, meta, title=title, body=_resolve_links(body, url))
    for path in _site_paths(file, ctx.root, meta):
        ctx.titles.setdefault(path, article.title)
    return article


def _front_matter(file: Path, text: str) -> tuple[dict[str, Any], str]:
    if not text.startswith("---"):
        return {}, text
    match = _FRONT_MATTER.match(text)
    if match is None:
        raise IngestError(str(file), "front matter starts with '---' but has no closing '---'")
    try:
        loaded = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 2}, column {mark.column + 1})" if mark else ""
        raise IngestError(str(file), f"front matter is not valid YAML{where}") from exc
    if loaded is not None and not isinstance(loaded, dict):
        raise IngestError(str(file), "front matter must be a mapping of keys to values")
    return loaded or {}, text[match.end() :]


def _skip_non_articles(meta: dict[str, Any]) -> None:
    """Pages the site itself does not publish as articles (quietly: the author said so)."""
    if meta.get("published") is False or meta.get("draft") is True:
        raise _Skip("not published (front matter)", quiet=True)
    if meta.get("redirect_to") or _text(meta.get("layout")).lower() == "redirect":
        raise _Skip("a redirect page", quiet=True)
    if meta.get("children"):
        raise _Skip("a table of contents page (front matter 'children')", quiet=True)


def _permalink(meta: dict[str, Any]) -> str:
    """Jekyll's `permalink` is the page's URL path; a pattern (`/:title/`) is not one."""
    permalink = _text(meta.get("permalink"))
    return permalink if permalink.startswith("/") and ":" not in permalink else ""


def _starts_with(body: str, intro: str) -> bool:
    def words(text: str) -> str:
        return " ".join(re.findall(r"\w+", text.casefold()))

    return words(body[: len(intro) * 2]).startswith(words(intro)[:200])


def _site_paths(file: Path, root: Path, meta: dict[str, Any]) -> list[str]:
    """Paths other pages may link this one by: URL path, permalink, redirect_from, file path."""
    paths = [urlsplit(_text(meta.get("url"))).path, _text(meta.get("permalink"))]
    redirects = meta.get("redirect_from")
    paths += [_text(r) for r in redirects] if isinstance(redirects, list) else [_text(redirects)]
    if root.is_dir():
        paths.append("/" + _path_id(file, root, keep_folders=True))
    return [p.rstrip("/") for p in paths if p.startswith("/")]


def _fill_autotitles(article: Article, titles: dict[str, str]) -> Article:
    """GitHub Docs' `[AUTOTITLE](/path)` shows the linked article's title (or, unknown, its slug)."""
    if "[AUTOTITLE](" not in article.body:
        return article

    def title(match: re.Match[str]) -> str:
        target = match.group(1)
        path = urlsplit(target).path.rstrip("/")
        parts = [p for p in path.split("/") if p]
        # "/en/enterprise-cloud@latest/x" is "/x" in another language / version of the docs.
        while parts and (parts[0] == "en" or "@" in parts[0]):
            parts = parts[1:]
        found = titles.get(path) or titles.get("/" + "/".join(parts))
        if not found:
            slug = parts[-1] if parts else target
            found = slug.replace("-", " ").replace("_", " ").capitalize()
        return f"[{found}]({target})"

    return article.model_copy(update={"body": _AUTOTITLE.sub(title, article.body)})


def _html(file: Path, text: str, ctx: _Context) -> Article:
    path_url = _url_from_path(file, ctx.root)
    doc = parse_html(text, base_url=path_url)
    problem = not_an_article(doc)
    if problem:
        raise _Skip(problem)
    meta = {"id": _path_id(file, ctx.root, keep_folders=True), "url": doc.url or path_url}
    return _article(file, meta, title=doc.title or file.stem, body=_drop_title_heading(doc.body))


def _path_id(file: Path, root: Path, *, keep_folders: bool) -> str:
    """Article id from the file's place: `a/b/reset` (or `reset`), `a/b/index.html` -> `a/b`.

    Crawled sites repeat names (every folder has an index.html, many pages share a title), so
    HTML ids keep the folders; Markdown ids stay the file name, as they always were.
    """
    rel = file.relative_to(root) if root.is_dir() else Path(file.name)
    parts = [*rel.parts[:-1], rel.stem]
    folder_page = rel.stem.lower() in FOLDER_PAGES and len(parts) > 1
    if folder_page:
        return "/".join(parts[:-1])
    return "/".join(parts) if keep_folders else rel.stem


def _url_from_path(file: Path, root: Path) -> str | None:
    """wget -r / httrack save `help.example.com/a/b.html`: the folder named like a host is the site."""
    base = root if root.is_dir() else root.parent
    rel = file.relative_to(base).parts
    candidates = [(base.name, *rel)] + [rel[i:] for i in range(len(rel) - 1)]
    for parts in candidates:
        if len(parts) > 1 and _HOSTNAME.match(parts[0]):
            path = "/".join(parts[1:])
            if Path(path).stem.lower() in FOLDER_PAGES:
                path = path[: -len(Path(path).name)]
            return f"https://{parts[0]}/{path}"
    return None


def _plain_text(file: Path, text: str) -> Article:
    lines = text.strip().split("\n")
    title = lines[0].lstrip("#").strip() or file.stem
    return _article(file, {}, title=title, body="\n".join(lines[1:]).strip())


def _json(file: Path, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(str(file), f"invalid JSON (line {exc.lineno}, column {exc.colno})") from exc


def _json_lines(file: Path, text: str) -> list[Any]:
    items: list[Any] = []
    for number, line in enumerate(text.split("\n"), 1):
        if line.strip():
            try:
                items.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise IngestError(str(file), f"invalid JSON on line {number} (column {exc.colno})") from exc
    return items


def _looks_like_article_lines(file: Path) -> bool:
    try:
        with file.open(encoding="utf-8-sig") as handle:
            first = next((line for line in handle if line.strip()), "")
        item = json.loads(first)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return True  # let the loader report what is wrong with it
    return _is_article(item)


def _is_article(item: object) -> bool:
    return isinstance(item, dict) and "body" in item and ("title" in item or "name" in item)


def _export_items(data: Any) -> tuple[list[Any], dict[Any, str]] | None:
    """Articles of a Help Center export and its side-loaded section names, or None if it is not one.

    Shapes: `{"articles": [...]}` (an API page, `next_page` and all), `{"article": {...}}`, a list
    of articles, or a list of API pages.
    """
    pages = (
        data
        if isinstance(data, list) and data and all(isinstance(p, dict) and "articles" in p for p in data)
        else [data]
    )
    items: list[Any] = []
    sections: dict[Any, str] = {}
    for page in pages:
        if isinstance(page, dict) and isinstance(page.get("articles"), list):
            items += page["articles"]
        elif isinstance(page, dict) and isinstance(page.get("article"), dict):
            items.append(page["article"])  # the show-article API response
        elif isinstance(page, list) and page and all(isinstance(i, dict) and "body" in i for i in page):
            items += page
        else:
            return None
        for section in page.get("sections") or [] if isinstance(page, dict) else []:
            if isinstance(section, dict) and section.get("id") is not None and _text(section.get("name")):
                sections[section["id"]] = _text(section["name"])
    return items, sections


def _zendesk(file: Path, data: Any, errors: list[IngestError]) -> list[Article]:
    found = _export_items(data)
    if found is None:
        expected = 'expected {"articles": [{"id", "title", "body", "html_url", …}]}'
        raise IngestError(str(file), f"JSON is not a Zendesk Help Center articles export ({expected})")
    items, sections = found
    articles: list[Article] = []
    for n, item in enumerate(items):
        title = _text(item.get("title") or item.get("name")) if isinstance(item, dict) else ""
        if not isinstance(item, dict) or item.get("id") in (None, "") or not title:
            errors.append(IngestError(str(file), f"article #{n} in the export has no id or title"))
            continue
        if item.get("draft") is True:
            log.debug("skipping draft Zendesk article %s in %s", item["id"], file)
            continue
        url = _zendesk_url(item)
        section = sections.get(item.get("section_id"))
        meta = {
            "id": _zendesk_id(item),
            "url": url,
            "tags": [*_tags(item.get("label_names")), *([section] if section else [])],
            "updated_at": item.get("updated_at") or item.get("edited_at"),
        }
        body = html_to_markdown(item.get("body") or "", base_url=url or None)
        articles.append(_article(file, meta, title=title, body=body))
    return articles


def _zendesk_id(item: dict[str, Any]) -> str:
    """A translation shares its article's id: its locale keeps the two apart."""
    locale, source = _text(item.get("locale")), _text(item.get("source_locale"))
    return f"{item['id']}-{locale}" if locale and source and locale != source else _text(item["id"])


def _zendesk_url(item: dict[str, Any]) -> str:
    """The page agents can open: `html_url`, else `url` (the API's JSON address made into the page's)."""
    if _text(item.get("html_url")):
        return _text(item["html_url"])
    url = _text(item.get("url"))
    api = re.match(r"(https?://[^/]+)/api/v2/help_center/(?:([\w-]+)/)?articles/(\d+)(?:\.json)?$", url)
    if api:
        return f"{api.group(1)}/hc/{api.group(2) or _text(item.get('locale')) or 'en-us'}/articles/{api.group(3)}"
    return url


def _article(file: Path, meta: dict[str, Any], *, title: str, body: str) -> Article:
    """Validate the metadata every format shares; wrong values name the file."""
    try:
        tier = Tier.parse(meta["tier"]) if meta.get("tier") not in (None, "") else None
        raw_sections = meta.get("section_tiers") or {}
        if not isinstance(raw_sections, dict):
            raise ValueError("section_tiers must map heading text to a tier")
        section_tiers: dict[str, Tier] = {}
        for heading, value in raw_sections.items():
            try:
                section_tiers[str(heading).strip()] = Tier.parse(value)
            except ValueError as exc:
                raise ValueError(f"section_tiers[{str(heading)!r}]: {exc}") from None
    except ValueError as exc:
        raise IngestError(str(file), str(exc)) from None
    return Article(
        id=_text(meta.get("id")) or file.stem,
        title=title.strip(),
        url=_text(meta.get("url")),
        body=body.strip(),
        tags=_tags(meta.get("tags")),
        updated_at=_date(meta.get("updated_at")),
        tier=tier,
        section_tiers=section_tiers,
    )


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _tags(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):  # "account, login" as well as a YAML list
        return [t.strip() for t in value.split(",") if t.strip()]
    if isinstance(value, list):
        return [str(t).strip() for t in value if str(t).strip()]
    return [str(value)]


def _words(value: object) -> list[str]:
    """Jekyll `categories`: a list, or one string of space-separated words."""
    if isinstance(value, str) and "," not in value:
        return value.split()
    return _tags(value)


def _unique(tags: list[str]) -> list[str]:
    """First spelling of each tag: `tags: [ssh]` and `topics: [SSH]` are one tag."""
    first: dict[str, str] = {}
    for tag in tags:
        first.setdefault(tag.casefold(), tag)
    return list(first.values())


def _first(meta: dict[str, Any], *keys: str) -> object:
    return next((meta[k] for k in keys if meta.get(k) not in (None, "")), None)


def _date(value: object) -> str | None:
    if isinstance(value, (dt.date, dt.datetime)):  # YAML turns 2026-09-14 into a date
        return value.isoformat()
    return _text(value) or None


def _first_h1(body: str) -> str:
    in_code = False
    for line in body.split("\n"):
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code and line.startswith("# "):
            return split_heading_id(line[2:].strip().rstrip("#").strip())[0].strip()
    return ""


def _drop_title_heading(body: str) -> str:
    """The leading `# Title` repeats the article title; chunks carry the title already."""
    stripped = body.lstrip("\n")
    first, _, rest = stripped.partition("\n")
    if first.startswith("# "):
        return rest.strip("\n")
    return stripped


def _resolve_links(body: str, url: str) -> str:
    """Reference-style links become inline links, so a chunk's links work on their own.

    Their definition lines (`[label]: https://…`) are dropped: they are not prose. Links to
    `#anchor` become absolute against the article URL, since chunks are shown away from the page.
    """
    targets: dict[str, str] = {}
    kept: list[str] = []
    in_code = False
    for line in body.split("\n"):
        if _FENCE.match(line):
            in_code = not in_code
        match = None if in_code else _LINK_DEF.match(line)
        if match:
            targets[match.group(1).strip().casefold()] = match.group(2)
        else:
            kept.append(line)
    text = "\n".join(kept)
    if targets:

        def full(m: re.Match[str]) -> str:
            target = targets.get((m.group(2) or m.group(1)).strip().casefold())
            return f"[{m.group(1)}]({target})" if target else m.group(0)

        def short(m: re.Match[str]) -> str:
            target = targets.get(m.group(1).strip().casefold())
            return f"[{m.group(1)}]({target})" if target else m.group(0)

        text = _SHORT_REF.sub(short, _FULL_REF.sub(full, text))
    if url:
        text = text.replace("](#", f"]({url.split('#', 1)[0]}#")
    if url.startswith(("http://", "https://")):  # "/docs/billing/" is on the article's own site
        text = _ROOT_LINK.sub(lambda m: f"]({urljoin(url, m.group(1))}", text)
    return text.strip("\n")
