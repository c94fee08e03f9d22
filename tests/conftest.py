"""Shared fixtures: a real mock server on a loopback port, per test, with the manual clock.

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

from contract_tests.mock import MockServer
from mock_server.server import RunningServer
from mock_server.settings import Settings

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
    return httpx.Client(base_url=server.url, headers=headers, timeout=10)


@contextmanager
def serving(settings: Settings | RunningServer | None = None, api_key: str | None = API_KEY
            ) -> Iterator[tuple[RunningServer, httpx.Client]]:
    """A server with these settings (the default ones when None; or a server not started
    yet, e.g. given another callback dispatcher) and a client for it, for one test."""
    server = settings if isinstance(settings, RunningServer) else RunningServer(
        settings or default_settings())
    with server, connect(server, api_key) as http:
        yield server, http


@pytest.fixture
def server(settings: Settings) -> Iterator[RunningServer]:
    with RunningServer(settings) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with connect(server) as http:
        yield http
