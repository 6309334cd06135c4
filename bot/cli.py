"""`kb`: the command line door.

kb ingest examples/kb --data-dir ./kb-data
kb ingest my-kb --data-dir ./kb-data --replace-sample     # swap the sample KB for yours
kb sources --data-dir ./kb-data                           # what was ingested, and when
kb remove my-kb --data-dir ./kb-data                      # every article of one source
kb snapshot --into /srv/replica-2/kb-data                 # publish the KB to a replica (no restart)
kb ask --data-dir ./kb-data "I was charged twice this month"
kb ask --json --file tickets.jsonl                        # or --file - (stdin)
kb eval --kb examples/kb --tickets examples/kb/tickets.jsonl
kb feedback --days 30                                     # answers of every door, escalations, 👍/👎
kb gaps --html gaps.html                                  # what the KB is missing, by topic
kb serve
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shlex
import sys
from collections.abc import Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from bot import manage, messages
from bot.gaps.cluster import DEFAULT_MIN_SIMILARITY
from bot.render import ProgressBar, render_answer
from rag.errors import KBError
from rag.models import Answer, Ticket
from rag.settings import Settings

if TYPE_CHECKING:
    from rag.catalog import SourceStats


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if getattr(args, "data_dir", None):
        overrides["kb_data_dir"] = Path(args.data_dir)
    return Settings(**overrides)


def _setup_logging(verbose: bool) -> None:
    # The CLI prints results on stdout; logs go to stderr and stay quiet unless asked.
    logging.basicConfig(
        level="DEBUG" if verbose else "WARNING",
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


class _Refused(Exception):
    """A command refuses its input: the message is printed as it is, exit 1."""


def _data_dir_settings(args: argparse.Namespace, *, read_only: bool) -> Settings:
    """Settings whose data dir is usable; read-only commands never create it (raises _Refused)."""
    settings = _settings(args)
    problem = manage.data_dir_problem(settings, read_only=read_only)
    if problem:
        raise _Refused(problem)
    return settings


def _fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


async def _ingest(args: argparse.Namespace) -> int:
    from ingest.pipeline import ingest
    from rag.factory import build_kb

    settings = _data_dir_settings(args, read_only=False)
    command = " ".join(["kb ingest", *map(shlex.quote, args.paths)])
    if args.data_dir:
        command += f" --data-dir {shlex.quote(args.data_dir)}"
    kb = build_kb(settings)
    try:
        refusal, note = await manage.keep_sample_apart(
            kb,
            settings,
            args.paths,
            replace=args.replace_sample,
            keep=args.keep_sample,
            dry_run=args.dry_run,
            command=command,
        )
        if refusal:
            return _fail(refusal)
        if note:
            print(note)
        bar = ProgressBar("embedding", enabled=not args.quiet)
        summary = await ingest(kb, [Path(p) for p in args.paths], dry_run=args.dry_run, progress=bar.update)
        bar.done()
    finally:
        await kb.close()
    for error in summary.errors:
        print(messages.INGEST_FILE_ERROR.format(error=error), file=sys.stderr)
    for skipped in summary.skipped:
        print(messages.INGEST_SKIPPED.format(error=skipped), file=sys.stderr)
    for warning in summary.warnings:
        print(messages.INGEST_WARNING.format(warning=warning), file=sys.stderr)
    print(summary.line())
    if summary.failed:
        return _fail(messages.INGEST_INCOMPLETE.format(count=len(summary.errors) + len(summary.skipped)))
    return 0


def _read_tickets(name: str) -> list[Ticket]:
    """Tickets from a JSONL file, or from stdin when `name` is "-"."""
    if name == "-":
        return _parse_tickets(sys.stdin, messages.STDIN_NAME)
    with Path(name).open(encoding="utf-8") as handle:
        return _parse_tickets(handle, name)


def _parse_tickets(lines: Iterable[str], name: str) -> list[Ticket]:
    tickets: list[Ticket] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            if isinstance(raw, str):
                raw = {"ticket": raw}
            fields = {k: raw[k] for k in ("ticket", "subject", "customer", "metadata", "history") if k in raw}
            tickets.append(Ticket(**fields))
        except (json.JSONDecodeError, ValidationError, TypeError) as exc:
            raise KBError(messages.BAD_TICKET_LINE.format(path=name, line=number, error=_short(exc))) from exc
    if not tickets:
        raise KBError(messages.NO_TICKETS.format(path=name))
    return tickets


def _short(exc: Exception) -> str:
    return _first_line(_describe(exc))


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
    return str(exc)


async def _ask(args: argparse.Namespace) -> int:
    from rag.factory import build_engine

    if bool(args.text) == bool(args.file):
        return _fail(messages.ASK_NEEDS_TEXT_OR_FILE, 2)
    settings = _data_dir_settings(args, read_only=True)
    if not manage.has_catalog(settings):
        return _fail(messages.EMPTY_KB.format(data_dir=settings.kb_data_dir))
    tickets = _read_tickets(args.file) if args.file else [Ticket(ticket=" ".join(args.text))]
    engine = build_engine(settings)
    try:
        if engine.kb.counts()[1] == 0:
            print(messages.EMPTY_KB.format(data_dir=settings.kb_data_dir), file=sys.stderr)
            return 1
        # Answers run concurrently (the embedder batches them) but print in input order.
        answers = await asyncio.gather(*(engine.answer(t) for t in tickets))
    finally:
        await engine.close()
    if not args.no_record:
        _record_answers(settings, tickets, answers)
    for answer in answers:
        if args.json:
            print(answer.model_dump_json())
        else:
            print(render_answer(answer))
    return 0


def _record_answers(settings: Settings, tickets: Sequence[Ticket], answers: Sequence[Answer]) -> None:
    """Keep `kb ask`'s answers with the other doors' (redacted), for `kb feedback` and `kb gaps`."""
    from bot.records import CLI_DOOR, AnswerRecord, open_records

    store = open_records(settings)
    try:
        for ticket, answer in zip(tickets, answers, strict=True):
            text = f"{ticket.subject}\n\n{ticket.ticket}" if ticket.subject else ticket.ticket
            store.record_answer(AnswerRecord(answer=answer, ticket=text, user=CLI_DOOR, door=CLI_DOOR))
    finally:
        store.close()


async def _eval(args: argparse.Namespace) -> int:
    from bot.evaluation import evaluate, parse_modes, render_report

    if len(args.kb) != len(args.tickets):
        print(messages.EVAL_PAIRS, file=sys.stderr)
        return 2
    modes = parse_modes(args.modes)
    report = await evaluate([(Path(k), Path(t)) for k, t in zip(args.kb, args.tickets, strict=True)], modes)
    print(json.dumps(report, indent=2) if args.json else render_report(report))
    return 0


async def _bench(args: argparse.Namespace) -> int:
    from bot.bench import run_bench

    sizes = _sizes(args.sizes)
    if sizes is None:
        return _fail(messages.BENCH_BAD_SIZES.format(value=args.sizes), 2)
    await run_bench(
        kb=Path(args.kb),
        tickets=Path(args.tickets) if args.tickets else None,
        sizes=sizes,
        requests=args.requests,
        concurrency=args.concurrency,
        json_path=Path(args.json) if args.json else None,
    )
    return 0


def _sizes(text: str) -> list[int] | None:
    """Chunk counts from "10000,100000"; None unless every part is a whole number above 0."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts or not all(p.isdecimal() and int(p) > 0 for p in parts):
        return None
    return [int(p) for p in parts]


