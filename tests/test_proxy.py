"""`evolink-mock proxy` in front of a real mock served over HTTPS (trustme CA) on loopback:
what is forwarded, what is answered locally, and every drift of the upstream named."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from mock_server.cli import main
from mock_server.server import RunningServer
from mock_server.store import resolved
from tests import clients
from tests.upstreams import (  # noqa: F401 - tls_fixture and upstream_pair_fixture register fixtures
    AUTH,
    CREATE,
    GROK,
    DriftingUpstream,
    Tls,
    proxy,
    tls_fixture,
    upstream_journal,
    upstream_pair_fixture,
)


@pytest.fixture
def up(upstream_pair: tuple[RunningServer, DriftingUpstream]) -> RunningServer:
    return upstream_pair[0]


@pytest.fixture
def drifting(upstream_pair: tuple[RunningServer, DriftingUpstream]) -> DriftingUpstream:
    return upstream_pair[1]


@pytest.fixture
def via(up: RunningServer, tls: Tls) -> Iterator[httpx.Client]:
    """A client of a proxy in front of ``up``, trusting the test CA."""
    with proxy(upstream=up.url, upstream_ca=tls.ca) as server:
        with clients.Client(base_url=server.url, headers=AUTH, timeout=10) as http:
            yield http


def journal(http: httpx.Client) -> list[dict[str, Any]]:
    return http.get("/_mock/journal").json()["entries"]


def named(entry: dict[str, Any]) -> set[tuple[str, str, str]]:
    return {(v["where"], v["pointer"], v["rule"]) for v in entry["violations"]}


def test_valid_requests_reach_the_upstream_over_https_with_the_callers_own_key(
        via: httpx.Client, up: RunningServer) -> None:
    created = via.post(CREATE, json=GROK)
    assert created.status_code == 200
    task = created.json()
    assert resolved(up.service.store.get(task["id"])) is not None
    assert via.get(f"/v1/tasks/{task['id']}").json()["status"] == "pending"
    # A key the upstream does not know: the request is valid, so it is forwarded as sent,
    # and the upstream's 401 comes back.
    refused = via.post(CREATE, json=GROK, headers={"Authorization": "Bearer sk-someone-else"})
    assert refused.status_code == 401
    assert [e["status"] for e in upstream_journal(up)] == [200, 200, 401]
    assert all(not e["violations"] for e in journal(via))


@pytest.mark.parametrize(("request_args", "status", "violation"), [
    ({"method": "POST", "url": CREATE, "json": {**GROK, "duration": 7}}, 400,
     ("request", "/body/duration", "enum")),
    ({"method": "POST", "url": CREATE, "json": {**GROK, "colour": "red"}}, 400,
     ("request", "/body/colour", "additionalProperties")),
    ({"method": "POST", "url": CREATE, "content": b"{not json",
      "headers": {"Content-Type": "application/json"}},
     400, ("request", "/body", "json")),
    ({"method": "POST", "url": CREATE, "json": GROK, "headers": {"Authorization": ""}}, 401,
     ("request", "/header/authorization", "security")),
    ({"method": "GET", "url": "/v1/tasks/abc"}, 400, ("request", "/path/task_id", "pattern")),
    ({"method": "GET", "url": "/v1/files"}, 404, ("request", "/path", "path")),
    ({"method": "DELETE", "url": CREATE}, 405, ("request", "/method", "method")),
], ids=["enum", "unknown-field", "not-json", "no-key", "task-id", "unknown-path", "method"])
def test_an_invalid_request_is_answered_by_the_proxy_and_never_forwarded(
        via: httpx.Client, up: RunningServer, request_args: dict[str, Any], status: int,
        violation: tuple[str, str, str]) -> None:
    answer = via.request(**request_args)
    assert answer.status_code == status
    assert isinstance(answer.json()["error"]["code"], str)
    assert upstream_journal(up) == []
    assert violation in named(journal(via)[-1])


def test_forward_invalid_sends_a_refused_request_on_and_still_names_the_violation(
        up: RunningServer, tls: Tls) -> None:
    with proxy(upstream=up.url, upstream_ca=tls.ca, forward_invalid=True) as server:
        with clients.Client(base_url=server.url, headers=AUTH) as http:
            answer = http.post(CREATE, json={**GROK, "duration": 7})
            entry = journal(http)[-1]
    assert answer.status_code == 400
    assert [e["error_param"] for e in upstream_journal(up)] == ["duration"]   # the upstream's own 400
    assert ("request", "/body/duration", "enum") in named(entry)


@pytest.mark.parametrize(("drift", "violation"), [
    ("wrong-type", ("response", "/body/progress", "type")),
    ("undocumented-status", ("response", "/status", "status")),
    ("missing-field", ("response", "/body/status", "required")),
    ("unknown-enum", ("response", "/body/status", "enum")),
])
def test_every_drift_of_the_upstream_is_named(via: httpx.Client, drifting: DriftingUpstream,
                                              drift: str, violation: tuple[str, str, str]) -> None:
    task_id = via.post(CREATE, json=GROK).json()["id"]
    drifting.drifts.append(drift)
    answer = via.get(f"/v1/tasks/{task_id}")
    assert answer.status_code in (200, 418)       # relayed as the upstream sent it
    found = journal(via)[-1]
    assert named(found) == {violation}, found["violations"]
    assert all(v["message"] for v in found["violations"])


def test_a_head_request_is_answered_with_the_upstreams_headers_and_judged_without_a_body(
        via: httpx.Client) -> None:
    task_id = via.post(CREATE, json=GROK).json()["id"]
    full = via.get(f"/v1/tasks/{task_id}")
    head = via.head(f"/v1/tasks/{task_id}")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(full.content))
    assert journal(via)[-1]["violations"] == []


def test_upstream_connections_are_reused(via: httpx.Client, drifting: DriftingUpstream) -> None:
    task_id = via.post(CREATE, json=GROK).json()["id"]
    for _ in range(5):
        via.get(f"/v1/tasks/{task_id}")
    ports = {port for path, port, _names in drifting.seen if path.startswith("/v1/")}
    assert len(ports) == 1, f"6 requests over {len(ports)} connections"


def test_an_upstream_certificate_not_trusted_gets_502_from_the_proxy(up: RunningServer) -> None:
    with proxy(upstream=up.url) as server:          # without --upstream-ca: the system's CAs
        answer = clients.post(f"{server.url}{CREATE}", json=GROK, headers=AUTH)
    assert answer.status_code == 502
    error = answer.json()["error"]
    assert error["code"] == "bad_gateway" and "proxy" in error["message"]
    assert "CERTIFICATE_VERIFY_FAILED" in error["message"]
    assert upstream_journal(up) == []


def test_an_upstream_that_is_down_gets_502_saying_the_proxy_answered() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]               # bound, not listening: connections refused
        with proxy(upstream=f"http://127.0.0.1:{port}") as server:
            answer = clients.post(f"{server.url}{CREATE}", json=GROK, headers=AUTH)
    assert answer.status_code == 502
    assert "this answer comes from the proxy" in answer.json()["error"]["message"]


def test_an_upstream_that_does_not_answer_in_time_gets_504() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)                             # accepts connections, never answers
        port = sock.getsockname()[1]
        with proxy(upstream=f"http://127.0.0.1:{port}", upstream_timeout=0.3) as server:
            answer = clients.get(f"{server.url}/v1/tasks/task-unified-1-abcdefgh", headers=AUTH)
    assert answer.status_code == 504
    error = answer.json()["error"]
    assert error["code"] == "gateway_timeout" and "0.3 s" in error["message"]


def test_creates_beyond_max_creates_are_refused_locally_with_402(up: RunningServer, tls: Tls) -> None:
    with proxy(upstream=up.url, upstream_ca=tls.ca, max_creates=2) as server:
        with clients.Client(base_url=server.url, headers=AUTH) as http:
            statuses = [http.post(CREATE, json=GROK).status_code for _ in range(3)]
            refused = http.post(CREATE, json=GROK).json()["error"]
            task_id = resolved(up.service.store.tasks())[0].id
            read = http.get(f"/v1/tasks/{task_id}").status_code   # reads are not creates
    assert statuses == [200, 200, 402]
    assert refused["code"] == "insufficient_quota" and "--max-creates 2" in refused["message"]
    assert resolved(up.service.store.count()) == 2 and read == 200


def test_the_admin_api_is_the_proxys_own_guarded_and_never_forwarded(
        up: RunningServer, tls: Tls, drifting: DriftingUpstream) -> None:
    with proxy(upstream=up.url, upstream_ca=tls.ca, admin_token="s3cret") as server:
        assert clients.get(f"{server.url}/_mock/health").status_code == 401
        health = clients.get(f"{server.url}/_mock/health", headers={"X-Mock-Admin-Token": "s3cret"})
        # The admin token is this proxy's secret: a forwarded request does not carry it on.
        clients.post(f"{server.url}{CREATE}", json=GROK,
                     headers={**AUTH, "X-Mock-Admin-Token": "s3cret"})
    assert health.status_code == 200
    assert [path for path, _port, _names in drifting.seen] == [CREATE]
    assert "x-mock-admin-token" not in drifting.seen[0][2]
    assert "authorization" in drifting.seen[0][2]
    assert [e["status"] for e in upstream_journal(up)] == [200]


def test_a_callback_url_goes_to_the_upstream_unchanged(via: httpx.Client, up: RunningServer) -> None:
    callback = "https://93.184.216.34/hooks/evolink?sig=a%2Fb"
    task_id = via.post(CREATE, json={**GROK, "callback_url": callback}).json()["id"]
    assert resolved(up.service.store.get(task_id)).request["callback_url"] == callback


def test_violations_stay_out_of_the_journal_of_valid_exchanges_on_serve_too(
        client: httpx.Client) -> None:
    client.post(CREATE, json={**GROK, "duration": 7})
    client.post(CREATE, json=GROK)
    entries = client.get("/_mock/journal").json()["entries"]
    assert [named(e) for e in entries] == [{("request", "/body/duration", "enum")}, set()]


def test_the_proxy_refuses_a_bad_upstream_url_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["proxy", "--upstream", "api.evolink.ai"]) == 2
    assert capsys.readouterr().err.strip() == (
        "evolink-mock: --upstream must be an http:// or https:// URL, got 'api.evolink.ai'")
