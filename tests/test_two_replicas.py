"""Two `kb serve` replicas (real subprocesses, each with its own data dir) sharing Redis and PostgreSQL.

What a load balancer in front of them must not break: Slack's redelivery of an event is answered
once, one API key is limited as one key, an Idempotency-Key stored by one replica is replayed by
the other, and feedback given through one is in `kb feedback` on the other's host.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.slack import BOT_USER_ID, TEAM_ID, FakeSlack, sign
from tests.postgres_server import PostgresServer, postgres_server, postgres_url  # noqa: F401 (fixtures)
from tests.redis_server import PASSWORD as REDIS_PASSWORD
from tests.redis_server import RedisServer, redis_server  # noqa: F401 (fixture)
from tests.slack_harness import COVERED, SECRET, SUPPORT, fake_slack  # noqa: F401 (fixture)
from tests.test_http_serve import KB, read_json_lines, serve_env
from tests.test_slack_serve import start, stop

LIMITED, OTHER = "replica-key-limited", "replica-key-other"
LIMIT = 10  # KB_RATE_LIMIT_PER_MIN


def signed_mention(event_id: str, ts: str) -> tuple[str, dict[str, str]]:
    body = json.dumps(
        {
            "type": "event_callback",
            "team_id": TEAM_ID,
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {
                "type": "app_mention",
                "user": "UAGENT",
                "channel": SUPPORT,
                "ts": ts,
                "text": f"<@{BOT_USER_ID}> {COVERED}",
            },
        }
    )
    return body, {"Content-Type": "application/json", **sign(body, SECRET)}


async def test_two_replicas_answer_an_event_once_limit_a_key_as_one_replay_idempotency_and_share_feedback(
    sample_data_dir: Path,
    tmp_path: Path,
    fake_slack: FakeSlack,
    redis_server: RedisServer,  # noqa: F811
    postgres_url: str,  # noqa: F811
) -> None:
    shared = {
        "KB_HOST": "127.0.0.1",
        "KB_PORT": "0",
        "KB_LOG_LEVEL": "INFO",
        "KB_API_KEYS": f"{LIMITED},{OTHER}",
        "KB_RATE_LIMIT_PER_MIN": str(LIMIT),
        "KB_REDIS_URL": redis_server.url,
        "KB_DATABASE_URL": postgres_url,
        "SLACK_BOT_TOKEN": fake_slack.bot_token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": fake_slack.api_url,
    }
    envs, procs, urls = [], [], []
    for name in ("replica-a", "replica-b"):  # two hosts: each its own copy of the KB
        data_dir = tmp_path / name
        shutil.copytree(sample_data_dir, data_dir)
        envs.append(serve_env(KB_DATA_DIR=str(data_dir), **shared))
        procs.append(await start(envs[-1], tmp_path))
    try:
        for proc in procs:
            assert proc.stderr is not None
            startup = await read_json_lines(proc.stderr, "listening on", timeout=90)
            urls.append(startup[-1]["url"])
        a, b = urls
        async with aiohttp.ClientSession() as http:
            # 1. Slack redelivers an event to the other replica (same event_id): one answer in the thread.
            ts = fake_slack.add_message(SUPPORT, f"<@{BOT_USER_ID}> {COVERED}", user="UAGENT")
            body, headers = signed_mention("EvTwoReplicas1", ts)

            async def deliver(url: str, retry: int) -> int:
                extra = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
                async with http.post(f"{url}/slack/events", data=body, headers={**headers, **extra}) as resp:
                    return resp.status

            assert await asyncio.gather(deliver(a, 0), deliver(b, 1)) == [200, 200]
            await fake_slack.wait_for("chat.update", where=lambda c: bool(c.body.get("blocks")))
            await asyncio.sleep(1.0)  # time for a second answer, were there one
            in_thread = [c for c in fake_slack.calls_to("chat.postMessage") if c.body.get("thread_ts") == ts]
            assert len(in_thread) == 1, in_thread

            # 2. One API key across both replicas is limited as one key.
            statuses: list[int] = []
            for i in range(2 * LIMIT):
                url = (a, b)[i % 2]
                async with http.post(
                    f"{url}/api/v1/search", json={"query": "reset my password"}, headers={"X-API-Key": LIMITED}
                ) as resp:
                    statuses.append(resp.status)
            assert set(statuses) <= {200, 429}
            assert LIMIT <= statuses.count(200) <= LIMIT + 1, statuses  # +1: a token may refill meanwhile

            # 3. An Idempotency-Key answered by one replica is replayed by the other.
            key = {"X-API-Key": OTHER, "Idempotency-Key": f"n8n-{uuid.uuid4()}"}
            ticket = {"ticket": COVERED}
            async with http.post(f"{a}/api/v1/generate-response", json=ticket, headers=key) as resp:
                assert resp.status == 200
                first: dict[str, Any] = await resp.json()
            async with http.post(f"{b}/api/v1/generate-response", json=ticket, headers=key) as resp:
                assert resp.status == 200
                assert resp.headers.get("Idempotent-Replayed") == "true"
                assert await resp.json() == first

            # 4. Feedback on replica A's answer, given through replica B ...
            rating = {
                "request_id": first["request_id"],
                "rating": "down",
                "comment": "Wrong plan quoted",
            }
            async with http.post(f"{b}/api/v1/feedback", json=rating, headers={"X-API-Key": OTHER}) as resp:
                assert resp.status == 201, await resp.text()
    finally:
        for proc in procs:
            await stop(proc)

    # ... is reported by `kb feedback` on replica A's host.
    report = await asyncio.create_subprocess_exec(
        KB, "feedback", env=envs[0], cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await report.communicate()
    assert report.returncode == 0, err.decode()
    assert "Wrong plan quoted" in out.decode()
    assert REDIS_PASSWORD not in (out + err).decode()
