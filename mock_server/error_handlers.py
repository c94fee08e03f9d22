"""How errors are answered: Connexion's and Starlette's exception handlers, each turning what
was raised into the vendor's envelope (:class:`.errors.ApiError`) and noting the broken rule
of a bad request for the journal's ``violations``.

The handlers are coroutines although none of them waits for anything: Connexion runs a plain
function in Starlette's thread pool, i.e. every 4xx answer crossed to a worker thread and
back. That hop cost 0.3-2 ms per error answer on a loaded 2-core machine (the mock's own work
for a 401 is ~0.15 ms), and a contract run is mostly error answers (bench/README.md,
"Schemathesis cases/s")."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import mock_server.quiet_imports  # noqa: F401 - before Connexion: see there

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from starlette.exceptions import HTTPException

from .errors import (
    AUTH_HINT,
    DEFAULT_MESSAGES,
    ApiError,
    error_for_status,
    method_not_allowed,
    store_unavailable,
)
from .violations import REQUEST, Violation, note

logger = logging.getLogger("evolink_mock")


def _connexion_response(error: ApiError) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=error.status,
        mimetype="application/json",
        content_type="application/json",
        body=json.dumps(error.envelope()),
        headers=dict(error.headers),
    )


async def handle_api_error(request: ConnexionRequest, exc: ApiError) -> ConnexionResponse:
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


async def handle_problem(request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    """Connexion raises problems for auth, content type and its own checks."""
    message = exc.detail or exc.title or DEFAULT_MESSAGES.get(exc.status, "Error")
    if exc.status == 401:
        message = f"Invalid or missing API key: {AUTH_HINT}"
    elif exc.status == 415:
        message = f"The request body must be application/json ({exc.detail})"
    elif exc.status >= 500:
        logger.error("server-side problem: %s", message)
        message = DEFAULT_MESSAGES[500]
    if exc.status in PROBLEM_RULES:
        note(request.scope, Violation(REQUEST, *PROBLEM_RULES[exc.status], str(message)))
    return _connexion_response(error_for_status(exc.status, str(message), headers=exc.headers or {}))


def http_exception_handler(allow_for: Callable[[str], str | None]
                           ) -> Callable[..., Coroutine[Any, Any, ConnexionResponse]]:
    """Router answers (404 unknown path, 405 known path with another method).

    ``allow_for(path)`` gives the methods the spec documents for a path, for ``Allow``.
    """

    async def handle(request: ConnexionRequest, exc: HTTPException) -> ConnexionResponse:
        if exc.status_code == 405:
            error = method_not_allowed(request.method, allow_for(request.url.path), exc.headers)
            said = error.message
        else:
            error = error_for_status(exc.status_code, headers=dict(exc.headers or {}))
            said = f"{error.message}: {request.url.path}"
        if exc.status_code in PROBLEM_RULES:
            note(request.scope, Violation(REQUEST, *PROBLEM_RULES[exc.status_code], said))
        return _connexion_response(error)

    return handle


async def handle_store_unavailable(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    logger.warning("store unavailable: %s", exc)
    return _connexion_response(store_unavailable())


async def handle_unexpected(_request: ConnexionRequest, exc: Exception) -> ConnexionResponse:
    logger.error("unhandled error", exc_info=exc)   # called by Connexion, outside an except block
    return _connexion_response(error_for_status(500))
