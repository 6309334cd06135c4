"""`kb bench`: speed and memory of the embedded default, printed as figures (not a pass/fail test).

    kb bench                                   # examples/kb and its tickets
    kb bench --kb ../shared/kb-samples/npm-docs/articles --tickets ../shared/kb-samples/npm-docs/dev-tickets.jsonl

In one run: bare query-embedding time, engine answer p50/p95, ingest chunks/s against bare
embedding chunks/s on the same chunk texts, unchanged re-ingest time, peak RSS, and query p50 on
synthetic stores of 10k and 100k chunks.
"""

from __future__ import annotations

import json
import random
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ingest.chunking import chunk_article
from ingest.loaders import load_sources
from ingest.pipeline import ingest
from rag.catalog import ArticleRow
from rag.embedders.local import LocalEmbedder
from rag.factory import build_engine
from rag.models import Chunk, Tier
from rag.settings import Settings


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _settings(path: Path) -> Settings:
    return Settings(kb_data_dir=path, _env_file=None)  # type: ignore[call-arg]


def _row(line: str) -> str:
    value = json.loads(line)
    return str(value["ticket"] if isinstance(value, dict) else value)


async def run_bench(kb: Path, tickets: Path | None, sizes: list[int]) -> dict[str, float]:
    tickets = tickets or kb / "tickets.jsonl"
    texts = [_row(line) for line in tickets.read_text(encoding="utf-8").splitlines() if line.strip()]
    embedder = LocalEmbedder()
    figures: dict[str, float] = {}
    print(f"kb bench: {kb} ({len(texts)} tickets from {tickets})")

    # Bare embedding: the model alone, no engine around it.
    for text in texts[:5]:
        embedder.encode_sorted([text])
    bare = []
    for text in texts * 3:
        start = time.perf_counter()
        embedder.encode_sorted([text])
        bare.append((time.perf_counter() - start) * 1000)
    figures["bare_query_embed_ms_p50"] = statistics.median(bare)

    chunk_texts = [c.embedding_text() for a in load_sources([kb]).articles for c in chunk_article(a)]
    start = time.perf_counter()
    embedder.encode_sorted(chunk_texts)
    figures["bare_embed_chunks_per_s"] = len(chunk_texts) / (time.perf_counter() - start)

    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        engine = build_engine(_settings(Path(tmp)), embedder=embedder)
        try:
            first = await ingest(engine.kb, [kb])
            figures["ingest_s"] = first.seconds
            figures["ingest_chunks_per_s"] = first.chunks_embedded / first.seconds
            again = await ingest(engine.kb, [kb])
            figures["reingest_unchanged_s"] = again.seconds
            for text in texts[:5]:
                await engine.answer(text)
            totals = []
            for text in texts * 3:
                start = time.perf_counter()
                await engine.answer(text)
                totals.append((time.perf_counter() - start) * 1000)
            figures["answer_ms_p50"] = statistics.median(totals)
            figures["answer_ms_p95"] = _p(totals, 0.95)
        finally:
            await engine.close()

    print(f"  bare query embedding      p50 {figures['bare_query_embed_ms_p50']:7.2f} ms")
    print(
        f"  engine answer             p50 {figures['answer_ms_p50']:7.2f} ms   p95 {figures['answer_ms_p95']:.2f} ms"
        f"   ({figures['answer_ms_p50'] / figures['bare_query_embed_ms_p50']:.2f}x bare embedding)"
    )
    print(
        f"  ingest                    {figures['ingest_chunks_per_s']:7.1f} chunks/s   bare embedding "
        f"{figures['bare_embed_chunks_per_s']:.1f} chunks/s "
        f"({figures['ingest_chunks_per_s'] / figures['bare_embed_chunks_per_s']:.2f}x)"
    )
    print(
        f"  re-ingest, nothing changed {figures['reingest_unchanged_s']:6.3f} s   "
        f"first ingest {figures['ingest_s']:.2f} s "
        f"({figures['ingest_s'] / max(figures['reingest_unchanged_s'], 1e-9):.0f}x faster)"
    )

    figures["peak_rss_mb_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS (this KB)        {figures['peak_rss_mb_kb']:7.1f} MB")
    for size in sizes:
        figures[f"synthetic_{size}_answer_ms_p50"] = await _synthetic(embedder, size, texts)
        print(f"  {size:>7} synthetic chunks   answer p50 {figures[f'synthetic_{size}_answer_ms_p50']:7.2f} ms")
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak RSS (with synthetic) {figures['peak_rss_mb']:7.1f} MB")
    return figures


# Synthetic text: 24 support words that occur everywhere plus a long tail of 20,000 rare words,
# roughly the shape of a real KB's vocabulary (a few frequent terms, most terms in few chunks).
_RARE = [f"term{i}" for i in range(20_000)]
_WORDS = (
    "account billing invoice refund password login export timesheet project client workspace "
    "integration sync error token team member plan card payment report webhook mobile timer"
).split()


async def _synthetic(embedder: LocalEmbedder, size: int, texts: list[str]) -> float:
    """A store of `size` random chunks (random unit vectors, random words) and real tickets against it."""
    rng = np.random.default_rng(7)
    pick = random.Random(7)
    with tempfile.TemporaryDirectory(prefix="kb-bench-synth-") as tmp:
        engine = build_engine(_settings(Path(tmp)), embedder=embedder)
        try:
            per_article = 100
            for a in range(size // per_article):
                aid = f"synthetic-{a}"
                chunks = [
                    Chunk(
                        id=f"{aid}#{n}",
                        article_id=aid,
                        title=f"Synthetic {a}",
                        url=f"https://example.test/{aid}",
                        heading_path=f"Section {n}",
                        text=" ".join(pick.choices(_WORDS, k=60)),
                        tier=Tier.MEDIUM,
                        content_hash=f"{aid}-{n}",
                        embedding_model=embedder.model_id,
                    )
                    for n in range(per_article)
                ]
                vectors = rng.standard_normal((per_article, embedder.dimension)).astype(np.float32)
                vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                engine.kb.catalog.replace_article(
                    ArticleRow(id=aid, title=f"Synthetic {a}", url="", source="synthetic", content_hash=aid),
                    chunks,
                    vectors,
                )
            for text in texts[:5]:
                await engine.answer(text)
            totals = []
            for text in texts:
                start = time.perf_counter()
                await engine.answer(text)
                totals.append((time.perf_counter() - start) * 1000)
            return statistics.median(totals)
        finally:
            await engine.close()
