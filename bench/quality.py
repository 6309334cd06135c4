"""Retrieval, escalation and draft quality on the shared help-center samples (not part of the tests).

    .venv/bin/python bench/quality.py                 # every KB under ../shared/kb-samples/
    .venv/bin/python bench/quality.py path/to/kb-samples

Each sample folder holds `articles/` and `dev-tickets.jsonl`. This reads ../shared/, which a user's
clone does not have; `kb eval --kb DIR --tickets FILE` does the same for any KB.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

from bot.evaluation import evaluate, render_report

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "kb-samples"


async def main(root: Path) -> int:
    samples = sorted(p for p in root.iterdir() if (p / "articles").is_dir() and (p / "dev-tickets.jsonl").is_file())
    if not samples:
        print(f"no samples under {root} (expected <name>/articles and <name>/dev-tickets.jsonl)", file=sys.stderr)
        return 1
    for sample in samples:
        report = await evaluate(sample / "articles", sample / "dev-tickets.jsonl")
        print(render_report(report))
        print(json.dumps({mode: {k: v for k, v in f.items() if k != "misses"} for mode, f in report["modes"].items()}))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)))
