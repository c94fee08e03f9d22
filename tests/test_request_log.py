"""One log line per request; secrets never appear in it."""

from __future__ import annotations

import json
import logging

import pytest

from mock_server.journal import JournalEntry, format_line
from mock_server.settings import Settings

from .conftest import serving


def entry(query: str) -> JournalEntry:
    return JournalEntry(seq=1, at=0.0, real_at=0.0, method="GET", path="/_mock/ui", query=query,
                        operation=None, key=None, status=200, error_code=None, error_message=None,
                        error_param=None, latency_ms=1.0, body=None)


@pytest.mark.parametrize("json_format", [False, True])
def test_dashboard_token_is_redacted_in_the_log_line(json_format: bool) -> None:
    line = format_line(entry("a=1&token=s3cret&b=2"), json_format)
    assert "s3cret" not in line and "token=***" in line


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_each_request_logs_one_line_without_the_api_key(
        log_format: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="evolink_mock.requests")
    settings = Settings(clock="manual", log_format=log_format)
    with serving(settings, api_key=None) as (_, http):
        http.post("/v1/videos/generations", json={"model": "nope"},
                  headers={"Authorization": "Bearer very-secret-key"})
    lines = [r.getMessage() for r in caplog.records if r.name == "evolink_mock.requests"]
    assert len(lines) == 1
    assert "very-secret-key" not in lines[0]
    if log_format == "json":
        assert json.loads(lines[0])["error_code"] == "invalid_request"
    else:
        assert lines[0].startswith("POST /v1/videos/generations 400")
