"""PostgreSQL store: what any number of replicas (processes or hosts) share to act as one mock.

Tables: ``tasks`` (the record as JSON text, its mock creation time, and ``callback_due``: the
mock time its callback is due, until a replica claims it), ``deliveries`` (the record,
``next_due_at`` while an attempt is to come, and ``lease_until``: a replica's claim on that
attempt), ``kv`` (clock, rules, idempotency records; ``at`` stamps what ``--retention``
prunes), ``meta`` (counters that survive a reset) and ``journal`` (every replica's requests).

- **Transactions** hold one advisory lock for their length: rule counters, credit checks and
  idempotency look-ups are read-modify-write steps, so replicas take turns on them, as the
  SQLite workers do on their file lock.
- **Claims**: a due task or attempt is taken with ``FOR UPDATE SKIP LOCKED`` and leased for
  ``--callback-lease`` seconds of PostgreSQL's clock; two replicas never take the same row, and
  a replica that dies mid-delivery leaves a lease that runs out, after which another retries.
- **Fan-out**: counter bumps and new callback work ``NOTIFY`` channel ``evolink_mock``; every
  replica ``LISTEN``s on one connection of its own (``listen``), so nothing polls.
- **Outages**: a connection error or an exhausted wait for a pooled connection raises
  :class:`StoreUnavailable` (503 to the client); the pool reconnects by itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ..domain import lifecycle
from ..domain.delivery import Delivery
from ..domain.task import Task
from .base import RESETS
from .postgresql_connections import CHANNEL, Connections

CALLBACKS = "callbacks"      # notification "callbacks:<mock time due>": new callback work (a task
                             # with a callback, a retry, a replay)
# PostgreSQL's text holds no NUL character, so no stored id has one; a client's id with one is
# not found (passed to a query, psycopg raises DataError: the API answered 500).
NUL = "\x00"
CLAIM_BATCH = 10             # due rows one claim takes at most: small, so that replicas woken
                             # together by one clock move share its burst

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT UNIQUE NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    callback_due DOUBLE PRECISION,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_callback_due ON tasks (callback_due)
    WHERE callback_due IS NOT NULL;
CREATE INDEX IF NOT EXISTS tasks_by_created_at ON tasks (created_at);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, at DOUBLE PRECISION);
CREATE TABLE IF NOT EXISTS deliveries (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT UNIQUE NOT NULL,
    task_id TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    next_due_at DOUBLE PRECISION,
    lease_until TIMESTAMPTZ,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_task ON deliveries (task_id);
CREATE INDEX IF NOT EXISTS deliveries_by_next_due ON deliveries (next_due_at)
    WHERE next_due_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS journal (
    seq BIGSERIAL PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL,
    record TEXT NOT NULL
);
"""

UPSERT_TASK = """
INSERT INTO tasks (id, created_at, callback_due, record) VALUES (%s, %s, %s, %s)
ON CONFLICT (id) DO UPDATE SET record = excluded.record,
    callback_due = CASE WHEN tasks.callback_due IS NULL THEN NULL ELSE excluded.callback_due END
"""
UPSERT_DELIVERY = """
INSERT INTO deliveries (id, task_id, created_at, next_due_at, lease_until, record)
VALUES (%s, %s, %s, %s, NULL, %s)
ON CONFLICT (id) DO UPDATE SET record = excluded.record, next_due_at = excluded.next_due_at,
    lease_until = NULL
"""


def callback_due(task: Task) -> float | None:
    """When a task's callback is due: when it turns terminal (its planned end or its
    cancellation), if it has a callback URL."""
    return None if task.callback_url is None else lifecycle.terminal_time(task)


