"""The front door: ``GET /`` links everything a developer opens in a browser.

``GET /_mock/`` (and ``/_mock``) redirect here behind the admin guard, and the admin API's
Swagger UI page (``/_mock/docs/``) is guarded like the dashboard: loopback clients, or the
admin token as header or ``?token=`` (a browser cannot send a header when opening a page).
"""

from __future__ import annotations

import html

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import ApiError
from ..version import __version__
from .ui import _token_from_query, _verifier

ADMIN_DOCS = "/_mock/docs/"
LINKS = (
    ("/openapi.json", "API spec", "the vendor contract (OpenAPI 3.0.3), as the mock serves it"),
    ("/ui/", "Swagger UI", "the vendor API, with try-it-out against this mock"),
    ("/_mock/ui", "Dashboard", "tasks, callback deliveries, the request journal, the clock, rules"),
    (ADMIN_DOCS, "Admin API docs", "Swagger UI of spec/mock-admin.yaml: clock, rules, journal..."),
    ("/_mock/openapi.json", "Admin API spec", "spec/mock-admin.yaml as JSON"),
    ("/_mock/health", "Health", "liveness, task count, clock"),
)
HEADERS = {"Content-Security-Policy": "default-src 'none'; base-uri 'none'; form-action 'none'; "
                                      "frame-ancestors 'none'",
           "Referrer-Policy": "no-referrer"}


def page(admin_token_required: bool) -> str:
    items = "\n".join(f'    <li><a href="{href}">{html.escape(title)}</a> — {html.escape(what)}</li>'
                      for href, title, what in LINKS)
    note = ("<p>This mock runs with <code>--admin-token</code>: add <code>?token=…</code> to "
            "the dashboard and admin docs links, and send <code>X-Mock-Admin-Token</code> to "
            "the admin API.</p>" if admin_token_required else
            "<p>The admin pages answer loopback clients only.</p>")
    return f"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>evolink-mock {html.escape(__version__)}</title></head>
<body>
  <h1>evolink-mock {html.escape(__version__)}</h1>
  <p>A local mock of the EvoLink video-generation API:
     <code>POST /v1/videos/generations</code>, <code>GET /v1/tasks/{{task_id}}</code>.</p>
  <ul>
{items}
  </ul>
  {note}
</body>
</html>
"""


async def landing(request: Request, admin_token: str | None) -> HTMLResponse:
    return HTMLResponse(page(admin_token is not None), headers=HEADERS)


class AdminFrontDoor:
    """``/_mock`` and ``/_mock/`` redirect to the landing page; the admin docs page is
    guarded. Both behind the admin guard, as everything under ``/_mock/``."""

    def __init__(self, app: ASGIApp, admin_token: str | None) -> None:
        self.app = app
        self.verify = _verifier(admin_token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or path not in ("/_mock", "/_mock/", ADMIN_DOCS,
                                                   ADMIN_DOCS + "index.html"):
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive)
        try:
            self.verify(_token_from_query(request))
        except ApiError as exc:
            await exc.to_response()(scope, receive, send)
            return
        if path.startswith(ADMIN_DOCS):
            await self.app(scope, receive, send)
            return
        await RedirectResponse("/", status_code=307)(scope, receive, send)
