"""The request journal: what every client sent and what the mock answered.

It is what `evolink-contract client` judges a client program by, and what the dashboard
shows. Keys are kept as fingerprints, never in clear. The journal is a bounded ring
buffer in memory (in the state file under ``serve --workers N``, so that every worker's
requests are in it): it is a debugging aid, not state the lifecycle depends on.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import logging
import re
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .domain.ids import key_fingerprint
from .store import RESETS
from .store.base import SharedStore
from .violations import VIOLATIONS_EXTENSION

MAX_ENTRIES = 10_000
BODY_SNIPPET = 2048
request_log = logging.getLogger("evolink_mock.requests")
# Set in the request scope's extensions by the fault layer when it answers on its own.
SCRIPTED_EXTENSION = "evolink_mock.scripted"
# Set by the fault layer: the connection was closed without an answer ("before"/"after").
DROPPED_EXTENSION = "evolink_mock.dropped"
# Set by the create handler when it answered a stored create again (Idempotency-Key).
REPLAYED_EXTENSION = "evolink_mock.replayed"
# Put in the scope by our uvicorn protocol (server.py): closes this request's connection.
CLOSE_CONNECTION_EXTENSION = "evolink_mock.close_connection"
# The body validator leaves here the unknown fields it ignored (``--unknown-fields warn``).
IGNORED_FIELDS_STATE_KEY = "ignored_fields"
REQUEST_ID_HEADER = b"x-request-id"
WARNING_HEADER = b"x-mock-warning"
IDEMPOTENCY_HEADER = b"idempotency-key"
NO_ANSWER = 0   # the status journaled for a dropped connection


@dataclass
class JournalEntry:
    seq: int
    at: float              # mock time
    real_at: float         # wall clock, for rate checks independent of the mock clock
    method: str
    path: str
    query: str
    operation: str | None
    key: str | None        # API key fingerprint
    status: int
    error_code: str | None
    error_message: str | None
    error_param: str | None
    latency_ms: float
    body: str | None       # the request body, for rejected requests only
    scripted: bool = False        # the answer was a scripted fault, not the client's doing
    retry_after: int | None = None  # the Retry-After the answer carried
    request_id: str | None = None   # the X-Request-Id the answer carried
    idempotency_key: str | None = None
    body_hash: str | None = None    # equal hashes: the same body bytes were sent
    replayed: bool = False          # an idempotent replay of an earlier create
    dropped: str | None = None      # "before"/"after": closed without an answer
    warning: str | None = None      # the X-Mock-Warning the answer carried
    # Rules of the spec the request (or, behind the proxy, the upstream's answer) broke.
    violations: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(vars(self))   # every field is a plain value: no need for asdict's deep copy


class RequestJournal:
    def __init__(self, clock: Callable[[], float], max_entries: int = MAX_ENTRIES) -> None:
        self.clock = clock
        self.entries: deque[JournalEntry] = deque(maxlen=max_entries)
        self._seq = 0

    def append(self, entry: JournalEntry) -> None:
        self._seq += 1
        entry.seq = self._seq
        self.entries.append(entry)

    def query(self, *, key: str | None = None, path: str | None = None,
              since: int = 0) -> list[JournalEntry]:
        return _matching((e for e in self.entries if e.seq > since), key, path)

    async def entries_matching(self, *, key: str | None = None, path: str | None = None,
                               since: int = 0) -> list[JournalEntry]:
        return self.query(key=key, path=path, since=since)

    async def open(self) -> None:
        pass

    async def clear(self) -> None:
        self.entries.clear()

    def prune(self, before: float) -> None:
        """``--retention``: entries are in time order, so the old ones are at the left."""
        while self.entries and self.entries[0].at < before:
            self.entries.popleft()

    def restart(self) -> None:
        """Number entries from 1 again, as a fresh mock does (a restarting reset)."""
        self.entries.clear()
        self._seq = 0


class SharedJournal:
    """The journal of ``serve --workers N`` and of replicas: every process's entries, kept in
    the shared store.

    Entries are written in batches (at most ``BATCH`` entries or ``FLUSH_SECONDS`` late: the
    app's lifespan flushes on a timer) so that logging a request costs no write transaction
    of its own; a query first writes this worker's pending entries, then reads everyone's.
    """

    BATCH = 256
    FLUSH_SECONDS = 0.1

    def __init__(self, clock: Callable[[], float], store: SharedStore,
                 max_entries: int = MAX_ENTRIES) -> None:
        self.clock = clock
        self.store = store
        self.max_entries = max_entries
        self._unsaved: list[JournalEntry] = []
        self._resets = 0   # the reset the unsaved entries came after (read by ``open``)
        self._flushing: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        self._resets = await self.store.counter(RESETS)

    def append(self, entry: JournalEntry) -> None:
        self._unsaved.append(entry)
        if len(self._unsaved) >= self.BATCH:
            # A full batch is written in the background: the request that filled it does
            # not wait for the store.
            flushing = asyncio.get_running_loop().create_task(self.flush())
            self._flushing.add(flushing)
            flushing.add_done_callback(self._flushing.discard)

    async def flush(self) -> None:
        if self._unsaved:
            records, self._unsaved = [e.to_dict() for e in self._unsaved], []
            await self.store.append_journal(records, keep=self.max_entries, resets=self._resets)

    async def entries_matching(self, *, key: str | None = None, path: str | None = None,
                               since: int = 0) -> list[JournalEntry]:
        await self.flush()
        entries = (JournalEntry(**{**record, "seq": seq})
                   for seq, record in await self.store.journal(since))
        return _matching(entries, key, path)

    async def clear(self) -> None:
        """After a reset (which empties the table): forget the entries from before it."""
        self._unsaved.clear()
        self._resets = await self.store.counter(RESETS)

    def prune(self, before: float) -> None:
        """The store prunes the shared entries (``Store.prune``)."""


def _matching(entries: Iterable[JournalEntry], key: str | None,
              path: str | None) -> list[JournalEntry]:
    """``path`` is a glob (``fnmatchcase``: ``*`` spans ``/`` too), the one semantics of the
    admin API's ``?path=`` and the pytest helper (spec/mock-admin.yaml)."""
    return [e for e in entries if (key is None or e.key == key)
            and (path is None or fnmatchcase(e.path, path))]


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


SECRET_QUERY = re.compile(r"(^|&)(token=)[^&]*")


def format_line(entry: JournalEntry, json_format: bool) -> str:
    """One log line per request: plain text, or a JSON object. The dashboard's ``?token=``
    is redacted; API keys never reach the entry at all (only their fingerprint)."""
    query = SECRET_QUERY.sub(r"\1\2***", entry.query)
    if json_format:
        fields = {k: v for k, v in entry.to_dict().items() if k != "body"}
        return json.dumps({**fields, "query": query})
    error = f" {entry.error_code}: {entry.error_message}" if entry.error_code else ""
    answer = f"dropped ({entry.dropped})" if entry.dropped else str(entry.status)
    return (f"{entry.method} {entry.path}{'?' + query if query else ''} "
            f"{answer} {entry.latency_ms:.1f}ms{error}")


class JournalMiddleware:
    """Outermost ASGI layer: journals vendor-API requests and logs one line per request.

    Every journaled answer gets a unique ``X-Request-Id`` (the vendor's client quotes it in
    its errors), and ``X-Mock-Warning`` when the body validator ignored unknown fields.
    Logging is skipped entirely unless the request logger is enabled for INFO, so the hot
    path pays nothing when logs are off.
    """

    def __init__(self, app: ASGIApp, journal: RequestJournal | SharedJournal, prefixes: tuple[str, ...],
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
