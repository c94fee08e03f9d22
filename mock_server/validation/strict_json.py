"""Strict JSON for request bodies: UTF-8 only, no NaN/Infinity, no duplicate keys, finite
numbers, bounded nesting, no unpaired surrogates; every problem is a 400 that says what is
wrong (rule ``json``), never a 500."""

from __future__ import annotations

import json
import math
from typing import Any

from ..errors import ApiError, invalid_request
from .messages import broke, dotted, field_param

MAX_NESTING = 32
MAX_INTEGER_DIGITS = 4300  # Python's own conversion limit; beyond it say so plainly


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


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


_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_int=_bounded_int,
                            object_pairs_hook=_no_duplicate_keys)


def parse_json(raw: bytes) -> Any:
    """The parsed body, or a 400 ``invalid_request`` marked as breaking rule ``json``."""
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
