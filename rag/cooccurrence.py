"""Co-occurrence: do the ticket's rarest KB words ever appear together in one chunk of the KB?

    share = cooccurrence(catalog, "Copilot keeps suggesting deprecated npm packages")

An out-of-scope ticket often uses the KB's own words, but in combinations the KB never has: each
word is known, the pair is not ("Copilot" and "deprecated" each occur somewhere, never in one
section). Over the ticket's RAREST known words (fewest chunks first), this is the share of their
pairs that share at least one chunk, each pair weighted by the rarer word's IDF. 1.0 when the
ticket has fewer than two known words (nothing to say). Words with digits are left out, as in
`Catalog.unknown_terms`. Cost: at most RAREST*(RAREST-1)/2 FTS5 lookups (28), each stopping at
the first matching chunk.
"""

from __future__ import annotations

import math

from rag.catalog import Catalog, query_terms

RAREST = 8


def cooccurrence(catalog: Catalog, query: str) -> float:
    terms = [t for t in query_terms(query) if not any(c.isdigit() for c in t)]
    frequencies = catalog.document_frequencies(terms)  # cached; also refreshes the chunk count
    chunks = max(1, catalog.chunk_count)
    known = sorted((t for t in terms if frequencies[t] > 0), key=lambda t: (frequencies[t], t))[:RAREST]
    idf = {t: math.log((chunks + 1) / (frequencies[t] + 0.5)) for t in known}
    pairs = [(a, b) for i, a in enumerate(known) for b in known[i + 1 :]]
    found = catalog.occur_together(pairs)
    total = together = 0.0
    for a, b in pairs:
        weight = min(idf[a], idf[b])
        total += weight
        if (a, b) in found:
            together += weight
    return together / total if total > 0 else 1.0
