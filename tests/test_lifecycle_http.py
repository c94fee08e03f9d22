"""Whole task lifecycles over real HTTP, driven by the manual clock (no sleeping)."""

from __future__ import annotations

import time

import httpx
import pytest

from mock_server.domain.lifecycle import FAILURE_MESSAGES
from mock_server.store import resolved

from .conftest import API_KEY, load_request

MODELS = ["grok-imagine-image-to-video", "grok-imagine-text-to-video", "kling-o3-text-to-video"]


def advance(client: httpx.Client, seconds: float) -> None:
    response = client.post("/_mock/clock/advance", json={"seconds": seconds})
    assert response.status_code == 200, response.text


def create(client: httpx.Client, body: dict, **kwargs) -> httpx.Response:
    return client.post("/v1/videos/generations", json=body, **kwargs)


@pytest.mark.parametrize("model", MODELS)
def test_each_model_goes_pending_processing_completed_and_serves_a_real_mp4(
        client: httpx.Client, model: str) -> None:
    created = create(client, load_request(f"{model}.minimal.json")).json()
    statuses, progress = [], []
    for _ in range(40):
        document = client.get(f"/v1/tasks/{created['id']}").json()
        statuses.append(document["status"])
        progress.append(document["progress"])
        if document["status"] == "completed":
            break
        advance(client, 10)
    assert statuses[0] == "pending"
    assert "processing" in statuses and statuses[-1] == "completed"
    assert progress == sorted(progress) and progress[-1] == 100
    video = client.get(document["results"][0])
    assert video.status_code == 200
    assert video.headers["content-type"] == "video/mp4"
    assert video.content[4:8] == b"ftyp"


@pytest.mark.parametrize("code", sorted(FAILURE_MESSAGES))
def test_magic_prompt_fails_the_task_with_each_documented_code(client: httpx.Client, code: str) -> None:
    body = {"model": "grok-imagine-text-to-video", "prompt": f"a cat [mock:fail={code}]"}
    created = create(client, body).json()
    advance(client, 1000)
    document = client.get(f"/v1/tasks/{created['id']}").json()
    assert document["status"] == "failed"
    assert document["error"]["code"] == code and document["error"]["type"] == "task_error"


def test_scenario_header_fails_the_task(client: httpx.Client) -> None:
    created = create(client, {"model": "grok-imagine-text-to-video", "prompt": "x"},
                     headers={"X-Mock-Scenario": "fail=service_error"}).json()
    advance(client, 1000)
    assert client.get(f"/v1/tasks/{created['id']}").json()["error"]["code"] == "service_error"


@pytest.mark.parametrize(("operation", "status", "code", "type_"), [
    ("create", 400, "invalid_request", "invalid_request_error"),
    ("create", 401, "unauthorized", "authentication_error"),
    ("create", 402, "insufficient_quota", "insufficient_quota"),
    ("create", 403, "model_access_denied", "invalid_request_error"),
    ("create", 429, "rate_limit_exceeded", "rate_limit_error"),
    ("create", 500, "internal_error", "api_error"),
    ("get", 402, "quota_exceeded", "insufficient_quota"),
    ("get", 403, "permission_denied", "invalid_request_error"),
    ("get", 404, "task_not_found", "invalid_request_error"),
    ("get", 429, "rate_limit_exceeded", "evo_api_error"),
    ("get", 500, "internal_error", "api_error"),
])
def test_every_documented_http_error_is_reachable_with_its_endpoint_envelope(
        client: httpx.Client, operation: str, status: int, code: str, type_: str) -> None:
    header = {"X-Mock-Scenario": f"http={status}"}
    if operation == "create":
        response = create(client, {"model": "grok-imagine-text-to-video", "prompt": "x"}, headers=header)
    else:
        task_id = create(client, {"model": "grok-imagine-text-to-video", "prompt": "x"}).json()["id"]
        response = client.get(f"/v1/tasks/{task_id}", headers=header)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert response.json()["error"]["type"] == type_


