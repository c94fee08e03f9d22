"""The vendor contract as the checkers read it: a spec, its schemas, models and task facts.

A :class:`Contract` is built from one document: the shipped spec (:data:`DEFAULT`), the one
the server under test publishes at ``/openapi.json``, or a file given with ``--spec``. The
module-level names are the shipped spec's, for the checkers that always use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema_rs

from mock_server.domain.defaults import apply_defaults
from mock_server.domain.models import ModelBehaviour
from mock_server.models import model_problems, spec_models
from mock_server.spec import load_spec, resolve
from mock_server.validation import body_checker

COMPLETED, FAILED = "completed", "failed"
TERMINAL = frozenset({COMPLETED, FAILED})
CREATE_PATH = "/v1/videos/generations"
TASK_PATH = "/v1/tasks/{task_id}"
REQUEST_SCHEMA = "VideoGenerationRequest"
PUBLISHED_SPEC_PATH = "/openapi.json"


@dataclass(frozen=True)
class ContractModel:
    schema: dict[str, Any]                 # the model's request schema, resolved
    behaviour: ModelBehaviour | None       # None when the document has no usable x-mock


class Contract:
    def __init__(self, spec: dict[str, Any], source: str = "the shipped spec",
                 fallback: Contract | None = None) -> None:
        self.spec = spec
        self.source = source
        self.failure_codes: tuple[str, ...] = tuple(
            spec["components"]["schemas"]["TaskError"]["properties"]["code"]["enum"])
        self.models: dict[str, ContractModel] = {}
        for model in spec_models(spec):
            behaviour = (ModelBehaviour.from_x_mock(model.name, model.x_mock)
                         if model.x_mock is not None and not model_problems(model) else None)
            if behaviour is None and fallback is not None and model.name in fallback.models:
                behaviour = fallback.models[model.name].behaviour
            self.models[model.name] = ContractModel(model.schema, behaviour)
        self._schemas: dict[str, dict[str, Any]] = {}
        self._validators: dict[str, jsonschema_rs.Validator] = {}

    def schema(self, name: str) -> dict[str, Any]:
        """A component schema with every ``$ref`` resolved (one object per name, for caches)."""
        if name not in self._schemas:
            self._schemas[name] = resolve(self.spec, self.spec["components"]["schemas"][name])
        return self._schemas[name]

    def validator(self, name: str) -> jsonschema_rs.Validator:
        if name not in self._validators:
            self._validators[name] = jsonschema_rs.Draft4Validator(self.schema(name),
                                                                    validate_formats=True)
        return self._validators[name]

    def schema_problems(self, name: str, document: Any) -> list[str]:
        """Why ``document`` does not match the named schema (empty when it does)."""
        return [f"{name} schema: {error.message} at /{'/'.join(map(str, error.instance_path))}"
                for error in self.validator(name).iter_errors(document)]

    def price(self, body: Any) -> float | None:
        """Credits a create with this body would reserve, or None if the service must refuse
        it. A model without a known price counts as infinitely dear, so a cap never lets it
        through by accident."""
        if body_checker(self.schema(REQUEST_SCHEMA)).error(body) is not None:
            return None
        model = self.models[body["model"]]
        if model.behaviour is None:
            return math.inf
        return float(model.behaviour.credits_for(apply_defaults(model.schema, body)))

    def simple_body(self, prompt: str) -> dict[str, Any] | None:
        """The first ``{"model", "prompt"}`` body the document accepts: the lifecycle's task."""
        for name in self.models:
            body = {"model": name, "prompt": prompt}
            if self.price(body) is not None:
                return body
        return None


DEFAULT = Contract(load_spec())


def published(base_url: str, timeout: float = 10.0) -> Contract:
    """The contract the server at ``base_url`` publishes at ``/openapi.json`` (the mock does;
    models it does not price fall back to the shipped spec's rules), else the shipped one."""
    try:
        answer = httpx.get(base_url.rstrip("/") + PUBLISHED_SPEC_PATH, timeout=timeout)
        spec = answer.json() if answer.status_code == 200 else None
        if isinstance(spec, dict) and REQUEST_SCHEMA in spec.get("components", {}).get("schemas", {}):
            return Contract(spec, f"{base_url.rstrip('/')}{PUBLISHED_SPEC_PATH}", fallback=DEFAULT)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        pass
    return DEFAULT


def from_file(path: str) -> Contract:
    return Contract(load_spec(path), path, fallback=DEFAULT)


# The shipped spec's contract under the names the checkers import.
SPEC: dict[str, Any] = DEFAULT.spec
FAILURE_CODES = DEFAULT.failure_codes
MODELS = DEFAULT.models
schema = DEFAULT.schema
validator = DEFAULT.validator
schema_problems = DEFAULT.schema_problems
