"""`kb` through its real entry point (in-process `main()` and once as the installed script)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import rag
from bot.cli import main
from tests.conftest import SAMPLE_KB


def test_public_api_is_sorted_and_importable() -> None:
    assert rag.__all__ == sorted(rag.__all__)
    assert all(hasattr(rag, name) for name in rag.__all__)


def test_ask_prints_a_readable_answer(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["ask", "--data-dir", str(data_dir), "I need a copy of all our workspace data for a GDPR request"])
    out = capsys.readouterr().out
    assert code == 0
    assert "confidence" in out and "Data to collect:" in out and "Draft reply:" in out and "Sources:" in out
    assert "https://help.tallyhive.example/articles/workspace-data-export" in out


def test_ask_json_file_prints_one_answer_a_line_in_input_order(
    data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    tickets = tmp_path / "tickets.jsonl"
    tickets.write_text(
        json.dumps({"ticket": "How do I connect Jira?"})
        + "\n\n"
        + json.dumps({"ticket": "Where do I download my invoices?", "id": "x"})
        + "\n"
        + json.dumps("my timer stopped by itself overnight")
        + "\n"
    )
    assert main(["ask", "--json", "--data-dir", str(data_dir), "--file", str(tickets)]) == 0
    lines = capsys.readouterr().out.splitlines()
    answers = [json.loads(line) for line in lines]
    assert [a["sources"][0]["article_id"] for a in answers] == [
        "jira-integration",
        "invoices-and-vat",
        "timer-stopped-lost-time-entries",
    ]
    assert all(a["decision"] in ("answer", "review", "escalate") for a in answers)


def test_bad_ticket_file_names_the_line(data_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tickets = tmp_path / "t.jsonl"
    tickets.write_text('{"ticket": "fine"}\n{"tiket": "typo"}\n')
    assert main(["ask", "--data-dir", str(data_dir), "--file", str(tickets)]) == 1
    err = capsys.readouterr().err
    assert "line 2" in err and "t.jsonl" in err and "Traceback" not in err


def test_ask_on_an_empty_store_says_to_ingest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ask", "--data-dir", str(tmp_path / "empty"), "hello"]) == 1
    assert "kb ingest" in capsys.readouterr().err


def test_ingest_reports_bad_files_and_ingests_the_rest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    shutil.copy(SAMPLE_KB / "reset-your-password.md", kb)
    (kb / "blob.md").write_bytes(b"\x00\x01\x02binary")
    code = main(["ingest", str(kb), "--data-dir", str(tmp_path / "data"), "-q"])
    captured = capsys.readouterr()
    assert code == 1  # some files failed: the rest is ingested, but the exit code says so
    assert "blob.md" in captured.err and "1 file(s) not ingested" in captured.err
    assert "1 articles from 2 files" in captured.out and "1 errors" in captured.out


def test_bad_setting_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KB_CONFIDENCE_LOW", "0.9")
    monkeypatch.setenv("KB_CONFIDENCE_HIGH", "0.5")
    assert main(["ask", "--data-dir", str(tmp_path), "hello"]) == 1
    err = capsys.readouterr().err
    assert "KB_CONFIDENCE_LOW must not exceed KB_CONFIDENCE_HIGH" in err and "Traceback" not in err


def test_installed_kb_script_runs(data_dir: Path) -> None:
    kb = Path(sys.executable).parent / "kb"
    result = subprocess.run(
        [str(kb), "ask", "--json", "--data-dir", str(data_dir), "How do I reset my password?"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["sources"][0]["article_id"] == "reset-your-password"


def test_eval_prints_the_quality_figures_per_mode(capsys: pytest.CaptureFixture[str]) -> None:
    tickets = SAMPLE_KB / "tickets.jsonl"
    assert main(["eval", "--kb", str(SAMPLE_KB), "--tickets", str(tickets), "--modes", "hybrid,keyword", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["escalation"] == "shipped model" and "all" not in report
    (kb,) = report["kbs"]
    assert kb["tickets"] == 24 and set(kb["modes"]) == {"hybrid", "keyword"}
    hybrid = kb["modes"]["hybrid"]
    for key in (
        "recall@1",
        "recall@5",
        "mrr",
        "escalation_precision",
        "escalation_recall",
        "must_mention_found",
        "draft_words_p50",
        "claims_on_topic",
        "required_recall",
        "required_items",
        "answerable_escalated_share",
        "latency_ms_p50",
        "latency_ms_p95",
    ):
        assert key in hybrid
    assert hybrid["recall@5"] >= 0.9 and hybrid["mrr"] > kb["modes"]["keyword"]["mrr"]
    assert 40 <= hybrid["draft_words_p50"] <= 150
    assert 0 <= hybrid["required_recall"] <= 1 and 0 < hybrid["required_items"] <= 5
    # The sample KB's drafts quote mostly the articles its tickets are labelled with.
    assert 0.5 < hybrid["claims_on_topic"] <= 1
    # Every escalation mistake is listed with what the model saw and scored.
    caught, out_of_scope = map(int, hybrid["escalated_out_of_scope"].split("/"))
    false_alarms = int(hybrid["escalated_answerable"].split("/")[0])
    errors = hybrid["escalation_errors"]
    assert len(errors) == (out_of_scope - caught) + false_alarms
    for error in errors:
        assert error["escalated"] == (error["expect"] == "answer") and 0 <= error["score"] <= 1
        assert {"similarity", "token_match", "unknown_words"} <= set(error["signals"])
    assert main(["eval", "--kb", str(SAMPLE_KB), "--tickets", str(tickets), "--modes", "hybrid"]) == 0
    table = capsys.readouterr().out
    assert "R@5" in table and "MRR" in table and "hybrid" in table
    assert "facts" in table and "words" in table and "on-topic" in table and "req R" in table and "req n" in table


def _billing_kb(tmp_path: Path) -> tuple[Path, Path]:
    """A second, smaller KB made of the sample's billing articles and their tickets."""
    kb = tmp_path / "billing-kb"
    kb.mkdir()
    rows = [json.loads(line) for line in (SAMPLE_KB / "tickets.jsonl").read_text().splitlines() if line.strip()]
    billing = [r for r in rows if r["topic"] == "billing" or r["expect"] == "escalate"]
    for article in {a for r in billing for a in r["relevant"]}:
        shutil.copy(SAMPLE_KB / f"{article}.md", kb / f"{article}.md")
    tickets = tmp_path / "billing-tickets.jsonl"
    tickets.write_text("".join(json.dumps(r) + "\n" for r in billing))
    return kb, tickets