def test_rule_rate_limits_the_next_three_creates_with_retry_after(client: httpx.Client) -> None:
    rule = client.post("/_mock/rules", json={"operation": "createVideoGeneration", "times": 3,
                                             "action": {"http": 429, "retry_after": 4}})
    assert rule.status_code == 201
    body = {"model": "grok-imagine-text-to-video", "prompt": "x"}
    answers = [create(client, body) for _ in range(4)]
    assert [a.status_code for a in answers] == [429, 429, 429, 200]
    assert answers[0].headers["retry-after"] == "4"
    (used_up,) = client.get("/_mock/rules").json()["rules"]
    assert (used_up["applied"], used_up["exhausted"]) == (3, True)


def test_rule_answers_500_on_the_fifth_request(client: httpx.Client) -> None:
    client.post("/_mock/rules", json={"nth": 5, "action": {"http": 500}})
    task_id = create(client, {"model": "grok-imagine-text-to-video", "prompt": "x"}).json()["id"]
    statuses = [client.get(f"/v1/tasks/{task_id}").status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 500, 200]


def test_delay_rule_slows_every_get(client: httpx.Client) -> None:
    task_id = create(client, {"model": "grok-imagine-text-to-video", "prompt": "x"}).json()["id"]
    client.post("/_mock/rules", json={"operation": "getTask", "action": {"delay": 0.2}})
    started = time.perf_counter()
    assert client.get(f"/v1/tasks/{task_id}").status_code == 200
    assert time.perf_counter() - started >= 0.2


def test_admin_cancel_shows_failed_request_cancelled_and_cannot_cancel_twice(client: httpx.Client) -> None:
    task_id = create(client, {"model": "kling-o3-text-to-video", "prompt": "x"}).json()["id"]
    advance(client, 60)
    cancelled = client.post(f"/_mock/tasks/{task_id}/cancel")
    assert cancelled.status_code == 200
    document = client.get(f"/v1/tasks/{task_id}").json()
    assert document["status"] == "failed" and document["error"]["code"] == "request_cancelled"
    assert document["task_info"]["can_cancel"] is False
    assert client.post(f"/_mock/tasks/{task_id}/cancel").status_code == 409


def test_result_link_expires_24_hours_after_completion(client: httpx.Client) -> None:
    task_id = create(client, {"model": "grok-imagine-text-to-video", "prompt": "x"}).json()["id"]
    advance(client, 120)
    url = client.get(f"/v1/tasks/{task_id}").json()["results"][0]
    assert client.get(url).status_code == 200
    advance(client, 24 * 3600)
    expired = client.get(url)
    assert expired.status_code == 404
    assert expired.json()["error"]["code"] == "resource_not_found"


def test_media_of_a_running_task_is_not_served(client: httpx.Client) -> None:
    task_id = create(client, {"model": "grok-imagine-text-to-video", "prompt": "x"}).json()["id"]
    assert client.get(f"/media/{task_id}.mp4").status_code == 404


def test_video_matches_the_requested_aspect_ratio(client: httpx.Client) -> None:
    portrait = create(client, {"model": "grok-imagine-text-to-video", "prompt": "x",
                               "aspect_ratio": "9:16"}).json()["id"]
    square = create(client, {"model": "grok-imagine-text-to-video", "prompt": "x",
                             "aspect_ratio": "1:1"}).json()["id"]
    advance(client, 120)
    first = client.get(f"/media/{portrait}.mp4").content
    second = client.get(f"/media/{square}.mp4").content
    assert first != second


def test_reset_forgets_tasks_and_rules(client: httpx.Client) -> None:
    task_id = create(client, {"model": "grok-imagine-text-to-video", "prompt": "x"}).json()["id"]
    client.post("/_mock/rules", json={"action": {"delay": 0}})
    assert client.post("/_mock/reset").json()["tasks"] == 0
    assert client.get("/_mock/rules").json() == {"rules": []}
    assert client.get(f"/v1/tasks/{task_id}").status_code == 404


def test_same_seed_gives_the_same_task_ids(server) -> None:
    from mock_server.app import create_app

    def ids(seed: int) -> list[str]:
        service = create_app(server.settings.__class__(clock="manual", seed=seed)).service
        body = {"model": "grok-imagine-text-to-video", "prompt": "x"}
        return [resolved(service.create_task(api_key=API_KEY, body=body, media_base="http://m"))["id"]
                .rsplit("-", 1)[1] for _ in range(3)]

    assert ids(5) == ids(5)
    assert ids(5) != ids(6)
