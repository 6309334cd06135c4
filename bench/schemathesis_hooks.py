"""Schemathesis hooks for `bench/schemathesis_run.py` (loaded through SCHEMATHESIS_HOOKS).

- `one_error_shape`: every response with status >= 400 is JSON `{"error": {"code", "message",
  "request_id"}}` (plus optional `details`), with the request id of the X-Request-ID header.
  Applies to undocumented statuses too (404, 405 from the unsupported-method probes).
- `before_call`: a *valid* generated Idempotency-Key is replaced by a fresh one. The fuzzer
  reuses values like "0" across different bodies, which the API rightly answers with 422
  (key reused with another request); that is covered by tests/test_http_api.py. Invalid keys
  are sent as generated, so their 400 is still fuzzed.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from typing import Any

import schemathesis

_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_TALLY_PATH = os.environ.get("KB_SCHEMATHESIS_TALLY")
_tally: dict[str, int] = {}


def _header(headers: Any, name: str) -> str | None:
    for key, values in dict(headers).items():
        if key.lower() == name.lower():
            return values[0] if isinstance(values, list) and values else values
    return None


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and isinstance(headers[name], str) and _VALID_KEY.match(headers[name]):
            headers[name] = f"st-{uuid.uuid4().hex}"


@schemathesis.check
def one_error_shape(ctx: Any, response: Any, case: Any) -> bool | None:
    status = response.status_code
    _count(f"status_{status}")
    if status < 400:
        return None
    content_type = _header(response.headers, "Content-Type") or ""
    assert content_type.split(";")[0].strip() == "application/json", f"error with content type {content_type!r}"
    body = json.loads(response.content)
    assert isinstance(body, dict) and set(body) == {"error"}, f"error body is not {{'error': ...}}: {body!r}"
    error = body["error"]
    assert {"code", "message", "request_id"} <= set(error) <= {"code", "message", "request_id", "details"}, error
    assert all(isinstance(error[k], str) and error[k] for k in ("code", "message", "request_id")), error
    assert error["request_id"] == _header(response.headers, "X-Request-ID"), "request_id differs from X-Request-ID"
    assert "Traceback" not in error["message"]
    _count("errors_in_shape")
    return None


def _count(key: str) -> None:
    _tally[key] = _tally.get(key, 0) + 1
    if _TALLY_PATH:
        with open(_TALLY_PATH, "w", encoding="utf-8") as handle:
            json.dump(_tally, handle)
