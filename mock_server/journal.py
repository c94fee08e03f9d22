"""The request journal: what every client sent and what the mock answered.

It is what `evolink-contract client` judges a client program by, and what the dashboard
shows. Keys are kept as fingerprints, never in clear. The journal is a bounded ring
buffer in memory (in the state file under ``serve --workers N``, so that every worker's
requests are in it): it is a debugging aid, not state the lifecycle depends on. What
writes the entries is the outermost ASGI layer, :mod:`mock_server.recording`.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from .store.base import RESETS, SharedStore

MAX_ENTRIES = 10_000


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