class PostgreSQLStore(Connections):
    local = False

    async def open(self) -> None:
        """Connect and create the tables (once, whichever replica comes first)."""
        await self.connect(SCHEMA)

    # --- tasks -------------------------------------------------------------------------------

    async def put(self, task: Task) -> None:
        due = callback_due(task)
        async with self._connection() as conn:
            await conn.execute(UPSERT_TASK, (task.id, task.created_at, due,
                                             json.dumps(task.to_record())))
            if due is not None:
                await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, f"{CALLBACKS}:{due!r}"))

    async def get(self, task_id: str) -> Task | None:
        if NUL in task_id:
            return None
        row = await self._fetchone("SELECT record FROM tasks WHERE id = %s", (task_id,))
        return None if row is None else Task.from_record(json.loads(row[0]))

    async def tasks(self, *, limit: int | None = None, offset: int = 0) -> list[Task]:
        rows = await self._fetchall("SELECT record FROM tasks ORDER BY seq LIMIT %s OFFSET %s",
                                    (limit, offset))
        return [Task.from_record(json.loads(row[0])) for row in rows]

    async def count(self) -> int:
        row = await self._fetchone("SELECT count(*) FROM tasks")
        return row[0] if row else 0

    # --- named values and counters -----------------------------------------------------------

    async def put_value(self, key: str, value: Any, at: float | None = None) -> None:
        await self._execute(
            "INSERT INTO kv (key, value, at) VALUES (%s, %s, %s) ON CONFLICT (key) "
            "DO UPDATE SET value = excluded.value, at = excluded.at", (key, json.dumps(value), at))

    async def get_value(self, key: str, default: Any = None) -> Any:
        row = await self._fetchone("SELECT value FROM kv WHERE key = %s", (key,))
        return default if row is None else json.loads(row[0])

    async def counter(self, key: str) -> int:
        row = await self._fetchone("SELECT value FROM meta WHERE key = %s", (key,))
        return 0 if row is None else row[0]

    async def bump(self, key: str) -> int:
        """Count up and tell every replica (delivered when the transaction commits)."""
        row = await self._fetchone(
            "WITH bumped AS (INSERT INTO meta (key, value) VALUES (%s, 1) ON CONFLICT (key) "
            "DO UPDATE SET value = meta.value + 1 RETURNING key, value) "
            "SELECT value, pg_notify(%s, key || ':' || value) FROM bumped", (key, CHANNEL))
        assert row is not None
        return row[0]

    # --- deliveries ----------------------------------------------------------------------------

    async def put_delivery(self, delivery: Delivery) -> None:
        """Insert or update a delivery, releasing any claim on it; a pending one is announced
        so that some replica claims its next attempt."""
        async with self._connection() as conn:
            await conn.execute(UPSERT_DELIVERY, (delivery.id, delivery.task_id, delivery.created_at,
                                                 delivery.next_due_at,
                                                 json.dumps(delivery.to_record())))
            if delivery.next_due_at is not None:
                await conn.execute("SELECT pg_notify(%s, %s)",
                                   (CHANNEL, f"{CALLBACKS}:{delivery.next_due_at!r}"))

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        if NUL in delivery_id:
            return None
        row = await self._fetchone("SELECT record FROM deliveries WHERE id = %s", (delivery_id,))
        return None if row is None else Delivery.from_record(json.loads(row[0]))

    async def deliveries(self, *, task_id: str | None = None) -> list[Delivery]:
        if task_id is not None and NUL in task_id:
            return []
        rows = await self._fetchall(
            "SELECT record FROM deliveries WHERE %s::text IS NULL OR task_id = %s ORDER BY seq",
            (task_id, task_id))
        return [Delivery.from_record(json.loads(row[0])) for row in rows]

    # --- callback claims -----------------------------------------------------------------------

    async def claim_due_tasks(self, now: float, lease: float,
                              make: Callable[[Task, float], Delivery]) -> list[Delivery]:
        """Turn tasks whose callback is due into deliveries leased to the caller, in one
        transaction: a task another replica is converting is skipped, not waited for."""
        async with self._connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "SELECT record, callback_due FROM tasks WHERE callback_due <= %s "
                "ORDER BY callback_due LIMIT %s FOR UPDATE SKIP LOCKED", (now, CLAIM_BATCH))
            rows = await cursor.fetchall()
            deliveries = [make(Task.from_record(json.loads(record)), due) for record, due in rows]
            if not deliveries:
                return []
            await conn.execute("UPDATE tasks SET callback_due = NULL WHERE id = ANY(%s)",
                               ([d.task_id for d in deliveries],))
            async with conn.cursor() as insert:
                await insert.executemany(
                    "INSERT INTO deliveries (id, task_id, created_at, next_due_at, lease_until, "
                    "record) VALUES (%s, %s, %s, %s, clock_timestamp() + %s * interval '1 second', %s)",
                    [(d.id, d.task_id, d.created_at, d.next_due_at, lease, json.dumps(d.to_record()))
                     for d in deliveries])
        return deliveries

    async def claim_due_attempts(self, now: float, lease: float) -> list[Delivery]:
        """Lease the deliveries whose next attempt is due and that nobody holds (or whose
        holder's lease ran out: it died mid-attempt)."""
        rows = await self._fetchall(
            "UPDATE deliveries SET lease_until = clock_timestamp() + %s * interval '1 second' "
            "WHERE id IN (SELECT id FROM deliveries WHERE next_due_at <= %s "
            "AND (lease_until IS NULL OR lease_until < clock_timestamp()) "
            "ORDER BY next_due_at LIMIT %s FOR UPDATE SKIP LOCKED) RETURNING record",
            (lease, now, CLAIM_BATCH))
        return [Delivery.from_record(json.loads(row[0])) for row in rows]

    async def next_callback_work(self) -> tuple[float | None, float | None]:
        """(earliest mock time something is due, real seconds until the earliest lease held
        by anyone runs out): when to look again."""
        row = await self._fetchone(
            "SELECT LEAST((SELECT min(callback_due) FROM tasks WHERE callback_due IS NOT NULL), "
            "(SELECT min(next_due_at) FROM deliveries WHERE next_due_at IS NOT NULL "
            " AND (lease_until IS NULL OR lease_until < clock_timestamp()))), "
            "(SELECT EXTRACT(EPOCH FROM min(lease_until) - clock_timestamp()) FROM deliveries "
            " WHERE next_due_at IS NOT NULL AND lease_until IS NOT NULL)")
        assert row is not None
        return row[0], None if row[1] is None else max(float(row[1]), 0.0)

    # --- journal ----------------------------------------------------------------------------

    async def append_journal(self, records: list[dict[str, Any]], keep: int, resets: int) -> None:
        """Add journal records and keep the newest ``keep``; unless a reset happened since
        they were recorded (``resets`` is the count they belong to)."""
        async with self.transaction():
            if await self.counter(RESETS) != resets:
                return
            async with self._connection() as conn, conn.cursor() as cursor:
                await cursor.executemany("INSERT INTO journal (at, record) VALUES (%s, %s)",
                                         [(record["at"], json.dumps(record)) for record in records])
                await conn.execute("DELETE FROM journal WHERE seq <= (SELECT max(seq) FROM journal) - %s",
                                   (keep,))

    async def journal(self, since: int) -> list[tuple[int, dict[str, Any]]]:
        rows = await self._fetchall("SELECT seq, record FROM journal WHERE seq > %s ORDER BY seq",
                                    (since,))
        return [(row[0], json.loads(row[1])) for row in rows]

    # --- housekeeping ----------------------------------------------------------------------

    async def prune(self, before: float) -> int:
        async with self.transaction():
            removed = await self._execute("DELETE FROM tasks WHERE created_at < %s", (before,))
            await self._execute("DELETE FROM deliveries WHERE created_at < %s", (before,))
            await self._execute("DELETE FROM kv WHERE at < %s", (before,))
            await self._execute("DELETE FROM journal WHERE at < %s", (before,))
        return removed

    async def clear(self) -> None:
        async with self.transaction():
            await self._execute("TRUNCATE tasks, kv, deliveries, journal")
