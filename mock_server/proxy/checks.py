"""Judging one exchange against the spec: the request with the mock's own validators, the
answer with the spec's response schemas.

Requests go through the very stack ``serve`` uses (Connexion's routing, security and our
validators, see :mod:`mock_server.validation`), run in process on a mock whose handlers
only note that the request got through. So the proxy and ``evolink-contract har`` refuse
exactly what the mock refuses, with the same envelope, and find the same violations.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Message, Scope

from ..app import MockApp, NoSlashRedirects
from ..settings import Settings
from ..spec import operations, resolve
from ..validation import compiled, describe, error_path, keyword
from ..violations import RESPONSE, VIOLATIONS_EXTENSION, Violation, pointer

ACCEPTED_EXTENSION = "evolink_mock.proxy.accepted"


async def _accept(request: Request, _service: Any) -> Response:
    """The handler of every vendor operation in the gate: the request got through."""
    request.scope["extensions"][ACCEPTED_EXTENSION] = True
    return Response(status_code=204)


def gate_app(settings: Settings) -> MockApp:
    """A mock whose vendor operations accept instead of acting; its admin API is the usual one
    (the proxy serves it: journal, health, dashboard)."""
    return MockApp(settings, vendor_handler=_accept)


@dataclass
class Verdict:
    """What the gate made of a request: accepted, or the local answer and why."""
    accepted: bool
    operation: str | None
    violations: list[Violation]
    status: int = 204
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""


class RequestGate:
    """Runs requests through a gate app's stack in process, without a socket."""

    def __init__(self, app: MockApp) -> None:
        self.app = app
        self._stack = NoSlashRedirects(app.asgi)

    async def check(self, scope: Scope, body: bytes) -> Verdict:
        """``scope`` must carry an ``extensions`` dict: routing and violations land there
        (shared with the caller's journal)."""
        extensions = scope.setdefault("extensions", {})
        extensions.pop(ACCEPTED_EXTENSION, None)
        delivered = False
        answer: dict[str, Any] = {"status": 500, "headers": [], "body": bytearray()}

        async def receive() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                answer["body"].extend(message.get("body", b""))

        await self._stack(scope, receive, send)
        operation = extensions.get("connexion_routing", {}).get("operation_id")
        violations = [Violation(**found) for found in extensions.get(VIOLATIONS_EXTENSION, [])]
        if extensions.get(ACCEPTED_EXTENSION):
            return Verdict(True, operation, violations)
        return Verdict(False, operation, violations, answer["status"], answer["headers"],
                       bytes(answer["body"]))


def openapi_nullable(schema: Any) -> Any:
    """OpenAPI 3.0's ``nullable: true`` as JSON Schema (``type: [T, "null"]``), in place."""
    if isinstance(schema, dict):
        if schema.get("nullable") is True and isinstance(schema.get("type"), str):
            schema["type"] = [schema["type"], "null"]
        for value in schema.values():
            openapi_nullable(value)
    elif isinstance(schema, list):
        for value in schema:
            openapi_nullable(value)
    return schema


@dataclass
class DocumentedResponse:
    schemas: dict[str, dict[str, Any]]      # media type -> resolved schema ({} = any body)
    headers: dict[str, dict[str, Any]]      # lower-case name -> resolved header object


class ResponseChecker:
    """Every answer against what the spec documents for its operation and status: the status
    itself, the media type, the body schema (the error envelope for errors) and headers."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.documented: dict[str, dict[str, DocumentedResponse]] = {}
        for _path, _method, operation in operations(spec):
            by_status = {}
            for status, declared in operation.get("responses", {}).items():
                response = openapi_nullable(resolve(spec, declared))
                by_status[str(status)] = DocumentedResponse(
                    {media.lower(): body.get("schema", {})
                     for media, body in response.get("content", {}).items()},
                    {name.lower(): header for name, header in response.get("headers", {}).items()})
            self.documented[operation["operationId"]] = by_status

    def _response(self, operation: str, status: int) -> DocumentedResponse | None:
        by_status = self.documented[operation]
        return (by_status.get(str(status)) or by_status.get(f"{status // 100}XX")
                or by_status.get("default"))

    def check(self, operation: str | None, status: int, headers: Mapping[str, str],
              body: bytes | None) -> list[Violation]:
        """``headers`` with lower-case names; ``body`` None when it is not known (a HAR file
        without content): the rest is still checked. No operation (the request matched
        none): nothing to compare the answer with."""
        if operation is None or operation not in self.documented:
            return []
        documented = self._response(operation, status)
        if documented is None:
            listed = ", ".join(self.documented[operation])
            return [Violation(RESPONSE, "/status", "status",
                              f"HTTP {status} is not documented for {operation} (documented: {listed})")]
        problems = self._headers(documented, headers)
        if not documented.schemas or body is None:
            return problems
        media_type = headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in documented.schemas:
            return [*problems, Violation(
                RESPONSE, "/header/content-type", "content-type",
                f"content type {media_type or '(none)'!r} is not documented for HTTP {status} of "
                f"{operation} (documented: {', '.join(documented.schemas)})")]
        schema = documented.schemas[media_type]
        if not schema:
            return problems
        try:
            document = json.loads(body)
        except ValueError as exc:
            return [*problems, Violation(RESPONSE, "/body", "json", f"body is not JSON: {exc}")]
        return problems + self._body(schema, document)

    @staticmethod
    def _body(schema: dict[str, Any], document: Any) -> list[Violation]:
        checker = compiled(schema)
        if checker.is_valid(document):
            return []
        return [Violation(RESPONSE, pointer(("body", *error_path(error))), keyword(error),
                          describe(error, schema).message)
                for error in checker.iter_errors(document)]

    @staticmethod
    def _headers(documented: DocumentedResponse, headers: Mapping[str, str]) -> list[Violation]:
        problems = []
        for name, header in documented.headers.items():
            value = headers.get(name)
            if value is None:
                if header.get("required"):
                    problems.append(Violation(RESPONSE, pointer(("header", name)), "required",
                                              f"header {name} is required"))
                continue
            schema = header.get("schema", {})
            typed: Any = value
            if schema.get("type") in ("integer", "number"):
                try:
                    typed = int(value) if schema["type"] == "integer" else float(value)
                except ValueError:
                    typed = value
            error = compiled(schema).first_error(typed, (name,), part="header")
            if error is not None:
                problems.append(Violation(RESPONSE, error.pointer or "", error.rule or "schema",
                                          error.message))
        return problems
