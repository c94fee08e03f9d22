"""The pytest plugin's ``evolink_mock`` fixture, and the MockServer it wraps."""

from __future__ import annotations

import httpx
import pytest

from contract_tests.mock import MockControlError, MockServer
from tests import clients

from .conftest import connect

pytest_plugins = ["pytester"]
CREATE = {"model": "grok-imagine-text-to-video", "prompt": "A lighthouse in a storm"}


def test_fail_next_scripts_the_next_task_and_the_journal_shows_the_polls(
        evolink_mock: MockServer) -> None:
    evolink_mock.fail_next("content_policy_violation")
    with connect(evolink_mock, evolink_mock.api_key) as http:
        task = http.post("/v1/videos/generations", json=CREATE).json()
        evolink_mock.advance(300)
        document = http.get(f"/v1/tasks/{task['id']}").json()
    assert document["status"] == "failed"
    assert document["error"]["code"] == "content_policy_violation"
    polls = evolink_mock.journal.requests(path="/v1/tasks/*")
    assert [(entry["method"], entry["status"]) for entry in polls] == [("GET", 200)]
    assert len(evolink_mock.journal.requests(method="post")) == 1
    assert [t["plan"]["outcome"] for t in evolink_mock.tasks()] == ["content_policy_violation"]


def test_drop_next_loses_the_answer_of_a_committed_create(evolink_mock: MockServer) -> None:
    evolink_mock.drop_next("after")
    keyed = {"Idempotency-Key": "plugin-retry-key-0001"}
    with connect(evolink_mock, evolink_mock.api_key) as http:
        with pytest.raises(httpx.RemoteProtocolError):
            http.post("/v1/videos/generations", json=CREATE, headers=keyed)
        retry = http.post("/v1/videos/generations", json=CREATE, headers=keyed)
    assert retry.headers["Idempotency-Replayed"] == "true"
    assert [task["id"] for task in evolink_mock.tasks()] == [retry.json()["id"]]
    dropped, replayed = evolink_mock.journal.requests(method="post")
    assert (dropped["dropped"], replayed["replayed"]) == ("after", True)


def test_http_error_next_answers_one_request_with_that_error(evolink_mock: MockServer) -> None:
    evolink_mock.http_error_next(429, retry_after=3)
    with connect(evolink_mock, evolink_mock.api_key) as http:
        limited = http.post("/v1/videos/generations", json=CREATE)
        created = http.post("/v1/videos/generations", json=CREATE)
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "3")
    assert created.status_code == 200


def test_add_rule_passes_any_rule_and_refusals_say_why(evolink_mock: MockServer) -> None:
    rule = evolink_mock.add_rule(nth=2, action={"http": 500})
    assert rule["nth"] == 2 and rule["action"] == {"http": 500}
    with pytest.raises(MockControlError, match="HTTP 400"):
        evolink_mock.add_rule(action={"http": 418})


def test_each_test_gets_a_fresh_mock(evolink_mock: MockServer) -> None:
    assert evolink_mock.tasks() == []
    assert evolink_mock.journal.requests() == []


def test_deliveries_list_callback_attempts(evolink_mock: MockServer) -> None:
    try:
        deliveries = evolink_mock.deliveries()
    except MockControlError as exc:
        if exc.status == 404:
            pytest.skip("this mock has no GET /_mock/deliveries yet")
        raise
    assert deliveries == []


def test_mock_server_works_outside_pytest() -> None:
    with MockServer() as mock:
        before = mock.advance(0)
        assert mock.advance(60) == pytest.approx(before + 60)
        assert clients.get(f"{mock.url}/_mock/health").json()["status"] == "ok"


def test_users_override_the_settings_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("""
        import httpx
        import pytest
        from mock_server.settings import Settings

        @pytest.fixture
        def evolink_mock_settings():
            return Settings(clock="manual", api_keys=("only-key",))

        def test_only_the_configured_key_is_accepted(evolink_mock):
            assert evolink_mock.api_key == "only-key"
            url = evolink_mock.url + "/v1/tasks/task-unified-1-abcdefgh"
            wrong = httpx.get(url, headers={"Authorization": "Bearer other"})
            right = httpx.get(url, headers={"Authorization": "Bearer only-key"})
            assert (wrong.status_code, right.status_code) == (401, 404)
    """)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
