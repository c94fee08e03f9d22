"""The validators Connexion runs, plugged into its ``validator_map``: the body validator (whole
body whatever the framing, strict JSON, the size limit, unknown fields dropped or refused) and
the parameter validator (the spec's ``x-error-code`` for each parameter)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import mock_server.quiet_imports  # noqa: F401 - before Connexion: see there

from connexion.lifecycle import ConnexionRequest
from connexion.validators import AbstractRequestBodyValidator, ParameterValidator
from starlette.types import Message, Receive, Scope

from ..errors import body_too_large, invalid_request, parameter_missing
from ..scope import IGNORED_FIELDS_STATE_KEY
from .messages import broke
from .schemas import body_checker, compiled, drop_unknown_fields
from .strict_json import parse_json

BODY_STATE_KEY = "json_body"
WARN_UNKNOWN_FIELDS = "warn"
LEFT_OUT = object()   # an optional request body that was not sent (handlers then see {})


class MediaTypes(dict):
    """Body validators by media type, looked up case-insensitively (``Application/JSON``):
    Connexion accepts the type case-insensitively but looks the validator up verbatim."""

    def __getitem__(self, media_type: str) -> Any:
        return super().__getitem__(media_type.lower())


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
                    raise body_too_large(max_body_bytes)
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
                raise parameter_missing(name, param["in"], code)
            return
        schema = param.get("schema", {})
        error = compiled(schema).first_error(value, (name,), part=param["in"])
        if error is not None:
            error.code = code or error.code
            raise error
