"""`evolink-contract server` and authentication: ignored_auth runs only where it can hold.

Against the mock `make run` starts (any non-empty key accepted) the check cannot apply and is
reported as skipped, with the reason; against a mock with `--api-key` it runs; against any
other server that lets invalid keys through it fails, and the reproduce line sends the
credentials the failing request carried.
"""

from __future__ import annotations

import re

import pytest
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from contract_tests.cli import main
from mock_server.app import MockApp
from mock_server.spec import load_spec, operations
from tests.contract_support import API_KEY, InFrontOfTheMock, serve_in_front, serve_mock

QUICK = ["--max-examples", "10", "--phases", "lifecycle,stateless"]


def check(base_url: str, *extra: str) -> int:
    return main(["server", "--base-url", base_url, "--api-key", "k1", *QUICK, *extra])


def test_against_a_mock_accepting_any_key_ignored_auth_is_skipped_with_the_reason(
        capsys: pytest.CaptureFixture[str]) -> None:
    with serve_mock(api_keys=()) as url:
        assert check(url) == 0
    out = capsys.readouterr().out
    assert "Result: PASSED" in out
    skipped = [line for line in out.splitlines() if "SKIPPED" in line and "ignored_auth" in line]
    # one per operation of the stateless phase: each has bearer security
    assert len(skipped) == len(list(operations(load_spec()))), out
    assert all("accepting any non-empty key" in line and "--api-key KEY" in line
               for line in skipped)


def test_against_a_mock_with_api_keys_ignored_auth_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with serve_mock() as url:
        assert main(["server", "--base-url", url, "--api-key", API_KEY, *QUICK]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.lstrip().startswith(("SKIPPED", "FAILED"))]
    assert not [row for row in rows if "ignored_auth" in row], "neither skipped nor failed"
    passed = out.split("  passed: ", 1)[1].split("Result:", 1)[0]   # the names that held
    assert "ignored_auth" in passed.replace(",", " ").split()
    assert "Result: PASSED" in out


class Hiding(InFrontOfTheMock):
    """Another server: the mock, but /_mock answers 404 (so it is not recognised as the mock),
    and with ``inject_key`` every request carries that valid key in place of whatever
    credential was sent."""

    def __init__(self, mock: MockApp, inject_key: str | None) -> None:
        super().__init__(mock)
        self.inject_key = inject_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.mock(scope, receive, send)
            return
        if scope["path"].startswith("/_mock"):
            await Response(status_code=404)(scope, receive, send)
            return
        if self.inject_key:
            headers = [(name, value) for name, value in scope["headers"]
                       if name.lower() != b"authorization"]
            scope = {**scope, "headers": [*headers, (b"authorization",
                                                     f"Bearer {self.inject_key}".encode())]}
        await self.mock(scope, receive, send)


def finding_block(out: str, check: str) -> str:
    failures = out.split("Failures (", 1)[1]
    assert f"] {check} - " in failures, failures
    return re.split(r"\n\s*\d+\. \[|\nResult:", failures.split(f"] {check} - ", 1)[1])[0]


@pytest.mark.parametrize(("mock_keys", "inject_key", "sent"), [
    # Any key accepted, but no key refused: the probe with an invalid key gets through.
    ((), None, "-H 'Authorization: Bearer SCHEMATHESIS-INVALID-VALUE'"),
    # Every request gets a valid key: even the probe without any key gets through.
    ((API_KEY,), API_KEY, None),
], ids=["invalid-key-accepted", "no-key-accepted"])
def test_another_server_ignoring_keys_fails_and_the_curl_sends_what_was_sent(
        mock_keys: tuple[str, ...], inject_key: str | None, sent: str | None,
        capsys: pytest.CaptureFixture[str]) -> None:
    with serve_in_front(lambda mock: Hiding(mock, inject_key), api_keys=mock_keys) as url:
        assert main(["server", "--base-url", url, "--api-key", "k1", "--max-examples", "10",
                     "--phases", "stateless"]) == 1
    block = finding_block(capsys.readouterr().out, "ignored_auth")
    reproduce = [line.strip() for line in block.splitlines() if "reproduce:" in line]
    assert reproduce, block
    for line in reproduce:
        assert "$EVOLINK_API_KEY" not in line and "[Filtered]" not in line, line
        if sent is None:
            assert "Authorization" not in line, line
        else:
            assert sent in line, line
