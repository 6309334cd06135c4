"""Fit the shipped confidence model on every dev KB and print it (reads ../shared/, not part of the tests).

    .venv/bin/python -m bench.fit_confidence            # prints SHIPPED and SHIPPED_WORDS for rag/confidence.py

Dev KBs: ../shared/kb-samples/npm-docs (its dev-tickets.jsonl), ../shared/kb-samples/github-docs
(tickets in bench/dev-tickets/github-docs.jsonl) and examples/kb. It also prints the
leave-one-KB-out table (`kb eval` with all three), the only figures to quote for these KBs.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from bot.evaluation import _eval_settings, _report, _run_kb, fit_on, load_labelled, render_report
from rag import confidence
from rag.embedders.local import LocalEmbedder

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "kb-samples"
DEV = [
    (SAMPLES / "npm-docs" / "articles", SAMPLES / "npm-docs" / "dev-tickets.jsonl"),
    (SAMPLES / "github-docs" / "articles", ROOT / "bench" / "dev-tickets" / "github-docs.jsonl"),
    (ROOT / "examples" / "kb", ROOT / "examples" / "kb" / "tickets.jsonl"),
]


def missing_dev_files() -> list[str]:
    return [str(p) for pair in DEV for p in pair if not p.exists()]


async def main() -> int:
    missing = missing_dev_files()
    if missing:
        print("missing: " + ", ".join(missing), file=sys.stderr)
        return 1
    embedder = LocalEmbedder()
    runs = []
    for kb, tickets in DEV:
        with tempfile.TemporaryDirectory(prefix="kb-fit-") as tmp:
            runs.append(
                await _run_kb(kb, load_labelled(tickets), ["hybrid", "dense"], _eval_settings(Path(tmp)), embedder)
            )
    print(f"SHIPPED = {fit_on(runs, 'hybrid', confidence.TOKEN_SIGNALS)!r}")
    print(f"SHIPPED_WORDS = {fit_on(runs, 'hybrid', confidence.WORD_SIGNALS)!r}")
    print()
    print(render_report(_report(runs, ["hybrid", "dense"], embedder)))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
