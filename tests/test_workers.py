"""``serve --workers 2``: two processes, one state, and every request answered as by one mock.

Each worker names itself in ``X-Mock-Worker``. The kernel hands each new connection to
either worker and a kept-alive connection stays with it, so the tests hold one client per
worker and check the header on every answer. Waiting is for I/O between processes (polling
with a deadline), never for the mock's clock, which is manual.

Starting ``serve --workers 2`` starts three processes (~3 s of CPU on the 2-core CI machine),
so the tests that need no flags of their own share one (``fresh_workers``): each starts from
``POST /_mock/reset {"restart": true}``, sent to one worker and shared by both (what
``test_a_reset_on_one_worker_empties_the_mock_for_both`` checks), with new connections.
"""

from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract_tests.cli import main as contract
from mock_server.cli import main
from tests import clients
from tests.processes import free_port, kill, start_serve
from tests.receivers import Receiver

KEY = "workers-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
BODY = {"model": "kling-o3-text-to-video", "prompt": "a heron at dawn"}
CREATE = "/v1/videos/generations"


class Workers:
    """Two clients, each with a kept-alive connection to one of the two workers."""

    def __init__(self, base: str) -> None:
        self.base = base
        self._clients: dict[int, httpx.Client] = {}
        # The supervisor answers health once one worker does; the other may still be starting
        # (seconds under load), and a found connection idle for uvicorn's 5 s keep-alive is
        # closed and would reconnect to either worker: so both are checked once found.
        for _ in range(20):
            self._find_both()
            if all(self._worker(client) == worker for worker, client in self._clients.items()):
                return
            self.close()
        raise AssertionError("the connections to the two workers kept moving")

    def _find_both(self) -> None:
        self._clients = {}
        for _ in range(500):
            client = clients.Client(base_url=self.base, timeout=10)
            worker = self._worker(client)
            if worker in self._clients:
                client.close()
            else:
                self._clients[worker] = client
            if len(self._clients) == 2:
                return
        raise AssertionError("the second worker never took a connection")

    @staticmethod
    def _worker(client: httpx.Client) -> int:
        return int(client.get("/_mock/health").headers["x-mock-worker"])

    def send(self, worker: int, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self._clients[worker].request(method, path, **kwargs)
        assert response.headers["x-mock-worker"] == str(worker), "the connection moved"
        return response

    def create(self, worker: int, count: int, body: dict[str, Any] = BODY) -> list[str]:
        ids = []
        for _ in range(count):
            response = self.send(worker, "POST", CREATE, json=body, headers=AUTH)
            assert response.status_code == 200, response.text
            ids.append(response.json()["id"])
        return ids

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


@contextlib.contextmanager
def workers(tmp_path: Path, *args: str) -> Iterator[Workers]:
    port = free_port()
    process = start_serve(port, "--workers", "2", "--state", str(tmp_path / "state.sqlite"),
                          "--clock", "manual", "--api-key", KEY, "--log-format", "off", *args)
    mock = None
    try:
        mock = Workers(f"http://127.0.0.1:{port}")
        yield mock
    finally:
        if mock is not None:
            mock.close()
        kill(process, signal.SIGTERM)


@pytest.fixture(scope="module")
def shared_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One ``serve --workers 2`` for the tests without flags of their own: its base URL."""
    port = free_port()
    process = start_serve(port, "--workers", "2", "--state",
                          str(tmp_path_factory.mktemp("workers") / "state.sqlite"),
                          "--clock", "manual", "--api-key", KEY, "--log-format", "off")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        kill(process, signal.SIGTERM)


@pytest.fixture
def fresh_workers(shared_workers: str) -> Iterator[Workers]:
    """The shared workers as a newly started pair: reset with restart, new connections."""
    assert clients.post(f"{shared_workers}/_mock/reset", json={"restart": True},
                        timeout=10).status_code == 200
    mock = Workers(shared_workers)
    try:
        yield mock
    finally:
        mock.close()


def eventually(check: Callable[[], Any], timeout: float = 10.0) -> Any:
    """The first truthy result of ``check``: other workers' writes arrive by polling."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            assert result, "condition not reached in time"
            return result
        time.sleep(0.02)


def test_a_task_created_on_one_worker_is_served_by_the_other(fresh_workers: Workers) -> None:
    mock = fresh_workers
    created = {worker: mock.create(worker, 3) for worker in (0, 1)}
    for worker, ids in created.items():
        for task_id in ids:
            response = mock.send(1 - worker, "GET", f"/v1/tasks/{task_id}", headers=AUTH)
            assert response.status_code == 200
            assert response.json()["id"] == task_id
    assert mock.send(0, "GET", "/_mock/health").json()["tasks"] == 6


def test_the_manual_clock_moved_on_one_worker_moves_for_both(fresh_workers: Workers) -> None:
    mock = fresh_workers
    (task_id,) = mock.create(0, 1)
    advanced = mock.send(1, "POST", "/_mock/clock/advance", json={"seconds": 3600}).json()["now"]
    assert mock.send(0, "GET", "/_mock/clock").json()["now"] == advanced
    assert mock.send(0, "GET", f"/v1/tasks/{task_id}", headers=AUTH).json()["status"] == "completed"


def test_a_rule_with_times_applies_that_often_across_both_workers(fresh_workers: Workers) -> None:
    mock = fresh_workers
    (task_id,) = mock.create(0, 1)
    rule = {"operation": "getTask", "times": 3, "action": {"http": 429}}
    assert mock.send(0, "POST", "/_mock/rules", json=rule).status_code == 201
    statuses = collections.Counter(
        mock.send(worker, "GET", f"/v1/tasks/{task_id}", headers=AUTH).status_code
        for _ in range(4) for worker in (1, 0))
    assert statuses == {429: 3, 200: 5}
    (listed,) = mock.send(1, "GET", "/_mock/rules").json()["rules"]
    assert (listed["applied"], listed["exhausted"]) == (3, True)


def test_an_idempotency_key_used_on_one_worker_is_known_to_the_other(fresh_workers: Workers) -> None:
    mock = fresh_workers
    keyed = {**AUTH, "Idempotency-Key": "shared-by-workers-01"}
    first = mock.send(0, "POST", CREATE, json=BODY, headers=keyed)
    again = mock.send(1, "POST", CREATE, json=BODY, headers=keyed)
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    conflict = mock.send(1, "POST", CREATE, json={**BODY, "prompt": "x"}, headers=keyed)
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    assert mock.send(0, "GET", "/_mock/health").json()["tasks"] == 1
    with pytest.raises(httpx.RemoteProtocolError):   # a drop works under workers too
        mock.send(1, "POST", CREATE, json=BODY, headers={**AUTH, "X-Mock-Scenario": "drop=before"})
    # The drop is journaled once the app returns, which may be after the client saw the
    # connection end: wait for it, so that it cannot land after the next test's reset.
    eventually(lambda: [e["status"] for e in mock.send(
        0, "GET", "/_mock/journal", params={"path": "/v1/*"}).json()["entries"]][-1:] == [0])


def test_the_journal_holds_every_workers_requests(fresh_workers: Workers) -> None:
    mock = fresh_workers
    expected = sorted(mock.create(0, 2) + mock.create(1, 2))

    def journaled() -> bool:
        entries = mock.send(0, "GET", "/_mock/journal", params={"path": "/v1/*"}).json()["entries"]
        return [e["status"] for e in entries] == [200] * len(expected)

    eventually(journaled)


def test_each_callback_is_sent_once_by_worker_0_whoever_created_the_task(tmp_path: Path) -> None:
    with Receiver() as receiver, workers(tmp_path, "--allow-callback-host", receiver.host_port) as mock:
        body = {**BODY, "callback_url": receiver.url()}
        created = mock.create(0, 3, body) + mock.create(1, 3, body)
        mock.send(1, "POST", "/_mock/clock/advance", json={"seconds": 3600})
        arrivals = receiver.wait_for(6, timeout=10)
        assert sorted(r.json()["id"] for r in arrivals) == sorted(created)

        def delivered() -> list[dict[str, Any]]:
            deliveries = mock.send(1, "GET", "/_mock/deliveries").json()["deliveries"]
            return [d for d in deliveries if d["state"] == "delivered"]

        first = eventually(lambda: len(delivered()) == 6 and delivered())[0]
        assert mock.send(1, "POST", f"/_mock/deliveries/{first['id']}/replay").status_code == 201
        assert receiver.wait_for(7, timeout=10)[-1].json()["id"] == first["task_id"]
        time.sleep(0.3)   # a second sender would have sent its copies by now
        assert len(receiver.requests) == 7


def test_a_cancel_on_one_worker_changes_the_callback_worker_0_sends(tmp_path: Path) -> None:
    with Receiver() as receiver, workers(tmp_path, "--allow-callback-host", receiver.host_port) as mock:
        (task_id,) = mock.create(1, 1, {**BODY, "callback_url": receiver.url()})
        assert mock.send(1, "POST", f"/_mock/tasks/{task_id}/cancel").status_code == 200
        (arrival,) = receiver.wait_for(1, timeout=10)
        assert arrival.json()["status"] == "failed"
        assert arrival.json()["error"]["code"] == "request_cancelled"


def test_a_task_read_on_one_worker_shows_a_cancel_made_on_the_other(fresh_workers: Workers) -> None:
    mock = fresh_workers
    (task_id,) = mock.create(1, 1)
    assert mock.send(0, "GET", f"/v1/tasks/{task_id}", headers=AUTH).json()["status"] == "pending"
    assert mock.send(1, "POST", f"/_mock/tasks/{task_id}/cancel").status_code == 200
    document = mock.send(0, "GET", f"/v1/tasks/{task_id}", headers=AUTH).json()
    assert (document["status"], document["error"]["code"]) == ("failed", "request_cancelled")


def test_a_reset_on_one_worker_empties_the_mock_for_both(fresh_workers: Workers) -> None:
    mock = fresh_workers
    (task_id,) = mock.create(0, 1)
    assert mock.send(0, "GET", f"/v1/tasks/{task_id}", headers=AUTH).status_code == 200
    mock.send(0, "POST", "/_mock/rules", json={"action": {"http": 500}, "times": 5,
                                                "operation": "adminHealth"})
    assert mock.send(1, "POST", "/_mock/reset").status_code == 200
    assert mock.send(0, "GET", f"/v1/tasks/{task_id}", headers=AUTH).status_code == 404
    assert mock.send(0, "GET", "/_mock/rules").json()["rules"] == []
    journal = mock.send(0, "GET", "/_mock/journal").json()["entries"]
    assert [(e["path"], e["status"]) for e in journal] == [(f"/v1/tasks/{task_id}", 404)], \
        "only what came after the reset"


def test_scenario_rules_are_loaded_once_for_all_workers(tmp_path: Path) -> None:
    scenario = tmp_path / "flaky.yaml"
    scenario.write_text("rules:\n  - action: {http: 429}\n    times: 2\n"
                        "  - action: {fail: content_policy_violation}\n")
    with workers(tmp_path, "--scenario", str(scenario)) as mock:
        for worker in (0, 1):
            rules = mock.send(worker, "GET", "/_mock/rules").json()["rules"]
            assert [rule["id"] for rule in rules] == ["rule-1", "rule-2"]


def test_workers_share_the_credit_balance(tmp_path: Path) -> None:
    with workers(tmp_path, "--credits", "20") as mock:
        statuses = [mock.send(worker, "POST", CREATE, json=BODY, headers=AUTH).status_code
                    for worker in (0, 1, 0, 1)]
        assert statuses == [200, 200, 402, 402]   # 7 credits a task: a third would need 21


def test_worker_mode_keeps_the_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The contract checker's lifecycle and stateful phases against worker mode (SQLite
    store, shared counters, the extra header). The checker keeps its connection alive, so
    this does not prove the workers agree: the tests above do that."""
    with workers(tmp_path, "--api-key", "workers-key-2") as mock:
        exit_code = contract(["server", "--base-url", mock.base, "--api-key", KEY,
                              "--other-api-key", "workers-key-2", "--phases", "lifecycle,stateful",
                              "--max-examples", "20"])
    report = capsys.readouterr().out
    assert exit_code == 0, report
    assert "0 failed" in report


@pytest.mark.parametrize(("args", "message"), [
    (["--workers", "2"], "needs --state"),
    (["--workers", "0"], "at least 1"),
])
def test_serve_refuses_workers_it_cannot_share_state_between(args: list[str], message: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["serve", *args]) == 2
    assert message in capsys.readouterr().err


def test_a_bad_scenario_file_stops_serve_with_its_message(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("rules:\n  - action: {bogus: 1}\n")
    assert main(["serve", "--scenario", str(scenario), "--port", str(free_port())]) == 2
    assert "unknown key 'bogus'" in capsys.readouterr().err


def test_workers_that_cannot_start_stop_the_supervisor_instead_of_restarting(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.yaml"
    scenario.write_text("rules:\n  - action: {bogus: 1}\n")
    finished = subprocess.run(
        [sys.executable, "-m", "mock_server.cli", "serve", "--workers", "2", "--port", str(free_port()),
         "--state", str(tmp_path / "state.sqlite"), "--scenario", str(scenario)],
        capture_output=True, text=True, timeout=60, check=False)
    assert finished.returncode == 1
    assert "unknown key 'bogus'" in finished.stderr
    assert "before it was ready; stopping" in finished.stderr


def _worker_pids(supervisor: int) -> set[int]:
    """The supervisor's children that run a worker (not multiprocessing's resource tracker,
    which runs beside spawned workers; forked ones carry the supervisor's command line)."""
    pids = set()
    for child in Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split():
        cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        if b"multiprocessing.resource_tracker" not in cmdline:
            pids.add(int(child))
    return pids


