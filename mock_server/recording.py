"""The outermost ASGI layer: journals vendor-API requests and logs one line per request.

The journal's data lives in :mod:`mock_server.journal`; this layer watches a request go by
(body digest and snippet, status, error envelope, what inner layers left in the scope) and
writes the entry.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import secrets
import time
from collections.abc import Iterable
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .domain.ids import key_fingerprint
from .journal import JournalEntry, RequestJournal, SharedJournal, format_line
from .scope import DROPPED_EXTENSION, IGNORED_FIELDS_STATE_KEY, REPLAYED_EXTENSION, SCRIPTED_EXTENSION
from .violations import VIOLATIONS_EXTENSION

BODY_SNIPPET = 2048
request_log = logging.getLogger("evolink_mock.requests")
REQUEST_ID_HEADER = b"x-request-id"
WARNING_HEADER = b"x-mock-warning"
IDEMPOTENCY_HEADER = b"idempotency-key"
NO_ANSWER = 0   # the status journaled for a dropped connection


def _bearer_fingerprint(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return key_fingerprint(token.strip())
    return None


def _header(headers: Iterable[tuple[bytes, bytes]], wanted: bytes) -> str | None:
    for name, value in headers:
        if name.lower() == wanted:
            return value.decode("latin-1")[:256]
    return None


def ignored_fields_warning(fields: list[str]) -> str:
    return f"ignored unknown fields: {', '.join(fields)}"


class JournalMiddleware:
    """Outermost ASGI layer: journals vendor-API requests and logs one line per request.

    Every journaled answer gets a unique ``X-Request-Id`` (the vendor's client quotes it in
    its errors), and ``X-Mock-Warning`` when the body validator ignored unknown fields.
    Logging is skipped entirely unless the request logger is enabled for INFO, so the hot
    path pays nothing when logs are off.
    """

    def __init__(self, app: ASGIApp, journal: RequestJournal | SharedJournal,
                 prefixes: tuple[str, ...],
                 json_logs: bool = False) -> None:
        self.app = app
        self.journal = journal
        self.prefixes = prefixes
        self.json_logs = json_logs
        # Request ids: a random prefix per process (48 bits: distinct across workers and
        # restarts) and a counter; a uuid4 per request cost several times more (urandom).
        self._id_prefix = f"req-{secrets.token_hex(6)}-"
        self._ids = itertools.count(1)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        journaled = scope["path"].startswith(self.prefixes)
        if not journaled and not request_log.isEnabledFor(logging.INFO):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        real_at = time.time()
        # Shared with the copies Connexion makes, so the routed operation is visible here.
        extensions = scope.setdefault("extensions", {})
        state = scope.setdefault("state", {})
        request_body = bytearray()
        body_digest: Any = None   # made for the first body bytes: most requests have none
        status = 500
        retry_after: int | None = None
        response_body = bytearray()
        request_id = f"{self._id_prefix}{next(self._ids):x}" if journaled else None
        warning: str | None = None

        async def recording_receive() -> Message:
            nonlocal body_digest
            message = await receive()
            chunk = message.get("body", b"") if message["type"] == "http.request" else b""
            if chunk:
                if body_digest is None:
                    body_digest = hashlib.blake2b(digest_size=8)
                body_digest.update(chunk)
                if len(request_body) < BODY_SNIPPET:
                    request_body.extend(chunk[:BODY_SNIPPET - len(request_body)])
            return message

        async def recording_send(message: Message) -> None:
            nonlocal status, retry_after, warning
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                retry_after = _retry_after(headers)
                if request_id is not None:
                    headers.append((REQUEST_ID_HEADER, request_id.encode()))
                ignored = state.get(IGNORED_FIELDS_STATE_KEY)
                if ignored:
                    warning = ignored_fields_warning(ignored)
                    headers.append((WARNING_HEADER, warning.encode()))
                message = {**message, "headers": headers}
            elif message["type"] == "http.response.body" and status >= 400:
                response_body.extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, recording_receive, recording_send)
        finally:
            dropped = extensions.get(DROPPED_EXTENSION)
            if dropped:
                status = NO_ANSWER
            error = _error_of(bytes(response_body)) if status >= 400 else {}
            headers = scope.get("headers", [])
            entry = JournalEntry(
                seq=0, at=self.journal.clock(), real_at=real_at, method=scope["method"], path=scope["path"],
                query=scope.get("query_string", b"").decode("latin-1"),
                operation=extensions.get("connexion_routing", {}).get("operation_id"),
                key=_bearer_fingerprint(headers), status=status,
                error_code=error.get("code"), error_message=error.get("message"),
                error_param=error.get("param"),
                latency_ms=round((time.perf_counter() - started) * 1000, 3),
                body=bytes(request_body).decode("utf-8", "replace") if status >= 400 else None,
                scripted=bool(extensions.get(SCRIPTED_EXTENSION)), retry_after=retry_after,
                request_id=request_id, idempotency_key=_header(headers, IDEMPOTENCY_HEADER),
                body_hash=body_digest.hexdigest() if body_digest is not None else None,
                replayed=bool(extensions.get(REPLAYED_EXTENSION)), dropped=dropped,
                warning=warning,
                violations=extensions.get(VIOLATIONS_EXTENSION, []),
            )
            if journaled:
                self.journal.append(entry)
            if request_log.isEnabledFor(logging.INFO):
                request_log.info(format_line(entry, self.json_logs))


def _retry_after(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"retry-after" and value.isdigit():
            return int(value)
    return None


def _error_of(body: bytes) -> dict[str, Any]:
    try:
        error = json.loads(body)["error"]
        return error if isinstance(error, dict) else {}
    except (ValueError, KeyError, TypeError):
        return {}
