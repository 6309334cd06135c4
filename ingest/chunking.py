"""Split an article into section-aware chunks with heading paths, #anchors and tiers.

A chunk is one section of an article (or a piece of a long one). Long sections are split between
paragraphs, list items or sentences, never inside a code block when it fits; a numbered procedure
stays in one chunk when it fits. Tiny sections join the chunk before them.

    chunks = chunk_article(article, max_chars=1000)
    chunks[1].heading_path  # "Before you start"
    chunks[1].url           # "https://help…/reset-your-password#before-you-start"
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ingest.tiers import section_tier
from rag.models import Article, Chunk, sha256_text

TINY_SECTION = 60  # chars of text below which a section is merged into the chunk before it

_HEADING = re.compile(r"^ {0,3}(#{1,4})[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
# `## Refunds {#refund-policy}`: an explicit id (Hugo, kramdown, pandoc, and what ingest/html.py
# keeps from a page) is the section's anchor instead of GitHub's slug of the heading.
_EXPLICIT_ID = re.compile(r"[ \t]*\{:?[ \t]*#([A-Za-z][\w:.-]*)[ \t]*\}[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_LIST_ITEM = re.compile(r"^([ \t]*)([-*+]|\d+[.)])[ \t]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[ \t]+(?=[A-Z0-9\[(\"'*`])")


@dataclass
class _Section:
    path: list[str]  # headings without the article title
    level: int  # Markdown level of its own heading (0 for the intro)
    anchor: str  # "" for the intro
    text: str


@dataclass
class _Piece:
    path: list[str]
    anchor: str
    text: str


def chunk_article(article: Article, *, max_chars: int = 1000) -> list[Chunk]:
    """Chunks of `article` in reading order, ids `{article.id}#{n}` from 0; none for an empty body."""
    if max_chars < 100:
        raise ValueError("max_chars must be at least 100")
    pieces: list[_Piece] = []
    for section in _sections(article):
        text = section.text.strip()
        if not text:
            continue  # a heading with only subsections: they carry it in their heading_path
        if len(text) < TINY_SECTION and _merge_tiny(article, pieces, section, text, max_chars):
            continue
        pieces.extend(_Piece(section.path, section.anchor, part) for part in _fit(text, max_chars))
    base_url = article.url.split("#", 1)[0]
    chunks: list[Chunk] = []
    for n, piece in enumerate(pieces):
        tier, kind = section_tier(article, piece.path, piece.text)
        chunk = Chunk(
            id=f"{article.id}#{n}",
            article_id=article.id,
            title=article.title,
            url=f"{base_url}#{piece.anchor}" if base_url and piece.anchor else base_url,
            heading_path=" > ".join(piece.path),
            text=piece.text,
            tier=tier,
            kind=kind,
        )
        # Hash what the embedder sees: unchanged text means no re-embedding.
        chunks.append(chunk.model_copy(update={"content_hash": sha256_text(chunk.embedding_text())}))
    return chunks


def github_anchor(heading: str) -> str:
    """GitHub's heading slug: lower case, punctuation removed, spaces to hyphens."""
    slug = re.sub(r"[^\w\- ]", "", clean_heading(heading).lower())
    return slug.replace(" ", "-")


def split_heading_id(heading: str) -> tuple[str, str]:
    """(`## Refunds {#refund-policy}` -> "Refunds", "refund-policy"); "" when it has no id."""
    explicit = _EXPLICIT_ID.search(heading)
    return (heading[: explicit.start()], explicit.group(1)) if explicit else (heading, "")


