"""Pinecone serverless as the vector store (dense vectors; the lexical side stays in the local catalog).

    store = PineconeStore(settings)    # PINECONE_API_KEY + PINECONE_HOST (or PINECONE_INDEX), PINECONE_NAMESPACE
    await store.upsert(ids, vectors, chunks)          # batches of <= 100 vectors and < 2 MB
    await store.query(vector, 50, filter={"tier": {"$in": ["CRITICAL", "HIGH"]}})
    await store.close()

Why BM25 stays in SQLite FTS5 next to Pinecone rather than in Pinecone sparse-dense vectors:
docs/deployment.md, "Lexical search". In short: the catalog already holds every chunk row, its
BM25 is exact and updated per article, and sparse-dense would need a dotproduct index, a BM25
encoder fitted (and refitted) on the corpus and its NLTK data downloaded at run time.

The index is opened lazily on first use: by host, or by name through one describe call on the
control plane. Each request goes through `rag.retry` (the SDK's own data-plane retries are turned
off, see `_single_attempt`), and every failure leaves as `StoreError` ("pinecone"), which
retrieval turns into keyword-only search. An index whose dimension differs from the vectors we
send is refused with `StoreMismatchError` naming both.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import numpy as np
from pinecone import AsyncPinecone, RetryConfig
from pinecone.errors.exceptions import (
    ApiError,
    PineconeConnectionError,
    PineconeError,
    PineconeTimeoutError,
    RateLimitError,
)

from rag.batching import size_bounded
from rag.errors import ConfigError, StoreError, StoreMismatchError
from rag.models import Chunk
from rag.protocols import Vectors
from rag.retry import (
    RETRYABLE_STATUS,
    Breaker,
    RetriesExhausted,
    RetryPolicy,
    SharedBreakers,
    Transient,
    call_with_retries,
    retry_after_seconds,
)
from rag.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")
BACKEND = "pinecone"
MAX_BATCH_VECTORS = 100
MAX_REQUEST_BYTES = 2 * 1024 * 1024 - 64 * 1024  # Pinecone's 2 MB, minus room for the envelope
MAX_METADATA_BYTES = 40 * 1024 - 512  # Pinecone's 40 KB a vector, with a margin
MAX_DELETE_IDS = 1000
VALUE_DECIMALS = 7  # ~5 significant digits of a unit-vector component: halves the JSON, cosine moves < 1e-6


def verdict(exc: BaseException) -> Transient | None:
    if isinstance(exc, (PineconeTimeoutError, PineconeConnectionError)):
        return Transient()
    if isinstance(exc, ApiError) and (exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500):
        after = exc.retry_after if isinstance(exc, RateLimitError) else None
        return Transient(after if after is not None else retry_after_seconds(exc.headers))
    return None


def metadata(chunk: Chunk) -> dict[str, Any]:
    """What a Pinecone user needs to read a match without our catalog, text cut to fit 40 KB."""
    meta: dict[str, Any] = {
        "article_id": chunk.article_id,
        "title": chunk.title,
        "url": chunk.url,
        "tier": chunk.tier.value,
        "heading_path": chunk.heading_path,
        "kind": chunk.kind,
        "text": chunk.text,
    }
    size = _json_bytes(meta)
    if size <= MAX_METADATA_BYTES:
        return meta
    meta["text_truncated"] = True
    text = chunk.text.encode("utf-8")
    keep = max(0, len(text) - (size - MAX_METADATA_BYTES) - 64)
    while True:
        meta["text"] = text[:keep].decode("utf-8", errors="ignore")
        if _json_bytes(meta) <= MAX_METADATA_BYTES or keep == 0:
            return meta
        keep = int(keep * 0.9)


def upsert_batches(records: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Consecutive groups of at most 100 records whose JSON stays under the request limit."""
    return size_bounded(records, lambda r: _json_bytes(r) + 1, MAX_BATCH_VECTORS, MAX_REQUEST_BYTES)


def _json_bytes(value: object) -> int:
    return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))


def _values(vector: Vectors) -> list[float]:
    rounded: list[float] = np.round(np.asarray(vector, dtype=np.float64).reshape(-1), VALUE_DECIMALS).tolist()
    return rounded


def _single_attempt(index: object) -> bool:
    """Turn off the SDK's own retries on a data-plane client, so `rag.retry` is the only policy.

    pinecone 10.2 applies `retry_config` to the control plane only: `AsyncIndex` builds its own
    config with the default (3 retries, up to 60 s of Retry-After each), which would multiply our
    retries and break KB_TIMEOUT_S. The HTTP client is built lazily from that config, so swapping
    it before the first request is enough. If a future SDK moves things, we log and go on: the
    deadline in `rag.retry` still bounds every call.
    """
    http = getattr(index, "_http", None)
    config = getattr(http, "_config", None)
    if http is not None and getattr(http, "_client", True) is None and dataclasses.is_dataclass(config):
        try:
            http._config = dataclasses.replace(config, retry_config=RetryConfig(max_retries=0))  # type: ignore[type-var]
            return True
        except (TypeError, ValueError):
            pass
    log.warning("could not turn off the Pinecone SDK's own retries; KB_TIMEOUT_S still bounds each call")
    return False


