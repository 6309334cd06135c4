"""KB management for the CLI: the data dir, what was ingested, and the sample KB kept apart.

    problem = data_dir_problem(settings, read_only=True)    # a message to print, or None
    print(render_sources(catalog.sources(), settings))       # `kb sources`
    match = find_source(catalog.sources(), "examples/kb")     # the source a user named, or None
    refusal, note = await keep_sample_apart(kb, settings, ["my-kb"], replace=False, ...)

A source is a root given to `kb ingest` (a folder or a file), resolved, as recorded in the
catalog's `articles.source`. The sample KB (`KB_SAMPLE_KB`, default examples/kb) is what
`kb serve` ingests into an empty data dir; it is never mixed silently into a user's KB.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot import messages
from rag.settings import Settings

if TYPE_CHECKING:  # `kb --version` and argument errors should not import the engine
    from rag.catalog import SourceStats
    from rag.knowledge import KnowledgeBase

DEFAULT_SAMPLE_KB = Path(__file__).resolve().parent.parent / "examples" / "kb"


def sample_kb(settings: Settings) -> Path:
    """The folder `kb serve` seeds an empty data dir with."""
    return settings.kb_sample_kb or DEFAULT_SAMPLE_KB


def sample_source(settings: Settings) -> str:
    """The sample KB as a catalog source (resolved, like every `articles.source`)."""
    return str(sample_kb(settings).resolve())


def has_catalog(settings: Settings) -> bool:
    """The data dir holds a KB catalog, or a snapshot published into it (adopted when opened)."""
    from rag.catalog import NEXT_SUFFIX

    db = settings.db_path
    return db.exists() or db.with_name(db.name + NEXT_SUFFIX).exists()


def data_dir_problem(settings: Settings, *, read_only: bool) -> str | None:
    """Why the data dir cannot be used, or None. Read-only commands never create it."""
    path = settings.kb_data_dir
    if path.exists() and not path.is_dir():
        return messages.DATA_DIR_IS_FILE.format(path=path)
    if read_only and not path.exists():
        return messages.DATA_DIR_MISSING.format(path=path)
    return None


def find_source(sources: Sequence[SourceStats], given: str) -> SourceStats | None:
    """The source a user named: as recorded, or the same path relative to the working folder."""
    wanted = {given, str(Path(given).expanduser().resolve())}
    return next((s for s in sources if s.source in wanted), None)


def unknown_source(given: str, sources: Sequence[SourceStats], settings: Settings) -> str:
    """One line for `kb remove` of a source the catalog does not have, listing those it has."""
    known = ", ".join(s.source for s in sources) or messages.REMOVE_NONE_KNOWN
    return messages.REMOVE_UNKNOWN.format(source=given, data_dir=settings.kb_data_dir, known=known)


def sources_json(sources: Sequence[SourceStats], settings: Settings) -> dict[str, Any]:
    sample = sample_source(settings)
    return {
        "data_dir": str(settings.kb_data_dir),
        "sources": [
            {
                "source": s.source,
                "articles": s.articles,
                "chunks": s.chunks,
                "last_ingest": s.last_ingest,
                "sample": s.source == sample,
            }
            for s in sources
        ],
        "total": {
            "sources": len(sources),
            "articles": sum(s.articles for s in sources),
            "chunks": sum(s.chunks for s in sources),
        },
    }


def render_sources(sources: Sequence[SourceStats], settings: Settings) -> str:
    """The `kb sources` table: one row a source, then the totals."""
    if not sources:
        return messages.SOURCES_EMPTY.format(data_dir=settings.kb_data_dir)
    sample = sample_source(settings)
    rows = [
        (
            messages.SOURCES_SAMPLE_TAG.format(source=s.source) if s.source == sample else s.source,
            str(s.articles),
            str(s.chunks),
            _when(s.last_ingest),
        )
        for s in sources
    ]
    total = (
        messages.SOURCES_TOTAL.format(count=len(sources)),
        str(sum(s.articles for s in sources)),
        str(sum(s.chunks for s in sources)),
        "",
    )
    table = [messages.SOURCES_COLUMNS, *rows, total]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    return "\n".join(
        f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}".rstrip() for row in table
    )


def _when(stamp: str | None) -> str:
    if stamp is None:
        return messages.SOURCES_TIME_UNKNOWN
    try:
        return datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return stamp


async def keep_sample_apart(
    kb: KnowledgeBase,
    settings: Settings,
    paths: Sequence[str],
    *,
    replace: bool,
    keep: bool,
    dry_run: bool,
    command: str,
) -> tuple[str | None, str | None]:
    """Before ingesting `paths`: (a refusal to print and stop on, a note to print and go on).

    With the sample KB in the data dir and another source coming: `replace` removes the sample
    first (not on a dry run, and only if every path exists); without `replace` or `keep`, a data
    dir whose only source is the sample refuses, saying how to replace it."""
    sample = sample_source(settings)
    if sample in {str(Path(p).resolve()) for p in paths}:
        return None, None  # ingesting the sample itself (again)
    sources = kb.catalog.sources()
    present = next((s for s in sources if s.source == sample), None)
    if present is None:
        return None, None
    if replace:
        missing = next((p for p in paths if not Path(p).exists()), None)
        if missing is not None:
            return messages.SAMPLE_KEPT_MISSING_PATH.format(path=missing), None
        if dry_run:
            return None, messages.SAMPLE_WOULD_REPLACE.format(
                sample=sample, articles=present.articles, chunks=present.chunks
            )
        articles, chunks = await kb.remove_source(sample)
        return None, messages.SAMPLE_REPLACED.format(sample=sample, articles=articles, chunks=chunks)
    if len(sources) == 1 and not keep:
        return messages.SAMPLE_IN_THE_WAY.format(data_dir=settings.kb_data_dir, sample=sample, command=command), None
    return None, None
