"""`kb eval`: retrieval, escalation and draft quality on labelled tickets, over one or several KBs.

    report = await evaluate([(Path("examples/kb"), Path("examples/kb/tickets.jsonl"))])
    print(render_report(report))

Each KB is ingested into a temporary store with the configured backends (the embedded default
without keys; OpenAI and Pinecone when their keys are set, in a namespace of its own that is
deleted afterwards). Every retrieval mode answers every ticket from that same store, so the
figures compare.

With one KB, escalation is judged with the shipped confidence model: what a team sees on its own
KB. With several, escalation is judged leave-one-KB-out: for each KB the confidence model is
refitted on the other KBs' tickets (and the built-in off-topic probes) and then scored on this
one, so no figure comes from a weight or threshold fitted on the KB it is reported for.

Ticket lines: {"id", "ticket", "relevant": [article ids], "answer_must_mention": [...],
"required_data": [items an agent would ask for], "expect": "answer" | "escalate"}.

Draft figures: the share of must-mention facts the draft holds (`rag.text.covers`) and the median
length in words of the drafts that answer (holding replies of escalated tickets left out). Required
data: the share of the labelled items found among the returned ones (an item is found when at least
half of its content words are in one returned item) and the mean number of items returned a ticket.
"""

from __future__ import annotations

import functools
import json
import statistics
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from ingest.pipeline import ingest
from rag import confidence
from rag.engine import Engine
from rag.errors import KBError
from rag.factory import build_drafter, build_embedder, build_kb
from rag.knowledge import KnowledgeBase
from rag.models import Ticket
from rag.protocols import Embedder
from rag.retrieve import Mode
from rag.settings import Settings
from rag.text import content_words, covers

MODES: tuple[Mode, ...] = ("hybrid", "dense", "keyword")
_ALIASES = {"lexical": "keyword", "bm25": "keyword"}


def parse_modes(text: str) -> list[Mode]:
    """ "hybrid,dense" -> ["hybrid", "dense"]; raises KBError naming the allowed modes."""
    modes: list[Mode] = []
    for raw in (m.strip().lower() for m in text.split(",")):
        if not raw:
            continue
        name = _ALIASES.get(raw, raw)
        if name not in MODES:
            raise KBError(f"unknown retrieval mode {raw!r} (allowed: {', '.join(MODES)})")
        if name not in modes:
            modes.append(name)
    if not modes:
        raise KBError(f"no retrieval mode given (allowed: {', '.join(MODES)})")
    return modes


def load_labelled(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if not isinstance(row, dict) or not str(row.get("ticket", "")).strip():
                raise ValueError("a JSON object with a non-empty 'ticket' is expected")
        except ValueError as exc:
            raise KBError(f"{path}, line {number}: {exc}") from exc
        row.setdefault("id", f"line-{number}")
        row.setdefault("relevant", [])
        row.setdefault("answer_must_mention", [])
        row.setdefault("required_data", [])
        row.setdefault("expect", "answer")
        if row["expect"] not in ("answer", "escalate"):
            raise KBError(f"{path}, line {number}: expect must be 'answer' or 'escalate'")
        rows.append(row)
    if not rows:
        raise KBError(f"{path}: no tickets")
    return rows


@dataclass
class Outcome:
    """One ticket answered in one mode: what the figures are computed from."""

    id: str
    expect: str
    relevant: list[str]
    ranked: list[str]
    features: dict[str, float]
    escalated: bool  # by the shipped model (single-KB runs) or refitted (leave-one-KB-out)
    facts_found: int
    facts_total: int
    latency_ms: float
    draft_words: int | None = None  # None: a holding reply (the engine escalated)
    required_found: int = 0  # labelled required-data items among the returned ones
    required_total: int = 0
    required_returned: int = 0
    claims: int = 0  # the draft's cited claims (chunk ids), and those from a labelled relevant article
    claims_on_topic: int = 0
    score: float = 0.0  # confidence by the model that judged (shipped, or refitted leave-one-KB-out)


@dataclass
class KBRun:
    name: str
    kb: str
    tickets: int
    ingest: str
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)  # mode -> outcomes
    probes: dict[str, list[dict[str, float]]] = field(default_factory=dict)  # mode -> probe features


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _eval_settings(data_dir: Path) -> Settings:
    # The environment's backends (keys) apply; the store is private to this run.
    return Settings(kb_data_dir=data_dir, pinecone_namespace=f"kb-eval-{uuid.uuid4().hex[:12]}")  # type: ignore[call-arg]


