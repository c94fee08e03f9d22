"""A new task's plan, made in one place: how long it queues and runs, where a failure stops
it, what it costs, and what its documents report.

The create endpoint plans its tasks here, and so does ``evolink-contract callbacks`` (whose
rehearsal documents are those of real tasks): the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import lifecycle
from .models import ModelBehaviour
from .task import COMPLETED, Task


@dataclass(frozen=True)
class TaskPlan:
    queue_seconds: float
    run_seconds: float
    outcome: str            # COMPLETED or a task failure code
    fail_fraction: float    # how far processing gets before that failure
    credits: float
    billing_rule: str
    video_duration: int | None
    estimate: str
    aspect_ratio: str

    def task(self, *, task_id: str, owner: str, model: str, request: dict[str, Any],
             created_at: float, media_base: str) -> Task:
        """The task that follows this plan from ``created_at``."""
        return Task(id=task_id, owner=owner, model=model,
                    request_text=Task.encode_request(request), created_at=created_at,
                    queue_seconds=self.queue_seconds, run_seconds=self.run_seconds,
                    outcome=self.outcome, fail_fraction=self.fail_fraction,
                    credits=self.credits, media_base=media_base,
                    billing_rule=self.billing_rule, video_duration=self.video_duration,
                    estimate=self.estimate, aspect_ratio=self.aspect_ratio)


def plan_task(behaviour: ModelBehaviour, request: dict[str, Any], *, outcome: str = COMPLETED,
              takes: float | None = None,
              aspect_ratios: frozenset[str] = frozenset()) -> TaskPlan:
    """The plan of a task for ``request`` (the spec's defaults applied); ``takes`` overrides
    the model's time (a scripted ``takes=``), ``outcome`` is a scripted failure code."""
    model = behaviour.plan(request, aspect_ratios)
    queue, run = behaviour.split(takes if takes is not None else model.total_seconds)
    return TaskPlan(
        queue_seconds=queue, run_seconds=run, outcome=outcome,
        fail_fraction=lifecycle.FAIL_FRACTIONS.get(outcome, lifecycle.DEFAULT_FAIL_FRACTION),
        credits=model.credits, billing_rule=behaviour.billing_rule,
        video_duration=model.video_duration, estimate=behaviour.estimated_time,
        aspect_ratio=model.aspect_ratio)
