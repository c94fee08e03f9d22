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

from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from mock_server.settings import Settings

    from .mock import MockServer


@pytest.fixture
def evolink_mock_settings() -> "Settings":
    """How the mock starts: manual clock, any non-empty key accepted. Override to change."""
    from mock_server.settings import Settings

    return Settings(clock="manual")


@pytest.fixture
def evolink_mock(evolink_mock_settings: "Settings") -> Iterator["MockServer"]:
    """A :class:`~contract_tests.mock.MockServer` on a free port, stopped after the test."""
    from .mock import MockServer

    with MockServer(evolink_mock_settings) as mock:
        yield mock
