"""Small HTTP helpers shared by the handlers."""

from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

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
    return str(request.base_url).rstrip("/")