async def _sources(args: argparse.Namespace) -> int:
    from rag.catalog import Catalog  # no embedder, no vector store: listing needs only the catalog

    settings = _data_dir_settings(args, read_only=True)
    sources: list[SourceStats] = []
    if manage.has_catalog(settings):  # an existing but empty data dir gets no catalog file either
        catalog = Catalog.open(settings.db_path)
        try:
            sources = catalog.sources()
        finally:
            catalog.close()
    if args.json:
        print(json.dumps(manage.sources_json(sources, settings), indent=2))
    else:
        print(manage.render_sources(sources, settings))
    return 0


async def _snapshot(args: argparse.Namespace) -> int:
    from rag.catalog import NEXT_SUFFIX, Catalog

    settings = _data_dir_settings(args, read_only=True)
    if not manage.has_catalog(settings):
        return _fail(messages.EMPTY_KB.format(data_dir=settings.kb_data_dir))
    if bool(args.into) == bool(args.file):
        return _fail(messages.SNAPSHOT_NEEDS_TARGET, 2)
    dest = Path(args.file) if args.file else Path(args.into) / (settings.db_path.name + NEXT_SUFFIX)
    if dest.resolve() == settings.db_path.resolve():
        return _fail(messages.SNAPSHOT_OVER_ITSELF)
    catalog = Catalog.open(settings.db_path)
    try:
        catalog.snapshot(dest)
        articles, chunks = catalog.counts()
    finally:
        catalog.close()
    print(messages.SNAPSHOT_WRITTEN.format(path=dest, articles=articles, chunks=chunks))
    return 0


