"""The storage interface. A backend keeps tasks, callback deliveries and a few named JSON values."""

from __future__ import annotations

from typing import Any, Iterable, Protocol

from ..callbacks.delivery import Delivery
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

    def put_delivery(self, delivery: Delivery) -> None:
        """Insert or replace a callback delivery (with its attempts so far)."""

    def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    def deliveries(self, *, task_id: str | None = None) -> list[Delivery]:
        """Deliveries, oldest first, optionally only those of one task."""

    def clear(self) -> None: ...

    def close(self) -> None: ...


def page(items: Iterable[Task], limit: int | None, offset: int) -> list[Task]:
    items = list(items)[offset:]
    return items if limit is None else items[:limit]