def test_a_worker_that_dies_is_started_again_and_finds_the_state(tmp_path: Path) -> None:
    port = free_port()
    process = start_serve(port, "--workers", "2", "--state", str(tmp_path / "state.sqlite"),
                          "--clock", "manual", "--api-key", KEY, "--log-format", "off")
    try:
        mock = Workers(f"http://127.0.0.1:{port}")
        task_ids = mock.create(0, 1) + mock.create(1, 1)
        mock.close()
        before = _worker_pids(process.pid)
        assert len(before) == 2
        supervisor = Path(f"/proc/{process.pid}/cmdline").read_bytes()
        # forked, not spawned: a worker starts with the supervisor's imports made
        assert all(Path(f"/proc/{pid}/cmdline").read_bytes() == supervisor for pid in before)
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        after = eventually(lambda: len(pids := _worker_pids(process.pid)) == 2 and victim not in pids
                           and pids, timeout=30)
        assert len(after & before) == 1, "exactly the killed worker was replaced"
        mock = eventually(lambda: _both_workers(f"http://127.0.0.1:{port}"), timeout=30)
        for worker in (0, 1):
            for task_id in task_ids:
                assert mock.send(worker, "GET", f"/v1/tasks/{task_id}", headers=AUTH).status_code == 200
        mock.close()
    finally:
        kill(process, signal.SIGTERM)


def _both_workers(base: str) -> Workers | None:
    try:
        return Workers(base)
    except (AssertionError, httpx.TransportError):
        return None


def test_workers_are_forked_only_while_the_supervisor_runs_one_thread() -> None:
    from mock_server.workers import start_method

    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert start_method() == "spawn"   # a fork would copy a process with a thread missing
    finally:
        release.set()
        other.join()
