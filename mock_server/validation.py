"""Request validation that names the offending field and says what was expected.

Connexion's stock validators echo the whole body and ignore the ``oneOf`` discriminator. These
validators plug into Connexion's ``validator_map`` instead: the body validator picks the
``oneOf`` branch by ``model``, validates with ``jsonschema_rs`` (compiled once per schema
object, not per request) and turns the most relevant error into the vendor envelope.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import mock_server.quiet_imports  # noqa: F401 - before Connexion: see there

import jsonschema_rs
from connexion.lifecycle import ConnexionRequest
from connexion.validators import AbstractRequestBodyValidator, ParameterValidator
from starlette.types import Message, Receive, Scope

from .domain.defaults import apply_defaults
from .errors import ApiError, invalid_request
from .journal import IGNORED_FIELDS_STATE_KEY
from .violations import pointer

BODY_STATE_KEY = "json_body"
WARN_UNKNOWN_FIELDS = "warn"
LEFT_OUT = object()   # an optional request body that was not sent (handlers then see {})
_compiled: dict[int, CompiledSchema] = {}


def compiled(schema: dict[str, Any]) -> CompiledSchema:
    """The compiled validator for ``schema``; schema objects live as long as the app."""
    found = _compiled.get(id(schema))
    if found is None or found.schema is not schema:
        found = _compiled[id(schema)] = CompiledSchema(schema)
    return found


class CompiledSchema:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._validator = jsonschema_rs.Draft4Validator(schema, validate_formats=True)

    def is_valid(self, instance: Any) -> bool:
        return self._validator.is_valid(instance)

    def unknown_fields(self, instance: Any) -> list[tuple[Any, ...]]:
        """Paths of the fields ``additionalProperties: false`` refuses, shallowest first."""
        if self._validator.is_valid(instance):
            return []
        paths = [(*error.instance_path, name) for error in self._validator.iter_errors(instance)
                 if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties)
                 for name in error.kind.unexpected]
        return sorted(set(paths), key=lambda path: (len(path), [str(part) for part in path]))

    def first_error(self, instance: Any, prefix: tuple[str, ...] = (),
                    part: str = "body") -> ApiError | None:
        """The most useful of the errors (see :func:`_error_rank`)."""
        if self._validator.is_valid(instance):
            return None
        errors = list(self._validator.iter_errors(instance))
        best = min(errors, key=_error_rank)
        return describe(best, self.schema, prefix, part)

    def iter_errors(self, instance: Any) -> Iterable[Any]:
        """Every error, as ``jsonschema_rs`` reports them."""
        return self._validator.iter_errors(instance)


_KIND_RANK = {"Required": 0, "AdditionalProperties": 1, "Type": 2}


def _kind(error: Any) -> str:
    return type(error.kind).__name__


def _error_rank(error: Any) -> tuple[bool, int, int]:
    """Missing or unknown fields first, then shallow before deep."""
    rank = _KIND_RANK.get(_kind(error), 9)
    return rank > 1, len(error.instance_path), rank


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


def _subschema(root: dict[str, Any], schema_path: Iterable[Any]) -> dict[str, Any]:
    """The schema object holding the failed keyword (the path minus the keyword)."""
    parts = list(schema_path)[:-1]
    node: Any = root
    for part in parts:
        node = node[int(part)] if isinstance(node, list) else node[part]
    return node


def _show(values: Iterable[Any]) -> str:
    return "[" + ", ".join(json.dumps(v) for v in values) + "]"


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "number", str: "string", list: "array", dict: "object"}.get(
        type(value), type(value).__name__)


def keyword(error: Any) -> str:
    """The JSON Schema keyword an error broke (``Required`` -> ``required``)."""
    name = _kind(error)
    return name[:1].lower() + name[1:]


def error_path(error: Any) -> tuple[Any, ...]:
    """Where the error is; for a missing or unknown property, that property."""
    path = tuple(error.instance_path)
    name = _kind(error)
    if name == "Required":
        return (*path, error.kind.property)
    if name == "AdditionalProperties":
        return (*path, error.kind.unexpected[0])
    return path


def describe(error: Any, root: dict[str, Any], prefix: tuple[str, ...] = (),
             part: str = "body") -> ApiError:
    """Turn one ``jsonschema_rs`` error into an ``invalid_request`` with ``param``, a message,
    the rule broken and a pointer (``/body/...`` unless ``part`` says otherwise)."""
    described = _describe(error, root, prefix)
    described.rule = keyword(error)
    described.pointer = pointer((part, *prefix, *error_path(error)))
    return described


def _describe(error: Any, root: dict[str, Any], prefix: tuple[str, ...] = ()) -> ApiError:
    path = prefix + tuple(error.instance_path)
    kind = error.kind
    name = _kind(error)
    schema = _subschema(root, error.schema_path)
    field = field_param(path)
    label = dotted(path) or "request body"

    if name == "Required":
        missing = (*path, kind.property)
        return invalid_request(f"{dotted(missing)} is required", field_param(missing))
    if name == "AdditionalProperties":
        unexpected = (*path, kind.unexpected[0])
        allowed = ", ".join(schema.get("properties", {}))
        return invalid_request(f"{dotted(unexpected)} is not a known field; allowed fields: "
                               f"{allowed}", field_param(unexpected))
    if name == "Enum":
        return invalid_request(f"{label} must be one of {_show(schema['enum'])}", field)
    if name == "Type":
        expected = schema.get("type")
        return invalid_request(
            f"{label} must be of type {expected}, got {_type_name(error.instance)}", field)
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


# --- cross-field rules that OpenAPI 3.0 cannot state (listed in the spec by id) -----------

CrossFieldRule = Callable[[dict[str, Any]], ApiError | None]


def _multi_shot(body: dict[str, Any]) -> bool:
    return bool((body.get("model_params") or {}).get("multi_shot"))


def _prompt_empty_only_multi_shot(body: dict[str, Any]) -> ApiError | None:
    params = body.get("model_params") or {}
    if body.get("prompt", "").strip():
        return None
    if params.get("multi_shot") and params.get("shot_type") == "customize":
        return None
    return invalid_request(
        "prompt must not be empty unless model_params.multi_shot is true and "
        "model_params.shot_type is customize", "prompt")


def _shot_type_required(body: dict[str, Any]) -> ApiError | None:
    if _multi_shot(body) and "shot_type" not in body["model_params"]:
        return invalid_request(
            "model_params.shot_type is required when model_params.multi_shot is true",
            "model_params.shot_type")
    return None


def _shot_durations_sum(body: dict[str, Any]) -> ApiError | None:
    if not _multi_shot(body):
        return None
    total = body.get("duration")
    shots = body["model_params"].get("multi_prompt") or []
    try:
        durations = [float(shot["duration"]) for shot in shots]
    except ValueError:
        return invalid_request("model_params.multi_prompt durations must be numbers of seconds, "
                               "written as strings", "model_params.multi_prompt")
    if not shots or sum(durations) != total:
        return invalid_request(
            f"model_params.multi_prompt durations must add up to duration ({total}), "
            f"got {sum(durations):g}", "model_params.multi_prompt")
    return None


CROSS_FIELD_RULES: dict[str, CrossFieldRule] = {
    "multi-shot.shot-type-required": _shot_type_required,
    "multi-shot.prompt-empty-only-multi-shot": _prompt_empty_only_multi_shot,
    "multi-shot.shot-durations-sum": _shot_durations_sum,
}


class Branch:
    """One ``oneOf`` alternative: its compiled schema and its cross-field rules."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = compiled(schema)
        self.rules = [(rule["id"], CROSS_FIELD_RULES[rule["id"]])
                      for rule in schema.get("x-cross-field-rules", [])]

    def unknown_fields(self, body: Any) -> list[tuple[Any, ...]]:
        return self.schema.unknown_fields(body)

    def error(self, body: dict[str, Any]) -> ApiError | None:
        error = self.schema.first_error(body)
        if error is not None or not self.rules:
            return error
        # The rules see the request as the mock keeps it, the spec's defaults filled in (a
        # missing duration is the model's default, which only the spec knows).
        request = apply_defaults(self.schema.schema, body)
        for rule_id, rule in self.rules:
            error = rule(request)
            if error is not None:
                return broke(error, rule_id, error.param)
        return None


