"""`evolink-contract callbacks`: a sound handler passes; a failing or slow one is caught."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contract_tests.callbacks import rehearsal_documents
from contract_tests.cli import main
from contract_tests.contract import FAILURE_CODES, schema_problems
from tests.contract_support import serve


def handler(answer: Any) -> tuple[Starlette, list[dict[str, Any]]]:
    """A webhook handler whose answer to each document is ``await answer(number, document)``."""
    received: list[dict[str, Any]] = []

    async def hook(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=await answer(len(received), received[-1]))

    return Starlette(routes=[Route("/hook", hook, methods=["POST"])]), received


def rehearse(url: str, *extra: str) -> int:
    return main(["callbacks", "--to", f"{url}/hook", *extra])


def test_every_document_matches_the_spec_and_covers_each_outcome() -> None:
    documents = rehearsal_documents()
    assert all(not schema_problems("Task", document) for _, document in documents)
    failed = [document["error"]["code"] for _, document in documents
              if document["status"] == "failed"]
    assert failed == list(FAILURE_CODES)
    statuses = [document["status"] for _, document in documents]
    assert statuses[0] == "completed" and statuses[-2:] == ["completed", "processing"]
    assert documents[-1][1]["id"] == documents[0][1]["id"] == documents[-2][1]["id"]


def test_a_sound_handler_passes(capsys: pytest.CaptureFixture[str]) -> None:
    async def ok(number: int, document: dict[str, Any]) -> int:
        return 204

    app, received = handler(ok)
    with serve(app) as url:
        assert rehearse(url) == 0
    assert len(received) == len(FAILURE_CODES) + 3
    out = capsys.readouterr().out
    assert re.search(r"processing after completed \(out of order\) +204", out)
    assert "Result: PASSED" in out


def test_a_handler_that_errors_on_failed_tasks_fails(capsys: pytest.CaptureFixture[str]) -> None:
    async def crash_on_failure(number: int, document: dict[str, Any]) -> int:
        return 500 if document["status"] == "failed" else 200

    with serve(handler(crash_on_failure)[0]) as url:
        assert rehearse(url) == 1
    out = capsys.readouterr().out
    assert out.count("FAILED  callbacks  answered_2xx_in_time") == len(FAILURE_CODES)
    assert "answered HTTP 500" in out
    assert "reproduce: curl -X POST -H 'Content-Type: application/json'" in out


def test_a_slow_handler_fails(capsys: pytest.CaptureFixture[str]) -> None:
    async def slow_first(number: int, document: dict[str, Any]) -> int:
        if number == 1:
            await asyncio.sleep(1.0)
        return 200

    with serve(handler(slow_first)[0]) as url:
        assert rehearse(url, "--timeout", "0.3") == 1
    out = capsys.readouterr().out
    assert "FAILED  callbacks  answered_2xx_in_time               completed " in out
    assert "no answer within 0.3 s" in out
