"""Every error the mock answers, shaped as the vendor's envelope, in one place.

The vendor answers every non-2xx with ``{"error": {"code", "message", "type", "param"}}``
where ``code`` is a string. Code and type for a status differ between endpoints (402 is
``insufficient_quota`` on create but ``quota_exceeded`` on the task query), so the
per-operation values are read from the examples in the spec rather than written here.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import mock_server.quiet_imports  # noqa: F401 - before Connexion: see there

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException
from starlette.responses import Response

from .violations import REQUEST, Violation, note

logger = logging.getLogger("evolink_mock")

# (code, type) used when no operation-specific example exists for a status.
DEFAULT_CODES: dict[int, tuple[str, str]] = {
    400: ("invalid_request", "invalid_request_error"),
    401: ("unauthorized", "authentication_error"),
    402: ("insufficient_quota", "insufficient_quota"),
    403: ("permission_denied", "invalid_request_error"),
    404: ("not_found", "invalid_request_error"),
    405: ("method_not_allowed", "invalid_request_error"),
    413: ("request_too_large", "invalid_request_error"),
    415: ("unsupported_media_type", "invalid_request_error"),
    431: ("request_header_fields_too_large", "invalid_request_error"),
    429: ("rate_limit_exceeded", "rate_limit_error"),
    500: ("internal_error", "api_error"),
    503: ("service_unavailable", "api_error"),
}

DEFAULT_MESSAGES: dict[int, str] = {
    400: "The request is invalid",
    401: "Invalid or missing API key",
    402: "Insufficient credits",
    403: "Access denied",
    404: "Not found",
    405: "Method not allowed",
    413: "The request body is too large",
    415: "The request body must be application/json",
    431: "The request headers are too large",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


@dataclass
class ApiError(Exception):
    """An error answered to the client in the vendor's envelope."""

    status: int
    message: str
    code: str = ""
    type: str = ""
    param: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    # Set when the error is a broken rule of the spec (not a scripted fault, not state such
    # as an unknown task): the rule and a JSON pointer, for the journal's ``violations``.
    rule: str | None = None
    pointer: str | None = None

    def __post_init__(self) -> None:
        default_code, default_type = DEFAULT_CODES.get(self.status, DEFAULT_CODES[500])
        self.code = self.code or default_code
        self.type = self.type or default_type

    def envelope(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message, "type": self.type}
        if self.param is not None:
            body["param"] = self.param
        return {"error": body}

    def to_response(self) -> Response:
        return Response(
            json.dumps(self.envelope()),
            status_code=self.status,
            media_type="application/json",
            headers=dict(self.headers),
        )


def invalid_request(message: str, param: str | None) -> ApiError:
    return ApiError(400, message, param=param)


def error_for_status(status: int, message: str | None = None, **kwargs: Any) -> ApiError:
    return ApiError(status, message or DEFAULT_MESSAGES.get(status, "Error"), **kwargs)


# --- Connexion / Starlette exception handlers -------------------------------------------


def _connexion_response(error: ApiError) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=error.status,
        mimetype="application/json",
        content_type="application/json",
        body=json.dumps(error.envelope()),
        headers=dict(error.headers),
    )


def handle_api_error(request: ConnexionRequest, exc: ApiError) -> ConnexionResponse:
    if exc.rule:
        note(request.scope, Violation(REQUEST, exc.pointer or "", exc.rule, exc.message))
    return _connexion_response(exc)


# What a Connexion problem or a router answer says about the request, as (pointer, rule).
PROBLEM_RULES: dict[int, tuple[str, str]] = {
    401: ("/header/authorization", "security"),
    404: ("/path", "path"),
    405: ("/method", "method"),
    415: ("/header/content-type", "content-type"),
}


def handle_problem(request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    """Connexion raises problems for auth, content type and its own checks."""
    message = exc.detail or exc.title or DEFAULT_MESSAGES.get(exc.status, "Error")
    if exc.status == 401:
        message = "Invalid or missing API key: send 'Authorization: Bearer <API key>'"
    elif exc.status == 415:
        message = f"The request body must be application/json ({exc.detail})"
    elif exc.status >= 500:
        logger.error("server-side problem: %s", message)
        message = DEFAULT_MESSAGES[500]
    if exc.status in PROBLEM_RULES:
        note(request.scope, Violation(REQUEST, *PROBLEM_RULES[exc.status], str(message)))
    return _connexion_response(error_for_status(exc.status, str(message), headers=exc.headers or {}))


def http_exception_handler(allow_for: Callable[[str], str | None]) -> Callable[..., ConnexionResponse]:
    """Router answers (404 unknown path, 405 known path with another method).

    ``allow_for(path)`` gives the methods the spec documents for a path, for ``Allow``.
    """

    def handle(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            allow = allow_for(request.url.path)
            if allow:
                headers["Allow"] = allow
            message = f"{request.method} is not allowed here; allowed: {headers.get('Allow', '')}"
        else:
            message = DEFAULT_MESSAGES.get(exc.status_code, "Error")
        if exc.status_code in PROBLEM_RULES:
            said = message if exc.status_code == 405 else f"{message}: {request.url.path}"
            note(request.scope, Violation(REQUEST, *PROBLEM_RULES[exc.status_code], said))
        return _connexion_response(error_for_status(exc.status_code, message, headers=headers))

    return handle


STORE_RETRY_AFTER = "1"   # seconds: a restarting PostgreSQL is back within a few


def store_unavailable() -> ApiError:
    return error_for_status(503, "The mock's database is unavailable; retry shortly",
                            headers={"Retry-After": STORE_RETRY_AFTER})


def handle_store_unavailable(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    logger.warning("store unavailable: %s", exc)
    return _connexion_response(store_unavailable())


def handle_unexpected(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    logger.error("unhandled error", exc_info=exc)   # called by Connexion, outside an except block
    return _connexion_response(error_for_status(500))
