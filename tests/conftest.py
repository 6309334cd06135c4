"""Shared fixtures: an empty environment, the real MiniLM loaded once, the sample KB ingested once.

Tests build `Settings(...)` explicitly; nothing a developer exported (keys, data dirs) leaks in.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from ingest.pipeline import ingest
from rag.embedders.local import LocalEmbedder
from rag.engine import Engine
from rag.factory import build_engine
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_KB = ROOT / "examples" / "kb"
SAMPLE_TICKETS = SAMPLE_KB / "tickets.jsonl"
_PREFIXES = ("KB_", "SLACK_", "OPENAI_", "PINECONE_")


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No developer keys or settings reach a test; `.env` lookups happen in an empty folder."""
    for name in list(os.environ):
        if name.upper().startswith(_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def embedder() -> LocalEmbedder:
    """The real packaged model, loaded once for the whole run."""
    return LocalEmbedder()


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(kb_data_dir=data_dir, _env_file=None, **overrides)  # type: ignore[call-arg]


@pytest.fixture(scope="session")
def sample_data_dir(tmp_path_factory: pytest.TempPathFactory, embedder: LocalEmbedder) -> Path:
    """A data dir with examples/kb ingested once; tests copy it rather than re-ingest."""
    data_dir = tmp_path_factory.mktemp("sample-kb-data")

    async def run() -> None:
        engine = build_engine(make_settings(data_dir), embedder=embedder)
        try:
            summary = await ingest(engine.kb, [SAMPLE_KB])
            assert summary.errors == [] and summary.chunks_added > 0
        finally:
            await engine.close()

    asyncio.run(run())
    return data_dir


@pytest.fixture
def data_dir(sample_data_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the ingested sample KB."""
    target = tmp_path / "kb-data"
    shutil.copytree(sample_data_dir, target)
    return target


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return make_settings(data_dir)


@pytest.fixture
async def engine(settings: Settings, embedder: LocalEmbedder) -> AsyncIterator[Engine]:
    """The embedded default engine over the ingested sample KB (shares the session's model)."""
    eng = build_engine(settings, embedder=embedder)
    yield eng
    await eng.close()


@pytest.fixture
def sample_kb() -> Iterator[Path]:
    yield SAMPLE_KB
