"""The ASGI app: plain Starlette-style handlers inside Connexion's middleware.

Connexion, driven by the spec, does routing, security and validation; the innermost app
only looks up the handler for the ``operationId`` Connexion routed to. There is no second
route table for the vendor API: the spec is it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

import mock_server.quiet_imports  # noqa: F401 - before Connexion: see there

import yaml
from connexion import ConnexionMiddleware
from connexion.exceptions import ProblemException
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route, Router
from starlette.types import Message, Receive, Scope, Send

from . import errors
from .api import account, admin, deliveries, landing, media, tasks, videos
from .api.faults import idempotent, scripted
from .api.http import Handler
from .auth import admin_handler_class, bearer_handler_class
from .domain.scenarios import ScenarioError, rule_from_dict
from .errors import ApiError
from .journal import CLOSE_CONNECTION_EXTENSION, DROPPED_EXTENSION, JournalMiddleware, SharedJournal
from .middleware import middleware_stack
from .service import MockService
from .settings import Settings
from .spec import ADMIN_SPEC, SPEC_DIR, load_spec, operations, path_methods
from .store import StoreUnavailable, resolved
from .validation import MediaTypes, SpecParameterValidator, body_validator_class
from .violations import REQUEST, Violation, note

if TYPE_CHECKING:
    from .store.postgresql import PostgreSQLStore

HANDLERS: dict[str, Handler] = {
    "createVideoGeneration": idempotent(scripted("createVideoGeneration",
                                                 videos.create_video_generation)),
    "getTask": scripted("getTask", tasks.get_task),
    **account.HANDLERS,
    **admin.HANDLERS,
    **deliveries.HANDLERS,
}
ADMIN_BASE_PATH = "/_mock"
JOURNALED_PREFIXES = ("/v1/", "/media/")
# --retention: how often (real seconds) old tasks are looked for besides every clock move.
PRUNE_EVERY_SECONDS = 60.0
# After closing a dropped request's connection, the server notices on its next loop turn;
# this only bounds the wait for that notice (well under a millisecond on loopback).
DISCONNECT_WAIT_SECONDS = 5.0
logger = logging.getLogger("evolink_mock")


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
        message = f"No route for {scope['method']} {scope['path']}"
        note(scope, Violation(REQUEST, "/path", "path", message))
        response = ApiError(404, message).to_response()
        await response(scope, receive, send)


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
            response = ApiError(405, f"{scope['method']} is not allowed here; allowed: {allow}",
                                headers={"Allow": allow}).to_response()
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class MockApp:
    """The running mock: an ASGI app plus the service behind it (for tests and the CLI).

    ``worker`` is the process's index under ``serve --workers N``. ``vendor_handler``, when
    given, handles every operation of the vendor spec instead of the mock's handlers (the
    proxy's gate: validation as usual, then that handler)."""

    def __init__(self, settings: Settings | None = None, worker: int = 0,
                 vendor_handler: Handler | None = None) -> None:
        self.settings = settings or Settings()
        spec = load_spec(self.settings.spec,
                         allow_http_callbacks=bool(self.settings.allow_callback_hosts))
        self.spec = spec
        self.service = MockService(self.settings, spec, worker=worker)
        handlers = HANDLERS if vendor_handler is None else {
            **HANDLERS, **{op["operationId"]: vendor_handler for _p, _m, op in operations(spec)}}
        fallback = Router(routes=self._extra_routes(), default=not_found)
        self.asgi = ConnexionMiddleware(
            OperationDispatcher(self.service, handlers, fallback,
                                base_paths=frozenset({"", ADMIN_BASE_PATH})),
            specification_dir=SPEC_DIR,
            resolver=Resolver(function_resolver=handlers.__getitem__),
            validate_responses=self.settings.validate_responses,
            validator_map={
                "body": MediaTypes({"application/json":
                                    body_validator_class(self.settings.max_body_bytes,
                                                         self.settings.unknown_fields)}),
                "parameter": SpecParameterValidator,
            },
            security_map={"bearer": bearer_handler_class(self.settings.api_keys),
                          "apiKey": admin_handler_class(self.settings.admin_token)},
            swagger_ui_options=SwaggerUIOptions(spec_path="/openapi.json", swagger_ui_path="/ui"),
            lifespan=self._lifespan,
            middlewares=middleware_stack(self.settings.validate_responses),
        )
        admin_spec = load_spec(ADMIN_SPEC)
        self.asgi.add_api(spec)
        # Our own API can be strict about unknown query parameters; the vendor's stays lenient
        # (its docs do not say, and real clients add cache-busters).
        self.asgi.add_api(admin_spec, base_path=ADMIN_BASE_PATH, strict_validation=True,
                          swagger_ui_options=SwaggerUIOptions(spec_path="/openapi.json",
                                                              swagger_ui_path="/docs"))
        self.allow_table = path_methods(spec) + path_methods(admin_spec, ADMIN_BASE_PATH)
        self._load_scenarios()
        front = landing.AdminFrontDoor(NoSlashRedirects(self.asgi), self.settings.admin_token)
        concrete = dict(path_methods(spec, literal=True))
        self.outer = JournalMiddleware(ConcretePathsFirst(front, concrete),
                                       self.service.journal, prefixes=JOURNALED_PREFIXES,
                                       json_logs=self.settings.log_format == "json")
        self.asgi.add_error_handler(ApiError, errors.handle_api_error)
        self.asgi.add_error_handler(StoreUnavailable, errors.handle_store_unavailable)
        self.asgi.add_error_handler(ProblemException, errors.handle_problem)
        self.asgi.add_error_handler(HTTPException, errors.http_exception_handler(self.allowed_methods))
        self.asgi.add_error_handler(Exception, errors.handle_unexpected)

    @asynccontextmanager
    async def _lifespan(self, _app: Any) -> AsyncIterator[None]:
        """Callback deliveries run on the server's event loop, from startup to shutdown.

        A networked store connects here, on the loop that will use it."""
        if not self.service.opened:
            await self.service.open()
            await self.service.load_scenario_rules(self._scenario_rules)
        await self.service.callbacks.start()
        background = [asyncio.create_task(self._prune())]
        if self.service.replicated:   # changes made on other replicas, pushed by PostgreSQL
            store = cast("PostgreSQLStore", self.service.store)
            background.append(asyncio.create_task(store.listen(self.service.heard)))
        journal = self.service.journal
        if isinstance(journal, SharedJournal):   # self.service.shared
            background.append(asyncio.create_task(self._flush_journal(journal)))
        try:
            yield
        finally:
            for task in background:
                task.cancel()
            if isinstance(journal, SharedJournal):
                try:
                    await journal.flush()
                except StoreUnavailable:
                    logger.warning("the last journal entries could not be written")
            await self.service.callbacks.stop()
            if not self.service.store.local:   # opened here, on this loop: closed here too
                await self.service.store.close()

    async def _flush_journal(self, journal: SharedJournal) -> None:
        """Worker mode: this worker's journal entries reach the state file at least this often."""
        while True:
            await asyncio.sleep(SharedJournal.FLUSH_SECONDS)
            try:
                await journal.flush()
            except StoreUnavailable:
                pass   # PostgreSQL is down: requests get 503s meanwhile, and those entries are lost
            except Exception:   # a busy file now and then must not end the flushing
                logger.exception("writing the journal to the shared store failed")

    async def _prune(self) -> None:
        """--retention: besides every clock move, look for old tasks this often (scaled clock)."""
        if self.settings.retention_seconds is None:
            return
        while True:
            await asyncio.sleep(PRUNE_EVERY_SECONDS)
            try:
                await self.service.prune()
            except Exception:
                logger.exception("pruning old tasks failed")

    def allowed_methods(self, path: str) -> str | None:
        return next((allow for pattern, allow in self.allow_table if pattern.match(path)), None)

    def _extra_routes(self) -> list[Route]:
        async def result_video(request: Request) -> Any:
            return await media.result_video(request, self.service)

        async def front_page(request: Request) -> Any:
            return await landing.landing(request, self.settings.admin_token)

        return [Route("/media/{task_id}.mp4", result_video, methods=["GET", "HEAD"]),
                Route("/", front_page, methods=["GET", "HEAD"])]

    def _load_scenarios(self) -> None:
        """Rules from the --scenario files; what is wrong with a file is a ScenarioError
        naming it (the CLI prints it as one line)."""
        rules: list[tuple[str, dict[str, Any]]] = []
        for path in self.settings.scenarios:
            source = f"--scenario {path!r}"
            try:
                with open(path, encoding="utf-8") as fh:
                    document = yaml.safe_load(fh) or {}
            except OSError as exc:
                raise ScenarioError(f"{source}: cannot read it ({exc.strerror})") from None
            except (yaml.YAMLError, UnicodeDecodeError) as exc:
                where = getattr(exc, "problem_mark", None)
                line = f" at line {where.line + 1}" if where is not None else ""
                problem = getattr(exc, "problem", None) or type(exc).__name__
                raise ScenarioError(f"{source}: not valid YAML{line} ({problem})") from None
            listed = document.get("rules", []) if isinstance(document, dict) else None
            if not isinstance(listed, list) or not all(isinstance(r, dict) for r in listed):
                raise ScenarioError(f"{source}: expected a mapping with a 'rules' list of "
                                    "rule mappings (see fixtures/scenarios/)")
            rules += [(source, rule) for rule in listed]
        # Checked now, so a bad file stops the start with its message even when the rules are
        # stored later (a networked store is opened on the server's loop).
        for number, (source, rule) in enumerate(rules, 1):
            try:
                rule_from_dict(rule, f"rule-{number}", self.service.failure_codes,
                               self.settings.seed)
            except ScenarioError as exc:
                raise ScenarioError(f"{source}: {exc}") from None
        self._scenario_rules = rules
        if self.service.opened:
            resolved(self.service.load_scenario_rules(rules))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.service.shared and scope["type"] == "http":
            try:
                await self.service.sync()
            except StoreUnavailable:
                await errors.store_unavailable().to_response()(scope, receive, send)
                return
            send = self._naming_worker(send)
        await self.outer(scope, receive, send)
        extensions = scope.get("extensions") or {}
        if extensions.get(DROPPED_EXTENSION) and CLOSE_CONNECTION_EXTENSION in extensions:
            await self._hang_up(extensions[CLOSE_CONNECTION_EXTENSION], receive)

    @staticmethod
    async def _hang_up(close: Any, receive: Receive) -> None:
        """``drop=before|after``: close the connection without an answer, now that the request
        is journaled, and return only once the server knows (else it would answer 500)."""
        close()
        try:
            async with asyncio.timeout(DISCONNECT_WAIT_SECONDS):
                while (await receive())["type"] != "http.disconnect":
                    pass
        except TimeoutError:
            logger.warning("a dropped connection was not reported closed")

    def _naming_worker(self, send: Send) -> Send:
        """Worker mode: say which worker answered (``X-Mock-Worker``), for debugging and tests."""
        name = (b"x-mock-worker", str(self.service.worker).encode())

        async def named(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), name]}
            await send(message)

        return named


def create_app(settings: Settings | None = None, worker: int = 0) -> MockApp:
    return MockApp(settings, worker)