async def _remove(args: argparse.Namespace) -> int:
    from rag.factory import build_kb

    settings = _data_dir_settings(args, read_only=True)
    if not manage.has_catalog(settings):
        return _fail(manage.unknown_source(args.source, [], settings))
    kb = build_kb(settings)
    try:
        sources = kb.catalog.sources()
        match = manage.find_source(sources, args.source)
        if match is None:
            return _fail(manage.unknown_source(args.source, sources, settings))
        articles, chunks = await kb.remove_source(match.source)
    finally:
        await kb.close()
    print(messages.REMOVED.format(source=match.source, articles=articles, chunks=chunks))
    return 0


def _records_settings(args: argparse.Namespace) -> Settings:
    """Settings of a command that reads the records: their data dir must exist, unless the records
    are in PostgreSQL (KB_DATABASE_URL), which any host can report on."""
    from bot.records.store import database_url

    settings = _settings(args)
    return settings if database_url(settings) else _data_dir_settings(args, read_only=True)


async def _feedback(args: argparse.Namespace) -> int:
    from bot.records import feedback_report

    settings = _records_settings(args)
    print(feedback_report(settings, days=args.days), end="")
    return 0


async def _gaps(args: argparse.Namespace) -> int:
    from bot.gaps import build_gap_report, render_html, render_text
    from bot.records import open_records, records_exist, records_location
    from rag.factory import build_embedder, build_kb

    if not 1 <= args.days <= 365:
        return _fail(messages.GAPS_BAD_DAYS.format(value=args.days), 2)
    if not 0.0 <= args.min_similarity <= 1.0:
        return _fail(messages.GAPS_BAD_SIMILARITY.format(value=args.min_similarity), 2)
    settings = _records_settings(args)
    if not records_exist(settings):
        return _fail(messages.FEEDBACK_REPORT_EMPTY.format(path=records_location(settings)))
    kb = build_kb(settings) if manage.has_catalog(settings) else None
    embedder = kb.embedder if kb is not None else build_embedder(settings)
    store = open_records(settings)
    try:
        report = await build_gap_report(store, embedder, kb=kb, days=args.days, min_similarity=args.min_similarity)
    finally:
        store.close()
        await (kb.close() if kb is not None else embedder.close())
    if args.html:
        path = Path(args.html)
        path.write_text(render_html(report), encoding="utf-8")
        print(messages.GAPS_WROTE_HTML.format(path=path, topics=len(report.topics), total=report.total))
    elif args.json:
        print(report.model_dump_json(indent=2))
    else:
        print(render_text(report))
    return 0


async def _serve(args: argparse.Namespace) -> int:
    from bot.server import serve

    settings = _data_dir_settings(args, read_only=False)
    await serve(settings)
    return 0


