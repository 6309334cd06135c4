"""Experiment (issue 10): new confidence signals measured leave-one-KB-out (not part of the tests).

    .venv/bin/python -m bench.signals_experiment            # builds the dev KBs once under /tmp/kbexp

Extracts the shipped signals plus candidate ones for every dev ticket and off-topic probe (hybrid
retrieval, the packaged MiniLM), then for each candidate set refits the confidence model
leave-one-KB-out exactly as `kb eval` does and prints per-KB escalation recall / answerable
escalated, plus AUROC per signal per KB.
"""

from __future__ import annotations

import asyncio
import math
import pickle
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench.fit_confidence import DEV
from bot.evaluation import load_labelled, offtopic_probes
from ingest.pipeline import ingest
from rag import confidence
from rag.catalog import Catalog, query_terms
from rag.embedders.local import LocalEmbedder, packaged_model_files
from rag.factory import build_kb
from rag.models import Ticket
from rag.settings import Settings
from rag.text import STOPWORDS

WORK = Path("/tmp/kbexp")
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9'_-]*")


class TokenEncoder:
    """Per-token hidden states of the packaged MiniLM (the same files the LocalEmbedder loads)."""

    def __init__(self, threads: int = 2) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        model, tok = packaged_model_files()
        self.tokenizer = Tokenizer.from_file(str(tok))
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=256)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    def encode(self, texts: list[str]) -> list[tuple[np.ndarray, list[tuple[int, int]], list[str]]]:
        """For each text: (L2-normalised token states without CLS/SEP, char offsets, tokens)."""
        enc = self.tokenizer.encode_batch(texts)
        width = max(len(e.ids) for e in enc)
        ids = np.zeros((len(enc), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for r, e in enumerate(enc):
            ids[r, : len(e.ids)] = e.ids
            mask[r, : len(e.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.inputs:
            feeds["token_type_ids"] = np.zeros_like(ids)
        hidden = self.session.run(None, feeds)[0]
        out = []
        for r, e in enumerate(enc):
            n = len(e.ids)
            h = hidden[r, 1 : n - 1]
            h = h / np.clip(np.linalg.norm(h, axis=1, keepdims=True), 1e-9, None)
            out.append((h.astype(np.float32), e.offsets[1 : n - 1], e.tokens[1 : n - 1]))
        return out


def word_spans(text: str) -> list[tuple[int, int, str]]:
    return [(m.start(), m.end(), m.group(0).lower().strip("'_-")) for m in _WORD.finditer(text)]


def content_token_weights(text: str, offsets: list[tuple[int, int]], catalog: Catalog) -> tuple[np.ndarray, list[str]]:
    """IDF weight per token (0 for stopwords / punctuation), spread over a word's pieces."""
    spans = word_spans(text)
    terms = sorted({w for _, _, w in spans if len(w) > 1 and w not in STOPWORDS and "'" not in w})
    df = catalog.document_frequencies(terms)
    n = max(1, catalog._chunk_count)
    idf = {t: math.log((n + 1) / (df[t] + 0.5)) for t in terms}
    weights = np.zeros(len(offsets), dtype=np.float64)
    words: list[str] = []
    pieces: dict[int, list[int]] = {}
    for i, (s, _e) in enumerate(offsets):
        words.append("")
        for k, (ws, we, w) in enumerate(spans):
            if ws <= s < we:
                if w in idf and not any(c.isdigit() for c in w):
                    pieces.setdefault(k, []).append(i)
                    words[i] = w
                break
    for k, idxs in pieces.items():
        w = spans[k][2]
        for i in idxs:
            weights[i] = idf[w] / len(idxs)
    return weights, words


async def build(kb_dir: Path, name: str, embedder: LocalEmbedder) -> Any:
    settings = Settings(kb_data_dir=WORK / name)  # type: ignore[call-arg]
    kb = build_kb(settings, embedder=embedder, mode="hybrid")
    if kb.counts()[0] == 0:
        summary = await ingest(kb, [kb_dir])
        print(name, summary.line(), file=sys.stderr)
    return kb


async def extract() -> dict[str, Any]:
    cache = WORK / "features.pkl"
    embedder = LocalEmbedder()
    encoder = TokenEncoder()
    data: dict[str, Any] = {}
    for kb_dir, tickets_path in DEV:
        name = kb_dir.name if kb_dir.name != "articles" else kb_dir.parent.name
        kb = await build(kb_dir, name, embedder)
        catalog = kb.catalog
        rows = [(r["ticket"], r["expect"] == "answer", str(r["id"])) for r in load_labelled(tickets_path)]
        rows += [(p, False, "probe") for p in offtopic_probes()]
        items = []
        for text, label, tid in rows:
            query = Ticket(ticket=text).text()
            t0 = time.perf_counter()
            retrieval = await kb.search(query, top_articles=5)
            t_ret = (time.perf_counter() - t0) * 1000
            base = confidence.features(retrieval)
            item: dict[str, Any] = {
                "id": tid,
                "text": query,
                "answerable": label,
                "probe": tid == "probe",
                "base": base,
                "t_retrieve": t_ret,
                "articles": [a.article_id for a in retrieval.articles],
                "unknown_terms": retrieval.unknown_terms,
                "intent_category": retrieval.intent_category,
            }
            # --- token-level late interaction (MaxSim) ---
            top_chunks = [h.chunk for h in retrieval.articles[0].hits] if retrieval.articles else []
            ev = [h.chunk for h in retrieval.evidence]
            t0 = time.perf_counter()
            (qh, qoff, qtok), *_ = encoder.encode([query])
            t_q = (time.perf_counter() - t0) * 1000
            weights, words = content_token_weights(query, qoff, catalog)
            item["t_qtokens"] = t_q
            for label_k, chunks in (("top1", top_chunks[:3]), ("ev3", ev[:3]), ("ev5", ev[:5])):
                if not chunks or weights.sum() == 0:
                    item[f"maxsim_{label_k}"] = 0.0
                    continue
                t0 = time.perf_counter()
                enc = encoder.encode([c.embedding_text() for c in chunks])
                t_c = (time.perf_counter() - t0) * 1000
                ch = np.vstack([h for h, _, _ in enc])
                sims = qh @ ch.T
                best = sims.max(axis=1)
                item[f"t_chunks_{label_k}"] = t_c
                item[f"maxsim_{label_k}"] = float((best * weights).sum() / weights.sum())
                item[f"maxsim_{label_k}_tok"] = (best, weights, words)
            # --- phrase coverage (FTS5 phrase queries) ---
            t0 = time.perf_counter()
            item.update(phrase_features(query, catalog, [a.article_id for a in retrieval.articles[:1]]))
            item["t_phrase"] = (time.perf_counter() - t0) * 1000
            items.append(item)
        data[name] = items
        await kb.close(embedder=False)
    await embedder.close()
    cache.write_bytes(pickle.dumps(data))
    return data


def _fts(catalog: Catalog, match: str, article: str | None = None) -> int:
    with catalog._lock:
        if article is None:
            row = catalog._db.execute("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?", (match,))
        else:
            row = catalog._db.execute(
                "SELECT count(*) FROM chunks_fts JOIN chunks c ON c.rowid = chunks_fts.rowid "
                "WHERE chunks_fts MATCH ? AND c.article_id = ?",
                (match, article),
            )
        return int(row.fetchone()[0])


def phrase_features(query: str, catalog: Catalog, top_articles: list[str]) -> dict[str, float]:
    spans = [w for _, _, w in word_spans(query)]
    terms = [t for t in query_terms(query) if not any(c.isdigit() for c in t)]
    df = catalog.document_frequencies(terms)
    n = max(1, catalog._chunk_count)
    idf = {t: math.log((n + 1) / (df[t] + 0.5)) for t in terms}
    known = {t for t in terms if df[t] > 0}
    # adjacent content-word bigrams (stopwords between break nothing: "change the password" -> change password)
    content_seq = [w for w in spans if w in idf]
    bigrams = []
    for a, b in zip(content_seq, content_seq[1:], strict=False):
        if a != b and a in known and b in known:
            bigrams.append((a, b))
    # strict adjacent bigrams in the raw text
    strict = [(a, b) for a, b in zip(spans, spans[1:], strict=False) if a in known and b in known and a != b]
    out: dict[str, float] = {}
    for label, pairs in (("bigram", bigrams), ("strict", strict)):
        tot = hit = near = art = 0.0
        for a, b in dict.fromkeys(pairs):
            w = min(idf[a], idf[b])
            tot += w
            if _fts(catalog, f'"{a} {b}"') > 0:
                hit += w
            if _fts(catalog, f'NEAR("{a}" "{b}", 3)') > 0:
                near += w
            if top_articles and _fts(catalog, f'NEAR("{a}" "{b}", 10)', top_articles[0]) > 0:
                art += w
        out[f"{label}_kb"] = hit / tot if tot else 1.0
        out[f"{label}_near"] = near / tot if tot else 1.0
        out[f"{label}_art"] = art / tot if tot else 1.0
        out[f"{label}_n"] = len(set(pairs))
    # pairwise co-occurrence in one chunk, among the ticket's 8 rarest known words
    rare = sorted(known, key=lambda t: -idf[t])[:8]
    tot = hit = 0.0
    for i, a in enumerate(rare):
        for b in rare[i + 1 :]:
            w = min(idf[a], idf[b])
            tot += w
            if _fts(catalog, f'"{a}" AND "{b}"') > 0:
                hit += w
    out["cooc_chunk"] = hit / tot if tot else 1.0
    return out


def auroc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    wins = sum((p > q) + 0.5 * (p == q) for p in pos for q in neg)
    return wins / (len(pos) * len(neg))


def loko(data: dict[str, Any], signals: tuple[str, ...]) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    names = list(data)
    for held in names:
        rows, labels, weights = [], [], []
        for other in names:
            if other == held:
                continue
            for it in data[other]:
                rows.append(it["f"])
                labels.append(it["answerable"])
                weights.append(confidence.PROBE_WEIGHT if it["probe"] else 1.0)
        model = confidence.fit(rows, labels, weights, signals)
        tickets = [it for it in data[held] if not it["probe"]]
        oos = [it for it in tickets if not it["answerable"]]
        ans = [it for it in tickets if it["answerable"]]
        esc = [model.decide(it["f"]) == "escalate" for it in oos + ans]
        out[held] = (sum(esc[: len(oos)]), len(oos), sum(esc[len(oos) :]), len(ans))
    return out


def flatten(data: dict[str, Any]) -> None:
    for items in data.values():
        for it in items:
            f = dict(it["base"])
            for k, v in it.items():
                if isinstance(v, (int, float)) and not isinstance(v, bool) and not k.startswith("t_"):
                    f[k] = float(v)
            f["maxsim_ev5_known"] = _known_only(it)
            it["f"] = f


def _known_only(item: dict[str, Any]) -> float:
    """maxsim_ev5 over the words the KB uses (what rag/token_match.py ships)."""
    tok = item.get("maxsim_ev5_tok")
    if tok is None:
        return 0.0
    best, weights, words = tok
    unknown = set(item["unknown_terms"])
    known = weights * np.array([w not in unknown for w in words])
    return float((best * known).sum() / known.sum()) if known.sum() > 0 else 0.0


def report(data: dict[str, Any], candidates: list[str]) -> None:
    flatten(data)
    base = BASELINE
    sets: list[tuple[str, tuple[str, ...]]] = [("baseline", base)]
    sets += [(f"+{c}", (*base, c)) for c in candidates]
    print(f"{'signals':<26}" + "".join(f"{n[:12]:>16}" for n in data) + f"{'pooled R':>10}")
    for label, sig in sets:
        res = loko(data, sig)
        tp = sum(r[0] for r in res.values())
        pos = sum(r[1] for r in res.values())
        cells = "".join(f"{f'{a}/{b} {c}/{d}':>16}" for a, b, c, d in res.values())
        print(f"{label:<26}{cells}{tp / pos:>10.2f}")
    print()
    print("AUROC (answerable vs OOS tickets; answerable higher = >0.5) per KB, and tickets vs probes")
    print(f"{'signal':<22}" + "".join(f"{n[:12]:>14}" for n in data) + f"{'ans/probe':>12}")
    for s in [*base, *candidates]:
        cells = ""
        for items in data.values():
            t = [it for it in items if not it["probe"]]
            ans, oos = [i["f"][s] for i in t if i["answerable"]], [i["f"][s] for i in t if not i["answerable"]]
            cells += f"{auroc(ans, oos):>14.2f}"
        allans = [i["f"][s] for items in data.values() for i in items if i["answerable"]]
        probes = [i["f"][s] for items in data.values() for i in items if i["probe"]]
        print(f"{s:<22}{cells}{auroc(allans, probes):>12.2f}")


def timings(data: dict[str, Any]) -> None:
    keys = sorted({k for items in data.values() for it in items for k in it if k.startswith("t_")})
    for k in keys:
        vals = [it[k] for items in data.values() for it in items if k in it and not it["probe"]]
        print(f"{k:<18} p50 {statistics.median(vals):7.2f} ms  p95 {sorted(vals)[int(0.95 * (len(vals) - 1))]:7.2f} ms")


# The signals before this experiment (cooccurrence, "cooc_chunk" here, was added from it).
BASELINE = ("similarity", "coverage", "escalation_intent", "unknown_words")
CANDIDATES = [
    "maxsim_top1",
    "maxsim_ev3",
    "maxsim_ev5",
    "maxsim_ev5_known",
    "bigram_kb",
    "bigram_near",
    "bigram_art",
    "strict_kb",
    "strict_near",
    "strict_art",
    "cooc_chunk",
]


def main() -> int:
    cache = WORK / "features.pkl"
    if cache.exists() and "--rebuild" not in sys.argv:
        data = pickle.loads(cache.read_bytes())
    else:
        WORK.mkdir(exist_ok=True)
        data = asyncio.run(extract())
    report(data, CANDIDATES)
    print()
    timings(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
