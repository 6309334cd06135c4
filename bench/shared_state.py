"""What the shared state on Redis costs: Slack ack latency and HTTP throughput, Redis off vs on.

    python bench/shared_state.py                            # 300 events at 20/s, 2,000 requests a row
    python bench/shared_state.py --events 1000 --http 5000 --rounds 2

In one run, the same `kb serve` (HTTP mode, embedded default, sample KB) is started twice on the
same data dir: without KB_REDIS_URL (in-process state), then with a local redis-server this
script starts (`--save '' --appendonly no`). Measured from this process against each:

- Slack ack: signed app_mention events into /slack/events, open loop at --rate a second (each
  ack first claims the event id: SET NX in Redis); answers are awaited before the HTTP rows;
- HTTP, closed loop at --concurrency: GET /health (pings Redis), POST /api/v1/required-data with
  an API key (the rate-limit bucket: one Lua call; the limit is set too high to refuse), and the
  same with a fresh Idempotency-Key each (reserve with SET NX, then store the answer).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.slack_ack import SECRET, Bench, free_port, load_tickets, pct, wait_ready  # noqa: E402
from tests.fakes.slack import FakeSlack  # noqa: E402

API_KEY = "bench-key"
SHORT_TICKET = "I was charged twice this month"


@dataclass
class Row:
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds

    def cell(self) -> str:
        return f"{self.per_s:,.0f} req/s (p99 {pct(self.latencies_ms, 0.99):.1f} ms)"


def start_redis(folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return proc, f"redis://127.0.0.1:{port}/0"


def spawn_serve(data_dir: Path, fake: FakeSlack, redis_url: str | None) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KB_", "SLACK_", "OPENAI_", "PINECONE_"))}
    env.update(
        KB_DATA_DIR=str(data_dir),
        KB_HOST="127.0.0.1",
        KB_PORT=str(port),
        KB_LOG_LEVEL="WARNING",
        KB_API_KEYS=API_KEY,
        KB_RATE_LIMIT_PER_MIN="100000000",  # counted, never refused
        SLACK_BOT_TOKEN="xoxb-bench",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake.api_url,
        KB_ESCALATION_CHANNEL="CESCALATE",
        KB_ESCALATION_MENTION="SONCALL",
    )
    if redis_url:
        env["KB_REDIS_URL"] = redis_url
    log = open(data_dir / f"serve-{'redis' if redis_url else 'memory'}.log", "ab")  # noqa: SIM115 (child keeps it)
    proc = subprocess.Popen(
        [str(Path(sys.executable).with_name("kb")), "serve"], env=env, cwd=data_dir, stdout=log, stderr=log
    )
    log.close()
    return proc, f"http://127.0.0.1:{port}"


async def slack_acks(bench: Bench, events: int, rate: float) -> list[float]:
    for _ in range(5):  # warm: auth.test, the model's first runs, keep-alive connections
        await bench.wait_all([("event", *(await bench.mention())[1:])])
    acks: list[float] = []
    pending: list[tuple[str, str, float]] = []

    async def one() -> None:
        ms, ts, sent = await bench.mention()
        acks.append(ms)
        pending.append(("event", ts, sent))

    started = time.monotonic()
    tasks = []
    for i in range(events):  # open loop: one event every 1/rate s
        await asyncio.sleep(max(0.0, started + i / rate - time.monotonic()))
        tasks.append(asyncio.create_task(one()))
    await asyncio.gather(*tasks)
    await bench.wait_all(pending)  # answers done before the HTTP rows start
    return acks


async def hammer(session: aiohttp.ClientSession, base: str, kind: str, requests: int, concurrency: int) -> Row:
    latencies: list[float] = []
    left = min(requests, 4 * concurrency)  # warm-up round, not counted

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            started = time.perf_counter()
            if kind == "health":
                request = session.get(f"{base}/health")
            else:
                headers = {"X-API-Key": API_KEY}
                if kind == "idempotent":
                    headers["Idempotency-Key"] = uuid.uuid4().hex
                request = session.post(f"{base}/api/v1/required-data", json={"ticket": SHORT_TICKET}, headers=headers)
            async with request as resp:
                await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"{kind}: HTTP {resp.status}")
            latencies.append((time.perf_counter() - started) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    latencies.clear()
    left = requests
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return Row(requests, time.perf_counter() - started, latencies)


async def measure(fake: FakeSlack, data_dir: Path, redis_url: str | None, args: argparse.Namespace) -> dict[str, Any]:
    proc, base = spawn_serve(data_dir, fake, redis_url)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as session:
            await wait_ready(session, base, proc)
            health = await (await session.get(f"{base}/health")).json()
            assert health["shared_state"]["backend"] == ("redis" if redis_url else "memory"), health
            acks = await slack_acks(Bench(fake, base, session, load_tickets()), args.events, args.rate)
            kinds = ("health", "api", "idempotent")
            rows = {k: await hammer(session, base, k, args.http, args.concurrency) for k in kinds}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    return {"acks": acks, **rows}


async def run(args: argparse.Namespace) -> None:
    folder = Path(tempfile.mkdtemp(prefix="kb-shared-bench-"))
    redis_proc, redis_url = start_redis(folder)
    results: list[tuple[str, dict[str, Any]]] = []
    try:
        async with FakeSlack(bot_token="xoxb-bench") as fake:
            for _ in range(args.rounds):
                for name, url in (("memory", None), ("redis", redis_url)):
                    results.append((name, await measure(fake, folder, url, args)))
    finally:
        redis_proc.terminate()
        redis_proc.wait(10)
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"kb serve (HTTP mode, embedded default, sample KB); {args.events} signed app_mention events at "
        f"{args.rate:g}/s; {args.http} HTTP requests a row at concurrency {args.concurrency}"
    )
    print("| shared state | Slack ack p50 | Slack ack p99 | GET /health | POST required-data | + Idempotency-Key |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in results:
        acks = r["acks"]
        print(
            f"| {name} | {pct(acks, 0.5):.1f} ms | {pct(acks, 0.99):.1f} ms | {r['health'].cell()} "
            f"| {r['api'].cell()} | {r['idempotent'].cell()} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=300, help="signed Slack events per run")
    parser.add_argument("--rate", type=float, default=20.0, help="events a second, open loop")
    parser.add_argument("--http", type=int, default=2000, help="HTTP requests per row")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1, help="memory then redis, this many times")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
