"""Task storage behind one small interface: in memory by default, SQLite with ``--state``."""

from __future__ import annotations

from .base import Store
from .memory import MemoryStore


def open_store(path: str | None) -> Store:
    if path is None:
        return MemoryStore()
    from .sqlite import SQLiteStore

    return SQLiteStore(path)


__all__ = ["Store", "MemoryStore", "open_store"]
