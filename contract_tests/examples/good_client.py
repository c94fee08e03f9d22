"""A client that keeps the contract: valid request, auth on every call, polite polling.

It sleeps for the task's announced ``estimated_time`` (at least one second) between polls,
and answers a 429 by waiting for its Retry-After before trying again.

    EVOLINK_BASE_URL=... EVOLINK_API_KEY=... python good_client.py
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import httpx

MIN_POLL_SECONDS = 1.0
MAX_POLL_SECONDS = 30.0
TERMINAL = {"completed", "failed"}


def call(http: httpx.Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """One API call; on 429 wait as told and retry."""
    while True:
        answer = http.request(method, path, **kwargs)
        if answer.status_code != 429:
            answer.raise_for_status()
            return answer.json()
        time.sleep(float(answer.headers.get("Retry-After", "1")))


def main() -> int:
    headers = {"Authorization": f"Bearer {os.environ['EVOLINK_API_KEY']}"}
    with httpx.Client(base_url=os.environ["EVOLINK_BASE_URL"], headers=headers,
                      timeout=30) as http:
        task = call(http, "POST", "/v1/videos/generations",
                    json={"model": "grok-imagine-text-to-video",
                          "prompt": "A lighthouse in a storm, waves crashing"})
        while task["status"] not in TERMINAL:
            estimate = task["task_info"].get("estimated_time", MIN_POLL_SECONDS)
            time.sleep(min(max(estimate, MIN_POLL_SECONDS), MAX_POLL_SECONDS))
            task = call(http, "GET", f"/v1/tasks/{task['id']}")
    print(task["status"], task.get("results") or task.get("error"))
    return 0 if task["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
