"""Callback deliveries against real receivers on loopback, on the manual clock.

No test sleeps for a retry delay: the clock is advanced, then the dispatcher is waited on
until nothing is due and nothing is in flight (``wait_idle``), which waits for I/O only.
"""

from __future__ import annotations

import asyncio
import itertools
import ssl
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from mock_server.callbacks.dispatcher import CallbackDispatcher
from mock_server.callbacks.policy import CallbackPolicy
from mock_server.callbacks.sender import Sender
from mock_server.callbacks.urls import host_and_port, parse_allowed_host
from mock_server.cli import main
from mock_server.domain.scenarios import Action
from mock_server.server import RunningServer
from mock_server.service import MockService
from mock_server.settings import Settings
from mock_server.spec import load_spec
from mock_server.store import resolved

from .conftest import serving
from .receivers import CLOSE, HANG, Receiver, redirect

KEY = "callback-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
BODY = {"model": "grok-imagine-text-to-video", "prompt": "a kite over the dunes"}
TAKES = 10.0   # mock seconds from create to the end of every test task
TIMEOUT = 0.3  # the dispatcher's per-attempt timeout in these tests (10 s in service)


@contextmanager
def running_mock(*allowed: str, timeout: float = TIMEOUT, resolver: Any = None,
                 **overrides: Any) -> Iterator[tuple[RunningServer, httpx.Client]]:
    settings = Settings(**{"clock": "manual", "validate_responses": True, "seed": 11,
                           "allow_callback_hosts": allowed, **overrides})
    server = RunningServer(settings)
    server.service.callbacks = CallbackDispatcher(server.service, timeout=timeout,
                                                  resolver=resolver)
    with serving(server, KEY) as running:
        yield running


def create(http: httpx.Client, callback_url: str | None, takes: float = TAKES) -> str:
    body = {**BODY, "callback_url": callback_url} if callback_url else BODY
    response = http.post("/v1/videos/generations", json=body,
                         headers={"X-Mock-Scenario": f"takes={takes:g}"})
    assert response.status_code == 200, response.text
    return response.json()["id"]


def advance(server: RunningServer, http: httpx.Client, seconds: float) -> None:
    http.post("/_mock/clock/advance", json={"seconds": seconds}).raise_for_status()
    server.service.callbacks.wait_idle()


def deliveries(http: httpx.Client, task_id: str | None = None) -> list[dict[str, Any]]:
    params = {"task_id": task_id} if task_id else {}
    response = http.get("/_mock/deliveries", params=params)
    assert response.status_code == 200, response.text
    return response.json()["deliveries"]


def only_delivery(http: httpx.Client, task_id: str) -> dict[str, Any]:
    [delivery] = deliveries(http, task_id)
    return delivery


# --- delivery ------------------------------------------------------------------------------


def test_terminal_task_is_posted_once_with_its_query_document() -> None:
    with Receiver() as receiver, running_mock(receiver.host_port) as (server, http):
        task_id = create(http, receiver.url())
        create(http, None)   # no callback_url: no delivery
        advance(server, http, TAKES - 0.5)
        assert receiver.requests == [] and deliveries(http) == []
        advance(server, http, 0.5)
        [request] = receiver.wait_for(1)
        assert request.json() == http.get(f"/v1/tasks/{task_id}").json()
        assert request.json()["status"] == "completed"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["host"] == receiver.host_port
        assert request.path == "/hook"
        delivery = only_delivery(http, task_id)
        assert delivery["state"] == "delivered" and delivery["next_due_at"] is None
        [attempt] = delivery["attempts"]
        assert attempt["status"] == 200 and attempt["error"] is None
        assert attempt["due_at"] == attempt["sent_at"] == delivery["created_at"]
        assert attempt["address"] == "127.0.0.1"
        assert attempt["response_body"] == '{"received": true}'
        assert http.get(f"/_mock/deliveries/{delivery['id']}").json() == delivery
        advance(server, http, 3600)
        assert len(receiver.requests) == 1 and len(deliveries(http)) == 1


