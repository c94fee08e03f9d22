"""Task storage behind one small interface: in memory by default, SQLite with ``--state FILE``,
PostgreSQL with ``--state postgresql://...`` (replicas on several hosts)."""

from __future__ import annotations

from .base import (
    CANCELS,
    GENERATION,
    RESETS,
    RULE_NUMBERS,
    SharedStore,
    Store,
    StoreUnavailable,
    is_postgresql,
    resolved,
)
from .memory import MemoryStore


def open_store(path: str | None, *, shared: bool = False) -> Store | SharedStore:
    """``shared``: other processes use the same state file (``serve --workers N``). A
    PostgreSQL store is always shared: any number of replicas may point at it."""
    if path is None:
        return MemoryStore()
    if is_postgresql(path):
        from .postgresql import PostgreSQLStore

        return PostgreSQLStore(path)
    from .sqlite import SQLiteStore

    return SQLiteStore(path, shared=shared)


__all__ = [
    "CANCELS",
    "GENERATION",
    "RESETS",
    "RULE_NUMBERS",
    "MemoryStore",
    "SharedStore",
    "Store",
    "StoreUnavailable",
    "is_postgresql",
    "open_store",
    "resolved",
]
