"""The local catalog: one SQLite file with articles, chunk rows, their vectors and an FTS5 index.

    catalog = Catalog.open(settings.db_path)
    catalog.bind_model("sentence-transformers/all-MiniLM-L6-v2@onnx-int8", 384)  # refuses a mismatch
    catalog.replace_article(article_row, chunks, vectors)                       # one transaction
    catalog.lexical_search("refund charged twice", 20)                          # BM25 via FTS5
    catalog.sources()                                   # each ingested root: articles, chunks, last ingest

The catalog is always local, whatever the vector store: it keeps what incremental ingest compares
(content hashes, the vectors already paid for) and the lexical side of hybrid search.
Schema changes are numbered migrations; `PRAGMA user_version` says which ran.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import os
import re
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.errors import StoreMismatchError
from rag.models import Chunk, Tier
from rag.protocols import Vectors
from rag.text import STOPWORDS

log = logging.getLogger(__name__)


def _migration_1(db: sqlite3.Connection) -> None:
    _run_script(
        db,
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE articles (
            id TEXT PRIMARY KEY, title TEXT NOT NULL, url TEXT NOT NULL, source TEXT NOT NULL,
            content_hash TEXT NOT NULL, updated_at TEXT, tags TEXT NOT NULL DEFAULT '[]');
        CREATE TABLE chunks (
            rowid INTEGER PRIMARY KEY, id TEXT UNIQUE NOT NULL, article_id TEXT NOT NULL,
            n INTEGER NOT NULL, title TEXT NOT NULL, url TEXT NOT NULL, heading_path TEXT NOT NULL,
            text TEXT NOT NULL, tier TEXT NOT NULL, kind TEXT NOT NULL, content_hash TEXT NOT NULL,
            embedding_model TEXT NOT NULL, vector BLOB NOT NULL);
        CREATE INDEX chunks_article ON chunks(article_id);
        CREATE INDEX chunks_hash ON chunks(content_hash);
        CREATE VIRTUAL TABLE chunks_fts USING fts5(
            title, heading_path, text, content='chunks', content_rowid='rowid',
            tokenize='porter unicode61');
        """,
    )


def _migration_2(db: sqlite3.Connection) -> None:
    # The team's intake file of each ingested KB folder (rag/intake.py), kept so the server has it.
    db.execute("CREATE TABLE intake (source TEXT PRIMARY KEY, path TEXT NOT NULL, text TEXT NOT NULL)")


def _migration_3(db: sqlite3.Connection) -> None:
    """`sources`: each ingested root (as in `articles.source`) and when it was last ingested.

    Data dirs from before this migration get a row per existing source with an unknown time; the
    `first_ingest` meta key says something was ever ingested (so `kb serve` never re-seeds the sample
    into a KB whose sources were all removed)."""
    _run_script(
        db,
        """
        CREATE TABLE sources (source TEXT PRIMARY KEY, last_ingest TEXT);
        INSERT INTO sources(source) SELECT DISTINCT source FROM articles;
        CREATE INDEX articles_source ON articles(source);
        INSERT OR IGNORE INTO meta(key, value) SELECT 'first_ingest', 'unknown' WHERE EXISTS (SELECT 1 FROM articles)
        """,
    )


def _migration_4(db: sqlite3.Connection) -> None:
    # Per-token states of each chunk text (rag/token_match.py), by content hash like the vectors.
    db.execute("CREATE TABLE token_states (content_hash TEXT PRIMARY KEY, states BLOB NOT NULL)")


def _run_script(db: sqlite3.Connection, script: str) -> None:
    # Not executescript(): it commits first, and a migration must stay inside its transaction.
    for statement in script.split(";"):
        if statement.strip():
            db.execute(statement)


# Append only: a data dir's `PRAGMA user_version` is how many of these already ran.
MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_migration_1, _migration_2, _migration_3, _migration_4]
SCHEMA_VERSION = len(MIGRATIONS)

