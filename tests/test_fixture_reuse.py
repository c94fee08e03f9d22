"""The ``evolink_mock`` fixture reuses one server per session and settings, and still gives
every test a mock no other test has touched (``POST /_mock/reset {"restart": true}``)."""

from __future__ import annotations

import json

import httpx
import pytest

from contract_tests.mock import MockPool, MockServer
from mock_server.settings import Settings

pytest_plugins = ["pytester"]
# The inner pytest runs need none of the heavy plugins installed beside ours (Schemathesis,
# Hypothesis, anyio): without them a run starts in ~3 s instead of ~15 s on a busy machine.
LEAN = ("-p", "no:cacheprovider", "-p", "no:schemathesis", "-p", "no:hypothesispytest",
        "-p", "no:anyio")
CREATE = {"model": "grok-imagine-text-to-video", "prompt": "A lighthouse in a storm"}
AUTH = {"Authorization": "Bearer k1"}

# Two tests in one file: the first leaves everything a test can leave behind, the second
# (run after it, in the same session) must see none of it, on the same server.
DIRTY_THEN_CLEAN = """
import json, os, httpx, pytest
from mock_server.settings import Settings

CREATE = {CREATE}
SEEN = os.environ["SEEN_FILE"]

@pytest.fixture
def evolink_mock_settings():
    # a port nothing listens on: the delivery is recorded (connection refused) and retried
    return Settings(clock="manual", seed=5, allow_callback_hosts=("127.0.0.1:9",),
                    scenarios=({SCENARIO!r},))

def note(mock, **facts):
    with open(SEEN, "a") as fh:
        fh.write(json.dumps({{"url": mock.url, **facts}}) + "\\n")

def test_leaves_everything_behind(evolink_mock):
    http = httpx.Client(base_url=evolink_mock.url, headers={AUTH!r})
    first = http.post("/v1/videos/generations", json=CREATE).json()
    evolink_mock.add_rule(operation="getTask", action={{"http": 500}})
    http.post("/v1/videos/generations",
              json={{**CREATE, "callback_url": "http://127.0.0.1:9/hook"}})
    start = evolink_mock.control("GET", "/clock")["now"]
    evolink_mock.advance(10_000)
    evolink_mock.service.callbacks.wait_idle()
    assert evolink_mock.deliveries() and len(evolink_mock.tasks()) == 2
    assert len(evolink_mock.journal.requests()) == 2
    note(evolink_mock, first_id=first["id"], clock_start=start,
         rules=[r["id"] for r in evolink_mock.control("GET", "/rules")["rules"]])

def test_sees_a_mock_as_new(evolink_mock):
    assert evolink_mock.tasks() == []
    assert evolink_mock.deliveries() == []
    assert evolink_mock.journal.requests() == []
    rules = evolink_mock.control("GET", "/rules")["rules"]
    start = evolink_mock.control("GET", "/clock")["now"]
    http = httpx.Client(base_url=evolink_mock.url, headers={AUTH!r})
    first = http.post("/v1/videos/generations", json=CREATE).json()
    assert evolink_mock.journal.requests()[0]["seq"] == 1
    note(evolink_mock, first_id=first["id"], clock_start=start, rules=[r["id"] for r in rules])
"""


def test_a_reused_mock_shows_a_test_nothing_of_the_test_before(
        pytester: pytest.Pytester, tmp_path, monkeypatch) -> None:
    scenario = tmp_path / "scenario.yaml"
    scenario.write_text("rules:\n  - {operation: getTask, action: {delay: 0.01}}\n")
    seen = tmp_path / "seen.jsonl"
    monkeypatch.setenv("SEEN_FILE", str(seen))
    pytester.makepyfile(DIRTY_THEN_CLEAN.format(CREATE=CREATE, AUTH=AUTH, SCENARIO=str(scenario)))
    result = pytester.runpytest_subprocess(*LEAN)
    result.assert_outcomes(passed=2)
    dirty, clean = [json.loads(line) for line in seen.read_text().splitlines()]
    assert clean["url"] == dirty["url"], "the second test should reuse the first one's server"
    # As new: the same seeded id, the clock back at the wall time (not 10,000 s on), only
    # the --scenario rule, numbered from 1 again.
    assert clean["first_id"].rsplit("-", 1)[1] == dirty["first_id"].rsplit("-", 1)[1]
    assert clean["clock_start"] - dirty["clock_start"] < 60
    assert clean["rules"] == ["rule-1"] and dirty["rules"] == ["rule-1", "rule-2"]


def test_under_xdist_each_worker_has_its_own_mock(
        pytester: pytest.Pytester, tmp_path, monkeypatch) -> None:
    seen = tmp_path / "seen.jsonl"
    monkeypatch.setenv("SEEN_FILE", str(seen))
    pytester.makepyfile("""
        import json, os, httpx, pytest

        @pytest.mark.parametrize("n", range(8))
        def test_one_task_each(evolink_mock, n):
            assert evolink_mock.tasks() == []
            httpx.post(evolink_mock.url + "/v1/videos/generations",
                       headers={"Authorization": "Bearer k"},
                       json={"model": "grok-imagine-text-to-video", "prompt": "x"})
            assert len(evolink_mock.tasks()) == 1
            with open(os.environ["SEEN_FILE"], "a") as fh:
                fh.write(json.dumps([os.environ["PYTEST_XDIST_WORKER"], evolink_mock.url]) + "\\n")
    """)
    result = pytester.runpytest_subprocess("-n", "2", *LEAN)
    result.assert_outcomes(passed=8)
    urls_by_worker: dict[str, set[str]] = {}
    for line in seen.read_text().splitlines():
        worker, url = json.loads(line)
        urls_by_worker.setdefault(worker, set()).add(url)
    assert len(urls_by_worker) == 2, "both workers should have run tests"
    (a,), (b,) = urls_by_worker.values()   # one mock per worker, reused for all its tests
    assert a != b


def test_a_mock_the_test_stopped_is_replaced_by_a_new_one() -> None:
    pool = MockPool()
    settings = Settings(clock="manual")
    try:
        first = pool.acquire(settings)
        first.stop()
        pool.release(first)
        second = pool.acquire(settings)
        assert second is not first and second.running
        assert httpx.get(f"{second.url}/_mock/health").status_code == 200
        pool.release(second)
        assert pool.acquire(settings) is second
    finally:
        pool.close()


def test_the_pool_keeps_few_mocks_and_stops_the_least_recently_used() -> None:
    pool = MockPool(keep=2)
    try:
        mocks = [pool.acquire(Settings(clock="manual", seed=n)) for n in range(3)]
        assert [mock.running for mock in mocks] == [False, True, True]
    finally:
        pool.close()
    assert not any(mock.running for mock in mocks)


def test_reset_restart_refuses_what_is_not_a_boolean() -> None:
    with MockServer() as mock:
        answer = httpx.post(f"{mock.url}/_mock/reset", json={"restart": "yes"})
        assert answer.status_code == 400
        assert answer.json()["error"]["param"] == "restart"
        # without a body it is the plain reset: the clock keeps its time
        moved = mock.advance(100)
        assert httpx.post(f"{mock.url}/_mock/reset").json()["clock"]["now"] == moved
