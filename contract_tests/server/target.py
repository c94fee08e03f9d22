"""The server under test, as the lifecycle checks talk to it.

Every request and answer is kept as an :class:`Exchange`, so checks are pure functions of
what was seen and every finding can name its request and a curl to reproduce it. When the
target is our mock (``GET /_mock/health`` answers), time is passed by advancing the mock's
clock instead of sleeping.
"""

from __future__ import annotations

import json
import shlex
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import httpx

from ..contract import CREATE_PATH
from ..results import NotApplicable

KEY_ENV = {"api_key": "EVOLINK_API_KEY", "other_api_key": "EVOLINK_OTHER_API_KEY"}


@dataclass(frozen=True)
class Exchange:
    operation: str
    method: str
    url: str
    key: str                  # which key was sent: a KEY_ENV name
    request_body: Any
    status: int
    body: Any                 # parsed JSON, or None when the answer is not JSON
    retry_after: float | None = None
    headers: dict[str, str] = field(default_factory=dict)   # the answer's, names lower-case
    request_headers: dict[str, str] = field(default_factory=dict)   # sent besides the key

    @property
    def line(self) -> str:
        return f"{self.method} {httpx.URL(self.url).path} -> {self.status}"

    def curl(self) -> str:
        parts = [f"curl -X {self.method}", f'-H "Authorization: Bearer ${self.key}"',
                 *(f"-H {shlex.quote(f'{name}: {value}')}" for name, value in self.request_headers.items())]
        if self.request_body is not None:
            parts += ["-H 'Content-Type: application/json'",
                      f"-d {shlex.quote(json.dumps(self.request_body))}"]
        return " ".join([*parts, shlex.quote(self.url)])

    @property
    def document(self) -> dict[str, Any] | None:
        """The task document, when the answer is a 200 with a JSON object."""
        return self.body if self.status == 200 and isinstance(self.body, dict) else None

    def created_id(self, what: str) -> str:
        """The id of the task this create answered with; a check that needs it does not apply
        (:class:`NotApplicable`, naming ``what`` and the status) when there is none."""
        task = self.document
        if task is None or not isinstance(task.get("id"), str):
            raise NotApplicable(f"{what} answered HTTP {self.status} without a task id")
        return task["id"]


class Target:
    def __init__(self, base_url: str, api_key: str, other_api_key: str | None = None,
                 timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.keys = {"api_key": api_key, "other_api_key": other_api_key}
        self.http = httpx.Client(base_url=self.base_url, timeout=timeout)
        self.mock_health = self._probe_mock()
        self.mock_clock = self.mock_health.get("clock") if self.mock_health else None

    def _probe_mock(self) -> dict[str, Any] | None:
        """The mock's health document if the target is our mock, else None."""
        try:
            answer = self.http.get("/_mock/health")
            health = answer.json() if answer.status_code == 200 else None
        except (httpx.HTTPError, ValueError):
            return None
        return health if isinstance(health, dict) and isinstance(health.get("clock"), dict) else None

    @property
    def accepts_any_key(self) -> bool:
        """The target says it takes every non-empty key (evolink-mock without --api-key).

        Only our mock's own statement counts: another server that lets an invalid key
        through is exactly what the ignored_auth check exists to catch."""
        return self.mock_health is not None and self.mock_health.get("api_keys") == "any"

    @property
    def is_mock(self) -> bool:
        return self.mock_clock is not None

    @property
    def has_other_key(self) -> bool:
        return self.keys["other_api_key"] is not None

    def _send(self, operation: str, method: str, path: str, key: str,
              body: Any = None, headers: dict[str, str] | None = None) -> Exchange:
        extra = headers or {}
        answer = self.http.request(method, path, json=body,
                                   headers={"Authorization": f"Bearer {self.keys[key]}", **extra})
        try:
            parsed = answer.json()
        except ValueError:
            parsed = None
        retry_after = answer.headers.get("Retry-After")
        return Exchange(operation, method, str(answer.url), KEY_ENV[key], body,
                        answer.status_code, parsed,
                        float(retry_after) if retry_after and retry_after.isdigit() else None,
                        {name.lower(): value for name, value in answer.headers.items()}, extra)

    def create(self, body: dict[str, Any], idempotency_key: str | None = None) -> Exchange:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self._send("createVideoGeneration", "POST", CREATE_PATH, "api_key", body, headers)

    def get_task(self, task_id: str, key: str = "api_key") -> Exchange:
        return self._send("getTask", "GET", f"/v1/tasks/{task_id}", key)

    def let_time_pass(self, seconds: float) -> None:
        """Let ``seconds`` of the server's announced (real) time pass: advance the mock's
        clock by as much mock time, or sleep against any other server."""
        if self.mock_clock is None:
            time.sleep(seconds)
            return
        speed = self.mock_clock.get("speed") or 1.0
        self.http.post("/_mock/clock/advance", json={"seconds": seconds * speed}).raise_for_status()

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