def test_retries_after_1_2_and_4_mock_seconds_then_gives_up() -> None:
    with Receiver(500, 500, 500, 500) as receiver, running_mock(receiver.host_port) as (server, http):
        task_id = create(http, receiver.url())
        advance(server, http, TAKES)
        receiver.wait_for(1)
        for number, delay in enumerate((1.0, 2.0, 4.0), start=2):
            advance(server, http, delay - 0.5)
            assert len(receiver.requests) == number - 1   # not a moment early
            assert only_delivery(http, task_id)["state"] == "pending"
            advance(server, http, 0.5)
            receiver.wait_for(number)
        delivery = only_delivery(http, task_id)
        assert delivery["state"] == "failed" and delivery["next_due_at"] is None
        attempts = delivery["attempts"]
        assert [a["number"] for a in attempts] == [1, 2, 3, 4]
        assert [a["status"] for a in attempts] == [500] * 4
        assert [later["due_at"] - earlier["sent_at"] for earlier, later in itertools.pairwise(attempts)] \
            == pytest.approx([1.0, 2.0, 4.0])
        assert all(a["sent_at"] == a["due_at"] for a in attempts)
        bodies = {request.body for request in receiver.requests}
        assert len(bodies) == 1   # every attempt carries the same document
        advance(server, http, 3600)
        assert len(receiver.requests) == 4


def test_scaled_clock_sends_when_due_in_real_time() -> None:
    """At 100 mock seconds per real second the whole schedule takes a fraction of a second."""
    with Receiver(500, 200) as receiver, \
            running_mock(receiver.host_port, clock="scaled", speed=100.0) as (server, http):
        task_id = create(http, receiver.url())
        receiver.wait_for(2)
        server.service.callbacks.wait_idle()
        first, second = only_delivery(http, task_id)["attempts"]
    assert first["sent_at"] >= first["due_at"] and second["sent_at"] >= second["due_at"]
    assert second["due_at"] - first["sent_at"] >= 1.0


def test_first_2xx_ends_the_delivery() -> None:
    with Receiver(503, 204) as receiver, running_mock(receiver.host_port) as (server, http):
        task_id = create(http, receiver.url())
        advance(server, http, TAKES)
        advance(server, http, 1)
        receiver.wait_for(2)
        advance(server, http, 3600)
        delivery = only_delivery(http, task_id)
        assert [a["status"] for a in delivery["attempts"]] == [503, 204]
        assert delivery["state"] == "delivered" and len(receiver.requests) == 2


def test_timeout_and_dropped_connection_are_failed_attempts() -> None:
    with Receiver(HANG, CLOSE, 200) as receiver, running_mock(receiver.host_port) as (server, http):
        task_id = create(http, receiver.url())
        advance(server, http, TAKES)
        advance(server, http, 1)
        advance(server, http, 2)
        receiver.wait_for(3)
        hung, dropped, ok = only_delivery(http, task_id)["attempts"]
        assert hung["status"] is None and hung["error"] == f"no answer within {TIMEOUT:g} s"
        assert hung["latency_ms"] >= TIMEOUT * 900   # cut off by the timeout, not answered
        assert dropped["status"] is None and "RemoteProtocolError" in dropped["error"]
        assert ok["status"] == 200


def test_redirect_is_a_failed_attempt_and_is_not_followed() -> None:
    with Receiver() as target, Receiver(redirect(target.url("/elsewhere")), 200) as receiver, \
            running_mock(receiver.host_port, target.host_port) as (server, http):
        task_id = create(http, receiver.url())
        advance(server, http, TAKES)
        assert only_delivery(http, task_id)["attempts"][0]["status"] == 302
        advance(server, http, 1)
        assert [a["status"] for a in only_delivery(http, task_id)["attempts"]] == [302, 200]
        assert target.connections == 0 and target.requests == []


def test_cancelled_task_delivers_failed_request_cancelled() -> None:
    with Receiver() as receiver, running_mock(receiver.host_port) as (server, http):
        task_id = create(http, receiver.url(), takes=100)
        advance(server, http, 30)
        assert http.post(f"/_mock/tasks/{task_id}/cancel").status_code == 200
        server.service.callbacks.wait_idle()
        [request] = receiver.wait_for(1)
        document = request.json()
        assert document["status"] == "failed" and document["error"]["code"] == "request_cancelled"
        assert document == http.get(f"/v1/tasks/{task_id}").json()
        advance(server, http, 100)   # the planned end has been superseded
        assert len(receiver.requests) == 1 and len(deliveries(http, task_id)) == 1


