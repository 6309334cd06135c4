"""docs/deployment.md cannot drift from the code: the settings table is generated, facts are cross-checked."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

from rag.embedders.local import LocalEmbedder
from rag.embedders.openai import KNOWN_DIMENSIONS
from rag.prompts import PROMPT_VERSION
from rag.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "deployment.md"


def settings_table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("settings_table", ROOT / "scripts" / "settings_table.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_settings_table_is_up_to_date() -> None:
    doc = DOC.read_text(encoding="utf-8")
    assert settings_table().render_doc(doc) == doc, "run: python scripts/settings_table.py"


def test_every_setting_is_documented_once() -> None:
    doc = DOC.read_text(encoding="utf-8")
    table = doc.split("<!-- settings-table:start -->", 1)[1].split("<!-- settings-table:end -->", 1)[0]
    rows = re.findall(r"^\| `([A-Z0-9_]+)` \|", table, re.MULTILINE)
    assert rows == [name.upper() for name in Settings.model_fields]


def test_check_mode_detects_a_stale_doc_and_passes_the_committed_one(tmp_path: Path) -> None:
    module = settings_table()
    stale = DOC.read_text(encoding="utf-8").replace("| `KB_PORT` |", "| `KB_PORTE` |")
    assert module.render_doc(stale) != stale
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "settings_table.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr  # the committed doc is fresh, from any working directory


def test_pinecone_dimensions_match_the_embedders(embedder: LocalEmbedder) -> None:
    doc = DOC.read_text(encoding="utf-8")
    for model, dim in KNOWN_DIMENSIONS.items():
        if model.startswith("text-embedding-3"):
            assert re.search(rf"`{model}`[^|]*\| {dim} \|", doc), model
    assert re.search(rf"embedded MiniLM[^|]*\| {embedder.dimension} \|", doc)
    assert 'dimension=1536, metric="cosine"' in doc


def test_readme_points_at_the_guide_with_docker_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Production backends (OpenAI, Pinecone)", 1)[1].split("\n## ", 1)[0]
    assert "docs/deployment.md" in section
    assert "docker build -t kb-rag ." in section and "docker run" in section
    assert PROMPT_VERSION  # the guide tells where the prompt version lives
    assert "PROMPT_VERSION" in DOC.read_text(encoding="utf-8")
