"""``evolink-mock spec diff OLD NEW``: what changed between two documents, for a client.

No maintained Python library compares OpenAPI documents at this level (oasdiff is Go; the
PyPI packages that try are unmaintained since 2020-2022), and none knows that one request
body is really one schema per model. So this is a small comparison over a flat list of
facts, with the verdicts in tables:

* each document becomes facts: operations; models (from the create body, as
  :func:`mock_server.models.spec_models` finds them, so a vendor page with one model is
  read too); every request field of each model and of every other operation's body and
  parameters; every field of each 2xx response; the error code of each error response;
  each model's ``x-mock`` block;
* OpenAPI 3.1 spellings are read as their 3.0 equivalents first (``type: [T, "null"]``,
  ``const``, numeric ``exclusiveMinimum``, ``examples``), so a 3.0 document and a 3.1 one
  compare by meaning;
* a change is breaking when a client written against OLD can fail against NEW: it sends
  what NEW refuses (request rules tightened), or reads what it does not expect (response
  rules loosened, fields gone, error codes renamed).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

from .models import X_MOCK, create_request_schema, spec_models
from .spec import HTTP_METHODS, resolve

REQUEST, RESPONSE = "request", "response"

# Bounds: "lower" bounds tighten when they rise, "upper" ones when they fall.
BOUNDS = {"minimum": "lower", "exclusiveMinimum": "lower", "minLength": "lower",
          "minItems": "lower", "maximum": "upper", "exclusiveMaximum": "upper",
          "maxLength": "upper", "maxItems": "upper", "maxProperties": "upper"}
# Other compared attributes: is a change breaking for a request field / a response field?
CHANGED = {"type": (True, True), "format": (True, True), "pattern": (True, True),
           "default": (True, False)}


@dataclass(frozen=True)
class Change:
    breaking: bool
    where: str        # "model kling-o3-text-to-video", "GET /v1/tasks/{task_id}"
    change: str       # what happened, in words
    old: Any = None
    new: Any = None

    def line(self) -> str:
        values = ""
        if self.old is not None or self.new is not None:
            values = f": {_show(self.old)} -> {_show(self.new)}"
        return f"{self.change}{values}"


def _show(value: Any) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return value if isinstance(value, str) else json.dumps(value)


# --- reading a document as facts ---------------------------------------------------------


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


# --- comparing ---------------------------------------------------------------------------


def _bound_tightened(kind: str, old: Any, new: Any) -> bool:
    if old is None:
        return True       # a bound appeared
    if new is None:
        return False      # a bound went away
    if isinstance(old, bool) or isinstance(new, bool):   # 3.0 exclusive flags
        return bool(new) and not bool(old)
    return new > old if kind == "lower" else new < old


def compare_field(side: str, where: str, name: str, old: dict[str, Any],
                  new: dict[str, Any]) -> list[Change]:
    request = side == REQUEST
    label = f"{side} field {name}"
    changes = []
    if old["required"] != new["required"]:
        # A request field that must now be sent breaks clients; a response field that may
        # now be absent breaks readers.
        breaking = new["required"] if request else old["required"]
        changes.append(Change(breaking, where, f"{label} became "
                              f"{'required' if new['required'] else 'optional'}"))
    if old["nullable"] != new["nullable"]:
        breaking = old["nullable"] if request else new["nullable"]
        nullable = "may now be" if new["nullable"] else "may no longer be"
        changes.append(Change(breaking, where, f"{label} {nullable} null"))
    for key in ("enum", "items.enum"):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if before is None or after is None:
            # An enum appearing restricts values; one disappearing frees them.
            breaking = (after is not None) if request else (after is None)
            changes.append(Change(breaking, where, f"{label}: {key} "
                                                   f"{'added' if after is not None else 'removed'}",
                                  before, after))
            continue
        gone = [v for v in before if v not in after]
        came = [v for v in after if v not in before]
        if gone:
            changes.append(Change(request, where, f"{label}: {key} lost {_show(gone)}",
                                  before, after))
        if came:
            changes.append(Change(not request, where, f"{label}: {key} gained {_show(came)}",
                                  before, after))
    for key, kind in BOUNDS.items():
        before, after = old.get(key), new.get(key)
        if before != after:
            tightened = _bound_tightened(kind, before, after)
            changes.append(Change(tightened if request else not tightened, where,
                                  f"{label}: {key} {'tightened' if tightened else 'loosened'}",
                                  before, after))
    for key, (for_request, for_response) in CHANGED.items():
        for item in (key, f"items.{key}"):
            if (item in old or item in new) and old.get(item) != new.get(item):
                changes.append(Change(for_request if request else for_response, where,
                                      f"{label}: {item} changed", old.get(item), new.get(item)))
    return changes


def compare_fields(side: str, where: str, old: dict[str, dict[str, Any]],
                   new: dict[str, dict[str, Any]]) -> list[Change]:
    request = side == REQUEST
    changes = []
    for name in old:
        if name not in new:
            # A client still sending it is refused; a client reading it finds nothing.
            changes.append(Change(True, where, f"{side} field {name} removed"))
        else:
            changes += compare_field(side, where, name, old[name], new[name])
    for name in new:
        if name not in old:
            breaking = request and new[name]["required"]
            changes.append(Change(breaking, where, f"{side} field {name} added"
                                  + (" (required)" if new[name]["required"] else "")))
    return changes


def diff(old_spec: dict[str, Any], new_spec: dict[str, Any]) -> list[Change]:
    old, new = read(old_spec), read(new_spec)
    changes: list[Change] = []
    for where in sorted(old.operations - new.operations):
        changes.append(Change(True, where, "operation removed"))
    for where in sorted(new.operations - old.operations):
        changes.append(Change(False, where, "operation added"))
    for model in old.models:
        if model not in new.models:
            changes.append(Change(True, f"model {model}", "model removed"))
    for model in new.models:
        where = f"model {model}"
        if model not in old.models:
            changes.append(Change(False, where, "model added"))
            continue
        changes += compare_fields(REQUEST, where, old.models[model], new.models[model])
        if old.x_mock.get(model) != new.x_mock.get(model):
            before, after = old.x_mock.get(model) or {}, new.x_mock.get(model) or {}
            keys = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
            changes.append(Change(False, where, f"{X_MOCK} (the mock's behaviour) changed: "
                                  f"{', '.join(keys)}"))
    for where in sorted(old.operations & new.operations):
        changes += compare_fields(REQUEST, where, old.requests.get(where, {}),
                                  new.requests.get(where, {}))
    for key in old.responses:
        if key in new.responses:
            changes += compare_fields(RESPONSE, key, old.responses[key], new.responses[key])
        elif key.rsplit(" ", 1)[0] in new.operations:
            changes.append(Change(True, key, "success response removed"))
    for key in new.responses:
        if key not in old.responses and key.rsplit(" ", 1)[0] in old.operations:
            changes.append(Change(False, key, "success response added"))
    for key in old.errors:
        if key not in new.errors:
            if key.rsplit(" ", 1)[0] in new.operations:
                changes.append(Change(False, key, "error response no longer documented",
                                      old.errors[key], None))
        elif old.errors[key] != new.errors[key]:
            changes.append(Change(True, key, "error code changed", old.errors[key],
                                  new.errors[key]))
    for key in new.errors:
        if key not in old.errors and key.rsplit(" ", 1)[0] in old.operations:
            changes.append(Change(False, key, "error response added", None, new.errors[key]))
    return changes


# --- output ------------------------------------------------------------------------------


def table(changes: list[Change]) -> str:
    if not changes:
        return "no changes"
    rows = [("breaking", "where", "change")] + [
        ("yes" if c.breaking else "no", c.where, c.line()) for c in changes]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]}" for row in rows]
    breaking = sum(c.breaking for c in changes)
    lines.append(f"{len(changes)} changes, {breaking} breaking")
    return "\n".join(lines)


def as_json(changes: list[Change]) -> str:
    return json.dumps({"breaking": sum(c.breaking for c in changes),
                       "changes": [asdict(c) for c in changes]}, indent=2, default=str)
