"""`evolink-contract har` on HAR files from elsewhere: a browser's export (other hosts,
HTTP/2 pseudo-headers, base64 bodies, bodies left out) and files that are not HAR at all."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from contract_tests.cli import main
from contract_tests.har import check_har

TASK = {"created": 1795500000, "id": "task-unified-1795500000-k3v9x0ab",
        "model": "kling-o3-text-to-video", "object": "video.generation.task", "progress": 0,
        "status": "pending", "task_info": {"can_cancel": True, "estimated_time": 300},
        "type": "video"}


def entry(method: str, url: str, status: int, *, request_body: Any = None,
          response_body: Any = None, base64_body: bool = False,
          headers: list[dict[str, str]] | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "method": method, "url": url, "httpVersion": "HTTP/2",
        "headers": headers if headers is not None else [
            {"name": ":authority", "value": "api.evolink.ai"},
            {"name": "authorization", "value": "Bearer sk-live-abc"},
            {"name": "content-type", "value": "application/json"}],
        "queryString": [], "cookies": [], "headersSize": -1, "bodySize": -1}
    if request_body is not None:
        request["postData"] = {"mimeType": "application/json", "text": json.dumps(request_body)}
    content: dict[str, Any] = {"size": 0, "mimeType": "application/json"}
    if response_body is not None:
        text = json.dumps(response_body)
        content["text"] = base64.b64encode(text.encode()).decode() if base64_body else text
        if base64_body:
            content["encoding"] = "base64"
    return {"startedDateTime": "2026-11-30T10:00:00.000Z", "time": 12, "request": request,
            "response": {"status": status, "statusText": "", "httpVersion": "HTTP/2",
                         "headers": [{"name": "content-type", "value": "application/json"}],
                         "cookies": [], "content": content, "redirectURL": "",
                         "headersSize": -1, "bodySize": -1},
            "cache": {}, "timings": {"send": 1, "wait": 10, "receive": 1}}


def write(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    path = tmp_path / "browser.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "creator": {"name": "Browser", "version": "1"},
                                        "entries": entries}}))
    return path


def test_a_browser_export_is_judged_exchange_by_exchange(tmp_path: Path) -> None:
    har = write(tmp_path, [
        entry("GET", "https://app.example.com/index.html", 200),
        entry("POST", "https://api.evolink.ai/v1/videos/generations", 200,
              request_body={"model": "kling-o3-text-to-video", "prompt": "A cat"},
              response_body={**TASK, "usage": {"billing_rule": "per_call", "credits_reserved": 7,
                                               "user_group": "default"}}),
        entry("GET", f"https://api.evolink.ai/v1/tasks/{TASK['id']}?t=1", 200,
              response_body={**TASK, "progress": "12"}, base64_body=True),
        entry("GET", f"https://api.evolink.ai/v1/tasks/{TASK['id']}", 200),   # body not kept
        entry("POST", "https://api.evolink.ai/v1/videos/generations", 400,
              request_body={"model": "kling-o3-text-to-video", "prompt": "A cat", "duration": 2},
              response_body={"error": {"code": "invalid_request", "message": "bad duration",
                                       "type": "invalid_request_error", "param": "duration"}}),
    ])
    report = check_har(har)
    assert report.summary == [
        "5 exchanges in the file, 4 with the vendor API (/v1/), 1 others skipped",
        "#2 POST /v1/videos/generations -> 200: ok",
        f"#3 GET /v1/tasks/{TASK['id']} -> 200: 1 violation",
        f"#4 GET /v1/tasks/{TASK['id']} -> 200: ok",
        "#5 POST /v1/videos/generations -> 400: 1 violation",
    ]
    findings = {run.subject: [f.message for f in run.findings] for run in report.failures}
    assert findings == {
        f"#3 GET /v1/tasks/{TASK['id']}": [
            "response /body/progress [type] progress must be of type integer, got string"],
        "#5 POST /v1/videos/generations": [
            "request /body/duration [minimum] duration must be between 3 and 15"],
    }
    assert any("no response body" in note for note in report.notes)


def test_a_clean_file_passes_and_an_unauthenticated_request_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    create = {"model": "grok-imagine-text-to-video", "prompt": "x"}
    har = write(tmp_path, [entry("POST", "https://api.evolink.ai/v1/videos/generations", 401,
                                 request_body=create, headers=[],
                                 response_body={"error": {"code": "unauthorized", "message": "no key",
                                                          "type": "authentication_error"}})])
    assert main(["har", str(har)]) == 1
    assert "request /header/authorization [security]" in capsys.readouterr().out


@pytest.mark.parametrize(("content", "message"), [
    ("{\"log\": ", "is not JSON: Expecting value at line 1 column 9"),
    ("[]", "HAR.log is missing"),
    ("{\"log\": {\"entries\": [{\"request\": {\"url\": \"https://x/v1/tasks/a\"}}]}}",
     "log.entries[0].response is missing"),
    ("{\"log\": {\"entries\": [{\"request\": {\"method\": \"GET\", \"url\": \"https://x/\"}, "
     "\"response\": {\"status\": \"200\"}}]}}", "log.entries[0].response.status has the wrong type (str)"),
])
def test_a_file_that_is_not_a_har_gets_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str) -> None:
    path = tmp_path / "broken.har"
    path.write_text(content)
    assert main(["har", str(path)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
