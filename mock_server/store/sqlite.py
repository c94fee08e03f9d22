"""SQLite store (WAL): every write is committed before the API answers, so a task the
client has seen survives ``kill -9``. Tasks and callback deliveries are kept as JSON
records keyed by id."""

from __future__ import annotations

import json
import sqlite3
import threading
from typing import Any

from ..callbacks.delivery import Delivery
from ..domain.task import Task

SCHEMA = """
CREATE TABLE IF NOT EXISTS tasks (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    record TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    task_id TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_task ON deliveries (task_id);
"""


class SQLiteStore:
    def __init__(self, path: str) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def put(self, task: Task) -> None:
        record = json.dumps(task.to_record())
        with self._lock:
            self._db.execute(
                "INSERT INTO tasks (id, record) VALUES (?, ?) "
                "ON CONFLICT(id) DO UPDATE SET record = excluded.record", (task.id, record))

    def get(self, task_id: str) -> Task | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM tasks WHERE id = ?", (task_id,)).fetchone()
        return None if row is None else Task.from_record(json.loads(row[0]))

    def tasks(self, *, limit: int | None = None, offset: int = 0) -> list[Task]:
        with self._lock:
            rows = self._db.execute("SELECT record FROM tasks ORDER BY seq LIMIT ? OFFSET ?",
                                    (-1 if limit is None else limit, offset)).fetchall()
        return [Task.from_record(json.loads(row[0])) for row in rows]

    def count(self) -> int:
        with self._lock:
            return self._db.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]

    def put_value(self, key: str, value: Any) -> None:
        with self._lock:
            self._db.execute("INSERT INTO kv (key, value) VALUES (?, ?) ON CONFLICT(key) "
                             "DO UPDATE SET value = excluded.value", (key, json.dumps(value)))

    def get_value(self, key: str, default: Any = None) -> Any:
        with self._lock:
            row = self._db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def put_delivery(self, delivery: Delivery) -> None:
        record = json.dumps(delivery.to_record())
        with self._lock:
            self._db.execute(
                "INSERT INTO deliveries (id, task_id, record) VALUES (?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET record = excluded.record",
                (delivery.id, delivery.task_id, record))

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        with self._lock:
            row = self._db.execute("SELECT record FROM deliveries WHERE id = ?",
                                   (delivery_id,)).fetchone()
        return None if row is None else Delivery.from_record(json.loads(row[0]))

    def deliveries(self, *, task_id: str | None = None) -> list[Delivery]:
        with self._lock:
            rows = self._db.execute(
                "SELECT record FROM deliveries WHERE ?1 IS NULL OR task_id = ?1 ORDER BY seq",
                (task_id,)).fetchall()
        return [Delivery.from_record(json.loads(row[0])) for row in rows]

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM tasks")
            self._db.execute("DELETE FROM kv")
            self._db.execute("DELETE FROM deliveries")

    def close(self) -> None:
        with self._lock:
            self._db.close()
