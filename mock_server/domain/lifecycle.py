"""What a task looks like at a given moment: a pure function of (task, now).

pending (queue) -> processing (progress rising to 99) -> completed (100, results) or
failed (progress where it stopped, error). A cancellation before the end shows as
``failed`` with ``request_cancelled``. Terminal states never change: every value below is
computed from fixed timestamps, so re-reading later gives the same answer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .models import TOTAL
from .task import COMPLETED, Task

PENDING, PROCESSING, FAILED = "pending", "processing", "failed"
CANCELLED_CODE = "request_cancelled"
MEDIA_LIFETIME_SECONDS = 24 * 3600
USER_GROUP = "default"

FAILURE_MESSAGES: dict[str, str] = {
    "content_policy_violation": "The prompt or image was flagged by the content policy.",
    "invalid_parameters": "The generation parameters were rejected by the model.",
    "image_processing_error": "The reference image could not be processed.",
    "image_dimension_mismatch": "The reference image dimensions are not supported.",
    "request_cancelled": "The task was cancelled.",
    "generation_failed_no_content": "The model produced no content; try again.",
    "service_error": "The generation service failed; try again.",
    "generation_timeout": "The generation took too long and was stopped; try again.",
    "resource_exhausted": "The generation service is out of capacity; try again later.",
    "quota_exceeded": "The upstream quota is exhausted; try again later.",
    "service_unavailable": "The generation service is unavailable; try again later.",
    "resource_not_found": "A resource needed for the generation was not found.",
    "unknown_error": "An unknown error occurred; try again.",
}

# How far processing gets before each failure: policy and input problems fail early.
FAIL_FRACTIONS: dict[str, float] = {
    "content_policy_violation": 0.1,
    "invalid_parameters": 0.05,
    "image_processing_error": 0.05,
    "image_dimension_mismatch": 0.05,
    "generation_timeout": 1.0,
}
DEFAULT_FAIL_FRACTION = 0.5


@dataclass(frozen=True)
class Snapshot:
    status: str
    progress: int
    finished_at: float | None   # when it became terminal (None while running)
    error_code: str | None = None

    @property
    def terminal(self) -> bool:
        return self.finished_at is not None


def _progress(task: Task, at: float) -> int:
    """Processing progress: 0 when processing starts, rising to 99 before the end."""
    elapsed = at - task.created_at - task.queue_seconds
    if elapsed <= 0:
        return 0
    return min(99, int(100 * elapsed / task.run_seconds))


def snapshot(task: Task, now: float) -> Snapshot:
    finish = task.finishes_at
    if task.cancelled_at is not None and task.cancelled_at < finish and now >= task.cancelled_at:
        return Snapshot(FAILED, _progress(task, task.cancelled_at), task.cancelled_at, CANCELLED_CODE)
    if now >= finish:
        if task.outcome == COMPLETED:
            return Snapshot(COMPLETED, 100, finish)
        return Snapshot(FAILED, _progress(task, finish), finish, task.outcome)
    if now < task.created_at + task.queue_seconds:
        return Snapshot(PENDING, 0, None)
    return Snapshot(PROCESSING, _progress(task, now), None)


def media_url(task: Task) -> str:
    return f"{task.media_base.rstrip('/')}/media/{task.id}.mp4"


def media_available(task: Task, now: float) -> bool:
    """Result links work from completion until 24 h (mock time) after it."""
    state = snapshot(task, now)
    return (state.status == COMPLETED and state.finished_at is not None
            and now < state.finished_at + MEDIA_LIFETIME_SECONDS)


def document(task: Task, now: float, *, real_seconds_per_mock: float = 1.0) -> dict[str, Any]:
    """The task query document (also the callback body) as of ``now``.

    ``estimated_time`` is how many real seconds remain, so a client that sleeps for it
    wakes up when the mock is done, whatever the clock speed (or, for a model whose
    ``x-mock`` says ``total``, the whole planned time while the task runs). It counts to
    the planned completion even for a task scripted to fail: the real service cannot know
    in advance that a generation will fail, so the estimate must not give the outcome away.
    """
    state = snapshot(task, now)
    completes_at = task.created_at + task.queue_seconds + task.run_seconds
    if state.terminal:
        estimate = 0.0
    elif task.estimate == TOTAL:   # the whole plan, as the vendor's create examples show it
        estimate = completes_at - task.created_at
    else:
        estimate = completes_at - now
    task_info: dict[str, Any] = {
        "can_cancel": not state.terminal,
        "estimated_time": math.ceil(max(0.0, estimate) * real_seconds_per_mock),
    }
    if task.video_duration is not None:
        task_info["video_duration"] = task.video_duration
    doc: dict[str, Any] = {
        "created": int(task.created_at),
        "id": task.id,
        "model": task.model,
        "object": "video.generation.task",
        "progress": state.progress,
        "status": state.status,
        "task_info": task_info,
        "type": "video",
    }
    if state.status == COMPLETED:
        doc["results"] = [media_url(task)]
    elif state.status == FAILED and state.error_code is not None:   # a failure has its code
        doc["error"] = {"code": state.error_code, "message": FAILURE_MESSAGES[state.error_code],
                        "type": "task_error"}
    return doc


def created_document(task: Task, now: float, *, real_seconds_per_mock: float = 1.0) -> dict[str, Any]:
    """The create response: the task document plus the credits it reserved."""
    doc = document(task, now, real_seconds_per_mock=real_seconds_per_mock)
    doc["usage"] = usage(task)
    return doc


def usage(task: Task) -> dict[str, Any]:
    return {"billing_rule": task.billing_rule, "credits_reserved": task.credits,
            "user_group": USER_GROUP}
