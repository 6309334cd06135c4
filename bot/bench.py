"""`kb bench`: the embedded default against its own limit, the model, in one table (not a pass/fail test).

    kb bench                                   # examples/kb and its tickets, about 30 s
    kb bench --kb ../shared/kb-samples/npm-docs/articles --tickets ../shared/kb-samples/npm-docs/dev-tickets.jsonl
    kb bench --requests 2000 --json figures.json

In one run, on the same request texts (each bench ticket with a ticket number of its own, so
every request is new to the server and to its query-vector cache):

- bare embedding: `LocalEmbedder` alone in this process, the texts as one batch (texts/s, the
  limit of the machine) and one query at a time (p50);
- HTTP: `kb serve` in a subprocess on the ingested KB, POST /api/v1/generate-response from an
  aiohttp client at concurrency 1 and `--concurrency` (req/s, p50/p95, and their ratio to bare
  embedding), the server's CPU per answer, and its RSS while serving and at its peak (VmHWM);
- ingest chunks/s against bare embedding of the same chunk texts, and an unchanged re-ingest;
- answer p50 in this process on synthetic stores of `--sizes` chunks (random vectors, random words).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ingest.chunking import chunk_article
from ingest.loaders import load_sources
from ingest.pipeline import ingest
from rag.catalog import Catalog
from rag.embedders.local import LocalEmbedder, cpu_count
from rag.factory import build_engine
from rag.models import Tier
from rag.settings import Settings

if TYPE_CHECKING:
    import aiohttp

WARM_REQUESTS = 32
SINGLE_REQUESTS = 64
SERVER_START_S = 120.0
_SETTINGS_PREFIXES = ("KB_", "SLACK_", "OPENAI_", "PINECONE_")  # the server gets none of the caller's


def _p(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _settings(path: Path) -> Settings:
    return Settings(kb_data_dir=path, _env_file=None)  # type: ignore[call-arg]


def _row(line: str) -> str:
    value = json.loads(line)
    return str(value["ticket"] if isinstance(value, dict) else value)


def request_texts(tickets: Sequence[str], n: int, start: int = 0) -> list[str]:
    """`n` distinct texts: the tickets in turn, each with a ticket number of its own."""
    return [f"{tickets[i % len(tickets)]}\n\nTicket #{100_000 + i}" for i in range(start, start + n)]


@dataclass
class Load:
    """One HTTP run: latencies of the answered requests, failures by status or error, seconds."""

    latencies_ms: list[float] = field(default_factory=list)
    failures: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def per_s(self) -> float:
        return (len(self.latencies_ms) + sum(self.failures.values())) / self.seconds if self.seconds else 0.0


async def timed_request(
    session: aiohttp.ClientSession,
    method: str,
    url: str,
    body: bytes | None,
    headers: dict[str, str],
    latencies_ms: list[float],
    failures: dict[str, int],
) -> None:
    """One request: its latency when it answers 200, else its status or error counted in `failures`."""
    import aiohttp

    started = time.perf_counter()
    try:
        async with session.request(method, url, data=body, headers=headers) as resp:
            await resp.read()
            status = resp.status
    except (TimeoutError, aiohttp.ClientError) as exc:
        failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
        return
    if status == 200:
        latencies_ms.append((time.perf_counter() - started) * 1000)
    else:
        failures[str(status)] = failures.get(str(status), 0) + 1


async def _post_all(url: str, key: str, texts: Sequence[str], concurrency: int) -> Load:
    import aiohttp

    load = Load()
    bodies = iter([json.dumps({"ticket": t}).encode() for t in texts])
    headers = {"X-API-Key": key, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as session:

        async def worker() -> None:
            for body in bodies:
                await timed_request(session, "POST", url, body, headers, load.latencies_ms, load.failures)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        load.seconds = time.perf_counter() - started
    return load


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def proc_status(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak) of a process, MB (Linux /proc; {} elsewhere)."""
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return {}
    out = {}
    for line in lines:
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            out[name] = int(value.split()[0]) / 1024
    return out