def broke(error: ApiError, rule: str, param: str | None, part: str = "body") -> ApiError:
    """``error`` marked as breaking ``rule`` at the (dotted) field ``param``."""
    error.rule = rule
    error.pointer = pointer((part, *(param.split(".") if param else ())))
    return error


class DiscriminatedSchema:
    """A request schema whose ``oneOf`` branch is chosen by the discriminator property."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.property = schema["discriminator"]["propertyName"]
        self.branches: dict[str, Branch] = {}
        for branch_schema in schema["oneOf"]:
            for value in branch_schema["properties"][self.property]["enum"]:
                self.branches[value] = Branch(branch_schema)
        self.known = _show(self.branches)

    def unknown_fields(self, body: Any) -> list[tuple[Any, ...]]:
        """Unknown fields of the branch the body names (none while the model is unknown)."""
        if not isinstance(body, dict) or not isinstance(body.get(self.property), str):
            return []
        branch = self.branches.get(body[self.property])
        return [] if branch is None else branch.unknown_fields(body)

    def error(self, body: Any) -> ApiError | None:
        if not isinstance(body, dict):
            return broke(invalid_request(f"request body must be a JSON object, got "
                                         f"{_type_name(body)}", None), "type", None)
        known = self.known
        if self.property not in body:
            return broke(invalid_request(f"{self.property} is required; one of {known}",
                                         self.property), "required", self.property)
        branch = self.branches.get(body[self.property]) if isinstance(body[self.property], str) else None
        if branch is None:
            return broke(invalid_request(f"{self.property} must be one of {known}", self.property),
                         "enum", self.property)
        return branch.error(body)


_discriminated: dict[int, tuple[dict[str, Any], Any]] = {}


def body_checker(schema: dict[str, Any]) -> Any:
    """A cached checker with an ``error(body)`` method for a request body schema."""
    found = _discriminated.get(id(schema))
    if found is None or found[0] is not schema:
        checker = DiscriminatedSchema(schema) if "discriminator" in schema else Branch(schema)
        found = _discriminated[id(schema)] = (schema, checker)
    return found[1]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


MAX_NESTING = 32
MAX_INTEGER_DIGITS = 4300  # Python's own conversion limit; beyond it say so plainly


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        raise ValueError(f"an integer with {digits} digits is too large")
    return int(text)


def _inspect(value: Any) -> None:
    """Refuse bodies nested deeper than any request of this API needs, and numbers too large
    for a float (JSON allows ``1e400``; it would reach the validator as infinity). Iterative,
    so hostile nesting cannot exhaust the stack."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(value, ())]
    while stack:
        node, path = stack.pop()
        if len(path) >= MAX_NESTING:
            raise invalid_request(f"request body is nested more than {MAX_NESTING} levels deep", None)
        if isinstance(node, float) and math.isinf(node):
            raise invalid_request(f"{dotted(path) or 'request body'} is a number too large to "
                                  "represent", field_param(path))
        if isinstance(node, str) and not _is_unicode(node):
            raise invalid_request(f"{dotted(path) or 'request body'} contains an unpaired "
                                  "surrogate escape (\\ud800-\\udfff)", field_param(path))
        if isinstance(node, dict):
            for key in node:
                if not _is_unicode(key):
                    raise invalid_request(f"a key of {dotted(path) or 'the request body'} contains "
                                          "an unpaired surrogate escape", field_param(path))
            stack.extend((child, (*path, key)) for key, child in node.items())
        elif isinstance(node, list):
            stack.extend((child, (*path, index)) for index, child in enumerate(node))


