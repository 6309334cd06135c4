"""`kb`: the command line door.

kb ingest examples/kb --data-dir ./kb-data
kb ask --data-dir ./kb-data "I was charged twice this month"
kb ask --json --file tickets.jsonl
kb eval --kb examples/kb --tickets examples/kb/tickets.jsonl
kb serve
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot import messages
from bot.render import ProgressBar, render_answer
from rag.errors import KBError
from rag.models import Ticket
from rag.settings import Settings


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


async def _ingest(args: argparse.Namespace) -> int:
    from ingest.pipeline import ingest
    from rag.factory import build_kb

    settings = _settings(args)
    kb = build_kb(settings)
    try:
        bar = ProgressBar("embedding", enabled=not args.quiet)
        summary = await ingest(kb, [Path(p) for p in args.paths], dry_run=args.dry_run, progress=bar.update)
        bar.done()
    finally:
        await kb.close()
    for error in summary.errors:
        print(messages.INGEST_FILE_ERROR.format(error=error), file=sys.stderr)
    for warning in summary.warnings:
        print(messages.INGEST_WARNING.format(warning=warning), file=sys.stderr)
    print(summary.line())
    if summary.articles == 0 and summary.errors:
        return 1
    return 0


def _read_tickets(path: Path) -> list[Ticket]:
    tickets: list[Ticket] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                if isinstance(raw, str):
                    raw = {"ticket": raw}
                fields = {k: raw[k] for k in ("ticket", "subject", "customer", "metadata") if k in raw}
                tickets.append(Ticket(**fields))
            except (json.JSONDecodeError, ValidationError, TypeError) as exc:
                raise KBError(messages.BAD_TICKET_LINE.format(path=path, line=number, error=_short(exc))) from exc
    return tickets


def _short(exc: Exception) -> str:
    return _describe(exc).splitlines()[0]


def _describe(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
    return str(exc)


async def _ask(args: argparse.Namespace) -> int:
    from rag.factory import build_engine

    if bool(args.text) == bool(args.file):
        print(messages.ASK_NEEDS_TEXT_OR_FILE, file=sys.stderr)
        return 2
    tickets = _read_tickets(Path(args.file)) if args.file else [Ticket(ticket=" ".join(args.text))]
    settings = _settings(args)
    engine = build_engine(settings)
    try:
        if engine.kb.counts()[1] == 0:
            print(messages.EMPTY_KB.format(data_dir=settings.kb_data_dir), file=sys.stderr)
            return 1
        # Answers run concurrently (the embedder batches them) but print in input order.
        answers = await asyncio.gather(*(engine.answer(t) for t in tickets))
    finally:
        await engine.close()
    for answer in answers:
        if args.json:
            print(answer.model_dump_json())
        else:
            print(render_answer(answer))
    return 0


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

    await run_bench(
        kb=Path(args.kb),
        tickets=Path(args.tickets) if args.tickets else None,
        sizes=[int(s) for s in args.sizes.split(",") if s],
    )
    return 0


async def _feedback(args: argparse.Namespace) -> int:
    from bot.slack.feedback import feedback_report

    print(feedback_report(_settings(args), days=args.days), end="")
    return 0


async def _serve(args: argparse.Namespace) -> int:
    from bot.server import serve

    await serve(_settings(args))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kb", description=messages.CLI_DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="ingest articles (Markdown, HTML, text, Zendesk JSON)")
    p.add_argument("paths", nargs="+", help="folders or files of articles")
    p.add_argument("--data-dir", help="where the store lives (KB_DATA_DIR, default ./kb-data)")
    p.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_ingest)

    p = sub.add_parser("ask", help="answer a ticket")
    p.add_argument("text", nargs="*", help="the ticket text")
    p.add_argument("--file", help='a JSONL file of tickets ({"ticket": ...} a line)')
    p.add_argument("--json", action="store_true", help="print the answer JSON (one a line)")
    p.add_argument("--data-dir", help="where the store lives (KB_DATA_DIR)")
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
    p.set_defaults(run=_bench)

    p = sub.add_parser("feedback", help="report the Slack answers, escalations and 👍/👎 feedback")
    p.add_argument("--days", type=int, default=7, help="how many days back (default 7)")
    p.add_argument("--data-dir", help="where the feedback store lives (KB_DATA_DIR)")
    p.set_defaults(run=_feedback)

    p = sub.add_parser("serve", help="run the HTTP API (and the Slack bot when configured)")
    p.add_argument("--data-dir", help="where the store lives (KB_DATA_DIR)")
    p.set_defaults(run=_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command != "serve":  # the server configures its own (JSON) logging
            _setup_logging(args.verbose)
        return int(asyncio.run(args.run(args)))
    except KeyboardInterrupt:
        return 130
    except (KBError, ValidationError, OSError) as exc:
        print(messages.CLI_ERROR.format(error=_describe(exc)), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
