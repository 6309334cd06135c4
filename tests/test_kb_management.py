"""KB management and CLI polish through the real `kb` (in-process `main()` and the installed script).

`kb sources`, `kb remove`, the sample KB kept apart from a user's KB (`--replace-sample`), and
every bad input a new user tried: one clear line on stderr, a non-zero exit, never a traceback.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path

import pytest

from bot.cli import main
from bot.server import seed_sample_kb
from rag.catalog import MIGRATIONS, SCHEMA_VERSION, Catalog
from rag.embedders.local import LocalEmbedder
from rag.factory import build_engine
from tests.conftest import SAMPLE_KB, make_settings
from tests.fakes.openai import FakeOpenAI, fake_openai
from tests.fakes.pinecone import FakePinecone, fake_pinecone
from tests.test_pinecone_openai_cli import kb as kb_subprocess
from tests.test_pinecone_openai_cli import production_env

SAMPLE = str(SAMPLE_KB.resolve())
KB_SCRIPT = Path(sys.executable).with_name("kb")
MY_ARTICLES = {
    "frobnicator-setup.md": (
        "---\nid: frobnicator-setup\ntitle: Set up the Frobnicator widget\n"
        "url: https://help.mine.example/frobnicator-setup\n---\n"
        "# Set up the Frobnicator widget\n\n## Before you start\n\nYou need the admin role.\n\n"
        "## Steps\n\n1. Open Settings, then Widgets.\n2. Press Frobnicate.\n"
    ),
    "frobnicator-billing.md": (
        "---\nid: frobnicator-billing\ntitle: Frobnicator billing, refunds and double charges\n"
        "url: https://help.mine.example/frobnicator-billing\n---\n"
        "# Frobnicator billing, refunds and double charges\n\n"
        "If you were charged twice, write to billing with the invoice number; we refund the duplicate "
        "charge within five days. Passwords are reset from the Frobnicator login page.\n"
    ),
}


def my_kb(tmp_path: Path, name: str = "my-kb") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    for file, text in MY_ARTICLES.items():
        (folder / file).write_text(text)
    return folder.resolve()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def sources(capsys: pytest.CaptureFixture[str], data_dir: Path) -> dict[str, dict[str, object]]:
    code, out, err = run(capsys, "sources", "--data-dir", str(data_dir), "--json")
    assert code == 0, err
    return {s["source"]: s for s in json.loads(out)["sources"]}


# --- kb sources ---------------------------------------------------------------------------------


def test_sources_lists_each_root_with_articles_chunks_last_ingest_and_totals(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = my_kb(tmp_path)
    code, _, err = run(capsys, "ingest", str(mine), "--data-dir", str(data_dir), "-q", "--keep-sample")
    assert code == 0, err
    code, out, _ = run(capsys, "sources", "--data-dir", str(data_dir), "--json")
    assert code == 0
    report = json.loads(out)
    by_source = {s["source"]: s for s in report["sources"]}
    assert list(by_source) == sorted([SAMPLE, str(mine)])
    assert by_source[SAMPLE]["articles"] == 20 and by_source[SAMPLE]["sample"] is True
    assert by_source[str(mine)]["articles"] == 2 and by_source[str(mine)]["sample"] is False
    catalog = Catalog.open(data_dir / "kb.sqlite3")
    try:
        articles, chunks = catalog.counts()
    finally:
        catalog.close()
    assert report["total"] == {"sources": 2, "articles": articles, "chunks": chunks} and articles == 22
    assert sum(s["chunks"] for s in report["sources"]) == chunks
    for s in report["sources"]:
        stamp = datetime.fromisoformat(str(s["last_ingest"]))
        assert datetime.now(UTC) - stamp < timedelta(hours=6)  # the sample's session ingest, or just now

    code, out, _ = run(capsys, "sources", "--data-dir", str(data_dir))
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["source", "articles", "chunks", "last", "ingest"]
    assert f"{SAMPLE} (sample KB)" in out and "UTC" in lines[1]
    assert lines[-1].split()[-2:] == ["22", str(chunks)] and lines[-1].startswith("total: 2 source")


def test_an_old_data_dir_is_migrated_and_listed_with_an_unknown_last_ingest(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A data dir written before the `sources` table: the schema version just before its migration.
    before = [m.__name__ for m in MIGRATIONS].index("_migration_3")  # the `sources` table
    db = sqlite3.connect(data_dir / "kb.sqlite3")
    db.executescript(
        "DROP TABLE sources; DROP INDEX articles_source; DELETE FROM meta WHERE key='first_ingest'; "
        "DROP TABLE token_states; "  # a later migration's table
        f"PRAGMA user_version={before};"
    )
    db.close()
    code, out, err = run(capsys, "sources", "--data-dir", str(data_dir))
    assert code == 0, err
    assert "unknown" in out.splitlines()[1] and "20" in out.splitlines()[1]
    listed = sources(capsys, data_dir)
    assert listed[SAMPLE]["last_ingest"] is None and listed[SAMPLE]["articles"] == 20
    db = sqlite3.connect(data_dir / "kb.sqlite3")
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert db.execute("SELECT value FROM meta WHERE key='first_ingest'").fetchone() == ("unknown",)
    db.close()
    # Ingesting the same source again stamps it.
    code, _, err = run(capsys, "ingest", str(SAMPLE_KB), "--data-dir", str(data_dir), "-q")
    assert code == 0, err
    assert sources(capsys, data_dir)[SAMPLE]["last_ingest"] is not None


def test_sources_of_an_existing_empty_data_dir_says_so_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, out, _ = run(capsys, "sources", "--data-dir", str(empty))
    assert code == 0 and "No sources" in out and "kb ingest" in out
    code, out, _ = run(capsys, "sources", "--data-dir", str(empty), "--json")
    assert code == 0 and json.loads(out)["total"] == {"sources": 0, "articles": 0, "chunks": 0}
    assert list(empty.iterdir()) == []


# --- kb remove ----------------------------------------------------------------------------------


def test_remove_deletes_every_article_of_one_source_and_keeps_the_others(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = my_kb(tmp_path)
    assert run(capsys, "ingest", str(mine), "--data-dir", str(data_dir), "-q", "--keep-sample")[0] == 0
    before = sources(capsys, data_dir)[SAMPLE]
    code, out, err = run(capsys, "remove", str(SAMPLE_KB), "--data-dir", str(data_dir))
    assert code == 0, err
    assert out.strip() == f"removed {SAMPLE}: 20 articles, {before['chunks']} chunks"
    assert list(sources(capsys, data_dir)) == [str(mine)]
    catalog = Catalog.open(data_dir / "kb.sqlite3")
    try:
        assert sorted(catalog.article_sources()) == ["frobnicator-billing", "frobnicator-setup"]
        assert catalog.counts()[1] == sources(capsys, data_dir)[str(mine)]["chunks"]
    finally:
        catalog.close()
    # A path relative to the working folder names the same source.
    os.chdir(tmp_path)
    code, out, err = run(capsys, "remove", "my-kb", "--data-dir", str(data_dir))
    assert code == 0 and out.startswith(f"removed {mine}: 2 articles"), err
    assert sources(capsys, data_dir) == {}


def test_remove_of_an_unknown_source_lists_the_known_ones_in_one_line(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "remove", "no-such-kb", "--data-dir", str(data_dir))
    line = one_line(err)
    assert code == 1 and out == ""
    assert "no source 'no-such-kb'" in line and f"known sources: {SAMPLE}" in line
    assert sources(capsys, data_dir)[SAMPLE]["articles"] == 20


async def test_kb_remove_deletes_the_vectors_from_pinecone_too(
    fake_openai: FakeOpenAI, fake_pinecone: FakePinecone, tmp_path: Path
) -> None:
    env = production_env(fake_openai, fake_pinecone, tmp_path / "data")
    first, second = my_kb(tmp_path, "first"), tmp_path.resolve() / "second"
    second.mkdir()
    shutil.copy(SAMPLE_KB / "reset-your-password.md", second)
    for folder in (first, second):
        code, _, err = await kb_subprocess(env, "ingest", str(folder), "-q")
        assert code == 0, err
    stored = set(fake_pinecone.vectors["support"])
    assert any(i.startswith("reset-your-password#") for i in stored)
    code, out, err = await kb_subprocess(env, "remove", str(second))
    assert code == 0 and err == "" and out.startswith(f"removed {second}: 1 articles")
    left = set(fake_pinecone.vectors["support"])
    assert left and all(i.startswith("frobnicator-") for i in left)
    assert left == {i for i in stored if i.startswith("frobnicator-")}


# --- the sample KB is never mixed into a user's KB ---------------------------------------------


def test_ingest_next_to_the_untouched_sample_stops_and_says_how_to_replace_it(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = my_kb(tmp_path)
    code, out, err = run(capsys, "ingest", str(mine), "--data-dir", str(data_dir), "-q")
    line = one_line(err)
    assert code == 1 and out == ""
    assert "only the sample KB" in line and f"kb ingest {mine} --data-dir {data_dir} --replace-sample" in line
    assert list(sources(capsys, data_dir)) == [SAMPLE]  # nothing ingested

    code, out, err = run(capsys, "ingest", str(mine), "--data-dir", str(data_dir), "-q", "--replace-sample")
    assert code == 0, err
    assert out.splitlines()[0].startswith(f"removed the sample KB {SAMPLE}: 20 articles")
    assert "ingested: 2 articles" in out
    assert list(sources(capsys, data_dir)) == [str(mine)]

    tickets = "\n".join(
        json.dumps({"ticket": t})
        for t in ("I was charged twice this month", "How do I reset my password?", "How do I set up the widget?")
    )
    (tmp_path / "t.jsonl").write_text(tickets + "\n")
    code, out, err = run(capsys, "ask", "--json", "--data-dir", str(data_dir), "--file", str(tmp_path / "t.jsonl"))
    assert code == 0, err
    answers = [json.loads(line) for line in out.splitlines()]
    cited = {s["article_id"] for a in answers for s in a["sources"]}
    assert cited and cited <= {"frobnicator-setup", "frobnicator-billing"}
    assert all("tallyhive" not in s["url"] for a in answers for s in a["sources"])


def test_a_custom_sample_kb_is_kept_apart_too_in_the_installed_script(tmp_path: Path) -> None:
    sample = tmp_path.resolve() / "demo"
    sample.mkdir()
    shutil.copy(SAMPLE_KB / "reset-your-password.md", sample)
    mine = my_kb(tmp_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KB_", "OPENAI_", "PINECONE_", "SLACK_"))}
    env.update(KB_SAMPLE_KB=str(sample), KB_DATA_DIR=str(tmp_path / "data"))

    def kb(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(KB_SCRIPT), *args], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False
        )

    assert kb("ingest", str(sample), "-q").returncode == 0
    refused = kb("ingest", "my-kb", "-q", "--dry-run")
    assert refused.returncode == 1 and "kb ingest my-kb --replace-sample" in one_line(refused.stderr)
    dry = kb("ingest", "my-kb", "-q", "--dry-run", "--replace-sample")
    assert dry.returncode == 0 and dry.stdout.startswith(f"would remove the sample KB {sample}: 1 articles")
    assert "would change: 2 articles" in dry.stdout
    kept = kb("ingest", "my-kb", "-q", "--keep-sample")
    assert kept.returncode == 0, kept.stderr
    listed = json.loads(kb("sources", "--json").stdout)
    assert [(s["source"], s["sample"]) for s in listed["sources"]] == [(str(sample), True), (str(mine), False)]
    # Once the KB holds more than the sample, the guard is off; --replace-sample still drops the sample.
    replaced = kb("ingest", "my-kb", "-q", "--replace-sample")
    assert replaced.returncode == 0 and replaced.stdout.startswith("removed the sample KB")
    assert [s["source"] for s in json.loads(kb("sources", "--json").stdout)["sources"]] == [str(mine)]


def test_replace_sample_keeps_the_sample_when_the_new_path_does_not_exist(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "ingest", str(tmp_path / "typo"), "--data-dir", str(data_dir), "--replace-sample")
    assert code == 1 and "does not exist; the sample KB was kept" in one_line(err)
    assert sources(capsys, data_dir)[SAMPLE]["articles"] == 20


async def test_serve_seeds_the_sample_only_into_a_data_dir_that_never_had_sources(
    tmp_path: Path, embedder: LocalEmbedder
) -> None:
    sample = tmp_path / "demo"
    sample.mkdir()
    shutil.copy(SAMPLE_KB / "reset-your-password.md", sample)
    settings = make_settings(tmp_path / "data", kb_sample_kb=sample)
    engine = build_engine(settings, embedder=embedder)
    try:
        await seed_sample_kb(engine, settings)
        articles, chunks = engine.kb.counts()
        assert articles == 1 and chunks > 1
        assert await engine.kb.remove_source(str(sample.resolve())) == (1, chunks)
        assert engine.kb.counts() == (0, 0)
        await seed_sample_kb(engine, settings)  # the user emptied it: the demo does not come back
        assert engine.kb.counts() == (0, 0)
    finally:
        await engine.close()


# --- CLI polish: one clear line, non-zero exit, no traceback -----------------------------------


@pytest.mark.parametrize("sizes", ["abc", "10000,abc", "0", "-5", ","])
def test_bench_refuses_bad_sizes_in_one_line(sizes: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "bench", "--sizes", sizes)
    assert code == 2 and "--sizes takes comma-separated chunk counts" in one_line(err)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, "embedding model file not found"),
        ({"model.onnx": b"not an onnx model", "tokenizer.json": b"{}"}, "cannot load the embedding model"),
        (None, "is not a folder"),
    ],
)
def test_a_broken_local_model_dir_is_one_line_for_kb_ask(
    files: dict[str, bytes] | None,
    message: str,
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model_dir = tmp_path / "my-model"
    if files is not None:
        model_dir.mkdir()
        for name, content in files.items():
            (model_dir / name).write_bytes(content)
    monkeypatch.setenv("KB_LOCAL_MODEL_DIR", str(model_dir))
    code, out, err = run(capsys, "ask", "--data-dir", str(data_dir), "How do I reset my password?")
    line = one_line(err)
    assert code == 1 and out == ""
    assert line.startswith(f"error: KB_LOCAL_MODEL_DIR {model_dir}") and message in line


def test_version_prints_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out == f"kb-rag {version('kb-rag')}\n"
    result = subprocess.run([str(KB_SCRIPT), "--version"], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0 and result.stdout == out


def test_ask_file_dash_reads_tickets_from_stdin(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = [json.dumps({"ticket": "How do I connect Jira?"}), json.dumps("Where do I download my invoices?")]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out, err = run(capsys, "ask", "--json", "--data-dir", str(data_dir), "--file", "-")
    assert code == 0, err
    assert [json.loads(a)["sources"][0]["article_id"] for a in out.splitlines()] == [
        "jira-integration",
        "invoices-and-vat",
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"ticket": "fine"}\nnot json\n'))
    code, _, err = run(capsys, "ask", "--data-dir", str(data_dir), "--file", "-")
    assert code == 1 and "<stdin>, line 2: not a ticket" in one_line(err)
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n"))
    code, _, err = run(capsys, "ask", "--data-dir", str(data_dir), "--file", "-")
    assert code == 1 and "no tickets in <stdin>" in one_line(err)


def test_installed_kb_ask_reads_stdin(data_dir: Path) -> None:
    result = subprocess.run(
        [str(KB_SCRIPT), "ask", "--json", "--data-dir", str(data_dir), "--file", "-"],
        input=json.dumps({"ticket": "How do I reset my password?"}) + "\n",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sources"][0]["article_id"] == "reset-your-password"


def test_ingest_names_unsupported_and_broken_files_and_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kb = tmp_path.resolve() / "kb"
    kb.mkdir()
    for name in ("reset-your-password.md", "invoices-and-vat.md"):
        shutil.copy(SAMPLE_KB / name, kb)
    (kb / "manual.pdf").write_bytes(b"%PDF-1.4 ...")
    (kb / "Onboarding Guide.DOCX").write_bytes(b"PK\x03\x04")
    (kb / "logo.png").write_bytes(b"\x89PNG\x00")  # not a document: ignored quietly
    (kb / "broken.md").write_bytes(b"---\ntitle: [unclosed\n---\nbody")
    data = tmp_path / "data"
    code, out, err = run(capsys, "ingest", str(kb), "--data-dir", str(data), "-q")
    assert code == 1 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert any(line.startswith(f"{kb / 'manual.pdf'}: unsupported format (.pdf), skipped") for line in lines)
    assert any(
        line.startswith(f"{kb / 'Onboarding Guide.DOCX'}: unsupported format (.docx), skipped") for line in lines
    )
    assert any(line.startswith(f"skipped {kb / 'broken.md'}: front matter is not valid YAML") for line in lines)
    assert "logo.png" not in err
    assert lines[-1] == "kb ingest: 3 file(s) not ingested (listed above); the other files were"
    assert out.startswith("ingested: 2 articles from 3 files") and "1 errors; 2 unsupported files skipped" in out
    assert sources(capsys, data)[str(kb)]["articles"] == 2

    # An unsupported document never was an article: it does not stop deleted articles being pruned.
    (kb / "broken.md").unlink()
    (kb / "invoices-and-vat.md").unlink()
    code, out, _ = run(capsys, "ingest", str(kb), "--data-dir", str(data), "-q")
    assert code == 1 and "(0 changed, 1 deleted)" in out
    assert sources(capsys, data)[str(kb)]["articles"] == 1


@pytest.mark.parametrize(
    "argv",
    [["ask", "hello"], ["sources"], ["sources", "--json"], ["feedback"], ["gaps"], ["remove", "examples/kb"]],
)
def test_read_only_commands_never_create_a_missing_data_dir(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere" / "kb-data"
    code, out, err = run(capsys, *argv, "--data-dir", str(missing))
    line = one_line(err)
    assert code == 1 and out == ""
    assert f"The data dir {missing} does not exist" in line and "kb ingest" in line
    assert not missing.exists() and not missing.parent.exists()


def test_ask_and_remove_on_an_existing_empty_data_dir_say_it_is_empty(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "kb-data"
    empty.mkdir()
    code, _, err = run(capsys, "ask", "--data-dir", str(empty), "hello")
    assert code == 1 and "is empty" in one_line(err)
    code, _, err = run(capsys, "remove", "my-kb", "--data-dir", str(empty))
    assert code == 1 and "known sources: none (the knowledge base is empty)" in one_line(err)
    assert list(empty.iterdir()) == []


@pytest.mark.parametrize(
    "argv",
    [["ingest", "examples/kb"], ["ask", "hello"], ["sources"], ["remove", "x"], ["feedback"], ["gaps"], ["serve"]],
)
def test_a_data_dir_that_is_a_file_is_one_clear_line(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    afile = tmp_path / "kb-data"
    afile.write_text("not a folder")
    code, out, err = run(capsys, *argv, "--data-dir", str(afile))
    assert code == 1 and out == ""
    assert one_line(err) == (
        f"The data dir {afile} is a file, not a folder: give a folder with --data-dir (or KB_DATA_DIR)."
    )
    assert afile.read_text() == "not a folder"


def test_an_unexpected_error_is_one_line_without_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "corrupt"
    data_dir.mkdir()
    (data_dir / "kb.sqlite3").write_text("this is not a SQLite database, just text\n" * 4)
    code, _, err = run(capsys, "sources", "--data-dir", str(data_dir))
    assert code == 1
    assert one_line(err) == "error: unexpected DatabaseError: file is not a database (run `kb -v ...` for the details)"
