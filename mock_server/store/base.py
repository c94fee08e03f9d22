"""The storage interface. A backend keeps tasks and a few named JSON values."""

from __future__ import annotations

from typing import Any, Iterable, Protocol

from ..domain.task import Task


class Store(Protocol):
    def put(self, task: Task) -> None:
        """Insert or replace a task."""

    def get(self, task_id: str) -> Task | None: ...

    def tasks(self, *, limit: int | None = None, offset: int = 0) -> list[Task]:
        """Tasks, oldest first."""

    def count(self) -> int: ...

    def put_value(self, key: str, value: Any) -> None:
        """Keep a JSON-serialisable value (clock, rules, balances)."""

    def get_value(self, key: str, default: Any = None) -> Any: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


def page(items: Iterable[Task], limit: int | None, offset: int) -> list[Task]:
    items = list(items)[offset:]
    return items if limit is None else items[:limit]