async def evaluate(
    pairs: list[tuple[Path, Path]],
    modes: list[Mode] | None = None,
    *,
    settings_for: Callable[[Path], Settings] | None = None,
    embedder: Embedder | None = None,
) -> dict[str, Any]:
    """Answer every KB's tickets in every mode; escalation leave-one-KB-out when there are several KBs.

    `settings_for(data_dir) -> Settings` picks the backends (default: the environment's). One
    embedder serves every KB; it is closed at the end unless the caller passed it in."""
    modes = modes or list(MODES)
    make_settings = settings_for or _eval_settings
    runs: list[KBRun] = []
    owned: Embedder | None = None
    try:
        for kb_dir, tickets_path in pairs:
            tickets = load_labelled(tickets_path)
            with tempfile.TemporaryDirectory(prefix="kb-eval-") as tmp:
                settings = make_settings(Path(tmp))
                if embedder is None:
                    embedder = owned = build_embedder(settings)
                runs.append(await _run_kb(kb_dir, tickets, modes, settings, embedder, probes=len(pairs) > 1))
    finally:
        if owned is not None:
            await owned.close()
    return _report(runs, modes, embedder)


async def _run_kb(
    kb_dir: Path,
    tickets: list[dict[str, Any]],
    modes: list[Mode],
    settings: Settings,
    embedder: Embedder,
    *,
    probes: bool = True,
) -> KBRun:
    kb = build_kb(settings, embedder=embedder)
    drafter = build_drafter(settings, kb.catalog)
    try:
        summary = await ingest(kb, [kb_dir])
        if summary.articles == 0:
            raise KBError(f"{kb_dir}: no articles could be read ({len(summary.errors)} errors)")
        run = KBRun(
            name=kb_dir.name if kb_dir.name != "articles" else kb_dir.parent.name,
            kb=str(kb_dir),
            tickets=len(tickets),
            ingest=summary.line(),
        )
        for mode in modes:
            engine = Engine(settings, kb=kb.with_mode(mode), drafter=drafter)
            run.outcomes[mode] = [await _answer(engine, row) for row in tickets]
            # Off-topic probes are extra negatives when the model is refitted (several KBs).
            run.probes[mode] = await probe_features(kb.with_mode(mode)) if probes else []
        return run
    finally:
        try:
            await _drop_remote(kb)
        finally:
            await drafter.close()
            await kb.close(embedder=False)  # shared by every KB of the run


@functools.cache
def offtopic_probes() -> tuple[str, ...]:
    """The built-in off-topic support questions (rag/data/offtopic_probes.txt)."""
    text = files("rag").joinpath("data/offtopic_probes.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#"))


async def probe_features(kb: KnowledgeBase) -> list[dict[str, float]]:
    """Confidence signals of the off-topic probes on this KB: extra negatives when fitting."""
    out = []
    for probe in offtopic_probes():
        out.append(confidence.features(await kb.search(probe)))
    return out


async def _drop_remote(kb: KnowledgeBase) -> None:
    # A remote store (Pinecone) got a namespace of its own for this run: leave nothing behind.
    drop = getattr(kb.store, "drop_namespace", None)
    if drop is not None:
        await drop()


