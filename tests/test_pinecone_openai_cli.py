"""The real `kb` command, in a subprocess, with OPENAI_* and PINECONE_* pointed at the fakes.

`kb ingest` and `kb ask` go through the openai and pinecone SDKs end to end; with the fakes
killed, `kb ask` still answers (degraded, exit 0) and `kb ingest` fails with one clear line,
never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

from tests.conftest import SAMPLE_KB
from tests.fakes.openai import FakeOpenAI, fake_openai
from tests.fakes.pinecone import FakePinecone, fake_pinecone


def kb_command() -> list[str]:
    script = Path(sys.executable).with_name("kb")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bot.cli"]


async def kb(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *kb_command(), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def production_env(openai: FakeOpenAI, pinecone: FakePinecone, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KB_", "OPENAI_", "PINECONE_", "SLACK_"))}
    env.update(
        {
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": openai.base_url,
            "PINECONE_API_KEY": "pc-test",
            "PINECONE_HOST": pinecone.url,
            "PINECONE_NAMESPACE": "support",
            "KB_DATA_DIR": str(data_dir),
            "KB_TIMEOUT_S": "1.5",
            "KB_MAX_RETRIES": "1",
            "PYTHONWARNINGS": "error",  # unclosed SDK clients would print ResourceWarnings
        }
    )
    return env


async def test_kb_ingest_and_ask_run_through_both_sdks_and_survive_their_loss(
    fake_openai: FakeOpenAI, fake_pinecone: FakePinecone, tmp_path: Path
) -> None:
    kb_dir = tmp_path / "kb"
    shutil.copytree(SAMPLE_KB, kb_dir)
    env = production_env(fake_openai, fake_pinecone, tmp_path / "data")

    code, out, err = await kb(env, "ingest", str(kb_dir), "-q")
    assert code == 0, err
    assert out.startswith("ingested: 20 articles") and err == ""
    upserts = fake_pinecone.calls("/vectors/upsert")
    assert upserts and all(len(r.body["vectors"]) <= 100 and r.body["namespace"] == "support" for r in upserts)
    stored = len(fake_pinecone.vectors["support"])
    assert stored == sum(len(r.body["vectors"]) for r in upserts) > 20
    assert fake_openai.embedding_requests[0]["model"] == "text-embedding-3-small"

    code, out, err = await kb(env, "ask", "--json", "How do I reset my password? Write to me at ana@example.com")
    assert code == 0, err
    answer = json.loads(out)
    assert answer["backends"] == {"embedder": "openai", "store": "pinecone", "drafter": "openai"}
    assert answer["degraded"] is False and answer["sources"][0]["article_id"] == "reset-your-password"
    assert "ana@example.com" in answer["draft"]  # restored from [EMAIL_1]
    assert "ana@example.com" not in json.dumps(fake_openai.chats)
    assert fake_pinecone.calls("/query")[-1].body["namespace"] == "support"

    await fake_openai.shutdown()
    await fake_pinecone.shutdown()

    code, out, err = await kb(env, "ask", "--json", "How do I reset my password?")
    assert code == 0 and "Traceback" not in err
    answer = json.loads(out)
    assert answer["degraded"] is True and answer["draft"] and answer["sources"]
    assert answer["backends"] == {"embedder": "openai (unavailable)", "store": "pinecone", "drafter": "extractive"}
    assert answer["degraded_reasons"] == [
        "embeddings unavailable (openai): keyword search only",
        "drafter unavailable (openai): extractive draft",
    ]

    (kb_dir / "new-article.md").write_text("# Dark mode\n\nTurn on dark mode under Settings > Appearance.\n")
    code, out, err = await kb(env, "ingest", str(kb_dir), "-q")
    assert code == 1 and "Traceback" not in err
    assert err.startswith("error: openai: openai embeddings failed after 2 attempt(s)")
