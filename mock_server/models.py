"""The spec's models: which models the create operation accepts, and how each behaves.

:func:`spec_models` lists them (name, request schema, ``x-mock`` block) from any OpenAPI
3.0 or 3.1 document, whichever way it states the choice of model: a discriminator mapping
(our spec), a plain ``oneOf``, or one request schema whose ``model`` property names them
(the vendor's one-model pages). :func:`check` checks every ``x-mock`` block against
``spec/x-mock.schema.json`` and against the request schema it sits on, and names the model
and the field of each mistake in one line; :func:`behaviours` is what the mock runs on.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jsonschema_rs

from .domain.models import ModelBehaviour, value_key
from .spec import SPEC_DIR, SpecError, operations, resolve
from .validation import CROSS_FIELD_RULES

X_MOCK = "x-mock"
X_MOCK_SCHEMA = SPEC_DIR / "x-mock.schema.json"
CREATE_OPERATION = "createVideoGeneration"
CREATE_PATH = "/v1/videos/generations"   # where documents without our operationIds put it
MODEL_PROPERTY = "model"
GUIDE = "docs/add-a-model.md"
MEDIA_DIR = SPEC_DIR.parent / "fixtures" / "media"
# The shipped result videos by aspect ratio ("16:9" -> 16x9.mp4); the x-mock schema's
# aspect_ratio enum lists the same five.
ASPECT_RATIOS = frozenset(path.stem.replace("x", ":") for path in MEDIA_DIR.glob("*.mp4"))
__all__ = ["SpecError", "SpecModel", "behaviours", "check", "model_names", "spec_models"]


@dataclass(frozen=True)
class SpecModel:
    name: str
    schema: dict[str, Any]          # the model's request schema, every $ref resolved
    x_mock: dict[str, Any] | None   # its behaviour block, if it has one
    schema_name: str | None = None  # the component it comes from, when it is one


def create_request_schema(spec: dict[str, Any]) -> dict[str, Any] | None:
    """The JSON body schema of the create operation, ``$ref`` left as written."""
    found = next((op for _path, _method, op in operations(spec)
                  if op["operationId"] == CREATE_OPERATION), None)
    if found is None:
        found = ((spec.get("paths") or {}).get(CREATE_PATH) or {}).get("post")
    if not isinstance(found, dict):
        return None
    body = resolve(spec, found.get("requestBody") or {})
    return ((body.get("content") or {}).get("application/json") or {}).get("schema")


def _names_in(schema: dict[str, Any]) -> list[str]:
    """The model names one request schema accepts (its ``model`` enum, const or default)."""
    prop = (schema.get("properties") or {}).get(MODEL_PROPERTY) or {}
    if "enum" in prop:
        return [v for v in prop["enum"] if isinstance(v, str)]
    for key in ("const", "default"):
        if isinstance(prop.get(key), str):
            return [prop[key]]
    return []


def _component(ref: Any) -> str | None:
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        return ref.rsplit("/", 1)[-1]
    return None


def spec_models(spec: dict[str, Any]) -> list[SpecModel]:
    """Every model the create operation accepts, in the document's order."""
    top = create_request_schema(spec)
    if top is None:
        return []
    schema_name = _component(top.get("$ref"))
    body = resolve(spec, {"$ref": top["$ref"]}) if "$ref" in top else top
    mapping = (body.get("discriminator") or {}).get("mapping")
    if mapping:
        # Mapping values are references or, as OpenAPI also allows, bare schema names.
        branches = [(name, ref if ref.startswith("#") else f"#/components/schemas/{ref}")
                    for name, ref in mapping.items()]
        return [SpecModel(name, resolve(spec, {"$ref": ref}),
                          _raw(spec, ref).get(X_MOCK), _component(ref)) for name, ref in branches]
    alternatives = body.get("oneOf") or body.get("anyOf")
    if alternatives:
        models = []
        for branch in alternatives:
            ref = branch.get("$ref")
            raw = _raw(spec, ref) if ref else branch
            resolved = resolve(spec, branch)
            models += [SpecModel(name, resolved, raw.get(X_MOCK), _component(ref))
                       for name in _names_in(resolved)]
        return models
    raw = _raw(spec, top["$ref"]) if "$ref" in top else top
    return [SpecModel(name, body, raw.get(X_MOCK), schema_name) for name in _names_in(body)]


def _raw(spec: dict[str, Any], ref: str) -> dict[str, Any]:
    """The schema object a local ``$ref`` points at, unresolved (its extensions as written)."""
    node: Any = spec
    for part in ref.lstrip("#/").split("/"):
        node = node[part]
    return node


def model_names(spec: dict[str, Any]) -> list[str]:
    return [model.name for model in spec_models(spec)]


