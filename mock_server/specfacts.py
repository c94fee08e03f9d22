"""A spec document read as flat facts, for ``evolink-mock spec diff``
(:mod:`mock_server.specdiff` compares two of them): operations, models, the fields of
every request and 2xx response, error codes and ``x-mock`` blocks, with OpenAPI 3.1
spellings read as their 3.0 equivalents."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .models import create_request_schema, spec_models
from .spec import HTTP_METHODS, resolve

# Bounds: "lower" bounds tighten when they rise, "upper" ones when they fall.
BOUNDS = {"minimum": "lower", "exclusiveMinimum": "lower", "minLength": "lower",
          "minItems": "lower", "maximum": "upper", "exclusiveMaximum": "upper",
          "maxLength": "upper", "maxItems": "upper", "maxProperties": "upper"}
# Other compared attributes: is a change breaking for a request field / a response field?
CHANGED = {"type": (True, True), "format": (True, True), "pattern": (True, True),
           "default": (True, False)}


def normalize(schema: Any) -> dict[str, Any]:
    """A resolved schema in 3.0 terms: 3.1's type lists, const, numeric exclusive bounds and
    nullable alternatives read the way 3.0 writes them; allOf merged."""
    if not isinstance(schema, dict):
        return {}
    node = dict(schema)
    for combiner in ("anyOf", "oneOf"):
        options = node.get(combiner)
        if isinstance(options, list):
            real = [o for o in options if not (isinstance(o, dict) and o.get("type") == "null")]
            if len(real) == 1 and len(real) < len(options):
                node.pop(combiner)
                node = {**normalize(real[0]), **dict(node.items()), "nullable": True}
    if "allOf" in node:
        merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
        for declared in node["allOf"]:
            part = normalize(declared)
            merged.setdefault("properties", {}).update(part.get("properties") or {})
            merged["required"] = [*merged.get("required", []), *part.get("required", [])]
            for key, value in part.items():
                if key not in ("properties", "required"):
                    merged.setdefault(key, value)
        node = merged
    kind = node.get("type")
    if isinstance(kind, list):
        types = [t for t in kind if t != "null"]
        if len(types) < len(kind):
            node["nullable"] = True
        node["type"] = types[0] if len(types) == 1 else sorted(types)
    if "const" in node:
        node["enum"] = [node.pop("const")]
    for bound, base in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        value = node.get(bound)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            node[base], node[bound] = value, True
    return node


def fields(schema: Any, prefix: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(dotted name, facts) for every property, nested objects and array items included."""
    schema = normalize(schema)
    required = set(schema.get("required") or [])
    for name, declared in (schema.get("properties") or {}).items():
        path = f"{prefix}{name}"
        prop = normalize(declared)
        yield path, _facts(prop, name in required)
        yield from _children(prop, path)


def _children(prop: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if prop.get("properties") or prop.get("allOf"):
        yield from fields(prop, f"{path}.")
    items = normalize(prop.get("items"))
    if items and (items.get("properties") or items.get("allOf")):
        yield from fields(items, f"{path}[].")


def _facts(prop: dict[str, Any], required: bool) -> dict[str, Any]:
    facts = {key: prop[key] for key in (*BOUNDS, *CHANGED) if key in prop}
    facts["required"] = required
    facts["nullable"] = bool(prop.get("nullable"))
    if "enum" in prop:
        facts["enum"] = list(prop["enum"])
    items = normalize(prop.get("items"))
    for key in ("type", "enum", "pattern", "format"):   # arrays of plain values
        if key in items:
            facts[f"items.{key}"] = items[key]
    return facts


def _operations(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``METHOD /path`` -> operation (``$ref``s resolved)."""
    table = {}
    for path, item in (spec.get("paths") or {}).items():
        for method, operation in (item or {}).items():
            if method in HTTP_METHODS and isinstance(operation, dict):
                table[f"{method.upper()} {path}"] = resolve(spec, operation)
    return table


@dataclass
class Facts:
    operations: set[str]
    models: dict[str, dict[str, dict[str, Any]]]        # model -> field -> facts
    x_mock: dict[str, Any]                               # model -> block
    requests: dict[str, dict[str, dict[str, Any]]]      # operation -> field -> facts
    responses: dict[str, dict[str, dict[str, Any]]]     # "operation status" -> field -> facts
    errors: dict[str, str | None]                        # "operation status" -> error code


def read(spec: dict[str, Any]) -> Facts:
    models = spec_models(spec)
    create_body = create_request_schema(spec)
    facts = Facts(set(), {m.name: dict(fields(m.schema)) for m in models},
                  {m.name: m.x_mock for m in models if m.x_mock is not None}, {}, {}, {})
    for where, operation in _operations(spec).items():
        facts.operations.add(where)
        request: dict[str, dict[str, Any]] = {}
        for declared in operation.get("parameters") or []:
            param = resolve(spec, declared)
            request[f"{param.get('in')} parameter {param.get('name')}"] = _facts(
                normalize(param.get("schema")), bool(param.get("required")))
        content = ((operation.get("requestBody") or {}).get("content") or {})
        body = (content.get("application/json") or {}).get("schema")
        if body is not None and not (models and body == resolve(spec, create_body)):
            request.update(fields(body))
        facts.requests[where] = request
        for status, response in (operation.get("responses") or {}).items():
            media = ((response or {}).get("content") or {}).get("application/json") or {}
            key = f"{where} {status}"
            if str(status).startswith("2"):
                facts.responses[key] = dict(fields(media.get("schema")))
            elif str(status)[:1] in ("4", "5"):
                example = media.get("example") or {}
                if not example and isinstance(media.get("examples"), dict):
                    first: dict[str, Any] = next(iter(media["examples"].values()), {}) or {}
                    example = first.get("value") or {}
                error = example.get("error") if isinstance(example, dict) else None
                facts.errors[key] = error.get("code") if isinstance(error, dict) else None
    return facts
