"""OpenAI embeddings (`text-embedding-3-small` by default) through the official SDK.

    embedder = OpenAIEmbedder(settings)            # OPENAI_API_KEY, OPENAI_BASE_URL, KB_OPENAI_EMBEDDING_MODEL
    vectors = await embedder.embed(["I was charged twice"])   # (1, 1536) float32, L2-normalised
    await embedder.close()

Inputs are sent in batches within the API's limits (2,048 inputs and ~300k tokens a request,
8,191 tokens an input; tokens are estimated from UTF-8 bytes, on the safe side, so no tokenizer
is needed). With KB_REDACT_PII on, e-mails, phones, cards and IBANs are replaced by placeholders
before the text leaves (for KB chunks as well as ticket queries). Every call goes through
`rag.retry` and fails as `EmbedderError`, which retrieval turns into keyword-only search.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from rag.batching import size_bounded
from rag.errors import ConfigError, EmbedderError
from rag.openai_client import build_breaker, build_client, guarded
from rag.protocols import Vectors
from rag.redact import redact
from rag.retry import SharedBreakers
from rag.settings import Settings

log = logging.getLogger(__name__)

# Native sizes; text-embedding-3-* can be shortened with KB_OPENAI_EMBEDDING_DIMENSIONS.
KNOWN_DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
SHORTENABLE = ("text-embedding-3-",)
MAX_INPUTS = 2048
MAX_REQUEST_TOKENS = 300_000
MAX_INPUT_TOKENS = 8191
BYTES_PER_TOKEN = 2  # a token is ~4 bytes of English and >= ~2 bytes of most other scripts: over-estimates
REQUEST_BYTES = (MAX_REQUEST_TOKENS - 20_000) * BYTES_PER_TOKEN
INPUT_BYTES = (MAX_INPUT_TOKENS - 191) * BYTES_PER_TOKEN


def batches(texts: Sequence[str], max_inputs: int = MAX_INPUTS, max_bytes: int = REQUEST_BYTES) -> list[list[int]]:
    """Indexes of `texts` grouped into requests that respect the input-count and size limits."""
    return size_bounded(range(len(texts)), lambda i: len(texts[i].encode("utf-8")), max_inputs, max_bytes)


def fit_input(text: str) -> str:
    """Non-empty (the API rejects "") and short enough for one input."""
    raw = text.encode("utf-8")
    if len(raw) > INPUT_BYTES:
        text = raw[:INPUT_BYTES].decode("utf-8", errors="ignore")
    return text if text.strip() else " "


class OpenAIEmbedder:
    name = "openai"

    def __init__(self, settings: Settings, *, breakers: SharedBreakers | None = None) -> None:
        self.model = settings.kb_openai_embedding_model
        wanted = settings.kb_openai_embedding_dimensions
        native = KNOWN_DIMENSIONS.get(self.model)
        if wanted is None and native is None:
            raise ConfigError(
                f"embedding model {self.model!r} is not one kb-rag knows the vector size of: "
                "set KB_OPENAI_EMBEDDING_DIMENSIONS"
            )
        self.dimension = int(wanted or native or 0)
        # Ask the API to shorten only when it can and when it is not the native size anyway.
        self._request_dimensions = (
            self.dimension if wanted and wanted != native and self.model.startswith(SHORTENABLE) else None
        )
        self.model_id = f"openai:{self.model}" + (f"@{self.dimension}" if wanted and wanted != native else "")
        self._settings = settings
        self._redact = settings.kb_redact_pii
        self._client = build_client(settings)
        self._breaker = build_breaker(settings, "embeddings", breakers)

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        prepared = [fit_input(redact(t) if self._redact else t) for t in texts]
        out = np.empty((len(prepared), self.dimension), dtype=np.float32)
        for group in batches(prepared):
            out[group] = await self._request([prepared[i] for i in group])
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        normalised: Vectors = (out / np.clip(norms, 1e-12, None)).astype(np.float32)
        return normalised

    async def _request(self, inputs: list[str]) -> Vectors:
        started = time.perf_counter()
        extra: dict[str, Any] = {"dimensions": self._request_dimensions} if self._request_dimensions else {}
        response = await guarded(
            lambda: self._client.embeddings.create(model=self.model, input=inputs, **extra),
            settings=self._settings,
            what="embeddings",
            error=EmbedderError,
            breaker=self._breaker,
        )
        data = getattr(response, "data", None)
        if not isinstance(data, list) or len(data) != len(inputs):
            got = len(data) if isinstance(data, list) else type(data).__name__
            raise EmbedderError("openai", f"embeddings: expected {len(inputs)} vectors, got {got}")
        rows = sorted(data, key=lambda d: getattr(d, "index", 0) or 0)
        try:
            matrix = np.array([row.embedding for row in rows], dtype=np.float32)
        except (TypeError, ValueError, AttributeError) as exc:
            raise EmbedderError("openai", f"embeddings: malformed vectors ({exc})") from exc
        if matrix.ndim != 2 or matrix.shape[1] != self.dimension:
            raise EmbedderError(
                "openai",
                f"embeddings: model {self.model} returned vectors of shape {matrix.shape}, "
                f"expected dimension {self.dimension} (check KB_OPENAI_EMBEDDING_DIMENSIONS)",
            )
        log.debug(
            "openai embeddings model=%s inputs=%d ms=%.0f",
            self.model,
            len(inputs),
            (time.perf_counter() - started) * 1000,
        )
        return matrix

    async def close(self) -> None:
        await self._client.close()
