"""The dashboard (``GET /_mock/ui``): one static page that polls the admin API.

The page is read once at import. Its inline script and style are allowed by hash in its
Content-Security-Policy, so nothing else can run in it.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from pathlib import Path

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..auth import ADMIN_TOKEN_HEADER, make_admin_verifier
from ..service import MockService

PAGE = (Path(__file__).resolve().parents[1] / "ui" / "dashboard.html").read_text(encoding="utf-8")


def _hashes(tag: str) -> str:
    blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", PAGE, flags=re.DOTALL)
    return " ".join(f"'sha256-{base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()}'"
                    for block in blocks)


# The same guard the admin API's security scheme uses, built once per token.
_verifier = functools.lru_cache(maxsize=8)(make_admin_verifier)

HEADERS = {
    "Content-Security-Policy": (
        f"default-src 'none'; script-src {_hashes('script')}; style-src {_hashes('style')}; "
        "connect-src 'self'; media-src *; img-src data:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"),
    "Referrer-Policy": "no-referrer",   # the page's URL may carry the admin token
    "Cache-Control": "no-store",
}


def _token_from_query(request: Request) -> Request:
    """The request, with ``?token=`` as the admin token header when it has none."""
    token = request.query_params.get("token")
    if token is None or ADMIN_TOKEN_HEADER in request.headers:
        return request
    headers = [*request.scope["headers"], (ADMIN_TOKEN_HEADER.lower().encode(), token.encode("utf-8"))]
    return Request({**request.scope, "headers": headers})


async def dashboard(request: Request, service: MockService) -> Response:
    # The admin guard runs here rather than in the security middleware: a browser opening the
    # page cannot send a header, so the token may also come as ?token=.
    _verifier(service.settings.admin_token)(_token_from_query(request))
    return HTMLResponse(PAGE, headers=HEADERS)


HANDLERS = {"adminDashboard": dashboard}
