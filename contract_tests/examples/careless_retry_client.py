"""A client that retries the way that costs money, for ``evolink-contract client`` to catch.

* it sends creates without an ``Idempotency-Key``, and after a dropped connection or a 5xx
  sends the create again: when the lost answer's task was made, it pays for two;
* it retries a 502/503 at once, ignoring Retry-After;
* it retries a 402 (and any other refusal) unchanged, as if asking again could help.
"""

from __future__ import annotations

import os
import time
from typing import Any

import httpx

CREATE = "/v1/videos/generations"
ATTEMPTS = 3
TERMINAL = {"completed", "failed"}


def create(http: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    for _ in range(ATTEMPTS):
        try:
            answer = http.post(CREATE, json=body)
        except httpx.TransportError:
            continue
        if answer.status_code == 200:
            return answer.json()
    raise SystemExit(f"gave up on {body['prompt']!r}")


def main() -> None:
    headers = {"Authorization": f"Bearer {os.environ['EVOLINK_API_KEY']}"}
    with httpx.Client(base_url=os.environ["EVOLINK_BASE_URL"], headers=headers,
                      timeout=30) as http:
        for prompt in ("A lighthouse in a storm", "A fox in fresh snow"):
            task = create(http, {"model": "grok-imagine-text-to-video", "prompt": prompt})
            while task["status"] not in TERMINAL:
                time.sleep(1)
                task = http.get(f"/v1/tasks/{task['id']}").json()
            print(task["id"], task["status"])


if __name__ == "__main__":
    main()