def proc_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process, all threads (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Server:
    """`kb serve` on a data dir, in a subprocess of its own (so its RSS is its own)."""

    def __init__(self, data_dir: Path) -> None:
        self.key = secrets.token_urlsafe(16)
        port = _free_port()
        self.base = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith(_SETTINGS_PREFIXES)}
        env.update(
            KB_DATA_DIR=str(data_dir),
            KB_HOST="127.0.0.1",
            KB_PORT=str(port),
            KB_API_KEYS=self.key,
            KB_RATE_LIMIT_PER_MIN="0",
            KB_LOG_LEVEL="WARNING",
        )
        self._log = data_dir / "serve.log"
        with self._log.open("wb") as log:  # the child keeps its own copy of the file
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot.cli", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=log
            )

    async def ready(self) -> None:
        import aiohttp

        deadline = time.monotonic() + SERVER_START_S
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    tail = self._log.read_text(errors="replace").strip().splitlines()[-3:]
                    raise RuntimeError(f"kb serve exited with {self.proc.returncode}: {' | '.join(tail)}")
                try:
                    async with session.get(f"{self.base}/health") as resp:
                        if resp.status == 200 and (await resp.json())["chunks"] > 0:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"kb serve not ready after {SERVER_START_S:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


async def run_bench(
    kb: Path,
    tickets: Path | None,
    sizes: list[int],
    *,
    requests: int = 256,
    concurrency: int = 32,
    json_path: Path | None = None,
) -> dict[str, float]:
    tickets = tickets or kb / "tickets.jsonl"
    rows = [_row(line) for line in tickets.read_text(encoding="utf-8").splitlines() if line.strip()]
    warm = request_texts(rows, WARM_REQUESTS)
    single = request_texts(rows, min(SINGLE_REQUESTS, requests), start=WARM_REQUESTS)
    loaded = request_texts(rows, requests, start=WARM_REQUESTS + len(single))
    print(
        f"kb bench: {kb} ({len(rows)} tickets from {tickets}; {cpu_count()} cores)\n"
        f"  every request is new: a ticket with a ticket number of its own ({len(single)} at c=1, "
        f"{len(loaded)} at c={concurrency}, after {len(warm)} to warm up)",
        flush=True,
    )
    f: dict[str, float] = {"cores": cpu_count(), "concurrency": concurrency, "requests": requests}
    began = time.perf_counter()
    embedder = LocalEmbedder()
    embedder.encode_sorted(warm)

    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp:
        data_dir = Path(tmp)
        mark = time.perf_counter()
        engine = build_engine(_settings(data_dir), embedder=embedder)
        try:
            first = await ingest(engine.kb, [kb])
            f["ingest_s"] = first.seconds
            f["ingest_chunks_per_s"] = first.chunks_embedded / first.seconds
            again = await ingest(engine.kb, [kb])
            f["reingest_s"] = again.seconds
        finally:
            await engine.close()  # the embedder's workers stay for the rest of the bench
        # The same chunk texts through the model alone, after the ingest: the model has seen their
        # shapes by then (onnxruntime plans memory once a shape), which only flatters the bare side.
        chunk_texts = list(
            {c.content_hash: c.embedding_text() for a in load_sources([kb]).articles for c in chunk_article(a)}.values()
        )
        start = time.perf_counter()
        embedder.encode_sorted(chunk_texts)
        f["bare_chunks_per_s"] = len(chunk_texts) / (time.perf_counter() - start)
        print(
            f"  ingest and bare embedding of {len(chunk_texts)} chunks ({time.perf_counter() - mark:.1f} s)", flush=True
        )
        mark = time.perf_counter()
        await _http(f, embedder, data_dir, warm, single, loaded, concurrency)
        print(f"  HTTP runs and bare embedding of the same texts ({time.perf_counter() - mark:.1f} s)", flush=True)

    for size in sizes:
        mark = time.perf_counter()
        f[f"synthetic_{size}_ms_p50"] = await _synthetic(embedder, size, rows)
        print(f"  {size:,} synthetic chunks ({time.perf_counter() - mark:.1f} s)", flush=True)
    await embedder.close()
    f["seconds"] = time.perf_counter() - began
    print_table(f, sizes)
    if json_path is not None:
        json_path.write_text(json.dumps(f, indent=2) + "\n", encoding="utf-8")
    return f


def _bare_batch(embedder: LocalEmbedder, texts: list[str]) -> tuple[float, float]:
    """(texts/s, CPU ms a text) of the model alone on `texts` as one batch."""
    cpu, start = time.process_time(), time.perf_counter()
    embedder.encode_sorted(texts)
    return len(texts) / (time.perf_counter() - start), 1000 * (time.process_time() - cpu) / len(texts)


