"""A client with the usual mistakes, for ``evolink-contract client`` to catch.

* it sends a duration the model does not offer (an invalid enum value);
* it reads a task once without the Authorization header;
* it polls in a tight loop, ignoring ``estimated_time``;
* it retries a 429 at once, ignoring Retry-After.
"""

from __future__ import annotations

import os
import time

import httpx

TERMINAL = {"completed", "failed"}
REQUEST = {"model": "grok-imagine-text-to-video", "prompt": "A lighthouse in a storm"}


def main() -> None:
    headers = {"Authorization": f"Bearer {os.environ['EVOLINK_API_KEY']}"}
    with httpx.Client(base_url=os.environ["EVOLINK_BASE_URL"], timeout=30) as http:
        http.post("/v1/videos/generations", json={**REQUEST, "duration": 8}, headers=headers)
        answer = http.post("/v1/videos/generations", json=REQUEST, headers=headers)
        while answer.status_code == 429:
            answer = http.post("/v1/videos/generations", json=REQUEST, headers=headers)
        task = answer.json()
        http.get(f"/v1/tasks/{task['id']}")
        while task.get("status") not in TERMINAL:
            time.sleep(0.05)
            task = http.get(f"/v1/tasks/{task['id']}", headers=headers).json()
    print(task["status"])


if __name__ == "__main__":
    main()
