"""`evolink-mock spec diff OLD NEW`: hand-made pairs for every kind of change, each marked
breaking or not for a client, 3.0 against 3.1, and the command's table, JSON and exit codes."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mock_server.spec import load_spec
from mock_server.specdiff import Change, diff

from .fourth_model import NAME, four_model_spec, write_spec

SPEC_FILE = Path(__file__).resolve().parents[1] / "spec" / "evolink-video.yaml"
KLING = "model kling-o3-text-to-video"
GROK = "model grok-imagine-text-to-video"
TASK_200 = "GET /v1/tasks/{task_id} 200"
CREATE_200 = "POST /v1/videos/generations 200"
# Task documents come back from four operations: one task, and lists of them (data[]).
LISTS_200 = ("GET /v1/tasks 200", "POST /v1/tasks/batch 200")


def in_every_task_answer(breaking: bool, change: str) -> list[tuple[bool, str, str]]:
    """The change as reported for the create, the two lists (under data[]) and the task query."""
    listed = change.replace("response field ", "response field data[].", 1)
    return [(breaking, CREATE_200, change), *((breaking, where, listed) for where in LISTS_200),
            (breaking, TASK_200, change)]


def schemas(spec: dict[str, Any]) -> dict[str, Any]:
    return spec["components"]["schemas"]


def kling(spec: dict[str, Any]) -> dict[str, Any]:
    return schemas(spec)["KlingO3TextToVideoRequest"]


def changes_after(mutate: Callable[[dict[str, Any]], Any]) -> list[tuple[bool, str, str]]:
    new = load_spec()
    mutate(new)
    return [(c.breaking, c.where, c.line()) for c in diff(load_spec(), new)]


def remove_model(spec: dict[str, Any]) -> None:
    request = schemas(spec)["VideoGenerationRequest"]
    del request["discriminator"]["mapping"]["grok-imagine-text-to-video"]
    request["oneOf"] = [b for b in request["oneOf"] if "GrokText" not in b["$ref"]]


def add_response_field(spec: dict[str, Any]) -> None:
    schemas(spec)["TaskCommon"]["properties"]["queue_position"] = {"type": "integer"}


CASES: list[tuple[str, Callable[[dict[str, Any]], Any], list[tuple[bool, str, str]]]] = [
    ("model added", lambda s: s.update(four_model_spec()),
     [(False, f"model {NAME}", "model added")]),
    ("model removed", remove_model, [(True, GROK, "model removed")]),
    ("optional request field added",
     lambda s: kling(s)["properties"].update(seed={"type": "integer"}),
     [(False, KLING, "request field seed added")]),
    ("required request field added",
     lambda s: (kling(s)["properties"].update(style={"type": "string"}),
                kling(s)["required"].append("style")),
     [(True, KLING, "request field style added (required)")]),
    ("request field removed", lambda s: kling(s)["properties"].pop("sound"),
     [(True, KLING, "request field sound removed")]),
    ("field became required", lambda s: kling(s)["required"].append("duration"),
     [(True, KLING, "request field duration became required")]),
    ("field became optional", lambda s: kling(s).update(required=["model"]),
     [(False, KLING, "request field prompt became optional")]),
    ("enum value removed", lambda s: kling(s)["properties"]["aspect_ratio"].update(enum=["16:9", "9:16"]),
     [(True, KLING, 'request field aspect_ratio: enum lost [1:1]: [16:9, 9:16, 1:1] -> [16:9, 9:16]')]),
    ("enum value added", lambda s: kling(s)["properties"]["quality"]["enum"].append("4k"),
     [(False, KLING, "request field quality: enum gained [4k]: [720p, 1080p] -> [720p, 1080p, 4k]")]),
    ("maximum lowered", lambda s: kling(s)["properties"]["duration"].update(maximum=10),
     [(True, KLING, "request field duration: maximum tightened: 15 -> 10")]),
    ("maximum raised", lambda s: kling(s)["properties"]["duration"].update(maximum=20),
     [(False, KLING, "request field duration: maximum loosened: 15 -> 20")]),
    ("minimum raised", lambda s: kling(s)["properties"]["duration"].update(minimum=4),
     [(True, KLING, "request field duration: minimum tightened: 3 -> 4")]),
    ("length shortened", lambda s: kling(s)["properties"]["prompt"].update(maxLength=2000),
     [(True, KLING, "request field prompt: maxLength tightened: 2500 -> 2000")]),
    ("array limit raised",
     lambda s: schemas(s)["KlingModelParams"]["properties"]["multi_prompt"].update(maxItems=8),
     [(False, KLING, "request field model_params.multi_prompt: maxItems loosened: 6 -> 8")]),
    ("nested item field added",
     lambda s: schemas(s)["KlingModelParams"]["properties"]["element_list"]["items"]["properties"]
     .update(weight={"type": "number"}),
     [(False, KLING, "request field model_params.element_list[].weight added")]),
    ("default changed", lambda s: kling(s)["properties"]["duration"].update(default=10),
     [(True, KLING, "request field duration: default changed: 5 -> 10")]),
    ("type changed", lambda s: kling(s)["properties"]["duration"].update(type="number"),
     [(True, KLING, "request field duration: type changed: integer -> number")]),
    ("response field added", add_response_field,
     in_every_task_answer(False, "response field queue_position added")),
    ("response field removed", lambda s: schemas(s)["TaskInfo"]["properties"].pop("video_duration"),
     in_every_task_answer(True, "response field task_info.video_duration removed")),
    ("response enum gained a value",
     lambda s: schemas(s)["TaskStatus"]["enum"].append("cancelled"),
     # the list's status filter takes the same enum: one more value to send is no break
     [(False, "GET /v1/tasks", "request field query parameter status: enum gained [cancelled]: "
       "[pending, processing, completed, failed] -> [pending, processing, completed, failed, cancelled]"),
      *in_every_task_answer(True, "response field status: enum gained [cancelled]: [pending, "
                                  "processing, completed, failed] -> [pending, processing, completed, "
                                  "failed, cancelled]")]),
    ("response pattern loosened",
     lambda s: schemas(s)["TaskId"].update(pattern="^task-unified-"),
     in_every_task_answer(True, "response field id: pattern changed: "
                                "^task-unified-[A-Za-z0-9._:-]+$ -> ^task-unified-")),
    ("error code changed",
     lambda s: s["paths"]["/v1/tasks/{task_id}"]["get"]["responses"]["404"]["content"]
     ["application/json"]["example"]["error"].update(code="not_found"),
     [(True, "GET /v1/tasks/{task_id} 404", "error code changed: task_not_found -> not_found")]),
    ("error response added",
     lambda s: s["paths"]["/v1/tasks/{task_id}"]["get"]["responses"].update({"504": {
         "description": "x", "content": {"application/json": {"example": {"error": {
             "code": "gateway_timeout", "message": "m", "type": "api_error"}}}}}}),
     [(False, "GET /v1/tasks/{task_id} 504", "error response added: (none) -> gateway_timeout")]),
    ("operation added",
     lambda s: s["paths"].update({"/v1/files": {"get": {"operationId": "listFiles",
                                                         "responses": {"200": {"description": "x"}}}}}),
     [(False, "GET /v1/files", "operation added")]),
    ("operation removed", lambda s: s["paths"].pop("/v1/tasks/{task_id}"),
     [(True, "GET /v1/tasks/{task_id}", "operation removed")]),
    ("parameter rule changed",
     lambda s: s["paths"]["/v1/tasks/{task_id}"]["get"]["parameters"][0]["schema"].update(maxLength=64),
     [(True, "GET /v1/tasks/{task_id}",
       "request field path parameter task_id: maxLength tightened: 128 -> 64")]),
    ("x-mock changed", lambda s: kling(s)["x-mock"]["credits"].update(per_video_second=1.5),
     [(False, KLING, "x-mock (the mock's behaviour) changed: credits")]),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _n, m, e in CASES],
                         ids=[name for name, _m, _e in CASES])
def test_each_kind_of_change_is_found_and_judged(mutate: Callable, expected: list) -> None:
    assert changes_after(mutate) == expected


def test_the_shipped_spec_against_itself_has_no_changes() -> None:
    assert diff(load_spec(), load_spec()) == []


def as_openapi_31(spec: dict[str, Any]) -> dict[str, Any]:
    """The same contract in 3.1 spellings: type lists for nullable, const for one-value
    enums, examples lists for example."""
    spec = copy.deepcopy(spec)
    spec["openapi"] = "3.1.0"

    def convert(node: Any) -> None:
        if isinstance(node, dict):
            if node.pop("nullable", False):
                node["type"] = [node["type"], "null"]
            if isinstance(node.get("enum"), list) and len(node["enum"]) == 1 and "type" in node:
                node["const"] = node.pop("enum")[0]
            if "example" in node and "type" in node:
                node["examples"] = [node.pop("example")]
            for value in node.values():
                convert(value)
        elif isinstance(node, list):
            for value in node:
                convert(value)

    convert(spec["components"]["schemas"])
    return spec


def test_a_31_document_compares_by_meaning_with_its_30_twin() -> None:
    converted = as_openapi_31(load_spec())
    assert converted["components"]["schemas"]["ErrorEnvelope"]["properties"]["error"][
        "properties"]["param"]["type"] == ["string", "null"]
    assert diff(load_spec(), converted) == []


def test_exclusive_bounds_read_alike_in_30_and_31() -> None:
    old, new = load_spec(), load_spec()
    kling(old)["properties"]["duration"].update(minimum=0, exclusiveMinimum=True)
    kling(new)["properties"]["duration"].pop("minimum")
    kling(new)["properties"]["duration"]["exclusiveMinimum"] = 0
    assert diff(old, new) == []
    kling(new)["properties"]["duration"]["exclusiveMinimum"] = 2
    assert [c.line() for c in diff(old, new)] == [
        "request field duration: minimum tightened: 0 -> 2"]


def vendor_page(spec: dict[str, Any], model_schema: str) -> dict[str, Any]:
    """A vendor docs page's document: 3.1, one model, no discriminator, no operationIds."""
    page = as_openapi_31(spec)
    create = page["paths"]["/v1/videos/generations"]["post"]
    del create["operationId"]
    del page["paths"]["/v1/tasks/{task_id}"]
    create["requestBody"]["content"]["application/json"]["schema"] = {
        "$ref": f"#/components/schemas/{model_schema}"}
    return page


