"""Apply the spec's ``default`` values to a validated request, nested objects included."""

from __future__ import annotations

import copy
from typing import Any


def apply_defaults(schema: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(body)
    _fill(schema, result)
    return result


def _fill(schema: dict[str, Any], body: dict[str, Any]) -> None:
    for name, prop in schema.get("properties", {}).items():
        if name not in body and "default" in prop:
            body[name] = copy.deepcopy(prop["default"])
        elif isinstance(body.get(name), dict) and prop.get("type") == "object":
            _fill(prop, body[name])
