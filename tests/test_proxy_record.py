"""`evolink-mock proxy --record`: HAR 1.2 written as it goes, valid after `kill -9`, checked
offline by `evolink-contract har`; the summary and exit status of the proxy process."""

from __future__ import annotations

import json
import signal
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from contract_tests.cli import main as contract_main
from mock_server.server import RunningServer
from tests import clients
from tests.processes import free_port, kill
from tests.upstreams import (  # noqa: F401 - tls_fixture and upstream_pair_fixture register fixtures
    AUTH,
    CREATE,
    GROK,
    UPSTREAM_KEY,
    DriftingUpstream,
    Tls,
    proxy,
    start_proxy,
    tls_fixture,
    upstream_pair_fixture,
)


def entries(path: Path) -> list[dict[str, Any]]:
    document = json.loads(path.read_text())
    assert document["log"]["version"] == "1.2"
    return document["log"]["entries"]


def test_every_exchange_is_in_the_har_before_its_answer_and_keys_are_redacted(
        upstream_pair: tuple[RunningServer, DriftingUpstream], tls: Tls, tmp_path: Path) -> None:
    up, _ = upstream_pair
    har = tmp_path / "traffic.har"
    with proxy(upstream=up.url, upstream_ca=tls.ca, record=str(har)) as server:
        with clients.Client(base_url=server.url, headers=AUTH) as http:
            assert entries(har) == []                    # a valid, empty HAR from the start
            task_id = http.post(CREATE, json=GROK).json()["id"]
            assert len(entries(har)) == 1                # written before the answer was sent
            http.get(f"/v1/tasks/{task_id}")
            http.post(CREATE, json={**GROK, "duration": 7})
            assert len(entries(har)) == 3
    text = har.read_text()
    assert UPSTREAM_KEY not in text
    recorded = entries(har)
    assert [(e["request"]["method"], e["response"]["status"]) for e in recorded] == [
        ("POST", 200), ("GET", 200), ("POST", 400)]
    assert recorded[0]["request"]["url"] == f"{up.url}{CREATE}"
    assert json.loads(recorded[0]["request"]["postData"]["text"]) == GROK
    assert json.loads(recorded[1]["response"]["content"]["text"])["id"] == task_id
    assert recorded[2]["response"]["comment"].startswith("answered by evolink-mock proxy")
    assert "/body/duration [enum]" in recorded[2]["comment"]


def test_a_recording_round_trips_through_evolink_contract_har(
        upstream_pair: tuple[RunningServer, DriftingUpstream], tls: Tls, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    up, drifting = upstream_pair
    clean, drifted = tmp_path / "clean.har", tmp_path / "drifted.har"
    with proxy(upstream=up.url, upstream_ca=tls.ca, record=str(clean)) as server:
        task_id = clients.post(f"{server.url}{CREATE}", json=GROK, headers=AUTH).json()["id"]
        clients.get(f"{server.url}/v1/tasks/{task_id}", headers=AUTH)
    assert contract_main(["har", str(clean)]) == 0
    assert "Result: PASSED" in capsys.readouterr().out

    with proxy(upstream=up.url, upstream_ca=tls.ca, record=str(drifted)) as server:
        drifting.drifts.extend(["unknown-enum", "undocumented-status"])
        clients.get(f"{server.url}/v1/tasks/{task_id}", headers=AUTH)
        clients.get(f"{server.url}/v1/tasks/{task_id}", headers=AUTH)
        clients.post(f"{server.url}{CREATE}", json={**GROK, "duration": 7}, headers=AUTH)
    junit = tmp_path / "har.xml"
    assert contract_main(["har", str(drifted), "--junit", str(junit)]) == 1
    out = capsys.readouterr().out
    assert "response /body/status [enum] status must be one of" in out
    assert "response /status [status] HTTP 418 is not documented for getTask" in out
    assert "request /body/duration [enum] duration must be one of [6, 10]" in out
    failures = ET.parse(junit).getroot().iter("failure")
    assert len(list(failures)) == 3


def test_a_proxy_killed_with_sigkill_leaves_a_valid_har_of_every_answered_exchange(
        upstream_pair: tuple[RunningServer, DriftingUpstream], tls: Tls, tmp_path: Path) -> None:
    up, _ = upstream_pair
    har = tmp_path / "killed.har"
    port = free_port()
    process = start_proxy(port, "--upstream", up.url, "--upstream-ca", tls.ca, "--record", str(har),
                          "--log-format", "off")
    try:
        with clients.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as http:
            task_id = http.post(CREATE, json=GROK).json()["id"]
            for _ in range(3):
                assert http.get(f"/v1/tasks/{task_id}").status_code == 200
    finally:
        kill(process, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    assert len(entries(har)) == 4
    assert contract_main(["har", str(har)]) == 0


@pytest.mark.parametrize(("flags", "stop", "code"), [
    ([], signal.SIGTERM, 0),
    (["--fail-on-violation"], signal.SIGINT, 1),
], ids=["sigterm", "sigint-fail-on-violation"])
def test_the_proxy_prints_a_violation_summary_on_exit(
        upstream_pair: tuple[RunningServer, DriftingUpstream], tls: Tls, flags: list[str],
        stop: signal.Signals, code: int) -> None:
    up, _ = upstream_pair
    port = free_port()
    process = start_proxy(port, "--upstream", up.url, "--upstream-ca", tls.ca, *flags)
    try:
        clients.post(f"http://127.0.0.1:{port}{CREATE}", json={**GROK, "duration": 7}, headers=AUTH)
        clients.post(f"http://127.0.0.1:{port}{CREATE}", json=GROK, headers=AUTH)
    finally:
        process.send_signal(stop)
        out, _err = process.communicate(timeout=30)
    assert process.returncode == code
    assert ("evolink-mock proxy: 2 exchanges (1 forwarded, 1 refused (invalid)); "
            "1 violations in 1 exchanges") in out
    assert ("#1 POST /v1/videos/generations -> 400: request /body/duration [enum] duration must "
            "be one of [6, 10]") in out