def test_dns_rebinding_is_caught_at_delivery() -> None:
    """A public-looking name accepted at create resolves to loopback when it is delivered."""
    with Receiver() as receiver:
        rebinding = f"https://hooks.rebind-check.net:{receiver.port}/hook"
        host, _port = host_and_port(rebinding)

        async def resolver(url: str) -> list[str]:
            return {host: ["127.0.0.1"]}[host_and_port(url)[0]]

        with running_mock(receiver.host_port, resolver=resolver) as (server, http):
            task_id = create(http, rebinding)
            for seconds in (TAKES, 1, 2, 4):
                advance(server, http, seconds)
            delivery = only_delivery(http, task_id)
        assert delivery["state"] == "failed"
        for attempt in delivery["attempts"]:
            assert attempt["status"] is None and attempt["address"] is None
            assert attempt["error"] == ("callback_url host hooks.rebind-check.net resolves to a "
                                        "loopback address (127.0.0.1); refusing to deliver")
        assert receiver.connections == 0


def test_https_rehearsal_with_certificates_from_the_cli(tmp_path: Path, capsys: Any) -> None:
    assert main(["certs", str(tmp_path)]) == 0
    assert f"--callback-ca {tmp_path}/ca.pem" in capsys.readouterr().out
    separate = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    separate.load_cert_chain(tmp_path / "localhost-cert.pem", tmp_path / "localhost-key.pem")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(tmp_path / "localhost.pem")
    with Receiver(tls=tls) as receiver:
        url = receiver.url(host="localhost")
        allowed = f"localhost:{receiver.port}"
        untrusted = _send_once(Sender(CallbackPolicy((parse_allowed_host(allowed),))), url)
        assert "CERTIFICATE_VERIFY_FAILED" in untrusted.error
        with running_mock(allowed, callback_ca=str(tmp_path / "ca.pem")) as (server, http):
            task_id = create(http, url)
            advance(server, http, TAKES)
            [request] = receiver.wait_for(1)
            [attempt] = only_delivery(http, task_id)["attempts"]
        assert attempt["status"] == 200 and attempt["address"] == "127.0.0.1"
        assert request.headers["host"] == allowed
        assert request.json()["id"] == task_id


def _send_once(sender: Sender, url: str) -> Any:
    async def send() -> Any:
        try:
            return await sender.send(url, b"{}")
        finally:
            await sender.aclose()

    return asyncio.run(send())


# --- journal, replay, reset ------------------------------------------------------------------


def test_replay_sends_the_same_payload_as_a_new_delivery() -> None:
    with Receiver(500, 200) as receiver, running_mock(receiver.host_port) as (server, http):
        task_id = create(http, receiver.url())
        advance(server, http, TAKES)
        original = only_delivery(http, task_id)
        response = http.post(f"/_mock/deliveries/{original['id']}/replay")
        assert response.status_code == 201, response.text
        replayed = response.json()
        assert replayed["replay_of"] == original["id"] and replayed["state"] == "pending"
        assert replayed["payload"] == original["payload"] and replayed["attempts"] == []
        server.service.callbacks.wait_idle()
        assert main(["replay", original["id"], "--url", server.url]) == 0
        server.service.callbacks.wait_idle()
        first, second, third = receiver.wait_for(3)
        assert first.body == second.body == third.body
        states = {d["id"]: d["state"] for d in deliveries(http, task_id)}
        assert states[original["id"]] == "pending" and states[replayed["id"]] == "delivered"
        assert len(states) == 3
        missing = http.post("/_mock/deliveries/dlv-missing/replay")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "delivery_not_found"
        assert http.get("/_mock/deliveries/dlv-missing").status_code == 404


def test_reset_forgets_deliveries_and_their_retries() -> None:
    with Receiver(500) as receiver, running_mock(receiver.host_port) as (server, http):
        create(http, receiver.url())
        advance(server, http, TAKES)
        assert len(deliveries(http)) == 1
        assert http.post("/_mock/reset").status_code == 200
        assert deliveries(http) == []
        advance(server, http, 60)
        assert len(receiver.requests) == 1


