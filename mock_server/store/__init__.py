"""Task storage behind one small interface: in memory by default, SQLite with ``--state``."""

from __future__ import annotations

from .base import SharedStore, Store
from .memory import MemoryStore

# Counters in the state file, for `serve --workers N`: each bump tells the other workers to
# take up the shared values again (clock, rules), that everything was reset, or that a
# task was cancelled (the callback sender then re-plans).
GENERATION, RESETS, CANCELS, RULE_NUMBERS = "generation", "resets", "cancels", "rule_numbers"


def open_store(path: str | None, *, shared: bool = False) -> Store | SharedStore:
    """``shared``: other processes use the same state file (``serve --workers N``)."""
    if path is None:
        return MemoryStore()
    from .sqlite import SQLiteStore

    return SQLiteStore(path, shared=shared)


__all__ = ["Store", "SharedStore", "MemoryStore", "open_store", "GENERATION", "RESETS", "CANCELS", "RULE_NUMBERS"]
