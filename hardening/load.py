"""Simulated clients for the soak and crash runs (hardening/accounting.py checks what they saw).

Each client loops until the deadline: create a task (a mix of the three models; some with a
magic-prompt failure; some with a callback to the local receiver, a few of those to a path
that always answers 500), then poll it politely until it ends, then the next. Scripted 429s
(a scenario file) are expected errors: the client waits Retry-After and tries again. In
crash mode, connection errors while the mock is down are expected too. Everything else is
an unexpected error and is recorded with its details.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.receivers import Receiver

CREATE = "/v1/videos/generations"
TERMINAL = {"completed", "failed"}
BODIES: list[dict[str, Any]] = [
    {"model": "grok-imagine-text-to-video", "prompt": "A lighthouse beam sweeping across a stormy sea"},
    {"model": "grok-imagine-image-to-video", "prompt": "A paper boat drifts down a rainy street",
     "image_urls": ["https://example.com/image.jpg"]},
    {"model": "kling-o3-text-to-video", "prompt": "A red fox trotting through fresh snow"},
]
FAIL_TAG = " [mock:fail=service_error]"
FAIL_SHARE, CALLBACK_OK_SHARE, CALLBACK_FAIL_SHARE = 0.15, 0.6, 0.1
MAX_UNEXPECTED_KEPT = 50


@dataclass
class Seen:
    id: str
    key: str
    model: str
    created: int
    callback: str | None          # "ok", "fail" or None
    scripted_failure: bool
    final_status: str | None = None
    final_error: str | None = None


@dataclass
class LoadStats:
    started: float = field(default_factory=time.monotonic)
    creates_attempted: int = 0
    polls: int = 0
    requests: int = 0
    expected: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    unexpected_examples: list[str] = field(default_factory=list)
    wrong_outcomes: list[str] = field(default_factory=list)
    seen: dict[str, Seen] = field(default_factory=dict)

    def error(self, kind: str, detail: str, expected: bool) -> None:
        if expected:
            self.expected[kind] += 1
            return
        self.unexpected[kind] += 1
        if len(self.unexpected_examples) < MAX_UNEXPECTED_KEPT:
            self.unexpected_examples.append(f"{kind}: {detail[:300]}")


def callback_receiver() -> Receiver:
    """A receiver on loopback for the load's callbacks: ``/fail/...`` always answers 500 (a
    handler scripted to fail, so the mock retries and gives up after four attempts), anything
    else 200."""
    return Receiver(by_path=lambda path: 500 if path.startswith("/fail/") else 200)


class Load:
    """``clients`` simulated clients against ``base_url`` until ``duration`` seconds pass."""

    def __init__(self, base_url: str, keys: list[str], receiver: Receiver | None, *,
                 clients: int, duration: float, seed: int = 1, poll_interval: float = 1.0,
                 down: Callable[[], bool] = lambda: False) -> None:
        self.base_url = base_url
        self.keys = keys
        self.receiver = receiver
        self.clients = clients
        self.duration = duration
        self.poll_interval = poll_interval
        self.random = random.Random(seed)
        self.stats = LoadStats()
        self.down = down   # crash mode: True while the mock is known to be down/restarting
        self._deadline = 0.0

    def extend(self, seconds: float) -> None:
        """Keep the clients going at least ``seconds`` from now (crash mode: after a restart)."""
        self._deadline = max(self._deadline, time.monotonic() + seconds)

    async def run(self, during: Callable[[], Coroutine[Any, Any, None]] | None = None) -> LoadStats:
        self._deadline = time.monotonic() + self.duration
        limits = httpx.Limits(max_connections=self.clients * 2, max_keepalive_connections=self.clients)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=15, limits=limits) as http:
            jobs = [asyncio.create_task(self._client(http, number)) for number in range(self.clients)]
            if during is not None:
                jobs.append(asyncio.create_task(during()))
            await asyncio.gather(*jobs)
        return self.stats

    async def _request(self, http: httpx.AsyncClient, method: str, path: str,
                       **kwargs: Any) -> httpx.Response | None:
        """One request, retried after scripted 429s and (crash mode) while the mock is down.

        Returns None when the deadline for retries passed without an answer.
        """
        give_up = self._deadline + 60
        while time.monotonic() < give_up:
            self.stats.requests += 1
            try:
                response = await http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                expected = self.down()
                self.stats.error(f"transport:{type(exc).__name__}"
                                 + (" (mock down)" if expected else ""),
                                 f"{method} {path}: {exc!r}", expected)
                await asyncio.sleep(0.3)
                continue
            if response.status_code == 429:
                retry_after = response.headers.get("Retry-After")
                code = _code(response)
                scripted = code == "rate_limit_exceeded" and retry_after is not None
                self.stats.error(f"429 {code}" + ("" if scripted else " (no Retry-After)"),
                                 response.text, scripted)
                await asyncio.sleep(min(float(retry_after or 1), 5.0))
                continue
            return response
        return None

    async def _client(self, http: httpx.AsyncClient, number: int) -> None:
        rng = random.Random(self.random.random())
        key = self.keys[number % len(self.keys)]
        headers = {"Authorization": f"Bearer {key}"}
        serial = 0
        await asyncio.sleep(rng.random() * min(1.0, self.duration / 10))   # spread the start
        while time.monotonic() < self._deadline:
            serial += 1
            body = dict(rng.choice(BODIES))
            scripted_failure = rng.random() < FAIL_SHARE
            if scripted_failure:
                body["prompt"] += FAIL_TAG
            roll = rng.random()
            callback = None
            if self.receiver is not None and roll < CALLBACK_OK_SHARE:
                callback = "ok"
            elif self.receiver is not None and roll < CALLBACK_OK_SHARE + CALLBACK_FAIL_SHARE:
                callback = "fail"
            if callback and self.receiver is not None:
                body["callback_url"] = self.receiver.url(f"/{callback}/{number}/{serial}")
            self.stats.creates_attempted += 1
            response = await self._request(http, "POST", CREATE, json=body, headers=headers)
            if response is None:
                return
            if response.status_code != 200:
                self.stats.error(f"create {response.status_code} {_code(response)}", response.text, False)
                await asyncio.sleep(self.poll_interval)
                continue
            created = response.json()
            seen = Seen(created["id"], key, created["model"], created["created"], callback,
                        scripted_failure)
            self.stats.seen[seen.id] = seen
            await self._poll(http, headers, seen, created, rng)

    async def _poll(self, http: httpx.AsyncClient, headers: dict[str, str], seen: Seen,
                    document: dict[str, Any], rng: random.Random) -> None:
        """Poll until terminal: first after about a third of the estimate, then every
        ``poll_interval`` (with jitter). Gives up 60 s after the deadline."""
        estimate = float(document.get("task_info", {}).get("estimated_time") or 1)
        await asyncio.sleep(min(max(estimate / 3, 0.2), 5.0))
        give_up = self._deadline + 60
        while time.monotonic() < give_up:
            self.stats.polls += 1
            response = await self._request(http, "GET", f"/v1/tasks/{seen.id}", headers=headers)
            if response is None:
                return
            if response.status_code != 200:
                self.stats.error(f"poll {response.status_code} {_code(response)}", response.text, False)
                return
            document = response.json()
            if document["status"] in TERMINAL:
                seen.final_status = document["status"]
                seen.final_error = (document.get("error") or {}).get("code")
                expected = "failed" if seen.scripted_failure else "completed"
                if document["status"] != expected or (seen.scripted_failure
                                                      and seen.final_error != "service_error"):
                    self.stats.wrong_outcomes.append(
                        f"{seen.id}: expected {expected}, got {document['status']} {seen.final_error}")
                return
            await asyncio.sleep(self.poll_interval * (0.75 + rng.random() / 2))


def _code(response: httpx.Response) -> str:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "?"
