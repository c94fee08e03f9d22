"""Checks on a single answer, applied to every response the server checker sees.

They run inside Schemathesis (as extra checks next to its own) and on every answer of the
lifecycle phase. Each takes the operation, the HTTP status and the parsed JSON body (None
when the body is not JSON) and returns the problems it found.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..contract import COMPLETED, FAILED

DocumentCheck = Callable[[str, int, Any], list[str]]
TASK_OPERATIONS = ("createVideoGeneration", "getTask")


def error_envelope(operation: str, status: int, body: Any) -> list[str]:
    """Every non-2xx answer is ``{"error": {"code": str, "message": str, "type": str}}``."""
    if status < 400:
        return []
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return [f"HTTP {status} body is not the error envelope {{\"error\": {{...}}}}"]
    return [f"HTTP {status} error.{name} must be a string, got {error.get(name)!r}"
            for name in ("code", "message", "type") if not isinstance(error.get(name), str)]


def _task_document(operation: str, status: int, body: Any) -> dict[str, Any] | None:
    if operation in TASK_OPERATIONS and 200 <= status < 300 and isinstance(body, dict):
        return body
    return None


def _present_exactly_when(field: str, wanted: str, operation: str, status: int,
                          body: Any) -> list[str]:
    """A task document carries ``field`` exactly when its status is ``wanted``."""
    task = _task_document(operation, status, body)
    if task is None or (field in task) == (task.get("status") == wanted):
        return []
    if field in task:
        return [f"{field} present while status is {task.get('status')!r}"]
    return [f"status is {wanted} but {field} is missing"]


def results_exactly_when_completed(operation: str, status: int, body: Any) -> list[str]:
    return _present_exactly_when("results", COMPLETED, operation, status, body)


def error_exactly_when_failed(operation: str, status: int, body: Any) -> list[str]:
    return _present_exactly_when("error", FAILED, operation, status, body)


DOCUMENT_CHECKS: list[DocumentCheck] = [
    error_envelope,
    results_exactly_when_completed,
    error_exactly_when_failed,
]
