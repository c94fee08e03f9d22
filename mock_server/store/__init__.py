"""Task storage behind one small interface: in memory by default, SQLite with ``--state FILE``,
PostgreSQL with ``--state postgresql://...`` (replicas on several hosts)."""

from __future__ import annotations

from .base import SharedStore, Store, StoreUnavailable, resolved
from .memory import MemoryStore

# Counters in the shared store: each bump tells the other processes to take up the shared
# values again (clock, rules), that everything was reset, or that a task was cancelled (the
# callback sender then re-plans).
GENERATION, RESETS, CANCELS, RULE_NUMBERS = "generation", "resets", "cancels", "rule_numbers"
POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


def is_postgresql(state: str | None) -> bool:
    return state is not None and state.startswith(POSTGRESQL_SCHEMES)


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