async def _http(
    f: dict[str, float],
    embedder: LocalEmbedder,
    data_dir: Path,
    warm: list[str],
    single: list[str],
    loaded: list[str],
    concurrency: int,
) -> None:
    """The server's runs, each next to the model alone on the same texts (the server idle meanwhile),
    so that both see the same machine: a shared one's load drifts within seconds."""
    server = Server(data_dir)
    try:
        await server.ready()
        url = f"{server.base}/api/v1/generate-response"
        f["serve_start_rss_mb"] = proc_status(server.proc.pid).get("VmRSS", 0.0)
        await _post_all(url, server.key, warm, concurrency)
        times = []
        for text in single:
            start = time.perf_counter()
            embedder.encode_sorted([text])
            times.append((time.perf_counter() - start) * 1000)
        f["bare_query_ms_p50"] = statistics.median(times)
        one = await _post_all(url, server.key, single, 1)
        f["bare_batch_per_s"], f["bare_batch_cpu_ms"] = _bare_batch(embedder, loaded)
        cpu = proc_cpu_s(server.proc.pid)
        many = await _post_all(url, server.key, loaded, concurrency)
        cpu_after = proc_cpu_s(server.proc.pid)
        await asyncio.sleep(0.5)  # serving RSS between bursts: after the idle model workers' trim
        status = proc_status(server.proc.pid)
    finally:
        server.stop()
    failures = {k: one.failures.get(k, 0) + many.failures.get(k, 0) for k in {*one.failures, *many.failures}}
    if failures:
        raise RuntimeError(f"kb bench: requests failed: {failures}")
    f["http_c1_per_s"], f["http_c1_ms_p50"], f["http_c1_ms_p95"] = (
        one.per_s,
        statistics.median(one.latencies_ms),
        _p(one.latencies_ms, 0.95),
    )
    f["http_cN_per_s"], f["http_cN_ms_p50"], f["http_cN_ms_p95"] = (
        many.per_s,
        statistics.median(many.latencies_ms),
        _p(many.latencies_ms, 0.95),
    )
    if cpu is not None and cpu_after is not None:
        f["server_cpu_ms"] = 1000 * (cpu_after - cpu) / len(loaded)
    f["serve_rss_mb"], f["serve_peak_rss_mb"] = status.get("VmRSS", 0.0), status.get("VmHWM", 0.0)


def print_table(f: dict[str, float], sizes: Sequence[int]) -> None:
    c = int(f["concurrency"])
    rows: list[tuple[str, str, str]] = [
        ("bare embedding, one batch", f"{f['bare_batch_per_s']:8.1f} texts/s", "the limit"),
        ("bare embedding, one query", f"{f['bare_query_ms_p50']:8.1f} ms p50", ""),
        (
            "HTTP generate-response, c=1",
            f"{f['http_c1_per_s']:8.1f} req/s",
            f"p50 {f['http_c1_ms_p50']:.1f} ms = {f['http_c1_ms_p50'] / f['bare_query_ms_p50']:.2f}x one query; "
            f"p95 {f['http_c1_ms_p95']:.1f} ms",
        ),
        (
            f"HTTP generate-response, c={c}",
            f"{f['http_cN_per_s']:8.1f} req/s",
            f"{f['http_cN_per_s'] / f['bare_batch_per_s']:.2f}x the batch; "
            f"p50 {f['http_cN_ms_p50']:.0f} ms, p95 {f['http_cN_ms_p95']:.0f} ms",
        ),
    ]
    if "server_cpu_ms" in f:
        rows.append(
            (
                f"server CPU per answer, c={c}",
                f"{f['server_cpu_ms']:8.1f} ms",
                f"the model alone: {f['bare_batch_cpu_ms']:.1f} ms a text (batch)",
            )
        )
    rows += [
        (
            "server RSS, serving / peak",
            f"{f['serve_rss_mb']:8.0f} MB",
            f"peak {f['serve_peak_rss_mb']:.0f} MB (at start {f['serve_start_rss_mb']:.0f} MB)",
        ),
        (
            "ingest",
            f"{f['ingest_chunks_per_s']:8.1f} chunks/s",
            f"{f['ingest_chunks_per_s'] / f['bare_chunks_per_s']:.2f}x bare embedding "
            f"({f['bare_chunks_per_s']:.1f} chunks/s)",
        ),
        (
            "re-ingest, nothing changed",
            f"{f['reingest_s']:8.3f} s",
            f"first ingest {f['ingest_s']:.2f} s",
        ),
    ]
    first = None
    for size in sizes:
        value = f[f"synthetic_{size}_ms_p50"]
        rows.append(
            (
                f"answer, {size:,} synthetic chunks",
                f"{value:8.1f} ms p50",
                "" if first is None else f"{value / first:.2f}x the {sizes[0]:,}-chunk store",
            )
        )
        first = value if first is None else first
    width = max(len(r[0]) for r in rows)
    print()
    print(f"  {'':{width}}  {'figure':>18}  compared")
    for name, shown, note in rows:
        print(f"  {name:{width}}  {shown:>18}  {note}".rstrip())
    if "seconds" in f:
        print(f"  ({f['seconds']:.0f} s)")


