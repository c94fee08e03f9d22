"""What the vendor's own client relies on, over real HTTP: idempotent creates, lost answers,
502/503, request ids, the account endpoints, relaxed task ids and unknown fields."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract_tests.contract import schema_problems
from mock_server.server import RunningServer
from mock_server.settings import Settings, from_env
from mock_server.store import resolved
from tests import clients

from .conftest import default_settings, serving
from .receivers import Receiver

CREATE = "/v1/videos/generations"
GROK = {"model": "grok-imagine-text-to-video", "prompt": "A lighthouse in a storm"}
KEY = "retry-key-0123456789"
DAY = 86400


def create(client: httpx.Client, body: dict[str, Any] = GROK, key: str | None = KEY,
           **headers: str) -> httpx.Response:
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post(CREATE, json=body, headers=headers)


def journal(server: RunningServer, path: str = "/v1/*") -> list[Any]:
    return server.service.journal.query(path=path)


# --- 1. idempotent creates -------------------------------------------------------------------


def test_a_retried_create_with_the_same_key_answers_the_original_task(
        server: RunningServer, client: httpx.Client) -> None:
    first = create(client)
    again = create(client, {"prompt": GROK["prompt"], "model": GROK["model"]})  # key order moved
    assert first.status_code == again.status_code == 200
    assert "idempotency-replayed" not in first.headers
    assert again.headers["idempotency-replayed"] == "true"
    assert again.json() == first.json()
    assert resolved(server.service.store.count()) == 1
    used = client.get("/v1/credits").json()["data"]["token"]["used"]
    assert used == first.json()["usage"]["credits_reserved"]
    assert [entry.replayed for entry in journal(server, CREATE)] == [False, True]


def test_the_same_key_with_another_body_is_a_conflict(client: httpx.Client) -> None:
    original = create(client).json()["id"]
    answer = create(client, {**GROK, "prompt": "A lighthouse at dawn"})
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "idempotency_conflict" and error["param"] == "Idempotency-Key"
    assert original in error["message"]


@pytest.mark.parametrize("key", ["short", "x" * 97, "has space in it 123", "ünïcode-key-12345"])
def test_a_malformed_key_is_refused_naming_the_header(client: httpx.Client, key: str) -> None:
    # Sent as raw UTF-8 bytes (httpx's str headers are ASCII only; its types want str).
    answer = client.post(CREATE, json=GROK, headers={"Idempotency-Key": key.encode()})  # type: ignore[arg-type]
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["param"] == "Idempotency-Key"
    assert "16 to 96 characters" in error["message"]


def test_keys_belong_to_one_api_key_and_last_24_hours_of_mock_time(
        server: RunningServer, client: httpx.Client) -> None:
    first = create(client).json()["id"]
    other = create(client, Authorization="Bearer someone-else").json()["id"]
    assert other != first
    resolved(server.service.advance(DAY - 1))
    assert create(client).json()["id"] == first
    resolved(server.service.advance(1))
    assert create(client).json()["id"] not in (first, other)


def test_a_replay_sends_no_second_callback() -> None:
    with Receiver() as receiver, serving(Settings(
            clock="manual", validate_responses=True,
            allow_callback_hosts=(receiver.host_port,))) as (server, client):
        body = {**GROK, "callback_url": receiver.url()}
        task_id = create(client, body).json()["id"]
        assert create(client, body).headers["idempotency-replayed"] == "true"
        resolved(server.service.advance(200))
        receiver.wait_for(1)
        assert [d.task_id for d in resolved(server.service.store.deliveries())] == [task_id]


def test_keys_are_kept_in_the_state_file_across_a_restart(tmp_path: Path) -> None:
    settings = Settings(clock="manual", state=str(tmp_path / "state.sqlite"))
    answers = []
    for _ in range(2):
        with serving(settings) as (_, client):
            answers.append(create(client))
    assert answers[1].headers["idempotency-replayed"] == "true"
    assert answers[1].json()["id"] == answers[0].json()["id"]


def test_replays_within_a_credit_cap_cost_nothing() -> None:
    with serving(Settings(clock="manual", credits=5)) as (_, client):
        assert create(client).status_code == 200
        assert create(client).status_code == 200           # a replay: no second charge
        assert create(client, key=None).status_code == 402  # a new create: over the cap
        assert client.get("/v1/credits").json()["data"]["user"] == {
            "remaining": 0, "used": 5, "unlimited": False}


# --- 2. lost answers (drop=before|after) -----------------------------------------------------


def drop_by(source: str, point: str) -> dict[str, Any]:
    """Request keyword arguments that script drop=POINT through one of the three entry points."""
    if source == "prompt":
        return {"json": {**GROK, "prompt": f"{GROK['prompt']} [mock:drop={point}]"}}
    if source == "header":
        return {"json": GROK, "headers": {"X-Mock-Scenario": f"drop={point}"}}
    return {"json": GROK}


@pytest.fixture
def rule(server: RunningServer) -> Callable[[str], None]:
    def add(point: str) -> None:
        resolved(server.service.add_rule({"operation": "createVideoGeneration", "times": 1,
                                 "action": {"drop": point}}))
    return add


@pytest.mark.parametrize("source", ["prompt", "header", "rule"])
def test_drop_before_closes_the_connection_and_creates_nothing(
        server: RunningServer, client: httpx.Client, rule: Any, source: str) -> None:
    if source == "rule":
        rule("before")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(CREATE, **drop_by(source, "before"))
    assert resolved(server.service.store.count()) == 0
    [entry] = journal(server)
    assert (entry.dropped, entry.status, entry.operation) == ("before", 0, "createVideoGeneration")


@pytest.mark.parametrize("source", ["prompt", "header", "rule"])
def test_drop_after_commits_the_task_and_a_retry_with_the_key_gets_it(
        server: RunningServer, client: httpx.Client, rule: Any, source: str) -> None:
    if source == "rule":
        rule("after")
    kwargs = drop_by(source, "after")
    kwargs.setdefault("headers", {})["Idempotency-Key"] = KEY
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(CREATE, **kwargs)
    [committed] = resolved(server.service.store.tasks())
    retry = client.post(CREATE, **kwargs)   # the same request: the fault is not re-applied
    assert retry.status_code == 200 and retry.headers["idempotency-replayed"] == "true"
    assert retry.json()["id"] == committed.id
    assert resolved(server.service.store.count()) == 1


def test_drop_after_then_a_retry_without_a_key_pays_twice_and_the_journal_shows_both(
        server: RunningServer, client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.post(CREATE, json=GROK, headers={"X-Mock-Scenario": "drop=after"})
    duplicate = client.post(CREATE, json=GROK)
    assert duplicate.status_code == 200
    assert resolved(server.service.store.count()) == 2
    first, second = journal(server, CREATE)
    assert (first.dropped, second.dropped, second.status) == ("after", None, 200)
    assert first.body_hash == second.body_hash


def test_drop_on_a_task_query_closes_without_an_answer(client: httpx.Client) -> None:
    task_id = create(client).json()["id"]
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(f"/v1/tasks/{task_id}", headers={"X-Mock-Scenario": "drop=before"})
    assert client.get(f"/v1/tasks/{task_id}").status_code == 200   # the next call is served


def test_drop_must_be_before_or_after(client: httpx.Client) -> None:
    answer = client.post(CREATE, json=GROK, headers={"X-Mock-Scenario": "drop=sometimes"})
    assert answer.status_code == 400
    assert answer.json()["error"]["message"] == (
        "X-Mock-Scenario: drop must be one of before, after")


# --- 3. 502 and 503 ----------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "code"), [(502, "bad_gateway"), (503, "service_unavailable")])
def test_502_and_503_on_both_operations_with_retry_after(
        server: RunningServer, client: httpx.Client, status: int, code: str) -> None:
    task_id = create(client).json()["id"]
    scripted = {"X-Mock-Scenario": f"http={status}, retry_after=7"}
    for answer in (client.post(CREATE, json=GROK, headers=scripted),
                   client.get(f"/v1/tasks/{task_id}", headers=scripted)):
        assert answer.status_code == status
        assert answer.json()["error"]["code"] == code
        assert answer.headers["retry-after"] == "7"
    assert resolved(server.service.store.count()) == 1   # a 5xx create made no task
    bare = client.post(CREATE, json=GROK, headers={"X-Mock-Scenario": f"http={status}"})
    assert bare.status_code == status and "retry-after" not in bare.headers
    assert [entry.retry_after for entry in journal(server)][-3:] == [7, 7, None]


# --- 4. X-Request-Id ------------------------------------------------------------------------------


def test_every_vendor_answer_has_a_unique_request_id_that_the_journal_records(
        server: RunningServer, client: httpx.Client) -> None:
    answers = [create(client), client.get("/v1/tasks/task-unified-1-unknown"),
               client.get("/v1/models"), client.post(CREATE, json={"model": "x"}),
               clients.get(f"{server.url}/v1/credits"), client.get("/v1/nowhere")]
    ids = [answer.headers["x-request-id"] for answer in answers]
    assert len(set(ids)) == len(ids) and all(ids)
    assert [entry.request_id for entry in journal(server)] == ids
    assert "x-request-id" not in client.get("/_mock/health").headers


# --- 5. account endpoints --------------------------------------------------------------------------


def test_models_are_the_specs_create_models(client: httpx.Client) -> None:
    assert client.get("/v1/models").json() == {"data": [
        {"id": "grok-imagine-image-to-video"}, {"id": "grok-imagine-text-to-video"},
        {"id": "kling-o3-text-to-video"}]}


def test_credits_are_unlimited_without_a_cap_and_say_so(client: httpx.Client) -> None:
    create(client)
    assert client.get("/v1/credits").json() == {"data": {
        "user": {"remaining": None, "used": 5, "unlimited": True},
        "token": {"remaining": None, "used": 5, "unlimited": True}}}


def test_credits_with_a_cap_count_down_and_failed_tasks_refund() -> None:
    with serving(Settings(clock="manual", credits=20)) as (server, client):
        create(client, key=None)
        create(client, {**GROK, "prompt": "x [mock:fail=service_error]"}, key=None)
        assert client.get("/v1/credits").json()["data"]["token"]["remaining"] == 10
        resolved(server.service.advance(200))
        assert client.get("/v1/credits").json()["data"]["token"] == {
            "remaining": 15, "used": 5, "unlimited": False}


def test_the_task_list_is_newest_first_filtered_paged_and_without_result_links(
        server: RunningServer, client: httpx.Client) -> None:
    made = []
    for n in range(3):
        made.append(create(client, {**GROK, "prompt": f"clip {n}"}, key=None).json()["id"])
        resolved(server.service.advance(1))
    kling = create(client, {"model": "kling-o3-text-to-video", "prompt": "k"}, key=None).json()["id"]
    create(client, key=None, Authorization="Bearer another-account")
    listed = client.get("/v1/tasks").json()
    assert [task["id"] for task in listed["data"]] == [kling, *reversed(made)]
    assert (listed["total"], listed["page"], listed["page_size"]) == (4, 1, 20)
    page = client.get("/v1/tasks", params={"page": 2, "page_size": 3}).json()
    assert [task["id"] for task in page["data"]] == [made[0]] and page["total"] == 4
    assert client.get("/v1/tasks", params={"model": "kling-o3-text-to-video"}).json()["total"] == 1
    resolved(server.service.advance(200))   # the grok tasks complete, kling (300 s) does not
    completed = client.get("/v1/tasks", params={"status": "completed"}).json()
    assert {task["id"] for task in completed["data"]} == set(made)
    assert all("results" not in task for task in completed["data"])
    assert "results" in client.get(f"/v1/tasks/{made[0]}").json()


@pytest.mark.parametrize(("params", "param"), [({"page": 0}, "page"), ({"page_size": 101}, "page_size"),
                                               ({"status": "done"}, "status")])
def test_bad_list_parameters_are_refused_naming_them(client: httpx.Client, params: dict[str, Any],
                                                     param: str) -> None:
    answer = client.get("/v1/tasks", params=params)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == param


def test_a_batch_answers_the_callers_existing_tasks_once_in_order(client: httpx.Client) -> None:
    mine = [create(client, {**GROK, "prompt": f"clip {n}"}, key=None).json()["id"] for n in range(2)]
    theirs = create(client, key=None, Authorization="Bearer another-account").json()["id"]
    asked = [mine[1], "task-unified-1-missing", theirs, mine[0], mine[1]]
    answer = client.post("/v1/tasks/batch", json={"task_ids": asked})
    assert [task["id"] for task in answer.json()["data"]] == [mine[1], mine[0]]


@pytest.mark.parametrize(("body", "says"), [({"task_ids": []}, "at least 1 item"),
                                            ({"task_ids": ["task-unified-1"] * 51}, "at most 50 items"),
                                            ({}, "task_ids is required")])
def test_a_bad_batch_is_refused_naming_task_ids(client: httpx.Client, body: dict[str, Any],
                                                says: str) -> None:
    answer = client.post("/v1/tasks/batch", json=body)
    assert answer.status_code == 400
    assert answer.json()["error"]["param"] == "task_ids" and says in answer.json()["error"]["message"]


def test_the_batch_path_is_not_a_task_id(client: httpx.Client) -> None:
    answer = client.get("/v1/tasks/batch")
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"


# --- 6. task ids -------------------------------------------------------------------------------------


def test_the_contract_accepts_the_vendors_other_id_shapes_and_the_mock_keeps_its_own(
        client: httpx.Client) -> None:
    document = create(client).json()
    assert not schema_problems("CreatedTask", document)
    assert not schema_problems("CreatedTask", {**document, "id": "task-unified-1757165031-mjv7"})
    assert schema_problems("CreatedTask", {**document, "id": "video-1757165031-mjv7"})
    assert len(document["id"].rsplit("-", 1)[1]) == 8
    assert client.get("/v1/tasks/task-unified-1757165031-mjv7").status_code == 404


# --- 7. unknown fields -------------------------------------------------------------------------------


WITH_EXTRAS = {**GROK, "generate_audio": True, "sead": 3}


def test_unknown_fields_are_refused_by_default(client: httpx.Client) -> None:
    answer = client.post(CREATE, json=WITH_EXTRAS)
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "generate_audio"


def test_warn_mode_ignores_unknown_fields_and_says_which() -> None:
    settings = from_env({"EVOLINK_MOCK_UNKNOWN_FIELDS": "warn"},
                        Settings(clock="manual", validate_responses=True))
    with serving(settings) as (server, client):
        answer = client.post(CREATE, json=WITH_EXTRAS)
        assert answer.status_code == 200
        assert answer.headers["x-mock-warning"] == "ignored unknown fields: generate_audio, sead"
        stored = client.get(f"/_mock/tasks/{answer.json()['id']}").json()["request"]
        assert "generate_audio" not in stored and "sead" not in stored
        [entry] = journal(server, CREATE)
        assert entry.warning == answer.headers["x-mock-warning"]
        assert client.post(CREATE, json={**GROK, "duration": 7}).status_code == 400  # still strict
        refused = client.post("/_mock/rules", json={"action": {"http": 429}, "extra": 1})
        assert refused.status_code == 400   # the admin API stays strict


def test_settings_reject_an_unknown_mode() -> None:
    from mock_server.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--unknown-fields", "ignore"])


def test_default_settings_reject_unknown_fields() -> None:
    assert default_settings().unknown_fields == "reject" == Settings().unknown_fields