def run_diff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mock_server.cli", "spec", "diff", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def test_command_exits_0_on_the_shipped_spec_against_itself() -> None:
    result = run_diff(str(SPEC_FILE), str(SPEC_FILE))
    assert (result.returncode, result.stdout.strip()) == (0, "no changes")


def test_command_prints_a_table_and_exits_1_on_a_breaking_change(tmp_path: Path) -> None:
    new = load_spec()
    kling(new)["properties"]["duration"]["maximum"] = 10
    result = run_diff(str(SPEC_FILE), write_spec(tmp_path, new))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "breaking  where                         change",
        "yes       model kling-o3-text-to-video  request field duration: maximum tightened: 15 -> 10",
        "1 changes, 1 breaking"]


def test_command_exits_0_when_only_a_model_was_added_and_prints_json(tmp_path: Path) -> None:
    result = run_diff(str(SPEC_FILE), write_spec(tmp_path, four_model_spec()), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"breaking": 0, "changes": [
        {"breaking": False, "where": f"model {NAME}", "change": "model added", "old": None,
         "new": None}]}


def test_a_one_model_vendor_page_is_compared_with_our_model_of_the_same_name(tmp_path: Path) -> None:
    page = vendor_page(load_spec(), "KlingO3TextToVideoRequest")
    kling(page)["properties"]["duration"]["maximum"] = 10
    kling(page)["properties"]["quality"]["enum"].append("4k")
    path = tmp_path / "vendor.json"
    path.write_text(json.dumps(page))
    result = run_diff(str(SPEC_FILE), str(path), "--model", "kling-o3-text-to-video", "--json")
    rows = [(c["where"], c["change"]) for c in json.loads(result.stdout)["changes"]]
    # The page documents the create call only; --model leaves the other models out.
    assert rows == [("GET /v1/tasks/{task_id}", "operation removed"),
                    (KLING, "request field duration: maximum tightened"),
                    (KLING, "request field quality: enum gained [4k]")]
    assert result.returncode == 1


def test_an_unreadable_document_is_named_and_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    result = run_diff(str(SPEC_FILE), str(missing))
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"evolink-mock spec diff: {missing}: cannot read it")


def test_a_row_shows_the_old_and_new_value() -> None:
    change = Change(True, KLING, "request field duration: maximum tightened", 15, 10)
    assert change.line() == "request field duration: maximum tightened: 15 -> 10"
    assert Change(False, KLING, "model added").line() == "model added"
