"""A fake Pinecone: the data plane (upsert, query, delete, describe_index_stats) and describe-index.

    fake = FakePinecone(dimension=1536); await fake.start()
    index = await AsyncPinecone(api_key="pc-test").index(host=fake.url)        # by host
    await AsyncPinecone(api_key="pc-test", host=fake.url).index(name="kb")     # by name (describe)
    fake.vectors["kb"]            # namespace -> {id: record}, what was upserted
    fake.calls("/vectors/upsert") # every request, with headers and JSON

It enforces Pinecone's limits that matter to a client: vectors of the index's dimension, at most
1,000 vectors and 2 MB a request, 40 KB of metadata a vector (400 otherwise), and exact cosine
scores over what it holds.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from tests.fakes.faults import FaultyServer

MAX_REQUEST_BYTES = 2 * 1024 * 1024
MAX_METADATA_BYTES = 40 * 1024


class FakePinecone(FaultyServer):
    def __init__(self, dimension: int = 1536, name: str = "kb") -> None:
        super().__init__()
        self.dimension = dimension
        self.name = name
        self.vectors: dict[str, dict[str, dict[str, Any]]] = {}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/indexes/{name}", self._describe_index)
        app.router.add_post("/vectors/upsert", self._upsert)
        app.router.add_post("/query", self._query)
        app.router.add_post("/vectors/delete", self._delete)
        app.router.add_post("/describe_index_stats", self._stats)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        code = {400: "INVALID_ARGUMENT", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}.get(status, "INTERNAL")
        return {"error": {"code": code, "message": message}, "status": status}

    def _bad(self, message: str, status: int = 400) -> web.Response:
        return web.json_response(self.error_body(status, message), status=status)

    async def _describe_index(self, request: web.Request) -> web.Response:
        if request.match_info["name"] != self.name:
            return self._bad(f"index {request.match_info['name']} not found", 404)
        return web.json_response(
            {
                "name": self.name,
                "host": self.url,
                "deletion_protection": "disabled",
                "status": {"ready": True, "state": "Ready"},
                "schema": {
                    "fields": {"values": {"type": "dense_vector", "dimension": self.dimension, "metric": "cosine"}}
                },
                "deployment": {"deployment_type": "managed", "cloud": "aws", "region": "us-east-1"},
            }
        )

    async def _upsert(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if len(raw) > MAX_REQUEST_BYTES:
            return self._bad(f"request size {len(raw)} exceeds the limit of {MAX_REQUEST_BYTES} bytes")
        body = json.loads(raw)
        vectors = body["vectors"]
        if len(vectors) > 1000:
            return self._bad("at most 1000 vectors a request")
        for v in vectors:
            if len(v["values"]) != self.dimension:
                return self._bad(
                    f"Vector dimension {len(v['values'])} does not match the dimension of the index {self.dimension}"
                )
            size = len(json.dumps(v.get("metadata") or {}, ensure_ascii=False).encode())
            if size > MAX_METADATA_BYTES:
                return self._bad(
                    f"Metadata size is {size} bytes, which exceeds the limit of {MAX_METADATA_BYTES} bytes"
                )
        self.vectors.setdefault(body.get("namespace", ""), {}).update({v["id"]: v for v in vectors})
        return web.json_response({"upsertedCount": len(vectors)})

    async def _query(self, request: web.Request) -> web.Response:
        body = await request.json()
        ns = self.vectors.get(body.get("namespace", ""), {})
        query = np.asarray(body["vector"], dtype=np.float64)
        if query.shape[0] != self.dimension:
            return self._bad(
                f"Vector dimension {query.shape[0]} does not match the dimension of the index {self.dimension}"
            )
        wanted = body.get("filter")
        ids = [i for i, v in ns.items() if _matches(v.get("metadata") or {}, wanted)]
        if not ids:
            return web.json_response({"matches": [], "namespace": body.get("namespace", "")})
        matrix = np.asarray([ns[i]["values"] for i in ids], dtype=np.float64)
        scores = matrix @ query / (np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0) + 1e-12)
        order = np.argsort(-scores)[: body["topK"]]
        matches = []
        for k in order:
            match: dict[str, Any] = {"id": ids[k], "score": float(scores[k])}
            if body.get("includeMetadata"):
                match["metadata"] = ns[ids[k]].get("metadata") or {}
            matches.append(match)
        return web.json_response(
            {"matches": matches, "namespace": body.get("namespace", ""), "usage": {"readUnits": 1 + len(ns) // 1000}}
        )

    async def _delete(self, request: web.Request) -> web.Response:
        body = await request.json()
        ns = self.vectors.setdefault(body.get("namespace", ""), {})
        if body.get("deleteAll"):
            ns.clear()
        for i in body.get("ids") or []:
            ns.pop(i, None)
        return web.json_response({})

    async def _stats(self, request: web.Request) -> web.Response:
        namespaces = {n: {"vectorCount": len(v)} for n, v in self.vectors.items()}
        return web.json_response(
            {
                "namespaces": namespaces,
                "dimension": self.dimension,
                "indexFullness": 0.0,
                "totalVectorCount": sum(len(v) for v in self.vectors.values()),
            }
        )


def _matches(meta: dict[str, Any], wanted: dict[str, Any] | None) -> bool:
    """The subset of Pinecone's filter language the tests use: field: value | {$eq|$ne|$in|$nin: ...}."""
    for key, cond in (wanted or {}).items():
        value = meta.get(key)
        ops = cond if isinstance(cond, dict) else {"$eq": cond}
        for op, arg in ops.items():
            ok = {"$eq": value == arg, "$ne": value != arg, "$in": value in arg, "$nin": value not in arg}.get(op)
            if not ok:
                return False
    return True


@pytest.fixture
async def fake_pinecone() -> AsyncIterator[FakePinecone]:
    fake = FakePinecone()
    await fake.start()
    yield fake
    await fake.shutdown()
