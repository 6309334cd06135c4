"""kb-rag's engine: answer support tickets from help-center articles.

from rag import Settings, build_engine
engine = build_engine(Settings())
answer = await engine.answer("I was charged twice this month")
"""

from rag.engine import Engine
from rag.errors import (
    BackendError,
    ConfigError,
    DrafterError,
    EmbedderError,
    IngestError,
    KBError,
    StoreError,
    StoreMismatchError,
)
from rag.factory import build_engine
from rag.models import Answer, Article, Chunk, Confidence, Hit, RequiredItem, Source, Ticket, Tier
from rag.protocols import Drafter, Embedder, VectorStore
from rag.settings import Settings

__all__ = [
    "Answer",
    "Article",
    "BackendError",
    "Chunk",
    "Confidence",
    "ConfigError",
    "Drafter",
    "DrafterError",
    "Embedder",
    "EmbedderError",
    "Engine",
    "Hit",
    "IngestError",
    "KBError",
    "RequiredItem",
    "Settings",
    "Source",
    "StoreError",
    "StoreMismatchError",
    "Ticket",
    "Tier",
    "VectorStore",
    "build_engine",
]