async def _answer(engine: Engine, row: dict[str, Any]) -> Outcome:
    subject = str(row["subject"]) if row.get("subject") else None  # help-desk exports carry one
    answer, assessed, retrieval = await engine.answer_with_retrieval(Ticket(ticket=row["ticket"], subject=subject))
    facts = row["answer_must_mention"] if row["expect"] == "answer" else []
    expected = [str(item) for item in row["required_data"]]
    returned = [r.item for r in answer.required_data]
    cited = [chunk_id.rpartition("#")[0] for citation in answer.citations for chunk_id in citation.chunk_ids]
    return Outcome(
        id=str(row["id"]),
        expect=row["expect"],
        relevant=list(row["relevant"]),
        # Retrieval's article order: the answer's sources put what the draft cites first.
        ranked=[a.article_id for a in retrieval.articles],
        features=assessed.features,
        escalated=answer.decision == "escalate",
        facts_found=sum(covers(fact, answer.draft) for fact in facts),
        facts_total=len(facts),
        latency_ms=answer.timings_ms["total"],
        draft_words=len(answer.draft.split()) if answer.decision != "escalate" else None,
        required_found=sum(item_found(item, returned) for item in expected),
        required_total=len(expected),
        required_returned=len(returned),
        claims=len(cited) if row["relevant"] else 0,
        claims_on_topic=sum(article in row["relevant"] for article in cited),
        score=answer.confidence.score,
    )


def item_found(expected: str, returned: list[str]) -> bool:
    """An expected required-data item is found when one returned item holds at least half of its
    content words ("the repository name" ~ "repository or project name")."""
    words = content_words(expected)
    if not words:
        return False
    return any(len(words & content_words(item)) * 2 >= len(words) for item in returned)


def fit_on(runs: list[KBRun], mode: Mode, signals: Sequence[str] | None = None) -> confidence.Model:
    """The confidence model fitted on these runs' labelled tickets plus their off-topic probes
    (over `signals`, default every signal they all have)."""
    rows: list[dict[str, float]] = []
    labels: list[bool] = []
    weights: list[float] = []
    for run in runs:
        for outcome in run.outcomes[mode]:
            rows.append(outcome.features)
            labels.append(outcome.expect == "answer")
            weights.append(1.0)
        rows += run.probes[mode]
        labels += [False] * len(run.probes[mode])
        weights += [confidence.PROBE_WEIGHT] * len(run.probes[mode])
    return confidence.fit(rows, labels, weights, signals)


def _report(runs: list[KBRun], modes: list[Mode], embedder: Embedder | None) -> dict[str, Any]:
    loko = len(runs) > 1
    if loko:
        # Keyword-only answers are judged by a fixed rule, not the fitted model: nothing to refit.
        for mode in (m for m in modes if m != "keyword"):
            for held_out in runs:
                others = [r for r in runs if r is not held_out]
                # Only the signals the held-out KB has too (token_match needs the packaged model).
                signals = confidence.signals_of([o.features for r in runs for o in r.outcomes[mode]])
                model = fit_on(others, mode, signals)
                for outcome in held_out.outcomes[mode]:
                    outcome.escalated = model.decide(outcome.features) == "escalate"
                    outcome.score = round(model.score(outcome.features), 3)
    report: dict[str, Any] = {
        "escalation": "leave-one-KB-out" if loko else "shipped model",
        "embedder": getattr(embedder, "model_id", None),
        "kbs": [],
    }
    for run in runs:
        report["kbs"].append(
            {
                "name": run.name,
                "kb": run.kb,
                "tickets": run.tickets,
                "ingest": run.ingest,
                "modes": {mode: _figures(run.outcomes[mode]) for mode in modes},
            }
        )
    if loko:
        report["all"] = {mode: _figures([o for r in runs for o in r.outcomes[mode]]) for mode in modes}
    return report


