"""A task as the mock stores it: the request, who made it, and its planned lifecycle.

Everything a client can observe (status, progress, results) is derived from these fields
and the current time by :mod:`mock_server.domain.lifecycle`; nothing here changes as time
passes. Only cancellation is recorded after the fact.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

COMPLETED = "completed"


@dataclass(slots=True)  # a mock may hold 100,000s of tasks: no per-instance __dict__
class Task:
    id: str
    owner: str                # fingerprint of the API key that created it, never the key
    model: str
    request_text: str         # the validated request with defaults applied, as compact JSON
    created_at: float         # mock time, unix seconds
    queue_seconds: float      # time spent pending
    run_seconds: float        # time spent processing until completion
    outcome: str              # COMPLETED or a task failure code
    fail_fraction: float      # how far processing gets before a failure
    credits: float
    media_base: str           # where result links point, e.g. http://127.0.0.1:8000
    cancelled_at: float | None = None
    extra_latency: float = 0.0   # scripted delay applied to this task's API answers
    # What the documents report, fixed at create from the model's x-mock block (so a task
    # keeps them when the spec changes across a restart).
    billing_rule: str = "per_call"
    video_duration: int | None = None   # task_info.video_duration, for models that report it
    estimate: str = "remaining"         # task_info.estimated_time: "remaining" or "total"
    aspect_ratio: str = "16:9"          # which shipped result video is served

    @staticmethod
    def encode_request(request: dict[str, Any]) -> str:
        """Requests are kept as compact JSON: a tenth of the memory of nested dicts, which
        matters with 100,000s of tasks; the lifecycle reads them rarely."""
        return json.dumps(request, separators=(",", ":"), ensure_ascii=False)

    @property
    def request(self) -> dict[str, Any]:
        return json.loads(self.request_text)

    @property
    def callback_url(self) -> str | None:
        return self.request.get("callback_url")

    @property
    def finishes_at(self) -> float:
        """When the planned outcome is reached (ignoring cancellation)."""
        if self.outcome == COMPLETED:
            return self.created_at + self.queue_seconds + self.run_seconds
        return self.created_at + self.queue_seconds + self.run_seconds * self.fail_fraction

    def to_record(self) -> dict[str, Any]:
        # Every field is a plain value: asdict's recursive deep copy would only cost time.
        return {name: getattr(self, name) for name in self.__slots__}

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Task:
        return cls(**record)
