"""How replicas share the KB catalog: through real HTTP into two apps while the KB changes under them.

Two ways (README, "Running several replicas"): replicas on one volume share one data dir, and a
`kb ingest` elsewhere shows up in every replica within a second; replicas with their own data dir get
the KB from `kb snapshot --into DIR`, adopted without a restart. In both, no request fails during
the change.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.cli import main as kb
from bot.http.app import build_http_app
from ingest.pipeline import ingest
from rag.embedders.local import LocalEmbedder
from rag.engine import Engine
from rag.factory import build_engine
from tests.conftest import make_settings

KEY = "replica-key"
AUTH = {"X-API-Key": KEY, "Content-Type": "application/json"}
NEW_TICKET = "How do I pair the Zorblax 9 handheld scanner with a warehouse station?"
NEW_ARTICLE = """---
title: Pairing the Zorblax 9 handheld scanner
---
# Pairing the Zorblax 9 handheld scanner

To pair a Zorblax 9 handheld scanner with a warehouse station, hold the scanner's trigger for five
seconds until the light blinks blue, then choose Settings > Devices > Pair scanner on the station.
The scanner beeps twice once it is paired.
"""

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def write_new_article(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "zorblax-scanner.md").write_text(NEW_ARTICLE, encoding="utf-8")
    return folder


async def replica(aiohttp_client: ClientFactory, data_dir: Path, embedder: LocalEmbedder) -> tuple[Engine, Any]:
    """One replica: its own engine (its own catalog connection) and HTTP app on `data_dir`."""
    settings = make_settings(data_dir, kb_api_keys=KEY, kb_rate_limit_per_min=0)
    engine = build_engine(settings, embedder=embedder)
    return engine, await aiohttp_client(build_http_app(engine, settings))


async def top_url(client: Any) -> tuple[int, str]:
    resp = await client.post("/api/v1/search", json={"query": NEW_TICKET}, headers=AUTH)
    if resp.status != 200:
        return resp.status, await resp.text()
    sources = (await resp.json())["sources"]
    return 200, sources[0]["title"].lower() if sources else ""


async def until_new_article(clients: list[Any], timeout_s: float = 10.0) -> list[int]:
    """Ask every replica continuously until each ranks the new article first; every status seen."""
    statuses: list[int] = []
    found = [False] * len(clients)
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not all(found) and asyncio.get_running_loop().time() < deadline:
        for i, client in enumerate(clients):
            status, url = await top_url(client)
            statuses.append(status)
            found[i] = found[i] or "zorblax" in url
        await asyncio.sleep(0.05)
    assert all(found), f"replicas that never saw the new article: {[i for i, f in enumerate(found) if not f]}"
    return statuses


@pytest.fixture
async def engines() -> AsyncIterator[list[Engine]]:
    made: list[Engine] = []
    yield made
    for engine in made:
        await engine.close()


async def test_replicas_on_one_data_dir_see_an_ingest_from_another_process_without_errors(
    aiohttp_client: ClientFactory, data_dir: Path, embedder: LocalEmbedder, engines: list[Engine], tmp_path: Path
) -> None:
    one, client_one = await replica(aiohttp_client, data_dir, embedder)
    two, client_two = await replica(aiohttp_client, data_dir, embedder)
    engines += [one, two]
    for client in (client_one, client_two):
        assert "zorblax" not in (await top_url(client))[1]

    async def ingest_elsewhere() -> None:  # a third catalog connection, as `kb ingest` has
        writer = build_engine(make_settings(data_dir), embedder=embedder)
        try:
            summary = await ingest(writer.kb, [write_new_article(tmp_path / "new-articles")])
            assert summary.articles_changed == 1, summary.line()
        finally:
            await writer.close()

    statuses, _ = await asyncio.gather(until_new_article([client_one, client_two]), ingest_elsewhere())
    assert set(statuses) == {200}


async def test_a_snapshot_published_into_a_replicas_data_dir_is_adopted_without_restart_or_errors(
    aiohttp_client: ClientFactory,
    sample_data_dir: Path,
    embedder: LocalEmbedder,
    engines: list[Engine],
    tmp_path: Path,
) -> None:
    builder = tmp_path / "builder"
    shutil.copytree(sample_data_dir, builder)
    writer = build_engine(make_settings(builder), embedder=embedder)
    try:
        await ingest(writer.kb, [write_new_article(tmp_path / "new-articles")])
    finally:
        await writer.close()
    replica_dir = tmp_path / "replica"
    shutil.copytree(sample_data_dir, replica_dir)
    engine, client = await replica(aiohttp_client, replica_dir, embedder)
    engines.append(engine)
    sample_articles = engine.kb.counts()[0]
    assert "zorblax" not in (await top_url(client))[1]

    async def publish() -> None:
        await asyncio.sleep(0.2)  # requests are already flowing
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.cli",
            "snapshot",
            "--data-dir",
            str(builder),
            "--into",
            str(replica_dir),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        assert proc.returncode == 0
        assert "kb.sqlite3.next" in out.decode()

    statuses, _ = await asyncio.gather(until_new_article([client]), publish())
    assert set(statuses) == {200}
    assert not (replica_dir / "kb.sqlite3.next").exists()
    # The adopted catalog is the replica's own now: it survives a restart.
    engine_after = build_engine(make_settings(replica_dir), embedder=embedder)
    engines.append(engine_after)
    assert engine_after.kb.counts() == engine.kb.counts()
    assert engine_after.kb.counts()[0] == sample_articles + 1
    assert "zorblax" in (await engine_after.kb.search(NEW_TICKET)).articles[0].article_id


async def test_a_snapshot_built_with_another_embedding_model_is_refused_and_the_old_kb_keeps_answering(
    aiohttp_client: ClientFactory, data_dir: Path, embedder: LocalEmbedder, engines: list[Engine], tmp_path: Path
) -> None:
    engine, client = await replica(aiohttp_client, data_dir, embedder)
    engines.append(engine)
    before = engine.kb.counts()
    other = tmp_path / "other.sqlite3"
    assert await asyncio.to_thread(kb, ["snapshot", "--data-dir", str(data_dir), "--file", str(other)]) == 0
    db = sqlite3.connect(other)
    db.execute("UPDATE meta SET value='text-embedding-3-small' WHERE key='embedding_model'")
    db.commit()
    db.close()
    other.replace(data_dir / "kb.sqlite3.next")

    await asyncio.sleep(1.1)  # past the once-a-second check
    resp = await client.post("/api/v1/search", json={"query": "reset my password"}, headers=AUTH)
    assert resp.status == 200
    assert (await resp.json())["sources"]
    assert (data_dir / "kb.sqlite3.next.rejected").exists()
    assert engine.kb.counts() == before
    assert engine.kb.catalog.meta("embedding_model") != "text-embedding-3-small"


def test_kb_snapshot_needs_one_target_and_never_overwrites_its_own_catalog(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert kb(["snapshot", "--data-dir", str(data_dir)]) == 2
    assert "--into DATA_DIR" in capsys.readouterr().err
    assert kb(["snapshot", "--data-dir", str(data_dir), "--file", str(data_dir / "kb.sqlite3")]) == 1
    assert "catalog being copied" in capsys.readouterr().err
    empty = data_dir.parent / "empty"
    empty.mkdir()
    assert kb(["snapshot", "--data-dir", str(empty), "--into", str(data_dir)]) == 1
    assert "is empty" in capsys.readouterr().err


async def test_a_stopped_replica_adopts_a_published_snapshot_when_it_next_opens_its_catalog(
    sample_data_dir: Path, embedder: LocalEmbedder, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    builder = tmp_path / "builder"
    shutil.copytree(sample_data_dir, builder)
    writer = build_engine(make_settings(builder), embedder=embedder)
    try:
        await ingest(writer.kb, [write_new_article(tmp_path / "new-articles")])
    finally:
        await writer.close()
    fresh = tmp_path / "fresh-replica"  # never ingested anything: the snapshot is its whole KB
    assert await asyncio.to_thread(kb, ["snapshot", "--data-dir", str(builder), "--into", str(fresh)]) == 0
    capsys.readouterr()
    assert await asyncio.to_thread(kb, ["sources", "--data-dir", str(fresh), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert any(s["source"].endswith("new-articles") for s in listed["sources"]), listed
    assert (fresh / "kb.sqlite3").exists() and not (fresh / "kb.sqlite3.next").exists()