def test_an_attempt_on_the_wire_during_a_reset_is_never_recorded() -> None:
    with Receiver(HANG) as receiver, running_mock(receiver.host_port) as (server, http):
        create(http, receiver.url())
        http.post("/_mock/clock/advance", json={"seconds": TAKES}).raise_for_status()
        receiver.wait_for(1)   # written, and the handler sits on it
        assert http.post("/_mock/reset").status_code == 200
        # The handler's deadline is real time (TIMEOUT): an attempt left running would time
        # out now and be recorded as a failed attempt with a retry.
        time.sleep(TIMEOUT * 2)
        server.service.callbacks.wait_idle()
        advance(server, http, 60)
        assert deliveries(http) == []
        assert server.service.callbacks.attempts_sent == 0
        assert len(receiver.requests) == 1


# --- persistence -----------------------------------------------------------------------------


def test_pending_deliveries_survive_a_restart(tmp_path: Path) -> None:
    state = str(tmp_path / "mock.sqlite")
    with Receiver(500) as receiver:
        with running_mock(receiver.host_port, state=state) as (server, http):
            retried = create(http, receiver.url())
            later = create(http, receiver.url("/later"), takes=2 * TAKES)
            advance(server, http, TAKES)
            receiver.wait_for(1)
        with running_mock(receiver.host_port, state=state) as (server, http):
            server.service.callbacks.wait_idle()
            assert len(receiver.requests) == 1   # resumes on schedule, not at startup
            advance(server, http, 1)
            receiver.wait_for(2)
            assert only_delivery(http, retried)["state"] == "delivered"
            advance(server, http, TAKES)
            assert receiver.wait_for(3)[2].path == "/later"
            assert only_delivery(http, later)["state"] == "delivered"


def test_task_that_ended_while_the_mock_was_down_is_delivered_at_startup(tmp_path: Path) -> None:
    state = str(tmp_path / "mock.sqlite")
    with Receiver() as receiver:
        with running_mock(receiver.host_port, state=state) as (_server, http):
            task_id = create(http, receiver.url())
        offline = MockService(Settings(clock="manual", state=state), load_spec())
        # Time passes while the mock is down (a scaled clock would do this by itself).
        resolved(offline.advance(TAKES + 60))
        resolved(offline.store.close())
        with running_mock(receiver.host_port, state=state) as (server, http):
            server.service.callbacks.wait_idle()
            [request] = receiver.wait_for(1)
            assert request.json() == http.get(f"/v1/tasks/{task_id}").json()
            [attempt] = only_delivery(http, task_id)["attempts"]
            assert attempt["due_at"] < attempt["sent_at"]   # late, but not lost


# --- load ------------------------------------------------------------------------------------


def test_a_thousand_tasks_ending_at_once_are_all_delivered() -> None:
    count = 1000
    with Receiver() as receiver, running_mock(receiver.host_port, timeout=10) as (server, http):
        for _ in range(count):   # in process: this is about delivery, not the create path
            resolved(server.service.create_task(api_key="load-key", media_base=server.url,
                                                body={**BODY, "callback_url": receiver.url()},
                                                action=Action(takes=TAKES)))
        advanced_at = time.time()
        http.post("/_mock/clock/advance", json={"seconds": TAKES}).raise_for_status()
        received = receiver.wait_for(count, timeout=30)
        server.service.callbacks.wait_idle(timeout=30)
        attempts = [d["attempts"] for d in deliveries(http)]
    assert len(attempts) == count and all(len(a) == 1 and a[0]["status"] == 200 for a in attempts)
    assert len({request.json()["id"] for request in received}) == count
    mock_lag = [a[0]["sent_at"] - a[0]["due_at"] for a in attempts]
    real_lag = [a[0]["sent_real_at"] - advanced_at for a in attempts]
    arrival_lag = [request.real_at - advanced_at for request in received]
    print(f"\n{count} deliveries due at once: "
          f"due->sent lag mock p50 {_pct(mock_lag, 50):.3f} s p99 {_pct(mock_lag, 99):.3f} s; "
          f"real p50 {_pct(real_lag, 50) * 1000:.0f} ms p99 {_pct(real_lag, 99) * 1000:.0f} ms; "
          f"due->received p50 {_pct(arrival_lag, 50) * 1000:.0f} ms "
          f"p99 {_pct(arrival_lag, 99) * 1000:.0f} ms")


def _pct(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]
