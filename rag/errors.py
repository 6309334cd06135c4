"""Errors the engine raises; only the doors (Slack, HTTP, CLI) turn them into text or status codes.

KBError
├── ConfigError            settings that cannot work together (bad value, missing key)
├── IngestError            an article source that cannot be read (names the file)
├── StoreMismatchError     the store was built by another embedding model or dimension
└── BackendError           an outside service failed (after retries)
    ├── EmbedderError
    ├── StoreError
    └── DrafterError
"""

from __future__ import annotations


class KBError(Exception):
    """Base of every error kb-rag raises on purpose."""


class ConfigError(KBError):
    pass


class IngestError(KBError):
    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


class StoreMismatchError(KBError):
    pass


class BackendError(KBError):
    """`backend` names the service (e.g. "openai", "pinecone") for logs and degraded reasons."""

    def __init__(self, backend: str, message: str) -> None:
        super().__init__(f"{backend}: {message}")
        self.backend = backend


class EmbedderError(BackendError):
    pass


class StoreError(BackendError):
    pass


class DrafterError(BackendError):
    pass
