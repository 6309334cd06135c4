"""What the OpenAI embedder and drafter share: the client, the retry verdict, the error boundary.

    client = build_client(settings)                   # AsyncOpenAI(base_url=OPENAI_BASE_URL, max_retries=0)
    result = await guarded(lambda: client.embeddings.create(...), settings=settings,
                           what="embeddings", error=EmbedderError)

The SDK's own retries are off (`max_retries=0`): `rag.retry` is the one policy, so
KB_MAX_RETRIES and KB_TIMEOUT_S mean the same thing for OpenAI and Pinecone. Whatever goes wrong
in the call (HTTP errors, connection errors, timeouts, a body that is not the JSON the SDK expects)
leaves as the caller's `BackendError` subclass with backend "openai".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import openai

from rag.errors import BackendError
from rag.retry import (
    RETRYABLE_STATUS,
    Breaker,
    RetriesExhausted,
    RetryPolicy,
    SharedBreakers,
    Transient,
    call_with_retries,
    retry_after_seconds,
)
from rag.settings import Settings

T = TypeVar("T")
BACKEND = "openai"
DEFAULT_BASE_URL = "https://api.openai.com/v1"


def build_breaker(settings: Settings, what: str, shared: SharedBreakers | None = None) -> Breaker:
    """The breaker of one OpenAI endpoint (`what`: "embeddings", "chat"), shared by replicas under that name."""
    return Breaker(cooldown_s=settings.kb_timeout_s, name=f"{BACKEND}:{what}", shared=shared)


def build_client(settings: Settings) -> openai.AsyncOpenAI:
    settings.require("openai_api_key")
    assert settings.openai_api_key is not None
    return openai.AsyncOpenAI(
        api_key=settings.openai_api_key.get_secret_value(),
        base_url=settings.openai_base_url or DEFAULT_BASE_URL,
        timeout=settings.kb_timeout_s,
        max_retries=0,
    )


def verdict(exc: BaseException) -> Transient | None:
    """429, 408/409, 5xx, connection errors and timeouts are worth another attempt."""
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return Transient()
    if isinstance(exc, openai.APIStatusError) and (exc.status_code in RETRYABLE_STATUS or exc.status_code >= 500):
        return Transient(retry_after_seconds(exc.response.headers))
    return None


async def guarded(
    attempt: Callable[[], Awaitable[T]],
    *,
    settings: Settings,
    what: str,
    error: type[BackendError],
    breaker: Breaker | None = None,
) -> T:
    try:
        return await call_with_retries(
            attempt,
            policy=RetryPolicy.from_settings(settings),
            classify=verdict,
            what=f"{BACKEND} {what}",
            breaker=breaker,
        )
    except RetriesExhausted as exc:
        raise error(BACKEND, str(exc)) from exc
    except openai.APIStatusError as exc:
        raise error(BACKEND, f"{what} rejected: HTTP {exc.status_code}: {exc.message}") from exc
    except openai.OpenAIError as exc:
        raise error(BACKEND, f"{what} failed: {type(exc).__name__}: {exc}") from exc
    except (ValueError, TypeError, AttributeError, KeyError) as exc:
        # The SDK surfaces a body that is not JSON as a bare JSONDecodeError (a ValueError), and a
        # JSON body of the wrong shape as attribute/key errors while it builds its objects.
        raise error(BACKEND, f"{what}: malformed response ({type(exc).__name__}: {exc})") from exc
