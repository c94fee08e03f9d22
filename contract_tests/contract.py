"""The vendor contract as the checkers read it: the spec, its schemas, and task-state facts."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import jsonschema_rs

from mock_server.spec import load_spec, resolve

SPEC: dict[str, Any] = load_spec()
COMPLETED, FAILED = "completed", "failed"
TERMINAL = frozenset({COMPLETED, FAILED})
CREATE_PATH = "/v1/videos/generations"
TASK_PATH = "/v1/tasks/{task_id}"
FAILURE_CODES: tuple[str, ...] = tuple(
    SPEC["components"]["schemas"]["TaskError"]["properties"]["code"]["enum"])


@lru_cache(maxsize=None)
def schema(name: str) -> dict[str, Any]:
    """A component schema with every ``$ref`` resolved (one object per name, for caches)."""
    return resolve(SPEC, SPEC["components"]["schemas"][name])


@lru_cache(maxsize=None)
def validator(name: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.Draft4Validator(schema(name), validate_formats=True)


def schema_problems(name: str, document: Any) -> list[str]:
    """Why ``document`` does not match the named schema (empty when it does)."""
    return [f"{name} schema: {error.message} at /{'/'.join(map(str, error.instance_path))}"
            for error in validator(name).iter_errors(document)]