_CHUNK_COLUMNS = "id, article_id, title, url, heading_path, text, tier, kind, content_hash, embedding_model"
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'_-]*")
_POSSESSIVE = re.compile(r"'s$")
# BM25 column weights: a match in the title or section heading says more than one in the body.
_BM25 = "bm25(chunks_fts, 2.0, 1.5, 1.0)"
COMMON_SHARE = 0.5
# Keyword search scores at most about this many postings: a big KB's common words are dropped,
# commonest first (they weigh least in BM25). A help center of a few thousand chunks never gets
# near it; at 100,000 chunks scoring every posting took ~140 ms a ticket instead of ~14 at 10,000.
LEXICAL_POSTINGS = 20_000
NEXT_SUFFIX = ".next"  # kb.sqlite3.next: a snapshot published by `kb snapshot --into`, adopted by the catalog
SNAPSHOT_CHECK_S = 1.0
DF_CACHE_SIZE = 100_000  # terms the KB has; past it the cache starts over
ABSENT_CACHE_SIZE = 4_096  # the most recent terms it lacks
CHUNK_CACHE_SIZE = 4_096
PAIR_CACHE_SIZE = 50_000


@dataclass(frozen=True)
class ArticleRow:
    id: str
    title: str
    url: str
    source: str
    content_hash: str
    updated_at: str | None = None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SourceStats:
    """One ingested root (folder or file, resolved) and what the catalog holds from it."""

    source: str
    articles: int
    chunks: int
    last_ingest: str | None  # ISO 8601 UTC; None for data dirs that predate the record


@dataclass(frozen=True)
class IntakeRow:
    source: str  # the KB folder, as articles record it
    path: str  # the intake file
    text: str


