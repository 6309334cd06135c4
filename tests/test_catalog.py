"""The SQLite catalog: model binding, schema versioning, one transaction per article."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from rag.catalog import SCHEMA_VERSION, ArticleRow, Catalog
from rag.embedders.local import LocalEmbedder, packaged_model_files
from rag.errors import StoreMismatchError
from rag.factory import build_engine
from rag.models import Chunk
from tests.conftest import make_settings


def test_store_records_the_model_that_built_it(settings, embedder: LocalEmbedder) -> None:
    catalog = Catalog.open(settings.db_path)
    try:
        assert catalog.meta("embedding_model") == embedder.model_id
        assert catalog.meta("dimension") == "384"
    finally:
        catalog.close()


def test_a_different_embedding_model_is_refused_with_a_clear_error(data_dir: Path, tmp_path: Path) -> None:
    # A real second model folder (same weights, another name) is a different model to the store.
    other = tmp_path / "other-model"
    other.mkdir()
    model, tokenizer = packaged_model_files()
    (other / "model.onnx").symlink_to(model)
    (other / "tokenizer.json").symlink_to(tokenizer)
    settings = make_settings(data_dir, kb_local_model_dir=other)
    with pytest.raises(StoreMismatchError) as caught:
        build_engine(settings)
    message = str(caught.value)
    assert "all-MiniLM-L6-v2" in message and "local:other-model" in message
    assert "KB_DATA_DIR" in message


def test_a_dimension_mismatch_is_refused(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path / "kb.sqlite3")
    try:
        catalog.bind_model("m", 384)
        catalog.bind_model("m", 384)  # same model: fine
        with pytest.raises(StoreMismatchError, match="dimension 1536"):
            catalog.bind_model("m", 1536)
    finally:
        catalog.close()


def test_schema_is_versioned_and_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "kb.sqlite3"
    Catalog.open(path).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StoreMismatchError, match="newer than this kb-rag"):
        Catalog.open(path)


def test_lexical_search_and_unknown_words(settings) -> None:
    catalog = Catalog.open(settings.db_path)
    try:
        hits = catalog.lexical_search("refund duplicate charge", 5)
        assert hits and hits[0][0].startswith("cancel-subscription-and-refunds#")
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
        unknown, share = catalog.unknown_terms("subpoena for the refunds")
        assert unknown == ["subpoena"] and 0.5 < share < 1.0  # a rare word weighs more than "refunds"
        unknown, share = catalog.unknown_terms("can you reset my router's wifi password?")
        assert unknown == ["router", "wifi"] and share > 0.5  # the possessive is the noun
        assert catalog.unknown_terms("reset my password") == ([], 0.0)
        assert catalog.lexical_search("the and of", 5) == []  # only stop words: no query at all
    finally:
        catalog.close()


def test_a_big_kbs_keyword_search_scores_its_rarest_words_first(settings) -> None:
    catalog = Catalog.open(settings.db_path)
    try:
        query = "refund timesheets"
        frequencies = catalog.document_frequencies(["refund", "timesheets"])
        rare, common = sorted(frequencies, key=frequencies.__getitem__)
        assert 0 < frequencies[rare] < frequencies[common]
        everything = catalog.lexical_search(query, 50)
        # A budget the rarest word alone fills: the commoner word's chunks are no longer scored.
        capped = catalog.lexical_search(query, 50, postings=frequencies[rare])
        assert len(capped) == frequencies[rare] < len(everything)
        assert {cid for cid, _ in capped} == {cid for cid, _ in catalog.lexical_search(rare, 50)}
        assert catalog.lexical_search(query, 50, postings=0) == catalog.lexical_search(rare, 50)  # always one word
    finally:
        catalog.close()


def test_chunks_and_vectors_read_back_what_the_last_write_left(tmp_path: Path) -> None:
    catalog = Catalog.open(tmp_path / "kb.sqlite3")
    try:
        catalog.bind_model("m", 4)
        row = ArticleRow(id="a", title="A", url="", source="s", content_hash="1")

        def chunk(n: int, text: str) -> Chunk:
            return Chunk(id=f"a#{n}", article_id="a", title="A", url="", text=text)

        vectors = np.eye(4, dtype=np.float32)[:2]
        catalog.replace_article(row, [chunk(0, "old text"), chunk(1, "kept")], vectors)
        assert catalog.get_chunks(["a#0", "a#1", "a#9"])["a#0"].text == "old text"  # unknown ids drop out
        catalog.replace_article(row, [chunk(0, "new text")], vectors[1:])
        assert {i: c.text for i, c in catalog.get_chunks(["a#0", "a#1"]).items()} == {"a#0": "new text"}
        ids, matrix = catalog.all_vectors()
        assert ids == ["a#0"] and matrix.dtype == np.float32 and np.array_equal(matrix, vectors[1:])
        catalog.delete_article("a")
        assert catalog.get_chunks(["a#0"]) == {} and catalog.all_vectors()[0] == []
    finally:
        catalog.close()