def test_eval_over_several_kbs_judges_escalation_leave_one_kb_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    kb, tickets = _billing_kb(tmp_path)
    argv = [
        "eval",
        "--kb",
        str(SAMPLE_KB),
        "--tickets",
        str(SAMPLE_KB / "tickets.jsonl"),
        "--kb",
        str(kb),
        "--tickets",
        str(tickets),
        "--modes",
        "hybrid,dense",
        "--json",
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["escalation"] == "leave-one-KB-out"
    assert [k["name"] for k in report["kbs"]] == ["kb", "billing-kb"]
    pooled = report["all"]["hybrid"]
    oos, answerable = (
        sum(int(k["modes"]["hybrid"][f].split("/")[1]) for k in report["kbs"])
        for f in ("escalated_out_of_scope", "escalated_answerable")
    )
    assert pooled["escalated_out_of_scope"].endswith(f"/{oos}") and pooled["escalated_answerable"].endswith(
        f"/{answerable}"
    )
    assert main(argv[:-1]) == 0
    table = capsys.readouterr().out
    assert "leave-one-KB-out" in table and "all (LOKO)" in table and "billing-kb" in table


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (["--modes", "hybrid,semantic"], 1, "unknown retrieval mode 'semantic'"),
        (["--modes", ","], 1, "no retrieval mode given"),
        (["--kb", str(SAMPLE_KB)], 2, "one --tickets file for each --kb"),
    ],
)
def test_eval_refuses_bad_arguments_in_one_line(
    extra: list[str], code: int, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["eval", "--kb", str(SAMPLE_KB), "--tickets", str(SAMPLE_KB / "tickets.jsonl"), *extra]
    assert main(argv) == code
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_eval_reads_a_tickets_subject(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Help-desk exports keep the subject apart; here it is what says the ticket is about exports.
    row = {"id": "s1", "ticket": "It stopped working this morning, please help!", "relevant": ["export-timesheets"]}
    recall = {}
    for name, extra in (("with", {"subject": "Exporting timesheets to CSV"}), ("without", {})):
        tickets = tmp_path / f"{name}.jsonl"
        tickets.write_text(json.dumps(row | extra) + "\n", encoding="utf-8")
        assert main(["eval", "--kb", str(SAMPLE_KB), "--tickets", str(tickets), "--modes", "hybrid", "--json"]) == 0
        recall[name] = json.loads(capsys.readouterr().out)["kbs"][0]["modes"]["hybrid"]["recall@1"]
    assert recall == {"with": 1.0, "without": 0.0}
