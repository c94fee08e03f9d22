"""Helpers for the contract-kit tests: serve any ASGI app (the deliberately broken servers)
on a loopback port, and the mock."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any

import uvicorn

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


@contextlib.contextmanager
def serve_mock(**settings: Any) -> Iterator[str]:
    """The strict mock with two accepted keys and (unless told otherwise) the manual clock."""
    with RunningServer(Settings(**{"clock": "manual", "api_keys": (API_KEY, OTHER_API_KEY),
                                   "seed": 11, **settings})) as server:
        yield server.url
