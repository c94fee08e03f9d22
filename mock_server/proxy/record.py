"""``--record FILE.har``: every exchange as HAR 1.2, a valid file after each one.

The entries are rendered by ``harfile`` (its HAR 1.2 models and writer). The file on disk is
a complete HAR document at every moment between two exchanges: each exchange is written
with one ``pwrite`` of the entry *followed by the closing brackets*, at the offset where the
previous closing brackets began. The new bytes are always longer than the brackets they
overwrite, so nothing stale remains. A proxy killed between two writes (``kill -9``) leaves
a HAR with every exchange recorded so far; the exchange is written before its answer goes
to the client, so every answer a client saw is in the file. (The page cache keeps the data
when the process dies; a power cut is another matter: there is no fsync per exchange.)
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from urllib.parse import parse_qsl

import harfile

from ..domain.ids import key_fingerprint

# After the last entry: closes "entries", "log" and the document (harfile's own layout).
CLOSING = "\n        ]\n    }\n}\n"
SECRET_HEADERS = frozenset({"x-mock-admin-token", "cookie", "set-cookie", "proxy-authorization"})
SECRET_QUERY_NAMES = frozenset({"token", "api_key", "key"})
REDACTED = "[redacted]"


def _creator() -> harfile.Creator:
    try:
        own = version("evolink-mock")
    except PackageNotFoundError:
        own = "unknown"
    return harfile.Creator(name="evolink-mock proxy", version=own)


def redact_header(name: str, value: str) -> str:
    """API keys never reach the file: a bearer token becomes its fingerprint (the journal's)."""
    lower = name.lower()
    if lower == "authorization":
        scheme, _, token = value.partition(" ")
        if token.strip():
            return f"{scheme} {REDACTED[:-1]} {key_fingerprint(token.strip())}]"
        return REDACTED
    return REDACTED if lower in SECRET_HEADERS else value


def records(headers: Iterable[tuple[str, str]]) -> list[harfile.Record]:
    return [harfile.Record(name=name, value=redact_header(name, value)) for name, value in headers]


def query_records(query: str) -> list[harfile.Record]:
    return [harfile.Record(name=name, value=REDACTED if name.lower() in SECRET_QUERY_NAMES else value)
            for name, value in parse_qsl(query, keep_blank_values=True)]


def redact_query(query: str) -> str:
    if not query:
        return ""
    return "&".join(f"{r.name}={r.value}" for r in query_records(query))


class HarRecorder:
    """Appends exchanges to a HAR file that stays valid JSON; for one event loop (no locks)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.entries = 0
        # The file may hold prompts and task ids: readable by its owner only.
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        self._buffer = io.StringIO()
        self._har = harfile.HarFile(self._buffer, creator=_creator())
        empty = io.StringIO()
        harfile.HarFile(empty, creator=_creator()).close()
        os.pwrite(self._fd, (empty.getvalue() + "\n").encode(), 0)
        self._offset = 0     # where the next entry's bytes go (the first one rewrites it all)

    def add(self, *, started: datetime, elapsed_ms: float, request: harfile.Request,
            response: harfile.Response, timings: harfile.Timings, comment: str | None = None,
            server_ip: str | None = None) -> None:
        self._har.add_entry(startedDateTime=started.astimezone(UTC), time=round(elapsed_ms, 3),
                            request=request, response=response, timings=timings,
                            serverIPAddress=server_ip, comment=comment)
        chunk = self._buffer.getvalue().encode("utf-8")
        self._buffer.seek(0)
        self._buffer.truncate()
        os.pwrite(self._fd, chunk + CLOSING.encode(), self._offset)
        self._offset += len(chunk)
        self.entries += 1

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
