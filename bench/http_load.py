"""Load run of the HTTP API on the embedded default: req/s and p50/p95/p99, next to bare embedding.

    python bench/http_load.py                       # spawns `kb serve` on a free loopback port
    python bench/http_load.py --url http://127.0.0.1:8000 --api-key KEY --requests 10000

Two ticket sets, because the cost of a request is the cost of embedding its text: "short"
(one-line tickets, ~10 tokens, like an e-mail subject or the README's curl) and "sample"
(examples/kb/tickets.jsonl, full customer messages, ~65 tokens). Each gets its own
bare-embedding baseline on the same texts.

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
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.bench import timed_request

ROOT = Path(__file__).resolve().parent.parent
TICKETS = ROOT / "examples" / "kb" / "tickets.jsonl"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class Run:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    cpu_ms_per_req: float | None = None  # CPU of this process (all threads) per request

    def summary(self) -> dict[str, Any]:
        lat = sorted(self.latencies_ms)

        def q(p: float) -> float:
            return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

        done = len(lat) + sum(self.errors.values())
        return {
            "name": self.name,
            "requests": done,
            "ok": len(lat),
            "errors": self.errors,
            "seconds": round(self.seconds, 2),
            "req_per_s": round(done / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(q(0.50), 1),
            "p95_ms": round(q(0.95), 1),
            "p99_ms": round(q(0.99), 1),
            **({"server_cpu_ms_per_req": round(self.cpu_ms_per_req, 2)} if self.cpu_ms_per_req else {}),
        }


SHORT_TICKETS = [
    "I was charged twice this month",
    "How do I reset my password?",
    "The password reset link expired",
    "I lost my phone with the authenticator app",
    "How do I export my timesheets to CSV?",
    "Can I get a refund after cancelling?",
    "My card payment failed",
    "Where do I find my invoices?",
    "How do I add our VAT number to invoices?",
    "The timer stopped and I lost my time entries",
    "The mobile app is not syncing",
    "The browser extension does not show up",
    "SSO login fails with SAML error",
    "How do I connect Jira?",
    "Slack integration stopped posting",
    "QuickBooks sync shows an error",
    "How do I change my e-mail address?",
    "How do I transfer ownership of the workspace?",
    "Please delete my account",
    "How do I export all workspace data?",
    "What does error code 409 mean?",
    "Which plan includes SSO?",
    "How do I create an account for my team?",
    "Webhook deliveries are failing",
]


def token_lengths(texts: list[str]) -> float:
    from rag.embedders.local import LocalEmbedder

    tokenizer = LocalEmbedder()._tokenizer
    return statistics.mean(len(tokenizer.encode(t).ids) for t in texts)


def load_tickets(path: Path) -> list[str]:
    tickets = [json.loads(line)["ticket"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    # Variety without an answer cache to hit: each ticket also with a short suffix of its own.
    return tickets + [f"{t} (ref {i})" for i, t in enumerate(tickets)]


async def hammer(
    url: str,
    name: str,
    *,
    method: str,
    bodies: list[bytes] | None,
    headers: dict[str, str],
    requests: int,
    concurrency: int,
    max_seconds: float,
) -> Run:
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
            await timed_request(session, method, url, body, headers, run.latencies_ms, run.errors)

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        # Warm the pool and the server (model arena, caches) outside the measured window.
        async def warm(i: int) -> None:
            async with session.request(
                method, url, data=bodies[i % len(bodies)] if bodies else None, headers=headers
            ) as resp:
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

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        concurrent.seconds = time.perf_counter() - started
        concurrent.cpu_ms_per_req = 1000 * (time.process_time() - cpu) / requests
    finally:
        await embedder.close()
    return single, concurrent


def cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), None where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_server(api_key: str, log_level: str) -> tuple[subprocess.Popen[bytes], str, Path]:
    data_dir = Path(tempfile.mkdtemp(prefix="kb-load-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KB_", "SLACK_", "OPENAI_", "PINECONE_"))}
    env.update(
        KB_DATA_DIR=str(data_dir),
        KB_HOST="127.0.0.1",
        KB_PORT=str(port),
        KB_API_KEYS=api_key,
        KB_RATE_LIMIT_PER_MIN="0",
        KB_LOG_LEVEL=log_level,
    )
    kb = Path(sys.executable).with_name("kb")
    proc = subprocess.Popen(
        [str(kb), "serve"], env=env, cwd=data_dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
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


def print_table(rows: list[dict[str, Any]]) -> None:
    print(
        f"{'run':52} {'requests':>8} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'CPU ms/req':>17}"
    )
    for r in rows:
        errors = sum(r["errors"].values()) if isinstance(r["errors"], dict) else 0
        print(
            f"{r['name']!s:52} {r['requests']:>8} {errors:>6} {r['req_per_s']:>8} {r['p50_ms']:>8} "
            f"{r['p95_ms']:>8} {r['p99_ms']:>8} {r.get('server_cpu_ms_per_req', ''):>17}"
        )


async def main(args: argparse.Namespace) -> int:
    proc = data_dir = None
    if args.url:
        if urlsplit(args.url).hostname not in LOOPBACK:
            raise SystemExit("refusing: this load generator only targets loopback addresses")
        base = args.url.rstrip("/")
    else:
        proc, base, data_dir = spawn_server(args.api_key, args.server_log_level)
    sets = {"short": SHORT_TICKETS, "sample": load_tickets(args.tickets)}
    budget = {"short": args.requests, "sample": args.requests_sample}
    rows: list[dict[str, Any]] = []
    ratios = []
    try:
        await wait_ready(base, proc)
        headers = {"X-API-Key": args.api_key, "Content-Type": "application/json"}
        for name in args.sets.split(","):
            tickets = sets[name]
            print(
                f"[{name}] {len(tickets)} distinct tickets, {token_lengths(tickets):.0f} tokens on average", flush=True
            )
            if not args.skip_embed:
                single, concurrent = await bare_embedding(tickets, min(budget[name], 2000), args.concurrency)
                single.name, concurrent.name = f"[{name}] {single.name}", f"[{name}] {concurrent.name}"
                rows += [single.summary(), concurrent.summary()]
            bodies = [json.dumps({"ticket": t}).encode() for t in tickets]
            cpu_before = cpu_seconds(proc.pid if proc else None)
            gen = await hammer(
                f"{base}/api/v1/generate-response",
                f"[{name}] POST /api/v1/generate-response c={args.concurrency}",
                method="POST",
                bodies=bodies,
                headers=headers,
                requests=budget[name],
                concurrency=args.concurrency,
                max_seconds=args.max_seconds,
            )
            rows.append(gen.summary())
            cpu_after = cpu_seconds(proc.pid if proc else None)
            if cpu_before is not None and cpu_after is not None:
                # includes the warm-up requests; ONNX threads count too
                rows[-1]["server_cpu_ms_per_req"] = round(1000 * (cpu_after - cpu_before) / (budget[name] + 64), 2)
            if not args.skip_embed:
                ratios.append((name, rows[-1]["p50_ms"], rows[-2]["p50_ms"], rows[-3]["p50_ms"]))
        health = await hammer(
            f"{base}/health",
            f"GET /health c={args.concurrency}",
            method="GET",
            bodies=None,
            headers={},
            requests=args.requests,
            concurrency=args.concurrency,
            max_seconds=args.max_seconds,
        )
        rows.append(health.summary())
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=60)
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)
    print()
    print_table(rows)
    for name, http_p50, coalesced_p50, single_p50 in ratios:
        print(
            f"[{name}] HTTP p50 {http_p50} ms = {http_p50 / coalesced_p50:.2f}x the coalesced-embedding p50 "
            f"at c={args.concurrency} ({coalesced_p50} ms); single-query embedding p50 {single_p50} ms"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    http_rows = [r for r in rows if "embed" not in str(r["name"])]
    failed = any(sum(r["errors"].values()) for r in http_rows)
    return 1 if failed else 0


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", help="a running server on a loopback address (default: spawn `kb serve`)")
    p.add_argument("--api-key", default="bench-key", help="X-API-Key to send (and to configure when spawning)")
    p.add_argument("--requests", type=int, default=10_000, help="requests on the short set and /health")
    p.add_argument("--requests-sample", type=int, default=3_000, help="requests on the sample set")
    p.add_argument("--sets", default="short,sample", help="ticket sets to run: short, sample")
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--max-seconds", type=float, default=180.0, help="stop a route's run after this long")
    p.add_argument("--tickets", type=Path, default=TICKETS, help="JSONL of the sample set")
    p.add_argument("--server-log-level", default="INFO", help="KB_LOG_LEVEL of the spawned server")
    p.add_argument("--skip-embed", action="store_true", help="skip the bare-embedding baseline")
    p.add_argument("--json", help="also write the figures to this file")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
