"""``--retention HOURS`` (mock time): a mock that runs for weeks keeps bounded state.

Tasks, their callback deliveries and journal entries older than the retention are forgotten
in every store (memory and SQLite here; PostgreSQL in test_replicas.py); a forgotten task
answers 404 exactly as an unknown one does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mock_server.cli import main
from mock_server.server import RunningServer
from mock_server.settings import Settings
from tests.conftest import serving
from tests.receivers import Receiver

KEY = "retention-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
BODY = {"model": "grok-imagine-text-to-video", "prompt": "an owl at dusk"}
HOUR = 3600


@pytest.fixture(params=["memory", "sqlite"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    return None if request.param == "memory" else str(tmp_path / "mock.sqlite")


def running(state: str | None, retention: float, receiver: Receiver | None = None) -> RunningServer:
    hosts = (receiver.host_port,) if receiver else ()
    return RunningServer(Settings(clock="manual", state=state, retention=retention,
                                  allow_callback_hosts=hosts, validate_responses=True))


@pytest.fixture
def mock(state: str | None) -> Iterator[tuple[RunningServer, httpx.Client]]:
    with serving(running(state, retention=1), KEY) as running_mock:
        yield running_mock


def advance(http: httpx.Client, seconds: float) -> None:
    http.post("/_mock/clock/advance", json={"seconds": seconds}).raise_for_status()


def test_a_task_older_than_the_retention_answers_404_like_an_unknown_one(mock) -> None:
    _server, http = mock
    old = http.post("/v1/videos/generations", json=BODY).json()["id"]
    advance(http, HOUR / 2)
    young = http.post("/v1/videos/generations", json=BODY).json()["id"]
    advance(http, HOUR / 2 + 1)   # old is an hour and a second old, young half an hour
    gone = http.get(f"/v1/tasks/{old}")
    unknown = http.get("/v1/tasks/task-unified-1700000000-zzzzzzzz")
    assert gone.status_code == unknown.status_code == 404
    assert gone.json()["error"]["code"] == unknown.json()["error"]["code"]
    assert http.get(f"/v1/tasks/{young}").status_code == 200
    assert http.get("/_mock/health").json()["tasks"] == 1


def test_deliveries_and_journal_entries_go_with_their_age(state: str | None) -> None:
    with Receiver() as receiver, serving(running(state, 1, receiver), KEY) as (server, http):
        task_id = http.post("/v1/videos/generations",
                            json={**BODY, "callback_url": receiver.url()},
                            headers={"X-Mock-Scenario": "takes=10"}).json()["id"]
        advance(http, 10)
        receiver.wait_for(1)
        server.service.callbacks.wait_idle()
        assert [d["task_id"] for d in http.get("/_mock/deliveries").json()["deliveries"]] == [task_id]
        assert http.get("/_mock/journal").json()["entries"]
        advance(http, HOUR + 1)   # the delivery was made 10 s after the create
        assert http.get("/_mock/deliveries").json()["deliveries"] == []
        paths = [e["path"] for e in http.get("/_mock/journal").json()["entries"]]
        assert paths == [], "the create, an hour old, is forgotten"


def test_retention_0_keeps_everything(state: str | None) -> None:
    with serving(running(state, 0), KEY) as (_, http):
        task_id = http.post("/v1/videos/generations", json=BODY).json()["id"]
        advance(http, 90 * 24 * HOUR)
        assert http.get(f"/v1/tasks/{task_id}").status_code == 200


def test_a_negative_retention_is_refused_with_its_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", "--retention", "-1"]) == 2
    assert "--retention" in capsys.readouterr().err


def test_an_idempotency_key_is_forgotten_with_its_age(mock) -> None:
    _server, http = mock
    headers = {"Idempotency-Key": "retention-0123456789"}
    first = http.post("/v1/videos/generations", json=BODY, headers=headers).json()["id"]
    assert http.post("/v1/videos/generations", json=BODY, headers=headers).json()["id"] == first
    advance(http, HOUR + 1)   # within the key's 24 hours, beyond the retention's one
    assert http.post("/v1/videos/generations", json=BODY, headers=headers).json()["id"] != first
