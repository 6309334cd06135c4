"""Load run of the HTTP API on the embedded default: req/s and p50/p95/p99, next to bare embedding.

    python bench/http_load.py                       # spawns `kb serve` on a free loopback port
    python bench/http_load.py --url http://127.0.0.1:8000 --api-key KEY --requests 10000

Targets only loopback addresses and is bounded in requests (--requests) and time (--max-seconds).
It runs in its own process (aiohttp client, --concurrency workers on one keep-alive pool) and,
in the same run, times the engine's bare query embedding: one query at a time, and the same
concurrency through `LocalEmbedder.embed` (which coalesces concurrent queries into batches) —
the figure that an HTTP p50 at that concurrency should be compared with.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
TICKETS = ROOT / "examples" / "kb" / "tickets.jsonl"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Run:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def summary(self) -> dict[str, float | int | str | dict[str, int]]:
        lat = sorted(self.latencies_ms)
        q = (lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]) if lat else (lambda p: float("nan"))
        done = len(lat) + sum(self.errors.values())
        return {"name": self.name, "requests": done, "ok": len(lat), "errors": self.errors,
                "seconds": round(self.seconds, 2), "req_per_s": round(done / self.seconds, 1) if self.seconds else 0.0,
                "p50_ms": round(q(0.50), 1), "p95_ms": round(q(0.95), 1), "p99_ms": round(q(0.99), 1)}


def load_tickets(path: Path) -> list[str]:
    tickets = [json.loads(line)["ticket"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    # Variety without an answer cache to hit: each ticket also with a short suffix of its own.
    return tickets + [f"{t} (ref {i})" for i, t in enumerate(tickets)]


async def hammer(url: str, name: str, *, method: str, bodies: list[bytes] | None, headers: dict[str, str],
                 requests: int, concurrency: int, max_seconds: float) -> Run:
    run = Run(name)
    counter = iter(range(requests))
    deadline = time.monotonic() + max_seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=60)

    async def worker(session: aiohttp.ClientSession) -> None:
        for i in counter:
            if time.monotonic() > deadline:
                return
            body = bodies[i % len(bodies)] if bodies else None
            started = time.perf_counter()
            try:
                async with session.request(method, url, data=body, headers=headers) as resp:
                    await resp.read()
                    status = resp.status
            except (TimeoutError, aiohttp.ClientError) as exc:
                run.errors[type(exc).__name__] = run.errors.get(type(exc).__name__, 0) + 1
                continue
            if status == 200:
                run.latencies_ms.append((time.perf_counter() - started) * 1000)
            else:
                run.errors[str(status)] = run.errors.get(str(status), 0) + 1

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # Warm the pool and the server (model arena, caches) outside the measured window.
        async def warm(i: int) -> None:
            async with session.request(method, url, data=bodies[i % len(bodies)] if bodies else None,
                                       headers=headers) as resp:
                await resp.read()

        await asyncio.gather(*(warm(i) for i in range(concurrency)))
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        run.seconds = time.perf_counter() - started
    return run


async def bare_embedding(tickets: list[str], requests: int, concurrency: int) -> tuple[Run, Run]:
    """The engine's query embedding without HTTP: one at a time, and `concurrency` at a time."""
    from rag.embedders.local import LocalEmbedder

    embedder = LocalEmbedder()
    try:
        await embedder.embed([tickets[0]])
        single = Run("embed, 1 query at a time")
        started = time.perf_counter()
        for i in range(min(200, requests)):
            t0 = time.perf_counter()
            await embedder.embed([tickets[i % len(tickets)]])
            single.latencies_ms.append((time.perf_counter() - t0) * 1000)
        single.seconds = time.perf_counter() - started

        concurrent = Run(f"embed, {concurrency} concurrent queries (coalesced)")
        counter = iter(range(requests))

        async def worker() -> None:
            for i in counter:
                t0 = time.perf_counter()
                await embedder.embed([tickets[i % len(tickets)]])
                concurrent.latencies_ms.append((time.perf_counter() - t0) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        concurrent.seconds = time.perf_counter() - started
    finally:
        await embedder.close()
    return single, concurrent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_server(api_key: str, log_level: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    data_dir = Path(tempfile.mkdtemp(prefix="kb-load-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KB_", "SLACK_", "OPENAI_", "PINECONE_"))}
    env.update(KB_DATA_DIR=str(data_dir), KB_HOST="127.0.0.1", KB_PORT=str(port), KB_API_KEYS=api_key,
               KB_RATE_LIMIT_PER_MIN="0", KB_LOG_LEVEL=log_level)
    kb = Path(sys.executable).with_name("kb")
    proc = subprocess.Popen([str(kb), "serve"], env=env, cwd=data_dir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    return proc, f"http://127.0.0.1:{port}", data_dir


async def wait_ready(base: str, proc: subprocess.Popen[bytes] | None, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise SystemExit(f"kb serve exited with {proc.returncode}")
            try:
                async with session.get(f"{base}/health") as resp:
                    if resp.status == 200 and (await resp.json())["chunks"] > 0:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.25)
    raise SystemExit(f"{base} not ready after {seconds} s")


def print_table(rows: list[dict[str, object]]) -> None:
    print(f"{'run':52} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for r in rows:
        errors = sum(r["errors"].values()) if isinstance(r["errors"], dict) else 0
        print(f"{r['name']!s:52} {r['requests']:>8} {errors:>6} {r['req_per_s']:>8} {r['p50_ms']:>8} "
              f"{r['p95_ms']:>8} {r['p99_ms']:>8}")


async def main(args: argparse.Namespace) -> int:
    proc = data_dir = None
    if args.url:
        if urlsplit(args.url).hostname not in LOOPBACK:
            raise SystemExit("refusing: this load generator only targets loopback addresses")
        base = args.url.rstrip("/")
    else:
        proc, base, data_dir = spawn_server(args.api_key, args.server_log_level)
    try:
        await wait_ready(base, proc)
        tickets = load_tickets(args.tickets)
        bodies = [json.dumps({"ticket": t}).encode() for t in tickets]
        headers = {"X-API-Key": args.api_key, "Content-Type": "application/json"}
        rows = []
        if not args.skip_embed:
            single, concurrent = await bare_embedding(tickets, min(args.requests, 2000), args.concurrency)
            rows += [single.summary(), concurrent.summary()]
        gen = await hammer(f"{base}/api/v1/generate-response", f"POST /api/v1/generate-response c={args.concurrency}",
                           method="POST", bodies=bodies, headers=headers, requests=args.requests,
                           concurrency=args.concurrency, max_seconds=args.max_seconds)
        health = await hammer(f"{base}/health", f"GET /health c={args.concurrency}", method="GET", bodies=None,
                              headers={}, requests=args.requests, concurrency=args.concurrency,
                              max_seconds=args.max_seconds)
        rows += [gen.summary(), health.summary()]
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
    print_table(rows)
    if not args.skip_embed:
        ratio = rows[2]["p50_ms"] / rows[1]["p50_ms"]  # type: ignore[operator]
        print(f"\nHTTP p50 / coalesced-embedding p50 at c={args.concurrency}: {ratio:.2f}x; "
              f"single-query embedding p50: {rows[0]['p50_ms']} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    failed = any(sum(r["errors"].values()) for r in rows[-2:])  # type: ignore[union-attr]
    return 1 if failed else 0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="a running server on a loopback address (default: spawn `kb serve`)")
    p.add_argument("--api-key", default="bench-key", help="X-API-Key to send (and to configure when spawning)")
    p.add_argument("--requests", type=int, default=10_000, help="requests per route (default 10000)")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--max-seconds", type=float, default=180.0, help="stop a route's run after this long")
    p.add_argument("--tickets", type=Path, default=TICKETS)
    p.add_argument("--server-log-level", default="INFO", help="KB_LOG_LEVEL of the spawned server")
    p.add_argument("--skip-embed", action="store_true", help="skip the bare-embedding baseline")
    p.add_argument("--json", help="also write the figures to this file")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
