"""Used-up rules stay listed with their counters; `path=` is one glob for the journal."""

from __future__ import annotations

import httpx
import pytest

from contract_tests.mock import MockServer
from mock_server.settings import Settings

from .conftest import connect

CREATE = "/v1/videos/generations"
GROK = {"model": "grok-imagine-text-to-video", "prompt": "A lighthouse in a storm"}


def test_a_used_up_rule_stays_listed_with_its_counters_until_cleared(client: httpx.Client) -> None:
    rule = {"operation": "createVideoGeneration", "times": 3, "action": {"http": 429}}
    assert client.post("/_mock/rules", json=rule).status_code == 201
    statuses = [client.post(CREATE, json=GROK).status_code for _ in range(4)]
    assert statuses == [429, 429, 429, 200]
    (listed,) = client.get("/_mock/rules").json()["rules"]
    assert (listed["matched"], listed["applied"], listed["exhausted"]) == (3, 3, True)
    assert client.post(CREATE, json=GROK).status_code == 200, "an exhausted rule acts no more"
    assert client.get("/_mock/rules").json()["rules"][0]["matched"] == 3
    client.delete("/_mock/rules")
    assert client.get("/_mock/rules").json()["rules"] == []


def test_an_nth_rule_is_marked_exhausted_once_its_request_came(client: httpx.Client) -> None:
    client.post("/_mock/rules", json={"nth": 2, "action": {"http": 500}})
    assert client.get("/_mock/rules").json()["rules"][0]["exhausted"] is False
    assert [client.post(CREATE, json=GROK).status_code for _ in range(3)] == [200, 500, 200]
    (listed,) = client.get("/_mock/rules").json()["rules"]
    assert (listed["matched"], listed["applied"], listed["exhausted"]) == (2, 1, True)
    client.post("/_mock/reset")
    assert client.get("/_mock/rules").json()["rules"] == []


def test_journal_path_is_a_glob(client: httpx.Client) -> None:
    task_id = client.post(CREATE, json=GROK).json()["id"]
    client.get(f"/v1/tasks/{task_id}")
    client.get("/v1/tasks/task-unified-1-nope")

    def paths(glob: str) -> list[str]:
        return [e["path"] for e in client.get("/_mock/journal", params={"path": glob}).json()["entries"]]

    assert paths("/v1/tasks/*") == [f"/v1/tasks/{task_id}", "/v1/tasks/task-unified-1-nope"]
    assert paths(f"/v1/tasks/{task_id}") == [f"/v1/tasks/{task_id}"]
    assert paths("/v1/*") == [CREATE, f"/v1/tasks/{task_id}", "/v1/tasks/task-unified-1-nope"]
    assert paths("/v1/") == [], "without wildcards the whole path must match"
    assert paths("/V1/*") == [], "case-sensitive"


@pytest.mark.parametrize("glob", ["/v1/tasks/*", "/v1/*", "*nope", "/v1/videos/generations"])
def test_the_fixture_helper_and_the_admin_api_agree_on_path(glob: str) -> None:
    with MockServer(Settings(clock="manual")) as mock, connect(mock, mock.api_key) as http:
        task_id = http.post(CREATE, json=GROK).json()["id"]
        http.get(f"/v1/tasks/{task_id}")
        http.get("/v1/tasks/task-unified-1-nope")
        admin = http.get("/_mock/journal", params={"path": glob}).json()["entries"]
        assert admin, glob
        assert mock.journal.requests(path=glob) == admin
