"""The storage interface. A backend keeps tasks, callback deliveries and a few named JSON values."""

from __future__ import annotations

from contextlib import AbstractContextManager
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


class SharedStore(Store, Protocol):
    """What ``serve --workers N`` needs on top: the SQLite store, opened by every worker."""

    def transaction(self) -> AbstractContextManager[None]:
        """One write transaction across processes; nested uses join the outer one."""

    def counter(self, key: str) -> int:
        """A counter that ``clear`` keeps (so it never repeats a value)."""

    def bump(self, key: str) -> int: ...

    def tasks_with_callbacks(self, after: int, upto: int | None = None) -> tuple[int, list[Task]]:
        """Tasks with a callback URL stored after position ``after`` (up to ``upto``)."""

    def deliveries_after(self, seq: int) -> list[tuple[int, Delivery]]: ...

    def last_positions(self) -> tuple[int, int]: ...

    def append_journal(self, records: list[dict[str, Any]], keep: int, resets: int) -> None: ...

    def journal(self, since: int) -> list[tuple[int, dict[str, Any]]]: ...


def page(items: Iterable[Task], limit: int | None, offset: int) -> list[Task]:
    items = list(items)[offset:]
    return items if limit is None else items[:limit]
