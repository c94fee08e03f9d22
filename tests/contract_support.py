"""Helpers for the contract-kit tests: serve any ASGI app on a loopback port, the mock, and
the mock with something broken in front of it (the servers the checker must fail)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn
from starlette.types import Receive, Scope, Send

from mock_server.app import MockApp, create_app
from mock_server.server import RunningServer
from mock_server.settings import Settings

API_KEY, OTHER_API_KEY = "contract-key-1", "contract-key-2"


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """Serve ``app`` on a free loopback port in a thread; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning",
                                           access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def mock_settings(**settings: Any) -> Settings:
    """The strict mock with two accepted keys and (unless told otherwise) the manual clock."""
    return Settings(**{"clock": "manual", "api_keys": (API_KEY, OTHER_API_KEY), "seed": 11,
                       **settings})


@contextlib.contextmanager
def serve_mock(**settings: Any) -> Iterator[str]:
    """:func:`mock_settings`' mock, served; yields its base URL."""
    with RunningServer(mock_settings(**settings)) as server:
        yield server.url


class InFrontOfTheMock:
    """An ASGI app in front of a mock app, in the same server: it sees and may change every
    request and answer on the way, as a proxy would, without a second server and a second
    HTTP hop per request (a proxy doubled the server side's CPU of a contract run).

    Subclasses override ``__call__`` and pass on to ``self.mock``; the mock's settings and
    service stay reachable, so :class:`RunningServer` serves it like the mock itself."""

    def __init__(self, mock: MockApp) -> None:
        self.mock = mock
        self.settings = mock.settings
        self.service = mock.service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.mock(scope, receive, send)


@contextlib.contextmanager
def serve_in_front(wrap: Callable[[MockApp], InFrontOfTheMock], **settings: Any) -> Iterator[str]:
    """A fresh mock (:func:`mock_settings`) behind ``wrap(mock)``, served; yields its URL."""
    config = mock_settings(**settings)
    with RunningServer(config, app=wrap(create_app(config))) as server:
        yield server.url
