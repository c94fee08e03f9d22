"""A task's plan has one home (mock_server.domain.plan): what a create stores over HTTP is
that plan, and the plan's parts follow the model, a scripted time and a scripted failure."""

from __future__ import annotations

import os

import pytest

from mock_server.domain import lifecycle
from mock_server.domain.defaults import apply_defaults
from mock_server.domain.ids import IdFactory
from mock_server.domain.plan import plan_task
from mock_server.models import ASPECT_RATIOS, behaviours, spec_models
from mock_server.server import RunningServer
from mock_server.settings import Settings
from mock_server.spec import load_spec
from tests import clients

SPEC = load_spec()
BEHAVIOURS = behaviours(SPEC)
SCHEMAS = {model.name: model.schema for model in spec_models(SPEC)}
AUTH = {"Authorization": "Bearer sk-plan"}
KLING = "kling-o3-text-to-video"


def planned(body: dict, takes: float | None, outcome: str) -> dict:
    request = apply_defaults(SCHEMAS[body["model"]], body)
    plan = plan_task(BEHAVIOURS[body["model"]], request, outcome=outcome, takes=takes,
                     aspect_ratios=ASPECT_RATIOS)
    task = plan.task(task_id="t", owner="o", model=body["model"], request=request,
                     created_at=0.0, media_base="http://mock")
    return {"queue_seconds": plan.queue_seconds, "run_seconds": plan.run_seconds,
            "outcome": plan.outcome, "credits": plan.credits, "lasts": task.finishes_at}


@pytest.mark.parametrize(("body", "scenario", "takes", "outcome"), [
    ({"model": KLING, "prompt": "a cat", "duration": 10, "quality": "1080p"}, None, None,
     "completed"),
    ({"model": "grok-imagine-text-to-video", "prompt": "a cat"}, "takes=40", 40.0, "completed"),
    ({"model": KLING, "prompt": "a cat"}, "fail=content_policy_violation", None,
     "content_policy_violation"),
])
def test_a_created_task_follows_the_domain_plan(body: dict, scenario: str | None,
                                                takes: float | None, outcome: str) -> None:
    headers = {**AUTH, **({"X-Mock-Scenario": scenario} if scenario else {})}
    with RunningServer(Settings(clock="manual")) as server, \
            clients.Client(base_url=server.url, timeout=10) as http:
        created = http.post("/v1/videos/generations", json=body, headers=headers)
        assert created.status_code == 200, created.text
        detail = http.get(f"/_mock/tasks/{created.json()['id']}").json()
    stored = {key: detail["plan"][key] for key in ("queue_seconds", "run_seconds", "outcome",
                                                    "credits")}
    stored["lasts"] = pytest.approx(detail["plan"]["finishes_at"] - detail["plan"]["created_at"])
    assert stored == planned(body, takes, outcome)


def test_a_scripted_time_moves_the_split_but_not_the_price() -> None:
    request = apply_defaults(SCHEMAS[KLING], {"model": KLING, "prompt": "a cat"})
    own = plan_task(BEHAVIOURS[KLING], request)
    quick = plan_task(BEHAVIOURS[KLING], request, takes=40.0)
    assert quick.queue_seconds + quick.run_seconds == pytest.approx(40.0)
    assert own.queue_seconds + own.run_seconds != pytest.approx(40.0)
    assert quick.credits == own.credits


def test_a_scripted_failure_stops_where_that_failure_does() -> None:
    request = apply_defaults(SCHEMAS[KLING], {"model": KLING, "prompt": "a cat"})
    policy = plan_task(BEHAVIOURS[KLING], request, outcome="content_policy_violation")
    unknown = plan_task(BEHAVIOURS[KLING], request, outcome="unknown_error")
    assert policy.fail_fraction == lifecycle.FAIL_FRACTIONS["content_policy_violation"]
    assert unknown.fail_fraction == lifecycle.DEFAULT_FAIL_FRACTION
    task = policy.task(task_id="task-unified-1-abcdefgh", owner="o", model=KLING,
                       request=request, created_at=1000.0, media_base="http://mock")
    failed = lifecycle.snapshot(task, task.finishes_at)
    assert failed.status == "failed" and failed.error_code == "content_policy_violation"
    assert failed.progress == int(100 * policy.fail_fraction)


def test_unseeded_task_ids_differ_between_a_process_and_its_fork() -> None:
    """`serve --workers N` forks its workers from a supervisor that imported faker already."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:   # the child: one id, then out without running any of pytest's exit code
        os.write(writer, IdFactory().task_id(0).encode())
        os._exit(0)
    os.close(writer)
    os.waitpid(pid, 0)
    with os.fdopen(reader) as pipe:
        child = pipe.read()
    assert child.startswith("task-unified-0-")
    assert IdFactory().task_id(0) != child


def test_seeded_task_ids_repeat_for_the_same_seed() -> None:
    first, second = IdFactory(seed=7), IdFactory(seed=7)
    assert [first.task_id(1) for _ in range(3)] == [second.task_id(1) for _ in range(3)]
    first.reseed(7)
    assert first.task_id(1) == IdFactory(seed=7).task_id(1)
