"""The HTTP door: the n8n API (`/api/v1/*`, `/health`, `/metrics`, `/openapi.json`) on aiohttp.

from bot.http import build_http_app, ENGINE
app = build_http_app(engine, settings)         # see bot/http/app.py for mounting other routes
"""

from bot.http.app import ENGINE, STATE, build_http_app

__all__ = ["ENGINE", "STATE", "build_http_app"]
