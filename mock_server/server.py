"""Serving the mock over real HTTP: the uvicorn configuration, and a server on a background
thread (the foreground ``serve`` and ``proxy`` commands are in :mod:`mock_server.foreground`).

``RunningServer`` is a context manager that any program can use (our tests, the pytest
plugin, ``evolink-contract client``): it binds a free loopback port, serves until closed,
and exposes the service for clock and state control.
"""

from __future__ import annotations

import gc
import sqlite3
import threading
import time
from types import TracebackType
from typing import Any, Self

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .app import MockApp, create_app
from .domain.scenarios import ScenarioError
from .http_edge import header_limited_protocol
from .scope import CLOSE_CONNECTION_EXTENSION
from .service import MockService
from .settings import SettingError, Settings
from .sockets import bound_socket
from .spec import SpecError
from .store import resolved


class ClosableHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a way for the app to hang up (``drop=before|after``).

    ASGI has no message for "close without answering": an app that raises before answering
    gets a 500 from uvicorn, and one that returns without answering too. So each request's
    scope carries the connection's ``close``; the app calls it, waits for the disconnect,
    and returns, and the client sees the connection end with no status line at all.
    """

    def on_message_begin(self) -> None:
        super().on_message_begin()
        # uvicorn's HTTPScope types the values of extensions as dicts; ASGI leaves them free.
        self.scope["extensions"] = {CLOSE_CONNECTION_EXTENSION: self.transport.close}  # type: ignore[dict-item]


def uvicorn_config(app: Any, host: str, port: int = 0, **options: Any) -> uvicorn.Config:
    # No access log on the hot path; our own request log is configured separately.
    # The lifespan starts and stops the callback dispatcher on the server's loop.
    # httptools with the header size and header time limits (see http_edge).
    # Apps without our settings (a test's stand-in upstream) get uvicorn's protocol as it is.
    settings = getattr(app, "settings", None)
    protocol = ClosableHttpProtocol if settings is None else header_limited_protocol(
        settings.max_header_bytes, settings.http_header_timeout,
        app.service.error_codes.get(("getTask", 431)), base=ClosableHttpProtocol)
    return uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False,
                          lifespan="on", timeout_graceful_shutdown=2, http=protocol, **options)


class RunningServer:
    """A mock on a background thread, bound to ``settings.host`` and a free port.

    ``app`` serves another app with a ``service`` instead (the proxy); ``tls`` is a
    (certificate file, key file) pair to serve HTTPS."""

    def __init__(self, settings: Settings | None = None, *, port: int = 0, app: Any = None,
                 tls: tuple[str, str] | None = None) -> None:
        self.settings = settings or Settings(clock="manual")
        if self.settings.workers != 1:
            raise ValueError("RunningServer serves from one thread; run `evolink-mock serve "
                             "--workers N` for several processes")
        self._requested_port = port
        self._tls = tls
        self.app = app if app is not None else create_app(self.settings)
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def service(self) -> MockService:
        return self.app.service

    @property
    def url(self) -> str:
        host = self.settings.host
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{'[' + host + ']' if ':' in host else host}:{self.port}"

    def start(self) -> Self:
        sock = bound_socket(self.settings.host, self._requested_port)
        self.port = sock.getsockname()[1]
        tls: dict[str, Any] = {"ssl_certfile": self._tls[0], "ssl_keyfile": self._tls[1]} if self._tls else {}
        self._server = uvicorn.Server(uvicorn_config(self.app, self.settings.host, **tls))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name=f"evolink-mock:{self.port}", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the mock server did not start")
            time.sleep(0.01)
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and not (
            self._server is not None and self._server.should_exit)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        if self.app.service.store.local:   # a networked store is closed by the app's lifespan
            resolved(self.app.service.store.close())

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def freeze_after_full_collections() -> None:
    """Keep long-lived state out of the garbage collector's full passes; call it once the
    app is built.

    A mock holding 100,000s of tasks otherwise stalls every request behind full
    collections that scan them all (measured: GET p99 182 ms -> 9 ms). After each full
    collection, what survived is frozen; tasks and journal entries form no cycles, so
    nothing collectable is kept alive by it. What the start-up built (the resolved spec, its
    validators, the app) is frozen here, at once: left to the first full collection, it was
    scanned under load and stalled a burst of 1,000 callbacks for 90-270 ms. Frozen without
    a collection first (which costs ~100 ms of start-up): the few hundred objects of start-up
    garbage it would free are kept instead.
    """

    def on_collect(phase: str, info: dict) -> None:
        if phase == "stop" and info.get("generation") == 2:
            gc.freeze()

    if on_collect not in gc.callbacks:
        gc.callbacks.append(on_collect)
    gc.freeze()


def build_app(settings: Settings, worker: int = 0) -> MockApp:
    """The app, with what a start-up can trip over turned into one-line setting errors."""
    try:
        return create_app(settings, worker)
    except (ScenarioError, SpecError) as exc:
        raise SettingError(str(exc)) from None
    except sqlite3.Error as exc:
        raise SettingError(f"--state {settings.state!r}: cannot use it as the state file "
                           f"({exc}); expected a SQLite file written by evolink-mock, or a new "
                           "name") from None
