"""The production wiring (OpenAI embedder + Pinecone store + OpenAI drafter) over both fakes.

    async def test_x(prod: Production) -> None:
        engine = prod.engine(kb_max_retries=0)        # build_engine(Settings pointed at the fakes)
        prod.openai.fail("500", path="/v1/chat/completions")
        answer = await engine.answer("I was charged twice")

The sample KB is ingested through the fakes once per run; each test gets a copy of that data dir
and a fresh pair of fakes preloaded with the vectors the ingest upserted.
"""

from __future__ import annotations

import asyncio
import copy
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ingest.pipeline import ingest
from rag.engine import Engine
from rag.factory import build_engine
from rag.settings import Settings
from tests.conftest import SAMPLE_KB, make_settings
from tests.fakes.openai import FakeOpenAI
from tests.fakes.pinecone import FakePinecone

_INGESTED: dict[str, Any] = {}


def production_settings(data_dir: Path, openai: FakeOpenAI, pinecone: FakePinecone, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "openai_api_key": "sk-test",
        "openai_base_url": openai.base_url,
        "pinecone_api_key": "pc-test",
        "pinecone_host": pinecone.url,
        "kb_timeout_s": 2.0,
        "kb_max_retries": 1,
    }
    values.update(overrides)
    return make_settings(data_dir, **values)


def _ingest_once(root: Path) -> tuple[Path, dict[str, dict[str, dict[str, Any]]]]:
    if "kb" not in _INGESTED:
        data_dir = root / "production-kb"

        async def run() -> dict[str, dict[str, dict[str, Any]]]:
            openai, pinecone = FakeOpenAI(), FakePinecone()
            await openai.start()
            await pinecone.start()
            engine = build_engine(production_settings(data_dir, openai, pinecone))
            try:
                summary = await ingest(engine.kb, [SAMPLE_KB])
                assert summary.errors == [] and summary.chunks_embedded > 0
            finally:
                await engine.close()
                await openai.shutdown()
                await pinecone.shutdown()
            return pinecone.vectors

        _INGESTED["kb"] = (data_dir, asyncio.run(run()))
    return _INGESTED["kb"]  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def production_kb(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, dict[str, dict[str, Any]]]]:
    return _ingest_once(tmp_path_factory.getbasetemp())


@dataclass
class Production:
    openai: FakeOpenAI
    pinecone: FakePinecone
    data_dir: Path
    engines: list[Engine] = field(default_factory=list)

    def settings(self, **overrides: Any) -> Settings:
        return production_settings(self.data_dir, self.openai, self.pinecone, **overrides)

    def engine(self, **overrides: Any) -> Engine:
        engine = build_engine(self.settings(**overrides))
        self.engines.append(engine)
        return engine


@pytest.fixture
async def prod(
    production_kb: tuple[Path, dict[str, dict[str, dict[str, Any]]]], tmp_path: Path
) -> AsyncIterator[Production]:
    template, vectors = production_kb
    data_dir = tmp_path / "kb-data"
    shutil.copytree(template, data_dir)
    openai, pinecone = FakeOpenAI(), FakePinecone()
    pinecone.vectors = copy.deepcopy(vectors)
    await openai.start()
    await pinecone.start()
    env = Production(openai, pinecone, data_dir)
    yield env
    for engine in env.engines:
        await engine.close()
    await openai.shutdown()
    await pinecone.shutdown()
