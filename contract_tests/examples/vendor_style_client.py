"""A client that meets failures the way the vendor's own client does.

The vendor's published client (``@evolinkai/evolink-media``, Apache-2.0) sends every paid
create with an ``Idempotency-Key`` and, after a timeout, a dropped connection, a 429, 502 or
503, retries it once with the same key, so a create whose answer was lost is never paid
twice. It waits for ``Retry-After`` (seconds or an HTTP date, at most 30 s), never retries
400/401/402/403, and quotes ``X-Request-Id`` in its errors. This one creates two tasks and
polls both to the end.

    EVOLINK_BASE_URL=... EVOLINK_API_KEY=... python vendor_style_client.py
"""

from __future__ import annotations

import email.utils
import os
import secrets
import sys
import time
from typing import Any

import httpx

CREATE = "/v1/videos/generations"
RETRYABLE = {429, 502, 503}
MAX_RETRY_AFTER_SECONDS = 30.0    # the vendor's client caps the wait at 30 s
MIN_POLL_SECONDS, MAX_POLL_SECONDS = 1.0, 30.0
TERMINAL = {"completed", "failed"}


class ApiError(Exception):
    """An error answer, with what support needs: status, code and the request id."""

    def __init__(self, answer: httpx.Response) -> None:
        try:
            error = answer.json()["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": "unknown", "message": answer.text[:200]}
        request_id = answer.headers.get("X-Request-Id", "none")
        super().__init__(f"HTTP {answer.status_code} {error.get('code')}: {error.get('message')} "
                         f"(request id {request_id})")


def retry_after_seconds(value: str | None) -> float:
    """``Retry-After`` in seconds or as an HTTP date; 1 s when absent; at most 30 s."""
    if not value:
        return 1.0
    try:
        seconds = float(value)
    except ValueError:
        when = email.utils.parsedate_to_datetime(value)
        seconds = when.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_SECONDS)


def call(http: httpx.Client, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    """One call, retried once after a lost answer or a retryable status (same headers, so a
    create keeps its Idempotency-Key)."""
    for attempt in (1, 2):
        try:
            answer = http.request(method, path, **kwargs)
        except httpx.TransportError:          # timeout, dropped connection, refused
            if attempt == 2:
                raise
            continue
        if answer.status_code in RETRYABLE and attempt == 1:
            time.sleep(retry_after_seconds(answer.headers.get("Retry-After")))
            continue
        if answer.status_code >= 400:
            raise ApiError(answer)
        return answer.json()
    raise AssertionError("unreachable")


def create(http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    key = secrets.token_urlsafe(24)   # 32 characters of A-Z a-z 0-9 - _
    return call(http, "POST", CREATE, json=body, headers={"Idempotency-Key": key})


def follow(http: httpx.Client, task: dict[str, Any]) -> dict[str, Any]:
    while task["status"] not in TERMINAL:
        estimate = task["task_info"].get("estimated_time", MIN_POLL_SECONDS)
        time.sleep(min(max(estimate, MIN_POLL_SECONDS), MAX_POLL_SECONDS))
        task = call(http, "GET", f"/v1/tasks/{task['id']}")
    return task


def main() -> int:
    headers = {"Authorization": f"Bearer {os.environ['EVOLINK_API_KEY']}"}
    with httpx.Client(base_url=os.environ["EVOLINK_BASE_URL"], headers=headers,
                      timeout=30) as http:
        try:
            tasks = [create(http, {"model": "grok-imagine-text-to-video", "prompt": prompt})
                     for prompt in ("A lighthouse in a storm", "A fox in fresh snow")]
            finished = [follow(http, task) for task in tasks]
        except ApiError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    for task in finished:
        print(task["id"], task["status"])
    return 0 if all(task["status"] == "completed" for task in finished) else 1


if __name__ == "__main__":
    sys.exit(main())
