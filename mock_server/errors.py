"""Every error the mock answers, shaped as the vendor's envelope, each with one named
constructor (the way moto's ``exceptions.py`` names each of a service's errors).

The vendor answers every non-2xx with ``{"error": {"code", "message", "type", "param"}}``
where ``code`` is a string. Code and type for a status differ between endpoints (402 is
``insufficient_quota`` on create but ``quota_exceeded`` on the task query), so the
constructors of the vendor's errors take the spec's table (:func:`mock_server.spec.error_codes`,
read from each error response's example) rather than writing codes here. The mock's own
errors (control API, proxy, store) are not the vendor's, so their codes are ours and live here.
How errors are answered (Connexion's exception handlers) is :mod:`.error_handlers`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.responses import Response

from .violations import pointer

# (operationId, status) -> (code, type), as spec.error_codes reads them from the spec.
ErrorCodes = Mapping[tuple[str, int], tuple[str, str]]
AUTH_HINT = "send 'Authorization: Bearer <API key>'"
STORE_RETRY_AFTER = "1"   # seconds: a restarting PostgreSQL is back within a few

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


def error_for_status(status: int, message: str | None = None, **kwargs: Any) -> ApiError:
    """An error with the default code and type for ``status`` (and its default message)."""
    return ApiError(status, message or DEFAULT_MESSAGES.get(status, "Error"), **kwargs)


def documented(codes: ErrorCodes, operation_id: str, status: int, message: str,
               **kwargs: Any) -> ApiError:
    """An error with the code and type the spec documents for this operation and status."""
    code, type_ = codes.get((operation_id, status), ("", ""))
    return ApiError(status, message, code=code, type=type_, **kwargs)


# --- the vendor's errors: 400s of validation, codes from the spec -----------------------


def invalid_request(message: str, param: str | None) -> ApiError:
    return ApiError(400, message, param=param)


def parameter_missing(name: str, location: str, code: str) -> ApiError:
    """A required parameter left out; ``code`` is its ``x-error-code`` in the spec, if any."""
    return ApiError(400, f"{name} is required", code=code, param=name, rule="required",
                    pointer=pointer((location, name)))


def task_not_found(codes: ErrorCodes, task_id: str) -> ApiError:
    return documented(codes, "getTask", 404, f"Task {task_id} not found", param="task_id")


def task_of_another_key(codes: ErrorCodes) -> ApiError:
    return documented(codes, "getTask", 403, "This task belongs to another API key",
                      param="task_id")


def insufficient_credits(codes: ErrorCodes, needed: float, left: float) -> ApiError:
    return documented(codes, "createVideoGeneration", 402,
                      f"Insufficient credits: this task needs {needed:g}, {max(left, 0):g} left")


def idempotency_conflict(codes: ErrorCodes, header: str, task_id: str) -> ApiError:
    """``header`` (the ``Idempotency-Key``) was used before for ``task_id`` with another body."""
    return documented(codes, "createVideoGeneration", 409,
                      f"This {header} was used for task {task_id} with another request body; "
                      "use a new key for a new request", param=header)


def scripted_fault(codes: ErrorCodes, operation_id: str, status: int,
                   headers: Mapping[str, str]) -> ApiError:
    return documented(codes, operation_id, status, f"Scripted fault: HTTP {status}",
                      headers=headers)


# --- the HTTP edge: routes, sizes, authentication ----------------------------------------


def route_not_found(method: str, path: str) -> ApiError:
    return ApiError(404, f"No route for {method} {path}")


def method_not_allowed(method: str, allow: str | None,
                       headers: Mapping[str, str] | None = None) -> ApiError:
    """405 naming the methods the spec documents for the path (also sent as ``Allow``)."""
    answered = dict(headers or {})
    if allow:
        answered["Allow"] = allow
    return ApiError(405, f"{method} is not allowed here; allowed: {answered.get('Allow', '')}",
                    headers=answered)


def body_too_large(limit: int) -> ApiError:
    return ApiError(413, f"request body is larger than {limit} bytes", rule="maxBodyBytes",
                    pointer="/body")


def headers_too_large(limit: int, codes: tuple[str, str] | None) -> ApiError:
    """431 with the code and type the spec documents for it (``codes``), if it does."""
    code, type_ = codes or ("", "")
    return error_for_status(431, f"Request headers are larger than {limit} bytes in all "
                                 "(request line and headers)", code=code, type=type_)


def malformed_authorization() -> ApiError:
    return ApiError(401, f"Malformed Authorization header; {AUTH_HINT}")


def invalid_api_key() -> ApiError:
    return ApiError(401, "Invalid API key")


# --- the mock's own errors: control API, proxy, store ------------------------------------


def admin_token_missing(header: str) -> ApiError:
    return ApiError(401, f"The admin API needs the {header} header")


def admin_token_wrong(header: str) -> ApiError:
    return ApiError(403, f"Wrong {header}", code="admin_forbidden")


def admin_not_loopback() -> ApiError:
    return ApiError(403, "The admin API answers loopback clients only; start the mock with "
                         "--admin-token to reach it from elsewhere", code="admin_forbidden")


def admin_task_not_found(task_id: str) -> ApiError:
    return ApiError(404, f"Task {task_id} not found", code="task_not_found", param="task_id")


def task_finished(task_id: str) -> ApiError:
    return ApiError(409, f"Task {task_id} has already finished", code="task_finished",
                    type="invalid_request_error", param="task_id")


def delivery_not_found(delivery_id: str) -> ApiError:
    return ApiError(404, f"Delivery {delivery_id} not found", code="delivery_not_found",
                    param="delivery_id")


def media_not_found(task_id: str) -> ApiError:
    return ApiError(404, f"No result video for {task_id}: the task is unknown, not completed, "
                         "or its link expired (24 h after completion)", code="resource_not_found")


def create_cap_reached(limit: int) -> ApiError:
    """The proxy's ``--max-creates`` is spent: answered locally, nothing forwarded."""
    return ApiError(402, f"evolink-mock proxy: --max-creates {limit} reached, so this create was "
                         "not forwarded (no credits spent); restart the proxy to allow more",
                    code="insufficient_quota", type="insufficient_quota")


def upstream_timeout(upstream: str, seconds: float, exc: Exception) -> ApiError:
    return ApiError(504, f"evolink-mock proxy: the upstream {upstream} did not answer within "
                         f"{seconds:g} s ({type(exc).__name__}); this answer comes from the proxy, "
                         "and the upstream may still carry the request out",
                    code="gateway_timeout", type="proxy_error")


def upstream_unreachable(upstream: str, exc: Exception) -> ApiError:
    return ApiError(502, f"evolink-mock proxy: no answer from the upstream {upstream} "
                         f"({type(exc).__name__}: {exc}); this answer comes from the proxy",
                    code="bad_gateway", type="proxy_error")


def store_unavailable() -> ApiError:
    return error_for_status(503, "The mock's database is unavailable; retry shortly",
                            headers={"Retry-After": STORE_RETRY_AFTER})
