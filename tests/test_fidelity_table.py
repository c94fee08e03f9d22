"""Every constraint of the seed pages, checked twice: the spec states it, the mock enforces it.

The table lives in fixtures/contract/seed-constraints.yaml (its header explains the row kinds).
"""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
import yaml

from mock_server.spec import load_spec, resolve
from mock_server.store import resolved

from .conftest import FIXTURES

TABLE = yaml.safe_load((FIXTURES / "contract" / "seed-constraints.yaml").read_text())
ROWS = TABLE["rows"]
SPEC = load_spec()
MAPPING = SPEC["components"]["schemas"]["VideoGenerationRequest"]["discriminator"]["mapping"]
BODY_SCHEMAS = {model: resolve(SPEC, {"$ref": ref}) for model, ref in MAPPING.items()}


def generate(value: Any) -> Any:
    """Expand the table's value generators ({repeat, times} and {url_of_length})."""
    if isinstance(value, dict) and set(value) == {"repeat", "times"}:
        return value["repeat"] * value["times"]
    if isinstance(value, dict) and set(value) == {"url_of_length"}:
        prefix = "https://example.com/"
        return prefix + "a" * (value["url_of_length"] - len(prefix))
    return value


def with_field(body: dict[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, last = dotted.split(".")
    node = body
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = generate(value)
    return body


def without_field(body: dict[str, Any], dotted: str) -> dict[str, Any]:
    body = copy.deepcopy(body)
    *parents, last = dotted.split(".")
    node = body
    for part in parents:
        node = node[part]
    node.pop(last)
    return body


def base_request(row: dict[str, Any]) -> dict[str, Any]:
    body = copy.deepcopy(TABLE["base_requests"][row["model"]])
    body.update(copy.deepcopy(row.get("base_patch", {})))
    return body


def field_schema(model: str, dotted: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(parent schema, field schema) for a dotted field of a model's body schema."""
    parent = BODY_SCHEMAS[model]
    *parents, last = dotted.split(".")
    for part in parents:
        parent = parent["properties"][part]
    return parent, parent["properties"][last]


def contains(actual: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(actual[key], value) for key, value in expected.items())
    return actual == expected


@pytest.mark.parametrize("row", ROWS, ids=[row["id"] for row in ROWS])
def test_spec_states_the_constraint(row: dict[str, Any]) -> None:
    check = row.get("check")
    if check == "unknown-field":
        assert contains(BODY_SCHEMAS[row["model"]], row["spec"])
        assert row["field"] not in BODY_SCHEMAS[row["model"]]["properties"]
        return
    if check == "cross-field":
        ids = [rule["id"] for rule in BODY_SCHEMAS[row["model"]]["x-cross-field-rules"]]
        assert row["spec_cross_field_id"] in ids
        return
    parent, schema = field_schema(row["model"], row["field"])
    expected = dict(row["spec"])
    if expected.pop("required", False):
        assert row["field"].split(".")[-1] in parent.get("required", [])
    assert contains(schema, expected), f"spec for {row['field']}: {schema}"


def expect_rejected(client: httpx.Client, body: dict[str, Any], param: str) -> None:
    response = client.post("/v1/videos/generations", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param, error
    assert error["message"]


def expect_accepted(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/v1/videos/generations", json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def server(module_server):
    return module_server


ENFORCED = [row for row in ROWS if row.get("check") != "not-enforceable"]


@pytest.mark.parametrize("row", ENFORCED, ids=[row["id"] for row in ENFORCED])
def test_mock_enforces_the_constraint(row: dict[str, Any], client: httpx.Client, server) -> None:
    check = row.get("check")
    base = base_request(row)
    param = row.get("expect_param", row["field"])
    if check == "required":
        expect_accepted(client, base)
        expect_rejected(client, without_field(base, row["field"]), param)
    elif check == "default":
        created = expect_accepted(client, without_field(base, row["field"])
                                  if _has(base, row["field"]) else base)
        stored = resolved(server.service.store.get(created["id"])).request
        assert _get(stored, row["field"]) == row["default"]
    elif check == "unknown-field":
        expect_rejected(client, with_field(base, row["field"], row["invalid"]), param)
    elif check == "cross-field":
        expect_accepted(client, {**base, **row["request_patch"]["valid"]})
        expect_rejected(client, {**base, **row["request_patch"]["invalid"]}, param)
    else:
        expect_accepted(client, with_field(base, row["field"], row["valid"]))
        expect_rejected(client, with_field(base, row["field"], row["invalid"]), param)


def _has(body: dict[str, Any], dotted: str) -> bool:
    try:
        _get(body, dotted)
    except KeyError:
        return False
    return True


def _get(body: dict[str, Any], dotted: str) -> Any:
    node: Any = body
    for part in dotted.split("."):
        node = node[part]
    return node
