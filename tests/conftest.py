"""Shared fixtures: a real mock server on a loopback port, fresh for each test, with the manual
clock.

The ``server`` fixture starts one server per distinct settings in a session (under
pytest-xdist: per worker) and, after each test, resets it with ``POST /_mock/reset
{"restart": true}``: tasks, rules, balances, deliveries, the journal and the clock start over,
ids restart their seeded sequences, as for a newly started mock (the reset is what the
``evolink_mock`` plugin does between its users' tests). Building the app and a server costs
~100-200 ms of CPU and stopping uvicorn waits for its 0.1 s tick; the reset ~1 ms.

:func:`connect` is the one way a test gets a client for a server and :func:`serving` a server
with its client: the ``server`` and ``client`` fixtures use them, and so does every test that
needs its own settings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract_tests.mock import MockControlError, MockServer, ServerPool
from mock_server.auth import ADMIN_TOKEN_HEADER
from mock_server.server import RunningServer
from mock_server.settings import Settings
from tests import clients

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
API_KEY = "test-key-1"


def load_request(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / "requests" / name).read_text())


def default_settings() -> Settings:
    return Settings(clock="manual", validate_responses=True, seed=1234)


@pytest.fixture
def settings() -> Settings:
    """Override in a test module to change how the server is started."""
    return default_settings()


@pytest.fixture(scope="module")
def module_server() -> Iterator[RunningServer]:
    """One server for a whole module, for tests that do not depend on a fresh state.

    A module opts in by overriding ``server`` to return it."""
    with RunningServer(default_settings()) as running:
        yield running


def connect(server: RunningServer | MockServer, api_key: str | None = API_KEY) -> httpx.Client:
    """A client for ``server`` (ours, or the kit's ``MockServer``) that sends ``api_key`` as
    its bearer token (none when None)."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return clients.Client(base_url=server.url, headers=headers, timeout=10)


@contextmanager
def serving(settings: Settings | RunningServer | None = None, api_key: str | None = API_KEY
            ) -> Iterator[tuple[RunningServer, httpx.Client]]:
    """A server with these settings (the default ones when None; or a server not started
    yet, e.g. given another callback dispatcher) and a client for it, for one test."""
    server = settings if isinstance(settings, RunningServer) else RunningServer(
        settings or default_settings())
    with server, connect(server, api_key) as http:
        yield server, http


def reset_for_the_next_test(server: RunningServer) -> None:
    """What the kit's MockPool does to a MockServer, for one of ours."""
    token = server.settings.admin_token
    answer = clients.post(f"{server.url}/_mock/reset", json={"restart": True}, timeout=10,
                          headers={ADMIN_TOKEN_HEADER: token} if token else {})
    if answer.status_code != 200:
        raise MockControlError(answer.status_code, answer.text)


@pytest.fixture(scope="session")
def server_pool() -> Iterator[ServerPool[RunningServer]]:
    pool = ServerPool(lambda settings: RunningServer(settings).start(), reset_for_the_next_test)
    yield pool
    pool.close()


@pytest.fixture
def server(settings: Settings, server_pool: ServerPool[RunningServer]) -> Iterator[RunningServer]:
    running = server_pool.acquire(settings)
    try:
        yield running
    finally:
        server_pool.release(running)


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with connect(server) as http:
        yield http
