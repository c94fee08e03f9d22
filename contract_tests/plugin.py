"""pytest plugin (entry point ``evolink_mock``): a fresh EvoLink mock for each test.

    def test_my_client_handles_failure(evolink_mock):
        evolink_mock.fail_next("content_policy_violation")
        run_my_client(base_url=evolink_mock.url, api_key=evolink_mock.api_key)
        evolink_mock.advance(300)
        assert evolink_mock.journal.requests(path="/v1/tasks/*")

Override ``evolink_mock_settings`` to start it differently. The mock is imported only when
a test asks for it, so having the plugin installed costs other test runs nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from mock_server.settings import Settings

    from .mock import MockPool, MockServer


@pytest.fixture
def evolink_mock_settings() -> Settings:
    """How the mock starts: manual clock, any non-empty key accepted. Override to change."""
    from mock_server.settings import Settings

    return Settings(clock="manual")


@pytest.fixture(scope="session")
def _evolink_mock_pool() -> Iterator[MockPool]:
    """Mocks started in this session (under pytest-xdist: this worker), one per settings."""
    from .mock import MockPool

    pool = MockPool()
    yield pool
    pool.close()


@pytest.fixture
def evolink_mock(evolink_mock_settings: Settings,
                 _evolink_mock_pool: MockPool) -> Iterator[MockServer]:
    """A :class:`~contract_tests.mock.MockServer` on a free port that no other test has
    touched: the server is started once per session and settings, and after each test a
    restarting reset forgets its tasks, rules, journal, deliveries and clock moves."""
    mock = _evolink_mock_pool.acquire(evolink_mock_settings)
    try:
        yield mock
    finally:
        _evolink_mock_pool.release(mock)
