"""In-memory store: a dict, insertion-ordered, gone when the process ends."""

from __future__ import annotations

import copy
from typing import Any

from ..domain.delivery import Delivery
from ..domain.task import Task
from .base import page


class MemoryStore:
    local = True

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._values: dict[str, Any] = {}
        self._stamps: dict[str, float] = {}   # values that expire: their mock time
        self._deliveries: dict[str, Delivery] = {}

    async def open(self) -> None:
        pass

    async def put(self, task: Task) -> None:
        self._tasks[task.id] = task

    async def get(self, task_id: str) -> Task | None:
        return self._tasks.get(task_id)

    async def tasks(self, *, limit: int | None = None, offset: int = 0) -> list[Task]:
        return page(self._tasks.values(), limit, offset)

    async def count(self) -> int:
        return len(self._tasks)

    async def put_value(self, key: str, value: Any, at: float | None = None) -> None:
        """``at``: the mock time the value belongs to, after which ``--retention`` forgets it."""
        self._values[key] = copy.deepcopy(value)
        if at is not None:
            self._stamps[key] = at

    async def get_value(self, key: str, default: Any = None) -> Any:
        return copy.deepcopy(self._values.get(key, default))

    async def put_delivery(self, delivery: Delivery) -> None:
        self._deliveries[delivery.id] = delivery

    async def get_delivery(self, delivery_id: str) -> Delivery | None:
        return self._deliveries.get(delivery_id)

    async def deliveries(self, *, task_id: str | None = None) -> list[Delivery]:
        return [d for d in self._deliveries.values() if task_id is None or d.task_id == task_id]

    async def prune(self, before: float) -> int:
        # Insertion order is creation order, so the old ones are a prefix: stop at the first
        # young one instead of scanning 100,000s of tasks on every pass.
        old = []
        for task_id, task in self._tasks.items():
            if task.created_at >= before:
                break
            old.append(task_id)
        for task_id in old:
            del self._tasks[task_id]
        for delivery_id in [d.id for d in self._deliveries.values() if d.created_at < before]:
            del self._deliveries[delivery_id]
        for key in [k for k, at in self._stamps.items() if at < before]:
            del self._stamps[key]
            self._values.pop(key, None)
        return len(old)

    async def clear(self) -> None:
        self._tasks.clear()
        self._values.clear()
        self._stamps.clear()
        self._deliveries.clear()

    async def close(self) -> None:
        pass
