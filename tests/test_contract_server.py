"""`evolink-contract server`: passes our mock, and names each way a server can break the contract.

Each broken server is the mock with one thing corrupted in front of it, in the same server
(tests/contract_support.InFrontOfTheMock); the control API passes through untouched, so the
checker still advances the mock's clock.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from contract_tests.budget import Budget, default_max_credits, price
from contract_tests.cli import main
from mock_server.app import MockApp
from tests.contract_support import (
    API_KEY,
    OTHER_API_KEY,
    InFrontOfTheMock,
    serve_in_front,
    serve_mock,
)

EXAMPLES = "30"
Corruption = Callable[[str, str, int, Any], tuple[int, Any]]


class Corrupting(InFrontOfTheMock):
    """``corrupt`` may rewrite the mock's vendor-API JSON answers (status and document);
    the request headers in ``drop_headers`` never reach the mock."""

    def __init__(self, mock: MockApp, corrupt: Corruption,
                 drop_headers: frozenset[str] = frozenset()) -> None:
        super().__init__(mock)
        self.corrupt = corrupt
        self.drop_headers = {name.encode("latin-1") for name in drop_headers}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.mock(scope, receive, send)
            return
        if self.drop_headers:
            scope = {**scope, "headers": [(name, value) for name, value in scope["headers"]
                                          if name.lower() not in self.drop_headers]}
        if not scope["path"].startswith("/v1/"):
            await self.mock(scope, receive, send)
            return
        start: dict[str, Any] = {}
        body = bytearray()

        async def hold(message: Message) -> None:   # the answer, whole, then corrupted
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    await self._answer(scope, start, bytes(body), send)
            else:
                await send(message)

        await self.mock(scope, receive, hold)

    async def _answer(self, scope: Scope, start: dict[str, Any], content: bytes, send: Send) -> None:
        status = start["status"]
        headers = [(name, value) for name, value in start.get("headers", [])
                   if name.lower() != b"content-length"]
        if any(name.lower() == b"content-type" and b"json" in value for name, value in headers):
            status, document = self.corrupt(scope["method"], scope["path"], status,
                                             json.loads(content))
            content = json.dumps(document).encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [*headers, (b"content-length", str(len(content)).encode())]})
        await send({"type": "http.response.body", "body": content})


class NotTheMock(InFrontOfTheMock):
    """Hides the control API, so the checker must treat the server as any other."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/_mock"):
            await Response(status_code=404)(scope, receive, send)
        else:
            await self.mock(scope, receive, send)


def unchanged(method: str, path: str, status: int, body: Any) -> tuple[int, Any]:
    return status, body


def numeric_error_codes(method: str, path: str, status: int, body: Any) -> tuple[int, Any]:
    if status >= 400:
        body["error"]["code"] = status * 10
    return status, body


def task_without_object(method: str, path: str, status: int, body: Any) -> tuple[int, Any]:
    if status == 200:
        body.pop("object", None)
    return status, body


def crash_on_unknown_task(method: str, path: str, status: int, body: Any) -> tuple[int, Any]:
    if status == 404:
        return 500, {"error": {"code": "internal_error", "message": "boom", "type": "api_error"}}
    return status, body


def validation_as_422(method: str, path: str, status: int, body: Any) -> tuple[int, Any]:
    return (422 if status == 400 else status), body


def create_as_201(method: str, path: str, status: int, body: Any) -> tuple[int, Any]:
    return (201 if method == "POST" and status == 200 else status), body


def progress_backwards(method: str, path: str, status: int, body: Any) -> tuple[int, Any]:
    if method == "GET" and status == 200 and body.get("status") == "processing":
        body["progress"] = 99 - body["progress"]
    return status, body


@pytest.fixture(scope="module")
def mock_url() -> Iterator[str]:
    with serve_mock() as url:
        yield url


def check(base_url: str, *extra: str) -> int:
    return main(["server", "--base-url", base_url, "--api-key", API_KEY,
                 "--other-api-key", OTHER_API_KEY, "--max-examples", EXAMPLES, *extra])


