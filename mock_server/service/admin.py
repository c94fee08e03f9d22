"""Admin operations on tasks (find, cancel, describe) and resets."""

from __future__ import annotations

import itertools
from typing import Any

from ..domain import lifecycle
from ..domain.clock import Clock
from ..domain.task import Task
from ..errors import admin_task_not_found, task_finished
from ..journal import RequestJournal
from ..store import CANCELS, RESETS
from .scripting import Scripting
from .tasks import Tasks


class Admin(Tasks, Scripting):
    async def find_task(self, task_id: str) -> Task:
        task = await self._task(task_id)
        if task is None:
            raise admin_task_not_found(task_id)
        return task

    async def cancel(self, task_id: str) -> Task:
        async with self._changing():
            task = await self.find_task(task_id)
            if lifecycle.snapshot(task, self.now()).terminal:
                raise task_finished(task_id)
            task.cancelled_at = self.now()
            await self.store.put(task)
            if self.shared:
                await self.shared_store.bump(CANCELS)
        self._changed(task)
        return task

    def detail(self, task: Task) -> dict[str, Any]:
        return {
            "id": task.id, "owner": task.owner, "model": task.model, "request": task.request,
            "document": self.task_document(task),
            "plan": {"created_at": task.created_at, "queue_seconds": task.queue_seconds,
                     "run_seconds": task.run_seconds, "outcome": task.outcome,
                     "finishes_at": task.finishes_at, "cancelled_at": task.cancelled_at,
                     "credits": task.credits},
        }

    async def reset(self, *, restart: bool = False) -> None:
        """Forget everything but the clock, which never goes back; with ``restart``, start
        over as a mock just launched with these settings (what the pytest fixture does
        between tests instead of building a new app and server: ~1 ms instead of ~200 ms)."""
        async with self._changing():
            await self.store.clear()
            if restart:
                self.clock = Clock.start(self.clock.speed, self.clock.wall)
            await self._save_clock(self.clock)
            if self.shared:
                self._resets = await self.shared_store.bump(RESETS)
        self.rules = []
        await self.journal.clear()
        if restart:
            if self.settings.seed is not None:
                self.ids.reseed(self._id_seed())
            self._rule_ids = itertools.count(1)
            if isinstance(self.journal, RequestJournal):
                self.journal.restart()
            await self.load_scenario_rules(self._scenario_rules)
        for listener in self.reset_listeners:
            listener()
        self._clock_moved()
