"""In-memory store: a dict, insertion-ordered, gone when the process ends."""

from __future__ import annotations

import copy
from typing import Any

from ..callbacks.delivery import Delivery
from ..domain.task import Task
from .base import page


class MemoryStore:
    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._values: dict[str, Any] = {}
        self._deliveries: dict[str, Delivery] = {}

    def put(self, task: Task) -> None:
        self._tasks[task.id] = task

    def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    def tasks(self, *, limit: int | None = None, offset: int = 0) -> list[Task]:
        return page(self._tasks.values(), limit, offset)

    def count(self) -> int:
        return len(self._tasks)

    def put_value(self, key: str, value: Any) -> None:
        self._values[key] = copy.deepcopy(value)

    def get_value(self, key: str, default: Any = None) -> Any:
        return copy.deepcopy(self._values.get(key, default))

    def put_delivery(self, delivery: Delivery) -> None:
        self._deliveries[delivery.id] = delivery

    def get_delivery(self, delivery_id: str) -> Delivery | None:
        return self._deliveries.get(delivery_id)

    def deliveries(self, *, task_id: str | None = None) -> list[Delivery]:
        return [d for d in self._deliveries.values() if task_id is None or d.task_id == task_id]

    def clear(self) -> None:
        self._tasks.clear()
        self._values.clear()
        self._deliveries.clear()

    def close(self) -> None:
        pass
