"""JSON-lines logging for `kb serve`: one object a line, with the request id of the current request.

    setup_json_logging("INFO")                     # once, in bot/server.py
    log.info("answered", extra={"route": "/api/v1/search", "status": 200, "duration_ms": 8.1})
    # {"ts": "...", "level": "INFO", "logger": "...", "msg": "answered", "request_id": "...", ...}

Fields passed through `extra=` become top-level keys. The request id comes from a context
variable that the HTTP middleware sets, so lines written by the engine during a request carry it
too. Never pass ticket text or secrets through `extra` at INFO.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from typing import Any, TextIO

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("kb_request_id", default=None)

# Attributes every LogRecord has; anything else on a record came in through `extra=`.
_STANDARD = set(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Render a record as one JSON object (UTC timestamp, level, logger, msg, extras)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            out["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def setup_json_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every logger's records to `stream` (stderr) as JSON lines; replaces earlier handlers."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's own access log is replaced by our one line a request (bot.http.middleware).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
