"""What a failed check says: a ``jsonschema_rs`` error as an ``invalid_request`` naming the
field (``param``), what was expected, the rule broken and a JSON pointer to the place."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from ..errors import ApiError, invalid_request
from ..violations import pointer


def kind(error: Any) -> str:
    """The ``jsonschema_rs`` name of what an error broke (``Required``, ``Enum``, ...)."""
    return type(error.kind).__name__


def dotted(path: Iterable[Any]) -> str:
    """``a.b[1].c``: how a message names a place in the body."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def field_param(path: Iterable[Any]) -> str | None:
    """``param`` names a field: the path up to the first array index (``a.b`` for ``a.b[1].c``)."""
    names: list[str] = []
    for part in path:
        if isinstance(part, int):
            break
        names.append(part)
    return ".".join(names) or None


def shown(values: Iterable[Any]) -> str:
    """``["a", "b"]``: a list of allowed values as a message quotes it."""
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def type_name(value: Any) -> str:
    """The JSON type of a parsed value, as JSON Schema names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__)


def keyword(error: Any) -> str:
    """The JSON Schema keyword an error broke (``Required`` -> ``required``)."""
    name = kind(error)
    return name[:1].lower() + name[1:]


def error_path(error: Any) -> tuple[Any, ...]:
    """Where the error is; for a missing or unknown property, that property."""
    path = tuple(error.instance_path)
    name = kind(error)
    if name == "Required":
        return (*path, error.kind.property)
    if name == "AdditionalProperties":
        return (*path, error.kind.unexpected[0])
    return path


def broke(error: ApiError, rule: str, param: str | None, part: str = "body") -> ApiError:
    """``error`` marked as breaking ``rule`` at the (dotted) field ``param``."""
    error.rule = rule
    error.pointer = pointer((part, *(param.split(".") if param else ())))
    return error


def describe(error: Any, root: dict[str, Any], prefix: tuple[str, ...] = (),
             part: str = "body") -> ApiError:
    """Turn one ``jsonschema_rs`` error into an ``invalid_request`` with ``param``, a message,
    the rule broken and a pointer (``/body/...`` unless ``part`` says otherwise)."""
    described = _describe(error, root, prefix)
    described.rule = keyword(error)
    described.pointer = pointer((part, *prefix, *error_path(error)))
    return described


def _subschema(root: dict[str, Any], schema_path: Iterable[Any]) -> dict[str, Any]:
    """The schema object holding the failed keyword (the path minus the keyword)."""
    parts = list(schema_path)[:-1]
    node: Any = root
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _describe(error: Any, root: dict[str, Any], prefix: tuple[str, ...] = ()) -> ApiError:
    path = prefix + tuple(error.instance_path)
    found = error.kind
    name = kind(error)
    schema = _subschema(root, error.schema_path)
    field = field_param(path)
    label = dotted(path) or "request body"

    if name == "Required":
        missing = (*path, found.property)
        return invalid_request(f"{dotted(missing)} is required", field_param(missing))
    if name == "AdditionalProperties":
        unexpected = (*path, found.unexpected[0])
        allowed = ", ".join(schema.get("properties", {}))
        return invalid_request(f"{dotted(unexpected)} is not a known field; allowed fields: "
                               f"{allowed}", field_param(unexpected))
    if name == "Enum":
        return invalid_request(f"{label} must be one of {shown(schema['enum'])}", field)
    if name == "Type":
        expected = schema.get("type")
        return invalid_request(
            f"{label} must be of type {expected}, got {type_name(error.instance)}", field)
    if name in ("Minimum", "Maximum"):
        low, high = schema.get("minimum"), schema.get("maximum")
        if low is not None and high is not None:
            return invalid_request(f"{label} must be between {low} and {high}", field)
        bound = f">= {low}" if name == "Minimum" else f"<= {high}"
        return invalid_request(f"{label} must be {bound}", field)
    if name == "MaxLength":
        return invalid_request(
            f"{label} must be at most {schema['maxLength']} characters, got {len(error.instance)}",
            field)
    if name == "MinLength":
        return invalid_request(f"{label} must be at least {schema['minLength']} characters", field)
    if name in ("MaxItems", "MinItems"):
        low, high = schema.get("minItems"), schema.get("maxItems")
        if low is not None and low == high:
            expected = f"exactly {low} item{'s' if low != 1 else ''}"
        elif name == "MaxItems":
            expected = f"at most {high} items"
        else:
            expected = f"at least {low} item{'s' if low != 1 else ''}"
        return invalid_request(f"{label} must contain {expected}, got {len(error.instance)}", field)
    if name == "MaxProperties":
        return invalid_request(f"{label} must have at most {schema['maxProperties']} properties",
                               field)
    if name == "Format":
        what = {"uri": "an absolute URI"}.get(str(schema.get("format")), f"a valid {schema.get('format')}")
        return invalid_request(f"{label} must be {what}", field)
    if name == "Pattern":
        hint = schema.get("x-pattern-message") or f"match the pattern {schema.get('pattern')}"
        return invalid_request(f"{label} must {hint}", field)
    return invalid_request(f"{label}: {error.message}", field)
