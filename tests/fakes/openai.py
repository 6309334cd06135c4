"""A fake OpenAI API: `/v1/embeddings` and `/v1/chat/completions` (JSON-schema structured output).

    fake = FakeOpenAI(); await fake.start()
    client = AsyncOpenAI(base_url=fake.base_url, api_key="sk-test", max_retries=0)
    fake.reply = {"draft": "...", "cited_chunk_ids": ["x#1"], "citations": [], "required_data": []}   # or a function
    fake.chats[-1]["messages"]       # what the SDK sent

Embeddings are deterministic hashed bags of words (1536 floats for text-embedding-3-small), so
texts sharing words are close: dense retrieval over the fake behaves like a weak real model.
The default chat reply is built from the request: it quotes the first sentence of the first evidence
chunk and cites it (and the first evidence chunks), repeats the ticket's PII placeholders (so
restoration can be checked) and keeps the rule-based candidates.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from tests.fakes.faults import FaultyServer

DIMENSIONS = {"text-embedding-3-small": 1536, "text-embedding-3-large": 3072, "text-embedding-ada-002": 1536}
_WORD = re.compile(r"[a-z0-9]+")
_CHUNK_ID = re.compile(r'<chunk id="([^"]+)"')
_PLACEHOLDER = re.compile(r"\[(?:EMAIL|PHONE|CARD|IBAN)_\d+\]")
_CANDIDATE = re.compile(r"^- (.+?)(?: \(why: .*\))?(?: \[sources: (.*)\])?$", re.MULTILINE)

Reply = dict[str, Any] | str | Callable[[dict[str, Any]], "dict[str, Any] | str"]


def hashed_embedding(text: str, dim: int) -> list[float]:
    vec = np.zeros(dim, dtype=np.float64)
    for word in _WORD.findall(text.lower()):
        stem = word[:6]  # a crude stemmer: "passwords"/"password", "charged"/"charge"
        digest = hashlib.blake2b(stem.encode(), digest_size=8).digest()
        vec[int.from_bytes(digest[:4], "little") % dim] += 1.0 if digest[4] & 1 else -1.0
    norm = np.linalg.norm(vec)
    if norm == 0:
        vec[0] = 1.0
        norm = 1.0
    return (vec / norm).tolist()  # type: ignore[no-any-return]


def section(user: str, tag: str) -> str:
    match = re.search(rf"<{tag}>\n(.*?)\n</{tag}>", user, re.DOTALL)
    return match.group(1) if match else ""


def default_reply(request: dict[str, Any]) -> dict[str, Any]:
    user = next(m["content"] for m in request["messages"] if m["role"] == "user")
    ids = _CHUNK_ID.findall(section(user, "evidence"))
    ticket = section(user, "ticket")
    placeholders = list(dict.fromkeys(_PLACEHOLDER.findall(ticket)))
    draft = "Hi there,\n\nThanks for reaching out. Here is what our help center says about this."
    if placeholders:
        draft += f"\n\nWe will follow up about {', '.join(placeholders)}."
    required = [
        {
            "item": m.group(1),
            "why": "our rules asked for it",
            "source_ids": [s.strip() for s in (m.group(2) or "").split(",") if s.strip()],
        }
        for m in _CANDIDATE.finditer(section(user, "required_candidates"))
    ]
    # One claim quoted from the first chunk, cited the way the schema asks: the sentence as the draft
    # writes it and the chunk it comes from.
    claim = first_sentence(section(user, "evidence"))
    if claim:
        draft += f"\n\n{claim}"
    return {
        "draft": draft + "\n\nBest regards,",
        "answers_ticket": True,
        "cited_chunk_ids": ids[:2],
        "citations": [{"text": claim, "chunk_ids": ids[:1]}] if claim else [],
        "required_data": required,
    }


def first_sentence(evidence: str) -> str:
    """The first sentence of the first chunk of an evidence block, Markdown marks and list numbers
    removed ("" when it has none)."""
    match = re.search(r'<chunk id="[^"]*".*?>\n(.*?)\n</chunk>', evidence, re.DOTALL)
    for line in (match.group(1) if match else "").splitlines():
        line = re.sub(r"^\s*(?:\d+[.)]|[-*+])\s+", "", line)
        line = re.sub(r"[*_`>#]|\[!\w+\]", "", line).strip()
        if len(line.split()) >= 4 and not line.startswith("|"):
            return re.split(r"(?<=[.!?])\s", line, maxsplit=1)[0]
    return ""


class FakeOpenAI(FaultyServer):
    def __init__(self) -> None:
        super().__init__()
        self.reply: Reply = default_reply

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/embeddings", self._embeddings)
        app.router.add_post("/v1/chat/completions", self._chat)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = "rate_limit_exceeded" if status == 429 else "server_error"
        return {"error": {"message": message, "type": kind, "param": None, "code": kind}}

    @property
    def embedding_requests(self) -> list[dict[str, Any]]:
        return [r.body for r in self.calls("/v1/embeddings")]

    @property
    def chats(self) -> list[dict[str, Any]]:
        return [r.body for r in self.calls("/v1/chat/completions")]

    async def _embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if not inputs or len(inputs) > 2048 or any(not isinstance(t, str) or not t for t in inputs):
            return web.json_response(self.error_body(400, "bad input"), status=400)
        dim = int(body.get("dimensions") or DIMENSIONS.get(body["model"], 1536))
        data = []
        for i, text in enumerate(inputs):
            vec = hashed_embedding(text, dim)
            encoded: Any = vec
            if body.get("encoding_format") == "base64":
                encoded = base64.b64encode(struct.pack(f"<{dim}f", *vec)).decode()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(len(t.split()) for t in inputs)
        return web.json_response(
            {
                "object": "list",
                "model": body["model"],
                "data": data,
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            }
        )

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        reply = self.reply(body) if callable(self.reply) else self.reply
        content = reply if isinstance(reply, str) else json.dumps(reply)
        prompt_chars = sum(len(m.get("content") or "") for m in body["messages"])
        return web.json_response(
            {
                "id": f"chatcmpl-{len(self.requests)}",
                "object": "chat.completion",
                "created": 0,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": content, "refusal": None},
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_chars // 4,
                    "completion_tokens": len(content) // 4,
                    "total_tokens": (prompt_chars + len(content)) // 4,
                },
            }
        )


@pytest.fixture
async def fake_openai() -> AsyncIterator[FakeOpenAI]:
    fake = FakeOpenAI()
    await fake.start()
    yield fake
    await fake.shutdown()
