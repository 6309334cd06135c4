"""`kb bench` end to end on a tiny KB: one table with every figure, a real `kb serve` behind it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bot.bench import request_texts, run_bench
from tests.conftest import SAMPLE_KB


def test_request_texts_are_distinct_tickets_with_numbers_of_their_own() -> None:
    texts = request_texts(["a", "b"], 5, start=3)
    assert len(set(texts)) == 5 and texts[0].startswith("b\n\nTicket #") and texts[1].startswith("a\n\n")


async def test_bench_prints_one_table_of_every_figure(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    for name in ("reset-your-password.md", "export-timesheets.md"):
        shutil.copy(SAMPLE_KB / name, kb / name)
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text("\n".join(json.dumps({"ticket": t}) for t in ["I forgot my password", "Export to CSV?"]))
    out = tmp_path / "figures.json"

    figures = await run_bench(kb, tickets, [300], requests=12, concurrency=4, json_path=out)

    table = capsys.readouterr().out
    for row in (
        "bare embedding, one batch",
        "HTTP generate-response, c=1",
        "HTTP generate-response, c=4",
        "server RSS, serving / peak",
        "ingest",
        "re-ingest, nothing changed",
        "answer, 300 synthetic chunks",
    ):
        assert row in table
    assert json.loads(out.read_text()) == pytest.approx(figures)
    assert figures["http_cN_per_s"] > 0 and figures["bare_batch_per_s"] > 0 and figures["ingest_chunks_per_s"] > 0
    assert 0 < figures["serve_rss_mb"] <= figures["serve_peak_rss_mb"]
    assert figures["synthetic_300_ms_p50"] > 0