def _is_unicode(text: str) -> bool:
    """JSON allows escapes like ``\\ud800`` that are not characters; nothing downstream can
    encode them, so they are refused at the door."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class MediaTypes(dict):
    """Body validators by media type, looked up case-insensitively (``Application/JSON``):
    Connexion accepts the type case-insensitively but looks the validator up verbatim."""

    def __getitem__(self, media_type: str) -> Any:
        return super().__getitem__(media_type.lower())


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_bounded_int,
                            object_pairs_hook=_no_duplicate_keys)


def parse_json(raw: bytes) -> Any:
    """Strict JSON: UTF-8 only, no NaN/Infinity, no duplicate keys, finite numbers, bounded
    nesting; every problem is a 400 that says what is wrong (rule ``json``)."""
    try:
        return _parse_json(raw)
    except ApiError as error:
        raise broke(error, "json", error.param) from None


def _parse_json(raw: bytes) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise invalid_request(f"request body is not valid UTF-8 (byte {exc.start})", None) from None
    try:
        if text.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        body = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise invalid_request(f"request body is not valid JSON: {exc.msg} at line {exc.lineno} "
                              f"column {exc.colno}", None) from None
    except ValueError as exc:
        raise invalid_request(f"request body is not valid JSON: {exc}", None) from None
    except RecursionError:
        raise invalid_request(f"request body is nested more than {MAX_NESTING} levels deep",
                              None) from None
    _inspect(body)
    return body


def drop_unknown_fields(checker: Any, body: Any) -> list[str]:
    """Remove the fields the schema does not know from ``body``; their dotted names.

    Removing a field cannot make another one unknown, so one pass finds them all; a field
    inside an unknown one goes with it."""
    removed: list[tuple[Any, ...]] = []
    for path in checker.unknown_fields(body):
        if any(path[:len(gone)] == gone for gone in removed):
            continue
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        del parent[path[-1]]
        removed.append(path)
    return [dotted(path) for path in removed]


def body_validator_class(max_body_bytes: int,
                         unknown_fields: str = "reject") -> type[AbstractRequestBodyValidator]:
    """A Connexion body validator class bound to this app's body size limit.

    With ``unknown_fields="warn"``, the vendor API's bodies (its API is registered without
    Connexion's ``strict_validation``; the admin API with it) lose the fields their schema
    does not know instead of being refused, and the request's state names them."""
    tolerate_unknown = unknown_fields == WARN_UNKNOWN_FIELDS

    class SpecBodyValidator(AbstractRequestBodyValidator):
        async def wrap_receive(self, receive: Receive, *, scope: Scope) -> tuple[Receive, Scope]:
            """Read the whole body whatever the framing: Connexion's version treats a missing
            Content-Length (chunked uploads) as no body at all."""
            messages: list[Message] = []

            async def stream() -> AsyncIterator[bytes]:
                more_body = True
                while more_body:
                    message = await receive()
                    messages.append(message)
                    more_body = message.get("more_body", False)
                    yield message.get("body", b"")

            body = await self._parse(stream(), scope=scope)
            if tolerate_unknown and not self._strict_validation and isinstance(body, dict):
                ignored = drop_unknown_fields(body_checker(self._schema), body)
                if ignored:
                    scope.setdefault("state", {})[IGNORED_FIELDS_STATE_KEY] = ignored
            self._validate(body)
            return self._insert_messages(receive, messages=messages), scope

        async def _parse(self, stream: Any, scope: Scope) -> Any:
            chunks: list[bytes] = []
            size = 0
            async for chunk in stream:
                size += len(chunk)
                if size > max_body_bytes:
                    raise ApiError(413, f"request body is larger than {max_body_bytes} bytes",
                                   rule="maxBodyBytes", pointer="/body")
                chunks.append(chunk)
            raw = b"".join(chunks)
            if not raw.strip():
                if self._required:
                    raise broke(invalid_request("request body is required", None), "required",
                                None)
                scope.setdefault("state", {})[BODY_STATE_KEY] = {}
                return LEFT_OUT
            body = parse_json(raw)
            # Handlers read the parsed body from the scope instead of parsing it again.
            scope.setdefault("state", {})[BODY_STATE_KEY] = body
            return body

        def _validate(self, body: Any) -> None:
            if body is LEFT_OUT:
                return
            error = body_checker(self._schema).error(body)
            if error is not None:
                raise error

    return SpecBodyValidator


