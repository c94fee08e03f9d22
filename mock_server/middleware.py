"""Connexion's own middleware stack, with per-request work that depends only on the spec done once.

Connexion 3.3 rebuilds a URI parser, a parameter validator and a body validator for every
request, and runs every request through the Swagger UI's router before its own. These
subclasses keep each middleware's behaviour and order (the same checks, errors and scope
changes) and move that work to start-up; ``bench/`` measures what it buys.
"""

from __future__ import annotations

import typing as t

import mock_server.quiet_imports  # noqa: F401 - before Connexion: see there

from connexion import utils
from connexion.middleware.context import ContextMiddleware
from connexion.middleware.main import ConnexionMiddleware
from connexion.middleware.request_validation import (
    RequestValidationAPI,
    RequestValidationMiddleware,
    RequestValidationOperation,
)
from connexion.middleware.response_validation import ResponseValidationMiddleware
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.types import Receive, Scope, Send


class DocsOnlySwaggerUI(SwaggerUIMiddleware):
    """Runs the Swagger UI router only for paths it could serve (spec files, ``/ui``).

    Its routes are literal up to their first ``{``, so a path that starts with none of
    those literal prefixes cannot match one (nor redirect to one: the prefixes end before
    any trailing slash) and goes straight to the next middleware, as the router's default
    would send it.
    """

    def add_api(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().add_api(*args, **kwargs)
        self.prefixes = tuple(sorted(set(_literal_prefixes(self.router.routes, ""))))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(self.prefixes):
            await self.app(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _literal_prefixes(routes: t.Iterable[BaseRoute], parent: str) -> t.Iterator[str]:
    for route in routes:
        path = parent + getattr(route, "path", "")
        if isinstance(route, Mount) and route.routes:
            yield from _literal_prefixes(route.routes, path)
        else:
            yield path.split("{", 1)[0].rstrip("/")


class PreparedRequestValidation(RequestValidationOperation):
    """Connexion's request validation with its validators built once per operation.

    Our parameter and body validators keep no per-request state, so one instance of each
    serves every request; the checks, their order and their errors are Connexion's.
    """

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        operation = self._operation
        self._parameter_validator = self._validator_map["parameter"](
            operation.parameters,
            uri_parser=operation._uri_parser_class(operation.parameters, operation.body_definition()),
            strict_validation=self.strict_validation,
            security_query_params=self.security_query_params,
        )
        self._body_validators: dict[str, t.Any] = {}
        self._takes_body = bool(operation.request_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._parameter_validator.validate(scope)
        # Without a request body in the spec, Connexion accepts any Content-Type (nothing to
        # consume) and finds no body schema: the header need not even be read.
        if self._takes_body:
            mime_type, _encoding = self.extract_content_type(scope["headers"])
            self.validate_mime_type(mime_type)
            validator = self._body_validator(mime_type)
            if validator is not None:
                receive, scope = await validator.wrap_receive(receive, scope=scope)
        await self.next_app(scope, receive, send)

    def _body_validator(self, mime_type: str) -> t.Any:
        """The validator for this media type (``None``: no body check), built on first use.

        Only the types the operation accepts get here (``validate_mime_type`` refused the
        others), so the cache stays small. Our body validators read UTF-8 whatever the
        charset: it is not in the key."""
        key = mime_type.lower()
        if key not in self._body_validators:
            self._body_validators[key] = self._new_body_validator(mime_type)
        return self._body_validators[key]

    def _new_body_validator(self, mime_type: str) -> t.Any:
        schema = self._operation.body_schema(mime_type)
        if not schema:
            return None
        try:
            validator_class = self._validator_map["body"][mime_type]
        except KeyError:
            return None     # Connexion, too, skips body validation for such types
        return validator_class(
            schema=schema,
            required=self._operation.request_body.get("required", False),
            nullable=utils.is_nullable(self._operation.body_definition(mime_type)),
            encoding="utf-8",
            strict_validation=self.strict_validation,
            uri_parser=self._parameter_validator.uri_parser,
        )


class PreparedRequestValidationAPI(RequestValidationAPI):
    def make_operation(self, operation: t.Any) -> PreparedRequestValidation:
        return PreparedRequestValidation(self.next_app, operation=operation,
                                         strict_validation=self.strict_validation,
                                         validator_map=self.validator_map)


class PreparedRequestValidationMiddleware(RequestValidationMiddleware):
    api_cls = PreparedRequestValidationAPI


def middleware_stack(validate_responses: bool) -> list[t.Any]:
    """Connexion's default stack, in its order, with the two replacements above, without
    ``ContextMiddleware`` (our handlers read the ASGI scope, never Connexion's context
    variables) and, unless responses are validated, without ``ResponseValidationMiddleware``
    (which then only looks the operation up to pass the request on)."""
    replacements = {SwaggerUIMiddleware: DocsOnlySwaggerUI,
                    RequestValidationMiddleware: PreparedRequestValidationMiddleware}
    unused = {ContextMiddleware, *(() if validate_responses else (ResponseValidationMiddleware,))}
    return [replacements.get(m, m) for m in ConnexionMiddleware.default_middlewares
            if m not in unused]
