"""Small HTTP helpers shared by the handlers."""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response

from ..settings import Settings

Handler = Callable[[Request, Any], Awaitable[Response]]


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body, separators=(",", ":")), status_code=status,
                    media_type="application/json", headers=headers)


def public_base(request: Request, settings: Settings) -> str:
    """Where links to this mock should point: --public-url, else the URL the client used."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scope = request.scope
    server = scope.get("server")   # a list under some ASGI test clients: made hashable here
    return _base_url(scope["scheme"], tuple(server) if server else None, request.headers.get("host"),
                     scope.get("app_root_path", scope.get("root_path", "")))


@functools.lru_cache(maxsize=256)
def _base_url(scheme: str, server: tuple[str, int] | None, host: str | None, root_path: str) -> str:
    """Starlette's ``request.base_url``, built once per client-visible origin: parsing it
    anew was a measurable part of every create."""
    headers = [(b"host", host.encode("latin-1"))] if host is not None else []
    scope = {"type": "http", "scheme": scheme, "server": server, "headers": headers,
             "path": root_path.rstrip("/") + "/", "root_path": root_path, "query_string": b""}
    return str(URL(scope=scope)).rstrip("/")
