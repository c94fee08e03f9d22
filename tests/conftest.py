"""Shared fixtures: a real mock server on a loopback port, per test, with the manual clock."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

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


@pytest.fixture
def server(settings: Settings) -> Iterator[RunningServer]:
    with RunningServer(settings) as running:
        yield running


@pytest.fixture
def client(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {API_KEY}"},
                      timeout=10) as http:
        yield http
