"""`kb serve` as a real subprocess: Slack on the HTTP API's port, or off and saying so."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import aiohttp

from bot import messages
from tests.fakes.slack import BOT_USER_ID, TEAM_ID, FakeSlack, sign
from tests.slack_harness import COVERED, SECRET, SUPPORT, fake_slack  # noqa: F401 (fixture)
from tests.test_http_serve import KB, read_json_lines, serve_env


async def start(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        KB,
        "serve",
        env=env,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), 30)


async def test_slack_events_are_served_on_the_api_port(data_dir: Path, tmp_path: Path, fake_slack: FakeSlack) -> None:
    env = serve_env(
        KB_DATA_DIR=str(data_dir),
        KB_HOST="127.0.0.1",
        KB_PORT="0",
        KB_LOG_LEVEL="INFO",
        SLACK_BOT_TOKEN=fake_slack.bot_token,
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=fake_slack.api_url,
    )
    proc = await start(env, tmp_path)
    try:
        assert proc.stderr is not None
        startup = await read_json_lines(proc.stderr, "listening on", timeout=60)
        assert any(line["msg"] == messages.SLACK_HTTP_LOG % "/slack/events" for line in startup)
        url = startup[-1]["url"]
        ts = fake_slack.add_message(SUPPORT, f"<@{BOT_USER_ID}> {COVERED}", user="UAGENT")
        body = json.dumps(
            {
                "type": "event_callback",
                "team_id": TEAM_ID,
                "event_id": "EvServe1",
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
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{url}/slack/events", data=body, headers={"Content-Type": "application/json", **sign(body, SECRET)}
            ) as resp:
                assert resp.status == 200
            async with session.post(
                f"{url}/slack/events", data=body, headers={"Content-Type": "application/json", **sign(body, "wrong")}
            ) as resp:
                assert resp.status == 401
        [update] = await fake_slack.wait_for("chat.update", where=lambda c: bool(c.body.get("blocks")))
        assert fake_slack.calls_to("chat.postMessage")[0].body["thread_ts"] == ts
        assert update.token == fake_slack.bot_token
        await stop(proc)
        rest = (await proc.stderr.read()).decode()
        assert SECRET not in rest and fake_slack.bot_token not in rest
    finally:
        await stop(proc)


async def test_without_slack_tokens_the_server_says_slack_is_off(data_dir: Path, tmp_path: Path) -> None:
    env = serve_env(KB_DATA_DIR=str(data_dir), KB_HOST="127.0.0.1", KB_PORT="0", KB_LOG_LEVEL="INFO")
    proc = await start(env, tmp_path)
    try:
        assert proc.stderr is not None
        startup = await read_json_lines(proc.stderr, "listening on", timeout=60)
        assert messages.SLACK_OFF_LOG in [line["msg"] for line in startup]
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{startup[-1]['url']}/slack/events", data="{}") as resp,
        ):
            assert resp.status in (404, 405)
    finally:
        await stop(proc)
