"""SSRF matrix: every hostile callback_url of the fixture file, against a running mock.

* ``stage: create`` entries are refused by ``POST /v1/videos/generations`` with 400
  ``invalid_request``, ``param: callback_url`` — and refused again by the delivery code
  (``Sender.send``) even if every name resolved to loopback (defence in depth).
* ``stage: delivery`` entries (names resolving to internal addresses, injected through the
  dispatcher's resolver seam) are accepted at create and refused at every delivery attempt,
  with the reason in the delivery journal.
* No packet reaches a private receiver: trap listeners sit on the loopback addresses and
  ports the hostile URLs point at (127.0.0.1 and 127.0.0.2 on the URL's port, [::1], ...),
  and a guard on ``socket.connect`` records every outgoing connection of this process and
  refuses any non-loopback one. A redirect from an allowed receiver to an internal address
  is not followed.

With HARDENING_REPORTS=1 the last test writes reports/ssrf.md.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import socket
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from hardening.common import write_json, write_text
from hardening.ssrf import ConnectGuard, Trap, Traps, entry_url, load_fixture, local_targets, report_markdown
from mock_server.callbacks.dispatcher import CallbackDispatcher
from mock_server.callbacks.policy import CallbackPolicy
from mock_server.callbacks.sender import Sender
from mock_server.callbacks.urls import host_and_port
from mock_server.server import RunningServer
from mock_server.settings import Settings

from .conftest import serving
from .receivers import Receiver, redirect

DATA = load_fixture()
CREATE = [e for e in DATA["refused"] if e.get("stage", "create") == "create"]
DELIVERY = [e for e in DATA["refused"] if e.get("stage") == "delivery"]
KEY = "ssrf-matrix-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
BODY = {"model": "grok-imagine-text-to-video", "prompt": "a kite over the dunes"}
TAKES = 10.0
DEFAULT_PORTS = (443, 80, 8443)
FIGURES: Counter[str] = Counter()
FAILURES: list[str] = []


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [entry_url(e)[:60].encode("unicode_escape").decode("ascii") for e in entries]


def _targets() -> set[tuple[str, int]]:
    """Loopback (address, port) pairs the hostile URLs point at, plus the usual ports."""
    targets = {(address, port) for address in ("127.0.0.1", "127.0.0.2", "::1")
               for port in DEFAULT_PORTS}
    for entry in DATA["refused"]:
        try:
            host, port = host_and_port(entry_url(entry))
        except ValueError:
            continue
        targets.update(local_targets(host, port))
        for address in entry.get("resolves_to", []):
            targets.update(local_targets(address.partition("%")[0], port))
    return targets


async def _fixture_resolver(url: str) -> list[str]:
    """DNS for the delivery-stage names, from the fixture; nothing else resolves."""
    host, _port = host_and_port(url)
    for entry in DELIVERY:
        if host_and_port(entry_url(entry))[0] == host:
            return list(entry["resolves_to"])
    raise socket.gaierror(socket.EAI_NONAME, f"{host} is not in the SSRF fixture")


@pytest.fixture(scope="module")
def guard() -> Iterator[ConnectGuard]:
    with ConnectGuard() as guard:
        yield guard


@pytest.fixture(scope="module")
def traps(guard: ConnectGuard) -> Iterator[Traps]:
    traps = Traps()
    traps.open(sorted(_targets()))
    try:
        yield traps
    finally:
        traps.close()


@pytest.fixture(scope="module")
def mock(traps: Traps) -> Iterator[tuple[RunningServer, httpx.Client]]:
    """The default policy (no allowed hosts), manual clock, DNS from the fixture."""
    server = RunningServer(Settings(clock="manual", validate_responses=True, seed=21))
    server.service.callbacks = CallbackDispatcher(server.service, timeout=2.0,
                                                  resolver=_fixture_resolver)
    with serving(server, KEY) as running:
        yield running


def _advance(server: RunningServer, http: httpx.Client, seconds: float) -> None:
    http.post("/_mock/clock/advance", json={"seconds": seconds}).raise_for_status()
    server.service.callbacks.wait_idle()


@pytest.mark.parametrize("entry", CREATE, ids=_ids(CREATE))
def test_hostile_url_is_refused_at_create(entry: dict[str, Any],
                                          mock: tuple[RunningServer, httpx.Client]) -> None:
    _server, http = mock
    url = entry_url(entry)
    response = http.post("/v1/videos/generations", json={**BODY, "callback_url": url})
    if response.status_code != 400:
        FAILURES.append(f"create accepted {url!r} ({entry['why']}): HTTP {response.status_code}")
    assert response.status_code == 400, (entry["why"], response.text)
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["param"] == "callback_url", error
    # The reason comes from the spec (pattern, length) or the policy; the policy's own
    # wording is checked against ``expect`` in tests/test_callback_policy.py.
    assert error["message"].startswith("callback_url"), error
    FIGURES["refused at create"] += 1


async def _loopback_resolver(url: str) -> list[str]:
    """The worst case: every name resolves to loopback (numeric hosts to themselves)."""
    host, _port = host_and_port(url)
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        return ["127.0.0.1"]


@pytest.mark.parametrize("entry", CREATE, ids=_ids(CREATE))
def test_hostile_url_is_refused_again_when_sending(entry: dict[str, Any], traps: Traps) -> None:
    """Defence in depth: the sender itself refuses the URL, whatever DNS says."""
    url = entry_url(entry)

    async def send() -> Any:
        sender = Sender(CallbackPolicy(), timeout=2.0, resolver=_loopback_resolver)
        try:
            return await sender.send(url, b"{}")
        finally:
            await sender.aclose()

    outcome = asyncio.run(send())
    if outcome.error is None or outcome.address is not None:
        FAILURES.append(f"sender did not refuse {url!r} ({entry['why']}): {outcome}")
    assert outcome.status is None and outcome.address is None and outcome.error, outcome
    FIGURES["refused again by the sender"] += 1


@pytest.mark.parametrize("entry", DELIVERY, ids=_ids(DELIVERY))
def test_internal_resolution_is_refused_at_delivery(entry: dict[str, Any],
                                                    mock: tuple[RunningServer, httpx.Client]) -> None:
    server, http = mock
    url = entry_url(entry)
    response = http.post("/v1/videos/generations", json={**BODY, "callback_url": url},
                         headers={"X-Mock-Scenario": f"takes={TAKES:g}"})
    assert response.status_code == 200, (entry["why"], response.text)
    task_id = response.json()["id"]
    for seconds in (TAKES, 1, 2, 4):
        _advance(server, http, seconds)
    [delivery] = http.get("/_mock/deliveries", params={"task_id": task_id}).json()["deliveries"]
    attempts = delivery["attempts"]
    connected = [a for a in attempts if a["address"] is not None or a["status"] is not None]
    if connected or delivery["state"] != "failed":
        FAILURES.append(f"delivery to {url!r} resolving to {entry['resolves_to']} was not refused: "
                        f"{json.dumps(attempts)[:400]}")
    assert delivery["state"] == "failed" and len(attempts) == 4, delivery
    for attempt in attempts:
        assert attempt["status"] is None and attempt["address"] is None, attempt
        assert (attempt["error"] and "refusing to deliver" in attempt["error"]) or \
            "did not resolve" in attempt["error"], attempt
        if "expect" in entry:
            assert entry["expect"].lower() in attempt["error"].lower(), (entry["why"], attempt["error"])
    FIGURES["refused at delivery"] += 1


def test_redirect_to_an_internal_address_is_not_followed(traps: Traps) -> None:
    """An allowed receiver answers 302 to internal addresses; no redirect is followed."""
    first = Trap("127.0.0.1", 0)   # PORT2: a free port, then the same port on 127.0.0.2 and [::1]
    port = first.port
    traps.traps[("127.0.0.1", port)] = first
    traps.open([("127.0.0.2", port), ("::1", port)])
    hops = [f"http://127.0.0.1:{port}/", f"http://127.0.0.2:{port}/", f"http://[::1]:{port}/"]
    with Receiver(*(redirect(hop) for hop in hops), 200) as receiver:
        settings = Settings(clock="manual", validate_responses=True, seed=22,
                            allow_callback_hosts=(receiver.host_port,))
        server = RunningServer(settings)
        server.service.callbacks = CallbackDispatcher(server.service, timeout=2.0)
        with serving(server, KEY) as (server, http):
            response = http.post("/v1/videos/generations",
                                 json={**BODY, "callback_url": receiver.url("/hook")},
                                 headers={"X-Mock-Scenario": f"takes={TAKES:g}"})
            assert response.status_code == 200, response.text
            task_id = response.json()["id"]
            for seconds in (TAKES, 1, 2, 4):
                _advance(server, http, seconds)
            [delivery] = http.get("/_mock/deliveries", params={"task_id": task_id}).json()["deliveries"]
    assert [a["status"] for a in delivery["attempts"]] == [302, 302, 302, 200]
    assert len(receiver.requests) == 4
    for hop in hops:
        host, hop_port = host_and_port(hop.replace("http://", "https://"))
        trap = traps.traps.get((host, hop_port))
        assert trap is None or trap.connections == [], (hop, trap)
    FIGURES["redirects to internal addresses not followed"] += len(hops)


def test_no_packet_reached_a_private_receiver(traps: Traps, guard: ConnectGuard) -> None:
    """Runs last (file order): the traps saw nothing; nothing left loopback."""
    touched = traps.touched()
    FIGURES["trap listeners"] = len(traps.traps)
    FIGURES["packets reached a trap"] = sum(touched.values())
    FIGURES["connections refused by the guard (non-loopback)"] = len(guard.refused)
    if os.environ.get("HARDENING_REPORTS"):
        figures = {
            "hostile URLs in the fixture": len(DATA["refused"]),
            "create-stage entries": len(CREATE),
            "delivery-stage entries": len(DELIVERY),
            **FIGURES,
            "failures": FAILURES,
            "traps": sorted(f"{a}:{p}" for a, p in traps.traps),
            "traps_unavailable": {f"{a}:{p}": why for (a, p), why in traps.unavailable.items()},
            "guard_refused": [f"{a}:{p}" for a, p in guard.refused],
        }
        write_json("ssrf.json", figures)
        write_text("ssrf.md", report_markdown(figures))
    assert touched == {}, f"hostile callbacks reached loopback listeners: {touched}"
    assert guard.refused == [], f"connections to non-loopback addresses were attempted: {guard.refused}"