_LOCATIONS: dict[str, Callable[[ConnexionRequest], Any]] = {
    "path": lambda request: request.path_params,
    "query": lambda request: request.query_params,
    "header": lambda request: request.headers,
    "cookie": lambda request: request.cookies,
}


class SpecParameterValidator(ParameterValidator):
    """Path, query and header parameters, with the spec's ``x-error-code`` for each."""

    def validate_request(self, request: ConnexionRequest) -> None:
        if self.strict_validation:
            known = {param["name"] for param in self.parameters.get("query", [])}
            for name in request.query_params:
                if name not in known:
                    allowed = ", ".join(sorted(known)) or "none"
                    raise broke(invalid_request(f"unknown query parameter {name!r}; allowed: "
                                                f"{allowed}", name), "unknownParameter", name,
                                "query")
        # Only the locations this operation has parameters in: resolving the query string
        # costs more than the whole check of a path parameter.
        for location, params in self.parameters.items():
            values = _LOCATIONS[location](request)
            for param in params:
                self._check(param, values.get(param["name"]))

    @staticmethod
    def _check(param: dict[str, Any], value: Any) -> None:
        name = param["name"]
        code = param.get("x-error-code", "")
        if value is None:
            if param.get("required"):
                raise ApiError(400, f"{name} is required", code=code, param=name,
                               rule="required", pointer=pointer((param["in"], name)))
            return
        schema = param.get("schema", {})
        error = compiled(schema).first_error(value, (name,), part=param["in"])
        if error is not None:
            error.code = code or error.code
            raise error
