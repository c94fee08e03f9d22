"""In-memory store: a dict, insertion-ordered, gone when the process ends."""

from __future__ import annotations

import copy
from typing import Any

from ..domain.task import Task
from .base import page


class MemoryStore:
    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}
        self._values: dict[str, Any] = {}

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

    def clear(self) -> None:
        self._tasks.clear()
        self._values.clear()

    def close(self) -> None:
        pass
