"""Replicas on PostgreSQL: separate ``evolink-mock serve --state postgresql://...`` processes,
each on its own port, acting as one mock; callbacks claimed by whichever replica is free;
faults (``kill -9`` of a replica, PostgreSQL restarted) survived.

The suite starts its own PostgreSQL (tests/postgres.py) and gives each test a fresh database.
Waiting is for other processes (polling with a deadline), never for the mock's clock, which
is manual in every test here.
"""

from __future__ import annotations

import collections
import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from contract_tests.cli import main as contract
from tests import clients
from tests.postgres import PostgresServer, skip_reason, wait_until
from tests.processes import free_port, kill
from tests.receivers import Receiver
from tests.round_robin import RoundRobin

pytestmark = pytest.mark.skipif(skip_reason() is not None, reason=skip_reason() or "")

KEY = "replica-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
BODY = {"model": "grok-imagine-text-to-video", "prompt": "a lighthouse in fog"}
CREATE = "/v1/videos/generations"
TAKES = 10.0   # mock seconds from create to the end of the callback tests' tasks


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def database(postgres: PostgresServer) -> str:
    return postgres.new_database()


@dataclass
class Replica:
    process: subprocess.Popen
    base: str
    http: httpx.Client

    def send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def create(self, body: dict[str, Any] = BODY, headers: dict[str, str] | None = None) -> str:
        response = self.http.post(CREATE, json=body, headers={**AUTH, **(headers or {})})
        assert response.status_code == 200, response.text
        return response.json()["id"]

    def task(self, task_id: str) -> httpx.Response:
        return self.http.get(f"/v1/tasks/{task_id}", headers=AUTH)


def _serve(url: str, *args: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mock_server.cli", "serve", "--port", str(port), "--state", url,
         "--clock", "manual", "--api-key", KEY, "--log-format", "off", *args],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    return process, f"http://127.0.0.1:{port}"


