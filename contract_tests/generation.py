"""Keeping generated requests inside the rules OpenAPI 3.0 cannot state.

Schemathesis generates bodies from the schema alone, so a "valid" body can still break a
cross-field rule (listed in the spec as ``x-cross-field-rules``) or point ``callback_url``
at an internal host (or, against the mock, script it with a `[mock:` tag). The real service
rejects those, so they are not positive data. ``prepare`` repairs such bodies conservatively:
it only rewrites values that are already schema-valid, and only in positive cases.
"""

from __future__ import annotations

import itertools
from typing import Any

import schemathesis
from schemathesis import GenerationMode
from schemathesis.core.result import Err
from schemathesis.schemas import APIOperation, BaseSchema

from mock_server.callbacks.policy import CallbackPolicy

SAFE_CALLBACK_URL = "https://example.com/evolink-callback"
MAGIC_PREFIX = "[mock:"
IDEMPOTENCY_HEADER = "Idempotency-Key"
_policy = CallbackPolicy()
_keys = itertools.count(1)


def vendor_generation(schema: BaseSchema) -> BaseSchema:
    """Positive and negative cases, as the vendor API judges them: unknown query parameters
    are ignored there (real clients add cache-busters), so they are not negative data. The
    one setting for the contract run, the default suite and the bench."""
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                    allow_extra_parameters=False)
    return schema


def conform(body: Any) -> Any:
    """A copy of ``body`` that keeps the cross-field rules and the callback host policy."""
    if not isinstance(body, dict):
        return body
    body = dict(body)
    params = body.get("model_params")
    if isinstance(params, dict) and params.get("multi_shot") is True:
        # Shot durations must add up to `duration`; dropping multi-shot is the simplest repair.
        body["model_params"] = {**params, "multi_shot": False}
    prompt = body.get("prompt")
    if isinstance(prompt, str) and MAGIC_PREFIX in prompt:
        # `[mock:...]` in a prompt scripts the mock (and a malformed one is refused); a
        # generated prompt must not script anything by accident.
        prompt = body["prompt"] = prompt.replace(MAGIC_PREFIX, "[mock ")
    if isinstance(prompt, str) and not prompt.strip():
        body["prompt"] = prompt + "a"
    url = body.get("callback_url")
    if (isinstance(url, str) and url.startswith("https://") and len(url) <= 2048
            and _policy.refusal_at_create(url)):
        body["callback_url"] = SAFE_CALLBACK_URL
    return body


def prepare(case: schemathesis.Case) -> schemathesis.Case:
    """Repair a positive case before it is sent (all phases: coverage, examples, fuzzing).

    Negative cases are left alone: they must stay invalid.
    """
    meta = case.meta
    if meta is not None and meta.generation.mode.is_positive and case.body is not None:
        case.body = conform(case.body)
    if meta is not None and meta.generation.mode.is_positive and case.headers \
            and IDEMPOTENCY_HEADER in case.headers:
        # Generated keys repeat (Hypothesis favours small examples), and a key reused with
        # another body is refused by design (409): each positive case gets a key of its own.
        case.headers[IDEMPOTENCY_HEADER] = f"schemathesis-case-{next(_keys):08d}"
    return case


def operations(schema: BaseSchema) -> list[APIOperation]:
    """Every operation of ``schema``; one Schemathesis cannot use raises its InvalidSchema."""
    found = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()
        found.append(result.ok())
    return found
