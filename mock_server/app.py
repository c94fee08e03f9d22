"""The ASGI app: plain Starlette-style handlers inside Connexion's middleware.

Connexion, driven by the spec, does routing, security and validation; the innermost app
only looks up the handler for the ``operationId`` Connexion routed to. There is no second
route table for the vendor API: the spec is it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any, cast

import mock_server.quiet_imports  # noqa: F401 - before Connexion: see there

from connexion import ConnexionMiddleware
from connexion.exceptions import ProblemException
from connexion.options import SwaggerUIOptions
from connexion.resolver import Resolver
from connexion.spec import Specification
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route, Router
from starlette.types import Message, Receive, Scope, Send

from . import error_handlers
from .api import account, admin, deliveries, landing, media, tasks, videos
from .api.faults import idempotent, scripted
from .api.http import Handler
from .auth import admin_handler_class, bearer_handler_class
from .callbacks.dispatcher import CallbackDispatcher
from .callbacks.host import Dispatcher
from .errors import ApiError, store_unavailable
from .journal import SharedJournal
from .middleware import middleware_stack
from .recording import JournalMiddleware
from .routing import ConcretePathsFirst, NoSlashRedirects, OperationDispatcher, not_found
from .scenario_files import scenario_rules
from .scope import CLOSE_CONNECTION_EXTENSION, DROPPED_EXTENSION
from .service import MockService
from .settings import Settings
from .spec import ADMIN_SPEC, SPEC_DIR, load_spec, operations, path_methods
from .store import StoreUnavailable, resolved
from .validation.adapters import MediaTypes, SpecParameterValidator, body_validator_class

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


def validate_each_document_once() -> None:
    """Connexion checks a document against the OpenAPI schema every time an API is added:
    ~60 ms of CPU each for the vendor and the admin spec, most of the ~0.1 s that building an
    app costs (tests build one per distinct settings: 174 in one run of the suite). The
    verdict depends on nothing but the document and the OpenAPI version, so a process checks
    each document once: the canonical JSON's hash (0.4 ms for the vendor spec) of every
    document that passed is kept, and one that failed is checked (and refused) every time."""
    check = Specification._validate_spec.__func__
    if getattr(check, "remembers", False):
        return
    passed: set[tuple[type, str]] = set()

    def validate_once(cls: type, spec: dict[str, Any]) -> None:
        try:
            text = json.dumps(spec, sort_keys=True, default=repr)
        except (TypeError, ValueError):   # keys of mixed types cannot be sorted: no shortcut
            check(cls, spec)
            return
        key = (cls, hashlib.sha256(text.encode()).hexdigest())
        if key not in passed:
            check(cls, spec)              # raises InvalidSpecification: nothing is kept
            passed.add(key)

    validate_once.remembers = True  # type: ignore[attr-defined]
    Specification._validate_spec = classmethod(validate_once)


validate_each_document_once()


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
        self.service.callbacks = callback_dispatcher(self.service)
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
        self.asgi.add_error_handler(ApiError, error_handlers.handle_api_error)
        self.asgi.add_error_handler(StoreUnavailable, error_handlers.handle_store_unavailable)
        self.asgi.add_error_handler(ProblemException, error_handlers.handle_problem)
        self.asgi.add_error_handler(HTTPException,
                                    error_handlers.http_exception_handler(self.allowed_methods))
        self.asgi.add_error_handler(Exception, error_handlers.handle_unexpected)

    @asynccontextmanager
    async def _lifespan(self, _app: Any) -> AsyncIterator[None]:
        """Callback deliveries run on the server's event loop, from startup to shutdown.

        A networked store connects here, on the loop that will use it."""
        if not self.service.opened:
            await self.service.open()
            await self.service.load_scenario_rules(self._scenario_rules)
        callbacks = self.service.callbacks
        await callbacks.start()
        unsubscribe = self.service.subscribe(callbacks.listeners)
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
            unsubscribe()
            await callbacks.stop()
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
        """Rules from the --scenario files, checked now: a bad file stops the start with its
        message even when the rules are stored later (a networked store is opened on the
        server's loop)."""
        self._scenario_rules = scenario_rules(self.settings.scenarios, self.service.failure_codes,
                                              self.settings.seed)
        if self.service.opened:
            resolved(self.service.load_scenario_rules(self._scenario_rules))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.service.shared and scope["type"] == "http":
            try:
                await self.service.sync()
            except StoreUnavailable:
                await store_unavailable().to_response()(scope, receive, send)
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


def callback_dispatcher(service: MockService) -> Dispatcher:
    """Sends callbacks while the server runs (started and stopped by the app's lifespan).
    Replicas claim due callbacks from PostgreSQL, so any of them may send any callback."""
    if service.replicated:
        from .callbacks.claims import ClaimingDispatcher  # psycopg: only for PostgreSQL

        return ClaimingDispatcher(service)
    return CallbackDispatcher(service)


def create_app(settings: Settings | None = None, worker: int = 0) -> MockApp:
    return MockApp(settings, worker)
