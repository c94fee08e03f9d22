"""A task scripted to fail announces the same estimate as the task that succeeds.

The real service cannot know in advance that a generation will fail, so neither the create
answer nor a poll while the task runs may give the scripted outcome away.
"""

from __future__ import annotations

import httpx
import pytest

CREATE = "/v1/videos/generations"
GROK = {"model": "grok-imagine-text-to-video", "prompt": "A lighthouse in a storm"}


@pytest.mark.parametrize("code", ["content_policy_violation", "service_error", "generation_timeout"])
def test_scripted_failure_estimates_what_success_would_take(client: httpx.Client, code: str) -> None:
    plain = client.post(CREATE, json=GROK).json()
    failing = client.post(CREATE, json=GROK, headers={"X-Mock-Scenario": f"fail={code}"}).json()
    assert failing["task_info"]["estimated_time"] == plain["task_info"]["estimated_time"] == 120
    # 1 s into processing: content_policy_violation (fails at 10 %) is still running.
    client.post("/_mock/clock/advance", json={"seconds": 10})
    polled_plain = client.get(f"/v1/tasks/{plain['id']}").json()
    polled_failing = client.get(f"/v1/tasks/{failing['id']}").json()
    assert polled_failing["status"] == "processing"
    assert polled_failing["task_info"] == polled_plain["task_info"]
