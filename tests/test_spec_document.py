"""The contract document itself (spec/evolink-video.yaml) and how the server publishes it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from mock_server.server import RunningServer
from tests import clients

SPEC_FILE = Path(__file__).resolve().parents[1] / "spec" / "evolink-video.yaml"
RAW = SPEC_FILE.read_text(encoding="utf-8")
SPEC: dict[str, Any] = yaml.safe_load(RAW)
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
ERROR_ENVELOPE = {"$ref": "#/components/schemas/ErrorEnvelope"}


def operations() -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation)
            for path, item in SPEC["paths"].items()
            for method, operation in item.items() if method in HTTP_METHODS]


OPERATIONS = operations()
OPERATION_IDS = [f"{method.upper()} {path}" for path, method, _ in OPERATIONS]


def deref(node: dict[str, Any]) -> dict[str, Any]:
    """Follow local ``$ref``s (one level at a time) until a concrete object."""
    while "$ref" in node:
        target: Any = SPEC
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def walk(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{where}/{index}")


@pytest.fixture
def server(module_server: RunningServer) -> RunningServer:
    return module_server


# --- the document --------------------------------------------------------------------------


def test_spec_is_a_valid_openapi_document() -> None:
    validate(SPEC)  # raises OpenAPIValidationError with the offending path


def test_spec_is_openapi_3_0_3() -> None:
    assert SPEC["openapi"] == "3.0.3"
    assert RAW.startswith("openapi: 3.0.3")


SEED_OPERATIONS = {("/v1/videos/generations", "post"), ("/v1/tasks/{task_id}", "get")}
CLIENT_SOURCE = "@evolinkai/evolink-media"


def test_spec_describes_the_seed_operations_and_the_vendor_client_ones() -> None:
    assert {(path, method) for path, method, _ in OPERATIONS} == SEED_OPERATIONS | {
        ("/v1/models", "get"), ("/v1/credits", "get"), ("/v1/tasks", "get"),
        ("/v1/tasks/batch", "post")}
    assert {operation["operationId"] for *_, operation in OPERATIONS} == {
        "createVideoGeneration", "getTask", "listModels", "getCredits", "listTasks",
        "batchGetTasks"}


@pytest.mark.parametrize("path, method, operation", OPERATIONS, ids=OPERATION_IDS)
def test_operations_beyond_the_seeds_are_inferred_and_name_their_source(
        path: str, method: str, operation: dict[str, Any]) -> None:
    if (path, method) in SEED_OPERATIONS:
        return
    assert operation["x-inferred"] is True
    assert operation["x-inferred-source"] == CLIENT_SOURCE


def test_response_task_ids_follow_the_documented_prefix_not_our_generator() -> None:
    task_id = SPEC["components"]["schemas"]["TaskId"]
    pattern = re.compile(task_id["pattern"])
    for seen in ("task-unified-1757165031-mjv7", "task-unified-1757169743-7cvnl5zw"):
        assert pattern.match(seen) and len(seen) <= task_id["maxLength"]
    assert not pattern.match("task-1757165031-mjv7")
    assert not pattern.match("task-unified-1757165031 mjv7")


def test_bearer_scheme_is_http_bearer() -> None:
    assert SPEC["components"]["securitySchemes"]["bearerAuth"]["type"] == "http"
    assert SPEC["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


@pytest.mark.parametrize("path, method, operation", OPERATIONS, ids=OPERATION_IDS)
def test_every_operation_requires_bearer_auth(path: str, method: str,
                                              operation: dict[str, Any]) -> None:
    requirements = operation.get("security", SPEC.get("security"))
    assert requirements, "no security requirement: the operation would be public"
    # Every alternative must include the bearer scheme; an empty {} would make auth optional.
    assert all("bearerAuth" in requirement for requirement in requirements), requirements
    assert "401" in operation["responses"]


@pytest.mark.parametrize("path, method, operation", OPERATIONS, ids=OPERATION_IDS)
def test_every_error_response_uses_the_error_envelope(path: str, method: str,
                                                      operation: dict[str, Any]) -> None:
    errors = {status: response for status, response in operation["responses"].items()
              if not str(status).startswith("2")}
    assert errors, "an operation with no documented errors"
    for status, response in errors.items():
        content = deref(response).get("content", {})
        assert list(content) == ["application/json"], (status, content)
        assert content["application/json"]["schema"] == ERROR_ENVELOPE, status


@pytest.mark.parametrize("path, method, operation", OPERATIONS, ids=OPERATION_IDS)
def test_every_error_example_is_a_valid_envelope(path: str, method: str,
                                                 operation: dict[str, Any]) -> None:
    for status, response in operation["responses"].items():
        example = deref(response).get("content", {}).get("application/json", {}).get("example")
        if str(status).startswith("2") or example is None:
            continue
        assert set(example) == {"error"}, status
        error = example["error"]
        assert {"code", "message", "type"} <= set(error) <= {"code", "message", "type", "param"}
        assert all(isinstance(error[key], str) for key in error), (status, error)


def test_error_envelope_schema_matches_the_vendor_shape() -> None:
    envelope = SPEC["components"]["schemas"]["ErrorEnvelope"]
    assert envelope["required"] == ["error"]
    error = envelope["properties"]["error"]
    assert set(error["required"]) == {"code", "message", "type"}
    assert error["properties"]["code"]["type"] == "string"
    assert set(error["properties"]) == {"code", "message", "type", "param"}


def test_every_inferred_node_says_why() -> None:
    inferred = [(where, node) for where, node in walk(SPEC) if "x-inferred" in node]
    assert inferred, "the spec marks its inferences with x-inferred"
    for where, node in inferred:
        assert node["x-inferred"] is True, where
        reason = node.get("x-inferred-reason")
        assert isinstance(reason, str) and reason.strip(), where
        assert "\n" not in reason.strip(), f"{where}: the reason is one line"


def test_no_inferred_reason_without_the_inferred_flag() -> None:
    for where, node in walk(SPEC):
        if "x-inferred-reason" in node:
            assert node.get("x-inferred") is True, where


def test_every_cross_field_rule_has_an_id_param_and_rule() -> None:
    for where, node in walk(SPEC):
        for rule in node.get("x-cross-field-rules", []):
            assert {"id", "param", "rule"} <= set(rule), (where, rule)


# --- the document as the server publishes it -----------------------------------------------


def test_server_serves_the_spec_with_the_same_operations(server: RunningServer) -> None:
    response = clients.get(f"{server.url}/openapi.json", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    served = response.json()
    assert served["openapi"] == SPEC["openapi"]
    assert list(served["paths"]) == list(SPEC["paths"])
    for path, item in SPEC["paths"].items():
        assert set(served["paths"][path]) == set(item), path
        for method in set(item) & HTTP_METHODS:
            assert served["paths"][path][method]["operationId"] == item[method]["operationId"]
    assert set(served["components"]["schemas"]) == set(SPEC["components"]["schemas"])


def test_server_serves_swagger_ui_html(server: RunningServer) -> None:
    response = clients.get(f"{server.url}/ui/", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text
    assert '"/openapi.json"' in response.text, "the UI must load the served spec"
    bundle = clients.get(f"{server.url}/ui/swagger-ui-bundle.js", timeout=10)
    assert bundle.status_code == 200
