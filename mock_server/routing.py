"""The ASGI layers around Connexion's routing: the handler of the routed operation (no
second route table), 404 for what no route serves, no trailing-slash redirects, and
concrete paths before templated ones."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from .api import landing
from .api.http import Handler
from .errors import method_not_allowed, route_not_found
from .service import MockService
from .violations import REQUEST, Violation, note


class OperationDispatcher:
    """Innermost ASGI app: calls the handler of the operation Connexion routed to.

    A request only reaches a handler when Connexion's routing placed it under a base path
    we registered: for paths ending in a newline Starlette's ``$`` still matches, Connexion
    computes a wrong base path, and its security and validation middlewares then step aside.
    Such requests go to the fallback (404) instead of an unguarded handler.
    """

    def __init__(self, service: MockService, handlers: dict[str, Handler], fallback: Any,
                 base_paths: frozenset[str]) -> None:
        self.service = service
        self.handlers = handlers
        self.fallback = fallback
        self.base_paths = base_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        routing = scope.get("extensions", {}).get("connexion_routing", {})
        handler = None
        if scope["type"] == "http" and routing.get("api_base_path") in self.base_paths:
            handler = self.handlers.get(routing.get("operation_id"))
        if handler is None:
            await self.fallback(scope, receive, send)
            return
        response = await handler(Request(scope, receive), self.service)
        await response(scope, receive, send)


async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "http":
        error = route_not_found(scope["method"], scope["path"])
        note(scope, Violation(REQUEST, "/path", "path", error.message))
        await error.to_response()(scope, receive, send)


DOCS_PREFIXES = ("/ui/", "/_mock/ui/", landing.ADMIN_DOCS)


class NoSlashRedirects:
    """Answer 404 for trailing-slash variants of API paths.

    Starlette's routers would redirect them (307 with an empty body); the contract has no
    such paths and no client of this API expects a redirect. Documentation pages keep theirs.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if (scope["type"] == "http" and len(path) > 1 and path.endswith("/")
                and not path.startswith(DOCS_PREFIXES)):
            await not_found(scope, receive, send)
            return
        await self.app(scope, receive, send)


class ConcretePathsFirst:
    """A path without parameters wins over a templated one, as OpenAPI says paths match.

    ``GET /v1/tasks/batch`` names the batch path (POST only), not a task called "batch":
    it gets 405 with ``Allow``, where Starlette would route it to ``/v1/tasks/{task_id}``.
    """

    def __init__(self, app: Any, allow: dict[str, str]) -> None:
        self.app = app
        self.allow = allow   # concrete path -> Allow header value

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        allow = self.allow.get(scope.get("path", "")) if scope["type"] == "http" else None
        if allow is not None and scope["method"] not in allow.split(", "):
            response = method_not_allowed(scope["method"], allow).to_response()
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