# Synthetic text: the bench tickets' own words, so keyword search has posting lists to score, each
# in a share of the chunks drawn log-uniformly from 0.3% to 30% (median 3%, mean 6%: what the npm
# KB's chunks show for its dev tickets' words), plus 10 of a tail of 20,000 rare words.
_RARE = [f"term{i}" for i in range(20_000)]
SHARES = (0.003, 0.3)
PER_ARTICLE = 100
SYNTHETIC_ANSWERS = 16


async def _synthetic(embedder: LocalEmbedder, size: int, tickets: list[str]) -> float:
    """Answer p50 over a store of `size` random chunks (random unit vectors, random words)."""
    with tempfile.TemporaryDirectory(prefix="kb-bench-synth-") as tmp:
        settings = _settings(Path(tmp))
        build_synthetic(settings.db_path, size, tickets, embedder.model_id, embedder.dimension)
        engine = build_engine(settings, embedder=embedder)
        try:
            asked = request_texts(tickets, 3 + SYNTHETIC_ANSWERS, start=1_000_000)
            for text in asked[:3]:
                await engine.answer(text)
            totals = []
            for text in asked[3:]:
                start = time.perf_counter()
                await engine.answer(text)
                totals.append((time.perf_counter() - start) * 1000)
            return statistics.median(totals)
        finally:
            await engine.close()


def build_synthetic(path: Path, size: int, tickets: list[str], model_id: str, dimension: int) -> None:
    """A catalog of `size` chunks in articles of PER_ARTICLE, loaded in one transaction.

    Written with SQL of its own (the schema of rag/catalog.py) and indexed for keyword search in
    one FTS5 rebuild: article by article through `Catalog.replace_article` took 15 s for 100k."""
    rng = np.random.default_rng(7)
    pick = random.Random(7)
    words = np.array(sorted({w.lower() for t in tickets for w in re.findall(r"[A-Za-z]{3,}", t)}))
    shares = np.exp(rng.uniform(np.log(SHARES[0]), np.log(SHARES[1]), len(words)))
    held = rng.random((2_000, len(words))) < shares
    texts = [" ".join([*words[row], *pick.choices(_RARE, k=10)]) for row in held]
    vectors = rng.standard_normal((size, dimension), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    articles = (size + PER_ARTICLE - 1) // PER_ARTICLE
    catalog = Catalog.open(path)
    try:
        catalog.bind_model(model_id, dimension)
        with catalog.transaction() as db:
            db.executemany(
                "INSERT INTO articles(id, title, url, source, content_hash) VALUES (?, ?, ?, 'synthetic', ?)",
                [
                    (f"synthetic-{a}", f"Synthetic {a}", f"https://example.test/synthetic-{a}", f"s{a}")
                    for a in range(articles)
                ],
            )
            db.executemany(
                "INSERT INTO chunks(rowid, id, article_id, n, title, url, heading_path, text, tier, kind, "
                "content_hash, embedding_model, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'text', ?, ?, ?)",
                (
                    (
                        i + 1,
                        f"synthetic-{a}#{n}",
                        f"synthetic-{a}",
                        n,
                        f"Synthetic {a}",
                        f"https://example.test/{a}",
                        f"Section {n}",
                        texts[i % len(texts)],
                        Tier.MEDIUM.value,
                        f"s{a}-{n}",
                        model_id,
                        vectors[i].tobytes(),
                    )
                    for i in range(size)
                    for a, n in [divmod(i, PER_ARTICLE)]
                ),
            )
            db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")
    finally:
        catalog.close()