class Catalog:
    """Thread-safe wrapper of one SQLite connection (WAL, so readers in other processes go on)."""

    def __init__(self, db: sqlite3.Connection, path: Path) -> None:
        self._db = db
        self._lock = threading.RLock()
        self._local_writes = 0  # PRAGMA data_version ignores this connection's own commits
        self._generation = 0  # bumped when a published snapshot replaced the file (a new connection)
        self._next_checked = 0.0
        self._df: dict[str, int] = {}
        self._absent: OrderedDict[str, None] = OrderedDict()
        self._df_version = -1
        self._chunk_count = 0
        self._chunks: dict[str, Chunk] = {}
        self._chunks_version = -1
        self._pairs: dict[tuple[str, str], bool] = {}
        self._pairs_version = -1
        self._counts = (0, 0)
        self._counts_version = -1
        self.path = path

    @classmethod
    def open(cls, path: Path) -> Catalog:
        path.parent.mkdir(parents=True, exist_ok=True)
        catalog = cls(_connect(path), path)
        catalog._migrate()
        catalog.adopt_snapshot(force=True)  # a replica that was stopped when a snapshot arrived
        return catalog

    def _migrate(self) -> None:
        with self.transaction():
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreMismatchError(
                    f"{self.path} has schema version {version}, newer than this kb-rag "
                    f"({SCHEMA_VERSION}); upgrade kb-rag"
                )
            for number in range(version, SCHEMA_VERSION):
                MIGRATIONS[number](self._db)
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- snapshots: how replicas with their own data dir get a KB built elsewhere --------------
    @property
    def next_path(self) -> Path:
        """Where `kb snapshot --into` publishes a new catalog for this one to adopt."""
        return self.path.with_name(self.path.name + NEXT_SUFFIX)

    def snapshot(self, dest: Path) -> None:
        """Write a consistent copy of this catalog to `dest`, atomically (a temp file, then a rename)."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        copy = sqlite3.connect(tmp, isolation_level=None)
        try:
            with self._lock:
                self._db.backup(copy)
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            copy.close()
        os.replace(tmp, dest)

    def adopt_snapshot(self, *, force: bool = False) -> bool:
        """Swap in the catalog published at `next_path`, if any: True when swapped.

        Checked at most once a second (a stat). The swap happens under the lock every read takes,
        so a query sees either the old catalog or the new one, never an error. A snapshot built with
        another embedding model is refused (renamed `.rejected`) and the old catalog stays."""
        now = time.monotonic()
        if not force and now - self._next_checked < SNAPSHOT_CHECK_S:
            return False
        self._next_checked = now
        incoming = self.next_path
        if not incoming.exists():
            return False
        with self._lock:
            if not incoming.exists():
                return False
            problem = _snapshot_problem(incoming, self._model_binding())
            if problem is not None:
                incoming.replace(incoming.with_name(incoming.name + ".rejected"))
                log.error("catalog snapshot %s refused: %s", incoming, problem)
                return False
            # Close first: the old connection checkpoints and removes its -wal/-shm files, which
            # must never sit next to the new main file.
            self._db.close()
            try:
                os.replace(incoming, self.path)
            finally:
                self._db = _connect(self.path)
            self._migrate()
            self._generation += 1
            self._local_writes = 0
            self._df, self._df_version = {}, -1
        log.info("catalog: adopted the snapshot published at %s", incoming)
        return True

    def _model_binding(self) -> dict[str, str]:
        rows = self._db.execute("SELECT key, value FROM meta WHERE key IN ('embedding_model','dimension')")
        return {str(k): str(v) for k, v in rows}

    # --- model binding ----------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def bind_model(self, model_id: str, dimension: int) -> None:
        """Record the embedding model on first use; refuse another model or dimension after."""
        with self.transaction() as db:
            rows = dict(db.execute("SELECT key, value FROM meta WHERE key IN ('embedding_model','dimension')"))
            if not rows:
                db.executemany(
                    "INSERT INTO meta(key, value) VALUES (?, ?)",
                    [("embedding_model", model_id), ("dimension", str(dimension))],
                )
                return
        if rows.get("embedding_model") != model_id or rows.get("dimension") != str(dimension):
            raise StoreMismatchError(
                f"{self.path} was built with embedding model {rows.get('embedding_model')} "
                f"(dimension {rows.get('dimension')}), but the configured embedder is {model_id} "
                f"(dimension {dimension}). Use the same KB_EMBEDDER, or ingest into a new KB_DATA_DIR."
            )

    # --- reads ------------------------------------------------------------------------------
    def data_version(self) -> int:
        """Changes whenever another connection commits or a snapshot is adopted: cheap staleness check."""
        self.adopt_snapshot()
        with self._lock:
            return self._version_locked()

    def _version_locked(self) -> int:
        pragma = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        return (self._generation << 40) + pragma + self._local_writes

    @property
    def chunk_count(self) -> int:
        """Chunks as of the last keyword search or document-frequency lookup (0 before one)."""
        return self._chunk_count

    def counts(self) -> tuple[int, int]:
        """(articles, chunks); cached until the catalog changes (the drafter asks every answer, and
        count(*) reads a whole index: milliseconds at 100k chunks)."""
        with self._lock:
            version = self._version_locked()
            if version != self._counts_version:
                articles = self._db.execute("SELECT count(*) FROM articles").fetchone()[0]
                chunks = self._db.execute("SELECT count(*) FROM chunks").fetchone()[0]
                self._counts, self._counts_version = (int(articles), int(chunks)), version
            return self._counts

    def articles_by_source(self, source: str) -> dict[str, str]:
        """article id -> content hash, for the articles that came from `source`."""
        with self._lock:
            rows = self._db.execute("SELECT id, content_hash FROM articles WHERE source=?", (source,))
            return {str(a): str(h) for a, h in rows}

    def article_sources(self) -> dict[str, str]:
        with self._lock:
            return {str(a): str(s) for a, s in self._db.execute("SELECT id, source FROM articles")}

    def sources(self) -> list[SourceStats]:
        """Every source that has articles, by path, with its article and chunk counts."""
        with self._lock:
            counts = self._db.execute(
                "SELECT a.source, count(DISTINCT a.id), count(c.rowid) "
                "FROM articles a LEFT JOIN chunks c ON c.article_id = a.id GROUP BY a.source"
            ).fetchall()
            times = dict(self._db.execute("SELECT source, last_ingest FROM sources").fetchall())
        return [
            SourceStats(
                str(source), int(articles), int(chunks), None if times.get(source) is None else str(times[source])
            )
            for source, articles, chunks in sorted(counts)
        ]

    def chunk_ids(self, article_id: str) -> list[str]:
        with self._lock:
            rows = self._db.execute("SELECT id FROM chunks WHERE article_id=? ORDER BY n", (article_id,))
            return [str(r[0]) for r in rows]

    def chunk_hashes(self, article_id: str) -> dict[str, str]:
        """chunk id -> content hash of one article's chunks."""
        with self._lock:
            rows = self._db.execute("SELECT id, content_hash FROM chunks WHERE article_id=?", (article_id,))
            return {str(i): str(h) for i, h in rows}

    def vectors_by_hash(self, hashes: Sequence[str]) -> dict[str, Vectors]:
        """Vectors already computed for these content hashes (they need no new embedding)."""
        found: dict[str, Vectors] = {}
        with self._lock:
            for start in range(0, len(hashes), 500):
                part = list(hashes[start : start + 500])
                marks = ",".join("?" * len(part))
                for digest, blob in self._db.execute(
                    f"SELECT content_hash, vector FROM chunks WHERE content_hash IN ({marks})", part
                ):
                    found[str(digest)] = np.frombuffer(blob, dtype=np.float32)
        return found

    def get_chunks(self, ids: Sequence[str]) -> dict[str, Chunk]:
        """The chunks of `ids` that exist, by id. Kept until the catalog changes: every answer reads
        a handful and the same ones come back answer after answer (treat them as read-only)."""
        with self._lock:
            version = self._version_locked()
            if version != self._chunks_version or len(self._chunks) > CHUNK_CACHE_SIZE:
                self._chunks, self._chunks_version = {}, version
            missing = list(dict.fromkeys(i for i in ids if i not in self._chunks))
            for start in range(0, len(missing), 500):
                part = missing[start : start + 500]
                marks = ",".join("?" * len(part))
                for row in self._db.execute(f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE id IN ({marks})", part):
                    chunk = _chunk_from_row(row)
                    self._chunks[chunk.id] = chunk
            return {i: self._chunks[i] for i in ids if i in self._chunks}

    def all_vectors(self) -> tuple[list[str], Vectors]:
        """Every chunk id and its vector, as one (n, dim) float32 matrix.

        Rows are copied into the matrix as they are read: holding every row, then joining them,
        took twice the matrix's size, and kept it (+321 MB for the 146 MB matrix of 100k chunks;
        now +156 MB)."""
        ids: list[str] = []
        with self._lock:
            began = not self._db.in_transaction
            if began:
                self._db.execute("BEGIN")  # the count and the rows from one snapshot
            try:
                count = int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])
                rows = self._db.execute("SELECT id, vector FROM chunks ORDER BY rowid")
                first = rows.fetchone()
                if first is None:
                    return [], np.zeros((0, 0), dtype=np.float32)
                matrix = np.empty((count, len(first[1]) // 4), dtype=np.float32)
                for row, (cid, blob) in enumerate(itertools.chain([first], rows)):
                    matrix[row] = np.frombuffer(blob, dtype=np.float32)
                    ids.append(str(cid))
            finally:
                if began:
                    self._db.execute("COMMIT")
        return ids, matrix

    def document_frequencies(self, terms: Sequence[str]) -> dict[str, int]:
        """How many chunks contain each term (FTS5 stems it exactly as the index was).

        Cached until the catalog changes: support tickets reuse the same words all day. Words the
        KB lacks (names, ticket numbers: new with almost every ticket) are kept apart, only the
        most recent ABSENT_CACHE_SIZE of them, so the cache stops growing with the KB's vocabulary."""
        with self._lock:
            version = self._version_locked()
            if version != self._df_version or len(self._df) > DF_CACHE_SIZE:
                self._df, self._df_version = {}, version
                self._absent.clear()
                self._chunk_count = int(self._db.execute("SELECT count(*) FROM chunks").fetchone()[0])
            out: dict[str, int] = {}
            for term in terms:
                if term in self._df:
                    out[term] = self._df[term]
                elif term in self._absent:
                    self._absent.move_to_end(term)
                    out[term] = 0
                else:
                    row = self._db.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (f'"{term}"',))
                    out[term] = int(row.fetchone()[0])
                    if out[term]:
                        self._df[term] = out[term]
                    else:
                        self._absent[term] = None
                        if len(self._absent) > ABSENT_CACHE_SIZE:
                            self._absent.popitem(last=False)
            return out

    def unknown_terms(self, query: str) -> tuple[list[str], float]:
        """(query words found nowhere in the KB, their share of the query's IDF weight).

        Weighted by rarity: "router" and "wifi" missing from a KB say more than a missing name in
        a long, chatty ticket whose other words the KB knows well. A sign of an out-of-scope ticket."""
        terms = [t for t in query_terms(query) if not any(c.isdigit() for c in t)]
        frequencies = self.document_frequencies(terms)
        n = max(1, self._chunk_count)
        weights = {t: math.log((n + 1) / (frequencies[t] + 0.5)) for t in terms}
        unknown = [t for t in terms if frequencies[t] == 0]
        total = sum(weights.values())
        return unknown, (sum(weights[t] for t in unknown) / total if total > 0 else 0.0)

    def lexical_search(self, query: str, limit: int, postings: int = LEXICAL_POSTINGS) -> list[tuple[str, float]]:
        """(chunk id, BM25 score, higher is better) for any of the query's words.

        Words in more than half of the chunks are left out: BM25 gives them no weight anyway,
        and scoring their long posting lists is what makes a big KB slow; past `postings`
        the commonest of the rest go too (the rarest word always stays)."""
        terms = query_terms(query)
        frequencies = self.document_frequencies(terms)
        common = self._chunk_count * COMMON_SHARE
        kept: set[str] = set()
        scored = 0
        for term in sorted((t for t in terms if 0 < frequencies[t] <= max(common, 1)), key=frequencies.__getitem__):
            if kept and scored + frequencies[term] > postings:
                break
            kept.add(term)
            scored += frequencies[term]
        match = " OR ".join(f'"{t}"' for t in terms if t in kept)
        if not match:
            return []
        with self._lock:
            # Rank first, then name the winners: joining before the sort looked up every match's
            # row. BM25 once a row, by its alias (in the SELECT and the ORDER BY it ran twice).
            rows = self._db.execute(
                f"SELECT rowid, {_BM25} AS score FROM chunks_fts WHERE chunks_fts MATCH ? ORDER BY score LIMIT ?",
                (match, limit),
            ).fetchall()
            if not rows:
                return []
            marks = ",".join("?" * len(rows))
            ids = dict(self._db.execute(f"SELECT rowid, id FROM chunks WHERE rowid IN ({marks})", [r for r, _ in rows]))
        return [(str(ids[r]), -float(s)) for r, s in rows if r in ids]

    def occur_together(self, pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
        """Which of these word pairs occur in one chunk (FTS5, stemmed as the index was).

        Cached until the catalog changes, like document frequencies: an answer asks up to 28 pairs,
        under one lock and one staleness check."""
        together: set[tuple[str, str]] = set()
        with self._lock:
            version = self._version_locked()
            if version != self._pairs_version or len(self._pairs) > PAIR_CACHE_SIZE:
                self._pairs, self._pairs_version = {}, version
            for a, b in pairs:
                key = (a, b) if a <= b else (b, a)
                found = self._pairs.get(key)
                if found is None:
                    row = self._db.execute(
                        "SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT 1", (f'"{a}" AND "{b}"',)
                    ).fetchone()
                    found = self._pairs[key] = row is not None
                if found:
                    together.add((a, b))
        return together

    def intake_files(self) -> list[IntakeRow]:
        """The intake file of every ingested KB folder that has one."""
        with self._lock:
            rows = self._db.execute("SELECT source, path, text FROM intake ORDER BY source").fetchall()
        return [IntakeRow(str(s), str(p), str(t)) for s, p, t in rows]

    # --- writes -----------------------------------------------------------------------------
    def set_intake(self, row: IntakeRow) -> bool:
        """Store a folder's intake file; False when the stored one is the same."""
        with self.transaction() as db:
            old = db.execute("SELECT path, text FROM intake WHERE source=?", (row.source,)).fetchone()
            if old is not None and tuple(old) == (row.path, row.text):
                return False
            db.execute(
                "INSERT OR REPLACE INTO intake(source, path, text) VALUES (?, ?, ?)", (row.source, row.path, row.text)
            )
            self._local_writes += 1
        return True

    def delete_intake(self, source: str) -> bool:
        with self.transaction() as db:
            deleted = db.execute("DELETE FROM intake WHERE source=?", (source,)).rowcount > 0
            self._local_writes += deleted
        return deleted

    def replace_article(self, article: ArticleRow, chunks: Sequence[Chunk], vectors: Vectors) -> list[str]:
        """Write an article and all its chunks in one transaction; returns chunk ids it dropped."""
        with self.transaction() as db:
            old = self._delete_chunks(db, article.id)
            db.execute(
                "INSERT OR REPLACE INTO articles(id, title, url, source, content_hash, updated_at, tags) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    article.id,
                    article.title,
                    article.url,
                    article.source,
                    article.content_hash,
                    article.updated_at,
                    json.dumps(list(article.tags)),
                ),
            )
            for n, (chunk, vector) in enumerate(zip(chunks, vectors, strict=True)):
                cur = db.execute(
                    f"INSERT INTO chunks(n, {_CHUNK_COLUMNS}, vector) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        n,
                        chunk.id,
                        chunk.article_id,
                        chunk.title,
                        chunk.url,
                        chunk.heading_path,
                        chunk.text,
                        chunk.tier.value,
                        chunk.kind,
                        chunk.content_hash,
                        chunk.embedding_model,
                        np.ascontiguousarray(vector, dtype=np.float32).tobytes(),
                    ),
                )
                db.execute(
                    "INSERT INTO chunks_fts(rowid, title, heading_path, text) VALUES (?, ?, ?, ?)",
                    (cur.lastrowid, chunk.title, chunk.heading_path, chunk.text),
                )
            self._local_writes += 1
        new_ids = {c.id for c in chunks}
        return [i for i in old if i not in new_ids]

    def delete_article(self, article_id: str) -> list[str]:
        with self.transaction() as db:
            old = self._delete_chunks(db, article_id)
            db.execute("DELETE FROM articles WHERE id=?", (article_id,))
            self._local_writes += 1
        return old

    def token_states(self, hashes: Sequence[str]) -> dict[str, bytes]:
        """Packed token states (rag/token_match.py) of these chunk content hashes, where kept."""
        if not hashes:
            return {}
        with self._lock:
            marks = ",".join("?" * len(hashes))
            rows = self._db.execute(
                f"SELECT content_hash, states FROM token_states WHERE content_hash IN ({marks})", list(hashes)
            ).fetchall()
        return {str(h): bytes(b) for h, b in rows}

    def chunks_without_token_states(self) -> list[str]:
        """Ids of chunks whose text has no token states yet (ingested before they were kept)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM chunks c WHERE NOT EXISTS "
                "(SELECT 1 FROM token_states t WHERE t.content_hash = c.content_hash) ORDER BY rowid"
            ).fetchall()
        return [str(r[0]) for r in rows]

    def put_token_states(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Keep token states by content hash, and drop those no chunk has any more."""
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO token_states(content_hash, states) VALUES (?, ?)", items)
            db.execute("DELETE FROM token_states WHERE content_hash NOT IN (SELECT content_hash FROM chunks)")
            self._local_writes += 1

    def record_ingest(self, sources: Sequence[str], when: str) -> None:
        """Stamp `sources` as ingested at `when` (ISO 8601 UTC) and forget sources left without articles."""
        with self.transaction() as db:
            db.executemany(
                "INSERT INTO sources(source, last_ingest) VALUES (?, ?) "
                "ON CONFLICT(source) DO UPDATE SET last_ingest = excluded.last_ingest",
                [(source, when) for source in sources],
            )
            db.execute("DELETE FROM sources WHERE source NOT IN (SELECT DISTINCT source FROM articles)")
            db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('first_ingest', ?)", (when,))
            self._local_writes += 1

    def forget_source(self, source: str) -> None:
        """Drop the ingest record (and intake file) of a source whose articles were removed."""
        with self.transaction() as db:
            db.execute("DELETE FROM sources WHERE source=?", (source,))
            db.execute("DELETE FROM intake WHERE source=?", (source,))
            self._local_writes += 1

    @staticmethod
    def _delete_chunks(db: sqlite3.Connection, article_id: str) -> list[str]:
        rows = db.execute(
            "SELECT rowid, id, title, heading_path, text FROM chunks WHERE article_id=?", (article_id,)
        ).fetchall()
        for rowid, _, title, heading, text in rows:
            # External-content FTS5 tables are kept in sync by hand: 'delete' needs the old values.
            db.execute(
                "INSERT INTO chunks_fts(chunks_fts, rowid, title, heading_path, text) VALUES ('delete', ?, ?, ?, ?)",
                (rowid, title, heading, text),
            )
        db.execute("DELETE FROM chunks WHERE article_id=?", (article_id,))
        return [str(r[1]) for r in rows]


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA busy_timeout=5000")
    return db


