"""Token match: does the best evidence say, word for word, what the ticket asks about?

    matcher = TokenMatcher(local_embedder)
    vectors, packed = await matcher.chunk_states(texts)    # at ingest: one model run gives both
    vector, states = await matcher.query_states(ticket)    # at query time: the query's one run
    matcher.score(ticket, states, catalog, [catalog blobs of the top evidence]) -> 0..1

Late interaction ("MaxSim", as in ColBERT) with the packaged MiniLM: every topical word of the
ticket that the KB uses is matched to its closest token, in context, anywhere in the first
TOKEN_EVIDENCE evidence chunks; the score is the mean of those best cosines, weighted by each
word's rarity in the KB (IDF). Words the KB never uses are left to the unknown-words signal (in
context, "router" next to "password" would match "password"). An answerable ticket finds its rare
words (or close paraphrases) in the evidence; an out-of-scope one written in the product's own
words does not. Measured per dev KB it separates the two better than any sentence-level signal
(AUROC 0.99 / 0.88 / 0.88 on npm, github-docs and the sample KB against 0.91 / 0.85 / 0.76 for
top similarity; `bench/signals_experiment.py`).

The chunks' token states come from the ingest's own model run and are kept in the catalog, keyed
by content hash, int8 with one scale a token (20-27 KB a chunk: word pieces only, no stopwords or
punctuation). At query time the ticket's states come from the run that embeds it, so the
signal costs a catalog read and a small matrix product (well under a millisecond).
Only the packaged model has them: other embedders (OpenAI, KB_LOCAL_MODEL_DIR) go without.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from rag.catalog import Catalog
from rag.embedders.local import LocalEmbedder
from rag.protocols import Vectors
from rag.text import STOPWORDS

TOKEN_EVIDENCE = 5  # evidence chunks a ticket's words are looked for in (best article's first)
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'_-]*")
_PIECE = re.compile(r"[A-Za-z0-9]")


class TokenMatcher:
    def __init__(self, embedder: LocalEmbedder) -> None:
        self.embedder = embedder
        self.dimension = embedder.dimension
        # Which vocabulary ids are worth keeping for a chunk: word pieces with a letter or digit
        # that are not stopwords. Punctuation and "the" never decide a match; half the tokens go.
        vocab = embedder.vocabulary()
        keep = np.zeros(max(vocab.values()) + 1, dtype=bool)
        for token, index in vocab.items():
            word = token.removeprefix("##")
            keep[index] = bool(_PIECE.search(word)) and (token.startswith("##") or word not in STOPWORDS)
        self._keep = keep

    async def chunk_states(self, texts: Sequence[str]) -> tuple[Vectors, list[bytes]]:
        """Sentence vectors and packed token states of chunk texts, from one model run."""
        vectors, states = await self.embedder.embed_tokens(texts)
        packed = []
        for text, rows in zip(texts, states, strict=True):
            ids = self.embedder.token_ids(text)[1:-1]
            keep = self._keep[np.asarray(ids[: len(rows)], dtype=np.int64)]
            packed.append(pack(rows[keep]))
        return vectors, packed

    async def query_states(self, query: str) -> tuple[Vectors, Vectors]:
        """The query's sentence vector (1 row) and its token states, from one model run."""
        vectors, states = await self.embedder.embed_tokens([query])
        return vectors, states[0]

    def score(self, query: str, states: Vectors, catalog: Catalog, evidence: Sequence[bytes]) -> float | None:
        """IDF-weighted mean best cosine of the query's topical KB words in the evidence tokens.

        Only words the KB has count: the unknown-words signal judges the others, and a word the
        KB never uses would match by context alone ("router" next to "password"). 0 when the
        query has no such word; None when the evidence has no token states (a KB ingested before
        they were kept, or not with the packaged model)."""
        if not evidence or not len(states):
            return None
        weights = self._weights(query, len(states), catalog)
        total = float(weights.sum())
        chunk_states = np.vstack([unpack(blob, self.dimension) for blob in evidence])
        if total <= 0 or not len(chunk_states):
            return 0.0
        topical = weights > 0  # only the rows that count (a third of a chatty ticket's tokens)
        best = (states[topical] @ chunk_states.T).max(axis=1)
        return round(float((best * weights[topical]).sum() / total), 4)

    def _weights(self, query: str, rows: int, catalog: Catalog) -> npt.NDArray[np.float64]:
        """Each query token's share of its word's IDF (0 for stopwords, numbers, punctuation and
        words the KB never uses)."""
        spans = [(m.start(), m.end(), m.group(0).lower().strip("'_-")) for m in _WORD.finditer(query)]
        terms = sorted({w for _, _, w in spans if _topical(w)})
        df = catalog.document_frequencies(terms)
        chunks = max(1, catalog.chunk_count)
        idf = {t: math.log((chunks + 1) / (df[t] + 0.5)) for t in terms if df[t]}
        pieces: dict[int, list[int]] = {}
        word = 0
        for i, (start, _end) in enumerate(self.embedder.token_offsets(query)[:rows]):
            while word < len(spans) and spans[word][1] <= start:
                word += 1
            if word < len(spans) and spans[word][0] <= start and spans[word][2] in idf:
                pieces.setdefault(word, []).append(i)
        weights = np.zeros(rows, dtype=np.float64)
        for k, tokens in pieces.items():
            weights[tokens] = idf[spans[k][2]] / len(tokens)
        return weights


def _topical(word: str) -> bool:
    return len(word) > 1 and word not in STOPWORDS and "'" not in word and not any(c.isdigit() for c in word)


def pack(states: Vectors) -> bytes:
    """Token states as one float16 scale a token, then int8 values (dimension per token)."""
    if not len(states):
        return b""
    scales = np.abs(states).max(axis=1, keepdims=True) / 127.0
    scales = np.where(scales > 0, scales, 1.0).astype(np.float16)
    values = np.clip(np.rint(states / scales.astype(np.float32)), -127, 127).astype(np.int8)
    return scales.tobytes() + values.tobytes()


def unpack(blob: bytes, dimension: int) -> Vectors:
    tokens = len(blob) // (2 + dimension)
    scales = np.frombuffer(blob, dtype=np.float16, count=tokens).astype(np.float32)
    values = np.frombuffer(blob, dtype=np.int8, offset=2 * tokens).reshape(tokens, dimension)
    states: Vectors = values.astype(np.float32) * scales[:, None]
    return states