def _figures(outcomes: list[Outcome]) -> dict[str, Any]:
    recall1: list[float] = []
    recall5: list[float] = []
    reciprocal: list[float] = []
    misses: list[dict[str, Any]] = []
    for o in outcomes:
        relevant = set(o.relevant)
        if not relevant:
            continue
        recall1.append(float(bool(relevant & set(o.ranked[:1]))))
        recall5.append(len(relevant & set(o.ranked[:5])) / len(relevant))
        first = next((i for i, a in enumerate(o.ranked, 1) if a in relevant), None)
        reciprocal.append(1.0 / first if first else 0.0)
        if first != 1:
            misses.append({"id": o.id, "top": o.ranked[:3], "relevant": sorted(relevant)})
    out_of_scope = [o for o in outcomes if o.expect == "escalate"]
    answerable = [o for o in outcomes if o.expect == "answer"]
    tp = sum(o.escalated for o in out_of_scope)
    fp = sum(o.escalated for o in answerable)
    facts_total = sum(o.facts_total for o in answerable)
    latencies = [o.latency_ms for o in outcomes]
    words = [o.draft_words for o in answerable if o.draft_words is not None]
    required_total = sum(o.required_total for o in outcomes)
    claims = sum(o.claims for o in answerable)
    return {
        "recall@1": _mean(recall1),
        "recall@5": _mean(recall5),
        "mrr": _mean(reciprocal),
        "escalation_precision": round(tp / (tp + fp), 3) if tp + fp else None,
        "escalation_recall": round(tp / len(out_of_scope), 3) if out_of_scope else None,
        "answerable_escalated_share": round(fp / len(answerable), 3) if answerable else None,
        "escalated_out_of_scope": f"{tp}/{len(out_of_scope)}",
        "escalated_answerable": f"{fp}/{len(answerable)}",
        "must_mention_found": round(sum(o.facts_found for o in answerable) / facts_total, 3) if facts_total else None,
        "draft_words_p50": round(statistics.median(words)) if words else None,
        # Of the draft's cited claims, the share quoted from an article the ticket is labelled with:
        # a draft that mixes in sentences from unrelated articles scores low.
        "claims_on_topic": round(sum(o.claims_on_topic for o in answerable) / claims, 3) if claims else None,
        "required_recall": (
            round(sum(o.required_found for o in outcomes) / required_total, 3) if required_total else None
        ),
        "required_items": round(statistics.fmean(o.required_returned for o in outcomes), 2) if outcomes else None,
        "latency_ms_p50": round(_percentile(latencies, 0.5), 2),
        "latency_ms_p95": round(_percentile(latencies, 0.95), 2),
        "misses": misses,
        # The judgement's mistakes, to read against the tickets: what the model saw and scored.
        "escalation_errors": [
            {
                "id": o.id,
                "expect": o.expect,
                "escalated": o.escalated,
                "score": o.score,
                "signals": {name: round(value, 3) for name, value in o.features.items()},
            }
            for o in outcomes
            if o.escalated != (o.expect == "escalate")
        ],
    }


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


COLUMNS = [
    ("recall@1", "R@1"),
    ("recall@5", "R@5"),
    ("mrr", "MRR"),
    ("escalation_recall", "esc R"),
    ("escalated_out_of_scope", "OOS esc"),
    ("escalated_answerable", "ans esc"),
    ("must_mention_found", "facts"),
    ("draft_words_p50", "words"),
    ("claims_on_topic", "on-topic"),
    ("required_recall", "req R"),
    ("required_items", "req n"),
    ("latency_ms_p50", "p50 ms"),
    ("latency_ms_p95", "p95 ms"),
]


def render_report(report: dict[str, Any]) -> str:
    lines = [f"escalation judged with: {report['escalation']}", ""]
    header = f"{'KB':<16}{'mode':<9}" + "".join(f"{title:>9}" for _, title in COLUMNS)
    lines.append(header)
    rows = [(kb["name"], kb["modes"]) for kb in report["kbs"]]
    if "all" in report:
        rows.append(("all (LOKO)", report["all"]))
    for name, modes in rows:
        for mode, figures in modes.items():
            cells = "".join(f"{_cell(figures[key]):>9}" for key, _ in COLUMNS)
            lines.append(f"{name[:15]:<16}{mode:<9}{cells}")
    lines.append("")
    lines += [f"{kb['name']}: {kb['tickets']} tickets; {kb['ingest']}" for kb in report["kbs"]]
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if isinstance(value, float) else str(value)