def _snapshot_problem(path: Path, binding: dict[str, str]) -> str | None:
    """Why the snapshot at `path` cannot replace a catalog bound to `binding`; None if it can."""
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            version = int(db.execute("PRAGMA user_version").fetchone()[0])
            if version > SCHEMA_VERSION:
                return f"schema version {version} is newer than this kb-rag ({SCHEMA_VERSION})"
            theirs = {str(k): str(v) for k, v in db.execute("SELECT key, value FROM meta")}
            if db.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                return "the file is damaged (PRAGMA quick_check)"
        finally:
            db.close()
    except sqlite3.Error as exc:
        return f"not a kb-rag catalog ({exc})"
    for key in ("embedding_model", "dimension"):
        if binding.get(key) and theirs.get(key) and binding[key] != theirs[key]:
            return f"it was built with {key} {theirs[key]}, this catalog with {binding[key]}"
    return None


def query_terms(query: str) -> list[str]:
    """The query's distinct topical words, lower-cased (FTS5 does the stemming)."""
    # A possessive is its noun ("router's" -> "router"); other apostrophes are contractions.
    words = {_POSSESSIVE.sub("", w.lower()).strip("'_-") for w in _WORD.findall(query)}
    return sorted(w for w in words if len(w) > 1 and w not in STOPWORDS and "'" not in w)


def _chunk_from_row(row: tuple[object, ...]) -> Chunk:
    cid, article_id, title, url, heading, text, tier, kind, digest, model = row
    return Chunk(
        id=str(cid),
        article_id=str(article_id),
        title=str(title),
        url=str(url),
        heading_path=str(heading),
        text=str(text),
        tier=Tier(str(tier)),
        kind=str(kind),
        content_hash=str(digest),
        embedding_model=str(model),
    )