def _answers(base: str) -> bool:
    try:
        return clients.get(f"{base}/_mock/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def replicas(url: str, *args: str, count: int = 2) -> Iterator[list[Replica]]:
    """``count`` replicas on one database, started together, stopped with SIGTERM."""
    started = [_serve(url, *args) for _ in range(count)]
    running: list[Replica] = []
    try:
        for process, base in started:
            if not wait_until(lambda process=process, base=base: process.poll() is not None or _answers(base),
                              timeout=60) \
                    or process.poll() is not None:
                raise RuntimeError(process.stderr.read().decode() if process.stderr else "no output")
            running.append(Replica(process, base, clients.Client(base_url=base, timeout=10)))
        yield running
    finally:
        for replica in running:
            replica.http.close()
        for process, _ in started:
            kill(process, signal.SIGTERM)


def callback_body(receiver: Receiver) -> dict[str, Any]:
    return {**BODY, "callback_url": receiver.url()}


def deliveries(replica: Replica) -> list[dict[str, Any]]:
    return replica.send("GET", "/_mock/deliveries").json()["deliveries"]


# --- one mock -----------------------------------------------------------------------------


def test_a_task_created_on_one_replica_is_read_on_the_other(database: str) -> None:
    with replicas(database) as (a, b):
        ids = [a.create() for _ in range(3)] + [b.create() for _ in range(3)]
        for task_id in ids:
            assert a.task(task_id).json()["id"] == b.task(task_id).json()["id"] == task_id
        assert a.send("GET", "/_mock/health").json()["store"] == "postgresql"
        assert b.send("GET", "/_mock/tasks").json()["total"] == 6


def test_a_clock_move_rule_cancel_and_reset_on_one_replica_hold_on_the_other_at_once(
        database: str) -> None:
    with replicas(database) as (a, b):
        task_id = a.create()
        a.send("POST", "/_mock/clock/advance", json={"seconds": 20}).raise_for_status()
        assert b.task(task_id).json()["status"] == "processing"   # the very next request

        a.send("POST", "/_mock/rules", json={"operation": "createVideoGeneration",
                                             "action": {"http": 429}, "times": 3}).raise_for_status()
        statuses = [replica.http.post(CREATE, json=BODY, headers=AUTH).status_code
                    for replica in (b, a, b, a, b)]
        assert statuses == [429, 429, 429, 200, 200]   # times: 3 across both replicas

        other = a.create()
        b.send("POST", f"/_mock/tasks/{other}/cancel").raise_for_status()
        assert a.task(other).json()["status"] == "failed"

        b.send("POST", "/_mock/reset").raise_for_status()
        assert a.task(task_id).status_code == 404
        assert a.send("GET", "/_mock/health").json()["tasks"] == 0


def test_credits_are_spent_once_across_replicas_under_concurrent_creates(database: str) -> None:
    with replicas(database, "--credits", "70") as (a, b):   # 7 credits a task: room for 10
        def burst(replica: Replica) -> list[int]:
            with clients.Client(base_url=replica.base, timeout=10) as http:
                return [http.post(CREATE, json={**BODY, "model": "kling-o3-text-to-video"},
                                  headers=AUTH).status_code for _ in range(10)]

        results: list[list[int]] = []
        threads = [threading.Thread(target=lambda r=r: results.append(burst(r))) for r in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        statuses = collections.Counter(status for result in results for status in result)
    assert statuses == {200: 10, 402: 10}


def test_the_journal_holds_both_replicas_requests(database: str) -> None:
    with replicas(database) as (a, b):
        a.create()
        b.create()
        entries = wait_until(lambda: len(a.send("GET", "/_mock/journal").json()["entries"]) >= 2
                             and a.send("GET", "/_mock/journal").json()["entries"])
        assert [entry["path"] for entry in entries] == [CREATE, CREATE]


# --- callbacks --------------------------------------------------------------------------------


def test_callbacks_spread_over_replicas_and_each_is_sent_once(database: str) -> None:
    count = 40
    with Receiver() as receiver, replicas(database, "--allow-callback-host",
                                          receiver.host_port) as (a, b):
        headers = {"X-Mock-Scenario": f"takes={TAKES:g}"}
        ids = [(a if n % 2 else b).create(callback_body(receiver), headers=headers)
               for n in range(count)]
        a.send("POST", "/_mock/clock/advance", json={"seconds": TAKES}).raise_for_status()
        received = receiver.wait_for(count, timeout=30)
        assert sorted(request.json()["id"] for request in received) == sorted(ids)
        delivered = wait_until(lambda: [d for d in deliveries(b) if d["state"] == "delivered"]
                               if len([d for d in deliveries(b) if d["state"] == "delivered"]) == count
                               else None)
        assert delivered and all(len(d["attempts"]) == 1 for d in delivered)
        sent = [r.send("GET", "/_mock/health").json()["callback_attempts"] for r in (a, b)]
    assert sum(sent) == count and min(sent) > 0, sent
    assert len(receiver.requests) == count   # nothing sent twice


def test_a_retry_may_be_sent_by_either_replica_and_a_replay_by_one(database: str) -> None:
    with Receiver(500) as receiver, replicas(database, "--allow-callback-host",
                                             receiver.host_port) as (a, b):
        task_id = a.create(callback_body(receiver), headers={"X-Mock-Scenario": f"takes={TAKES:g}"})
        b.send("POST", "/_mock/clock/advance", json={"seconds": TAKES}).raise_for_status()
        receiver.wait_for(1)
        a.send("POST", "/_mock/clock/advance", json={"seconds": 1}).raise_for_status()
        receiver.wait_for(2)
        [delivery] = wait_until(lambda: [d for d in deliveries(a)
                                         if d["state"] == "delivered"] or None)
        assert [attempt["status"] for attempt in delivery["attempts"]] == [500, 200]
        b.send("POST", f"/_mock/deliveries/{delivery['id']}/replay").raise_for_status()
        receiver.wait_for(3)
        assert wait_until(lambda: len([d for d in deliveries(a) if d["state"] == "delivered"]) == 2)
        assert [r.json()["id"] for r in receiver.requests] == [task_id] * 3


# --- faults -----------------------------------------------------------------------------------


def test_kill_9_of_one_replica_during_a_burst_loses_no_task_and_no_callback(database: str) -> None:
    """Creates and callbacks run on both replicas while one is killed; the survivor serves
    every acknowledged task, and every due callback arrives once."""
    with Receiver() as receiver, replicas(database, "--allow-callback-host", receiver.host_port,
                                          "--callback-lease", "2") as (a, b):
        acknowledged: list[str] = []
        stop = threading.Event()
        headers = {"X-Mock-Scenario": "takes=1"}

        def create_on(replica: Replica) -> None:
            with clients.Client(base_url=replica.base, timeout=5) as http:
                while not stop.is_set():
                    try:
                        response = http.post(CREATE, json=callback_body(receiver), headers={
                            **AUTH, **headers})
                    except httpx.TransportError:
                        return   # this replica is gone: what it acknowledged is what counts
                    if response.status_code == 200:
                        acknowledged.append(response.json()["id"])

        def tick() -> None:   # the clock moves on the survivor, so callbacks fall due throughout
            with clients.Client(base_url=b.base, timeout=5) as http:
                while not stop.is_set():
                    http.post("/_mock/clock/advance", json={"seconds": 1})
                    time.sleep(0.02)

        threads = [threading.Thread(target=create_on, args=(r,)) for r in (a, b)]
        threads.append(threading.Thread(target=tick))
        for thread in threads:
            thread.start()
        wait_until(lambda: len(receiver.requests) >= 30 and len(acknowledged) >= 60, timeout=120)
        kill(a.process)   # SIGKILL to its session
        time.sleep(0.5)   # the burst goes on against the survivor for a moment
        stop.set()
        for thread in threads:
            thread.join()
        b.send("POST", "/_mock/clock/advance", json={"seconds": 10}).raise_for_status()
        for task_id in acknowledged:
            assert b.task(task_id).status_code == 200, task_id
        ids = set(acknowledged)
        arrived = wait_until(lambda: ids <= {r.json()["id"] for r in receiver.requests} and ids,
                             timeout=30)
        assert arrived, f"{len(ids - {r.json()['id'] for r in receiver.requests})} callbacks missing"
        counts = collections.Counter(r.json()["id"] for r in receiver.requests)
    assert len(ids) >= 60
    assert [task_id for task_id, n in counts.items() if n > 1] == []


def test_replicas_answer_503_while_postgresql_is_down_and_recover_by_themselves(
        postgres: PostgresServer, database: str) -> None:
    with replicas(database) as (a, b):
        task_id = a.create()
        postgres.stop("fast")
        try:
            for replica in (a, b):
                started = time.monotonic()
                response = replica.task(task_id)
                assert time.monotonic() - started < 10   # an answer, not a hang
                assert response.status_code == 503, response.text
                assert response.json()["error"]["code"] == "service_unavailable"
                assert response.headers["retry-after"] == "1"
                assert replica.http.post(CREATE, json=BODY, headers=AUTH).status_code == 503
        finally:
            postgres.start()
        for replica in (a, b):
            assert wait_until(lambda replica=replica: replica.task(task_id).status_code == 200, timeout=30)
        assert b.task(a.create()).status_code == 200


def test_a_postgresql_restart_under_load_gives_503s_then_200s_and_never_a_500(
        postgres: PostgresServer, database: str) -> None:
    with replicas(database) as (a, b):
        statuses: collections.Counter[int] = collections.Counter()
        stop = threading.Event()

        def load(replica: Replica) -> None:
            with clients.Client(base_url=replica.base, timeout=15) as http:
                while not stop.is_set():
                    statuses[http.post(CREATE, json=BODY, headers=AUTH).status_code] += 1

        threads = [threading.Thread(target=load, args=(r,)) for r in (a, b)]
        for thread in threads:
            thread.start()
        wait_until(lambda: statuses[200] >= 20)
        postgres.stop("fast")
        wait_until(lambda: statuses[503] >= 10)
        postgres.start()
        before = statuses[200]
        recovered = wait_until(lambda: statuses[200] >= before + 20, timeout=30)
        stop.set()
        for thread in threads:
            thread.join()
    assert recovered, statuses
    assert set(statuses) == {200, 503}, statuses


# --- the contract -------------------------------------------------------------------------------


def test_two_replicas_behind_a_round_robin_keep_the_contract(
        database: str, capsys: pytest.CaptureFixture[str]) -> None:
    with replicas(database, "--api-key", "replica-key-2") as (a, b), \
            RoundRobin([a.base, b.base]) as balancer:
        exit_code = contract(["server", "--base-url", balancer.url, "--api-key", KEY,
                              "--other-api-key", "replica-key-2", "--max-examples", "20"])
        report = capsys.readouterr().out
        assert exit_code == 0, report
        assert "0 failed" in report
        assert min(balancer.forwarded.values()) > 0   # both replicas answered


# --- retention ----------------------------------------------------------------------------------


def test_retention_prunes_tasks_deliveries_and_journal_in_postgresql(database: str) -> None:
    with Receiver() as receiver, replicas(database, "--retention", "1", "--allow-callback-host",
                                          receiver.host_port) as (a, b):
        old = a.create(callback_body(receiver), headers={"X-Mock-Scenario": f"takes={TAKES:g}"})
        a.send("POST", "/_mock/clock/advance", json={"seconds": TAKES}).raise_for_status()
        receiver.wait_for(1)
        assert wait_until(lambda: deliveries(b) and deliveries(b)[0]["state"] == "delivered")
        # Reading a's journal writes a's pending batch (the first create's entry) to the store
        # before b prunes: an entry still in a replica's batch is pruned by the next pass only.
        a.send("GET", "/_mock/journal").raise_for_status()
        b.send("POST", "/_mock/clock/advance", json={"seconds": 3601}).raise_for_status()
        young = b.create()
        assert a.task(old).status_code == 404
        assert a.task(young).status_code == 200
        assert deliveries(a) == []
        # The first create, an hour old, is gone; batches of two replicas come in either order.
        expected = sorted([f"/v1/tasks/{old}", CREATE, f"/v1/tasks/{young}"])

        def journaled() -> list[str]:   # each replica writes its entries in batches, 0.1 s at the latest
            paths = sorted(e["path"] for e in a.send("GET", "/_mock/journal").json()["entries"])
            return paths if len(paths) >= len(expected) else []

        assert wait_until(journaled) == expected


def test_serve_with_an_unreachable_postgresql_stops_with_one_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    from mock_server.cli import main

    url = f"postgresql://nobody@127.0.0.1:{free_port()}/mock"
    assert main(["serve", "--state", url]) == 2
    error = capsys.readouterr().err
    assert error.startswith("evolink-mock: --state: cannot use PostgreSQL at 127.0.0.1:")
    assert len(error.strip().splitlines()) == 1


def test_workers_on_postgresql_are_replicas_on_one_port(database: str) -> None:
    from tests.processes import start_serve

    port = free_port()
    with Receiver() as receiver:
        process = start_serve(port, "--workers", "2", "--state", database, "--clock", "manual",
                              "--api-key", KEY, "--log-format", "off", "--allow-callback-host",
                              receiver.host_port)
        try:
            base = f"http://127.0.0.1:{port}"
            seen = set()
            for _ in range(200):   # a new connection each time: the kernel picks the worker
                seen.add(clients.get(f"{base}/_mock/health").headers["x-mock-worker"])
                if len(seen) == 2:
                    break
            assert seen == {"0", "1"}
            ids = [clients.post(f"{base}{CREATE}", json=callback_body(receiver), headers={
                **AUTH, "X-Mock-Scenario": f"takes={TAKES:g}"}).json()["id"] for _ in range(20)]
            clients.post(f"{base}/_mock/clock/advance", json={"seconds": TAKES}).raise_for_status()
            received = receiver.wait_for(20, timeout=30)
            assert sorted(r.json()["id"] for r in received) == sorted(ids)
        finally:
            kill(process, signal.SIGTERM)


def test_an_idempotency_key_makes_one_task_across_replicas(database: str) -> None:
    """Retries with one key racing on two replicas: the look-up, the create and the record are
    one transaction, so one task, and every answer names it."""
    with replicas(database) as (a, b):
        answers: list[httpx.Response] = []

        def retry(replica: Replica) -> None:
            with clients.Client(base_url=replica.base, timeout=10) as http:
                for _ in range(5):
                    answers.append(http.post(CREATE, json=BODY, headers={
                        **AUTH, "Idempotency-Key": "retry-0123456789abcdef"}))

        threads = [threading.Thread(target=retry, args=(r,)) for r in (a, b)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert {response.status_code for response in answers} == {200}
        assert len({response.json()["id"] for response in answers}) == 1
        assert [r.headers.get("idempotency-replayed") for r in answers].count(None) == 1
        assert b.send("GET", "/_mock/health").json()["tasks"] == 1
