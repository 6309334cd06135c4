"""Retrieval, escalation and draft quality on every dev KB, leave-one-KB-out (not part of the tests).

    .venv/bin/python -m bench.quality            # the table quoted in the README
    .venv/bin/python -m bench.quality --json

Reads ../shared/kb-samples/ (npm-docs, github-docs), which a user's clone does not have, plus
examples/kb; `kb eval --kb A --tickets A.jsonl --kb B --tickets B.jsonl` does the same for any KBs.
"""

from __future__ import annotations

import asyncio
import json
import sys

from bench.fit_confidence import DEV, missing_dev_files
from bot.evaluation import evaluate, render_report


async def main(as_json: bool) -> int:
    missing = missing_dev_files()
    if missing:
        print("missing: " + ", ".join(missing), file=sys.stderr)
        return 1
    report = await evaluate(DEV)
    print(json.dumps(report, indent=2) if as_json else render_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main("--json" in sys.argv[1:])))
