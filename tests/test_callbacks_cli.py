"""``evolink-mock trigger``, run as a real subprocess against a receiver on loopback."""

from __future__ import annotations

import subprocess
import sys

from mock_server.spec import load_spec, resolve
from mock_server.validation import compiled

from .conftest import ROOT
from .receivers import Receiver

SPEC = load_spec()
TASK_SCHEMA = resolve(SPEC, {"$ref": "#/components/schemas/Task"})


def trigger(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mock_server.cli", "trigger", *args],
                          capture_output=True, text=True, timeout=60, cwd=ROOT, check=False)


def test_trigger_retries_until_delivered_and_sends_a_spec_valid_document() -> None:
    with Receiver(500, 200) as receiver:
        result = trigger("--to", receiver.url(), "--status", "failed", "--model",
                         "kling-o3-text-to-video", "--error-code", "content_policy_violation",
                         "--allow-callback-host", receiver.host_port)
        first, second = receiver.wait_for(2)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].startswith("attempt 1: HTTP 500 (") and lines[2].startswith("attempt 2: HTTP 200 (")
    assert lines[-1] == "delivered"
    document = second.json()
    assert first.body == second.body and compiled(TASK_SCHEMA).is_valid(document)
    assert document["model"] == "kling-o3-text-to-video" and document["status"] == "failed"
    assert document["error"]["code"] == "content_policy_violation"
    assert document["id"].startswith("task-unified-") and document["id"] in lines[0]
    assert second.headers["content-type"] == "application/json"


def test_trigger_applies_the_callback_policy() -> None:
    with Receiver() as receiver:
        result = trigger("--to", receiver.url(), "--status", "completed")
    assert result.returncode == 1
    assert "refused: callback_url must use https" in result.stderr
    assert receiver.connections == 0
