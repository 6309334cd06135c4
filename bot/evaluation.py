"""`kb eval`: retrieval, escalation and draft quality on labelled tickets, per retrieval mode.

    report = await evaluate(Path("examples/kb"), Path("examples/kb/tickets.jsonl"))
    print(render_report(report))

The KB is ingested into a temporary store with the embedded default; every mode (hybrid,
dense-only, BM25-only) answers every ticket from that same store, so the figures compare.
Ticket lines: {"id", "ticket", "relevant": [article ids], "answer_must_mention": [...],
"expect": "answer" | "escalate"}.
"""

from __future__ import annotations

import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

from ingest.pipeline import ingest
from rag.embedders.local import LocalEmbedder
from rag.factory import build_engine
from rag.models import Ticket
from rag.retrieve import Mode
from rag.settings import Settings
from rag.text import covers


def load_labelled(path: Path) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        row.setdefault("relevant", [])
        row.setdefault("answer_must_mention", [])
        row.setdefault("expect", "answer")
    return rows


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def evaluate(kb: Path, tickets_path: Path, modes: list[str] | None = None) -> dict[str, Any]:
    tickets = load_labelled(tickets_path)
    embedder = LocalEmbedder()
    report: dict[str, Any] = {"kb": str(kb), "tickets": len(tickets), "embedder": embedder.model_id, "modes": {}}
    with tempfile.TemporaryDirectory(prefix="kb-eval-") as tmp:
        settings = Settings(kb_data_dir=Path(tmp), _env_file=None)  # type: ignore[call-arg]
        engine = build_engine(settings, embedder=embedder)
        try:
            summary = await ingest(engine, [kb])
            report["ingest"] = summary.line()
            report["backends"] = engine.backends.model_dump()
            # The OpenAI drafter's prompt version goes into results so runs stay comparable.
            report["prompt_version"] = getattr(engine.drafter, "prompt_version", None)
        finally:
            await engine.close()
        for mode in modes or ["hybrid", "dense", "lexical"]:
            engine = build_engine(settings, embedder=embedder, mode=mode)  # type: ignore[arg-type]
            try:
                report["modes"][mode] = await _run_mode(engine, tickets, mode)  # type: ignore[arg-type]
            finally:
                await engine.close()
    return report


async def _run_mode(engine: Any, tickets: list[dict[str, Any]], mode: Mode) -> dict[str, Any]:
    recall1: list[float] = []
    recall5: list[float] = []
    reciprocal: list[float] = []
    facts_found = facts_total = 0
    latencies: list[float] = []
    tp = fp = fn = answerable_escalated = answerable = 0
    misses: list[dict[str, Any]] = []
    for row in tickets:
        answer = await engine.answer(Ticket(ticket=row["ticket"]))
        latencies.append(answer.timings_ms["total"])
        ranked = list(dict.fromkeys(s.article_id for s in answer.sources))
        relevant = set(row["relevant"])
        escalated = answer.decision == "escalate"
        if row["expect"] == "escalate":
            tp += escalated
            fn += not escalated
        else:
            answerable += 1
            fp += escalated
            answerable_escalated += escalated
        if relevant:
            recall1.append(len(relevant & set(ranked[:1])) / min(len(relevant), 1))
            recall5.append(len(relevant & set(ranked[:5])) / len(relevant))
            first = next((i for i, a in enumerate(ranked, 1) if a in relevant), None)
            reciprocal.append(1.0 / first if first else 0.0)
            if first != 1:
                misses.append({"id": row.get("id"), "top": ranked[:3], "relevant": sorted(relevant)})
        if row["expect"] == "answer":
            for fact in row["answer_must_mention"]:
                facts_total += 1
                facts_found += covers(fact, answer.draft)
    return {
        "recall@1": round(statistics.fmean(recall1), 3) if recall1 else None,
        "recall@5": round(statistics.fmean(recall5), 3) if recall5 else None,
        "mrr": round(statistics.fmean(reciprocal), 3) if reciprocal else None,
        "escalation_precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "escalation_recall": round(tp / (tp + fn), 3) if tp + fn else None,
        "escalated_out_of_scope": f"{tp}/{tp + fn}",
        "escalated_answerable": f"{answerable_escalated}/{answerable}",
        "must_mention_found": round(facts_found / facts_total, 3) if facts_total else None,
        "latency_ms_p50": round(_percentile(latencies, 0.5), 2),
        "latency_ms_p95": round(_percentile(latencies, 0.95), 2),
        "misses": misses,
    }


COLUMNS = [
    ("recall@1", "R@1"),
    ("recall@5", "R@5"),
    ("mrr", "MRR"),
    ("escalation_precision", "esc P"),
    ("escalation_recall", "esc R"),
    ("escalated_out_of_scope", "OOS esc"),
    ("escalated_answerable", "ans esc"),
    ("must_mention_found", "facts"),
    ("latency_ms_p50", "p50 ms"),
    ("latency_ms_p95", "p95 ms"),
]


def render_report(report: dict[str, Any]) -> str:
    lines = [f"{report['tickets']} tickets, KB {report['kb']}", report.get("ingest", ""), ""]
    lines.append(f"{'mode':<8}" + "".join(f"{title:>9}" for _, title in COLUMNS))
    for mode, figures in report["modes"].items():
        cells = "".join(f"{_cell(figures[key]):>9}" for key, _ in COLUMNS)
        lines.append(f"{mode:<8}{cells}")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
