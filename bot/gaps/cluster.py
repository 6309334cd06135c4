"""Topics by meaning and their labels, with NumPy only.

    groups = agglomerate(vectors, min_similarity=0.3)      # [[3, 0, 7], [1, 5], [2], ...] biggest first
    keywords = topic_keywords(texts, groups)               # [["baggage", "suitcase", "flight"], ...]

`agglomerate` is average-linkage agglomerative clustering on cosine similarity: start with one
topic per ticket, keep merging the two topics whose tickets are closest on average, stop when no
pair is at least `min_similarity` alike. With the packaged MiniLM model, tickets about the same
problem in other words score about 0.3-0.6 on average and unrelated ones below 0.15, so 0.3 keeps
"lost suitcase" and "broken luggage wheel" together and apart from "printer offline".

`topic_keywords` picks each topic's most telling words: the share of its tickets that use a word,
weighted by how much more often they use it than the other topics' tickets do (a TF-IDF in spirit:
a word every topic uses tells nothing).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from rag.redact import PLACEHOLDER
from rag.text import STOPWORDS, stem

DEFAULT_MIN_SIMILARITY = 0.3
KEYWORDS = 3

# Words of support tickets that say nothing about the topic.
_NOISE = frozenset(
    """able again already always anyone anything back best better day days does done else every ever
    getting going good issue issues keep keeps last look looks make many maybe much new next now
    often problem problems question questions right said say says see seems since someone something
    sorry soon sure team thing things today tried try trying two way ways week weeks without work
    working works would could should yesterday morning regards dear sir madam cheers hey""".split()
)
_WORD = re.compile(r"[a-z][a-z0-9]*(?:'[a-z]+)?")


def agglomerate(vectors: npt.NDArray[np.float32], min_similarity: float = DEFAULT_MIN_SIMILARITY) -> list[list[int]]:
    """Row indices grouped into topics, biggest first (ties: lowest index first); rows are L2-normalised."""
    n = len(vectors)
    if n == 0:
        return []
    sim = np.asarray(vectors, dtype=np.float64) @ np.asarray(vectors, dtype=np.float64).T
    np.fill_diagonal(sim, -np.inf)
    sizes = np.ones(n)
    members: list[list[int]] = [[i] for i in range(n)]
    # Each row's best partner, kept up to date, so a merge costs O(n) instead of a scan of the matrix.
    best = sim.max(axis=1)
    partner = sim.argmax(axis=1)
    while n > 1:
        a = int(np.argmax(best))
        if best[a] < min_similarity:
            break
        b = int(partner[a])
        merged = (sizes[a] * sim[a] + sizes[b] * sim[b]) / (sizes[a] + sizes[b])  # average linkage, exactly
        merged[[a, b]] = -np.inf
        sim[a], sim[:, a] = merged, merged
        sim[b], sim[:, b] = -np.inf, -np.inf
        sizes[a] += sizes[b]
        members[a] += members[b]
        members[b] = []
        best[b] = -np.inf
        stale = np.flatnonzero((partner == a) | (partner == b))
        for i in (*stale, a):
            if members[i]:
                partner[i] = int(np.argmax(sim[i]))
                best[i] = sim[i, partner[i]]
        closer = merged > best
        closer[stale] = False
        closer[a] = False
        best[closer], partner[closer] = merged[closer], a
    groups = [sorted(m) for m in members if m]
    return sorted(groups, key=lambda g: (-len(g), g[0]))


def words(text: str) -> list[str]:
    """The ticket's content words in order, lower-cased; placeholders ([EMAIL_1]) and filler left out."""
    text = PLACEHOLDER.sub(" ", text).lower()
    return [w for w in _WORD.findall(text) if len(w) > 2 and w not in STOPWORDS and w not in _NOISE]


def topic_keywords(texts: Sequence[str], groups: Sequence[Sequence[int]], top: int = KEYWORDS) -> list[list[str]]:
    """The `top` most telling words of each group of `texts` (as the tickets spell them)."""
    docs: list[set[str]] = []
    spelled: dict[str, Counter[str]] = {}
    for text in texts:
        stems = set()
        for word in words(text):
            key = stem(word)
            stems.add(key)
            spelled.setdefault(key, Counter())[word] += 1
        docs.append(stems)
    everywhere = Counter(key for doc in docs for key in doc)
    total = len(docs)
    out = []
    for group in groups:
        inside = Counter(key for i in group for key in docs[i])
        size, rest = len(group), total - len(group)
        shared = 2 if size >= 3 else 1  # a word only one ticket of a big topic uses is not its topic
        scored = []
        for key, df in inside.items():
            if df < shared:
                continue
            a = df / size
            b = (everywhere[key] - df + 0.5) / (rest + 1)
            if a > b:
                scored.append((a * math.log(a / b), df, key))
        scored.sort(key=lambda s: (-s[0], -s[1], s[2]))
        out.append([spelled[key].most_common(1)[0][0] for _, _, key in scored[:top]])
    return out