class PineconeStore:
    name = "pinecone"

    def __init__(
        self, settings: Settings, *, control_host: str | None = None, breakers: SharedBreakers | None = None
    ) -> None:
        """`control_host` points the control plane (describe by index name) elsewhere, e.g. at a test fake;
        `breakers` shares the breaker with other replicas (bot.shared)."""
        settings.require("pinecone_api_key")
        if not (settings.pinecone_host or settings.pinecone_index):
            raise ConfigError("the Pinecone store needs PINECONE_HOST or PINECONE_INDEX")
        assert settings.pinecone_api_key is not None
        self.namespace = settings.pinecone_namespace
        self.dimension: int | None = None  # the index's, learned on open
        self._settings = settings
        self._policy = RetryPolicy.from_settings(settings)
        self._breaker = Breaker(cooldown_s=settings.kb_timeout_s, name=BACKEND, shared=breakers)
        self._client = AsyncPinecone(
            api_key=settings.pinecone_api_key.get_secret_value(),
            host=control_host,
            timeout=settings.kb_timeout_s,
            retry_config=RetryConfig(max_retries=0),
        )
        self._index: Any = None
        self._lock = asyncio.Lock()

    # --- the boundary ---------------------------------------------------------------------
    async def _call(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call_with_retries(
                attempt, policy=self._policy, classify=verdict, what=f"{BACKEND} {what}", breaker=self._breaker
            )
        except RetriesExhausted as exc:
            raise StoreError(BACKEND, str(exc)) from exc
        except ApiError as exc:
            raise StoreError(BACKEND, f"{what} rejected: {exc}") from exc
        except PineconeError as exc:  # ResponseParsingError (malformed body), validation, ...
            raise StoreError(BACKEND, f"{what} failed: {type(exc).__name__}: {exc}") from exc

    async def _open(self) -> Any:
        if self._index is not None:
            return self._index
        async with self._lock:
            if self._index is None:
                s = self._settings
                index = await self._call(
                    "open index", lambda: self._client.index(name=s.pinecone_index or "", host=s.pinecone_host or "")
                )
                _single_attempt(index)
                try:
                    stats = await self._call("describe_index_stats", index.describe_index_stats)
                except BaseException:
                    await index.close()
                    raise
                self.dimension = int(getattr(stats, "dimension", 0) or 0) or None
                self._index = index
                log.info(
                    "pinecone index %s namespace=%s dimension=%s vectors=%s",
                    index.host,
                    self.namespace,
                    self.dimension,
                    getattr(stats, "total_vector_count", "?"),
                )
        return self._index

    def _check_dimension(self, width: int) -> None:
        if self.dimension is not None and width != self.dimension:
            raise StoreMismatchError(
                f"the Pinecone index has dimension {self.dimension}, but the embedder makes {width}-dimensional "
                f"vectors: create an index with dimension {width} and metric cosine, "
                "or use the embedder it was built for"
            )

    # --- VectorStore ------------------------------------------------------------------------
    async def upsert(self, ids: Sequence[str], vectors: Vectors, chunks: Sequence[Chunk]) -> None:
        if not ids:
            return
        index = await self._open()
        matrix = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        self._check_dimension(matrix.shape[1])
        records = [
            {"id": cid, "values": _values(row), "metadata": metadata(chunk)}
            for cid, row, chunk in zip(ids, matrix, chunks, strict=True)
        ]
        for batch in upsert_batches(records):
            await self._call(
                f"upsert of {len(batch)} vectors",
                lambda batch=batch: index.upsert(vectors=batch, namespace=self.namespace, show_progress=False),  # type: ignore[misc]
            )

    async def delete(self, ids: Sequence[str]) -> None:
        if not ids:
            return
        index = await self._open()
        for start in range(0, len(ids), MAX_DELETE_IDS):
            part = list(ids[start : start + MAX_DELETE_IDS])
            await self._call(
                f"delete of {len(part)} ids",
                lambda part=part: index.delete(ids=part, namespace=self.namespace),  # type: ignore[misc]
            )

    async def query(
        self, vector: Vectors, top_k: int, *, filter: Mapping[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        index = await self._open()
        values = _values(vector)
        self._check_dimension(len(values))
        response = await self._call(
            "query",
            lambda: index.query(
                vector=values,
                top_k=top_k,
                namespace=self.namespace,
                filter=filter,
                include_values=False,
                include_metadata=False,
            ),
        )
        return [(str(m.id), float(m.score)) for m in (getattr(response, "matches", None) or [])]

    async def drop_namespace(self) -> None:
        """Delete every vector of this store's namespace (`kb eval` cleans up its private one)."""
        index = await self._open()
        await self._call(
            f"delete of namespace {self.namespace}",
            lambda: index.delete(delete_all=True, namespace=self.namespace),
        )

    async def close(self) -> None:
        if self._index is not None:
            await self._index.close()
            self._index = None
        await self._client.close()