def clean_heading(heading: str) -> str:
    """Heading text as rendered: links, emphasis and code marks removed."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    text = re.sub(r"(\*\*|__|`|(?<!\w)[*_]|[*_](?!\w))", "", text)
    return re.sub(r"\s+", " ", text).strip()


def _merge_tiny(article: Article, pieces: list[_Piece], section: _Section, text: str, limit: int) -> bool:
    """Join a tiny section to the previous chunk of the same parent, unless it matters more."""
    if not pieces or not section.path:
        return False
    prev, parent = pieces[-1], section.path[:-1]
    if prev.path[: len(parent)] != parent:
        return False
    merged = f"{prev.text}\n\n{'#' * section.level} {section.path[-1]}\n{text}"
    if len(merged) > limit:
        return False
    # A one-line warning must stay its own CRITICAL chunk instead of hiding in an explanation.
    own_tier, _ = section_tier(article, section.path, text)
    prev_tier, _ = section_tier(article, prev.path, prev.text)
    if own_tier.rank < prev_tier.rank:
        return False
    prev.text = merged
    return True


def _sections(article: Article) -> list[_Section]:
    sections = [_Section([], 0, "", "")]
    stack: list[tuple[int, str]] = []
    anchors: dict[str, int] = {}
    lines: list[str] = []
    fence = ""
    for line in article.body.split("\n"):
        match = None if fence else _HEADING.match(line)
        fence_match = _FENCE.match(line)
        if fence_match:
            mark = fence_match.group(1)
            if not fence:
                fence = mark
            elif mark[0] == fence[0] and len(mark) >= len(fence):
                fence = ""
        if match is None:
            lines.append(line)
            continue
        raw, explicit = split_heading_id(match.group(2))
        level, heading = len(match.group(1)), clean_heading(raw)
        is_title = level == 1 and len(sections) == 1 and not "\n".join(lines).strip()
        if is_title and heading.casefold() == article.title.strip().casefold():
            continue  # the article's own title line: chunks carry the title already
        sections[-1].text = "\n".join(lines)
        lines = []
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, heading))
        slug = github_anchor(heading)
        seen = anchors.get(slug, 0)
        anchors[slug] = seen + 1
        anchor = f"{slug}-{seen}" if seen else slug  # GitHub numbers repeated headings
        if explicit:
            anchor = explicit
        sections.append(_Section([h for _, h in stack], level, anchor, ""))
    sections[-1].text = "\n".join(lines)
    return sections


def _blocks(text: str) -> list[str]:
    """Paragraphs, whole lists, quotes and fenced code blocks, in order."""
    blocks: list[list[str]] = []
    current: list[str] = []
    fence = ""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        fence_match = _FENCE.match(line)
        in_list = bool(current) and bool(_LIST_ITEM.match(current[0]))
        if fence:
            current.append(line)
            if fence_match and fence_match.group(1)[0] == fence[0]:
                fence = ""
                if not in_list:  # a code block is a block of its own, unless part of a list item
                    blocks.append(current)
                    current = []
            continue
        if fence_match:
            fence = fence_match.group(1)
            if current and not (in_list and line.startswith((" ", "\t"))):
                blocks.append(current)
                current = []
            current.append(line)
            continue
        if not line.strip():
            # A blank line inside a list (loose list) does not end it.
            nxt = next((x for x in lines[i + 1 :] if x.strip()), "")
            if in_list and (_LIST_ITEM.match(nxt) or nxt.startswith(("  ", "\t"))):
                current.append("")
                continue
            if current:
                blocks.append(current)
            current = []
            continue
        starts_list = bool(_LIST_ITEM.match(line)) and not line.startswith((" ", "\t"))
        if current and starts_list and not _LIST_ITEM.match(current[0]):
            blocks.append(current)  # a list right under its lead-in line starts a new block
            current = []
        current.append(line)
    if current:
        blocks.append(current)
    return ["\n".join(b).strip("\n") for b in blocks if any(x.strip() for x in b)]


def _fit(text: str, limit: int) -> list[str]:
    """Pack blocks into pieces of at most `limit` chars; split a block only when it is too big."""
    blocks = _blocks(text)
    # Keep a lead-in line ("To reset it:") with the list it introduces.
    glued: list[str] = []
    for block in blocks:
        if glued and glued[-1].endswith(":") and _LIST_ITEM.match(block):
            joined = f"{glued[-1]}\n{block}"
            if len(joined) <= limit:
                glued[-1] = joined
                continue
        glued.append(block)
    parts: list[str] = []
    for block in glued:
        parts.extend(_split_block(block, limit) if len(block) > limit else [block])
    return _pack(parts, limit, "\n\n")


def _split_block(block: str, limit: int) -> list[str]:
    fence = _FENCE.match(block)
    if fence:  # re-fence each piece so every chunk is valid Markdown
        mark = fence.group(1)
        body = block.split("\n")[1:]
        if body and body[-1].strip().startswith(mark):
            body = body[:-1]
        room = limit - 2 * len(mark) - 2
        lines = [p for line in body for p in (_hard_wrap(line, room) if len(line) > room else [line])]
        return [f"{mark}\n{part}\n{mark}" for part in _pack(lines, room, "\n")]
    if _LIST_ITEM.match(block):
        items: list[str] = []
        for line in block.split("\n"):
            top_level = _LIST_ITEM.match(line) and not line.startswith((" ", "\t"))
            if top_level or not items:
                items.append(line)
            else:
                items[-1] += "\n" + line
        parts = [p for item in items for p in (_sentences(item, limit) if len(item) > limit else [item])]
        return _pack(parts, limit, "\n")
    return _sentences(block, limit)


def _sentences(text: str, limit: int) -> list[str]:
    parts = [p for s in _SENTENCE_END.split(text) for p in (_hard_wrap(s, limit) if len(s) > limit else [s])]
    return _pack(parts, limit, " ")


def _hard_wrap(text: str, limit: int) -> list[str]:
    """Last resort for a sentence longer than a chunk: cut at spaces (or anywhere)."""
    out: list[str] = []
    while len(text) > limit:
        cut = text.rfind(" ", 0, limit)
        cut = cut if cut > limit // 2 else limit
        out.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return [*out, text] if text else out


def _pack(parts: list[str], limit: int, sep: str) -> list[str]:
    """Greedy packing; every part is already at most `limit` chars."""
    out: list[str] = []
    for part in parts:
        if out and len(out[-1]) + len(sep) + len(part) <= limit:
            out[-1] += sep + part
        else:
            out.append(part)
    return out