def _version() -> str:
    try:
        return version("kb-rag")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kb", description=messages.CLI_DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    parser.add_argument("--version", action="version", version=messages.VERSION.format(version=_version()))
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser(
        "ingest", help="ingest articles (Markdown, HTML, text, Zendesk JSON)", description=messages.INGEST_DESCRIPTION
    )
    p.add_argument("paths", nargs="+", help="folders or files of articles")
    p.add_argument("--data-dir", help="where the store lives (KB_DATA_DIR, default ./kb-data)")
    p.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    sample = p.add_mutually_exclusive_group()
    sample.add_argument(
        "--replace-sample", action="store_true", help="remove the sample KB (examples/kb, KB_SAMPLE_KB) first"
    )
    sample.add_argument("--keep-sample", action="store_true", help="ingest next to the sample KB on purpose")
    p.set_defaults(run=_ingest)

    p = sub.add_parser("sources", help="list what was ingested: sources, articles, chunks, last ingest")
    p.add_argument("--data-dir", help="where the store lives (KB_DATA_DIR)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_sources)

    p = sub.add_parser("remove", help="remove every article of one source (as `kb sources` lists it)")
    p.add_argument("source", help="the folder or file that was ingested")
    p.add_argument("--data-dir", help="where the store lives (KB_DATA_DIR)")
    p.set_defaults(run=_remove)

    p = sub.add_parser(
        "snapshot",
        help="copy the KB catalog for replicas with their own data dir (adopted without a restart)",
        description=messages.SNAPSHOT_DESCRIPTION,
    )
    target = p.add_mutually_exclusive_group()
    target.add_argument("--into", metavar="DATA_DIR", help="publish into a replica's data dir (kb.sqlite3.next)")
    target.add_argument("--file", metavar="FILE", help="write the copy to FILE (then move it in as kb.sqlite3.next)")
    p.add_argument("--data-dir", help="the data dir to copy (KB_DATA_DIR)")
    p.set_defaults(run=_snapshot)

    p = sub.add_parser("ask", help="answer a ticket")
    p.add_argument("text", nargs="*", help="the ticket text")
    p.add_argument("--file", help='a JSONL file of tickets ({"ticket": ...} a line); - reads stdin')
    p.add_argument("--json", action="store_true", help="print the answer JSON (one a line)")
    p.add_argument("--data-dir", help="where the store lives (KB_DATA_DIR)")
    p.add_argument("--no-record", action="store_true", help="do not keep the answers for `kb feedback` and `kb gaps`")
    p.set_defaults(run=_ask)

    p = sub.add_parser(
        "eval",
        help="measure retrieval, escalation and draft quality on labelled tickets",
        description=messages.EVAL_DESCRIPTION,
    )
    p.add_argument("--kb", required=True, action="append", help="folder of articles (repeat for several KBs)")
    p.add_argument("--tickets", required=True, action="append", help="JSONL of labelled tickets, one per --kb")
    p.add_argument("--modes", default="hybrid,dense,keyword", help="retrieval modes to compare (hybrid,dense,keyword)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=_eval)

    p = sub.add_parser("bench", help="speed and memory figures on the embedded default")
    p.add_argument("--kb", default=str(Path(__file__).resolve().parent.parent / "examples" / "kb"))
    p.add_argument("--tickets", help="JSONL of tickets to time (default: the KB folder's tickets.jsonl)")
    p.add_argument("--sizes", default="10000,100000", help="synthetic chunk counts for the scale test")
    p.add_argument("--requests", type=int, default=256, help="HTTP requests at --concurrency (default 256)")
    p.add_argument("--concurrency", type=int, default=32, help="concurrent HTTP requests (default 32)")
    p.add_argument("--json", help="also write the figures to this file")
    p.set_defaults(run=_bench)

    p = sub.add_parser("feedback", help="report the answers of every door, escalations and 👍/👎 feedback")
    p.add_argument("--days", type=int, default=7, help="how many days back (default 7)")
    p.add_argument("--data-dir", help="where the records live (KB_DATA_DIR)")
    p.set_defaults(run=_feedback)

    p = sub.add_parser(
        "gaps",
        help="what the KB is missing: escalated, low-confidence and 👎 answers grouped by topic",
        description=messages.GAPS_DESCRIPTION,
    )
    p.add_argument("--days", type=int, default=7, help="how many days back (default 7)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the report as one JSON object")
    out.add_argument("--html", metavar="FILE", help="write a self-contained HTML report (chart included) to FILE")
    p.add_argument(
        "--min-similarity",
        type=float,
        default=DEFAULT_MIN_SIMILARITY,
        help=f"how alike tickets must be on average to share a topic (cosine, default {DEFAULT_MIN_SIMILARITY})",
    )
    p.add_argument("--data-dir", help="where the records and the KB live (KB_DATA_DIR)")
    p.set_defaults(run=_gaps)

    p = sub.add_parser("serve", help="run the HTTP API (and the Slack bot when configured)")
    p.add_argument("--data-dir", help="where the store lives (KB_DATA_DIR)")
    p.set_defaults(run=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors: argparse has printed them
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    try:
        if args.command != "serve":  # the server configures its own (JSON) logging
            _setup_logging(args.verbose)
        return int(asyncio.run(args.run(args)))
    except KeyboardInterrupt:
        return 130
    except _Refused as exc:
        return _fail(str(exc))
    except (KBError, ValidationError, OSError) as exc:
        print(messages.CLI_ERROR.format(error=_first_line(_describe(exc)) or type(exc).__name__), file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: one line, the traceback only with -v
        logging.getLogger(__name__).debug("unexpected error", exc_info=True)
        print(messages.CLI_UNEXPECTED.format(kind=type(exc).__name__, error=_first_line(str(exc))), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
