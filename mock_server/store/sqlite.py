"""SQLite store (WAL): every write is committed before the API answers, so a task the
client has seen survives ``kill -9``. Tasks and callback deliveries are kept as JSON
records keyed by id.

With ``serve --workers N`` every worker opens the same file: it is then also where the
workers meet. ``transaction`` serialises read-modify-write steps across processes, the
``meta`` counters tell a worker that another one changed shared values (clock, rules) or
reset everything, and the journal table gathers every worker's request log.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

try:
    import fcntl
except ImportError:   # Windows: one process only (``serve --workers`` needs POSIX file locks)
    fcntl = None  # type: ignore[assignment]

from ..callbacks.delivery import Delivery
from ..domain.task import Task
from . import RESETS

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, at REAL);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    task_id TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_task ON deliveries (task_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, record TEXT NOT NULL);
"""
BUSY_TIMEOUT_SECONDS = 30.0   # other workers hold the write lock for single statements only


class SQLiteStore:
    """``shared``: other processes write to the same file (``serve --workers N``).

    Its coroutines never wait (SQLite works in the calling thread), so the service's
    synchronous start-up can drive them (``store.base.resolved``)."""

    local = True

    def __init__(self, path: str, *, shared: bool = False) -> None:
        self._lock = threading.RLock()
        self._depth = 0
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None,
                                   timeout=BUSY_TIMEOUT_SECONDS)
        # Writers queue on an OS file lock first: SQLite's own wait for a busy database
        # sleeps in steps of a millisecond and more, and would stall the event loop.
        # Held for the store's lifetime, closed in close().
        self._writer_lock = open(f"{path}.lock", "a") if shared else None   # noqa: SIM115
        with self._writing():
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(SCHEMA)
            # State files written before --retention have no stamp column on named values.
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(kv)")}
            if "at" not in columns:
                self._db.execute("ALTER TABLE kv ADD COLUMN at REAL")

    async def open(self) -> None:
        pass

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the right to write: this thread's, and (shared) the other processes' turn."""
        with self._lock:
            if self._writer_lock is None or self._depth:
                yield
                return
            fcntl.flock(self._writer_lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(self._writer_lock, fcntl.LOCK_UN)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[None]:
        """One write transaction, across threads and processes; nested uses join the outer one."""
        with self._writing():
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    async def put(self, task: Task) -> None:
        record = json.dumps(task.to_record())
        with self._writing():
            self._db.execute(
                "INSERT INTO tasks (id, record) VALUES (?, ?) "
                "ON CONFLICT(id) DO UPDATE SET record = excluded.record", (task.id, record))

    async def get(self, task_id: str) -> Task | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return None if row is None else Task.from_record(json.loads(row[0]))

    async def tasks(self, *, limit: int | None = None, offset: int = 0) -> list[Task]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM tasks ORDER BY seq LIMIT ? OFFSET ?",
                                    (-1 if limit is None else limit, offset)).fetchall()
        return [Task.from_record(json.loads(row[0])) for row in rows]

    async def tasks_with_callbacks(self, after: int, upto: int | None = None) -> tuple[int, list[Task]]:
        """Tasks with a ``callback_url`` stored at positions in (after, upto], and the last
        position read. SQLite picks them out, so the other tasks are never decoded here."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, CASE WHEN json_extract(json_extract(record, '$.request_text'), "
                "'$.callback_url') IS NOT NULL THEN record END FROM tasks "
                "WHERE seq > ?1 AND (?2 IS NULL OR seq <= ?2) ORDER BY seq", (after, upto)).fetchall()
        last = rows[-1][0] if rows else after
        return last, [Task.from_record(json.loads(record)) for _, record in rows if record is not None]

    async def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]

    async def put_value(self, key: str, value: Any, at: float | None = None) -> None:
        """``at``: the mock time the value belongs to, after which ``--retention`` forgets it."""
        with self._writing():
            self._db.execute("INSERT INTO kv (key, value, at) VALUES (?, ?, ?) ON CONFLICT(key) "
                             "DO UPDATE SET value = excluded.value, at = excluded.at",
                             (key, json.dumps(value), at))

    async def get_value(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    async def counter(self, key: str) -> int:
        """A ``meta`` counter: it survives ``clear``, so it never repeats a value."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return 0 if row is None else row[0]

    async def bump(self, key: str) -> int:
        with self._writing():
            return self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, 1) ON CONFLICT(key) "
                "DO UPDATE SET value = value + 1 RETURNING value", (key,)).fetchone()[0]

    async def put_delivery(self, delivery: Delivery) -> None:
        record = json.dumps(delivery.to_record())
        with self._writing():
            self._db.execute(
                "INSERT INTO deliveries (id, task_id, record) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET record = excluded.record",
                (delivery.id, delivery.task_id, record))

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM deliveries WHERE id = ?",
                                   (delivery_id,)).fetchone()
        return None if row is None else Delivery.from_record(json.loads(row[0]))

    async def deliveries(self, *, task_id: str | None = None) -> list[Delivery]:
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM deliveries WHERE ?1 IS NULL OR task_id = ?1 ORDER BY seq",
                (task_id,)).fetchall()
        return [Delivery.from_record(json.loads(row[0])) for row in rows]

    async def deliveries_after(self, seq: int) -> list[tuple[int, Delivery]]:
        with self._lock:
            rows = self._db.execute("SELECT seq, record FROM deliveries WHERE seq > ? ORDER BY seq",
                                    (seq,)).fetchall()
        return [(row[0], Delivery.from_record(json.loads(row[1]))) for row in rows]

    async def last_positions(self) -> tuple[int, int]:
        """The newest task and delivery positions: where polling for others' writes starts."""
        with self._lock:
            tasks = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM tasks").fetchone()[0]
            deliveries = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM deliveries").fetchone()[0]
        return tasks, deliveries

    async def append_journal(self, records: list[dict[str, Any]], keep: int, resets: int) -> None:
        """Add journal records in one transaction and keep the newest ``keep``; unless a reset
        happened since they were recorded (``resets`` is the count they belong to)."""
        async with self.transaction():
            if await self.counter(RESETS) != resets:
                return
            self._db.executemany("INSERT INTO journal (record) VALUES (?)",
                                 [(json.dumps(record),) for record in records])
            self._db.execute("DELETE FROM journal WHERE seq <= (SELECT MAX(seq) FROM journal) - ?",
                             (keep,))

    async def journal(self, since: int) -> list[tuple[int, dict[str, Any]]]:
        with self._lock:
            rows = self._db.execute("SELECT seq, record FROM journal WHERE seq > ? ORDER BY seq",
                                    (since,)).fetchall()
        return [(row[0], json.loads(row[1])) for row in rows]

    async def prune(self, before: float) -> int:
        async with self.transaction():
            removed = self._db.execute(
                "DELETE FROM tasks WHERE json_extract(record, '$.created_at') < ?", (before,)).rowcount
            self._db.execute("DELETE FROM deliveries WHERE json_extract(record, '$.created_at') < ?",
                             (before,))
            self._db.execute("DELETE FROM kv WHERE at < ?", (before,))
            self._db.execute("DELETE FROM journal WHERE json_extract(record, '$.at') < ?", (before,))
        return removed

    async def clear(self) -> None:
        async with self.transaction():
            for table in ("tasks", "kv", "deliveries", "journal"):
                self._db.execute(f"DELETE FROM {table}")

    async def close(self) -> None:
        with self._lock:
            self._db.close()
            if self._writer_lock is not None:
                self._writer_lock.close()
