"""The only place that picks implementations: settings in, a wired `KnowledgeBase` or `Engine` out.

    kb = build_kb(Settings())                               # ingest, eval, bench: no drafter needed
    engine = build_engine(Settings())                       # embedded default without keys
    engine = build_engine(settings, embedder=shared)       # tests share one loaded model
    engine = build_engine(settings, breakers=state)        # replicas share breakers (bot.shared)

No keys set means MiniLM + SQLite + the extractive drafter. OPENAI_API_KEY switches on the OpenAI
embedder and drafter, PINECONE_API_KEY the Pinecone store (each overridable with KB_EMBEDDER,
KB_DRAFTER, KB_STORE). Production modules are imported only when chosen.
"""

from __future__ import annotations

from rag.blas import one_blas_thread
from rag.catalog import Catalog
from rag.engine import Engine
from rag.knowledge import KnowledgeBase
from rag.protocols import Drafter, Embedder, VectorStore
from rag.retrieve import Mode
from rag.retry import SharedBreakers
from rag.settings import Settings
from rag.token_match import TokenMatcher


def build_embedder(settings: Settings, *, breakers: SharedBreakers | None = None) -> Embedder:
    if settings.embedder_kind == "openai":
        from rag.embedders.openai import OpenAIEmbedder

        return OpenAIEmbedder(settings, breakers=breakers)
    from rag.embedders.local import LocalEmbedder

    return LocalEmbedder(model_dir=settings.kb_local_model_dir)


def build_store(settings: Settings, catalog: Catalog, *, breakers: SharedBreakers | None = None) -> VectorStore:
    if settings.store_kind == "pinecone":
        from rag.stores.pinecone import PineconeStore

        return PineconeStore(settings, breakers=breakers)
    from rag.stores.sqlite import SqliteVectorStore

    return SqliteVectorStore(catalog)


def build_drafter(
    settings: Settings, catalog: Catalog | None = None, *, breakers: SharedBreakers | None = None
) -> Drafter:
    """The OpenAI drafter with a key, else the extractive one (IDF weights from `catalog` when given)."""
    if settings.drafter_kind == "openai":
        from rag.drafters.openai import OpenAIDrafter

        return OpenAIDrafter(settings, breakers=breakers)
    from rag.drafters.extractive import ExtractiveDrafter

    return ExtractiveDrafter(catalog)


def build_kb(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    mode: Mode | None = None,
    breakers: SharedBreakers | None = None,
) -> KnowledgeBase:
    """Open the catalog, bind it to the embedder's model (refusing a mismatch), pick the store."""
    one_blas_thread()
    embedder = embedder or build_embedder(settings, breakers=breakers)
    catalog = Catalog.open(settings.db_path)
    try:
        catalog.bind_model(embedder.model_id, embedder.dimension)
        store = build_store(settings, catalog, breakers=breakers)
    except BaseException:
        catalog.close()
        raise
    return KnowledgeBase(
        catalog, embedder, store, mode=mode or settings.kb_retrieval_mode, matcher=token_matcher(embedder)
    )


def token_matcher(embedder: Embedder) -> TokenMatcher | None:
    """The token-match signal needs the packaged model's token states (the weights were fitted on them)."""
    from rag.embedders.local import PACKAGED_MODEL_ID, LocalEmbedder

    if isinstance(embedder, LocalEmbedder) and embedder.model_id == PACKAGED_MODEL_ID:
        return TokenMatcher(embedder)
    return None


def build_engine(
    settings: Settings,
    *,
    embedder: Embedder | None = None,
    drafter: Drafter | None = None,
    mode: Mode | None = None,
    breakers: SharedBreakers | None = None,
) -> Engine:
    """A knowledge base (see `build_kb`) with confidence, required data and a drafter on top.

    `breakers` is where the OpenAI and Pinecone circuit breakers meet those of other replicas."""
    kb = build_kb(settings, embedder=embedder, mode=mode, breakers=breakers)
    return Engine(settings, kb=kb, drafter=drafter or build_drafter(settings, kb.catalog, breakers=breakers))
