"""Loading the OpenAPI documents: the one source of truth for routes, validation and errors."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SPEC_DIR = Path(__file__).resolve().parents[1] / "spec"
VENDOR_SPEC = SPEC_DIR / "evolink-video.yaml"
ADMIN_SPEC = SPEC_DIR / "mock-admin.yaml"

HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
HTTPS_ONLY = "^https://"
HTTP_OR_HTTPS = "^https?://"
# libyaml's parser where PyYAML was built with it (the wheels are): the vendor spec parses in
# ~17 ms instead of ~210 ms with the pure-Python one, and every process that serves the mock or
# builds an app parses the vendor and admin specs once. Same documents, same errors.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SpecError(ValueError):
    """A document the mock cannot run on; the message is one line that says why."""


@cache
def _load(path: Path) -> dict[str, Any]:
    try:
        with path.open(encoding="utf-8") as fh:
            document = yaml.load(fh, Loader=_LOADER)   # JSON is YAML too
    except OSError as exc:
        raise SpecError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise SpecError(f"{path}: not valid YAML or JSON{at}") from None
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        raise SpecError(f"{path}: not an OpenAPI document (no paths)")
    return document


def load_spec(path: Path | str | None = None, *, allow_http_callbacks: bool = False) -> dict[str, Any]:
    """A private copy of a spec document (the shipped vendor spec when ``path`` is None).

    With ``allow_http_callbacks`` (the user opted into local rehearsal with
    ``--allow-callback-host``) the https-only pattern of ``callback_url`` is widened to
    http or https; the host policy still decides which hosts may be used.
    """
    spec = copy.deepcopy(_load(Path(path).resolve() if path is not None else VENDOR_SPEC))
    if allow_http_callbacks:
        for schema in _walk(spec):
            if schema.get("pattern") == HTTPS_ONLY and schema.get("format") == "uri":
                schema["pattern"] = HTTP_OR_HTTPS
    return spec


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def resolve(spec: dict[str, Any], node: Any) -> Any:
    """``node`` with every local ``$ref`` replaced by its target (our specs have no cycles)."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = spec
            for part in node["$ref"].lstrip("#/").split("/"):
                target = target[part]
            return resolve(spec, target)
        return {key: resolve(spec, value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(spec, value) for value in node]
    return node


def operations(spec: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for every operation in the document."""
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            if isinstance(operation, dict) and "operationId" in operation:
                yield path, method, operation


def path_methods(spec: dict[str, Any], base_path: str = "", *,
                 literal: bool = False) -> list[tuple[Any, str]]:
    """(path regex, Allow header value) for every path of a document; with ``literal``,
    (path, Allow) for the paths without parameters only.

    Starlette registers one route per method, so its 405 names only the first route's
    methods; the Allow header is built from the spec instead.
    """
    table: list[tuple[Any, str]] = []
    for path, item in spec.get("paths", {}).items():
        methods = sorted(m.upper() for m in item if m in HTTP_METHODS)
        if "GET" in methods:
            methods.append("HEAD")
        allow = ", ".join(sorted(methods))
        if literal:
            if "{" not in path:
                table.append((base_path + path, allow))
            continue
        pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(base_path + path))
        table.append((re.compile(f"^{pattern}$"), allow))
    return table


def failure_codes(spec: dict[str, Any]) -> tuple[str, ...]:
    """The vendor's task failure codes (``TaskError.code``'s enum), in the spec's order: what
    a failed task's ``error.code`` may be and what ``fail=`` may script."""
    return tuple(spec["components"]["schemas"]["TaskError"]["properties"]["code"]["enum"])


def error_codes(spec: dict[str, Any]) -> dict[tuple[str, int], tuple[str, str]]:
    """(operationId, status) -> (code, type), read from each error response's example.

    The vendor documents different codes for the same status on different endpoints; the
    spec's examples are where those facts live.
    """
    table: dict[tuple[str, int], tuple[str, str]] = {}
    for _path, _method, operation in operations(spec):
        for status, declared in operation.get("responses", {}).items():
            if not status.isdigit() or int(status) < 400:
                continue
            response = resolve(spec, declared)
            example = response.get("content", {}).get("application/json", {}).get("example")
            if example:
                error = example["error"]
                table[(operation["operationId"], int(status))] = (error["code"], error["type"])
    return table
