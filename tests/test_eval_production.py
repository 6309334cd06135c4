"""`kb eval` on the production backends: OpenAI embeddings and drafter, Pinecone, through their fakes."""

from __future__ import annotations

from pathlib import Path

from bot.evaluation import evaluate
from rag.settings import Settings
from tests.conftest import SAMPLE_KB, SAMPLE_TICKETS
from tests.fakes.production import Production, prod, production_kb, production_settings


async def test_eval_runs_on_openai_and_pinecone_in_a_private_namespace(prod: Production) -> None:
    namespaces: list[str] = []

    def settings_for(data_dir: Path) -> Settings:
        settings = production_settings(data_dir, prod.openai, prod.pinecone, pinecone_namespace="kb-eval-test")
        namespaces.append(settings.pinecone_namespace)
        return settings

    report = await evaluate([(SAMPLE_KB, SAMPLE_TICKETS)], ["hybrid"], settings_for=settings_for)

    (kb,) = report["kbs"]
    figures = kb["modes"]["hybrid"]
    assert kb["tickets"] == 24 and figures["recall@5"] is not None and figures["must_mention_found"] is not None
    assert report["embedder"].startswith("openai:")
    assert prod.openai.chats, "the OpenAI drafter wrote the drafts"
    upserts = prod.pinecone.calls("/vectors/upsert")
    assert upserts and all(r.body["namespace"] == "kb-eval-test" for r in upserts)
    assert namespaces == ["kb-eval-test"] and not prod.pinecone.vectors.get("kb-eval-test")  # dropped afterwards
    assert prod.pinecone.vectors.get("kb"), "the team's own namespace is untouched"


async def test_eval_over_two_kbs_on_openai_shares_one_embedder_to_the_end(prod: Production, tmp_path: Path) -> None:
    second = tmp_path / "billing"
    second.mkdir()
    for name in ("cancel-subscription-and-refunds", "invoices-and-vat", "failed-payment-update-card"):
        (second / f"{name}.md").write_text((SAMPLE_KB / f"{name}.md").read_text())
    tickets = tmp_path / "billing.jsonl"
    tickets.write_text(
        '{"ticket": "Please refund the duplicate charge", "relevant": ["cancel-subscription-and-refunds"]}\n'
        '{"ticket": "Who do I call about the ad sales on your homepage?", "expect": "escalate"}\n'
    )

    def settings_for(data_dir: Path) -> Settings:
        return production_settings(data_dir, prod.openai, prod.pinecone, pinecone_namespace=f"ev-{data_dir.name}")

    report = await evaluate([(SAMPLE_KB, SAMPLE_TICKETS), (second, tickets)], ["hybrid"], settings_for=settings_for)

    assert report["escalation"] == "leave-one-KB-out" and [k["tickets"] for k in report["kbs"]] == [24, 2]
    assert report["kbs"][1]["modes"]["hybrid"]["recall@5"] == 1.0  # the second KB still embeds: client open
    assert not [ns for ns in prod.pinecone.vectors if ns.startswith("ev-") and prod.pinecone.vectors[ns]]
