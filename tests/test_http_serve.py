"""`kb serve` as a real subprocess: first start ingests the sample KB, answers, stops cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.server import DEFAULT_SAMPLE_KB
from tests.conftest import SAMPLE_KB

KB = str(Path(sys.executable).with_name("kb"))
KEY = "serve-test-key"
ARTICLES = ("reset-your-password.md", "export-timesheets.md", "two-factor-authentication.md")


def serve_env(**values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("KB_", "SLACK_", "OPENAI_", "PINECONE_"))}
    env.update(values)
    return env


async def read_json_lines(stream: asyncio.StreamReader, until: str, timeout: float) -> list[dict[str, Any]]:
    """JSON log lines from `stream` up to and including the first whose msg contains `until`."""
    lines: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            raw = await stream.readline()
            if not raw:
                raise AssertionError(f"stream ended before {until!r}; got {lines}")
            lines.append(json.loads(raw))  # every line on stderr is a JSON object
            if until in lines[-1]["msg"]:
                return lines


async def sigterm_under_load(proc: asyncio.subprocess.Process, url: str, n: int = 32) -> tuple[int, list[Any]]:
    """Send `n` answers at once, SIGTERM once several are in flight; (in flight seen, outcomes)."""
    body = {"ticket": "I lost my phone with the authenticator app and cannot log in"}
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def ask() -> Any:
            try:
                async with session.post(
                    f"{url}/api/v1/generate-response", json=body, headers={"X-API-Key": KEY}
                ) as resp:
                    payload = await resp.json()
                    assert resp.status != 200 or payload["decision"]
                    return resp.status
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
                return "disconnected"  # not yet read by the server when it stopped accepting

        tasks = [asyncio.create_task(ask()) for _ in range(n)]
        in_flight = 0.0
        async with asyncio.timeout(30):
            while in_flight < 3:
                async with session.get(f"{url}/metrics") as resp:
                    metrics = await resp.text()
                in_flight = next(
                    float(line.split()[1])
                    for line in metrics.splitlines()
                    if line.startswith("kb_http_in_flight_requests ")
                )
        proc.send_signal(signal.SIGTERM)
        return int(in_flight), list(await asyncio.gather(*tasks))


def test_default_sample_kb_is_the_examples_folder() -> None:
    assert DEFAULT_SAMPLE_KB == SAMPLE_KB and any(DEFAULT_SAMPLE_KB.glob("*.md"))


async def test_kb_serve_seeds_an_empty_kb_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    sample = tmp_path / "sample-kb"  # a few articles of examples/kb keep the first start quick
    sample.mkdir()
    for name in ARTICLES:
        shutil.copy(SAMPLE_KB / name, sample / name)
    data_dir = tmp_path / "data"
    # Slack in HTTP mode: serve's hook mounts /slack/events on the same port (no Slack call at startup).
    env = serve_env(
        KB_DATA_DIR=str(data_dir),
        KB_HOST="127.0.0.1",
        KB_PORT="0",
        KB_API_KEYS=KEY,
        KB_SAMPLE_KB=str(sample),
        KB_LOG_LEVEL="INFO",
        SLACK_BOT_TOKEN="xoxb-serve-test",
        SLACK_SIGNING_SECRET="serve-test-secret",
        SLACK_API_URL="http://127.0.0.1:9/api/",
    )
    proc = await asyncio.create_subprocess_exec(
        KB,
        "serve",
        env=env,
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stderr is not None
        startup = await read_json_lines(proc.stderr, "listening on", timeout=60)
        messages = [line["msg"] for line in startup]
        assert any("ingesting the sample KB" in m for m in messages)
        assert any(m.startswith("Sample KB ready: ingested: 3 articles") for m in messages)
        listening = startup[-1]
        assert listening["backends"] == {"embedder": "local-minilm", "store": "sqlite", "drafter": "extractive"}
        url = listening["url"]
        assert url.startswith("http://127.0.0.1:") and (data_dir / "kb.sqlite3").is_file()

        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}/health") as resp:
                health = await resp.json()
            assert resp.status == 200 and health["articles"] == 3 and health["chunks"] > 3
            async with session.post(
                f"{url}/api/v1/generate-response",
                json={"ticket": "How do I reset my password?"},
                headers={"X-API-Key": KEY, "X-Request-ID": "serve-1"},
            ) as resp:
                answer = await resp.json()
            assert resp.status == 200 and answer["request_id"] == "serve-1"
            assert answer["sources"][0]["article_id"] == "reset-your-password"
            async with session.post(f"{url}/api/v1/generate-response", json={"ticket": "x"}) as resp:
                assert resp.status == 401
            async with session.post(
                f"{url}/slack/events",
                data=b"{}",
                headers={"Content-Type": "application/json", "X-Request-ID": "slack-1"},
            ) as resp:
                assert resp.status == 401  # mounted: Bolt refuses an unsigned request (not our 404)
                assert resp.headers["X-Request-ID"] == "slack-1"  # and it went through our middleware

        # Requests in flight when SIGTERM arrives finish with their answers; then the server exits.
        in_flight, results = await sigterm_under_load(proc, url)
        assert in_flight >= 3
        answered = [r for r in results if r == 200]
        assert all(r in (200, "disconnected") for r in results), results  # never a 5xx or a cut answer
        assert len(answered) >= in_flight - 1  # those the server was working on (minus /metrics itself)
        stopping = await read_json_lines(proc.stderr, "Stopping", timeout=10)

        rest = stopping + await read_json_lines(proc.stderr, "Stopped", timeout=30)
        assert await asyncio.wait_for(proc.wait(), 30) == 0
        access = [line for line in rest if line["logger"] == "bot.http.access"]
        assert [(a["route"], a["status"]) for a in access[:4]] == [
            ("/health", 200),
            ("/api/v1/generate-response", 200),
            ("/api/v1/generate-response", 401),
            ("/slack/events", 401),
        ]
        answers_logged = [a for a in access[4:] if a["route"] == "/api/v1/generate-response"]
        assert len(answers_logged) == len(answered) and all(a["status"] == 200 for a in answers_logged)
        assert access[1]["request_id"] == "serve-1" and access[1]["decision"] in {"answer", "review", "escalate"}
        everything = json.dumps(startup + rest)
        assert "password?" not in everything and KEY not in everything and "serve-test-secret" not in everything
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3"])
async def test_kb_serve_refuses_a_public_host_without_api_keys(tmp_path: Path, host: str) -> None:
    env = serve_env(KB_DATA_DIR=str(tmp_path / "data"), KB_HOST=host, KB_PORT="0")
    proc = await asyncio.create_subprocess_exec(
        KB,
        "serve",
        env=env,
        cwd=tmp_path,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1
    assert f"Refusing to serve the HTTP API on {host} without an API key" in err.decode()
    assert not (tmp_path / "data").exists()  # refused before opening anything
