"""Slack door latency on the embedded default: ack p50/p99 and event-to-updated-answer.

    python bench/slack_ack.py                        # 400 signed requests at 10/s (half /kb, half app_mention)
    python bench/slack_ack.py --requests 1000 --rate 20

`kb serve` runs in its own process in HTTP mode (SLACK_API_URL pointing at the fake Slack of
tests/fakes/slack.py, which runs here with the load generator). Each request is signed like
Slack's. Measured, from this process:

- ack: time from sending a signed request to its HTTP 200 (Slack's limit is 3 s), sent open-loop
  at --rate per second, so acks compete with the answers still being computed;
- event → answer: from sending an app_mention to the fake receiving the chat.update that puts the
  answer into the placeholder; and /kb → answer via response_url. Once idle (one at a time), once
  under the load above.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.slack import BOT_USER_ID, TEAM_ID, FakeSlack, sign  # noqa: E402

SECRET = "bench-signing-secret"
CHANNEL = "CBENCH"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] if ordered else float("nan")


def line(name: str, values: list[float]) -> str:
    return (
        f"{name:44} n={len(values):>4}  p50={pct(values, 0.5):7.1f} ms  p90={pct(values, 0.9):7.1f} ms  "
        f"p99={pct(values, 0.99):7.1f} ms  max={max(values, default=float('nan')):7.1f} ms"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def load_tickets() -> list[str]:
    path = ROOT / "examples" / "kb" / "tickets.jsonl"
    return [json.loads(x)["ticket"] for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


class Bench:
    def __init__(self, fake: FakeSlack, base: str, session: aiohttp.ClientSession, tickets: list[str]) -> None:
        self.fake, self.base, self.session, self.tickets = fake, base, session, tickets
        self.n = 0

    async def _post(self, body: str, content_type: str) -> float:
        headers = {"Content-Type": content_type, **sign(body, SECRET)}
        started = time.perf_counter()
        async with self.session.post(f"{self.base}/slack/events", data=body.encode(), headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                raise SystemExit(f"/slack/events answered {resp.status}")
        return (time.perf_counter() - started) * 1000

    async def mention(self) -> tuple[float, str, float]:
        """Send an app_mention; returns (ack ms, thread ts, monotonic send time)."""
        self.n += 1
        text = f"<@{BOT_USER_ID}> {self.tickets[self.n % len(self.tickets)]}"
        ts = self.fake.add_message(CHANNEL, text, user="UAGENT")
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": TEAM_ID,
                "api_app_id": "AKB",
                "event_id": f"Ev{uuid.uuid4().hex[:12]}",
                "event_time": int(time.time()),
                "event": {
                    "type": "app_mention",
                    "user": "UAGENT",
                    "text": text,
                    "ts": ts,
                    "channel": CHANNEL,
                    "event_ts": ts,
                },
            }
        )
        sent = time.monotonic()
        return await self._post(body, "application/json"), ts, sent

    async def command(self) -> tuple[float, str, float]:
        """Send `/kb draft …`; returns (ack ms, response_url key, monotonic send time)."""
        self.n += 1
        key = f"k{self.n}"
        body = urlencode(
            {
                "command": "/kb",
                "text": f"draft {self.tickets[self.n % len(self.tickets)]}",
                "user_id": "UAGENT",
                "channel_id": CHANNEL,
                "team_id": TEAM_ID,
                "api_app_id": "AKB",
                "response_url": self.fake.response_url(key),
                "trigger_id": f"t.{self.n}",
            }
        )
        sent = time.monotonic()
        return await self._post(body, "application/x-www-form-urlencoded"), key, sent

    def answered_at(self, thread_ts: str) -> float | None:
        placeholder = next(
            (
                c
                for c in self.fake.calls_to("chat.postMessage")
                if c.body.get("thread_ts") == thread_ts and c.body.get("channel") == CHANNEL
            ),
            None,
        )
        if placeholder is None:
            return None
        msg = next(
            (m for m in self.fake.history[CHANNEL] if m.get("thread_ts") == thread_ts and m.get("user") == BOT_USER_ID),
            None,
        )
        if msg is None:
            return None
        update = next(
            (c for c in self.fake.calls_to("chat.update") if c.body.get("ts") == msg["ts"] and c.body.get("blocks")),
            None,
        )
        return update.at if update else None

    def responded_at(self, key: str) -> float | None:
        return next((c.at for c in self.fake.calls_to("response_url") if c.key == key), None)

    async def wait_all(self, pending: list[tuple[str, str, float]], timeout: float = 120) -> list[float]:
        deadline = time.monotonic() + timeout
        out: list[float] = []
        while pending and time.monotonic() < deadline:
            left = []
            for kind, ident, sent in pending:
                at = self.answered_at(ident) if kind == "event" else self.responded_at(ident)
                if at is None:
                    left.append((kind, ident, sent))
                else:
                    out.append((at - sent) * 1000)
            pending = left
            await asyncio.sleep(0.02)
        if pending:
            raise SystemExit(f"{len(pending)} answers did not arrive within {timeout} s")
        return out


async def run(args: argparse.Namespace) -> None:
    tickets = load_tickets()
    async with FakeSlack(bot_token="xoxb-bench") as fake:
        data_dir = Path(args.data_dir) if args.data_dir else Path(tempfile.mkdtemp(prefix="kb-slack-bench-"))
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KB_", "SLACK_", "OPENAI_", "PINECONE_"))}
        env.update(
            KB_DATA_DIR=str(data_dir),
            KB_HOST="127.0.0.1",
            KB_PORT=str(port),
            KB_LOG_LEVEL="WARNING",
            SLACK_BOT_TOKEN="xoxb-bench",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=fake.api_url,
            KB_ESCALATION_CHANNEL="CESCALATE",
            KB_ESCALATION_MENTION="SONCALL",
        )
        log = open(data_dir / "serve.log", "wb")  # noqa: SIM115 (closed below)
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("kb")), "serve"], env=env, cwd=data_dir, stdout=log, stderr=log
        )
        base = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
                await wait_ready(session, base, proc)
                bench = Bench(fake, base, session, tickets)
                for _ in range(5):  # warm: auth.test, the model's first runs, keep-alive connections
                    await bench.wait_all([("event", *(await bench.mention())[1:])])

                idle_event, idle_cmd, idle_ack = [], [], []
                for _ in range(args.idle):
                    ms, ts, sent = await bench.mention()
                    idle_event += await bench.wait_all([("event", ts, sent)])
                    idle_ack.append(ms)
                    ms, key, sent = await bench.command()
                    idle_cmd += await bench.wait_all([("command", key, sent)])
                    idle_ack.append(ms)

                acks: dict[str, list[float]] = {"command": [], "event": []}
                pending: list[tuple[str, str, float]] = []

                async def one(i: int) -> None:
                    kind = "command" if i % 2 else "event"
                    ms, ident, sent = await (bench.command() if kind == "command" else bench.mention())
                    acks[kind].append(ms)
                    pending.append((kind, ident, sent))

                started = time.monotonic()
                tasks = []
                for i in range(args.requests):  # open loop: one request every 1/rate s
                    await asyncio.sleep(max(0.0, started + i / args.rate - time.monotonic()))
                    tasks.append(asyncio.create_task(one(i)))
                await asyncio.gather(*tasks)
                load_event = await bench.wait_all([p for p in pending if p[0] == "event"])
                load_cmd = await bench.wait_all([p for p in pending if p[0] == "command"])
                elapsed = time.monotonic() - started
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            log.close()

    print(f"kb serve (embedded default, HTTP mode) on {base}; fake Slack Web API on {fake.api_url}")
    print(
        f"{args.requests} signed requests at {args.rate}/s open loop ({elapsed:.1f} s incl. answers), "
        f"{len(fake.calls)} Web API calls received"
    )
    print(line("ack, idle (one request at a time)", idle_ack))
    print(line("ack /kb draft (slash command)", acks["command"]))
    print(line("ack app_mention (event)", acks["event"]))
    print(line("ack, all", acks["command"] + acks["event"]))
    print(line("event -> updated answer, idle", idle_event))
    print(line("/kb -> answer via response_url, idle", idle_cmd))
    print(line(f"event -> updated answer, at {args.rate}/s", load_event))
    print(line(f"/kb -> answer via response_url, at {args.rate}/s", load_cmd))


async def wait_ready(session: aiohttp.ClientSession, base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"kb serve exited with {proc.returncode}")
        try:
            async with session.get(f"{base}/health") as resp:
                if resp.status == 200 and (await resp.json()).get("chunks", 0) > 0:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.25)
    raise SystemExit("kb serve not ready after 300 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400, help="signed requests under load (>= 200)")
    parser.add_argument("--rate", type=float, default=10.0, help="requests a second, open loop")
    parser.add_argument("--idle", type=int, default=30, help="one-at-a-time events and commands for the idle figure")
    parser.add_argument("--data-dir", help="reuse an ingested KB_DATA_DIR (default: a fresh one, seeded)")
    args = parser.parse_args()
    if args.requests < 200:
        parser.error("--requests must be at least 200")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