def test_our_mock_keeps_the_contract(mock_url: str, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    junit = tmp_path / "server.xml"
    assert check(mock_url, "--junit", str(junit)) == 0
    out, err = capsys.readouterr()
    assert "Result: PASSED" in out
    assert "lifecycle time passed by advancing its clock" in out
    for phase in ("[lifecycle] 2 tasks", "[idempotency] 3 creates with one key", "[stateless]",
                  "[stateful]"):
        assert phase in err
    suites = ET.parse(junit).getroot().findall("testsuite")
    assert [s.get("name") for s in suites] == ["server.lifecycle", "server.idempotency",
                                               "server.stateless", "server.stateful"]
    cases = [c.get("name") for s in suites for c in s.findall("testcase")]
    assert {"other_key_is_forbidden", "progress_never_decreases", "not_a_server_error",
            "error_envelope", "ignored_auth", "replay_returns_the_original_task",
            "reused_key_with_another_body_conflicts", "answers_carry_request_id"} <= set(cases)
    assert all(s.get("failures") == "0" for s in suites)


@pytest.mark.parametrize(("corruption", "named"), [
    (numeric_error_codes, ["error_envelope", "response_schema_conformance"]),
    (task_without_object, ["documents_match_schema", "response_schema_conformance"]),
    (crash_on_unknown_task, ["not_a_server_error"]),
    (validation_as_422, ["status_code_conformance"]),
    (create_as_201, ["status_code_conformance"]),
    (progress_backwards, ["progress_never_decreases"]),
], ids=lambda value: getattr(value, "__name__", ""))
def test_each_broken_contract_fails_and_is_named(corruption: Corruption, named: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with serve_in_front(lambda mock: Corrupting(mock, corruption)) as broken_url:
        assert check(broken_url) == 1
    out = capsys.readouterr().out
    failures = out.split("Failures (", 1)[1]
    for name in named:
        assert f"] {name} - " in failures
    assert "reproduce: curl -X" in failures
    assert "Result: FAILED" in out


def test_a_server_without_idempotency_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    def forgetful(mock: MockApp) -> Corrupting:
        return Corrupting(mock, unchanged, drop_headers=frozenset({"idempotency-key"}))

    with serve_in_front(forgetful) as forgetful_url:
        assert check(forgetful_url, "--phases", "idempotency") == 1
    failures = capsys.readouterr().out.split("Failures (", 1)[1]
    assert "] replay_returns_the_original_task - " in failures
    assert "the retry made another task" in failures
    assert "] reused_key_with_another_body_conflicts - " in failures
    assert "expected 409 idempotency_conflict" in failures
    assert "-H 'Idempotency-Key: evolink-contract-" in failures   # the curl reproduces it


def test_idempotency_runs_only_if_the_budget_covers_three_creates(
        mock_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(mock_url, "--max-credits", "14", "--phases", "idempotency") == 0
    assert check(mock_url, "--max-credits", "15", "--phases", "idempotency") == 0
    skipped, ran = capsys.readouterr().out.split("Result: PASSED", 1)
    assert "SKIPPED idempotency" in skipped and "0 credits spent of 14" in skipped
    assert "15 credits spent of 15" in ran and "SKIPPED" not in ran


def test_a_capped_budget_skips_valid_creates_and_says_so(
        mock_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert check(mock_url, "--max-credits", "0", "--phases", "lifecycle,stateless") == 0
    out = capsys.readouterr().out
    assert "0 credits spent of 0" in out
    assert "Skipped for budget:" in out
    assert "- lifecycle completed task: 1" in out
    assert "- stateless POST /v1/videos/generations:" in out
    assert "SKIPPED lifecycle" in out


def test_another_server_is_polled_in_real_time_within_max_wait(
        capsys: pytest.CaptureFixture[str]) -> None:
    # 600x: a two-minute task takes 0.2 s of real time, announced as estimated_time 1.
    with serve_in_front(NotTheMock, clock="scaled", speed=600) as url:
        assert check(url, "--phases", "lifecycle") == 0
        assert check(url, "--phases", "lifecycle", "--max-wait", "0") == 1
    passed, failed = capsys.readouterr().out.split("Result: PASSED", 1)
    assert "lifecycle polls in real time, waiting at most 600 s per task" in passed
    assert "'failed task' needs the mock to script its outcome" in passed
    assert "] task_reaches_terminal_state - completed task" in failed
    assert "still pending after waiting 0 s (raise --max-wait?)" in failed


def test_budget_defaults_to_nothing_away_from_loopback() -> None:
    assert default_max_credits("https://api.evolink.ai") == 0
    assert default_max_credits("http://10.0.0.5:8000") == 0
    for local in ("http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"):
        assert default_max_credits(local) is None


def test_only_valid_creates_are_priced_and_capped() -> None:
    kling = {"model": "kling-o3-text-to-video", "prompt": "a fox"}
    assert price({"model": "grok-imagine-text-to-video", "prompt": "a fox"}) == 5
    assert price(kling | {"quality": "1080p", "duration": 10}) == 21
    assert price({"model": "grok-imagine-text-to-video", "prompt": "a fox", "duration": 7}) is None
    budget = Budget(max_credits=10)
    assert budget.allows(kling, "a")                                   # 7 credits
    assert not budget.allows({"model": "grok-imagine-text-to-video", "prompt": "x"}, "b")
    assert budget.allows({"model": "nope"}, "c")                       # invalid: free
    assert budget.skipped == {"b": 1} and budget.spent == 7