# --- checking -------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _x_mock_schema() -> tuple[dict[str, Any], jsonschema_rs.Validator]:
    schema = json.loads(X_MOCK_SCHEMA.read_text(encoding="utf-8"))
    return schema, jsonschema_rs.validator_for(schema)


def _dotted(path: Iterable[Any]) -> str:
    text = X_MOCK
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _schema_at(path: Iterable[Any]) -> dict[str, Any]:
    """The part of the x-mock schema that describes the value at ``path``."""
    root, _ = _x_mock_schema()
    node = root
    for part in path:
        while "$ref" in node:
            node = root["definitions"][node["$ref"].rsplit("/", 1)[-1]]
        props = node.get("properties") or {}
        node = props[part] if part in props else node.get("additionalProperties") or {}
    while "$ref" in node:
        node = root["definitions"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _schema_problem(error: Any) -> str:
    path = list(error.instance_path)
    kind = type(error.kind).__name__
    if kind == "Required":
        return f"{_dotted([*path, error.kind.property])} is required"
    if kind == "AdditionalProperties":
        allowed = ", ".join(_schema_at(path).get("properties") or {})
        return (f"{_dotted([*path, error.kind.unexpected[0]])} is not a known key"
                + (f" (allowed: {allowed})" if allowed else ""))
    return f"{_dotted(path)}: {error.message}"


def _field_problems(model: SpecModel, place: str, name: str, *, numeric: bool = False) -> list[str]:
    props = model.schema.get("properties") or {}
    if name not in props:
        return [f"{_dotted(place.split('.'))}: {name!r} is not a field of the request "
                f"(fields: {', '.join(props)})"]
    prop = props[name]
    if numeric:
        if prop.get("type") not in ("integer", "number"):
            return [f"{_dotted(place.split('.'))}: request field {name!r} is not a number"]
        if name not in model.schema.get("required", []) and "default" not in prop:
            return [f"{_dotted(place.split('.'))}: request field {name!r} needs a default or to "
                    "be required, so every request has a length"]
    return []


def _multiplier_problems(model: SpecModel, place: str, multipliers: dict[str, Any]) -> list[str]:
    problems = []
    for name, by_value in multipliers.items():
        found = _field_problems(model, f"{place}.{name}", name)
        if found:
            problems += found
            continue
        enum = (model.schema["properties"][name]).get("enum")
        if enum is None:
            continue
        known = [value_key(v) for v in enum]
        problems += [f"{_dotted(f'{place}.{name}'.split('.'))}: {value!r} is not a value of "
                     f"{name} (one of {', '.join(known)})" for value in by_value if value not in known]
    return problems


def model_problems(model: SpecModel) -> list[str]:
    """What is wrong with one model's ``x-mock`` block (empty when it can run)."""
    if model.x_mock is None:
        return [f"{X_MOCK} is missing on its request schema (see {GUIDE})"]
    _, validator = _x_mock_schema()
    errors = sorted(validator.iter_errors(model.x_mock), key=lambda e: list(map(str, e.instance_path)))
    if errors:
        return [_schema_problem(error) for error in errors]
    block = model.x_mock
    problems = [f"x-cross-field-rules: {rule.get('id')!r} is not a rule the mock knows (known: "
                f"{', '.join(CROSS_FIELD_RULES)})"
                for rule in model.schema.get("x-cross-field-rules", [])
                if rule.get("id") not in CROSS_FIELD_RULES]
    if "field" in block["video_seconds"]:
        problems += _field_problems(model, "video_seconds.field", block["video_seconds"]["field"],
                                    numeric=True)
    for part in ("time", "credits"):
        problems += _multiplier_problems(model, f"{part}.multipliers",
                                         block[part].get("multipliers") or {})
    media_field = (block.get("media") or {}).get("aspect_ratio_field")
    if media_field is not None:
        problems += _field_problems(model, "media.aspect_ratio_field", media_field)
    return problems


def check(spec: dict[str, Any]) -> list[str]:
    """Every problem of the document's models, one line each, naming the model and field."""
    models = spec_models(spec)
    if not models:
        return [f"no models: the {CREATE_OPERATION} operation's request body names none "
                "(a discriminator mapping, a oneOf, or a model enum)"]
    return [f"model {model.name}: {problem}" for model in models
            for problem in model_problems(model)]


def behaviours(spec: dict[str, Any]) -> dict[str, ModelBehaviour]:
    """Each model's behaviour; :class:`SpecError` with the first problem if any."""
    problems = check(spec)
    if problems:
        raise SpecError(problems[0])
    return {model.name: ModelBehaviour.from_x_mock(model.name, model.x_mock or {})
            for model in spec_models(spec)}
