"""The one error shape of the HTTP API and the exception handlers raise to produce it.

    raise ApiError(422, "invalid_fields", messages.HTTP_INVALID_FIELDS, details=[...])
    # -> 422 {"error": {"code": "invalid_fields", "message": "...", "request_id": "...", "details": [...]}}

Handlers and middleware raise `ApiError`; the outermost middleware (`bot.http.middleware`) turns
it, aiohttp's own HTTP exceptions and anything unexpected into `error_response(...)`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot.http.schemas import ErrorBody, ErrorResponse


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


def error_response(
    status: int,
    code: str,
    message: str,
    request_id: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, request_id=request_id, details=details))
    return web.Response(
        status=status,
        body=body.model_dump_json(exclude_none=True).encode(),
        content_type="application/json",
        headers=headers,
    )


# aiohttp's HTTP exceptions (router, body limit) -> our stable codes.
STATUS_CODES = {
    400: "bad_request",
    401: "missing_api_key",
    403: "invalid_api_key",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_fields",
    429: "rate_limited",
    500: "internal_error",
    503: "backend_unavailable",
}
