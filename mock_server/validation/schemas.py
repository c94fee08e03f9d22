"""Request schemas compiled once: which errors a body has, the most useful one first, and which
of its fields the schema does not know. A ``oneOf`` schema is checked against the branch its
discriminator (``model``) names, then against that branch's cross-field rules."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import jsonschema_rs

from ..domain.defaults import apply_defaults
from ..errors import ApiError, invalid_request
from .messages import broke, describe, dotted, kind, shown, type_name
from .rules import CROSS_FIELD_RULES

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


def _error_rank(error: Any) -> tuple[bool, int, int]:
    """Missing or unknown fields first, then shallow before deep."""
    rank = _KIND_RANK.get(kind(error), 9)
    return rank > 1, len(error.instance_path), rank


class SchemaWithRules:
    """One request schema (a ``oneOf`` alternative, or a schema without one): its compiled
    form and the cross-field rules it lists."""

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


class DiscriminatedSchema:
    """A request schema whose ``oneOf`` branch is chosen by the discriminator property."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.property = schema["discriminator"]["propertyName"]
        self.branches: dict[str, SchemaWithRules] = {}
        for branch_schema in schema["oneOf"]:
            for value in branch_schema["properties"][self.property]["enum"]:
                self.branches[value] = SchemaWithRules(branch_schema)
        self.known = shown(self.branches)

    def unknown_fields(self, body: Any) -> list[tuple[Any, ...]]:
        """Unknown fields of the branch the body names (none while the model is unknown)."""
        if not isinstance(body, dict) or not isinstance(body.get(self.property), str):
            return []
        branch = self.branches.get(body[self.property])
        return [] if branch is None else branch.unknown_fields(body)

    def error(self, body: Any) -> ApiError | None:
        if not isinstance(body, dict):
            return broke(invalid_request(f"request body must be a JSON object, got "
                                         f"{type_name(body)}", None), "type", None)
        known = self.known
        if self.property not in body:
            return broke(invalid_request(f"{self.property} is required; one of {known}",
                                         self.property), "required", self.property)
        branch = self.branches.get(body[self.property]) if isinstance(body[self.property], str) else None
        if branch is None:
            return broke(invalid_request(f"{self.property} must be one of {known}", self.property),
                         "enum", self.property)
        return branch.error(body)


BodyChecker = DiscriminatedSchema | SchemaWithRules
_checkers: dict[int, tuple[dict[str, Any], BodyChecker]] = {}


def body_checker(schema: dict[str, Any]) -> BodyChecker:
    """A cached checker with an ``error(body)`` method for a request body schema."""
    found = _checkers.get(id(schema))
    if found is None or found[0] is not schema:
        checker = DiscriminatedSchema(schema) if "discriminator" in schema else SchemaWithRules(schema)
        found = _checkers[id(schema)] = (schema, checker)
    return found[1]


def drop_unknown_fields(checker: BodyChecker, body: Any) -> list[str]:
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
