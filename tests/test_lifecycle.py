"""The lifecycle is a pure function of (task, now): tested without any server."""

from __future__ import annotations

import pytest

from mock_server.domain import lifecycle
from mock_server.domain.defaults import apply_defaults
from mock_server.domain.task import COMPLETED, Task
from mock_server.models import behaviours
from mock_server.spec import load_spec

GROK = "grok-imagine-text-to-video"
KLING = "kling-o3-text-to-video"
MODELS = behaviours(load_spec())


def make_task(model: str = GROK, outcome: str = COMPLETED, request: dict | None = None,
              total: float | None = None) -> Task:
    request = request or ({"duration": 6} if model != KLING else {"duration": 5, "quality": "720p"})
    behaviour = MODELS[model]
    queue, run = behaviour.split(total or behaviour.total_seconds(request))
    return Task(id="task-unified-1000-abcdefgh", owner="o", model=model,
                request_text=Task.encode_request({"model": model, **request}), created_at=1000.0,
                queue_seconds=queue,
                run_seconds=run, outcome=outcome,
                fail_fraction=lifecycle.FAIL_FRACTIONS.get(outcome, lifecycle.DEFAULT_FAIL_FRACTION),
                credits=behaviour.credits_for({"model": model, **request}),
                media_base="http://mock", video_duration=behaviour.video_duration(request),
                estimate=behaviour.estimated_time)


def test_task_is_pending_then_processing_then_completed_with_results() -> None:
    task = make_task()
    assert lifecycle.snapshot(task, 1000.0).status == "pending"
    assert lifecycle.snapshot(task, 1000.0 + task.queue_seconds + 1).status == "processing"
    done = lifecycle.document(task, task.finishes_at)
    assert done["status"] == "completed" and done["progress"] == 100
    assert done["results"] == ["http://mock/media/task-unified-1000-abcdefgh.mp4"]
    assert "error" not in done and done["task_info"]["can_cancel"] is False


def test_progress_never_decreases_and_stays_below_100_until_done() -> None:
    task = make_task(KLING)
    seen = [lifecycle.snapshot(task, 1000.0 + t / 4).progress
            for t in range(int((task.finishes_at - 1000) * 4) + 8)]
    assert seen == sorted(seen)
    assert seen[-1] == 100
    assert max(p for p in seen[:-8]) <= 99


@pytest.mark.parametrize("code", list(lifecycle.FAILURE_MESSAGES))
def test_every_failure_code_ends_failed_with_task_error(code: str) -> None:
    task = make_task(outcome=code)
    document = lifecycle.document(task, task.finishes_at + 1)
    assert document["status"] == "failed"
    assert document["error"] == {"code": code, "message": lifecycle.FAILURE_MESSAGES[code],
                                 "type": "task_error"}
    assert "results" not in document and document["progress"] < 100


def test_terminal_status_never_changes() -> None:
    for outcome in (COMPLETED, "service_error"):
        task = make_task(outcome=outcome)
        first = lifecycle.document(task, task.finishes_at)
        later = lifecycle.document(task, task.finishes_at + 10 * 24 * 3600)
        assert first == later


def test_cancel_before_the_end_shows_request_cancelled_and_freezes_progress() -> None:
    task = make_task()
    task.cancelled_at = 1000.0 + task.queue_seconds + task.run_seconds / 2
    at_cancel = lifecycle.document(task, task.cancelled_at)
    assert at_cancel["status"] == "failed"
    assert at_cancel["error"]["code"] == "request_cancelled"
    assert lifecycle.document(task, task.finishes_at + 100)["progress"] == at_cancel["progress"]


def test_cancel_after_completion_changes_nothing() -> None:
    task = make_task()
    task.cancelled_at = task.finishes_at + 5
    assert lifecycle.document(task, task.finishes_at + 10)["status"] == "completed"


def test_estimated_time_counts_down_in_real_seconds() -> None:
    task = make_task()
    assert lifecycle.document(task, 1000.0)["task_info"]["estimated_time"] == 120
    assert lifecycle.document(task, 1000.0, real_seconds_per_mock=0.1)["task_info"]["estimated_time"] == 12
    assert lifecycle.document(task, 1060.0)["task_info"]["estimated_time"] == 60


@pytest.mark.parametrize(("model", "request_", "seconds"), [
    (GROK, {"duration": 6}, 120),
    (GROK, {"duration": 10}, 150),
    ("grok-imagine-image-to-video", {"duration": 6, "quality": "720p"}, 180),
    (KLING, {"duration": 5, "quality": "720p"}, 300),
    (KLING, {"duration": 15, "quality": "720p"}, 600),
    (KLING, {"duration": 5, "quality": "1080p"}, 450),
    (KLING, {"duration": 5, "quality": "720p", "sound": "on"}, 330),
])
def test_durations_follow_the_seeds_estimates_and_grow(model: str, request_: dict, seconds: float) -> None:
    assert MODELS[model].total_seconds(request_) == pytest.approx(seconds)


@pytest.mark.parametrize(("duration", "quality", "credits"), [
    (5, "720p", 7), (10, "720p", 14), (15, "720p", 21), (5, "1080p", 10.5), (3, "720p", 4.2),
    (4, "720p", 5.6), (7, "1080p", 14.7)])
def test_kling_credits_are_billed_per_second_of_video_and_scale_with_quality(
        duration: int, quality: str, credits: float) -> None:
    assert MODELS[KLING].credits_for({"duration": duration, "quality": quality}) == credits


def test_whole_credits_stay_integers_in_the_document() -> None:
    assert isinstance(MODELS[KLING].credits_for({"duration": 5, "quality": "720p"}), int)
    assert isinstance(MODELS[KLING].credits_for({"duration": 3, "quality": "720p"}), float)


def test_grok_reserves_5_credits() -> None:
    assert MODELS[GROK].credits_for({"duration": 10}) == 5


def test_kling_reports_its_video_duration_and_grok_does_not() -> None:
    kling = make_task(KLING, request={"duration": 8, "quality": "720p"})
    assert lifecycle.document(kling, 1000.0)["task_info"]["video_duration"] == 8
    assert "video_duration" not in lifecycle.document(make_task(), 1000.0)["task_info"]


def test_media_link_expires_24_hours_after_completion() -> None:
    task = make_task()
    assert not lifecycle.media_available(task, task.finishes_at - 1)
    assert lifecycle.media_available(task, task.finishes_at + 24 * 3600 - 1)
    assert not lifecycle.media_available(task, task.finishes_at + 24 * 3600)


# --- defaults -------------------------------------------------------------------------------


def test_defaults_fill_missing_fields_at_every_depth_and_leave_the_request_unchanged() -> None:
    schema = {"properties": {
        "duration": {"type": "integer", "default": 5},
        "options": {"type": "object", "properties": {"sound": {"type": "string", "default": "off"},
                                                      "tags": {"type": "array", "default": []}}},
    }}
    body = {"prompt": "a cat", "options": {"tags": ["x"]}}
    filled = apply_defaults(schema, body)
    assert filled == {"prompt": "a cat", "duration": 5, "options": {"tags": ["x"], "sound": "off"}}
    assert body == {"prompt": "a cat", "options": {"tags": ["x"]}}
    assert apply_defaults(schema, {"options": {}})["options"]["tags"] is not \
        apply_defaults(schema, {"options": {}})["options"]["tags"], "defaults are copied, never shared"
