"""Read article sources (Markdown, HTML, plain text, Zendesk JSON) into `Article`s.

A bad file never stops a batch: it becomes an `IngestError` naming the file, and the rest loads.

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

import yaml

from ingest.html import parse_html
from rag.errors import IngestError
from rag.models import Article, Tier

log = logging.getLogger(__name__)

MARKDOWN = {".md", ".markdown"}
HTML = {".html", ".htm"}
TEXT = {".txt"}
JSON = {".json"}
SUPPORTED = MARKDOWN | HTML | TEXT | JSON
# Repository furniture that lives next to articles but is not one (only skipped inside folders).
NOT_ARTICLES = {"readme", "license", "licence", "changelog", "contributing"}

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)^(?:---|\.\.\.)[ \t]*$\n?", re.S | re.M)
_FENCE = re.compile(r"^\s*(```|~~~)")
_LINK_DEF = re.compile(
    r"^ {0,3}\[([^\]]+)\]:[ \t]*<?([^\s>]+)>?(?:[ \t]+(\"[^\"]*\"|'[^']*'|\([^)]*\)))?[ \t]*$"
)
_FULL_REF = re.compile(r"\[([^\]]+)\]\[([^\]]*)\]")
_SHORT_REF = re.compile(r"(?<![\]!\\])\[([^\]\[]+)\](?![\[(:])")


@dataclass
class LoadResult:
    articles: list[Article] = field(default_factory=list)
    errors: list[IngestError] = field(default_factory=list)
    files: int = 0  # article files looked at, loaded or not


def load_sources(paths: Sequence[Path]) -> LoadResult:
    """Load every article under `paths` (folders recursively, or single files).

    `Article.source` is the resolved root the user named, so a later ingest of the same root can
    delete the articles that disappeared from it.
    """
    result = LoadResult()
    seen: dict[str, str] = {}  # article id -> file it came from
    for given in paths:
        root = Path(given).resolve()
        if not root.exists():
            result.errors.append(IngestError(str(root), "no such file or folder"))
            continue
        for file in _article_files(root, result):
            result.files += 1
            try:
                articles = _load_file(file, result.errors)
            except IngestError as exc:
                result.errors.append(exc)
                continue
            for article in articles:
                first = seen.get(article.id)
                if first is not None:
                    reason = f"duplicate article id {article.id!r} (already loaded from {first})"
                    result.errors.append(IngestError(str(file), reason))
                    continue
                seen[article.id] = str(file)
                result.articles.append(article.model_copy(update={"source": str(root)}))
    return result


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
        if any(part.startswith(".") for part in rel.parts) or not file.is_file():
            continue
        if file.suffix.lower() in SUPPORTED and file.stem.lower() not in NOT_ARTICLES:
            yield file


def _load_file(file: Path, errors: list[IngestError]) -> list[Article]:
    """Raise IngestError when the whole file is unusable; a bad entry of an export goes to errors."""
    text = _read_text(file)
    suffix = file.suffix.lower()
    if suffix in MARKDOWN:
        return [_markdown(file, text)]
    if suffix in HTML:
        return [_html(file, text)]
    if suffix in TEXT:
        return [_plain_text(file, text)]
    return _zendesk(file, text, errors)


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


def _markdown(file: Path, text: str) -> Article:
    meta: dict[str, Any] = {}
    body = text
    if text.startswith("---"):
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
        meta = loaded or {}
        body = text[match.end() :]
    title = _text(meta.get("title")) or _first_h1(body) or file.stem
    body = _resolve_links(_drop_title_heading(body), _text(meta.get("url")))
    return _article(file, meta, title=title, body=body)


def _html(file: Path, text: str) -> Article:
    doc = parse_html(text)
    title = doc.title or file.stem
    meta = {"url": doc.url} if doc.url else {}
    return _article(file, meta, title=title, body=_drop_title_heading(doc.body))


def _plain_text(file: Path, text: str) -> Article:
    lines = text.strip().split("\n")
    title = lines[0].lstrip("#").strip() or file.stem
    return _article(file, {}, title=title, body="\n".join(lines[1:]).strip())


def _zendesk(file: Path, text: str, errors: list[IngestError]) -> list[Article]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IngestError(str(file), f"invalid JSON (line {exc.lineno}, column {exc.colno})") from exc
    if isinstance(data, dict) and isinstance(data.get("articles"), list):
        items: list[Any] = data["articles"]
    elif isinstance(data, dict) and isinstance(data.get("article"), dict):
        items = [data["article"]]  # the show-article API response
    elif isinstance(data, list) and data and all(isinstance(i, dict) and "body" in i for i in data):
        items = data
    else:
        expected = 'expected {"articles": [{"id", "title", "body", "html_url", …}]}'
        raise IngestError(str(file), f"JSON is not a Zendesk Help Center articles export ({expected})")
    articles: list[Article] = []
    for n, item in enumerate(items):
        if not isinstance(item, dict) or item.get("id") in (None, "") or not _text(item.get("title")):
            errors.append(IngestError(str(file), f"article #{n} in the export has no id or title"))
            continue
        if item.get("draft") is True:
            log.debug("skipping draft Zendesk article %s in %s", item["id"], file)
            continue
        meta = {
            "id": item["id"],
            "url": item.get("html_url"),
            "tags": item.get("label_names"),
            "updated_at": item.get("updated_at"),
        }
        body = parse_html(item.get("body") or "").body
        articles.append(_article(file, meta, title=_text(item["title"]), body=body))
    return articles


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
            return line[2:].strip().rstrip("#").strip()
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
    return text.strip("\n")
